"""A node's Redis operations that were not done, logged by kind: never a line each.

While Redis is out of reach every operation of a node fails (claims, routes, releases,
acknowledgements), thousands a second; and two problems may come together (the link
lost, then Redis full: ``OOM``; a bug beside an outage). So the failures are logged in
windows of ``interval`` seconds:

- the first failure of each *kind* in a window is logged in full, at its own level, as it
  happens: what was not done and why (``cluster: claim of 'joão' not done: lost the
  connection ...``). A failure's kind is why it failed: Redis's error reply in its words
  (``OOM ...``, ``READONLY ...``, a script's error), the class of the exception (the link
  lost, no reply in time, a bug), or the words the node gave;
- at the window's end one line counts, by kind, the failures not logged one by one, at
  the highest of their levels (``cluster: 4211 more Redis operations not done in the last
  60 s: 4200 RedisConnectionError, 11 OOM command not allowed ...``). The kinds it names
  count as named in the next window, which starts then: a steady outage costs one line a
  window. A window without any such failure ends silently, and the next failure is news;
- at most ``most_kinds`` kinds are named in full per window; the rest are counted
  together ("of other kinds"), so that words that differ each time (a bug's) cannot
  write a line each.

Sans-I/O: ``clock`` is a parameter, and the owner calls :meth:`sweep` now and then (the
node's heartbeat, every beat) and :meth:`flush` when it stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from shared.plural import counted

# Kinds named in full in one window, at most.
MOST_KINDS = 10


def kind_of(why: object) -> str:
    """The kind of a failure whose cause is ``why`` (see the module docstring)."""
    if isinstance(why, BaseException):
        return type(why).__name__
    return str(why)


def words_of(why: object) -> str:
    """``why`` as the full line says it: an exception other than Redis's (a bug) with its class."""
    if isinstance(why, BaseException) and not isinstance(why, (ConnectionError, TimeoutError)):
        return f"{type(why).__name__}: {why}"
    if isinstance(why, BaseException) and not str(why):
        return type(why).__name__
    return str(why)


class FailureLog:
    """See the module docstring. Memory: at most ``most_kinds`` kinds and their counts."""

    __slots__ = ("logger", "interval", "clock", "most_kinds", "_opened", "_named", "_others", "_others_level")

    def __init__(self, logger: logging.Logger, interval: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, most_kinds: int = MOST_KINDS) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.most_kinds = most_kinds
        self._opened: float | None = None  # when the window began (None: no window open)
        # Kind -> [failures of it not logged one by one in this window, their highest level].
        self._named: dict[str, list[int]] = {}
        self._others = 0  # failures of kinds past most_kinds
        self._others_level = logging.NOTSET

    def failed(self, what: str, why: object, level: int = logging.WARNING) -> None:
        """``what`` was not done because of ``why``; logged if it is news (see the module docstring)."""
        now = self.clock()
        self.sweep(now)
        if self._opened is None:
            self._opened = now
        kind = kind_of(why)
        counted = self._named.get(kind)
        if counted is None and len(self._named) < self.most_kinds:
            self._named[kind] = [0, logging.NOTSET]
            self.logger.log(level, "cluster: %s not done: %s", what, words_of(why))
        elif counted is None:
            self._others += 1
            self._others_level = max(self._others_level, level)
        else:
            counted[0] += 1
            counted[1] = max(counted[1], level)

    def sweep(self, now: float | None = None) -> None:
        """End the window if ``interval`` has passed since it began (its line, if any)."""
        now = self.clock() if now is None else now
        if self._opened is not None and now - self._opened >= self.interval:
            self._end(now, carry=True)

    def flush(self) -> None:
        """Say what the window counted so far (the node stops), and forget it."""
        if self._opened is not None:
            self._end(self.clock(), carry=False)

    def _end(self, now: float, carry: bool) -> None:
        again = {kind: seen for kind, seen in self._named.items() if seen[0]}
        total = sum(count for count, _level in again.values()) + self._others
        if total:
            level = max([level for _count, level in again.values()] + [self._others_level])
            parts = [f"{count} {kind}" for kind, (count, _level) in again.items()]
            if self._others:
                parts.append(f"{self._others} of other kinds")
            self.logger.log(level, "cluster: %s not done in the last %.0f s: %s",
                            counted(total, "more Redis operation{s}"), now - self._opened, ", ".join(parts))
        # The kinds just named stay named in the next window (a steady outage: one line a
        # window); none failed again: no window until the next failure, which is news.
        self._named = {kind: [0, logging.NOTSET] for kind in again} if carry else {}
        self._opened = now if carry and again else None
        self._others, self._others_level = 0, logging.NOTSET
