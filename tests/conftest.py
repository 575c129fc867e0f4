"""Fixtures shared by the test files.

``server``: a real chat server on 127.0.0.1, a free port, an in-memory database (a test
module may define its own ``server``, a fake one for instance, which then takes over).
``clients``: the ChatClient objects a test makes, all closed at its end whatever happened.
Every test gets its own client state directory (``CHAT_STATE_DIR``: the guests' resume
tokens), so that no test writes to the real home directory, and each test is one machine.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from client.library import ChatClient
from server import ServerConfig, ServerThread


# Also for anything that runs before the per-test fixture below (and its subprocesses).
os.environ["CHAT_STATE_DIR"] = tempfile.mkdtemp(prefix="chat-state-")
atexit.register(shutil.rmtree, os.environ["CHAT_STATE_DIR"], True)


@pytest.fixture(autouse=True)
def client_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's client state directory (inherited by the programs it starts)."""
    path = str(tmp_path_factory.mktemp("state"))
    monkeypatch.setenv("CHAT_STATE_DIR", path)
    return path


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        yield srv


@pytest.fixture
def clients() -> Iterator[list[ChatClient]]:
    made: list[ChatClient] = []
    yield made
    for client in made:
        client.close()
