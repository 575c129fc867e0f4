"""The memory store answers as the SQLite store does, and keeps the store contract.

1. Differential: random sequences of every message operation (resends, reused ids,
   receipts from the right and the wrong user, acks, expiry, hand-overs, purges, pages of
   pending messages, outcomes and history) run on SQLite (server/mailbox.py on an
   in-memory database) and on :class:`MemoryStore`; every answer and the stored state
   after each step must be equal.
2. The contract of base.py: callbacks never run inside the submitting call, run in
   submission order at the next loop turn; a failing operation is answered on_error.
3. Both stores implement every member of the interface, with the same signatures.

The relay's own tests (RelayBench) run over both stores too: see ``store_kind`` in
tests/test_store.py.
"""

from __future__ import annotations

import asyncio
import inspect
import random

import pytest

import const
from server import mailbox
from server.mailbox import ACK, RECEIPT, StoredMessage
from server.store import StoreUnavailable, open_database
from server.stores import MemoryStore, MessageStore, RedisStore, SQLiteStore

USERS = ["alice", "bob", "carol", "dave"]
ROOMS = ["#redes", "#lab"]  # named rooms (keys): their messages have the room as recipient


class SQLiteOps:
    """The operations, synchronously, on SQLite (what SQLiteStore submits)."""

    def __init__(self) -> None:
        self.db = open_database(None)

    def store(self, messages):
        return mailbox.store_messages(self.db, messages)

    def receipt(self, msg_id, key):
        return mailbox.record_confirmations(self.db, [(RECEIPT, msg_id, key)])[0]

    def ack(self, msg_id, key):
        return mailbox.record_confirmations(self.db, [(ACK, msg_id, key)])[0]

    def confirm_late(self, msg_id, key):
        return mailbox.mark_delivered(self.db, msg_id, key), mailbox.recipient_of(self.db, msg_id)

    def pending_for(self, key, after, limit):
        return mailbox.pending_for(self.db, key, after, limit)

    def outcomes_for_sender(self, key, after, limit):
        return mailbox.outcomes_for_sender(self.db, key, after, limit)

    def history(self, me, peer, before, limit, after):
        return mailbox.history(self.db, me, peer, before, limit, after)

    def room_history(self, room, before, limit):
        return mailbox.room_history(self.db, room, before, limit)

    def room_backlog(self, key, rooms, limit):
        return mailbox.room_backlog(self.db, key, rooms, limit)

    def set_room_cursors(self, key, cursors):
        return mailbox.set_room_cursors(self.db, key, cursors)

    def room_joined(self, key, room):
        return mailbox.room_joined(self.db, key, room)

    def expire(self, now):
        return mailbox.expire(self.db, now)

    def purge(self, older_than, unacknowledged_older_than):
        return mailbox.purge(self.db, older_than, unacknowledged_older_than)

    def hand_over(self, key, epoch):
        return mailbox.hand_over(self.db, key, epoch)

    def change(self, msg_id, key, text, now, window, quiet_for, may_post_in=None):
        return mailbox.change_message(self.db, msg_id, key, text, now, window, quiet_for, may_post_in)

    def changes_for(self, key, after, limit):
        return mailbox.changes_for(self.db, key, after, limit)

    def confirm_change(self, msg_id, key, at):
        return mailbox.confirm_change(self.db, msg_id, key, at)

    def dm_changes(self, key, after, since, limit):
        return mailbox.dm_changes(self.db, key, after, since, limit, const.DM_CHANGES_KEPT)

    def record_read(self, reader, peer, msg_id):
        return mailbox.record_read(self.db, reader, peer, msg_id)

    def read_mark(self, reader, peer):
        return mailbox.read_mark(self.db, reader, peer)

    def record_room_read(self, reader, room, msg_id):
        return mailbox.record_room_read(self.db, reader, room, msg_id)

    def room_read_marks(self, room, readers):
        return mailbox.room_read_marks(self.db, room, readers)

    def last_msg_id(self):
        return mailbox.last_msg_id(self.db)

    def dump(self):
        return [(r[0], r[1], r[2], bool(r[3]), r[4], r[5], bool(r[6]), bool(r[7])) for r in self.db.execute(
            "SELECT msg_id, client_id, state, sender_notified, text, edited_at, deleted, change_pending"
            " FROM messages ORDER BY msg_id")]


