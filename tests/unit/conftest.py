"""What keeps tests/unit honest: a unit test drives a core with bytes and a fake clock, so
here a socket may not connect or bind and no process may start; one that tries fails
at once, saying it belongs in tests/integration.

``socket.socketpair()`` stays allowed (asyncio's event loop makes one for itself and some
cores are fed through one): it reaches no network.

A DeprecationWarning is an error here, whatever the Python: what 3.12 or 3.13 deprecates
fails the unit tests on those Pythons (README says which the project runs on) instead of
becoming an error, unseen, in the next one.
"""

from __future__ import annotations

import socket
import subprocess
import warnings

import pytest


def _refuse(what: str):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a unit test may not {what}: this test belongs in tests/integration")
    return refuse


@pytest.fixture(autouse=True)
def no_network_no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("connect a socket"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("bind a socket"))
    # (_execute_child, not __init__: a Popen refused half-made would complain when collected)
    monkeypatch.setattr(subprocess.Popen, "_execute_child", _refuse("start a process"))


@pytest.fixture(autouse=True)
def deprecations_are_errors() -> None:
    """Inside pytest's per-test warnings context, which puts the filters back after."""
    warnings.filterwarnings("error", category=DeprecationWarning)
    # pytest's own, in the version CI installs: not the project's to fix.
    warnings.filterwarnings("default", category=DeprecationWarning, module=r"(_pytest|pluggy)(\.|$)")
    # CPython 3.12.0-3.12.3 took SQLite's numbered placeholders (?1) for named ones
    # (python/cpython#117995, fixed in 3.12.4 and 3.13); a sequence is what they take.
    warnings.filterwarnings("ignore", r"Binding \d+ \('\?\d+'\) is a named parameter", DeprecationWarning)
