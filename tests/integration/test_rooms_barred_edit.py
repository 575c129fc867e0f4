"""A member who may not post to a room now (muted, kicked, banned) cannot edit their posts
there either (issue 13: "a muted one is told why their message was refused"): the edit is
refused with the error and words a post would get. Deleting one's own post stays allowed.
Real servers on 127.0.0.1 port 0 over each store; every wait is bounded.
"""

from __future__ import annotations

import pytest

from server import ServerThread
from protocol import Ban, Delete, Done, Edit, ErrorCode, ErrorReply, Kick, Mute, RoomDeleted, RoomEdited, RoomPost, SendToRoom, Unmute

from test_rooms_after_delivered import PASSWORD, QUIET, join, log_in, none_of, post
from test_rooms_after_delivered import config  # noqa: F401  (the store fixture: memory, SQLite, Redis)


def refused_post_and_edit(client, room: str, msg_id: int, tag: str) -> tuple[ErrorReply, ErrorReply]:
    """What ``client`` is answered to a post to ``room`` and to an edit of ``msg_id``."""
    client.send(SendToRoom("p-" + tag, room, "may I?"))
    to_post = client.expect(ErrorReply, skip=QUIET + (RoomPost,))
    client.send(Edit("e-" + tag, msg_id, "edited past it " + tag))
    to_edit = client.expect(ErrorReply, skip=QUIET + (RoomPost,))
    assert (to_post.request_id, to_edit.request_id) == ("p-" + tag, "e-" + tag)
    return to_post, to_edit


def test_a_muted_member_cannot_edit_their_post_and_is_told_why_as_for_a_post(config):  # noqa: F811
    with ServerThread(config) as server, \
            log_in(server, "Moe", password=PASSWORD, register=True) as moe, log_in(server, "Vic") as vic:
        join(moe)
        join(vic)
        first = post(vic, "v1", "before the mute", moe)
        moe.send(Mute("m1", "#redes", "Vic", "spam", 600))
        assert moe.expect(Done, skip=QUIET).request_id == "m1"

        to_post, to_edit = refused_post_and_edit(vic, "#redes", first, "1")
        assert to_post.code == ErrorCode.MUTED
        assert (to_edit.code, to_edit.message) == (to_post.code, to_post.message)
        none_of(moe, RoomEdited)

        # Deleting one's own post is still allowed while muted.
        vic.send(Delete("d1", first))
        assert vic.expect(Done, skip=QUIET + (RoomPost,)).request_id == "d1"
        assert moe.expect(RoomDeleted, skip=QUIET).msg_id == first

        # Unmuted, an edit goes through again.
        moe.send(Unmute("u1", "#redes", "Vic"))
        assert moe.expect(Done, skip=QUIET).request_id == "u1"
        second = post(vic, "v2", "after the mute", moe)
        vic.send(Edit("e2", second, "after the mute, edited"))
        assert vic.expect(Done, skip=QUIET + (RoomPost,)).request_id == "e2"
        assert moe.expect(RoomEdited, skip=QUIET).text == "after the mute, edited"


@pytest.mark.parametrize("act", [Kick, Ban])
def test_a_kicked_or_banned_member_cannot_edit_their_post_in_that_room(config, act):  # noqa: F811
    with ServerThread(config) as server, \
            log_in(server, "Moe", password=PASSWORD, register=True) as moe, log_in(server, "Vic") as vic:
        join(moe)
        join(vic)
        join(vic, "#outra")
        first = post(vic, "v1", "before the kick", moe)
        elsewhere = post(vic, "v2", "in another room", room="#outra")
        moe.send(act("k1", "#redes", "Vic", "enough"))
        assert moe.expect(Done, skip=QUIET).request_id == "k1"

        to_post, to_edit = refused_post_and_edit(vic, "#redes", first, "1")
        assert to_post.code in (ErrorCode.NOT_MEMBER, ErrorCode.BANNED)
        assert (to_edit.code, to_edit.message) == (to_post.code, to_post.message)
        none_of(moe, RoomEdited)
        # Their posts in a room they are still in stay theirs to edit.
        vic.send(Edit("e2", elsewhere, "in another room, edited"))
        assert vic.expect(Done, skip=QUIET + (RoomPost,)).request_id == "e2"
