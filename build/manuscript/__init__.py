"""Build a Manubot manuscript into HTML, PDF and a versioned website."""

from ._version import __version__ as __version__

# MANUSCRIPT_OFFLINE=1 (set by --offline for the processes it starts): every process
# that imports the package refuses connections past the network door (network.py).
from .network import guard_from_env as _guard_from_env

_guard_from_env()
