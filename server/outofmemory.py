"""Out of memory: one line in the log and the end of the process, not a server that spins.

Under a memory limit (``ulimit -v``, a container's, a small VPS without swap) a
MemoryError can come from any callback of the event loop: a connection's read buffer, a
frame, a store's answer. asyncio catches it, closes that connection and logs it; but
logging needs memory too and fails, and the loop goes on failing the same way on every
readable socket: a core's worth of CPU spent on failed allocations, nobody answered, and
nothing in the log (seen: 3,000 logins under ``ulimit -v`` 55 MB, still spinning ten
minutes later). Memory held by thousands of connections does not come back by itself, so
the server ends instead: :func:`give_up` frees the reserve that :func:`keep_reserve` set
aside for this moment, says why in one line, and exits with :data:`EXIT_OUT_OF_MEMORY`.
That is a crash as ``kill -9`` is, which the stores survive (nothing acknowledged is
lost); a supervisor (systemd's ``Restart=on-failure``, ``--workers``) starts it again, and
the clients reconnect by themselves and send again what was not acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import mmap
import os
from collections.abc import Callable

log = logging.getLogger("chat.server")

# The exit status of a server that ran out of memory (1 and 2: could not start).
EXIT_OUT_OF_MEMORY = 3
# Bytes of address space set aside at start and given back when memory runs out: room to
# log and exit. A mapping of its own (not a bytearray from the heap): unmapped, it is address
# space again, which is what Python's next arenas of small objects (1 MiB each) and the
# heap need under ulimit -v.
RESERVE_BYTES = 8 << 20

_reserve: mmap.mmap | None = None

Handler = Callable[[asyncio.AbstractEventLoop, dict], object]


def keep_reserve() -> None:
    """Set aside :data:`RESERVE_BYTES` for :func:`give_up` (once; again is a no-op)."""
    global _reserve
    if _reserve is None:
        _reserve = mmap.mmap(-1, RESERVE_BYTES)


def give_up(where: str) -> None:
    """Free the reserve, log that the server is out of memory (``where``: what failed),
    and end the process at once with :data:`EXIT_OUT_OF_MEMORY`. Does not return."""
    global _reserve
    if _reserve is not None:
        _reserve.close()
        _reserve = None
    try:
        # Settings go in const_local.py (README.md, "const.py"), never const.py, which a pull replaces.
        log.critical("out of memory (%s): the server stops; give it more memory (ulimit -v, the "
                     "machine's) or admit fewer connections (a lower MAX_CONNECTIONS in const_local.py)", where)
        for handler in logging.getLogger().handlers + log.handlers:
            handler.flush()
    finally:
        os._exit(EXIT_OUT_OF_MEMORY)  # no clean-up: it would need the memory there is not


def guard(handler: Handler) -> Handler:
    """The loop's exception handler ``handler``, but one that gives up on a MemoryError
    (see the module docstring) instead of logging it and going on."""
    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> object:
        if isinstance(context.get("exception"), MemoryError):
            give_up(context.get("message") or "in the event loop")
        return handler(loop, context)
    return handle
