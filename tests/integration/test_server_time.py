"""The server says its wall clock (PROTOCOL.md, "welcome" and "Either direction"): ``now``,
ms since the epoch, in the ``welcome`` and in every ``pong`` it answers, so that a client
whose own clock is hours off can still say how long a wait the server gave lasts. A real
server on 127.0.0.1 port 0; wire clients."""

from __future__ import annotations

import time

import const
from protocol import Hello, Ping, Pong, Welcome
from server import ServerConfig, ServerThread
from wire import WireClient


def test_the_welcome_and_every_pong_say_the_servers_time():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with WireClient(server.host, server.port) as ana:
            before = time.time() * 1000
            ana.send(Hello("h", "Ana", const.PROTOCOL_VERSION))
            welcome = ana.expect(Welcome)
            assert welcome.now is not None and before - 1000 <= welcome.now <= time.time() * 1000 + 1000, welcome
            ana.send(Ping("t"))
            pong = ana.expect(Pong)
            assert pong.token == "t" and welcome.now <= pong.now <= time.time() * 1000 + 1000, pong