class MemoryOps:
    """The same operations on MemoryStore's internals (its public methods only queue the
    answers of these)."""

    def __init__(self) -> None:
        self.store_ = MemoryStore()

    def store(self, messages):
        return [self.store_._store(m) for m in messages]

    def receipt(self, msg_id, key):
        return self.store_._deliver(msg_id, key)

    def ack(self, msg_id, key):
        return self.store_._acknowledge(msg_id, key)

    def __getattr__(self, name):
        return getattr(self.store_, "_" + name)

    def last_msg_id(self):
        return self.store_.last_msg_id()

    def dump(self):
        changes = self.store_._changes
        return [(m.msg_id, m.client_id, row.state, row.told, m.text, m.edited_at, m.deleted,
                 changes.get(m.recipient_key, {}).get(m.msg_id) is row)
                for row in self.store_._messages.values() for m in (row.message,)]


def random_steps(rng: random.Random, count: int):
    """``count`` operations as (name, args), on a small world so that they collide."""
    msg_id, now = 0, 1000.0
    steps = []
    sent: list[StoredMessage] = []  # direct messages, so that receipts and acks often fit
    posts: list[tuple[int, str, str]] = []  # (msg_id, room key, sender key) of named rooms' posts

    def some_message() -> tuple[int, str, str]:
        """(msg_id, recipient, sender): mostly of a recent message, else anything."""
        if sent and rng.random() < 0.8:
            message = rng.choice(sent[-8:])
            return message.msg_id, message.recipient_key, message.sender_key
        return rng.randint(1, msg_id + 2), rng.choice(USERS), rng.choice(USERS)

    for _ in range(count):
        now += rng.choice([0.0, 0.5, 1.0, 5.0])
        if rng.random() < 0.15:  # after delivered (issue 13): edits, deletes, reads
            some_id, recipient, sender = some_message()
            kind = rng.choice(["change", "change", "changes_for", "confirm_change", "record_read", "read_mark",
                               "change_post", "record_room_read", "room_read_marks", "dm_changes"])
            if kind == "change":
                steps.append(("change", (some_id, sender if rng.random() < 0.8 else rng.choice(USERS),
                                         rng.choice([None, "x", "y", "edited"]), now, rng.choice([2.0, 30.0]),
                                         frozenset() if rng.random() < 0.8 else frozenset({recipient}))))
            elif kind == "change_post":  # an edit of a room post, by who may post in some rooms only
                post_id, room, poster = rng.choice(posts) if posts and rng.random() < 0.8 else (some_id, "#lab", sender)
                steps.append(("change", (post_id, poster, rng.choice([None, "x", "edited"]), now, 1e9, frozenset(),
                                         rng.choice([None, frozenset(), frozenset({room}), frozenset(ROOMS)]))))
            elif kind == "record_room_read":
                post_id, room, _poster = rng.choice(posts) if posts and rng.random() < 0.8 else (some_id, "#lab", "")
                steps.append(("record_room_read", (rng.choice(USERS), room if rng.random() < 0.9 else rng.choice(ROOMS),
                                                   post_id)))
            elif kind == "room_read_marks":
                steps.append(("room_read_marks", (rng.choice(ROOMS), rng.sample(USERS, rng.randint(0, len(USERS))))))
            elif kind == "dm_changes":  # what a device back from away missed (last_heard)
                steps.append(("dm_changes", (rng.choice([recipient, sender, rng.choice(USERS)]),
                                             rng.choice([0, 0, rng.randint(0, msg_id)]),
                                             now - rng.choice([5.0, 30.0, 1e6, 1e6]), rng.choice([1, 100]))))
            elif kind == "changes_for":
                steps.append(("changes_for", (rng.choice(USERS), rng.randint(0, msg_id), rng.choice([1, 100]))))
            elif kind == "confirm_change":
                # The receipt of the latest change (now's, the last changes' time), of an
                # older one, of none named (a client of before).
                steps.append(("confirm_change", (some_id, recipient if rng.random() < 0.8 else rng.choice(USERS),
                                                 rng.choice([None, now, now - 1.0, now - 5.0]))))
            elif kind == "record_read":
                steps.append(("record_read", (recipient, sender if rng.random() < 0.8 else rng.choice(USERS),
                                              some_id)))
            else:
                steps.append(("read_mark", (rng.choice(USERS), rng.choice(USERS))))
            continue
        roll = rng.random()
        if roll < 0.40:
            batch = []
            for _ in range(rng.randint(1, 3)):
                msg_id += 1
                sender = rng.choice(USERS)
                client_id = f"c{rng.randint(1, 12)}"
                if rng.random() < 0.15:  # a message to the default room
                    batch.append(StoredMessage(msg_id, sender.title(), sender, None, None, rng.choice("xy"), now,
                                               client_id, "room"))
                    continue
                if rng.random() < 0.2:  # a message to a named room
                    room = rng.choice(ROOMS)
                    batch.append(StoredMessage(msg_id, sender.title(), sender, room.upper(), room, rng.choice("xy"),
                                               now, client_id, "room"))
                    posts.append((msg_id, room, sender))
                    continue
                to = rng.choice(USERS)
                state = rng.choice(["sent", "queued", "queued", "blocked"])
                batch.append(StoredMessage(msg_id, sender.title(), sender, to.title(), to, rng.choice("xy"), now,
                                           client_id, state, now + rng.choice([3.0, 10.0, 40.0])))
                sent.append(batch[-1])
            steps.append(("store", (batch,)))
        elif roll < 0.55:
            some_id, recipient, _ = some_message()
            steps.append(("receipt", (some_id, recipient if rng.random() < 0.8 else rng.choice(USERS))))
        elif roll < 0.65:
            some_id, _, sender = some_message()
            steps.append(("ack", (some_id, sender if rng.random() < 0.8 else rng.choice(USERS))))
        elif roll < 0.68:
            some_id, recipient, _ = some_message()
            steps.append(("confirm_late", (some_id, recipient if rng.random() < 0.8 else rng.choice(USERS))))
        elif roll < 0.74:
            steps.append(("pending_for", (rng.choice(USERS), rng.randint(0, msg_id), rng.choice([1, 3, 100]))))
        elif roll < 0.80:
            steps.append(("outcomes_for_sender", (rng.choice(USERS), rng.randint(0, msg_id),
                                                  rng.choice([-1, 1, 2, 100]))))
        elif roll < 0.87:
            before = rng.choice([None, rng.randint(1, msg_id + 2)])
            if rng.random() < 0.3:
                steps.append(("room_history", (rng.choice(ROOMS), before, rng.choice([1, 2, 5, 500]))))
                continue
            if rng.random() < 0.2:  # missed room messages: cursors set, then read with the backlog
                steps.append(("set_room_cursors", (rng.choice(USERS), {room: rng.randint(0, msg_id + 1)
                                                                      for room in ROOMS if rng.random() < 0.6})))
                continue
            if rng.random() < 0.1:  # a join: that room's cursor at the last id stored
                steps.append(("room_joined", (rng.choice(USERS), rng.choice(ROOMS))))
                continue
            if rng.random() < 0.25:
                steps.append(("room_backlog", (rng.choice(USERS), [r for r in ROOMS if rng.random() < 0.7],
                                               rng.choice([0, 1, 3, 100]))))
                continue
            # A room's name as the peer: direct history holds no room message (issue 13).
            steps.append(("history", (rng.choice(USERS), rng.choice(USERS + ROOMS), before,
                                      rng.choice([1, 2, 5, 500]), rng.choice([0, 0, rng.randint(0, msg_id + 1)]))))
        elif roll < 0.92:
            steps.append(("expire", (now - rng.choice([0.0, 5.0, 20.0]),)))
        elif roll < 0.96:
            steps.append(("purge", (now - rng.choice([0.0, 3.0, 10.0, 30.0]),
                                    rng.choice([None, now - rng.choice([5.0, 20.0, 60.0])]))))
        else:
            steps.append(("hand_over", (rng.choice(USERS), rng.randint(0, msg_id))))
    return steps


