"""Starting real client-library clients in tests: ``start(clients, port, name, **options)``."""

from __future__ import annotations

from client.library import ChatClient

WAIT = 10.0


def start(clients: list[ChatClient], port: int, name: str, **options: object) -> ChatClient:
    """Connect ``name`` to 127.0.0.1:``port`` (within WAIT s); it is closed with ``clients``."""
    client = ChatClient(name, "127.0.0.1", port, **options)  # type: ignore[arg-type]
    clients.append(client)
    client.connect(timeout=WAIT)
    return client
