"""Offline spelling check of the manuscript's Markdown sources.

Interface shared by ``manuscript check`` (the runner calls :func:`check_spelling`) and the
build (rootstock's ``SPELLCHECK=true``). The body is being written on its own branch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .config import Config
from .problems import Problem
from .sources import Section


def check_spelling(config: Config, sections: Sequence[Section],
                   csl_items: Sequence[Mapping]) -> list[Problem]:
    """One ``spelling`` warning per unknown word, at its first place, naming the others.

    ``sections`` are the raw ``content/NN.*.md`` files (positions are in them);
    ``csl_items`` the manuscript's references (their names and titles are known words).
    """
    return []
