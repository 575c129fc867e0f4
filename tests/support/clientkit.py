"""Starting real client-library clients in tests: ``start(clients, port, name, **options)``,
which is :func:`logins.library_login`."""

from __future__ import annotations

from client.library import ChatClient
from logins import LIBRARY_WAIT as WAIT  # noqa: F401  (the old name)
from logins import library_login


def start(clients: list[ChatClient], port: int, name: str, **options: object) -> ChatClient:
    """Connect ``name`` to 127.0.0.1:``port`` (within WAIT s); it is closed with ``clients``."""
    return library_login(clients, port, name, **options)


def posted(client: ChatClient, room: str, text: str, timeout: float = WAIT):
    """Post ``text`` to ``room`` and wait until the server took it (``sent``), so that its
    ``msg_id`` is known: another client can see the post before this one's receiver thread
    has read the answer, and an edit or delete of ``msg_id`` None is refused by the codec."""
    message = client.send_to_room(room, text)
    assert message.wait_done(timeout) and message.state == "sent", message
    return message
