"""A machine with little memory, for one test process: put this folder on PYTHONPATH
and set MANUSCRIPT_TEST_MEMORY_LIMIT=bytes. Python imports ``sitecustomize`` at
start-up, so the limit holds in the real ``manuscript`` process from its first line, and
in every process it starts (the format worker, pandoc) by inheritance. A case that
needs more fails an allocation and must end in a clear error, not be killed.

RLIMIT_DATA (heap and private writable mappings, Linux 4.7+), not RLIMIT_AS: V8
(MathJax) and GHC (pandoc) reserve far more address space than they use.
"""

import os
import resource

_limit = os.environ.get("MANUSCRIPT_TEST_MEMORY_LIMIT")
if _limit:
    resource.setrlimit(resource.RLIMIT_DATA, (int(_limit), int(_limit)))
