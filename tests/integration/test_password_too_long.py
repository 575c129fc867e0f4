"""A password over const.MAX_PASSWORD_CHARS (1024) characters: the server refuses it
bad_field with its field and limit (PROTOCOL.md "error"), and the library stops it before
the hello goes out, saying why in the user's language. A real server on 127.0.0.1 port 0."""

from __future__ import annotations

import json

import pytest

import const
from client import ChatClient, LoginRefused
from i18n import use
from protocol import ErrorCode, ErrorReply
from server import ServerConfig, ServerThread
from wire import WireClient

TOO_LONG = "p" * (const.MAX_PASSWORD_CHARS + 1)


@pytest.fixture
def server():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        yield srv


def test_the_server_refuses_a_password_too_long_naming_its_field_and_limit(server):
    with WireClient(server.host, server.port) as newcomer:
        newcomer.send_raw(json.dumps({"type": "hello", "id": "h", "name": "Ana", "version": 2,
                                      "password": TOO_LONG}).encode() + b"\n")
        refused = newcomer.expect(ErrorReply)
    assert (refused.request_id, refused.code, refused.field, refused.max_chars) == (
        "h", ErrorCode.BAD_FIELD, "password", const.MAX_PASSWORD_CHARS)


def test_the_library_stops_a_password_too_long_before_the_hello_and_says_why(server):
    """It was sent, and the login refused in the server's English ("'password' is 1025
    characters long; the limit is 1024"): now refused here, in the language in use."""
    client = ChatClient("Ana", server.host, server.port, password=TOO_LONG)
    try:
        use("pt_BR")
        with pytest.raises(LoginRefused) as refused:
            client.connect(5.0)
    finally:
        use("en")
        client.close()
    assert refused.value.local and refused.value.code == ErrorCode.BAD_FIELD, refused.value
    assert refused.value.message == "a senha é longa demais: no máximo 1024 caracteres"
