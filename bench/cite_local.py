"""pandoc-manubot-cite, its lookups sent to the benchmark's local citation server.

Used only by ``bench/citations.py``: manubot 0.6.1's resolvers call fixed service URLs
(``https://doi.org/…``, ``https://eutils.ncbi.nlm.nih.gov/…``); this wrapper sends every
request to ``BENCH_CITATION_SERVER`` as ``/HOST/PATH?QUERY`` (as our build's test hook
does, so both toolchains ask the same server the same way), reads the CSL schema from
disk (``cite_offline``), then runs the stock filter's ``main()``. It runs in the pinned
venv, which does not have our package, hence this small rewrite of its own.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import requests.adapters
from cite_offline import main  # also patches the schema loader

SERVER = urlsplit(os.environ["BENCH_CITATION_SERVER"])
_send = requests.adapters.HTTPAdapter.send


def _local(url: str) -> str:
    parts = urlsplit(url)
    if parts.netloc == SERVER.netloc:  # a redirect already on the server
        return url
    return urlunsplit((SERVER.scheme, SERVER.netloc, f"/{parts.hostname}{parts.path or '/'}",
                       parts.query, ""))


def _send_local(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
    request.url = _local(request.url)
    return _send(self, request, *args, **kwargs)


requests.adapters.HTTPAdapter.send = _send_local  # type: ignore[method-assign]

if __name__ == "__main__":
    main()
