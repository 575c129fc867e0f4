"""Edit, delete and typing in rooms; moderators and administrators delete others' messages
(issue 13). Real servers on 127.0.0.1 port 0 over each store (memory, SQLite, Redis) where
the store matters; wire clients at protocol version 2 send exactly the frames each test
wants. Every wait is bounded.
"""

from __future__ import annotations

import logging

import pytest

from protocol import (
    EDITS, READ, TYPING, Accepted, Delete, Deleted, Delivered, DirectMessage, Done, Edit, ErrorCode, Hello, HistoryPage,
    HistoryRequest, JoinRoom, Appoint, Ping, Pong, Receipt, RoomDeleted, RoomEdited, RoomInfo, RoomNotice, RoomPost, RoomTyping,
    SendDirect, SendToRoom, Settings, UserJoined, UserLeft, Welcome,
)
from server import ServerConfig, ServerThread
from server.store import StoreUnavailable
from logins import make_admin
from wire import WireClient

ALL = (READ, TYPING, EDITS)
PASSWORD = "correct horse"
QUIET = (UserJoined, UserLeft, RoomNotice)


def log_in(server, name: str, features=ALL, version: int = 2, password: str | None = None,
           register: bool = False) -> WireClient:
    client = WireClient(server.host, server.port)
    client.send(Hello("h", name, version, password, register, None, features))
    client.welcome = client.expect(Welcome, skip=QUIET)
    return client


def join(client: WireClient, room: str = "#redes") -> None:
    client.send(JoinRoom("j-" + room, room))
    client.expect(RoomInfo, skip=QUIET + (RoomPost,))


def post(sender: WireClient, request_id: str, text: str, *members: WireClient, room: str = "#redes") -> int:
    """``sender`` posts ``text``; every one of ``members`` gets it; its msg_id."""
    sender.send(SendToRoom(request_id, room, text))
    msg_id = sender.expect(Accepted, skip=QUIET + (RoomPost, RoomTyping)).msg_id
    for member in members:
        got = member.expect(RoomPost, skip=QUIET + (RoomTyping, RoomEdited, RoomDeleted))
        assert (got.msg_id, got.text) == (msg_id, text)
    return msg_id


def none_of(client: WireClient, *kinds: type, quiet: float = 0.4) -> list:
    events = client.drain(quiet=quiet)
    assert not [e for e in events if isinstance(e, kinds)], events
    return events


@pytest.fixture(params=["memory", "sqlite", "redis"])
def config(request, tmp_path):
    if request.param == "redis":
        from redisserver import RedisServer
        with RedisServer(tmp_path / "redis") as redis:
            yield ServerConfig(host="127.0.0.1", port=0, cluster_url=redis.url)
        return
    if request.param == "sqlite":
        yield ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
        return
    yield ServerConfig(host="127.0.0.1", port=0)


# --- Edit and delete of one's own post ---------------------------------------------------------


