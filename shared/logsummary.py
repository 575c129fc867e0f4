"""Log lines that can come at will, bounded: one in full, then a count.

A client can send malformed frames, wrong passwords or requests over its rate as fast as
its link allows; a log line for each would let one connection write megabytes of log per
second. :class:`LogSummary` logs the first line of a kind from a key (an address) in full,
counts the others for ``interval`` seconds, and then logs one summary line::

    bad frame from (login)@10.0.0.7:50312: bad_json: frame is not valid JSON: ...
    4999 more malformed frames from 10.0.0.7 in the last 61 s

So each (kind, key) writes at most two lines per interval, whatever it sends (or its
``burst`` of lines in full, and the summary, for lines that normal use writes a few of).
And a kind has at most ``max_keys`` keys at a time: past that, a flood from many addresses
(127/8 holds 2**24, an IPv6 /64 more) is one more key, ``others``, whatever its address::

    9996 more malformed frames from other addresses in the last 60 s

so the lines a flood writes, and the memory it takes here, are bounded however many
addresses it comes from. Nothing
here touches a clock or a timer by itself: ``clock`` is a parameter, and the owner calls
:meth:`sweep` now and then (the relay, from its periodic expiry pass) and :meth:`flush`
at shutdown.

The server's lines a client causes (its listener, logins, rooms, the relay) and the client
library's for an application whose ``on_event`` keeps raising (one traceback, then a count)
go through it alike; server/logsummary.py has the server's other rule (LogBudget).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.plural import plural


class LogSummary:
    """Rate-limited logging per (kind, key) on ``logger``.

    Memory: one small entry per (kind, key) logged within the current interval, at most
    ``max_keys`` keys (and ``others``) per kind; entries whose interval has passed are
    dropped by :meth:`sweep`.
    """

    __slots__ = ("logger", "interval", "clock", "max_keys", "others", "_entries", "_keys")

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, *, max_keys: int = 100,
                 others: str = "other addresses") -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.max_keys = max_keys
        self.others = others  # the key of a kind's lines past its max_keys keys
        self._keys: dict[str, int] = {}  # kind -> its keys with an entry, ``others`` not counted
        # (kind, key) -> [start of its interval, lines held back since, their level, lines
        # logged in full since]
        self._entries: dict[tuple[str, str], list] = {}

    def log(self, kind: str, key: str, level: int, msg: str, *args: object, burst: int = 1,
            exc_info: bool = False) -> bool:
        """Log ``msg % args`` at ``level``, unless ``burst`` lines of ``kind`` from ``key``
        were logged within the last ``interval`` seconds (since the first of them): then
        only count it. ``kind`` names the lines in the summary, its plural marked
        ("malformed frame{s}": "1 more malformed frame", shared/plural.py);
        ``burst`` > 1 is for lines that normal use writes a few of (rooms created, accounts
        created): each is logged until a flood. ``exc_info``: a line logged in full has the
        traceback of the exception being handled (one traceback, then a count). Returns
        True if the line was logged."""
        now = self.clock()
        entry = self._entries.get((kind, key))
        if entry is None and self._keys.get(kind, 0) >= self.max_keys:
            key = self.others  # a flood from many keys: counted together, bounded
            entry = self._entries.get((kind, key))
        if entry is not None and now - entry[0] < self.interval:
            if entry[3] < burst:
                entry[3] += 1
                self.logger.log(level, msg, *args, exc_info=exc_info)
                return True
            entry[1] += 1
            entry[2] = max(entry[2], level)
            return False
        if entry is not None:
            self._summarise(kind, key, entry, now)
        elif key != self.others:
            self._keys[kind] = self._keys.get(kind, 0) + 1
        self.logger.log(level, msg, *args, exc_info=exc_info)
        self._entries[(kind, key)] = [now, 0, level, 1]
        return True

    def sweep(self, now: float | None = None) -> None:
        """Log the summary of every interval that has passed, and forget those keys."""
        now = self.clock() if now is None else now
        done = [item for item in self._entries.items() if now - item[1][0] >= self.interval]
        for (kind, key), entry in done:
            self._summarise(kind, key, entry, now)
            del self._entries[(kind, key)]
            if key != self.others:
                self._keys[kind] -= 1

    def flush(self) -> None:
        """Log every pending summary now (at shutdown) and forget everything."""
        now = self.clock()
        for (kind, key), entry in self._entries.items():
            self._summarise(kind, key, entry, now)
        self._entries.clear()
        self._keys.clear()

    def _summarise(self, kind: str, key: str, entry: list, now: float) -> None:
        start, count, level, _logged = entry
        if count:
            self.logger.log(level, "%d more %s from %s in the last %.0f s", count, plural(count, kind), key,
                            now - start)
