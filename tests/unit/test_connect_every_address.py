"""A client given a listen-on-every-address host ("::") tries this machine's ::1 and then
127.0.0.1 (client/transport.py, open_socket): when neither answers, the error says both.
No socket is opened: the connect itself is a stand-in that fails as the kernel would."""

from __future__ import annotations

import socket

import pytest

import i18n
from client.errors import LoginInterrupted, ServerUnreachable
from client.transport import open_socket


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use("en")


def _connect_fails(monkeypatch: pytest.MonkeyPatch, **errors: OSError) -> list[str]:
    """socket.create_connection raising ``errors[kind]`` for ::1 ("v6") and 127.0.0.1 ("v4");
    the hosts tried, in order."""
    tried: list[str] = []

    def create_connection(address, timeout=None):
        tried.append(address[0])
        raise errors["v6" if ":" in address[0] else "v4"]

    monkeypatch.setattr(socket, "create_connection", create_connection)
    return tried


def _refused() -> OSError:
    return ConnectionRefusedError(111, "Connection refused")


def test_both_refused_says_both_addresses_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the 127.0.0.1 refusal was said: the user could not tell ::1 was tried too."""
    tried = _connect_fails(monkeypatch, v6=_refused(), v4=_refused())
    with pytest.raises(ServerUnreachable) as caught:
        open_socket("::", 5000, 1.0)
    assert tried == ["::1", "127.0.0.1"]
    assert str(caught.value) == "connection to [::1]:5000 and to 127.0.0.1:5000 refused: is the chat server running?"
    i18n.use("pt_BR")
    with pytest.raises(ServerUnreachable) as caught:
        open_socket("::", 5000, 1.0)
    assert str(caught.value) == ("conexão com [::1]:5000 e com 127.0.0.1:5000 recusada: o servidor de chat está "
                                 "rodando?"), str(caught.value)


def test_failing_each_its_way_says_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """No IPv6 on this machine, then a reset: both said, and the class is the last one's (a
    reset is worth a new attempt)."""
    _connect_fails(monkeypatch, v6=OSError(99, "Cannot assign requested address"),
                   v4=ConnectionResetError(104, "Connection reset by peer"))
    with pytest.raises(LoginInterrupted) as caught:
        open_socket("::", 5000, 1.0)
    assert str(caught.value) == ("cannot connect to [::1]:5000: Cannot assign requested address; cannot connect to "
                                 "127.0.0.1:5000: Connection reset by peer")


def test_one_host_says_its_own_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _connect_fails(monkeypatch, v4=_refused())
    with pytest.raises(ServerUnreachable) as caught:
        open_socket("", 5000, 1.0)
    assert str(caught.value) == "connection to 127.0.0.1:5000 refused: is the chat server running?"
