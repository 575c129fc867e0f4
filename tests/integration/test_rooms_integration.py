"""Rooms on a real server (127.0.0.1, port 0) with real clients speaking protocol version 2."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import const
from protocol import (
    EDITS, Accepted, Appoint, Ban, Block, Delete, DirectMessage, Done, ErrorCode, Goodbye, Hello, HistoryPage,
    HistoryRequest, Invite, JoinRoom, Kick, LeaveRoom, MemberEntry, MemberList, MembersRequest, Mute, RoomInfo,
    RoomList, RoomMessage, RoomNotice, RoomPost, RoomsRequest, SendDirect, SendRoom, SendToRoom, SetRoomMode, Unban,
    UserJoined, UserLeft, Welcome,
)
from wire import WireClient

PRESENCE = (UserJoined, UserLeft)


def login(server, name: str, version: int = 2, password: str | None = None) -> WireClient:
    """Log in as ``name`` at protocol ``version``: a guest, or with ``password`` an account
    (registered if new)."""
    client = WireClient(server.host, server.port)
    client.send(Hello("hello", name, version, password, password is not None))
    welcome = client.expect(Welcome)
    assert welcome.version == version
    return client


def no_room_frames(*clients: WireClient) -> None:
    for client in clients:
        got = [e for e in client.drain(quiet=0.3) if type(e) in (RoomPost, RoomNotice)]
        assert got == [], got


def test_a_room_reaches_its_members_only_and_its_owner_moderates_it(server, caplog):
    caplog.set_level(logging.INFO, logger="chat.rooms")
    with login(server, "Olga") as olga, login(server, "Mia") as mia, login(server, "Otto") as otto, \
            login(server, "Vic", version=1) as vic:
        olga.send(JoinRoom("j1", "#redes", create=True))
        assert olga.expect(RoomInfo, skip=PRESENCE) == RoomInfo("j1", "#redes", 1, False, "", "Olga", True)
        mia.send(JoinRoom("j2", "#REDES"))
        assert mia.expect(RoomInfo, skip=PRESENCE).room_name == "#redes"
        joined = olga.expect(RoomNotice, skip=PRESENCE)
        assert (joined.room_name, joined.act, joined.name) == ("#redes", "joined", "Mia")

        # A room message: accepted, to both members, to nobody else; a resend is not shown twice.
        mia.send(SendToRoom("m1", "#redes", "olá, turma"))
        msg_id = mia.expect(Accepted, skip=PRESENCE + (RoomNotice,)).msg_id
        for member in (olga, mia):
            post = member.expect(RoomPost, skip=PRESENCE + (RoomNotice,))
            assert post == RoomPost(msg_id, "Mia", "#redes", "olá, turma", post.sent_at)
        mia.send(SendToRoom("m1", "#redes", "olá, turma"))
        assert mia.expect(Accepted, skip=PRESENCE).msg_id == msg_id
        no_room_frames(olga, mia, otto, vic)

        # Someone outside cannot write there; a plain member cannot moderate.
        otto.send(SendToRoom("m2", "#redes", "hi"))
        otto.expect_error(ErrorCode.NOT_MEMBER, skip=PRESENCE)
        mia.send(Kick("k1", "#redes", "Olga"))
        mia.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE)
        mia.send(Ban("b1", "#redes", "Otto"))
        mia.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE)

        # The owner kicks: the member hears it and is out; then bans: the member cannot come back.
        olga.send(Kick("k2", "#redes", "Mia", "fora do tema"))
        assert olga.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "k2"
        kicked = mia.expect(RoomNotice, skip=PRESENCE)
        assert (kicked.act, kicked.name, kicked.by, kicked.reason) == ("kick", "Mia", "Olga", "fora do tema")
        mia.send(SendToRoom("m3", "#redes", "still here?"))
        mia.expect_error(ErrorCode.NOT_MEMBER, skip=PRESENCE)
        mia.send(JoinRoom("j3", "#redes"))
        mia.expect(RoomInfo, skip=PRESENCE + (RoomNotice,))
        olga.drain(quiet=0.2)
        olga.send(Ban("b2", "#redes", "Mia", "spam"))
        assert olga.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "b2"
        notices = [mia.expect(RoomNotice, skip=PRESENCE) for _ in range(2)]  # her own join, then the ban
        assert [(n.act, n.name, n.reason) for n in notices] == [("joined", "Mia", None), ("ban", "Mia", "spam")]
        mia.send(JoinRoom("j4", "#redes"))
        assert "spam" in mia.expect_error(ErrorCode.BANNED, skip=PRESENCE).message
        # Each moderation act is in the server's log, one line each.
        lines = [r.getMessage() for r in caplog.records if r.name == "chat.rooms"]
        assert lines == ["Olga created the room #redes", "Olga kicked Mia in #redes (fora do tema)",
                         "Olga banned Mia in #redes (spam)", "Mia is a guest: #redes bans the address 127.0.0.1 too"]

        # Lists: the room with its count; its members with their roles.
        otto.send(RoomsRequest("r1"))
        rooms = otto.expect(RoomList, skip=PRESENCE)
        assert [(r.room_name, r.count) for r in rooms.rooms] == [(const.DEFAULT_ROOM, 4), ("#redes", 1)]
        otto.send(MembersRequest("s1", "#redes"))
        assert otto.expect(MemberList, skip=PRESENCE) == MemberList("s1", "#redes", (MemberEntry("Olga", "owner", True),))


def test_a_version_1_client_sees_nothing_new(server):
    with login(server, "Olga") as olga, login(server, "Vic", version=1) as vic:
        vic.send_raw(b'{"type":"join","id":"j1","room":"#redes"}\n')
        vic.expect_error(ErrorCode.UNKNOWN_TYPE, skip=PRESENCE)
        vic.send_raw(b'{"type":"send","id":"m1","room":"#redes","text":"hi"}\n')
        vic.expect_error(ErrorCode.UNKNOWN_TYPE, skip=PRESENCE)
        # The default room works as before for both, and a version 2 client hears it too.
        vic.send(SendRoom("s1", "hello everyone"))
        vic.expect(Accepted, skip=PRESENCE)
        for client in (vic, olga):
            assert client.expect(RoomMessage, skip=PRESENCE).text == "hello everyone"
        olga.send(JoinRoom("j2", "#redes"))
        olga.expect(RoomInfo, skip=PRESENCE)
        no_room_frames(vic)


def test_an_administrator_mutes_in_the_default_room_and_say_is_refused_with_why(monkeypatch, tmp_path):
    """Administrators (accounts named in const.ADMINS: registered before the server started)
    moderate the default room; a muted user's say is refused with muted, even from a
    version 1 client."""
    from server import ServerConfig, ServerThread
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as server:
        login(server, "Teacher", password="correct horse").close()
    monkeypatch.setattr(const, "ADMINS", ("Teacher",))  # read when the server starts
    with ServerThread(config) as server:
        with WireClient(server.host, server.port) as teacher, login(server, "Vic", version=1) as vic:
            teacher.send(Hello("hello", "Teacher", 2, "correct horse"))
            teacher.expect(Welcome)
            teacher.send(Mute("u1", const.DEFAULT_ROOM, "Vic", "flood", 600))
            assert teacher.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "u1"
            vic.send(SendRoom("s1", "hello?"))
            refused = vic.expect_error(ErrorCode.MUTED, skip=PRESENCE)
            assert "muted in #lobby" in refused.message
            with login(server, "Mia") as mia:  # a plain user cannot mute there
                mia.send(Mute("u2", const.DEFAULT_ROOM, "Vic"))
                mia.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE)


def test_an_admin_named_in_const_without_an_account_is_nobody_and_the_log_says_so(monkeypatch, caplog):
    """A name in const.ADMINS that is no account when the server starts administers
    nothing, or whoever registered it first would: the log warns once, saying what to do."""
    from server import ServerConfig, ServerThread
    monkeypatch.setattr(const, "ADMINS", ("Teacher",))  # read when the server starts
    caplog.set_level(logging.WARNING, logger="chat.rooms")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with login(server, "Teacher", password="correct horse") as student, login(server, "Vic") as vic:
            student.send(Mute("u1", const.DEFAULT_ROOM, "Vic", "flood", 600))
            student.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE)
            assert server.call(server.server.relay.room_desk.admin_names) == []
            no_room_frames(vic)
    warnings = [r.getMessage() for r in caplog.records if "ADMINS" in r.getMessage()]
    assert warnings == ["ADMINS in const.py names 'Teacher', which is no account here: not an administrator (else "
                        "whoever registered the name would be one); register it, then restart the server or type "
                        "/admin Teacher at its console"], warnings


def test_an_admin_named_in_the_settings_file_is_said_to_come_from_that_file(monkeypatch, caplog):
    """README tells an operator to put ADMINS in const_local.py: the warning names that
    file, where the operator looks, not const.py, which they did not touch."""
    import overrides
    from server import ServerConfig, ServerThread
    settings = Path("/etc/chat/const_local.py")
    monkeypatch.setattr(const, "ADMINS", ("Teacher",))
    monkeypatch.setattr(const, "LOCAL_SETTINGS", overrides.Applied(settings, ("ADMINS",)))
    caplog.set_level(logging.WARNING, logger="chat.rooms")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)):
        pass
    warnings = [r.getMessage() for r in caplog.records if "ADMINS" in r.getMessage()]
    assert [w.split(" names ")[0] for w in warnings] == [f"ADMINS in {settings}"], warnings


def test_rooms_and_bans_survive_a_restart_of_the_server(tmp_path):
    from server import ServerThread
    from test_durability import config
    with ServerThread(config(tmp_path / "data")) as server:
        with login(server, "Olga") as olga, login(server, "troll") as troll:
            olga.send(JoinRoom("j1", "#redes", create=True))
            olga.expect(RoomInfo, skip=PRESENCE)
            troll.send(JoinRoom("j2", "#redes"))
            troll.expect(RoomInfo, skip=PRESENCE)
            olga.send(Ban("b1", "#redes", "troll", "spam"))
            assert olga.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "b1"
    with ServerThread(config(tmp_path / "data")) as server:
        # An account from the banned guest's address is judged by its account (every
        # client here comes from 127.0.0.1).
        with login(server, "troll2") as troll2, login(server, "Mia", password="correct horse") as mia:
            troll2.send(JoinRoom("j3", "#redes"))  # another guest name, the same address
            troll2.expect_error(ErrorCode.BANNED, skip=PRESENCE)
            mia.send(JoinRoom("j4", "#redes"))
            assert mia.expect(RoomInfo, skip=PRESENCE) == RoomInfo("j4", "#redes", 2, False, "", "Olga", False)


def test_a_change_the_store_cannot_keep_is_answered_unavailable_and_undone(server):
    from server.store import StoreUnavailable

    def failing(loop):
        def save_room(key, record, callback=None, on_error=None):
            loop.call_soon(on_error, StoreUnavailable("disk full", storage=True))
        return save_room

    store = server.server.store
    with login(server, "Olga") as olga, login(server, "Mia") as mia:
        olga.send(JoinRoom("j1", "#redes", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        mia.send(JoinRoom("j2", "#redes"))
        mia.expect(RoomInfo, skip=PRESENCE)
        for client in (olga, mia):
            assert client.expect(RoomNotice, skip=PRESENCE).act == "joined"
        server.call(lambda: setattr(store, "save_room", failing(server._loop)))
        try:
            olga.send(Ban("b1", "#redes", "Mia", "spam"))
            olga.expect_error(ErrorCode.UNAVAILABLE, skip=PRESENCE)
            no_room_frames(mia, olga)  # nothing announced: nothing happened
        finally:
            server.call(lambda: delattr(store, "save_room"))  # the class's own again
        mia.send(SendToRoom("m1", "#redes", "still in"))
        mia.expect(Accepted, skip=PRESENCE)
        olga.send(MembersRequest("s1", "#redes"))
        assert [m.name for m in olga.expect(MemberList, skip=PRESENCE + (RoomPost,)).members] == ["Mia", "Olga"]


def test_a_rooms_history_is_paged_by_cursor_for_its_members_only(server):
    """Issue 13: ``history`` with a room's name pages the room's messages, newest first
    page, for its members; an outsider is told ``not_member``."""
    with login(server, "Olga") as olga, login(server, "Mia") as mia, login(server, "Otto") as otto:
        olga.send(JoinRoom("j1", "#redes", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        mia.send(JoinRoom("j2", "#redes"))
        mia.expect(RoomInfo, skip=PRESENCE)
        ids = []
        for number in range(5):
            olga.send(SendToRoom(f"m{number}", "#redes", f"post {number}"))
            ids.append(olga.expect(Accepted, skip=PRESENCE + (RoomNotice, RoomPost)).msg_id)
        olga.send(SendDirect("d1", "Mia", "a direct message is no room's"))
        olga.expect(Accepted, skip=PRESENCE + (RoomNotice, RoomPost))

        mia.send(HistoryRequest("h1", "#REDES", limit=3))
        page = mia.expect(HistoryPage, skip=PRESENCE + (RoomNotice, RoomPost, DirectMessage))
        assert page.peer == "#redes"
        assert [(e.msg_id, e.sender, e.to, e.text, e.state) for e in page.messages] == [
            (ids[n], "Olga", "#redes", f"post {n}", "accepted") for n in (2, 3, 4)]
        assert page.before == ids[2]
        mia.send(HistoryRequest("h2", "#redes", limit=3, before=page.before))
        older = mia.expect(HistoryPage, skip=PRESENCE + (RoomNotice, RoomPost, DirectMessage))
        assert [e.text for e in older.messages] == ["post 0", "post 1"] and older.before is None

        otto.send(HistoryRequest("h3", "#redes"))
        otto.expect_error(ErrorCode.NOT_MEMBER, skip=PRESENCE)
        otto.send(HistoryRequest("h4", "#nowhere"))
        otto.expect_error(ErrorCode.NO_SUCH_ROOM, skip=PRESENCE)
        otto.send(HistoryRequest("h5", const.DEFAULT_ROOM))
        otto.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE)


def test_a_version_1_history_with_a_rooms_name_shows_none_of_its_posts(server):
    """The bug: a version 1 ``history`` ``with`` ``#redes`` answered the user's own posts
    to that room (they were filed as a conversation with the room). Version 1 has no
    rooms: its page is empty."""
    with login(server, "Ana", password="correct horse battery") as ana, \
            login(server, "Ana", version=1, password="correct horse battery") as old:
        ana.send(JoinRoom("j1", "#redes", create=True))
        ana.expect(RoomInfo, skip=PRESENCE)
        ana.send(SendToRoom("m1", "#redes", "mine"))
        ana.expect(Accepted, skip=PRESENCE + (RoomPost,))
        old.send(HistoryRequest("h1", "#redes"))
        assert old.expect(HistoryPage, skip=PRESENCE).messages == ()


def mute_for_a_second(olga: WireClient, vic: WireClient) -> None:
    """Olga makes #redes, Vic joins, Olga mutes him for 1 s."""
    olga.send(JoinRoom("j1", "#redes", create=True))
    olga.expect(RoomInfo, skip=PRESENCE)
    vic.send(JoinRoom("j2", "#redes"))
    vic.expect(RoomInfo, skip=PRESENCE)
    olga.send(Mute("u1", "#redes", "Vic", "flood", 1))
    olga.expect(Done, skip=PRESENCE + (RoomNotice,))


