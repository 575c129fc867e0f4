"""``Recorder``: an ``on_event`` for a client library that keeps every event it is handed,
with a condition to wait on (for the tests that drive ``ChatClient`` with real servers)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

WAIT = 20.0  # default bound for a wait: a whole exchange, with reconnections


class Recorder:
    """An ``on_event`` that keeps every event, with a condition to wait on."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def of(self, kind: type) -> list[Any]:
        """The events of ``kind`` so far, in the order handed on."""
        with self.changed:
            return [e for e in self.events if isinstance(e, kind)]

    def holds(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        """Wait until ``predicate()`` is true (checked at each event); False after ``timeout``."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def wait_for(self, kind: type, count: int = 1, timeout: float = WAIT) -> None:
        """Wait for ``count`` events of ``kind``; AssertionError (with the events) if not."""
        assert self.holds(lambda: len([e for e in self.events if isinstance(e, kind)]) >= count, timeout), \
            f"no {kind.__name__} within {timeout} s: {self.events}"
