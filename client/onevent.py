"""What an application's ``on_event`` raises, logged once per kind, then counted.

An ``on_event`` with a bug raises for every event: a traceback for each, a line per
message in a busy room, would bury the first (the one that says what is wrong) in
thousands. The shells (client/library.py, client/aio.py) log each kind of exception (its
type) in full with its traceback, then count the others (shared/logsummary.py, as the
server does for what clients send), a summary line a minute at most and one at the end of
the session::

    on_event raised for DirectMessage(...); the client goes on
    Traceback (most recent call last): ... ValueError: ...
    4999 more ValueErrors raised by on_event from the client of 'Ana' in the last 61 s

The client goes on either way: an application's error is not the session's.
"""

from __future__ import annotations

import logging
import sys

from protocol import Event
from shared.logsummary import LogSummary


def on_event_errors(logger: logging.Logger) -> LogSummary:
    """A session's log of its ``on_event`` errors, on ``logger`` (the shell's). Call its
    ``flush()`` when the session ends: the count not said yet is said then."""
    return LogSummary(logger)


def on_event_raised(errors: LogSummary, name: str, event: Event) -> None:
    """(In the ``except`` that caught it.) ``on_event`` raised for ``event`` in the client
    of ``name``: logged with its traceback, or counted."""
    kind = type(sys.exc_info()[1]).__name__
    errors.log(f"{kind}{{s}} raised by on_event", f"the client of {name!r}", logging.ERROR,
               "on_event raised for %r; the client goes on", event, exc_info=True)
