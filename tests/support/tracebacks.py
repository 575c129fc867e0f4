"""A traceback logged by the code under test fails the test that caused it.

The server and the client library catch what a bug raises where one bad callback must not
take the rest down (``store callback failed``, ``writing to a client failed``, ``on_event
raised``): they log it with its traceback and go on, as they should in production. In a
test that safety net would hide the bug: the test passes while the log says a callback
broke. So every test collects the records logged at ERROR or above with an exception
(from any thread: a server running in the test's process, a client's receiver thread)
and fails at its end if there is one, naming each.

A test that provokes one on purpose (a callback made to raise, to show the others still
run) says so with ``@pytest.mark.logs_tracebacks("why")``. Servers the tests start as
processes log to their own output, not here.

tests/conftest.py installs it: the autouse fixture is imported there, and its
``pytest_configure`` registers the marker.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

MARKER = "logs_tracebacks"


def configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(reason): the test makes the code under test log a "
                                       "traceback on purpose (else one fails it)")


class _Collected(logging.Handler):
    """The records logged with an exception at ERROR or above while it is installed."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            self.records.append(record)


def described(record: logging.LogRecord) -> str:
    """One line for a collected record: its logger, its message's first line, the exception."""
    kind, exc = record.exc_info[0], record.exc_info[1]
    return f"{record.name}: {record.getMessage().splitlines()[0][:200]} ({kind.__name__}: {str(exc)[:200]})"


@pytest.fixture(autouse=True)
def no_unexpected_tracebacks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test if the code it ran logged a traceback it did not say it would."""
    collected = _Collected()
    root = logging.getLogger()
    root.addHandler(collected)
    try:
        yield
    finally:
        root.removeHandler(collected)
    if collected.records and request.node.get_closest_marker(MARKER) is None:
        lines = "\n".join(f"  {described(record)}" for record in collected.records[:5])
        more = len(collected.records) - 5
        pytest.fail(f"the code under test logged {len(collected.records)} traceback(s), a bug its safety net "
                    f"caught:\n{lines}" + (f"\n  ... and {more} more" if more > 0 else "") +
                    f"\n(a test that provokes one on purpose says so: @pytest.mark.{MARKER}(reason))",
                    pytrace=False)
