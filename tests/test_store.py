"""Unit tests of the store, the mailbox operations and the relay's use of them: no sockets.

The store runs on a small event loop of the test's own (``settle`` runs it until everything
submitted is committed and every callback has run); the relay talks to ``FakeSession``
objects that record what they are sent.
"""

from __future__ import annotations

import asyncio
import sqlite3
from types import SimpleNamespace

import pytest

import const
from protocol import (
    Register,
    Accepted, Delivered, DirectMessage, ErrorCode, ErrorReply, Hello, HistoryRequest, Queued, Receipt,
    SendDirect, SendRoom, State, Welcome,
)
from server import ServerConfig, mailbox, store as store_module
from server.mailbox import StoredMessage
from server.relay import Relay
from server.store import Store, open_database


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def open_store(loop: asyncio.AbstractEventLoop, path=None) -> Store:
    store = Store(path)
    store.open()
    store.start(loop)
    return store


def settle(loop: asyncio.AbstractEventLoop, store: Store) -> None:
    """Run the loop until everything submitted (and submitted by callbacks) is committed."""
    loop.run_until_complete(store.drain(timeout=5))
    assert not store._pending and not store._committing, "the store did not settle within 5 s"


def dm(msg_id: int, sender: str, to: str, client_id: str, state: str = "queued", text: str | None = None,
       sent_at: float = 1000.0, expires_at: float = 2000.0) -> StoredMessage:
    return StoredMessage(msg_id, sender, sender.lower(), to, to.lower(), text or f"{sender}->{to} {msg_id}",
                         sent_at + msg_id, client_id, state, expires_at)


# --- The database: creation and migrations ----------------------------------------------


