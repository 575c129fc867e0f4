"""Coalesced writes: each session's frames go out in one send() per event-loop turn.

Relaying one direct message writes to two or three connections, and under load a single
read carries several frames, so writing each frame at once costs a system call per frame:
the server's profile was dominated by ``socket.send``. Sessions instead append frames to
their own list and register here; one callback, scheduled with ``call_soon`` when the
first session registers, joins and writes each list at the end of the current loop turn.
Latency grows by at most one loop turn; the number of system calls falls by the number of
frames a connection gets per turn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

log = logging.getLogger("chat.server")


class Flushable(Protocol):
    def flush(self) -> None: ...


class WriteBatcher:
    """Collects the sessions that have frames waiting and flushes them once per turn."""

    __slots__ = ("_loop", "_dirty")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Flushable] = []

    def add(self, session: Flushable) -> None:
        """Flush ``session`` at the end of this loop turn (call once per batch)."""
        if not self._dirty:
            self._loop.call_soon(self.flush_all)
        self._dirty.append(session)

    def follow(self, source: object) -> None:
        """Flush after each batch of ``source``'s answers too, if it offers to (a store
        with an ``after_answers`` hook: the memory store, and the durable store after each
        commit). Its answers run at the start of a loop turn; what they write then goes out
        at once, not after that turn's reads (nor, on disk, after the next transaction's
        statements)."""
        if hasattr(source, "after_answers"):
            source.after_answers = self.flush_all

    def flush_all(self) -> None:
        dirty, self._dirty = self._dirty, []
        # One iterator, so that after a flush that raised the loop goes on with the next
        # session: one not reached would keep its frames for ever (a session is added only
        # as its queue stops being empty). The try costs nothing per session (3.11).
        sessions = iter(dirty)
        while True:
            try:
                for session in sessions:
                    session.flush()
                return
            except Exception:
                log.exception("writing to a client failed")
