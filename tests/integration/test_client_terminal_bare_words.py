"""A student used to the original assignments' clients types ``sair``, ``lista`` or
``lookup Bob`` without the "/": at the terminal's prompt that is not sent to the room at
once; one line says which command it looks like, and the same line typed again right
after goes as a message. On a pseudo-terminal, with a real server; Olga, in the room,
hears only what was meant for it."""

from __future__ import annotations

import os

import pytest

from chatpeer import TcpPeer
from client.exitcodes import ExitCode
from ptys import WAIT, on_a_pty
from protocol import RoomMessage
from server import ServerConfig, ServerThread

pytestmark = [pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal"),
              pytest.mark.timeout_seconds(60)]


@pytest.mark.parametrize(("lang", "hint", "sent"), [
    ("C.UTF-8", "! did you mean {command}? nothing was sent; type {line} again to send it as a message",
     "(room) you: sair ✓"),
    ("pt_BR.UTF-8", "! você quis dizer {command}? nada foi enviado; digite {line} de novo para enviar como mensagem",
     "(sala) você: sair ✓"),
], ids=["en", "pt_BR"])
def test_a_command_typed_without_its_slash_is_hinted_then_sent_if_typed_again(lang: str, hint: str,
                                                                               sent: str) -> None:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        olga = TcpPeer("127.0.0.1", server.port)
        try:
            olga.login("Olga")
            with on_a_pty("Conceição", "--port", str(server.port), lang=lang, columns=200) as (proc, screen):
                screen.expect(b"]> ")
                screen.type(b"sair\r")
                screen.expect(hint.format(command="/sair", line="sair").encode())
                screen.type(b"lookup Olga\r")
                screen.expect(hint.format(command="/lookup Olga", line="lookup Olga").encode())
                screen.type(b"sair\r")  # not the line just hinted: hinted again
                screen.type(b"sair\r")  # the same again: meant, sent
                screen.expect(sent.encode())
                assert screen.seen.count(hint.format(command="/sair", line="sair").encode()) == 2
                heard = olga.expect(RoomMessage, WAIT, where=lambda e: e.sender == "Conceição")
                assert heard.text == "sair"  # the first thing she heard from Conceição
                screen.type(b"/sair\r")
                assert proc.wait(WAIT) == ExitCode.OK
                assert b"Traceback" not in screen.seen
        finally:
            olga.close()
