"""Resource limits that the environment may raise (``MANUSCRIPT_PANDOC_TIMEOUT`` …).

For tests, and for unusually large manuscripts; read where each limit applies. A leaf
module, so the stages that apply limits can import it without import cycles.
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def env_limit(name: str, default: float) -> float:
    """``name`` from the environment as a number, else ``default`` (with a warning when
    the value is not a number)."""
    value = os.environ.get(name, "")
    try:
        return float(value) if value else default
    except ValueError:
        logger.warning("%s=%r is not a number; using %s", name, value, default)
        return default
