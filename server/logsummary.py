"""The server's bounded log lines: :class:`LogSummary` (shared/logsummary.py, where the clients
find it too: one line in full per kind and key, then a count) and :class:`LogBudget` (lines
every connection causes once: a rate, then a count).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.logsummary import LogSummary  # noqa: F401  (the server's modules import it from here)
from shared.plural import plural

from .limits import TokenBucket


class LogBudget:
    """Lines of one ``kind`` that every connection causes once (logins, logouts): each in
    full up to ``rate`` per second with bursts of ``burst``; past that, counted, and one
    line tells how many were not logged one by one.

    A handful of users see every line; a storm of ten thousand logins costs a hundred
    lines, not ten thousand (each one a formatted, flushed write on the event loop). The
    lines held back still go out at DEBUG. The count is logged before the next line in
    full, by :meth:`sweep` (the owner calls it now and then) and at :meth:`flush`.
    """

    __slots__ = ("logger", "kind", "bucket", "clock", "held", "since")

    def __init__(self, logger: logging.Logger, kind: str, rate: float, burst: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.kind = kind
        self.bucket = TokenBucket(rate, burst)
        self.clock = clock
        self.held = 0  # lines not logged in full since ``since``
        self.since = 0.0

    def log(self, level: int, msg: str, *args: object) -> bool:
        """Log ``msg % args`` at ``level`` if the budget allows, else count it (and log it
        at DEBUG). Returns True if it was logged in full."""
        now = self.clock()
        if self.bucket.take(now):
            if not self.held:
                self.since = now
            self.held += 1
            if self.logger.isEnabledFor(logging.DEBUG):
                self.logger.debug(msg, *args)
            return False
        self.sweep(now)
        self.logger.log(level, msg, *args)
        return True

    def sweep(self, now: float | None = None) -> None:
        """Log how many lines were held back, if any, and start counting again."""
        if self.held:
            now = self.clock() if now is None else now
            self.logger.info("%d more %s not logged one by one in the last %.0f s", self.held,
                             plural(self.held, self.kind), now - self.since)
            self.held = 0

    flush = sweep
