"""A post of a room that has ended (its last member left): its sender's edit is refused as
a post there would be (``no_such_room``), and nothing is told to anyone, also when a new
room of the same name exists; its sender's delete is done (the text leaves the store, as
every deleted message's: PROTOCOL.md "In rooms") and answered ``ok``, told to nobody.
Real servers on 127.0.0.1 port 0 over each store (memory, SQLite, and a ``--cluster``
node on Redis: the relay's code is the same); every wait is bounded.
"""

from __future__ import annotations

from server import ServerThread
from protocol import Delete, Done, Edit, ErrorCode, ErrorReply, HistoryRequest, HistoryPage, LeaveRoom, RoomDeleted
from protocol import RoomEdited, RoomPost

from test_rooms_after_delivered import QUIET, join, log_in, none_of, post
from test_rooms_after_delivered import config  # noqa: F401  (the store fixture: memory, SQLite, Redis)


def test_a_post_of_an_ended_room_cannot_be_edited_and_its_delete_is_told_to_nobody(config):  # noqa: F811
    with ServerThread(config) as server, log_in(server, "Vic") as vic, log_in(server, "Ana") as ana:
        join(vic, "#fim")
        first = post(vic, "v1", "a post", room="#fim")
        second = post(vic, "v2", "another post", room="#fim")
        vic.send(LeaveRoom("l1", "#fim"))
        assert vic.expect(Done, skip=QUIET + (RoomPost,)).request_id == "l1"
        vic.send(Edit("e1", first, "edited"))
        refused = vic.expect(ErrorReply, skip=QUIET + (RoomPost,))
        assert (refused.request_id, refused.code) == ("e1", ErrorCode.NO_SUCH_ROOM)

        join(ana, "#fim")  # a new room of the same name: none of the old one's posts are its
        vic.send(Edit("e2", first, "edited"))  # as a post to it: Vic is not in it
        refused = vic.expect(ErrorReply, skip=QUIET + (RoomPost,))
        assert (refused.request_id, refused.code) == ("e2", ErrorCode.NOT_MEMBER)
        vic.send(Delete("d1", second))
        assert vic.expect(Done, skip=QUIET + (RoomPost,)).request_id == "d1"
        none_of(ana, RoomEdited, RoomDeleted, RoomPost)
        ana.send(HistoryRequest("h1", "#fim"))
        assert ana.expect(HistoryPage, skip=QUIET).messages == ()


def test_a_post_of_an_ended_room_stays_unedited_when_its_sender_is_in_a_new_room_of_its_name(config):  # noqa: F811
    """Being a member of the new room is no right over the ended one's posts: the edit is
    refused as one of a post there with no room would be, and nobody in the new room is
    told, then or at a login (its history begins when it was made)."""
    with ServerThread(config) as server, log_in(server, "Vic") as vic, log_in(server, "Ana") as ana:
        join(vic, "#fim")
        first = post(vic, "v1", "a post", room="#fim")
        vic.send(LeaveRoom("l1", "#fim"))
        assert vic.expect(Done, skip=QUIET + (RoomPost,)).request_id == "l1"
        join(ana, "#fim")  # a new room of the same name
        join(vic, "#fim")  # and Vic in it
        vic.send(Edit("e1", first, "edited into the new room"))
        refused = vic.expect((Done, ErrorReply), skip=QUIET + (RoomPost,))
        assert (type(refused), getattr(refused, "code", None)) == (ErrorReply, ErrorCode.NO_SUCH_ROOM), refused
        none_of(ana, RoomEdited, RoomDeleted, RoomPost)
        ana.send(HistoryRequest("h1", "#fim"))
        assert ana.expect(HistoryPage, skip=QUIET).messages == ()
