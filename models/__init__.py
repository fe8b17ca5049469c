"""tankerwatch.models: plain nn.Module detectors (torch)."""

from .detector import OrientedDetector, build_detector

__all__ = ["OrientedDetector", "build_detector"]