def test_edit_and_delete_of_a_room_post_reach_the_members_online_and_history_shows_them(config):
    with ServerThread(config) as server, \
            log_in(server, "Ana", password=PASSWORD, register=True) as ana, \
            log_in(server, "Ana", password=PASSWORD) as ana2, log_in(server, "Mia") as mia, \
            log_in(server, "Old", features=None) as old, log_in(server, "Otto") as otto:
        for client in (ana, mia, old):
            join(client)
        first = post(ana, "m1", "the tset is on friday", ana, ana2, mia, old)
        second = post(ana, "m2", "a secret by mistake", ana, ana2, mia, old)

        ana.send(Edit("e1", first, "the test is on friday"))
        assert ana.expect(Done, skip=QUIET + (RoomPost,)).request_id == "e1"
        for member in (mia, ana2):  # the members, and the sender's other session
            edited = member.expect(RoomEdited, skip=QUIET)
            assert (edited.msg_id, edited.sender, edited.room_name, edited.text) == (
                first, "Ana", "#redes", "the test is on friday")
        ana.send(Delete("d1", second))
        assert ana.expect(Done, skip=QUIET).request_id == "d1"
        for member in (mia, ana2):
            deleted = member.expect(RoomDeleted, skip=QUIET)
            assert (deleted.msg_id, deleted.sender, deleted.room_name, deleted.by) == (second, "Ana", "#redes", None)
        # A resend is answered again and told again, as the change was (its first answer
        # may have been lost with the change made: see the test below); applied once.
        ana.send(Delete("d1", second))
        assert ana.expect(Done, skip=QUIET).request_id == "d1"
        for member in (mia, ana2):
            assert member.expect(RoomDeleted, skip=QUIET) == deleted
        none_of(mia, RoomEdited, RoomDeleted)
        # A session without the feature, and someone outside the room, see nothing of it.
        none_of(old, RoomEdited, RoomDeleted)
        none_of(otto, RoomEdited, RoomDeleted, RoomPost)

        mia.send(HistoryRequest("h1", "#redes"))
        page = mia.expect(HistoryPage, skip=QUIET)
        shown = {e.msg_id: (e.text, e.edited, e.deleted) for e in page.messages}
        assert shown == {first: ("the test is on friday", True, False), second: ("", False, True)}


@pytest.fixture(params=["memory", "sqlite"])
def single_config(request, tmp_path):
    """A single server's store. (A ``--cluster`` server sends no missed room messages at
    login yet: rooms across nodes are branch clusterrooms' work; the Redis store's part of
    this is held to the others' in test_rooms_store.py.)"""
    yield ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path if request.param == "sqlite" else None)


def test_edit_and_delete_reach_a_member_who_was_offline_once_at_their_next_login(single_config):
    config = single_config
    with ServerThread(config) as server:
        with log_in(server, "Ana", password=PASSWORD, register=True) as ana, \
                log_in(server, "Mia", password=PASSWORD, register=True) as mia:
            join(ana)
            join(mia)
            had = [post(ana, f"m{n}", f"had {n}", ana, mia) for n in range(3)]
        # Mia is gone (her logout is the offline notice Ana hears); then Ana changes things.
        with log_in(server, "Ana", password=PASSWORD) as ana:
            ana.drain(quiet=0.3)
            ana.send(Edit("e1", had[0], "had 0, fixed"))
            ana.expect(Done, skip=QUIET)
            ana.send(Delete("d1", had[1]))
            ana.expect(Done, skip=QUIET)
            missed = post(ana, "m3", "missed", ana)
            gone = post(ana, "m4", "missed and deleted", ana)
            ana.send(Edit("e2", missed, "missed, fixed"))
            ana.expect(Done, skip=QUIET)
            ana.send(Delete("d2", gone))
            ana.expect(Done, skip=QUIET)
            untouched = had[2]
        with log_in(server, "Mia", password=PASSWORD) as mia:
            told_kinds = (RoomPost, RoomEdited, RoomDeleted)

            def owed(events: list) -> bool:  # the four she is owed, fetched after her login
                return len([e for e in events if isinstance(e, told_kinds)]) >= 4
            events = [e for e in mia.drain(quiet=0.8, until=owed) if isinstance(e, told_kinds)]
            told = [(type(e).__name__, e.msg_id, getattr(e, "text", None)) for e in events]
            # The missed post comes with its latest text (and "edited"); the deleted one not at
            # all; the posts she had are told their changes; the untouched one nothing.
            assert sorted(told) == sorted([
                ("RoomPost", missed, "missed, fixed"), ("RoomEdited", missed, "missed, fixed"),
                ("RoomEdited", had[0], "had 0, fixed"), ("RoomDeleted", had[1], None)]), told
            assert untouched not in [e.msg_id for e in events]
        with log_in(server, "Mia", password=PASSWORD) as mia:  # once: not again at the login after
            none_of(mia, RoomPost, RoomEdited, RoomDeleted, quiet=0.8)


