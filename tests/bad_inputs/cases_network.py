"""Bad input that reaches the network: every fetch goes through the door (network.py).

Issue #18, items 2 and 4: a server sending one byte a second held the build for ever
(a remote image, a template-variables URL, a CSL URL: the deadline was checked between
64 KB chunks); a 300 MB body went past the 20 MB limit into a DOCX; the format worker
fetched on its own and published what a redirect to an internal address answered. The
server is ``tests/network_server.py`` on 127.0.0.1, started by the row that needs it;
the rows keep its deadline small through ``MANUSCRIPT_REMOTE_TIMEOUT``. Each row runs
``--strict`` so that the warning a slow or huge image gives is the build's failure, and
the harness checks that nothing was written; ``tests/test_network.py`` checks the time
each one takes and the DOCX made without ``--strict``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from table import Case

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: network_server
from network_server import shared

_SECTION = "content/02.introduction.md"
_ONLINE = {"MANUSCRIPT_OFFLINE": "0", "MANUSCRIPT_REMOTE_TIMEOUT": "2",
           "MANUSCRIPT_REMOTE_BUDGET": "4"}


def _write(path: str, text: Callable[[str], str]) -> Callable[[Path], None]:
    """A setup writing ``path`` with the shared server's URL in it (known only when run)."""
    def setup(root: Path) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text(shared().url), encoding="utf-8")
    return setup


def _image(route: str) -> Callable[[Path], None]:
    return _write(_SECTION, lambda url: f"## Introduction\n\n![A figure]({url}{route})\n")


CASES = [
    Case(
        "network-remote-image-one-byte-a-second",
        {}, "remote image could not be fetched (took longer than 2 s)",
        args=("build", "--strict", "--no-pdf"), env=_ONLINE, setup=_image("/trickle/a.png"),
    ),
    Case(
        "network-remote-image-headers-one-byte-a-second",
        {}, "could not be reached (no answer in time)",
        args=("build", "--strict", "--no-pdf"), env=_ONLINE,
        setup=_image("/trickle-headers?b.png"),
    ),
    Case(
        "network-remote-image-300-mb",
        {}, "remote image could not be fetched (larger than the 20 MB limit)",
        args=("build", "--strict", "--no-pdf"), env=_ONLINE, setup=_image("/huge"),
    ),
    Case(
        # The HTML stage reads what the redirect answers and refuses it (not an image);
        # the Word worker never fetches it again (test_network: no canary in the DOCX).
        "network-remote-image-redirect-to-internal-docx",
        {"manuscript.toml": 'formats = ["docx"]\n'},
        "remote image is not a PNG, JPEG, GIF, WebP or SVG image",
        args=("build", "--strict", "--no-pdf"), env=_ONLINE,
        setup=_image("/redirect?to=/canary"),
    ),
    Case(
        "network-template-variables-url-one-byte-a-second",
        {}, "cannot fetch template variables",
        args=("build", "--no-pdf"), env=_ONLINE,
        setup=_write("manuscript.toml",
                     lambda url: f'template-variables-path = ["{url}/trickle/v.json"]\n'),
    ),
    Case(
        "network-csl-url-one-byte-a-second",
        {}, "took longer than 2 s", "build/pandoc/defaults/common.yaml:3",
        args=("build", "--no-pdf"), env=_ONLINE,
        setup=_write("build/pandoc/defaults/common.yaml",
                     lambda url: f"from: markdown\nmetadata:\n  csl: {url}/trickle/s.csl\n"),
    ),
]
