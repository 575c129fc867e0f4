"""Run ``chatserver.py`` in this process with a trace installed around it (for
bench/durable_trace.py and bench/memory_trace.py).

The benchmark starts such a wrapper in place of ``chatserver.py``, then signals it:
SIGUSR1 when its latency phase starts, SIGUSR2 when it ends (the trace then writes its
report to the file named by its environment variable).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable


def run_traced(variable: str, output: list[str], install: Callable[[], None],
               start: Callable[..., None], report: Callable[..., None]) -> int:
    """Install the trace, bind its phase signals, and run the server with this process's
    arguments. ``output[0]`` becomes the file named by the environment ``variable``
    (standard error if unset)."""
    output[0] = os.environ.get(variable, "/dev/stderr")
    install()
    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, report)
    sys.argv = ["chatserver.py", *sys.argv[1:]]
    import chatserver
    return chatserver.main(sys.argv[1:])