def test_a_change_written_to_a_member_who_never_read_it_is_told_at_their_next_login(single_config):
    # Mia's client stops reading (its connection died unnoticed, say); Ana edits and
    # deletes; what the server wrote to Mia's socket meanwhile is lost with it. Before, her
    # "last online" was when the server ended the session (after a silent drop, up to the
    # heartbeat's timeout later), so those changes were never told; now it is the last
    # frame the server had from her.
    with ServerThread(single_config) as server:
        with log_in(server, "Ana", password=PASSWORD, register=True) as ana, \
                log_in(server, "Mia", password=PASSWORD, register=True) as mia:
            join(ana)
            join(mia)
            edited, deleted = (post(ana, f"m{n}", f"had {n}", ana, mia) for n in range(2))
            ana.send(Edit("e1", edited, "had 0, fixed"))
            ana.expect(Done, skip=QUIET)
            ana.send(Delete("d1", deleted))
            ana.expect(Done, skip=QUIET)
            mia.close()  # the two changes unread in her socket
            ana.drain(quiet=0.3)  # (her leaving)
        with log_in(server, "Mia", password=PASSWORD) as mia:
            told_kinds = (RoomEdited, RoomDeleted)
            events = [e for e in mia.drain(quiet=0.8, until=lambda got: len(
                [e for e in got if isinstance(e, told_kinds)]) >= 2) if isinstance(e, told_kinds)]
            assert sorted((type(e).__name__, e.msg_id) for e in events) == [
                ("RoomDeleted", deleted), ("RoomEdited", edited)], events
            assert [e.text for e in events if isinstance(e, RoomEdited)] == ["had 0, fixed"]
            mia.send(Ping())  # read all: a frame after them
            mia.expect(Pong, skip=QUIET)
        with log_in(server, "Mia", password=PASSWORD) as mia:  # once read, not told again
            none_of(mia, RoomEdited, RoomDeleted, quiet=0.8)


def test_an_edit_whose_answer_was_lost_reaches_the_members_when_its_client_sends_it_again(config):
    """The store made Ana's edit but its answer was lost (``maybe_done``: in a cluster, her
    node cut off from Redis, or killed, right after sending it): she heard ``unavailable``
    and nobody was told. Her client sends the edit again; the store answers that the post
    already says so. Before, a resend was told to nobody, and the members kept the old text
    for good (the chaos run, cluster seed 943 with 20 clients: no member on any node had
    the edit, 80 s on). Now it is told as the change was. In a cluster the members are
    told before the resend too: the store put the change on the events stream in the step
    that stored it, and the node that never had the answer tells its sessions from there."""
    with ServerThread(config) as server, \
            log_in(server, "Ana", password=PASSWORD, register=True) as ana, \
            log_in(server, "Ana", password=PASSWORD) as ana2, log_in(server, "Mia") as mia:
        for client in (ana, mia):
            join(client)
        first = post(ana, "m1", "the tset is on friday", ana, ana2, mia)
        store = server.server.relay.store
        # (A cluster node asks its Redis store for the change with its stream entry.)
        asked_as = "change_message_announced" if config.cluster_url else "change_message"
        real, lost = getattr(store, asked_as), []

        def answer_lost(*args, **kwargs):
            *asked, _callback, on_error = args
            lost.append(asked[0])
            real(*asked, lambda _result: on_error(StoreUnavailable("no answer in time", maybe_done=True)), on_error,
                 **kwargs)

        server.call(setattr, store, asked_as, answer_lost)
        ana.send(Edit("e1", first, "the test is on friday"))
        assert ana.expect_error(ErrorCode.UNAVAILABLE, skip=QUIET).request_id == "e1"
        if config.cluster_url:  # every session, hers too: which one asked went with the answer
            for member in (mia, ana2, ana):
                assert member.expect(RoomEdited, skip=QUIET).text == "the test is on friday"
        else:
            none_of(mia, RoomEdited)
        server.call(delattr, store, asked_as)  # (the store's own again)
        ana.send(Edit("e1", first, "the test is on friday"))  # what her client does
        done = ana.expect(Done, skip=QUIET)
        for member in (mia, ana2):
            edited = member.expect(RoomEdited, skip=QUIET)
            assert (edited.msg_id, edited.text, edited.at) == (first, "the test is on friday", done.at)
        assert lost == [first]


