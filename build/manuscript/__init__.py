"""Build a Manubot manuscript into HTML, PDF and a versioned website."""

__version__ = "0.1.0"
