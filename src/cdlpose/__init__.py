"""cdlpose: monocular 3D human pose estimation by cascaded dimension-lifting (Zhang, Zhan, Chang, AAAI 2021)."""

__version__ = "0.1.0"
