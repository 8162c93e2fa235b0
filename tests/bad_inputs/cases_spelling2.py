"""Spelling bounded (rootstock's SPELLCHECK=true): hostile runs of letters build in bounded
memory and time.

One 100,000-letter word once took 24 GB: the typo-candidate generator built every string
one edit away (54 x n strings of n letters) at once. These rows run the build under an
address-space limit of 2 GB and a CPU-time limit, set in the ``manuscript`` process (and
what it starts) from its first line by a ``sitecustomize`` on PYTHONPATH, as
``fsize_limit`` does for a full disk: without the bound, the build dies of MemoryError
(a traceback) or is killed by SIGXCPU, and the row fails. A planted ``recieve`` shows the
spelling stage ran and still finds typos. The PDF is not made: line-breaking a
100,000-letter word is the PDF engine's own bound, not this one's.
"""

from __future__ import annotations

import os
import random
import string
import tempfile
from pathlib import Path

from table import Case

ADDRESS_SPACE = 2 * 1024**3  # bytes: the limit issue #18 asks every case to stay under
CPU_SECONDS = 240  # the build takes ~20 s of CPU here; unbounded, many minutes

_LIMITS = Path(tempfile.gettempdir()) / f"manuscript-test-spelling-limits-{os.getuid()}"
_SITECUSTOMIZE = f'''"""Limits for one test process tree (tests/bad_inputs/cases_spelling2.py)."""
import resource

resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}))
resource.setrlimit(resource.RLIMIT_CPU, ({CPU_SECONDS}, {CPU_SECONDS}))
'''


def _limited(root: Path) -> None:
    """Write the sitecustomize the row's PYTHONPATH names (a fixed place: env is data)."""
    del root
    _LIMITS.mkdir(exist_ok=True)
    (_LIMITS / "sitecustomize.py").write_text(_SITECUSTOMIZE, encoding="utf-8")


def _random_tokens(count: int, seed: int) -> str:
    """``count`` runs of 50 to 2,000 random letters, ten to a line: no word, each one."""
    rng = random.Random(seed)
    tokens = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(50, 2000)))
              for _ in range(count)]
    return "\n".join(" ".join(tokens[i:i + 10]) for i in range(0, count, 10))


LIMITED = {"SPELLCHECK": "true", "PYTHONPATH": str(_LIMITS)}
TYPO = "We recieve it.\n"

CASES = [
    Case(
        "spelling-100000-letter-word",
        {"content/05.long.md": "## Long\n\n" + TYPO + "\nA " + "a" * 100_000 + " word.\n"},
        "spelling: 1 unknown word: recieve",
        args=("build", "--no-pdf"),
        env=LIMITED,
        exit=0,
        outputs_unchanged=False,
        setup=_limited,
    ),
    Case(
        "spelling-many-long-random-tokens",
        {"content/05.tokens.md": "## Tokens\n\n" + TYPO + "\n" + _random_tokens(2000, 18)
         + "\n"},
        "spelling: 1 unknown word: recieve",
        args=("build", "--no-pdf"),
        env=LIMITED,
        exit=0,
        outputs_unchanged=False,
        setup=_limited,
    ),
]