def test_the_end_of_a_mute_is_announced_on_time_not_at_the_next_expiry_pass(server):
    """Issue 13: a mute of 1 s ends, announced, about 1 s later (the room desk's timer),
    although the relay's periodic pass runs only every 30 s (``expiry_interval``)."""
    assert server.server.config.expiry_interval >= 30
    with login(server, "Olga") as olga, login(server, "Vic") as vic:
        mute_for_a_second(olga, vic)
        started = time.monotonic()
        notices = []
        while not notices or notices[-1].act != "unmute":
            notices.append(vic.expect(RoomNotice, timeout=5.0, skip=PRESENCE))
        assert (notices[-1].name, notices[-1].by, notices[-1].reason) == ("Vic", None, "the mute ended")
        assert time.monotonic() - started < 3.0
        vic.send(SendToRoom("m1", "#redes", "back"))
        vic.expect(Accepted, skip=PRESENCE + (RoomNotice, RoomPost))


def test_a_member_who_was_offline_gets_what_they_missed_once_in_order(server, monkeypatch):
    """Issue 13: at their next login a member gets the messages of their rooms posted while
    they were away (the newest const.ROOM_BACKLOG_LIMIT per room), oldest first, then the
    new ones live; each once: the login after that brings nothing again."""
    monkeypatch.setattr(const, "ROOM_BACKLOG_LIMIT", 3)
    password = "correct horse battery"
    with login(server, "Olga") as olga:
        olga.send(JoinRoom("j1", "#redes", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        olga.send(JoinRoom("j2", "#lab", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        with login(server, "Mia", password=password) as mia:
            for number, room in enumerate(["#redes", "#lab"]):
                mia.send(JoinRoom(f"j{number}", room))
                mia.expect(RoomInfo, skip=PRESENCE + (RoomNotice,))
            olga.send(SendToRoom("seen", "#redes", "seen live"))
            assert mia.expect(RoomPost, skip=PRESENCE + (RoomNotice,)).text == "seen live"
        olga.drain(quiet=0.3)
        posted = []
        for number, room in enumerate(["#redes", "#lab", "#redes", "#redes", "#redes", "#lab"]):
            olga.send(SendToRoom(f"m{number}", room, f"missed {number}"))
            posted.append((olga.expect(Accepted, skip=PRESENCE + (RoomNotice, RoomPost)).msg_id, room,
                           f"missed {number}"))

        with login(server, "Mia", password=password) as mia:
            got = [mia.expect(RoomPost, skip=PRESENCE + (RoomNotice,)) for _ in range(5)]
            # #redes: the newest 3 of its 4 missed; #lab: both; all in one order, by id.
            assert [(p.msg_id, p.room_name, p.text) for p in got] == [posted[n] for n in (1, 2, 3, 4, 5)]
            olga.send(SendToRoom("live", "#lab", "live again"))
            assert mia.expect(RoomPost, skip=PRESENCE + (RoomNotice,)).text == "live again"
            assert [e for e in mia.drain(quiet=0.3) if type(e) is RoomPost] == []

        with login(server, "Mia", password=password) as mia:
            assert [e for e in mia.drain(quiet=0.5) if type(e) is RoomPost] == []


def test_members_hear_who_comes_online_and_goes_offline_in_small_rooms_only():
    """Issue 13: a room's member list follows presence: its members online are told when
    another member comes online or goes offline (``room_notice`` ``online``/``offline``),
    and ``members`` says who is online; a room above the presence limit is quiet."""
    from server import ServerConfig, ServerThread
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, presence_room_limit=2)) as server:
        password = "correct horse battery"
        with login(server, "Olga") as olga, login(server, "Otto") as otto:
            with login(server, "Mia", password=password) as mia:
                for client, room in ((olga, "#small"), (mia, "#small"), (olga, "#big"), (otto, "#big"),
                                     (mia, "#big")):
                    client.send(JoinRoom("j", room))
                    client.expect(RoomInfo, skip=PRESENCE + (RoomNotice,))
                olga.drain(quiet=0.3)
                otto.drain(quiet=0.3)
                mia.send(Goodbye())
                mia.wait_closed()
            offline = olga.expect(RoomNotice, skip=PRESENCE)
            assert (offline.room_name, offline.act, offline.name, offline.by) == ("#small", "offline", "Mia", None)
            olga.send(MembersRequest("s1", "#small"))
            assert olga.expect(MemberList, skip=PRESENCE).members == (
                MemberEntry("Mia", "member", False), MemberEntry("Olga", "owner", True))
            with login(server, "Mia", password=password):
                online = olga.expect(RoomNotice, skip=PRESENCE)
                assert (online.room_name, online.act, online.name) == ("#small", "online", "Mia")
                olga.send(MembersRequest("s2", "#small"))
                assert MemberEntry("Mia", "member", True) in olga.expect(MemberList, skip=PRESENCE).members
            # #big has 3 members, above the limit of 2: quiet.
            assert [e for e in otto.drain(quiet=0.5) if type(e) is RoomNotice] == []
            assert [e for e in olga.drain(quiet=0.3) if type(e) is RoomNotice and e.room_name == "#big"] == []


def test_the_owner_hands_the_room_on_and_the_new_owner_opens_it(server):
    """Issue 13: ``appoint`` with role owner transfers ownership; ``mode`` makes a room
    invite-only after its creation, and public again."""
    with login(server, "Olga") as olga, login(server, "Mia") as mia, login(server, "Otto") as otto:
        olga.send(JoinRoom("j1", "#lab", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        mia.send(JoinRoom("j2", "#lab"))
        mia.expect(RoomInfo, skip=PRESENCE)
        for client in (olga, mia):
            client.drain(quiet=0.2)  # the join notices
        olga.send(SetRoomMode("o1", "#lab", True))
        assert olga.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "o1"
        mode = mia.expect(RoomNotice, skip=PRESENCE)
        assert (mode.act, mode.name, mode.by) == ("invite_only", "Olga", "Olga")
        otto.send(JoinRoom("j3", "#lab"))
        otto.expect_error(ErrorCode.INVITE_ONLY, skip=PRESENCE)
        mia.send(SetRoomMode("o2", "#lab", False))
        mia.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE)

        olga.send(Appoint("a1", "#lab", "Mia", "owner"))
        assert olga.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "a1"
        owner = mia.expect(RoomNotice, skip=PRESENCE)
        assert (owner.act, owner.name, owner.by) == ("owner", "Mia", "Olga")
        mia.send(SetRoomMode("o3", "#lab", False))
        assert mia.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "o3"
        otto.send(JoinRoom("j4", "#lab"))
        assert otto.expect(RoomInfo, skip=PRESENCE).owner == "Mia"
        otto.send(MembersRequest("s1", "#lab"))
        assert [(m.name, m.role) for m in otto.expect(MemberList, skip=PRESENCE + (RoomNotice,)).members] == [
            ("Mia", "owner"), ("Olga", "moderator"), ("Otto", "member")]


def test_a_room_named_without_its_hash_is_refused_with_the_room_it_meant(server):
    """``"room":"redes"`` is no room (names are exact), but the error names ``#redes``."""
    with login(server, "Olga") as olga:
        olga.send(JoinRoom("j1", "#redes", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        olga.send(MembersRequest("m1", "redes"))
        error = olga.expect_error(ErrorCode.NO_SUCH_ROOM, skip=PRESENCE)
        assert (error.request_id, error.like) == ("m1", "#redes")
        assert error.message == "there is no room redes; did you mean #redes?"
        olga.send(MembersRequest("m2", "nowhere"))
        error = olga.expect_error(ErrorCode.NO_SUCH_ROOM, skip=PRESENCE)
        assert (error.request_id, error.like) == ("m2", None)


def test_a_step_of_the_servers_wall_clock_moves_a_timed_mutes_end(server):
    """A mute lasts its length whatever the wall clock does: the room desk watches it
    against the monotonic clock at each expiry and moves a timed mute's end by a step it
    sees (server/clocksteps.py). Here only the desk's reading steps (an hour on), so the
    mute of 1 s, moved with it, goes on for an hour in the server's other time."""
    desk = server.server.relay.room_desk
    with login(server, "Olga") as olga, login(server, "Vic") as vic:
        mute_for_a_second(olga, vic)
        server.call(lambda: desk.expire(time.time()))  # the desk's first look at its clocks
        server.call(lambda: setattr(desk, "wall", lambda: time.time() + 3600.0))
        acts = [n.act for n in vic.drain(quiet=2.0) if type(n) is RoomNotice]
        assert "mute" in acts and "unmute" not in acts, acts  # not ended at 1 s
        vic.send(SendToRoom("m1", "#redes", "back"))
        refusal = vic.expect_error(ErrorCode.MUTED, skip=PRESENCE + (RoomNotice,))
        assert 3500 < refusal.retry_after <= 3600, refusal


def test_a_room_made_again_under_an_ended_rooms_name_shows_none_of_its_posts(server):
    """Ana's invite-only #segredo ended when its last member left; Mallory made a room of
    that name. Its posts are stored under the name, but they are the ended room's: Mallory
    gets none of them, in its history nor as what a hello's room_seen asks again, and may
    not delete them as the new room's owner. Before, each of the three gave her Ana's post
    or deleted it (the s65 audit)."""
    skip = PRESENCE + (RoomNotice,)
    ana, bia = login(server, "Ana"), login(server, "Bia")
    ana.send(JoinRoom("j", "#segredo", create=True, invite_only=True))
    assert ana.expect(RoomInfo, skip=skip).created
    ana.send(Invite("i", "#segredo", "Bia"))
    ana.expect(Done, skip=skip)
    bia.send(JoinRoom("j", "#segredo"))
    bia.expect(RoomInfo, skip=skip)
    ana.send(SendToRoom("s", "#segredo", "a nota da prova é 3"))
    post = ana.expect(Accepted, skip=skip)
    for member in (ana, bia):
        member.send(LeaveRoom("l", "#segredo"))
        member.expect(Done, skip=skip + (RoomPost,))
    mallory = login(server, "Mallory", password="mallory's")
    mallory.send(JoinRoom("j", "#segredo", create=True))
    assert mallory.expect(RoomInfo, skip=skip).created
    mallory.send(HistoryRequest("h", "#segredo"))
    page = mallory.expect(HistoryPage, skip=skip)
    assert (page.messages, page.before) == ((), None)
    mallory.close()
    again = WireClient(server.host, server.port)
    again.send(Hello("hello", "Mallory", 2, "mallory's", features=(EDITS,), room_seen=0))  # "I have shown none"
    again.expect(Welcome)
    again.send(SendToRoom("s2", "#segredo", "minha sala"))
    answer = again.expect((Accepted, RoomPost), skip=skip)  # nothing of the ended room's before it
    assert isinstance(answer, Accepted) and answer.request_id == "s2", answer
    again.send(Delete("d", post.msg_id))
    assert again.expect_error(ErrorCode.FORBIDDEN, skip=skip + (RoomPost,)).request_id == "d"


def test_a_server_of_accounts_only_refuses_to_invite_a_name_with_no_account():
    """Inviting a name nobody has was accepted, and the invitation kept for whoever
    registered the name first (a mistyped name, a stranger). On a server that admits only
    accounts it is unknown_recipient, saying why; an account, offline, is invited."""
    from server import ServerConfig, ServerThread
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, require_accounts=True)) as server:
        login(server, "Mia", password="correct horse").close()
        with login(server, "Olga", password="correct horse") as olga:
            olga.send(JoinRoom("j1", "#secret", invite_only=True))
            olga.expect(RoomInfo, skip=PRESENCE)
            olga.send(Invite("i1", "#secret", "Mya"))
            refused = olga.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=PRESENCE)
            assert refused.request_id == "i1"
            assert refused.message == ("Mya has no account here, and only accounts log in on this server: "
                                       "check the name, or invite them once they have registered")
            olga.send(Invite("i2", "#secret", "Mia"))
            assert olga.expect(Done, skip=PRESENCE + (RoomNotice,)).request_id == "i2"
        with login(server, "Mya", password="correct horse") as mya:  # registered now: nothing was kept for it
            mya.send(JoinRoom("j2", "#secret"))
            mya.expect_error(ErrorCode.INVITE_ONLY, skip=PRESENCE)


def test_someone_outside_a_room_is_not_sent_its_notices_at_a_moderators_request_rate(server):
    # Seen fuzzing: every invite (of someone invited already), every ban again (with a new
    # reason) and every mute again of someone outside the room reached them, one notice per
    # request: 30 a second from one moderator, and their block did not stop it.
    with login(server, "Olga") as olga, login(server, "Otto") as otto, login(server, "Mia") as mia:
        olga.send(JoinRoom("j1", "#lab", create=True, invite_only=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        mia.send(Invite("i0", "#lab", "Mia"))  # (Mia is outside too: she joins once invited)
        mia.expect_error(ErrorCode.NOT_MEMBER, skip=PRESENCE)
        olga.send(Invite("i1", "#lab", "Mia"))
        olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        mia.send(JoinRoom("j2", "#lab"))
        mia.expect(RoomInfo, skip=PRESENCE + (RoomNotice,))
        for n in range(5):
            olga.send(Invite(f"inv{n}", "#lab", "Otto"))
            olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        for n in range(5):
            olga.send(Ban(f"ban{n}", "#lab", "Otto", reason=f"spam {n}"))
            olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        olga.send(Mute("m1", "#lab", "Otto", seconds=60))
        olga.send(Mute("m2", "#lab", "Otto", seconds=60))
        olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        told = [(e.act, e.reason) for e in otto.drain(quiet=0.5) if type(e) is RoomNotice]
        assert told == [("invite", None), ("ban", "spam 0"), ("mute", None)]
        # The members are told each change of the room's record, the new reasons too.
        heard = [(e.act, e.reason) for e in mia.drain(quiet=0.3) if type(e) is RoomNotice and e.name == "Otto"]
        assert heard == [("invite", None)] + [("ban", f"spam {n}") for n in range(5)] + [("mute", None)] * 2


def test_a_room_notice_about_you_from_someone_you_block_does_not_reach_you_outside_the_room(server):
    # What stays of the flood above: a moderator banning and unbanning (or muting and
    # unmuting) someone outside the room changes their standing each time, so each is
    # told. As with messages, blocking the moderator stops it: notices by them about you,
    # from a room you are not in, are not delivered to you (the members still get them).
    with login(server, "Olga") as olga, login(server, "Otto") as otto, login(server, "Mia") as mia:
        olga.send(JoinRoom("j1", "#lab", create=True))
        olga.expect(RoomInfo, skip=PRESENCE)
        mia.send(JoinRoom("j2", "#lab"))
        mia.expect(RoomInfo, skip=PRESENCE)
        otto.send(Block("b1", "Olga"))
        otto.expect(Done, skip=PRESENCE)
        for n in range(3):
            olga.send(Ban(f"ban{n}", "#lab", "Otto"))
            olga.send(Unban(f"unban{n}", "#lab", "Otto"))
        olga.send(Invite("i1", "#lab", "Otto"))
        for _ in range(7):
            olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        assert [e for e in otto.drain(quiet=0.5) if type(e) is RoomNotice] == []
        heard = [e.act for e in mia.drain(quiet=0.3) if type(e) is RoomNotice and e.name == "Otto"]
        assert heard == ["ban", "unban"] * 3 + ["invite"]
        # Someone Otto does not block is heard as before.
        mia.send(Ban("ban9", "#lab", "Otto"))
        mia.expect_error(ErrorCode.FORBIDDEN, skip=PRESENCE + (RoomNotice,))  # (a member may not)
        olga.send(Appoint("a1", "#lab", "Mia", "moderator"))
        olga.expect(Done, skip=PRESENCE + (RoomNotice,))
        mia.send(Ban("ban10", "#lab", "Otto"))
        mia.expect(Done, skip=PRESENCE + (RoomNotice,))
        assert [(e.act, e.by) for e in otto.drain(quiet=0.5) if type(e) is RoomNotice] == [("ban", "Mia")]