# --- Changes a device missed (the hello's last_heard) ------------------------------------------


def back(server, name: str, room_seen: int, last_heard: int | None, *, until: int) -> tuple[WireClient, list]:
    """``name``'s device logs in again saying what it had (room_seen) and until when it
    heard (last_heard): the client and what came before the room post ``until`` (live
    after the welcome), that post included."""
    client = WireClient(server.host, server.port)
    client.send(Hello("h", name, 2, PASSWORD, False, None, ALL, room_seen, last_heard))
    client.expect(Welcome, skip=QUIET)
    events = [e for e in client.drain(quiet=0.3, until=lambda got: any(
        isinstance(e, RoomPost) and e.msg_id == until for e in got)) if isinstance(e, (RoomPost, RoomEdited, RoomDeleted))]
    return client, [(type(e).__name__, e.msg_id) for e in events]


def test_a_device_away_while_another_session_stayed_is_told_the_changes_it_missed(config):
    # Mia's phone was away (a tunnel) while her laptop stayed online; Ana edited and deleted
    # posts the phone had shown. Before, a session logging in beside another got the posts
    # above its room_seen and no change: the phone showed the old text and the deleted post
    # for good (the changes went to the laptop, and Mia's "last online" never moved).
    with ServerThread(config) as server:
        with log_in(server, "Ana", password=PASSWORD, register=True) as ana, \
                log_in(server, "Mia", password=PASSWORD, register=True) as laptop:
            join(ana)
            join(laptop)
            with log_in(server, "Mia", password=PASSWORD) as phone:
                fixed, gone, kept = (post(ana, f"m{n}", f"had {n}", ana, laptop, phone) for n in range(3))
                phone.send(Ping("last"))
                heard = phone.expect(Pong, skip=QUIET).now
            ana.send(Edit("e1", fixed, "had 0, fixed"))
            ana.expect(Done, skip=QUIET)
            ana.send(Delete("d1", gone))
            ana.expect(Done, skip=QUIET)
            later = post(ana, "m3", "while away", ana, laptop)
            phone, told = back(server, "Mia", kept, heard, until=later)
            with phone:
                assert told == [("RoomEdited", fixed), ("RoomDeleted", gone), ("RoomPost", later)], told
                ana.send(Edit("e2", kept, "had 2, fixed"))  # and live from now on, once
                ana.expect(Done, skip=QUIET)
                assert phone.expect(RoomEdited, skip=QUIET).msg_id == kept
                none_of(phone, RoomEdited, RoomDeleted, quiet=0.4)
            # An older client, which does not say when it heard, gets the posts only (as before).
            older, told = back(server, "Mia", kept, None, until=later)
            with older:
                assert told == [("RoomPost", later)], told


