"""Fixtures shared by the test files, and the time limit of every test.

``server``: a real chat server on 127.0.0.1, a free port, an in-memory database (a test
module may define its own ``server``, a fake one for instance, which then takes over).
``clients``: the ChatClient objects a test makes, all closed at its end whatever happened.
Every test gets its own client state directory (``CHAT_STATE_DIR``: the guests' resume
tokens), so that no test writes to the real home directory, and each test is one machine.

Tracebacks: one the code under test logs (a bug its safety net caught) fails the test,
unless it is marked ``@pytest.mark.logs_tracebacks(reason)``: see tests/support/tracebacks.py.

Time limit: every test has one (60 s per phase unless ``@pytest.mark.timeout_seconds(N)``
says otherwise), so that a hang fails instead of stalling the run: see
tests/support/timelimit.py, whose hooks are installed here.

Layout: ``tests/unit`` (pure cores: bytes and a fake clock in, no socket, process, thread
talking to a server or browser; its conftest refuses connect/bind and processes),
``tests/integration`` (real servers on 127.0.0.1, clients, processes, Redis, Chromium, Xvfb,
tmux) and ``tests/support`` (the helpers both import by module name: put on sys.path here).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# A developer's own settings (const_local.py, overrides.py) never change what the tests
# check: none is applied, in this process (before anything imports const) or in the
# programs the tests start (they inherit it).
os.environ["CHAT_CONST_LOCAL"] = ""

# The support modules (``from wire import WireClient``), wherever a test lives; and the
# integration folder, whose test_store.py one unit test imports by its old package path
# (see below).
_TESTS = Path(__file__).resolve().parent
for _folder in (_TESTS / "support", _TESTS / "integration"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from client.library import ChatClient
from server import ServerThread
from servers import in_thread  # noqa: E402
# The time limit's hooks: importing them here is what installs them.
from timelimit import (  # noqa: F401
    pytest_runtest_call, pytest_runtest_setup, pytest_runtest_teardown,
)
import timelimit
# A traceback the code under test logs fails the test (tests/support/tracebacks.py).
import tracebacks
from tracebacks import no_unexpected_tracebacks  # noqa: F401  (an autouse fixture)


def pytest_configure(config: pytest.Config) -> None:
    timelimit.pytest_configure(config)
    tracebacks.configure(config)


# Also for anything that runs before the per-test fixture below (and its subprocesses).
os.environ["CHAT_STATE_DIR"] = tempfile.mkdtemp(prefix="chat-state-")
atexit.register(shutil.rmtree, os.environ["CHAT_STATE_DIR"], True)
# The programs the tests start speak English, the language the expectations are written
# in, whatever the machine's locale (LANG=pt_BR.UTF-8 on a Brazilian student's machine):
# LANGUAGE comes first in gettext's order. Tests of other languages set their own.
os.environ["LANGUAGE"] = "en"


@pytest.fixture(autouse=True)
def client_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's client state directory (inherited by the programs it starts).

    Made with ``tempfile.mkdtemp`` in the session's base directory, not
    ``tmp_path_factory.mktemp``: that one numbers its directories by listing those made
    before, so a run of 3,600 unit tests listed about 6.5 million entries for it (about
    half of tests/unit's time: 29-44 s before, 17-19 s after, on the 2-core VM)."""
    path = tempfile.mkdtemp(prefix="state-", dir=tmp_path_factory.getbasetemp())
    monkeypatch.setenv("CHAT_STATE_DIR", path)
    return path


@pytest.fixture(autouse=True)
def server_clock_unheard() -> Iterator[None]:
    """Each test's clients start having heard no server's time (client/serverclock.py: one
    per process): a test that fakes the wall clock is not read against a server an earlier
    test's client heard."""
    from client.serverclock import SERVER_CLOCK
    from client.serverwindow import SERVER_WINDOW
    SERVER_CLOCK.forget()
    SERVER_WINDOW.forget()  # and no server's edit window
    yield
    SERVER_CLOCK.forget()
    SERVER_WINDOW.forget()


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with in_thread() as srv:
        yield srv


@pytest.fixture
def clients() -> Iterator[list[ChatClient]]:
    made: list[ChatClient] = []
    yield made
    for client in made:
        client.close()
