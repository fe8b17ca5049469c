"""tankerwatch.models: plain nn.Module detectors (torch)."""
