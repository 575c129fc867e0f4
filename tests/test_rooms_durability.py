"""Room messages on a real durable server (``chatserver.py --data``, a subprocess) killed
with SIGKILL mid-stream (issue 13): every accepted post reaches every member once, in one
order; the sender's resends under the same ids are stored once.

Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import pytest

from protocol import Accepted, Hello, JoinRoom, RoomInfo, RoomNotice, RoomPost, SendToRoom, UserJoined, UserLeft, Welcome
from tests.test_durability import ServerProcess, leave
from tests.wire import WireClient

NOTICES = (UserJoined, UserLeft, RoomNotice)
PASSWORD = "correct horse battery"
FAST = ("--rate-per-connection", "1000000", "--rate-per-address", "1000000")
N_POSTS = 60  # below const.ROOM_BACKLOG_LIMIT: everything missed comes at the next login
WINDOW = 10  # posts Olga has out at once, as a pipelining client would


def member(port: int, name: str) -> WireClient:
    """``name``'s account, logged in at protocol version 2 (registered if new)."""
    client = WireClient("127.0.0.1", port)
    client.send(Hello("hello", name, 2, PASSWORD, True))
    assert client.expect(Welcome, skip=NOTICES).version == 2
    return client


def posts(client: WireClient, quiet: float = 0.5) -> list[RoomPost]:
    return [e for e in client.drain(quiet=quiet) if type(e) is RoomPost]


@pytest.mark.timeout_seconds(90)
@pytest.mark.parametrize("kill_after", [1, 35])
def test_a_server_killed_mid_stream_loses_no_accepted_room_post_and_shows_none_twice(tmp_path, kill_after):
    data = str(tmp_path / "data")
    with ServerProcess("--data", data, *FAST) as first:
        with member(first.port, "Olga") as olga, member(first.port, "Mia") as mia:
            olga.send(JoinRoom("j1", "#redes", create=True))
            olga.expect(RoomInfo, skip=NOTICES)
            for client, name in ((mia, "Mia"), (member(first.port, "Bob"), "Bob")):
                client.send(JoinRoom("j", "#redes"))
                client.expect(RoomInfo, skip=NOTICES)
                if name == "Bob":
                    leave(client)  # Bob is away: what he misses comes at his next login
            accepted: dict[str, int] = {}
            sent = 0
            while len(accepted) < kill_after:
                while sent < N_POSTS and sent - len(accepted) < WINDOW:
                    olga.send(SendToRoom(f"p{sent}", "#redes", f"#{sent}"))
                    sent += 1
                event = olga.expect(Accepted, skip=NOTICES + (RoomPost,))
                accepted[event.request_id] = event.msg_id
            first.kill()  # at once: posts are still on their way in and out
            for event in olga.drain(quiet=0.5):
                if type(event) is Accepted:
                    accepted[event.request_id] = event.msg_id
            before_crash = posts(mia)
        assert first.proc.returncode == -9
    # Live, before the crash: in one order, each once, only what was accepted or on its way.
    live_ids = [p.msg_id for p in before_crash]
    assert live_ids == sorted(set(live_ids))

    with ServerProcess("--data", data, *FAST) as second:
        with member(second.port, "Mia") as mia, member(second.port, "Bob") as bob:
            missed = {"Mia": posts(mia), "Bob": posts(bob)}
            # Olga's client resends everything it was not told about, under the same ids:
            # what was stored before the crash keeps its msg_id and is not shown again.
            with member(second.port, "Olga") as olga:
                answers = {}
                for number in range(sent):
                    olga.send(SendToRoom(f"p{number}", "#redes", f"#{number}"))
                for _ in range(sent):
                    event = olga.expect(Accepted, skip=NOTICES + (RoomPost,))
                    answers[event.request_id] = event.msg_id
                assert accepted.items() <= answers.items(), "an accepted post changed its id"
                live = {"Mia": posts(mia), "Bob": posts(bob)}
                leave(olga)
            leave(mia)
            leave(bob)
        assert second.stop() == 0

    every = sorted(answers.values())
    for name, had in (("Mia", before_crash), ("Bob", [])):
        after = missed[name] + live[name]
        ids = [p.msg_id for p in after]
        assert ids == sorted(set(ids)), f"{name}: a post twice, or out of order, after the restart"
        # Each post once: what came before the crash and after it, together, is every post;
        # only a post the member had live before the crash may come again (PROTOCOL.md,
        # "Missed messages": the member's cursor is written at logout, which a crash skips).
        seen = [p.msg_id for p in had]
        assert sorted(set(seen) | set(ids)) == every, f"{name}: a post lost"
        assert all(p.text == f"#{number}" for p in had + after
                   for number in [next(int(r[1:]) for r, i in answers.items() if i == p.msg_id)])
    # Bob, away when the server was killed, gets every post exactly once.
    assert [p.msg_id for p in missed["Bob"] + live["Bob"]] == every