@pytest.mark.parametrize("seed", range(40))
def test_the_memory_store_answers_every_operation_as_sqlite_does(seed):
    rng = random.Random(seed)
    sqlite_ops, memory_ops = SQLiteOps(), MemoryOps()
    try:
        for number, (name, args) in enumerate(random_steps(rng, 250)):
            expected = getattr(sqlite_ops, name)(*args)
            got = getattr(memory_ops, name)(*args)
            where = f"seed {seed}, step {number}: {name}{args}"
            assert got == expected, where
            assert memory_ops.dump() == sqlite_ops.dump(), where
            assert memory_ops.last_msg_id() == sqlite_ops.last_msg_id(), where
    finally:
        sqlite_ops.db.close()


# --- The contract of base.py --------------------------------------------------------------


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def dm(msg_id: int, client_id: str, text: str = "hi") -> StoredMessage:
    return StoredMessage(msg_id, "Alice", "alice", "Bob", "bob", text, 1000.0 + msg_id, client_id, "queued", 9e9)


def test_answers_come_at_the_next_loop_turn_in_submission_order_never_inside_the_call(loop):
    store = MemoryStore()
    store.open()
    store.start(loop)
    answers = []
    store.store_message(dm(1, "a"), lambda result: answers.append(("stored", result[1])))
    store.remember_user("bob", "Bob", 1.0, lambda _: answers.append("remembered"))
    store.pending_for("bob", 0, 10, lambda found: answers.append(("pending", [m.msg_id for m in found])))
    store.record_receipt(1, "bob", lambda _: answers.append("receipt"))
    store.record_ack(1, "alice", answers.append)
    assert answers == []  # the relay sets its bookkeeping after submitting
    # An operation sees what was submitted before it, not after: the page has message 1.
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == [("stored", mailbox.NEW), "remembered", ("pending", [1]), "receipt", True]
    store.close()


