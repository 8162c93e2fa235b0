"""Resource limits that the environment may raise (``MANUSCRIPT_PANDOC_TIMEOUT`` …).

For tests, and for unusually large manuscripts; read where each limit applies. A leaf
module, so the stages that apply limits can import it without import cycles.

A value that is not a finite positive number (``1e999``, ``nan``, ``-1``, ``abc``) is
an error naming the variable: a limit that is silently replaced by its default, or
that became infinite, would no longer be the limit its user set.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from .errors import ConfigError

# Every limit read with env_limit, checked together when the configuration is made
# (``check_environment``), so a bad value stops the build before any work.
LIMITS = (
    "MANUSCRIPT_PANDOC_TIMEOUT", "MANUSCRIPT_PANDOC_MEMORY_MB", "MANUSCRIPT_TEMPLATE_TIMEOUT",
    "MANUSCRIPT_REMOTE_TIMEOUT", "MANUSCRIPT_REMOTE_BUDGET",
    "MANUSCRIPT_WORKER_TIMEOUT", "MANUSCRIPT_WORKER_MEMORY_MB",
    "MANUSCRIPT_MATH_TIMEOUT", "MANUSCRIPT_MATH_TEX_KB", "MANUSCRIPT_MATH_FORMULA_KB",
    "MANUSCRIPT_MATH_TOTAL_MB",
)


def env_limit(name: str, default: float) -> float:
    """``name`` from the environment as a finite positive number, else ``default``;
    any other value is a ConfigError naming the variable."""
    value = os.environ.get(name, "").strip()
    return _number(name, value) if value else default


def check_environment(env: Mapping[str, str]) -> None:
    """Every limit of ``LIMITS`` that ``env`` sets, checked at once."""
    for name in LIMITS:
        value = env.get(name, "").strip()
        if value:
            _number(name, value)


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name}={value[:40]!r} is not a usable limit: give a positive "
                          "number")
    return number
