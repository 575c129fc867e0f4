"""The interactive terminal, on a pseudo-terminal, says what became of a message: one the
server refused at once was "not sent" (fix the name, then send it again), one it took
that expired unconfirmed was "not delivered", and how long it waited. A real server whose
messages live 1.5 s; Olga is online and her client never confirms anything."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from chatpeer import TcpPeer
from ptys import on_a_pty
from server import ServerConfig, ServerThread

pytestmark = [pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal"),
              pytest.mark.timeout_seconds(60)]


@pytest.fixture
def short_lived() -> Iterator[ServerThread]:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, queue_ttl=1.5, expiry_interval=0.1)) as server:
        yield server


@pytest.mark.parametrize(("lang", "refused", "expired"), [
    ("C.UTF-8", "✗ not sent: nobody called Ninguem has ever logged in here: check the name",
     r"✗ not delivered: it waited \d\.\d s for Olga and expired: their client never took it; tell them some other "
     r"way, or send it again when they are online"),
    ("pt_BR.UTF-8", "✗ não enviada: ninguém chamado Ninguem jamais entrou aqui: confira o nome",
     r"✗ não entregue: ela esperou \d,\d s por Olga e expirou: o cliente dessa pessoa nunca a recebeu; avise de "
     r"outro jeito, ou envie de novo quando a pessoa estiver online"),
], ids=["en", "pt_BR"])
def test_the_terminal_tells_a_refused_message_from_an_expired_one(short_lived: ServerThread, lang: str,
                                                                    refused: str, expired: str) -> None:
    olga = TcpPeer("127.0.0.1", short_lived.port)
    try:
        olga.login("Olga")
        with on_a_pty("Conceição", "--port", str(short_lived.port), lang=lang, columns=200) as (proc, screen):
            screen.expect(b"]> ")
            screen.type(b"@Ninguem oi?\r")
            screen.expect(refused.encode())
            screen.type("@Olga bom dia\r".encode())
            screen.expect(b"Olga: bom dia")
            # Its mark, rewritten in place once it expired: the line's end, then the whole of it.
            screen.expect(expired.rsplit(", ", 1)[1].encode())
            shown = screen.seen.decode(errors="replace")
            assert re.search(expired, shown), shown
            assert "Traceback" not in shown
    finally:
        olga.close()
