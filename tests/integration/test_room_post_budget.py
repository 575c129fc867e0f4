"""Posts to a room have their own budget per member and room (const.ROOM_POSTS_PER_SECOND,
const.ROOM_POST_BURST): a room post fans out to every member, so one student's loop at the
connection's request rate (30 a second) filled 30 screens and pushed the teacher's
question out of everyone's backlog. Over it a post is answered ``rate_limited`` with
``retry_after``; the room's owner and moderators, and administrators, are not held to it.
Real servers on 127.0.0.1 port 0 over each store (memory, SQLite, Redis: a cluster node
keeps the budget of the posts it is sent); every wait is bounded.
"""

from __future__ import annotations

import time

import const
from protocol import Accepted, ErrorCode, ErrorReply, RoomMessage, RoomPost, RoomTyping, SendRoom, SendToRoom
from server import ServerThread
from test_rooms_after_delivered import QUIET, join, log_in
from test_rooms_after_delivered import config  # noqa: F401  (a fixture: memory, SQLite, Redis)

SKIP = QUIET + (RoomPost, RoomMessage, RoomTyping)


def answers(client, ids: list[str]) -> dict[str, object]:
    """The answers (Accepted or ErrorReply) to the requests ``ids``, by request id."""
    got: dict[str, object] = {}
    while len(got) < len(ids):
        event = client.expect((Accepted, ErrorReply), skip=SKIP)
        got[event.request_id] = event
    return got


def flood(client, prefix: str, count: int, room: str | None = "#redes") -> dict[str, object]:
    ids = [f"{prefix}{n}" for n in range(count)]
    for request_id in ids:  # all at once, as a loop sends them
        client.send(SendToRoom(request_id, room, "spam") if room else SendRoom(request_id, "spam"))
    return answers(client, ids)


def test_a_member_s_loop_is_held_to_the_room_budget_and_the_owner_is_not(config):
    burst = int(const.ROOM_POST_BURST)
    with ServerThread(config) as server, log_in(server, "Ana") as ana, log_in(server, "João") as joao:
        join(ana)  # she creates #redes: its owner
        join(joao)
        got = flood(joao, "j", burst + 5)
        accepted = [i for i, e in got.items() if isinstance(e, Accepted)]
        refused = [e for e in got.values() if isinstance(e, ErrorReply)]
        assert sorted(accepted) == sorted(f"j{n}" for n in range(burst)), got  # a paste of a few lines passes
        assert len(refused) == 5 and all(e.code == ErrorCode.RATE_LIMITED for e in refused), refused
        wait = max(e.retry_after for e in refused)
        assert 0 < wait <= burst / const.ROOM_POSTS_PER_SECOND, refused
        # Waiting as told, the post passes (the client's resend, with the same id), in
        # about the time told.
        started, answer = time.monotonic(), refused[0]
        while isinstance(answer, ErrorReply) and time.monotonic() < started + 10:
            assert answer.code == ErrorCode.RATE_LIMITED, answer
            joao.drain(quiet=answer.retry_after, timeout=answer.retry_after)  # the wait told
            joao.send(SendToRoom(answer.request_id, "#redes", "spam"))
            answer = answers(joao, [answer.request_id])[answer.request_id]
        assert isinstance(answer, Accepted) and time.monotonic() - started < wait + 2, answer
        # The owner pasting an exercise: every line passes.
        got = flood(ana, "a", burst * 3)
        assert all(isinstance(e, Accepted) for e in got.values()), got


def test_the_default_room_s_say_has_the_same_budget(config):
    burst = int(const.ROOM_POST_BURST)
    with ServerThread(config) as server, log_in(server, "Conceição") as student:
        got = flood(student, "s", burst + 3, room=None)
        refused = [e for e in got.values() if isinstance(e, ErrorReply)]
        assert len(refused) == 3 and all(e.code == ErrorCode.RATE_LIMITED and e.retry_after for e in refused), got
        # A post to the default room by its name spends the same budget.
        got = flood(student, "n", 1, room=const.DEFAULT_ROOM)
        assert isinstance(got["n0"], ErrorReply) and got["n0"].code == ErrorCode.RATE_LIMITED, got
