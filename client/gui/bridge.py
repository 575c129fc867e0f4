"""Handing work from other threads to the Tk thread, which alone may touch widgets.

Tk is not thread-safe. The client library calls ``on_event`` on its receiver thread, and
the GUI's worker threads (login, ``who``, history) finish on theirs; none of them may touch
a widget. They all go through one :class:`TkBridge`::

    bridge = TkBridge(root, handle_events)      # on the Tk thread
    client = ChatClient(..., on_event=bridge.put)
    bridge.call(show_result, value)             # from any thread: run on the Tk thread

The Tk thread polls the queue with ``after()`` every ``POLL_MS``. One turn takes at most
``MAX_BATCH`` items or ``TURN_BUDGET`` seconds, whichever comes first, and hands the
events to the handler as one batch (so the window redraws the contact list and scrolls
once per turn, not once per message); if items remain it comes back after 1 ms instead
of ``POLL_MS``, which lets Tk redraw and handle input in between. A burst of thousands of
messages therefore never stalls the window for longer than about one turn.

Back-pressure: the queue holds at most ``MAX_QUEUED`` items; a full queue makes
``put`` wait, which holds the library's receiver thread and so stops it reading the
socket (and sending receipts), exactly as the library's own event queue does. After
:meth:`TkBridge.stop`, ``put`` drops items instead of waiting, so closing the client can
never deadlock with a Tk thread that stopped polling.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

_log = logging.getLogger(__name__)

POLL_MS = 25
MAX_BATCH = 500
TURN_BUDGET = 0.020
MAX_QUEUED = 10_000
# How often a put() blocked on a full queue looks whether the bridge was stopped.
_PUT_POLL = 0.1


class _Call:
    """A function to run on the Tk thread (queued by :meth:`TkBridge.call`)."""

    __slots__ = ("func", "args")

    def __init__(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.func, self.args = func, args


class TkBridge:
    """A queue from any thread to ``handler(events)`` on the Tk thread of ``widget``."""

    def __init__(self, widget: Any, handler: Callable[[list[Any]], None]) -> None:
        self._widget = widget
        self._handler = handler
        self._queue: queue.Queue[Any] = queue.Queue(MAX_QUEUED)
        self._stopped = threading.Event()
        self._after_id: str | None = None
        self.turns = 0

    def start(self) -> None:
        """Start polling (call on the Tk thread, once)."""
        self._after_id = self._widget.after(POLL_MS, self._poll)

    def stop(self) -> None:
        """Stop polling; from now on ``put`` and ``call`` drop what they are given."""
        self._stopped.set()
        if self._after_id is not None:
            try:
                self._widget.after_cancel(self._after_id)
            except Exception:  # the window may already be gone
                pass
            self._after_id = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def put(self, event: Any) -> None:
        """Queue ``event`` for the handler. Thread-safe; waits while the queue is full."""
        while not self._stopped.is_set():
            try:
                self._queue.put(event, timeout=_PUT_POLL)
                return
            except queue.Full:
                continue

    def call(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on the Tk thread, in order with the events. Thread-safe."""
        self.put(_Call(func, args))

    def _poll(self) -> None:
        self._after_id = None
        if self._stopped.is_set():
            return
        self.turns += 1
        deadline = time.perf_counter() + TURN_BUDGET
        batch: list[Any] = []
        more = False
        for count in range(MAX_BATCH):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Call):
                # Keep the order: the events before the call are handled before it.
                self._flush(batch)
                batch = []
                try:
                    item.func(*item.args)
                except Exception:
                    _log.exception("GUI callback %r failed", item.func)
            else:
                batch.append(item)
            # Checked every few items: perf_counter costs more than queue.get.
            if count % 8 == 7 and time.perf_counter() >= deadline:
                more = True
                break
        else:
            more = True
        self._flush(batch)
        if not self._stopped.is_set():
            more = more or not self._queue.empty()
            self._after_id = self._widget.after(1 if more else POLL_MS, self._poll)

    def _flush(self, batch: list[Any]) -> None:
        if batch:
            try:
                self._handler(batch)
            except Exception:
                _log.exception("GUI event handler failed")


class TurnTimer:
    """Measures how smoothly the Tk event loop runs: an ``after()`` ticker every
    ``interval_ms``; :attr:`max_gap` is the longest time between two ticks seen since
    the last :meth:`reset` (seconds). A blocked Tk thread shows up as a long gap."""

    def __init__(self, widget: Any, interval_ms: int = 10) -> None:
        self._widget = widget
        self._interval = interval_ms
        self._last = time.perf_counter()
        self.max_gap = 0.0
        self.ticks = 0

    def start(self) -> None:
        self._last = time.perf_counter()
        self._widget.after(self._interval, self._tick)

    def reset(self) -> None:
        self.max_gap, self.ticks, self._last = 0.0, 0, time.perf_counter()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_gap = max(self.max_gap, now - self._last)
        self._last = now
        self.ticks += 1
        try:
            self._widget.after(self._interval, self._tick)
        except Exception:
            pass  # the window is being destroyed
