"""A client given the server's "listen on every address" as where to connect (the real
server, 127.0.0.1 port 0).

A teacher who sets ``SERVER_HOST = ""`` in const_local.py (the coursework's idiom for
"every address": the server listens on all of them) made every client on that machine
fail with "cannot find the server host ''"; ``"0.0.0.0"`` fails the same way on Windows.
Such an address names no machine, and the server is on this one: a client connects to it
here (client/transport.py, ``connect_host``).
"""

from __future__ import annotations

import pytest

from client import ChatClient
from client.aio import AioChatClient
from client.resume import ResumeTokens
from server import ServerConfig, ServerThread

WAIT = 10.0


@pytest.mark.parametrize("host", ["", "0.0.0.0"])
def test_a_client_given_every_address_connects_to_this_machine(host: str) -> None:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        ana = ChatClient("Ana", host, server.port, resume_tokens=ResumeTokens(None))
        try:
            ana.connect(timeout=WAIT)
            assert ana.connected
        finally:
            ana.close()


def test_the_asyncio_client_given_every_address_connects_to_this_machine() -> None:
    import asyncio

    async def test(port: int) -> None:
        ana = AioChatClient("Ana", "", port, resume_tokens=ResumeTokens(None))
        try:
            await ana.connect(WAIT)
            assert ana.connected
            assert ana.address == f"127.0.0.1:{port}"  # (it said ":PORT")
        finally:
            await ana.close()

    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        asyncio.run(asyncio.wait_for(test(server.port), 30))


@pytest.mark.parametrize("host", ["", "0.0.0.0", "::"])
def test_a_client_given_every_address_says_the_address_it_reached(host: str) -> None:
    """``--host ""`` printed "* connected to :15300 as X" (no host at all): the client says
    the address it connected to, this machine's. And ``--host ::`` tried only ::1, so a server
    on 127.0.0.1 or 0.0.0.0 (IPv4 alone) was "refused": this machine is also 127.0.0.1, tried next."""
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        ana = ChatClient("Ana", host, server.port, resume_tokens=ResumeTokens(None))
        try:
            ana.connect(timeout=WAIT)
            assert ana.address == f"127.0.0.1:{server.port}"
        finally:
            ana.close()

