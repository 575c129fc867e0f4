"""Edit and delete of the default room's messages (issue 13): their sender within the edit
window, an administrator any of them, nobody else. Real servers on 127.0.0.1 port 0 over
each store (memory, SQLite, Redis); wire clients send exactly the frames each test wants.
Every wait is bounded.
"""

from __future__ import annotations

import logging

import pytest

import const
from protocol import (
    Accepted, Delete, Done, Edit, ErrorCode, Mute, RoomDeleted, RoomEdited, RoomMessage,
    RoomNotice, SendRoom, SendToRoom, UserJoined, UserLeft,
)
from server import ServerConfig, ServerThread
from test_rooms_after_delivered import PASSWORD, QUIET, log_in  # one way to log a wire client in
from test_rooms_after_delivered import config  # noqa: F401  (a fixture: memory, SQLite, Redis)
from logins import make_admin
from wire import WireClient


def say(sender: WireClient, request_id: str, text: str, *everyone: WireClient, named: bool = False) -> int:
    """``sender`` says ``text`` in the default room (``named``: by a ``send`` with its
    name); every one of ``everyone`` gets it; its msg_id."""
    sender.send(SendToRoom(request_id, const.DEFAULT_ROOM, text) if named else SendRoom(request_id, text))
    msg_id = sender.expect(Accepted, skip=QUIET + (RoomMessage,)).msg_id
    for client in everyone:
        got = client.expect(RoomMessage, skip=QUIET + (RoomEdited, RoomDeleted))
        assert (got.msg_id, got.text) == (msg_id, text)
    return msg_id


def none_of(client: WireClient, *kinds: type, quiet: float = 0.4) -> list:
    events = client.drain(quiet=quiet)
    assert not [e for e in events if isinstance(e, kinds)], events
    return events


@pytest.fixture
def admin_config(config):  # noqa: F811  (config: the rooms' store fixture, three stores)
    """The server's configuration over each store; each test makes Teacher an administrator
    at the console (make_admin) once registered: an administrator is an account."""
    return config


def test_own_edit_and_delete_of_a_default_room_message_reach_everyone_online(admin_config):
    with ServerThread(admin_config) as server, \
            log_in(server, "Ana", password=PASSWORD, register=True) as ana, \
            log_in(server, "Ana", password=PASSWORD) as ana2, log_in(server, "Mia") as mia, \
            log_in(server, "Old", features=None) as old, log_in(server, "One", version=1) as one:
        first = say(ana, "m1", "the tset is on friday", ana, ana2, mia, old, one)
        second = say(ana, "m2", "a secret by mistake", ana, ana2, mia, old, one, named=True)

        ana.send(Edit("e1", first, "the test is on friday"))
        assert ana.expect(Done, skip=QUIET + (RoomMessage,)).request_id == "e1"
        for other in (mia, ana2):  # everyone online, and the sender's other session
            edited = other.expect(RoomEdited, skip=QUIET)
            assert (edited.msg_id, edited.sender, edited.room_name, edited.text) == (
                first, "Ana", const.DEFAULT_ROOM, "the test is on friday")
        ana.send(Delete("d1", second))
        assert ana.expect(Done, skip=QUIET).request_id == "d1"
        for other in (mia, ana2):
            deleted = other.expect(RoomDeleted, skip=QUIET)
            assert (deleted.msg_id, deleted.sender, deleted.room_name, deleted.by) == (
                second, "Ana", const.DEFAULT_ROOM, None)
        # A resend is answered again and told again, once, as the change was (its first
        # answer may have been lost with the change made: test_rooms_after_delivered.py, "an
        # edit whose answer was lost"); an edit of a deleted one is refused.
        ana.send(Delete("d1", second))
        assert ana.expect(Done, skip=QUIET).request_id == "d1"
        ana.send(Edit("e2", second, "back"))
        ana.expect_error(ErrorCode.UNKNOWN_MESSAGE, skip=QUIET)
        for other in (mia, ana2):
            assert other.expect(RoomDeleted, skip=QUIET) == deleted
        none_of(mia, RoomEdited, RoomDeleted)
        # A session without the feature, and a version 1 session, are told nothing.
        none_of(old, RoomEdited, RoomDeleted)
        none_of(one, RoomEdited, RoomDeleted)