def test_what_a_callback_submits_is_answered_after_everything_before_it(loop):
    store = MemoryStore()
    store.start(loop)
    answers = []

    def stored(result):
        answers.append("first")
        store.pending_for("bob", 0, 10, lambda found: answers.append("from the callback"))

    store.store_message(dm(1, "a"), stored)
    store.store_message(dm(2, "b"), lambda result: answers.append("second"))
    loop.run_until_complete(store.drain(timeout=5))
    assert answers == ["first", "second", "from the callback"]


@pytest.mark.logs_tracebacks("an operation made to raise")
def test_an_operation_that_raises_is_answered_on_error_and_changes_nothing(loop, caplog):
    store = MemoryStore()
    store.start(loop)
    answers, errors = [], []
    store.store_message(dm(0, "a"), answers.append, errors.append)
    # A page "after" None: a bug in the caller (the store numbers messages itself, so
    # no message can be one).
    store.pending_for("bob", None, 10, answers.append, errors.append)
    store.store_message(dm(0, "c"), answers.append, errors.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert [m.msg_id for m, _ in answers] == [1, 2]
    assert len(errors) == 1 and isinstance(errors[0], StoreUnavailable) and not errors[0].storage
    assert "store operation _pending_for failed" in caplog.text
    assert list(store._messages) == [1, 2] and store.last_msg_id() == 2


@pytest.mark.logs_tracebacks("operations made to raise")
def test_the_message_paths_operations_that_raise_are_answered_on_error_in_their_place(loop, caplog, monkeypatch):
    """store_fields, record_receipt and record_ack run their operation themselves (not by
    _do): one that raises is answered on_error, in submission order among the others'
    answers, logged under its name, and the next call works again."""
    store = MemoryStore()
    store.start(loop)
    answers = []
    fields = ("Alice", "alice", "Bob", "bob", "x", 1000.0, "c1", "queued", 2000.0)
    for operation in ("_store", "_deliver", "_acknowledge"):
        monkeypatch.setattr(store, operation, _raising(operation))
    store.store_fields(fields, lambda result: answers.append("stored"), lambda failure: answers.append(failure))
    store.record_receipt(1, "bob", lambda result: answers.append("receipt"), lambda failure: answers.append(failure))
    store.record_ack(1, "alice", lambda result: answers.append("ack"), lambda failure: answers.append(failure))
    monkeypatch.undo()
    store.store_fields(fields, lambda result: answers.append(result[1]), answers.append)
    loop.run_until_complete(store.drain(timeout=5))
    assert [type(a) for a in answers[:3]] == [StoreUnavailable] * 3 and not any(a.storage for a in answers[:3])
    assert [str(a) for a in answers[:3]] == [f"store operation {name} failed"
                                            for name in ("_store", "_deliver", "_acknowledge")]
    assert answers[3:] == [mailbox.NEW] and store.last_msg_id() == 1
    for name in ("_store", "_deliver", "_acknowledge"):
        assert f"store operation {name} failed" in caplog.text


def _raising(name: str):
    """A function named ``name`` that raises (a bug in the store's operation of that name)."""
    def broken(*args):
        raise RuntimeError("broken for the test")
    broken.__name__ = name
    return broken


def test_close_runs_the_answers_still_queued(loop):
    store = MemoryStore()
    store.start(loop)
    answers = []
    store.store_message(dm(1, "a"), answers.append)
    store.close()
    assert len(answers) == 1


def test_the_loading_operations_give_back_what_was_written(loop):
    from server.accounts import Account
    from server.guests import Holding

    store = MemoryStore()
    store.start(loop)
    store.remember_user("bob", "Bob", 1.0)
    store.set_block("alice", "bob", True)
    store.set_block("alice", "carol", True)
    store.set_block("alice", "carol", False)
    store.set_block("dave", "bob", True)
    store.clear_blocks("dave")
    created = []
    store.save_account("erin", Account("Erin", b"h", b"s"), created.append)
    store.save_account("erin", Account("ERIN", b"h", b"s"), created.append)
    store.save_holding("frank", Holding("Frank", b"t", 7, None))
    store.set_left_at("frank", None)
    loop.run_until_complete(store.drain(timeout=5))
    assert created == [True, False]
    assert store.known_users() == {"bob": "Bob"}
    assert store.blocks() == [("alice", "bob")]
    assert store.accounts() == {"erin": Account("Erin", b"h", b"s")}
    # A holder still noted online left at the start (see guests.load_holdings).
    assert store.guest_holdings(50.0) == {"frank": Holding("Frank", b"t", 7, 50.0)}


@pytest.mark.parametrize("store_class", [SQLiteStore, MemoryStore, RedisStore])
def test_every_store_implements_the_whole_interface_with_its_signatures(store_class):
    members = [name for name, value in vars(MessageStore).items()
               if callable(value) and not name.startswith("_")]
    assert len(members) > 20
    for name in members:
        expected = inspect.signature(getattr(MessageStore, name))
        actual = inspect.signature(getattr(store_class, name))
        assert list(actual.parameters) == list(expected.parameters), (store_class.__name__, name)


# --- --memory keeps SQLite off the message path (issue 9) -----------------------------------


def test_a_server_in_memory_serves_messages_without_ever_opening_sqlite(monkeypatch):
    """``--memory`` (no data folder) stores in Python structures: a server whose SQLite
    cannot even be opened still relays, confirms and pages history."""
    import sqlite3

    from protocol import (Accepted, Delivered, DirectMessage, HistoryPage, HistoryRequest, OutcomeAck, Queued,
                          Receipt, SendDirect, UserJoined, UserLeft)
    from server import ServerConfig, ServerThread
    from wire import WireClient

    def no_sqlite(*args, **kwargs):
        raise AssertionError("SQLite opened by a server in memory mode")

    monkeypatch.setattr(sqlite3, "connect", no_sqlite)
    notices = (UserJoined, UserLeft)
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            WireClient.login(server.host, server.port, "Alice") as alice:
        assert isinstance(server.server.store, MemoryStore)
        with WireClient.login(server.host, server.port, "Bob") as bob:
            alice.send(SendDirect("m1", "Bob", "hello"))
            accepted = alice.expect(Accepted, skip=notices)
            assert bob.expect(DirectMessage, skip=notices).text == "hello"
            bob.send(Receipt(accepted.msg_id))
            assert alice.expect(Delivered, skip=notices) == Delivered("m1", accepted.msg_id)
            alice.send(OutcomeAck(accepted.msg_id))
        alice.send(SendDirect("m2", "Bob", "later"))  # Bob has left: it waits for him
        queued = alice.expect(Queued, skip=notices)
        alice.send(HistoryRequest("h", "Bob"))
        page = alice.expect(HistoryPage, skip=notices)
        assert [(e.msg_id, e.state) for e in page.messages] == [(accepted.msg_id, "delivered"),
                                                                (queued.msg_id, "queued")]


def test_the_expiry_pass_costs_what_expires_not_the_whole_backlog(loop):
    """300,000 messages wait for someone offline; the pass every expiry interval must not
    look at each (a full scan stalls the loop for tens of milliseconds)."""
    import time

    store = MemoryStore()
    store.start(loop)
    for msg_id in range(1, 300_001):
        store._store(StoredMessage(msg_id, "Alice", "alice", "Bob", "bob", "x", 1000.0, f"c{msg_id}", "queued",
                                   1000.0 + 604_800 + msg_id / 100))
    store._store(StoredMessage(300_001, "Alice", "alice", "Carol", "carol", "x", 1000.0, "due", "queued", 1500.0))
    started = time.process_time()
    expired = store._expire(2000.0)
    took = time.process_time() - started
    assert [m.msg_id for m in expired] == [300_001]
    assert took < 0.005, f"the expiry pass took {took * 1000:.1f} ms of CPU"
    assert len(store._pending["bob"]) == 300_000


def test_a_pending_message_is_filed_in_the_bucket_of_int_of_its_expiry_over_the_bucket_length(loop):
    """The bucket number is an int, the one int(expires_at // EXPIRY_BUCKET) gives (the
    store computes it with math.floor: issue 9, round seventeen), and the expiry pass
    numbers ``now`` the same way: a message expires in the pass of its time, not before."""
    from server.stores.memory import EXPIRY_BUCKET

    rng = random.Random(17)
    store = MemoryStore()
    store.start(loop)
    expiries = [59.999999, 60.0, 60.000001, 1763712000.0, 1763712059.999999, 2.0 ** 40 + 0.5]
    expiries += [rng.uniform(0, 2.0 ** 32) for _ in range(300)] + [float(rng.randrange(10 ** 12)) for _ in range(50)]
    for msg_id, expires_at in enumerate(expiries, start=1):
        store._store(StoredMessage(msg_id, "Alice", "alice", "Bob", "bob", "x", 1.0, f"c{msg_id}", "queued",
                                   expires_at))
    for msg_id, expires_at in enumerate(expiries, start=1):
        bucket = store._pending["bob"][msg_id].bucket
        assert type(bucket) is int and bucket == int(expires_at // EXPIRY_BUCKET), expires_at
        assert msg_id in store._expiring[bucket]
    assert sorted(store._buckets) == sorted({int(e // EXPIRY_BUCKET) for e in expiries})
    # Each pass at a message's expiry takes it, and no pass just before does.
    for expires_at in sorted(set(expiries))[:40]:
        earlier = store._expire(expires_at - 1e-3 if expires_at > 1 else 0.0)
        assert all(m.expires_at <= expires_at - 1e-3 for m in earlier)
        due = store._expire(expires_at)
        assert expires_at in {m.expires_at for m in earlier + due}