def user_version(path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_the_database_is_created_on_first_open_with_its_schema_version(tmp_path):
    path = tmp_path / "new" / "folder" / "chat.sqlite3"
    db = open_database(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    db.close()
    assert path.exists()
    assert {"accounts", "users", "messages", "blocks"} <= tables
    assert user_version(path) == store_module.SCHEMA_VERSION


def test_pending_migrations_run_at_start_and_keep_the_data(tmp_path, monkeypatch):
    path = tmp_path / "chat.sqlite3"
    db = open_database(path)
    mailbox.remember_user(db, "bob", "Bob", 1.0)
    db.close()
    version = store_module.SCHEMA_VERSION
    monkeypatch.setitem(store_module.MIGRATIONS, version + 1,
                        "ALTER TABLE users ADD COLUMN nickname TEXT; CREATE TABLE extra (x INTEGER)")
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version + 1)
    db = open_database(path)
    try:
        assert db.execute("SELECT name, nickname FROM users").fetchall() == [("Bob", None)]
        assert db.execute("SELECT COUNT(*) FROM extra").fetchone() == (0,)
    finally:
        db.close()
    assert user_version(path) == version + 1


def test_a_failing_migration_changes_nothing_and_leaves_the_database_usable(tmp_path, monkeypatch):
    path = tmp_path / "chat.sqlite3"
    open_database(path).close()
    version = store_module.SCHEMA_VERSION
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", version + 1)
    monkeypatch.setitem(store_module.MIGRATIONS, version + 1, "CREATE TABLE half (x); THIS IS NOT SQL")
    with pytest.raises(sqlite3.Error):
        open_database(path)
    # Nothing of the failed migration is left, and the file is not left locked either.
    monkeypatch.setitem(store_module.MIGRATIONS, version + 1, "CREATE TABLE whole (x)")
    db = open_database(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()
    assert "whole" in tables and "half" not in tables
    assert user_version(path) == version + 1


def test_a_database_from_a_newer_server_is_refused(tmp_path):
    path = tmp_path / "chat.sqlite3"
    db = open_database(path)
    db.execute(f"PRAGMA user_version = {store_module.SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        open_database(path)
    assert user_version(path) == store_module.SCHEMA_VERSION + 1  # left as it was


# --- Group commit -------------------------------------------------------------------------


@pytest.fixture(params=["memory", "file"])
def store(request, loop, tmp_path):
    store = open_store(loop, None if request.param == "memory" else tmp_path / "chat.sqlite3")
    store.db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    yield store
    store.close()


def put_all(db: sqlite3.Connection, items: list[tuple[str, int]]) -> list[str]:
    put_all.calls.append(len(items))
    db.executemany("INSERT INTO t (k, v) VALUES (?, ?)", items)
    return [k for k, _ in items]


put_all.calls = []


def rows(store: Store) -> dict[str, int]:
    return dict(store.db.execute("SELECT k, v FROM t").fetchall())


def test_batched_submissions_become_one_call_and_callbacks_run_in_order(loop, store):
    put_all.calls = []
    answers = []
    for i in range(100):
        store.submit_many(put_all, (f"k{i}", i), answers.append)
    settle(loop, store)
    assert put_all.calls == [100]
    assert answers == [f"k{i}" for i in range(100)]
    assert len(rows(store)) == 100


def test_interleaved_batches_are_still_merged(loop, store):
    put_all.calls = []

    def bump_all(db, keys):
        db.executemany("UPDATE t SET v = v + 1 WHERE k = ?", [(k,) for k in keys])
        return [None] * len(keys)

    for i in range(50):
        store.submit_many(put_all, (f"k{i}", i))
        store.submit_many(bump_all, f"k{i}")
    settle(loop, store)
    assert put_all.calls == [50]
    assert rows(store) == {f"k{i}": i + 1 for i in range(50)}


def test_what_is_submitted_during_a_commit_goes_in_the_next_transaction_together(loop, tmp_path):
    store = open_store(loop, tmp_path / "chat.sqlite3")
    store.db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    put_all.calls = []

    async def scenario():
        store.submit_many(put_all, ("first", 0))
        await asyncio.sleep(0)  # the first transaction runs and its COMMIT goes to the thread
        assert store._committing
        for i in range(50):
            store.submit_many(put_all, (f"k{i}", i))
        await store.drain()

    try:
        loop.run_until_complete(scenario())
        assert put_all.calls == [1, 50]
        assert len(rows(store)) == 51
    finally:
        store.close()


def test_a_callback_runs_only_once_its_write_is_committed(loop, tmp_path):
    path = tmp_path / "chat.sqlite3"
    store = open_store(loop, path)
    store.db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    seen_by_another_connection = []

    def check(_):
        other = sqlite3.connect(path)
        try:
            seen_by_another_connection.append(other.execute("SELECT v FROM t WHERE k = 'x'").fetchone())
        finally:
            other.close()

    try:
        store.submit_many(put_all, ("x", 42), check)
        settle(loop, store)
    finally:
        store.close()
    assert seen_by_another_connection == [(42,)]


def test_an_operation_that_raises_loses_nothing_else_of_its_transaction(loop, store, caplog):
    put_all.calls = []
    answers = []

    def put(key):
        def operation(db):
            db.execute("INSERT INTO t (k, v) VALUES (?, 1)", (key,))
            return key
        return operation

    def half_then_fail(db):
        db.execute("INSERT INTO t (k, v) VALUES ('half', 1)")
        raise RuntimeError("boom")

    store.submit(put("a"), answers.append)
    store.submit(half_then_fail, answers.append)
    store.submit(put("b"), answers.append)
    store.submit_many(put_all, ("c", 1), answers.append)
    store.submit(put("d"), answers.append)
    settle(loop, store)
    assert answers == ["a", "b", "c", "d"]  # the failed one's callback is not called
    assert rows(store) == {"a": 1, "b": 1, "c": 1, "d": 1}  # and its own write is undone
    assert "boom" in caplog.text


def test_a_batch_that_raises_loses_nothing_of_the_other_batches(loop, store):
    answers = []

    def explode(db, items):
        db.execute("INSERT INTO t (k, v) VALUES ('bad', 1)")
        raise ValueError("no")

    store.submit_many(put_all, ("a", 1), answers.append)
    store.submit_many(explode, "x", answers.append)
    store.submit_many(put_all, ("b", 2), answers.append)
    settle(loop, store)
    assert answers == ["a", "b"]
    assert rows(store) == {"a": 1, "b": 2}


def test_an_operation_sees_every_write_submitted_before_it(loop, store):
    """Merging batches must not move a write after a later read (a late receipt checked
    before the receipt that came first would tell the sender "delivered" twice)."""
    seen = []
    store.submit(lambda db: None)  # any earlier plain operation in the same transaction
    store.submit_many(put_all, ("x", 7))
    store.submit(lambda db: db.execute("SELECT v FROM t WHERE k = 'x'").fetchone(), seen.append)
    settle(loop, store)
    assert seen == [(7,)]


def test_an_operation_does_not_see_writes_submitted_after_it(loop, store):
    seen = []
    store.submit_many(put_all, ("x", 1))
    store.submit(lambda db: db.execute("SELECT COUNT(*) FROM t").fetchone()[0], seen.append)
    store.submit_many(put_all, ("y", 2))
    settle(loop, store)
    assert seen == [1]


def test_close_commits_what_is_pending(loop, tmp_path):
    path = tmp_path / "chat.sqlite3"
    store = open_store(loop, path)
    store.db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    answers = []
    store.submit_many(put_all, ("late", 1), answers.append)
    store.close()
    assert answers == ["late"]
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT v FROM t").fetchall() == [(1,)]
    finally:
        db.close()


# --- Mailbox operations -----------------------------------------------------------------


@pytest.fixture
def db():
    db = open_database(None)
    yield db
    db.close()


def test_store_messages_recognises_resends_in_one_batch_and_across_batches(db):
    first = dm(1, "Alice", "Bob", "c1")
    again_same_batch = dm(2, "Alice", "Bob", "c1", text="resent")
    other = dm(3, "Alice", "Bob", "c2")
    assert mailbox.store_messages(db, [first, again_same_batch, other]) == [(first, True), (first, False),
                                                                           (other, True)]
    later = mailbox.store_messages(db, [dm(4, "Alice", "Bob", "c2", text="resent later")])
    assert later == [(other, False)]
    # The same request id from another sender is another message.
    carol = dm(5, "Carol", "Bob", "c1")
    assert mailbox.store_messages(db, [carol]) == [(carol, True)]
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (3,)


def test_a_resend_reports_the_current_state_of_the_message(db):
    mailbox.store_messages(db, [dm(1, "Alice", "Bob", "c1")])
    assert mailbox.mark_delivered(db, 1, "bob", False).state == "delivered"
    [(stored, new)] = mailbox.store_messages(db, [dm(9, "Alice", "Bob", "c1")])
    assert (stored.msg_id, stored.state, new) == (1, "delivered", False)


def test_receipts_count_once_and_only_from_the_recipient(db):
    mailbox.store_messages(db, [dm(1, "Alice", "Bob", "c1")])
    assert mailbox.mark_delivered(db, 1, "carol", False) is None  # not hers
    assert mailbox.mark_delivered(db, 1, "bob", False) is not None
    assert mailbox.mark_delivered(db, 1, "bob", False) is None  # twice: no effect
    assert [m.msg_id for m in mailbox.outcomes_for_sender(db, "alice")] == [1]
    mailbox.mark_notified(db, [1])
    assert mailbox.outcomes_for_sender(db, "alice") == []


def test_pending_expiry_and_outcomes(db):
    mailbox.store_messages(db, [dm(i, "Alice", "Bob", f"c{i}", expires_at=1500.0 + i) for i in range(1, 6)])
    assert [m.msg_id for m in mailbox.pending_for(db, "bob", 0, 3)] == [1, 2, 3]
    assert [m.msg_id for m in mailbox.pending_for(db, "bob", 3, 3)] == [4, 5]
    assert [m.msg_id for m in mailbox.expire(db, 1503.0)] == [1, 2, 3]
    assert mailbox.expire(db, 1503.0) == []  # already expired
    assert [m.msg_id for m in mailbox.pending_for(db, "bob", 0, 10)] == [4, 5]
    assert [(m.msg_id, m.state) for m in mailbox.outcomes_for_sender(db, "alice")] == [
        (1, "expired"), (2, "expired"), (3, "expired")]
    assert mailbox.mark_delivered(db, 2, "bob", False) is None  # too late: it stays expired


def test_history_pages_back_through_both_directions_until_the_cursor_is_none(db):
    messages = []
    for i in range(1, 12):
        sender, to = ("Alice", "Bob") if i % 2 else ("Bob", "Alice")
        messages.append(dm(i, sender, to, f"c{i}", state="delivered" if i < 6 else "queued"))
    messages.append(dm(12, "Carol", "Alice", "x"))  # another conversation
    messages.append(dm(13, "Bob", "Alice", "b", state="blocked"))  # Alice blocks Bob
    messages.append(dm(14, "Alice", "Bob", "b", state="blocked"))  # Bob blocks Alice
    messages.append(StoredMessage(15, "Bob", "bob", None, None, "room", 2000.0, "r", "room"))
    mailbox.store_messages(db, messages)
    pages, before = [], None
    while True:
        entries, before = mailbox.history(db, "alice", "bob", before, 4)
        pages.append([e.msg_id for e in entries])
        if before is None:
            break
    # Newest page first, each page oldest first; Bob's blocked message is not Alice's to
    # see, and hers to Bob shows as "sent", as it did when she sent it.
    assert pages == [[9, 10, 11, 14], [5, 6, 7, 8], [1, 2, 3, 4]]
    entries, _ = mailbox.history(db, "alice", "bob", None, 500)
    states = {e.msg_id: e.state for e in entries}
    assert states[14] == "sent" and states[1] == "delivered" and states[11] == "queued"
    assert {(e.sender, e.to) for e in entries} == {("Alice", "Bob"), ("Bob", "Alice")}
    # From Bob's side his blocked message to Alice shows as sent, hers to him is hidden.
    bob_side, _ = mailbox.history(db, "bob", "alice", None, 500)
    assert [e.msg_id for e in bob_side] == [*range(1, 12), 13]
    # Exactly one full page: no cursor.
    entries, before = mailbox.history(db, "alice", "carol", None, 1)
    assert [e.msg_id for e in entries] == [12] and before is None


def test_purge_forgets_only_final_messages_whose_sender_knows(db):
    mailbox.store_messages(db, [dm(1, "Alice", "Bob", "c1"), dm(2, "Alice", "Bob", "c2"),
                                dm(3, "Alice", "Bob", "c3")])
    mailbox.mark_delivered(db, 1, "bob", True)
    mailbox.mark_delivered(db, 2, "bob", False)  # Alice not told yet: kept
    assert mailbox.purge(db, 10_000.0) == 1
    assert [r[0] for r in db.execute("SELECT msg_id FROM messages ORDER BY msg_id")] == [2, 3]


# --- The relay over the store, with fake sessions ----------------------------------------


class FakeSession:
    """What the relay uses of a ClientSession; records what it is sent."""

    def __init__(self, port: int, address: str = "10.0.0.1") -> None:
        self.address, self.port = address, port
        self.name = self.key = None
        self.registered = self.logging_in = self.closing = self.backlog = self.backlog_loading = False
        self.backlog_cursor = self.bad_frames = 0
        self.inflight = self.bucket = None
        self.leave_reason = "disconnected"
        self.conn = SimpleNamespace(state=State.OPEN)
        self.sent: list = []
        # A slow reader's state (see ClientSession.lagging): set by tests.
        self.lagging = self.held = False
        self.skipped = 0
        self.byte_bucket = None

    @property
    def is_open(self) -> bool:
        return not self.closing and self.conn.state is State.OPEN

    def send(self, event) -> None:
        self.sent.append(event)

    def write_frame(self, frame: bytes) -> None:
        self.sent.append(frame)

    def close(self, reason: str | None = None) -> None:
        self.closing = True

    def abort(self, reason: str) -> None:
        self.closing = True

    def take(self, kind) -> list:
        """The events of ``kind`` received so far (removed from ``sent``)."""
        found = [e for e in self.sent if isinstance(e, kind)]
        self.sent = [e for e in self.sent if not isinstance(e, kind)]
        return found


class RelayBench:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.store = open_store(loop)
        self.relay = Relay(ServerConfig(rate_per_connection=1e6, burst_per_connection=1e6,
                                        rate_per_address=1e6, burst_per_address=1e6), self.store)
        self.ports = 0

    def login(self, name: str, password: str | None = None, register: bool = False) -> FakeSession:
        self.ports += 1
        session = FakeSession(self.ports)
        self.relay.connected(session)
        self.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, password, register))
        self.settle()
        assert session.take(Welcome), session.sent
        return session

    def settle(self) -> None:
        settle(self.loop, self.store)


def test_two_receipts_from_two_sessions_in_one_transaction_deliver_once(loop):
    bench = RelayBench(loop)
    alice = bench.login("Alice")
    bob1 = bench.login("Bob", "correct horse", register=True)
    bob2 = bench.login("Bob", "correct horse")  # two sessions of one account
    bench.relay.handle(alice, SendDirect("m1", "Bob", "to both of you"))
    bench.settle()
    [accepted] = alice.take(Accepted)
    assert [m.msg_id for m in bob1.take(DirectMessage)] == [m.msg_id for m in bob2.take(DirectMessage)] == [
        accepted.msg_id]
    # In one loop turn: some other request, then both sessions confirm.
    bench.relay.handle(alice, HistoryRequest("hist", "Bob"))
    bench.relay.handle(bob1, Receipt(accepted.msg_id))
    bench.relay.handle(bob2, Receipt(accepted.msg_id))
    bench.settle()
    assert alice.take(Delivered) == [Delivered("m1", accepted.msg_id)]
    assert not bob1.take(ErrorReply) and not bob2.take(ErrorReply)
    bench.store.close()


def test_a_resent_request_in_the_same_transaction_is_stored_and_shown_once(loop):
    bench = RelayBench(loop)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    for _ in range(3):
        bench.relay.handle(alice, SendDirect("same", "Bob", "once"))
        bench.relay.handle(alice, SendRoom("room-same", "once in the room"))
    bench.settle()
    accepted = alice.take(Accepted)
    assert len({a.msg_id for a in accepted if a.request_id == "same"}) == 1
    assert len({a.msg_id for a in accepted if a.request_id == "room-same"}) == 1
    assert len(bob.take(DirectMessage)) == 1
    assert sum(1 for frame in bob.sent if isinstance(frame, bytes) and b'"room"' in frame) == 1
    bench.store.close()


def test_late_receipt_after_a_restart_delivers_and_tells_the_sender(loop, tmp_path):
    """A receipt for a message forwarded before a restart still counts."""
    path = tmp_path / "chat.sqlite3"
    bench = RelayBench(loop)
    bench.store.close()
    bench.store = open_store(loop, path)
    bench.relay = Relay(ServerConfig(), bench.store)
    bob = bench.login("Bob")
    bench.relay.disconnected(bob, None)
    alice = bench.login("Alice")
    bench.relay.handle(alice, SendDirect("q", "Bob", "waits"))
    bench.settle()
    [queued] = alice.take(Queued)
    bench.store.close()
    # A new relay on the same file: Bob confirms a message that is not in flight here.
    bench.store = open_store(loop, path)
    bench.relay = Relay(ServerConfig(), bench.store)
    alice = bench.login("Alice")
    bob = bench.login("Bob")
    [waiting] = bob.take(DirectMessage)
    assert waiting.msg_id == queued.msg_id
    bench.relay.inflight.clear()  # as if forwarded by the previous process
    bench.relay.handle(bob, Receipt(queued.msg_id))
    bench.relay.handle(bob, Receipt(queued.msg_id))
    bench.settle()
    assert alice.take(Delivered) == [Delivered("q", queued.msg_id)]
    assert not bob.take(ErrorReply)
    bench.relay.handle(bob, Receipt(123456))
    bench.settle()
    assert [e.code for e in bob.take(ErrorReply)] == [ErrorCode.UNKNOWN_MESSAGE]
    bench.store.close()


def test_purge_keeps_the_newest_message_so_message_ids_are_never_reused(db):
    old = [dm(i, "alice", "bob", f"c{i}", state="delivered") for i in (1, 2, 3)]
    mailbox.store_messages(db, old)
    db.execute("UPDATE messages SET sent_at = 0, sender_notified = 1")
    mailbox.purge(db, older_than=1e12)  # everything is older than the retention
    assert mailbox.last_msg_id(db) == 3  # the next message still gets id 4, never 1 again
    assert [r[0] for r in db.execute("SELECT msg_id FROM messages")] == [3]


def test_a_message_stored_as_its_recipient_logs_in_comes_after_the_older_ones(loop):
    bench = RelayBench(loop)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    bench.relay.disconnected(bob, None)
    for i in range(5):
        bench.relay.handle(alice, SendDirect(f"old{i}", "Bob", f"old {i}"))
    bench.settle()
    # In one loop turn: a new message, then Bob logs in again. The new message's commit
    # completes while Bob is online but his waiting messages are still being fetched.
    bench.relay.handle(alice, SendDirect("new", "Bob", "new"))
    bench.ports += 1
    bob_again = FakeSession(bench.ports)
    bench.relay.connected(bob_again)
    bench.relay.handle(bob_again, Hello("h", "Bob", const.PROTOCOL_VERSION))
    bench.settle()
    assert [m.text for m in bob_again.take(DirectMessage)] == [f"old {i}" for i in range(5)] + ["new"]
    bench.store.close()


def test_a_claim_finished_after_its_claimant_left_does_not_share_the_name_with_a_guest(loop):
    bench = RelayBench(loop)
    hashing = []  # the password hash, held back to open the race window
    bench.relay.logins.offload = lambda func, args, callback: hashing.append((func, args, callback))
    claimant = bench.login("Bob")
    bench.relay.handle(claimant, Register("r", "correct horse"))
    bench.relay.disconnected(claimant, None)
    guest = bench.login("Bob")  # takes the free name as a guest
    func, args, callback = hashing.pop()
    callback(func(*args))
    bench.settle()
    assert not bench.relay.registry.lookup("Bob").shared
    bench.store.close()
