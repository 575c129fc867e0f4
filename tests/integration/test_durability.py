"""Durable, exactly-once delivery on a real server: queued messages, expiry, resends,
history, restarts on the same data folder and a server killed with SIGKILL mid-stream.

Servers run in a thread (``ServerThread``) or, where a real crash or a real exit status is
the point, as ``chatserver.py`` subprocesses (``ServerProcess``). Loopback only; every wait
has a deadline.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from protocol import (
    Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, HistoryPage, HistoryRequest, OutcomeAck,
    Queued, Receipt, RoomMessage, SendDirect, SendRoom, UserJoined, UserLeft,
)
from protocol.codec import encode
from server import ServerConfig, ServerThread
from server.store import SCHEMA_VERSION
from crashstream import assert_every_acknowledged_once_in_order, keep_late_answers, send_until_queued, what_bob_finds
from logins import leave, login
from servers import ServerProcess, assert_one_line_error, run_chatserver, server_config
from test_store import stored_messages
from waits import wait_until
from wire import WireClient

NOTICES = (UserJoined, UserLeft)


# --- Helpers ------------------------------------------------------------------------------


def config(tmp_path: Path | None, **overrides) -> ServerConfig:
    return server_config(tmp_path, fast=True, **overrides)


def make_known(server, *names: str) -> None:
    """Log each name in and out, so messages to them are queued while they are away;
    returns once the server has seen every one of them leave."""
    for name in names:
        with login(server, name) as client:
            leave(client)
        wait_offline(server, name)


def wait_offline(server: ServerThread, name: str) -> None:
    """Wait until the server has dropped every session of ``name``, and its directory of
    who is online says so: on a cluster's node (the Redis store's runs) that is the
    cluster's, told by Redis a round trip after the node's own registry; a message sent
    between the two was stored "sent" (a client's bye now leaves at once, so the test's
    next send came inside that round trip)."""
    relay = server.server.relay
    wait_until(lambda: server.call(lambda: name not in relay.registry and relay.directory.lookup(name) is None),
               what=f"{name} leaving")


def stored(server: ServerThread, sql: str, *params) -> list[tuple]:
    """Run a query on what the server's database has committed: on a connection of the
    test's own. The server's connection is its committer thread's, inside the transaction
    under way: a query there saw an expiry before its COMMIT, and so before the server
    told anyone of it (the test went on too early, and the sender heard it twice)."""
    db = sqlite3.connect(f"file:{server.server.store.path}?mode=ro", uri=True)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def quiet(client: WireClient, kinds: tuple = (DirectMessage, RoomMessage, Delivered, Queued, Accepted, ErrorReply),
          wait: float = 0.3) -> None:
    """Assert nothing of ``kinds`` arrives within ``wait`` seconds."""
    extra = [e for e in client.drain(quiet=wait, timeout=wait * 3) if isinstance(e, kinds)]
    assert not extra, extra


# --- The database on disk -----------------------------------------------------------------


def test_the_database_is_created_in_the_data_folder_with_its_schema_version(tmp_path):
    data = tmp_path / "data"
    with ServerThread(config(data)) as server:
        with login(server, "Alice"):
            pass
    db = sqlite3.connect(data / "chat.sqlite3")
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT name FROM users").fetchall() == [("Alice",)]
    finally:
        db.close()


def test_chatserver_refuses_a_database_from_a_newer_server_in_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "chat.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    line = assert_one_line_error(run_chatserver("--data", str(data)), "newer")
    assert str(SCHEMA_VERSION + 1) in line


def test_chatserver_refuses_a_file_that_is_not_a_database_in_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "chat.sqlite3").write_bytes(b"this is not a database" * 100)
    assert_one_line_error(run_chatserver("--data", str(data)), "database")


def test_chatserver_creates_the_database_and_keeps_it_across_restarts(tmp_path):
    data = tmp_path / "data"
    with ServerProcess("--data", str(data)) as first:
        with WireClient.login("127.0.0.1", first.port, "Bob") as bob:
            leave(bob)
        with WireClient.login("127.0.0.1", first.port, "Alice") as alice:
            alice.send(SendDirect("keep", "Bob", "survives a restart"))
            queued = alice.expect(Queued, skip=NOTICES)
            leave(alice)
        assert first.stop() == 0
    assert (data / "chat.sqlite3").exists()
    with ServerProcess("--data", str(data)) as second:
        with WireClient.login("127.0.0.1", second.port, "Bob") as bob:
            dm = bob.expect(DirectMessage, skip=NOTICES)
            assert (dm.msg_id, dm.sender, dm.text) == (queued.msg_id, "Alice", "survives a restart")


# --- Queued delivery ------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "memory", "redis"])
def server(request, tmp_path):
    """A server with a data folder (SQLite on disk), in memory, or on a Redis of its own
    (--cluster): the rules of queued delivery, resends and history are the relay's, the
    same over every store."""
    if request.param == "redis":
        from redisserver import RedisServer
        with RedisServer(tmp_path / "redis") as redis, ServerThread(config(None, cluster_url=redis.url)) as srv:
            yield srv
        return
    with ServerThread(config(tmp_path / "data" if request.param == "sqlite" else None)) as srv:
        yield srv


@pytest.fixture
def durable_server(tmp_path):
    with ServerThread(config(tmp_path / "data")) as srv:
        yield srv


def message_states(server: ServerThread) -> list[str]:
    """The state of every stored message, by msg_id, whichever the store."""
    return [state for _, _, state, _ in server.call(lambda: stored_messages(server.server.store))]


def test_queued_messages_arrive_in_order_at_login_and_each_is_delivered_once(server):
    make_known(server, "Bob")
    with login(server, "Alice") as alice:
        queued = []
        for i in range(5):
            alice.send(SendDirect(f"q{i}", "bob", f"message {i}"))
            queued.append(alice.expect(Queued, skip=NOTICES))
        assert [q.request_id for q in queued] == [f"q{i}" for i in range(5)]
        assert [q.msg_id for q in queued] == sorted({q.msg_id for q in queued})
        with login(server, "Bob") as bob:
            dms = [bob.expect(DirectMessage, skip=NOTICES) for _ in range(5)]
            assert [(d.msg_id, d.sender, d.to, d.text) for d in dms] == [
                (q.msg_id, "Alice", "Bob", f"message {i}") for i, q in enumerate(queued)]
            for dm in dms:
                bob.send(Receipt(dm.msg_id))
            delivered = [alice.expect(Delivered, skip=NOTICES) for _ in range(5)]
            assert delivered == [Delivered(q.request_id, q.msg_id) for q in queued]
            quiet(bob)
        quiet(alice)


def test_a_sender_offline_when_the_receipt_comes_is_told_right_after_her_next_welcome(server):
    make_known(server, "Bob")
    with login(server, "Alice") as alice:
        queued = []
        for i in range(3):
            alice.send(SendDirect(f"d{i}", "Bob", f"while you were out {i}"))
            queued.append(alice.expect(Queued, skip=NOTICES))
        leave(alice)
    with login(server, "Bob") as bob:
        for q in queued:
            bob.send(Receipt(bob.expect(DirectMessage, skip=NOTICES).msg_id))
        wait_until(lambda: message_states(server).count("delivered") == 3,
                   what="the receipts being stored")
    with login(server, "Alice") as alice:
        assert [alice.expect(Delivered, skip=NOTICES) for _ in queued] == [
            Delivered(q.request_id, q.msg_id, "Bob") for q in queued]  # (a login's names the recipient)
        quiet(alice)
        for q in queued:
            alice.send(OutcomeAck(q.msg_id))
        leave(alice)
    with login(server, "Alice") as alice:  # acknowledged: not told again at the login after
        quiet(alice)


def test_a_message_to_someone_never_seen_is_refused_not_queued(server):
    with login(server, "Alice") as alice:
        alice.send(SendDirect("u1", "Fulano", "hello?"))
        error = alice.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=NOTICES)
        assert error.request_id == "u1"
    assert message_states(server) == []


def test_a_user_known_before_a_restart_is_still_known_after_it(tmp_path):
    with ServerThread(config(tmp_path)) as server:
        make_known(server, "Bob")
    with ServerThread(config(tmp_path)) as server, login(server, "Alice") as alice:
        alice.send(SendDirect("k", "BOB", "you are remembered"))
        alice.expect(Queued, skip=NOTICES)


# --- Expiry ---------------------------------------------------------------------------------


def expiring_server(tmp_path: Path) -> ServerThread:
    # The sweeper runs every min(heartbeat_interval, login_timeout) / 4 seconds.
    return ServerThread(config(tmp_path, queue_ttl=0.3, expiry_interval=0.05, login_timeout=0.4))


def test_an_unconfirmed_message_expires_and_the_online_sender_is_told(tmp_path):
    with expiring_server(tmp_path) as server:
        make_known(server, "Bob")
        with login(server, "Alice") as alice:
            alice.send(SendDirect("e1", "Bob", "too late"))
            queued = alice.expect(Queued, skip=NOTICES)
            error = alice.expect_error(ErrorCode.EXPIRED, timeout=5, skip=NOTICES)
            assert error.request_id == "e1" and str(queued.msg_id) in error.message
            with login(server, "Bob") as bob:
                quiet(bob, (DirectMessage,))
            quiet(alice)


def test_an_offline_sender_is_told_of_the_expiry_at_her_next_login(tmp_path):
    with expiring_server(tmp_path) as server:
        make_known(server, "Bob")
        with login(server, "Alice") as alice:
            alice.send(SendDirect("e2", "Bob", "nobody will read this"))
            alice.expect(Queued, skip=NOTICES)
            leave(alice)
        wait_until(lambda: stored(server, "SELECT state FROM messages WHERE client_id = 'e2'") == [("expired",)],
                   what="the expiry")
        with login(server, "Alice") as alice:
            assert alice.expect_error(ErrorCode.EXPIRED, skip=NOTICES).request_id == "e2"
            quiet(alice)
        with login(server, "Bob") as bob:
            quiet(bob, (DirectMessage,))


def test_a_message_confirmed_in_time_does_not_expire(tmp_path):
    with ServerThread(config(tmp_path, queue_ttl=1.5, expiry_interval=0.05, login_timeout=0.4)) as server:
        make_known(server, "Bob")
        with login(server, "Alice") as alice:
            alice.send(SendDirect("in-time", "Bob", "quick"))
            alice.expect(Queued, skip=NOTICES)
            with login(server, "Bob") as bob:
                bob.send(Receipt(bob.expect(DirectMessage, skip=NOTICES).msg_id))
                assert alice.expect(Delivered, skip=NOTICES).request_id == "in-time"
            quiet(alice, wait=1.7)  # past the time to live: no "expired"


# --- Resends --------------------------------------------------------------------------------


def test_a_resend_even_after_a_reconnect_is_stored_and_shown_once(server):
    make_known(server, "Bob")
    with login(server, "Alice") as alice:
        alice.send(SendDirect("r1", "Bob", "only once"))
        first = alice.expect(Queued, skip=NOTICES)
        alice.send(SendDirect("r1", "Bob", "only once"))
        assert alice.expect(Queued, skip=NOTICES) == first
        alice.reset()  # the connection drops before she knows more
    wait_offline(server, "Alice")
    with login(server, "Alice") as alice:
        alice.send(SendDirect("r1", "Bob", "only once"))
        assert alice.expect(Queued, skip=NOTICES) == first
        assert len(message_states(server)) == 1
        with login(server, "Bob") as bob:
            dm = bob.expect(DirectMessage, skip=NOTICES)
            assert dm.msg_id == first.msg_id
            quiet(bob, (DirectMessage,))
            # A receipt sent twice is harmless: no error, one "delivered".
            bob.send(Receipt(dm.msg_id))
            bob.send(Receipt(dm.msg_id))
            assert alice.expect(Delivered, skip=NOTICES) == Delivered("r1", first.msg_id)
            quiet(bob)
            quiet(alice)
            # Resent once more after delivery: the answer says so, Bob sees nothing new.
            alice.send(SendDirect("r1", "Bob", "only once"))
            assert alice.expect(Accepted, skip=NOTICES).msg_id == first.msg_id
            assert alice.expect(Delivered, skip=NOTICES) == Delivered("r1", first.msg_id, "Bob")  # (from the store)
            quiet(bob)


def test_a_resend_to_an_online_recipient_is_forwarded_once(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send(SendDirect("o1", "Bob", "hi"))
        alice.send(SendDirect("o1", "Bob", "hi"))
        first, second = alice.expect(Accepted, skip=NOTICES), alice.expect(Accepted, skip=NOTICES)
        assert first == second
        assert bob.expect(DirectMessage, skip=NOTICES).msg_id == first.msg_id
        quiet(bob, (DirectMessage,))


def test_a_resent_room_message_is_not_broadcast_twice(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send(SendRoom("s1", "hello room"))
        accepted = alice.expect(Accepted, skip=NOTICES + (RoomMessage,))
        assert bob.expect(RoomMessage, skip=NOTICES).msg_id == accepted.msg_id
        alice.send(SendRoom("s1", "hello room"))
        assert alice.expect(Accepted, skip=NOTICES + (RoomMessage,)) == accepted
        alice.reset()
        wait_offline(server, "Alice")
        with login(server, "Alice") as again:
            again.send(SendRoom("s1", "hello room"))
            assert again.expect(Accepted, skip=NOTICES + (RoomMessage,)) == accepted
            quiet(bob, (RoomMessage,))


# --- Crash safety ---------------------------------------------------------------------------


N_MESSAGES = 200
WINDOW = 20  # requests Alice has out at once, as a pipelining client would


@pytest.mark.parametrize("kill_after", [1, 60, 150])
def test_a_server_killed_mid_stream_loses_no_acknowledged_message_and_duplicates_none(tmp_path, kill_after):
    data = str(tmp_path / "data")
    fast = ("--rate-per-connection", "1000000", "--rate-per-address", "1000000")
    with ServerProcess("--data", data, *fast) as first:
        with WireClient.login("127.0.0.1", first.port, "Alice") as alice:
            with WireClient.login("127.0.0.1", first.port, "Bob") as bob:
                leave(bob)
            assert alice.expect(UserLeft, skip=(UserJoined,)).name == "Bob"
            acked, sent = send_until_queued(alice, "Bob", kill_after, N_MESSAGES, WINDOW)
            first.kill()  # at once: requests are still on their way in
            keep_late_answers(alice, acked)  # answers already on their way out: she has them
        assert first.proc.returncode == -9
    assert kill_after <= len(acked) <= sent

    with ServerProcess("--data", data, *fast) as second:
        # What Bob finds: every acknowledged message, each once, in Alice's order.
        with WireClient.login("127.0.0.1", second.port, "Bob") as bob:
            found = what_bob_finds(bob, acked.values())
            leave(bob)
        by_number = assert_every_acknowledged_once_in_order(found, acked)
        assert len(found) <= sent

        # Alice resends what she was never told about, as her client would: each is then
        # stored once; what was stored before the crash keeps its msg_id.
        with WireClient.login("127.0.0.1", second.port, "Alice") as alice:
            answers = {}
            for i in range(sent):
                alice.send(SendDirect(f"n{i}", "Bob", f"#{i}"))
            for _ in range(sent):
                event = alice.expect(Queued, skip=NOTICES)
                answers[event.request_id] = event.msg_id
            assert {f"n{n}": msg_id for n, msg_id in by_number.items()}.items() <= answers.items()
            with WireClient.login("127.0.0.1", second.port, "Bob") as bob:
                found = what_bob_finds(bob, answers.values())
                assert [int(dm.text.lstrip("#")) for dm in found] == list(range(sent))
                assert [dm.msg_id for dm in found] == [answers[f"n{i}"] for i in range(sent)]
                for dm in found:
                    bob.send(Receipt(dm.msg_id))
                delivered = [alice.expect(Delivered, skip=NOTICES) for _ in range(sent)]
                assert sorted(d.request_id for d in delivered) == sorted(answers)
                quiet(alice)
                leave(bob)
            with WireClient.login("127.0.0.1", second.port, "Bob") as bob:
                quiet(bob, (DirectMessage,))
        assert second.stop() == 0


# --- History --------------------------------------------------------------------------------


def test_history_pages_through_both_directions_with_states(server):
    make_known(server, "Bob")
    with login(server, "Alice") as alice:
        alice.send(SendDirect("h0", "Bob", "queued one"))
        alice.expect(Queued, skip=NOTICES)
        with login(server, "Bob") as bob:
            bob.send(Receipt(bob.expect(DirectMessage, skip=NOTICES).msg_id))
            alice.expect(Delivered, skip=NOTICES)
            for i in range(1, 6):
                sender, receiver, to = (bob, alice, "Alice") if i % 2 else (alice, bob, "Bob")
                sender.send(SendDirect(f"h{i}", to, f"line {i}"))
                sender.expect(Accepted, skip=NOTICES)
                dm = receiver.expect(DirectMessage, skip=NOTICES)
                if i < 5:  # the last one stays unconfirmed
                    receiver.send(Receipt(dm.msg_id))
                    sender.expect(Delivered, skip=NOTICES)
        wait_offline(server, "Bob")
        alice.send(SendDirect("h6", "Bob", "after he left"))
        alice.expect(Queued, skip=NOTICES)
        pages, before = [], None
        while True:
            alice.send(HistoryRequest(f"p{len(pages)}", "bob", 3, before))
            page = alice.expect(HistoryPage, skip=NOTICES)
            assert (page.request_id, page.peer) == (f"p{len(pages)}", "Bob")
            pages.append(page.messages)
            before = page.before
            if before is None:
                break
            assert before == page.messages[0].msg_id
        assert [len(p) for p in pages] == [3, 3, 1]
        entries = [e for page in reversed(pages) for e in page]
        assert [e.text for e in entries] == ["queued one", *(f"line {i}" for i in range(1, 6)), "after he left"]
        assert [(e.sender, e.to) for e in entries[:3]] == [("Alice", "Bob"), ("Bob", "Alice"), ("Alice", "Bob")]
        assert [e.state for e in entries] == ["delivered"] * 5 + ["sent", "queued"]
        assert [e.msg_id for e in entries] == sorted(e.msg_id for e in entries)
    with login(server, "Bob") as bob:  # the same conversation from Bob's side
        # (His "delivered" frames come again too: this raw client never acknowledged them.)
        bob.expect(DirectMessage, skip=(*NOTICES, Delivered))
        bob.send(HistoryRequest("b", "ALICE", 500))
        page = bob.expect(HistoryPage, skip=(*NOTICES, Delivered))
        assert [e.text for e in page.messages] == [e.text for e in entries] and page.before is None


@pytest.mark.parametrize("limit", [0, 501, -1])
def test_a_history_limit_out_of_range_is_a_bad_field(server, limit):
    with login(server, "Alice") as alice:
        frame = encode(HistoryRequest("hl", "Bob", 5))
        alice.send_raw(frame.replace(b'"limit":5', b'"limit":%d' % limit))
        error = alice.expect_error(ErrorCode.BAD_FIELD, skip=NOTICES)
        assert error.request_id == "hl" and "limit" in error.message


def test_history_with_someone_never_seen_is_empty(server):
    with login(server, "Alice") as alice:
        alice.send(HistoryRequest("e", "Stranger"))
        page = alice.expect(HistoryPage, skip=NOTICES)
        assert (page.messages, page.before) == ((), None)


# --- The promise itself: on disk before acknowledged ----------------------------------------


def test_every_commit_is_synced_to_disk(durable_server):
    """WAL with synchronous=FULL: the WAL is fsynced at every COMMIT, so a commit that has
    returned survives a power cut (NORMAL would only survive a crash of the process).
    The journal mode is the file's; ``synchronous`` is a connection's (a new one starts at
    FULL whatever the server set), so it is read on the server's own, on its loop."""
    assert stored(durable_server, "PRAGMA journal_mode") == [("wal",)]
    store = durable_server.server.store
    assert durable_server.call(lambda: store.db.execute("PRAGMA main.synchronous").fetchall()) == [(2,)]  # 2 = FULL


