"""labelport: import existing annotations into a training-data project, checked and fast."""

__version__ = "0.1.0"