def test_a_device_that_left_before_the_users_last_session_is_told_from_its_own_mark(config):
    # The phone left first; an edit came while the laptop was online; then the laptop left.
    # Mia's "last online" is the laptop's: told from there, the phone's first login after
    # would never learn the edit.
    with ServerThread(config) as server:
        with log_in(server, "Ana", password=PASSWORD, register=True) as ana:
            join(ana)
            with log_in(server, "Mia", password=PASSWORD, register=True) as laptop:
                join(laptop)
                with log_in(server, "Mia", password=PASSWORD) as phone:
                    fixed, kept = (post(ana, f"m{n}", f"had {n}", ana, laptop, phone) for n in range(2))
                    phone.send(Ping("last"))
                    heard = phone.expect(Pong, skip=QUIET).now
                ana.send(Edit("e1", fixed, "had 0, fixed"))
                ana.expect(Done, skip=QUIET)
                laptop.expect(RoomEdited, skip=QUIET)
                laptop.send(Ping("last"))
                laptop.expect(Pong, skip=QUIET + (RoomEdited,))
            ana.drain(quiet=0.3)  # (Mia's leaving)
            later = post(ana, "m2", "after", ana)
            phone, told = back(server, "Mia", kept, heard, until=later)
            with phone:
                assert told == [("RoomEdited", fixed), ("RoomPost", later)], told


def test_a_deleted_room_posts_text_is_gone_from_the_sqlite_files(tmp_path):
    """Deleted by its sender, and by the room's owner (a moderation act)."""
    secret, other = "the exam answers are 42", "my password is hunter2"
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as server:
        with log_in(server, "Olga") as olga, log_in(server, "Ana") as ana:
            join(olga)
            join(ana)
            msg_id = post(ana, "m1", secret, olga, ana)
            mistake = post(ana, "m2", other, olga, ana)
            post(ana, "m3", "this one stays", olga, ana)
            ana.send(Delete("d1", msg_id))
            ana.expect(Done, skip=QUIET + (RoomPost,))
            olga.send(Delete("d2", mistake))
            olga.expect(Done, skip=QUIET + (RoomPost, RoomDeleted))
            files = [path for path in tmp_path.rglob("*") if path.is_file()]
            assert config.database in files, files
            data = b"".join(path.read_bytes() for path in files)
            assert b"this one stays" in data  # the reading finds text that was not deleted
            assert secret.encode() not in data and other.encode() not in data
    data = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert secret.encode() not in data and other.encode() not in data and b"this one stays" in data


# --- Deletes of others' messages: moderators, administrators, nobody else -----------------------


@pytest.fixture
def admin_server():
    """A server where each test makes Teacher an administrator at the console (make_admin)
    once registered: an administrator is an account."""
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        yield srv