def test_nothing_is_acknowledged_or_forwarded_before_its_commit_has_returned(tmp_path, monkeypatch):
    from server.store import Store
    holding, release = threading.Event(), threading.Event()
    real_commit = Store._commit

    def held_commit(self):  # the fsync takes as long as the test likes
        holding.set()
        release.wait(20)
        real_commit(self)

    with ServerThread(config(tmp_path / "data")) as server:
        make_known(server, "Carol")
        with login(server, "Alice") as alice, login(server, "Bob") as bob:
            monkeypatch.setattr(Store, "_commit", held_commit)
            try:
                alice.send(SendDirect("online", "Bob", "to Bob"))
                alice.send(SendDirect("offline", "Carol", "to Carol"))
                alice.send(SendRoom("room", "to everyone"))
                assert holding.wait(10), "the store never committed"
                quiet(alice, wait=0.5)  # no accepted, no queued
                quiet(bob, wait=0.1)  # no dm, no room message
            finally:
                release.set()
            answers = {}
            while len(answers) < 3:
                event = alice.next()
                if isinstance(event, (Accepted, Queued)):
                    answers[event.request_id] = type(event)
            assert answers == {"online": Accepted, "offline": Queued, "room": Accepted}
            assert bob.expect(DirectMessage, skip=NOTICES + (RoomMessage,)).text == "to Bob"
