"""stepstones: curriculum-ready RL data for code models."""

__version__ = "0.1.0"