def test_an_administrator_deletes_anyones_default_room_message_and_nobody_else_may(admin_config, caplog):
    caplog.set_level(logging.INFO, logger="chat.rooms")
    with ServerThread(admin_config) as server, log_in(server, "Vic") as vic, log_in(server, "Mia") as mia, \
            log_in(server, "Teacher", password=PASSWORD, register=True) as teacher:
        make_admin(server, "Teacher")
        rude = say(vic, "m1", "something offensive", vic, mia, teacher)
        mia.send(Delete("x1", rude))  # a plain user may not delete it
        mia.expect_error(ErrorCode.FORBIDDEN, skip=QUIET + (RoomMessage,))
        mia.send(Edit("x2", rude, "rewritten"))  # nor edit it
        mia.expect_error(ErrorCode.FORBIDDEN, skip=QUIET)
        teacher.send(Edit("x3", rude, "rewritten"))  # an administrator deletes; does not rewrite
        teacher.expect_error(ErrorCode.FORBIDDEN, skip=QUIET)

        teacher.send(Delete("d1", rude))
        assert teacher.expect(Done, skip=QUIET + (RoomMessage,)).request_id == "d1"
        for client in (vic, mia):  # announced as a moderation act, then the delete itself
            notice = client.expect(RoomNotice, skip=(UserJoined, UserLeft))
            assert (notice.room_name, notice.act, notice.name, notice.by) == (const.DEFAULT_ROOM, "delete", "Vic", "Teacher")
            deleted = client.expect(RoomDeleted, skip=QUIET)
            assert (deleted.msg_id, deleted.sender, deleted.room_name, deleted.by) == (
                rude, "Vic", const.DEFAULT_ROOM, "Teacher")
    lines = [r.getMessage() for r in caplog.records if "deleted message" in r.getMessage()]
    assert lines == [f"Teacher deleted message {rude} of Vic in {const.DEFAULT_ROOM}"], lines


def test_an_edit_of_a_default_room_message_is_refused_while_muted_a_delete_is_not():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            log_in(server, "Vic") as vic, log_in(server, "Mia") as mia, \
            log_in(server, "Teacher", password=PASSWORD, register=True) as teacher:
        make_admin(server, "Teacher")
        msg_id = say(vic, "m1", "hello", vic, mia, teacher)
        teacher.send(Mute("mu", const.DEFAULT_ROOM, "Vic", None, None))
        teacher.expect(Done, skip=QUIET + (RoomMessage,))
        vic.send(Edit("e1", msg_id, "hello again"))  # a mute is not got round by editing
        vic.expect_error(ErrorCode.MUTED, skip=QUIET)
        vic.send(Delete("d1", msg_id))  # deleting one's own stays allowed
        assert vic.expect(Done, skip=QUIET + (RoomDeleted,)).request_id == "d1"
        none_of(mia, RoomEdited)


def test_a_deleted_default_room_messages_text_is_gone_from_the_sqlite_files(tmp_path):
    secret, other = "the exam answers are 42", "my password is hunter2"
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as server:
        with log_in(server, "Ana") as ana, log_in(server, "Teacher", password=PASSWORD, register=True) as teacher:
            make_admin(server, "Teacher")
            mine = say(ana, "m1", secret, ana, teacher)
            theirs = say(ana, "m2", other, ana, teacher)
            say(ana, "m3", "this one stays", ana, teacher)
            ana.send(Delete("d1", mine))
            ana.expect(Done, skip=QUIET + (RoomMessage,))
            teacher.send(Delete("d2", theirs))
            teacher.expect(Done, skip=QUIET + (RoomMessage, RoomDeleted))
            data = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
            assert b"this one stays" in data  # the reading finds text that was not deleted
            assert secret.encode() not in data and other.encode() not in data
    data = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert secret.encode() not in data and other.encode() not in data and b"this one stays" in data


class _GatedInput:
    """Standard input for a script: each line is given once its gate is set (at most
    10 s), then the end of input once ``done`` is."""

    def __init__(self, lines: list, done) -> None:
        self.lines, self.done = lines, done

    def readline(self) -> str:
        if self.lines:
            line, gate = self.lines.pop(0)
            gate.wait(10)
            return line
        self.done.wait(10)
        return ""

    def isatty(self) -> bool:
        return False


def test_an_administrator_deletes_a_default_room_message_from_the_terminal():
    """The terminal's /delete NAME, where plain lines go to the default room: NAME's last
    message shown there, deleted by an administrator (it said "/join #ROOM first" before)."""
    import io
    import threading
    import time

    from client.terminal import TerminalUI

    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        log_in(server, "Teacher", password=PASSWORD, register=True).close()
        make_admin(server, "Teacher")
        with log_in(server, "Vic") as vic, log_in(server, "Mia") as mia:
            seen, done, out = threading.Event(), threading.Event(), io.StringIO()
            ui = TerminalUI("Teacher", server.host, server.port, timeout=10, password=PASSWORD,
                            stdin=_GatedInput([("/delete Vic\n", seen)], done), stdout=out, stderr=out,
                            interactive=False)
            runner = threading.Thread(target=ui.run, daemon=True)
            runner.start()
            try:
                deadline = time.monotonic() + 10
                while "* connected" not in out.getvalue():  # the teacher is online
                    assert time.monotonic() < deadline, out.getvalue()
                    time.sleep(0.02)
                rude = say(vic, "m1", "something offensive", vic, mia)
                while "Vic: something offensive" not in out.getvalue():
                    assert time.monotonic() < deadline, out.getvalue()
                    time.sleep(0.02)
                seen.set()
                deleted = mia.expect(RoomDeleted, skip=QUIET)
                assert (deleted.msg_id, deleted.sender, deleted.by) == (rude, "Vic", "Teacher")
                while f"* message {rude} deleted" not in out.getvalue():
                    assert time.monotonic() < deadline, out.getvalue()
                    time.sleep(0.02)
            finally:
                done.set()
                runner.join(10)
