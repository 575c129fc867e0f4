"""The server says its wall clock (PROTOCOL.md, "welcome" and "Either direction"): ``now``,
ms since the epoch, in the ``welcome`` and in every ``pong`` it answers, so that a client
whose own clock is hours off can still say how long a wait the server gave lasts. A real
server on 127.0.0.1 port 0; wire clients."""

from __future__ import annotations

import time

import const
from protocol import Hello, Ping, Pong, UserJoined, UserLeft, Welcome
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
            pong = ana.expect(Pong, skip=(UserJoined, UserLeft))
            assert pong.token == "t" and welcome.now <= pong.now <= time.time() * 1000 + 1000, pong


def test_a_kept_guest_names_refusal_says_the_servers_time_with_its_until():
    """The refusal of a name kept for its last guest comes instead of a welcome: it says
    the server's time too, so that a first login's client can say how long is left."""
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with WireClient(server.host, server.port) as first:
            first.send(Hello("h", "Otávio", const.PROTOCOL_VERSION))
            first.expect(Welcome)
        with WireClient(server.host, server.port) as other:
            deadline = time.monotonic() + 10
            while True:  # the first one's leaving is noticed at once, its hold begins
                other.send(Hello("h", "Otávio", const.PROTOCOL_VERSION))
                refusal = other.next()
                if getattr(refusal, "until", None) is not None or time.monotonic() > deadline:
                    break
            assert refusal.code == "name_taken" and refusal.until is not None, refusal
            assert refusal.now is not None and abs(refusal.now - time.time() * 1000) < 5000, refusal


def test_the_welcome_says_the_servers_edit_window_with_the_edits_feature():
    """A server set to 5 minutes says so (seconds) to a client that asked for edits, so
    that it offers Edit no longer than the server takes it; without the feature, nothing."""
    from protocol import EDITS
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, edit_window=300.0)) as server:
        with WireClient(server.host, server.port) as ana:
            ana.send(Hello("h", "Ana", const.PROTOCOL_VERSION, features=(EDITS,)))
            welcome = ana.expect(Welcome)
            assert welcome.features == (EDITS,) and welcome.edit_window == 300.0, welcome
        with WireClient(server.host, server.port) as bia:
            bia.send(Hello("h", "Bia", const.PROTOCOL_VERSION))
            assert bia.expect(Welcome).edit_window is None
