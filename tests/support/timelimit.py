"""The time limit of every test: a hang must be a failure, not a stall until CI's own limit.

Each phase of a test (setup, call, teardown) may take at most ``DEFAULT_TIME_LIMIT``
seconds, or what its ``@pytest.mark.timeout_seconds(N)`` marker says (on the test, its
class or its module: the closest wins). On POSIX an interval timer (SIGALRM) interrupts
the phase in the main thread with :class:`TimeLimitExceeded`, whose message says "test
exceeded N s" and carries the stack of every thread, so the failure shows where it was
stuck; the run goes on with the next test. Where there is no SIGALRM (Windows), or
pytest does not run in the main thread, faulthandler dumps the stacks and ends the whole
run instead: still a failure, never a stall.

A pytest plugin with no dependency: tests/conftest.py installs it by importing its hooks;
``python3 -m pytest -p timelimit`` (with tests/support on the path) does the same for another
directory, which is how tests/integration/test_timelimit.py checks it.
"""

from __future__ import annotations

import faulthandler
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from types import FrameType

import pytest

# Seconds per phase unless a timeout_seconds marker says otherwise. The slowest ordinary
# tests take under 10 s on a loaded 2-core machine; the few long ones carry a marker.
DEFAULT_TIME_LIMIT = 60.0


class TimeLimitExceeded(BaseException):
    """A test phase ran past its time limit. A BaseException, so that a test's own
    ``except Exception`` cannot swallow it; pytest reports it as the test's failure."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timeout_seconds(n): fail the test if its setup, call or teardown "
                                       f"takes more than n seconds (default {DEFAULT_TIME_LIMIT:g})")


def time_limit(item: pytest.Item) -> float:
    """The time limit of ``item``'s phases, in seconds."""
    marker = item.get_closest_marker("timeout_seconds")
    if marker is None:
        return DEFAULT_TIME_LIMIT
    seconds = float(marker.args[0] if marker.args else marker.kwargs["seconds"])
    if not seconds > 0:
        raise ValueError(f"{item.nodeid}: timeout_seconds needs a positive number of seconds, not {seconds!r}")
    return seconds


def all_stacks() -> str:
    """The current stack of every thread, named, most recent call last."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    parts = []
    for ident, frame in sys._current_frames().items():
        stack = "".join(traceback.format_stack(frame))
        parts.append(f"--- thread {names.get(ident, '?')} ({ident}) ---\n{stack}")
    return "\n".join(parts)


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _limited(item, "setup"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _limited(item, "call"):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with _limited(item, "teardown"):
        yield


class _limited:
    """Arm the time limit around one phase of ``item``; disarm it whatever happens."""

    def __init__(self, item: pytest.Item, phase: str) -> None:
        self.seconds = time_limit(item)
        self.what = f"{item.nodeid} ({phase})"
        self.previous: object = None
        self.alarm = _can_alarm()

    def _expired(self, signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(
            f"test exceeded {self.seconds:g} s: {self.what} (its time limit; a test that needs longer says "
            f"so with @pytest.mark.timeout_seconds(N)).\nStacks of all threads when it was stopped:\n"
            f"{all_stacks()}")

    def __enter__(self) -> None:
        if self.alarm:
            self.previous = signal.signal(signal.SIGALRM, self._expired)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)
        else:
            faulthandler.dump_traceback_later(self.seconds, exit=True)

    def __exit__(self, *exc: object) -> None:
        if self.alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous if self.previous is not None else signal.SIG_DFL)
        else:
            faulthandler.cancel_dump_traceback_later()
