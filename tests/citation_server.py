"""The local citation services live in bench/ (the benchmark uses them too); tests import
them from here as before."""

from bench.citation_server import *  # noqa: F403
from bench.citation_server import __all__  # noqa: F401
