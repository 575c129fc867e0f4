"""Exactly once after a refusal's cause: a post stored, then its sender muted, kicked or
the room gone, is answered ``accepted`` with its msg_id when its sender resends it (as a
client does after a lost connection), never refused: everyone saw it. Likewise a ``say``
after a mute in the default room, and a direct message after its recipient blocked the
sender. A new post, or the same id with another text, is still refused. Real servers on
127.0.0.1 port 0 over each store (memory, SQLite, a Redis cluster node); every wait is
bounded.
"""

from __future__ import annotations

import pytest

import const
from logins import make_admin
from protocol import (
    Accepted, Block, Done, ErrorCode, ErrorReply, Kick, LeaveRoom, Mute, RoomMessage, RoomPost, SendDirect, SendRoom,
    SendToRoom, DirectMessage,
)
from server import ServerThread
from test_rooms_after_delivered import PASSWORD, QUIET, join, log_in, none_of, post
from test_rooms_after_delivered import config  # noqa: F401  (a fixture: memory, SQLite, Redis)


def test_a_room_posts_resend_is_accepted_after_a_mute_a_kick_and_the_rooms_end(config):  # noqa: F811
    with ServerThread(config) as server, \
            log_in(server, "Olga", password=PASSWORD, register=True) as olga, log_in(server, "Mia") as mia:
        join(olga)
        join(mia)
        first = post(mia, "p1", "before the mute", olga, mia)

        olga.send(Mute("m", "#redes", "Mia", seconds=600))
        assert olga.expect(Done, skip=QUIET).request_id == "m"
        mia.send(SendToRoom("p1", "#redes", "before the mute"))  # the resend
        assert mia.expect(Accepted, skip=QUIET) == Accepted("p1", first)
        mia.send(SendToRoom("p2", "#redes", "while muted"))  # a new post
        mia.expect_error(ErrorCode.MUTED, skip=QUIET)
        mia.send(SendToRoom("p1", "#redes", "another text"))  # not a resend: the id's other use
        mia.expect_error(ErrorCode.MUTED, skip=QUIET)

        olga.send(Kick("k", "#redes", "Mia"))
        assert olga.expect(Done, skip=QUIET).request_id == "k"
        mia.send(SendToRoom("p1", "#redes", "before the mute"))
        assert mia.expect(Accepted, skip=QUIET) == Accepted("p1", first)
        mia.send(SendToRoom("p3", "#redes", "kicked"))
        mia.expect_error(ErrorCode.NOT_MEMBER, skip=QUIET)

        olga.send(LeaveRoom("l", "#redes"))  # the last member: the room ends
        assert olga.expect(Done, skip=QUIET).request_id == "l"
        mia.send(SendToRoom("p1", "#REDES", "before the mute"))  # any spelling of the room's name
        assert mia.expect(Accepted, skip=QUIET) == Accepted("p1", first)
        mia.send(SendToRoom("p4", "#redes", "gone"))
        mia.expect_error(ErrorCode.NO_SUCH_ROOM, skip=QUIET)
        none_of(olga, RoomPost)  # nothing shown twice


@pytest.mark.parametrize("named", [False, True], ids=["say", "send-to-lobby"])
def test_a_say_resent_after_a_mute_in_the_default_room_is_accepted(config, named):  # noqa: F811
    def say(request_id: str, text: str):
        return SendToRoom(request_id, const.DEFAULT_ROOM, text) if named else SendRoom(request_id, text)

    with ServerThread(config) as server, \
            log_in(server, "Olga", password=PASSWORD, register=True) as olga, log_in(server, "Mia") as mia:
        make_admin(server, "Olga")  # the console's /admin: administrators are registered accounts
        mia.send(say("s1", "hello all"))
        first = mia.expect(Accepted, skip=QUIET + (RoomMessage,)).msg_id
        olga.expect(RoomMessage, skip=QUIET)
        olga.send(Mute("m", const.DEFAULT_ROOM, "Mia", seconds=600))
        assert olga.expect(Done, skip=QUIET + (RoomMessage,)).request_id == "m"
        mia.send(say("s1", "hello all"))
        assert mia.expect(Accepted, skip=QUIET + (RoomMessage,)) == Accepted("s1", first)
        mia.send(say("s2", "muted now"))
        mia.expect_error(ErrorCode.MUTED, skip=QUIET + (RoomMessage,))
        none_of(olga, RoomMessage)


def test_a_direct_message_resent_after_the_recipient_blocked_its_sender_is_answered_as_before(config):  # noqa: F811
    with ServerThread(config) as server, log_in(server, "Ana") as ana, log_in(server, "Bob") as bob:
        ana.send(SendDirect("d1", "Bob", "before the block"))
        first = ana.expect(Accepted, skip=QUIET).msg_id
        assert bob.expect(DirectMessage, skip=QUIET).msg_id == first
        bob.send(Block("b", "Ana"))
        assert bob.expect(Done, skip=QUIET).request_id == "b"
        ana.send(SendDirect("d1", "Bob", "before the block"))
        # Accepted while Bob is online, as the first time; not an error. (Presence notices
        # are passed over: Bob's join may come after this round trip on a fast machine.)
        again = ana.expect((Accepted, ErrorReply), skip=QUIET)
        assert (type(again), again.msg_id) == (Accepted, first), again