def test_moderators_and_administrators_delete_any_post_of_a_room_and_nobody_else_may(admin_server, caplog):
    caplog.set_level(logging.INFO, logger="chat.rooms")
    server = admin_server
    with log_in(server, "Olga") as olga, log_in(server, "Moe") as moe, log_in(server, "Mia") as mia, \
            log_in(server, "Vic") as vic, log_in(server, "Otto") as otto, \
            log_in(server, "Teacher", password=PASSWORD, register=True) as teacher, \
            log_in(server, "Tea", password=PASSWORD, register=True) as guest_admin_name:
        make_admin(server, "Teacher")
        join(olga)
        for client in (moe, mia, vic):
            join(client)
        olga.send(Appoint("a1", "#redes", "Moe", "moderator"))
        olga.expect(Done, skip=QUIET)
        posts = [post(vic, f"m{n}", f"spam {n}", olga, moe, mia, vic) for n in range(4)]
        olga_post = post(olga, "o1", "owner's post", olga, moe, mia, vic)

        # Nobody without the right: a plain member, someone outside, another account.
        for who in (mia, otto, guest_admin_name):
            who.send(Delete("x", posts[0]))
            who.expect_error(ErrorCode.FORBIDDEN, skip=QUIET + (RoomPost,))
        mia.send(Edit("x2", posts[0], "rewritten"))  # nor edits it: only its sender edits
        mia.expect_error(ErrorCode.FORBIDDEN, skip=QUIET)
        moe.send(Edit("x3", posts[0], "rewritten"))  # a moderator deletes; does not rewrite
        moe.expect_error(ErrorCode.FORBIDDEN, skip=QUIET)

        # The moderator deletes Vic's post: everyone is told by whom, a notice says it.
        moe.send(Delete("d1", posts[0]))
        assert moe.expect(Done, skip=QUIET + (RoomDeleted,)).request_id == "d1"
        for member in (olga, mia, vic):  # announced as a moderation act, then the delete itself
            notice = member.expect(RoomNotice, skip=(UserJoined, UserLeft))
            assert (notice.act, notice.name, notice.by) == ("delete", "Vic", "Moe")
            deleted = member.expect(RoomDeleted, skip=QUIET)
            assert (deleted.msg_id, deleted.sender, deleted.by) == (posts[0], "Vic", "Moe")
        # The owner deletes (anyone's, the owner's own at any time too), and the administrator
        # (without even joining), and past the edit window: no window for them.
        olga.send(Delete("d2", posts[1]))
        olga.expect(Done, skip=QUIET + (RoomDeleted,))
        moe.send(Delete("d3", olga_post))
        moe.expect(Done, skip=QUIET + (RoomDeleted,))
        teacher.send(Delete("d4", posts[2]))
        teacher.expect(Done, skip=QUIET)
        got = [e for e in vic.drain(quiet=0.5) if isinstance(e, (RoomDeleted, RoomNotice))]
        assert [(type(e).__name__, e.msg_id if type(e) is RoomDeleted else e.act, e.by) for e in got
                if type(e) is RoomDeleted or e.act == "delete"] == [
            ("RoomNotice", "delete", "Olga"), ("RoomDeleted", posts[1], "Olga"),
            ("RoomNotice", "delete", "Moe"), ("RoomDeleted", olga_post, "Moe"),
            ("RoomNotice", "delete", "Teacher"), ("RoomDeleted", posts[2], "Teacher")]
        mia.send(HistoryRequest("h", "#redes"))
        page = mia.expect(HistoryPage, skip=QUIET + (RoomDeleted,))
        assert [e.msg_id for e in page.messages if e.deleted] == [posts[0], posts[1], posts[2], olga_post]
        assert [e.text for e in page.messages if not e.deleted] == ["spam 3"]
    lines = [r.getMessage() for r in caplog.records if "deleted message" in r.getMessage()]
    assert lines == [f"Moe deleted message {posts[0]} of Vic in #redes",
                     f"Olga deleted message {posts[1]} of Vic in #redes",
                     f"Moe deleted message {olga_post} of Olga in #redes",
                     f"Teacher deleted message {posts[2]} of Vic in #redes"], lines


def test_an_administrator_deletes_a_direct_message_and_both_ends_are_told(admin_server, caplog):
    caplog.set_level(logging.INFO, logger="chat.rooms")  # with the rooms' moderation acts
    server = admin_server
    with log_in(server, "Ana") as ana, log_in(server, "Bob") as bob, \
            log_in(server, "Teacher", password=PASSWORD, register=True) as teacher:
        make_admin(server, "Teacher")
        ana.send(SendDirect("m1", "Bob", "a rude message"))
        msg_id = ana.expect(Accepted, skip=QUIET).msg_id
        assert bob.expect(DirectMessage, skip=QUIET).msg_id == msg_id
        bob.send(Receipt(msg_id))
        bob.send(Delete("x", msg_id))  # the recipient may not
        bob.expect_error(ErrorCode.FORBIDDEN, skip=QUIET)
        teacher.send(Delete("d1", msg_id))
        assert teacher.expect(Done, skip=QUIET).request_id == "d1"
        for end in (ana, bob):
            deleted = end.expect(Deleted, skip=QUIET + (Delivered,))
            assert (deleted.msg_id, deleted.sender, deleted.to, deleted.by) == (msg_id, "Ana", "Bob", "Teacher")
        bob.send(HistoryRequest("h", "Ana"))
        page = bob.expect(HistoryPage, skip=QUIET)
        assert [(e.msg_id, e.text, e.deleted) for e in page.messages] == [(msg_id, "", True)]
    assert any(f"the administrator Teacher deleted message {msg_id} of Ana to Bob" in r.getMessage()
               for r in caplog.records)


