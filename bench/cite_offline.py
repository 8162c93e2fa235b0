"""pandoc-manubot-cite, offline: the CSL JSON schema is read from a local file.

Used only by the benchmark's reference toolchain. manubot 0.6.1 downloads the schema
from GitHub when it validates CSL items; this wrapper points that download at the file
named by ``BENCH_CSL_SCHEMA`` and then runs the stock filter's ``main()``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import manubot.cite.citeproc as citeproc
from manubot.pandoc.cite_filter import main

_read = citeproc.read_serialized_data


def _read_local_schema(path: str) -> Any:
    if str(path).endswith("/csl-data.json"):
        return json.loads(Path(os.environ["BENCH_CSL_SCHEMA"]).read_text(encoding="utf-8"))
    return _read(path)


citeproc.read_serialized_data = _read_local_schema

if __name__ == "__main__":
    main()
