"""What keeps tests/unit honest: a unit test drives a core with bytes and a fake clock, so
here a socket may not connect or bind and no process may start; one that tries fails
at once, saying it belongs in tests/integration.

``socket.socketpair()`` stays allowed (asyncio's event loop makes one for itself and some
cores are fed through one): it reaches no network.
"""

from __future__ import annotations

import socket
import subprocess

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
