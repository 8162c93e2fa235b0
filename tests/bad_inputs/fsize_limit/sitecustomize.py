"""A full disk, for one test process: put this folder on PYTHONPATH and set
MANUSCRIPT_TEST_FSIZE_LIMIT=bytes. Python imports ``sitecustomize`` at start-up, so the
limit holds in the real ``manuscript`` process (and the pandoc it starts) from the first
line. With SIGXFSZ ignored, a write past the limit fails with EFBIG, as a write to a full
disk fails with ENOSPC: an OSError in the middle of writing.
"""

import os
import resource
import signal

_limit = os.environ.get("MANUSCRIPT_TEST_FSIZE_LIMIT")
if _limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(_limit), int(_limit)))
