"""A refusal about the asker's not being in a room says the room (``room``; PROTOCOL.md
"error"), so that a client says it in its user's language whatever the request was (an
act on someone too: without it, "you are not in" could not be told from an older server's
"Olga is not in"); an invitation of someone banned from the room names no room (it is about
them, not the asker). Real servers on 127.0.0.1 port 0: single (memory, SQLite) and a
``--cluster`` node on Redis; wire clients; bounded waits.
"""

from __future__ import annotations

from protocol import Ban, Done, ErrorCode, ErrorReply, Invite, Kick, RoomPost, RoomRead, RoomTyping
from server import ServerThread

from test_rooms_after_delivered import PASSWORD, QUIET, join, log_in, post
from test_rooms_after_delivered import config  # noqa: F401  (the store fixture: memory, SQLite, Redis)


def test_ones_own_not_member_names_the_room_and_an_invite_of_someone_banned_names_none(config):  # noqa: F811
    with ServerThread(config) as server, log_in(server, "Olga", password=PASSWORD, register=True) as olga, \
            log_in(server, "Vic", password=PASSWORD, register=True) as vic, log_in(server, "Ana") as ana:
        join(olga, "#turma")
        join(vic, "#turma")
        msg_id = post(olga, "p1", "bom dia", vic, room="#turma")
        ana.send(Kick("k1", "#turma", "Vic"))
        refused = ana.expect(ErrorReply, skip=QUIET)
        assert (refused.request_id, refused.code, refused.room_name, refused.name) == (
            "k1", ErrorCode.NOT_MEMBER, "#turma", None)
        ana.send(RoomTyping("#turma"))  # (no id: answered without one)
        refused = ana.expect(ErrorReply, skip=QUIET)
        assert (refused.code, refused.room_name) == (ErrorCode.NOT_MEMBER, "#turma")
        ana.send(RoomRead("#turma", msg_id))
        refused = ana.expect(ErrorReply, skip=QUIET)
        assert (refused.code, refused.room_name) == (ErrorCode.NOT_MEMBER, "#turma")

        olga.send(Ban("b1", "#turma", "Vic"))
        assert olga.expect(Done, skip=QUIET + (RoomPost,)).request_id == "b1"
        olga.send(Invite("i1", "#turma", "Vic"))
        refused = olga.expect(ErrorReply, skip=QUIET + (RoomPost,))
        assert (refused.request_id, refused.code, refused.room_name) == ("i1", ErrorCode.BANNED, None)