# --- Typing in a room --------------------------------------------------------------------------


def test_typing_in_a_room_reaches_the_other_members_but_not_with_receipts_off_nor_old_clients(config):
    with ServerThread(config) as server, log_in(server, "Ana") as ana, \
            log_in(server, "Mia", password=PASSWORD, register=True) as mia, \
            log_in(server, "Off") as off, log_in(server, "Old", features=None) as old, \
            log_in(server, "Otto") as otto:
        for client in (ana, mia, off, old):
            join(client)
        off.send(Settings("s1", False))
        off.expect(Done, skip=QUIET)
        for client in (ana, mia, off, old, otto):
            client.drain(quiet=0.2)
        ana.send(RoomTyping("#REDES"))
        assert mia.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")
        none_of(off, RoomTyping)
        none_of(old, RoomTyping)
        none_of(otto, RoomTyping)
        none_of(ana, RoomTyping)  # not to oneself
        # Coalesced: a second within the interval is absorbed; a post lets the next through.
        ana.send(RoomTyping("#redes"))
        none_of(mia, RoomTyping, quiet=0.3)
        post(ana, "m1", "hello", mia)
        ana.send(RoomTyping("#redes"))
        assert mia.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")
        # Receipts off: refused; outside the room: not_member; no room: no_such_room.
        off.send(RoomTyping("#redes"))
        off.expect_error(ErrorCode.FORBIDDEN, skip=QUIET + (RoomPost,))
        otto.send(RoomTyping("#redes"))
        otto.expect_error(ErrorCode.NOT_MEMBER, skip=QUIET)
        otto.send(RoomTyping("#nada"))
        otto.expect_error(ErrorCode.NO_SUCH_ROOM, skip=QUIET)
        # Never stored: Mia, away when Ana typed, hears nothing of it when she comes back.
        mia.close()
        ana.expect(RoomNotice, skip=(UserJoined, UserLeft, RoomPost))  # Mia went offline
        post(ana, "m2", "while Mia was away", ana)
        ana.send(RoomTyping("#redes"))
        with log_in(server, "Mia", password=PASSWORD) as mia_again:
            none_of(mia_again, RoomTyping, quiet=0.5)


def test_typing_is_quiet_in_a_room_larger_than_the_limit():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, presence_room_limit=2)) as server, \
            log_in(server, "Ana") as ana, log_in(server, "Mia") as mia:
        join(ana)
        join(mia)
        ana.send(RoomTyping("#redes"))
        assert mia.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")
        with log_in(server, "Max") as max_:
            join(max_)  # three members: above the limit of 2
            mia.send(RoomTyping("#redes"))
            none_of(ana, RoomTyping)
            none_of(max_, RoomTyping)


def test_a_guest_moderator_deletes_a_post_older_than_their_login(server):
    """A guest's messages start at their login (their epoch: what came before is an
    earlier holder's), but a moderator's delete is of someone else's post anyway."""
    with log_in(server, "Mia") as mia, log_in(server, "Vic") as vic:
        join(mia)
        join(vic)
        old = post(vic, "m1", "posted before Olga came", mia, vic)
        with log_in(server, "Olga") as olga:
            join(olga)
            mia.send(Appoint("a1", "#redes", "Olga", "moderator"))
            mia.expect(Done, skip=QUIET + (RoomPost,))
            olga.send(Edit("e1", old, "not hers to edit"))
            olga.expect_error(ErrorCode.FORBIDDEN, skip=QUIET)
            olga.send(Delete("d1", old))
            assert olga.expect(Done, skip=QUIET).request_id == "d1"
            deleted = vic.expect(RoomDeleted, skip=QUIET)
            assert (deleted.msg_id, deleted.by) == (old, "Olga")
