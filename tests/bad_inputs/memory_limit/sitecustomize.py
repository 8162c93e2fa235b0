"""A machine with little memory, for one test process: put this folder on PYTHONPATH
and set MANUSCRIPT_TEST_AS_LIMIT=bytes. Python imports ``sitecustomize`` at start-up, so
the address-space limit holds in the real ``manuscript`` process from its first line,
and in every process it starts (the format worker, pandoc) by inheritance. A case that
needs more fails an allocation and must end in a clear error, not be killed.
"""

import os
import resource

_limit = os.environ.get("MANUSCRIPT_TEST_AS_LIMIT")
if _limit:
    resource.setrlimit(resource.RLIMIT_AS, (int(_limit), int(_limit)))
