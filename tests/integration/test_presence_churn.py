"""One client logging in and out in a loop made every user online receive a joined and a
left notice for each login (about 460 a second at full speed): no one user may flood the
others. A real server (memory, and a --cluster node on Redis: its notices come through the
same presence routing), a watcher (Olga) and a name that churns (Flap). Bounded waits.

The server's damping is set short (DAMPING), so that the settled state comes in a second and
a half rather than const.PRESENCE_SETTLE; CYCLES logins are several times what it lets through."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from protocol import JoinRoom, RoomInfo, RoomNotice, UserJoined, UserLeft
from redisserver import RedisServer
from servers import in_thread
from wire import WireClient

NOTICES = (UserJoined, UserLeft)
# Two changes told, then held until none came for 1.5 s; the window holds the whole loop.
DAMPING = {"presence_flap_changes": 2, "presence_flap_window": 60.0, "presence_settle": 1.5}
CYCLES = 10
QUIET = 1.0  # seconds without a notice after the last one about Flap


@pytest.fixture(params=["memory", "cluster"])
def server(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "cluster":
        with RedisServer(tmp_path) as redis, in_thread(cluster_url=redis.url, **DAMPING) as srv:
            yield srv
        return
    with in_thread(None, **DAMPING) as srv:
        yield srv


def flap_notices(olga: WireClient, deadline: float) -> list[str]:
    """The notices about Flap Olga gets, up to one "joined" after which none came for QUIET s."""
    told: list[str] = []
    while time.monotonic() < deadline:
        try:
            event = olga.expect(NOTICES, timeout=QUIET)
        except AssertionError:  # quiet
            if told and told[-1] == "joined":
                return told
            continue
        if event.name == "Flap":
            told.append("joined" if type(event) is UserJoined else "left")
    raise AssertionError(f"Flap's last state was not told in time: {told}")


def test_a_user_logging_in_and_out_in_a_loop_cannot_flood_the_others(server):
    with WireClient.login(server.host, server.port, "Olga") as olga:
        for _ in range(CYCLES):
            with WireClient.login(server.host, server.port, "Flap") as flap:
                flap.sock.shutdown(socket.SHUT_WR)  # ends the session without a frame of its own
                flap.wait_closed()
        with WireClient.login(server.host, server.port, "Flap"):  # and it stays
            told = flap_notices(olga, time.monotonic() + DAMPING["presence_settle"] + 10)
    # Once settled, its real state (online) is told: at most one notice more than the damping lets through.
    assert told[-1] == "joined" and len(told) <= DAMPING["presence_flap_changes"] + 1, told


def test_a_room_member_logging_in_and_out_in_a_loop_cannot_flood_the_room(server):
    """The same churn told each member of the user's rooms "online" and "offline" (room
    notices, version 2): they follow the user's damped presence."""
    with WireClient.login(server.host, server.port, "Olga") as olga:
        olga.send(JoinRoom("j", "#turma"))
        olga.expect(RoomInfo, skip=NOTICES + (RoomNotice,))
        with WireClient.login(server.host, server.port, "Flap") as flap:
            flap.send(JoinRoom("j", "#turma"))
            flap.expect(RoomInfo, skip=NOTICES + (RoomNotice,))
        for _ in range(CYCLES):
            with WireClient.login(server.host, server.port, "Flap") as flap:
                flap.sock.shutdown(socket.SHUT_WR)
                flap.wait_closed()
        told: list[str] = []
        deadline = time.monotonic() + DAMPING["presence_settle"] + 10
        while time.monotonic() < deadline:
            try:
                event = olga.expect(RoomNotice, timeout=QUIET, skip=NOTICES)
            except AssertionError:  # quiet
                if told and told[-1] == "offline":
                    break
                continue
            if event.name == "Flap" and event.act in ("online", "offline"):
                told.append(event.act)
    assert told and told[-1] == "offline" and len(told) <= DAMPING["presence_flap_changes"] + 1, told
