"""The package's version: a leaf, so that any module can say it (network.py's user agent)
without importing the package's ``__init__``, which imports network.py."""

__version__ = "0.1.0"
