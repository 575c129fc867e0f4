"""Fixtures shared by the test files.

``server``: a real chat server on 127.0.0.1, a free port, an in-memory database (a test
module may define its own ``server``, a fake one for instance, which then takes over).
``clients``: the ChatClient objects a test makes, all closed at its end whatever happened.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from client.library import ChatClient
from server import ServerConfig, ServerThread


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
