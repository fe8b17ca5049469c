"""tankerwatch.train: Lightning training, datasets, augmentation and export (torch)."""
