"""After "delivered" (issue 13): read receipts, typing, edit and delete of direct messages.

Real servers on 127.0.0.1 port 0 (memory, and SQLite in a temporary folder where the
file matters); wire clients send exactly the frames each test wants. The frames exist only
for sessions whose hello asked for their feature (``read``, ``typing``, ``edits``).
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import queue
import threading
import time

import pytest

import const
from protocol import (
    EDITS, READ, TYPING, Accepted, Delete, Deleted, Delivered, DirectMessage, Done, Edit, Edited, EditReceipt,
    ErrorReply, Hello, HistoryPage, OutcomeAck, HistoryRequest, Ping, Pong, Queued, Read, Receipt, SendDirect,
    Settings, Typing,
    UserJoined, UserLeft, Welcome,
)
from client import ChatClient
from client.errors import RequestFailed
from client.terminal import TerminalUI
from server import ServerConfig, ServerThread, afterdelivered
from server.store import StoreUnavailable
from test_client_terminal import _InputUntil
from wire import WireClient

NOTICES = (UserJoined, UserLeft)
ALL = (READ, TYPING, EDITS)
PASSWORD = "correct horse"


def log_in(server, name: str, features=ALL, password: str | None = None, register: bool = False) -> WireClient:
    client = WireClient(server.host, server.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register, None, features))
    client.welcome = client.expect(Welcome, skip=NOTICES)
    return client


def dm(sender: WireClient, recipient: WireClient, request_id: str, to: str, text: str) -> int:
    """``sender`` sends a direct message that ``recipient`` receives and confirms; its msg_id."""
    sender.send(SendDirect(request_id, to, text))
    msg_id = sender.expect(Accepted, skip=NOTICES).msg_id
    got = recipient.expect(DirectMessage, skip=NOTICES + (Typing,))
    assert got.msg_id == msg_id
    recipient.send(Receipt(msg_id))
    sender.expect(Delivered, skip=NOTICES)
    sender.send(OutcomeAck(msg_id))
    return msg_id


def ok(client: WireClient, request) -> Done:
    """``client`` sends ``request`` and gets its ``ok``."""
    client.send(request)
    return client.expect(Done, skip=NOTICES)


def no(client: WireClient, *kinds: type, quiet: float = 0.5) -> list:
    events = client.drain(quiet=quiet)
    assert not [e for e in events if isinstance(e, kinds)], events
    return events


@pytest.fixture(params=["sqlite", "redis"])
def durable_config(request, tmp_path):
    """The configuration of a server whose store outlives it: SQLite in a data folder, or a
    Redis of its own (``--cluster``), which runs as long as the test."""
    if request.param == "redis":
        from redisserver import RedisServer
        with RedisServer(tmp_path / "redis") as redis:
            yield ServerConfig(host="127.0.0.1", port=0, cluster_url=redis.url)
        return
    yield ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)


@pytest.fixture
def durable_server(durable_config):
    with ServerThread(durable_config) as srv:
        yield srv


# --- Features: today's clients see nothing new -----------------------------------------------


def test_the_welcome_names_the_features_and_the_setting_and_old_clients_get_none_of_the_frames(server):
    with log_in(server, "Alice") as alice, log_in(server, "Bob", features=None) as bob:
        assert alice.welcome.features == ALL and alice.welcome.read_receipts is True
        assert bob.welcome.features is None and bob.welcome.read_receipts is None
        alice.drain(quiet=0.2)
        msg_id = dm(bob, alice, "m1", "alice", "hi")
        alice.send(Read("Bob", msg_id))
        alice.send(Typing("Bob"))
        no(bob, Read, Typing)
        # A frame of a feature this session did not ask for is refused, not ignored.
        bob.send(Edit("e1", msg_id, "changed"))
        assert bob.expect_error("unknown_type", skip=NOTICES).request_id == "e1"
        bob.send(Typing("Alice"))
        assert bob.expect_error("unknown_type", skip=NOTICES).code == "unknown_type"


# --- Read -------------------------------------------------------------------------------------


def test_read_reaches_the_sender_and_the_readers_other_sessions_and_only_moves_forward(server):
    with log_in(server, "Alice", password=PASSWORD, register=True) as alice, \
            log_in(server, "Alice", password=PASSWORD) as alice2, log_in(server, "Bob") as bob:
        first = dm(bob, alice, "m1", "alice", "one")
        second = dm(bob, alice, "m2", "alice", "two")
        alice2.drain(quiet=0.3)
        alice.send(Read("bob", second))
        assert bob.expect(Read, skip=NOTICES) == Read("Bob", second, "Alice")
        assert alice2.expect(Read, skip=NOTICES + (DirectMessage,)) == Read("Bob", second, "Alice")
        alice.send(Read("Bob", first))  # an older mark says nothing new
        no(bob, Read)
        # A message that is not one Bob sent Alice: refused.
        alice.send(Read("Bob", 999999))
        assert alice.expect_error("unknown_message", skip=NOTICES + (Read,)).code == "unknown_message"


def test_read_receipts_off_means_nothing_passes_in_either_direction_and_survives_a_restart(durable_config):
    config = durable_config
    with ServerThread(config) as server:
        with log_in(server, "Alice", password=PASSWORD, register=True) as alice, log_in(server, "Bob") as bob:
            alice.send(Settings("s1", False))
            assert alice.expect(Done, skip=NOTICES).request_id == "s1"
            to_alice = dm(bob, alice, "m1", "alice", "hi Alice")
            to_bob = dm(alice, bob, "m2", "bob", "hi Bob")
            # Alice may not send reads or typing; Bob's reach her not.
            alice.send(Read("Bob", to_alice))
            assert alice.expect_error("forbidden", skip=NOTICES).code == "forbidden"
            alice.send(Typing("Bob"))
            assert alice.expect_error("forbidden", skip=NOTICES).code == "forbidden"
            bob.send(Read("Alice", to_bob))
            bob.send(Typing("Alice"))
            no(alice, Read, Typing)
            no(bob, Read, Typing)
            # Nor does the history tell her how far Bob read.
            alice.send(HistoryRequest("h1", "Bob"))
            alice.expect(HistoryPage, skip=NOTICES)
            no(alice, Read)
    with ServerThread(config) as server:  # the setting is the server's: kept across a restart
        with log_in(server, "Alice", password=PASSWORD) as alice:
            assert alice.welcome.read_receipts is False
            alice.send(Settings("s2", True))
            alice.expect(Done, skip=NOTICES)
        with log_in(server, "Alice", password=PASSWORD) as alice:
            assert alice.welcome.read_receipts is True


def test_a_sender_offline_at_the_read_learns_it_with_the_history(server):
    with log_in(server, "Bob", password=PASSWORD, register=True) as bob, log_in(server, "Alice") as alice:
        msg_id = dm(bob, alice, "m1", "alice", "read me later")
        bob.close()
        alice.send(Read("Bob", msg_id))
        alice.drain(quiet=0.3)
        with log_in(server, "Bob", password=PASSWORD) as bob:
            bob.send(HistoryRequest("h1", "Alice"))
            assert [m.msg_id for m in bob.expect(HistoryPage, skip=NOTICES).messages] == [msg_id]
            assert bob.expect(Read, skip=NOTICES) == Read("Bob", msg_id, "Alice")


def test_the_history_page_says_how_far_the_peer_read_and_the_terminal_says_read_not_delivered(server):
    # /history said "(delivered)" for a message also read: the page did not carry the
    # mark, and the "read" frame after it came too late for the lines already printed.
    with log_in(server, "Bob", password=PASSWORD, register=True) as bob, \
            log_in(server, "Alice", password=PASSWORD, register=True) as alice:
        first = dm(alice, bob, "m1", "bob", "the exam is on Thursday")
        second = dm(alice, bob, "m2", "bob", "room 205")
        alice.close()
        bob.send(Read("Alice", first))
        bob.drain(quiet=0.3)
        with log_in(server, "Alice", password=PASSWORD) as alice:
            alice.send(HistoryRequest("h1", "Bob"))
            page = alice.expect(HistoryPage, skip=NOTICES)
            assert ([m.msg_id for m in page.messages], page.read_up_to) == ([first, second], first)
            assert alice.expect(Read, skip=NOTICES) == Read("Alice", first, "Bob")  # after it, as before
        with log_in(server, "Carol") as carol:  # no read mark to tell: none on the page
            carol.send(HistoryRequest("h2", "Bob"))
            assert carol.expect(HistoryPage, skip=NOTICES).read_up_to is None
        done = threading.Event()
        out = io.StringIO()
        ui = TerminalUI("Alice", server.host, server.port, timeout=10, stdin=_InputUntil("/history Bob\n", done),
                        stdout=out, stderr=out, interactive=False, password=PASSWORD)
        runner = threading.Thread(target=ui.run, daemon=True)
        runner.start()
        deadline = time.monotonic() + 10
        while "room 205" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.05)
        done.set()
        runner.join(10)
        lines = out.getvalue().splitlines()
        assert [line.split("] ", 1)[1] for line in lines if "you → Bob" in line] == [
            "you → Bob: the exam is on Thursday (read)", "you → Bob: room 205 (delivered)"], lines


def test_a_blocked_user_gets_no_read_or_typing_from_the_blocker(server):
    from protocol import Block
    with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
        msg_id = dm(bob, alice, "m1", "alice", "hello")
        alice.send(Block("b1", "Bob"))
        alice.expect(Done, skip=NOTICES)
        alice.send(Read("Bob", msg_id))
        alice.send(Typing("Bob"))
        bob.send(Typing("Alice"))
        no(bob, Read, Typing)
        no(alice, Typing)


# --- Typing -----------------------------------------------------------------------------------


def test_typing_is_forwarded_at_most_once_per_interval_and_a_message_lets_the_next_through(server):
    with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob, \
            log_in(server, "Carol", features=(READ,)) as carol:
        for _ in range(5):
            alice.send(Typing("bob"))
        assert bob.expect(Typing, skip=NOTICES) == Typing("Bob", "Alice")
        no(bob, Typing)  # the other four within the interval are coalesced
        dm(alice, bob, "m1", "bob", "done typing")
        alice.send(Typing("Bob"))  # the message cleared it: the next one passes at once
        assert bob.expect(Typing, skip=NOTICES) == Typing("Bob", "Alice")
        alice.send(Typing("Carol"))  # Carol did not ask for typing
        no(carol, Typing)
        alice.send(Typing("nobody-at-all"))
        assert alice.expect_error("unknown_recipient", skip=NOTICES).code == "unknown_recipient"


# --- Edit and delete ---------------------------------------------------------------------------


def test_edit_and_delete_reach_the_recipient_and_the_senders_other_sessions_and_history_shows_them(server):
    with log_in(server, "Alice", password=PASSWORD, register=True) as alice, \
            log_in(server, "Alice", password=PASSWORD) as alice2, log_in(server, "Bob") as bob:
        msg_id = dm(alice, bob, "m1", "bob", "teh typo")
        alice2.drain(quiet=0.3)
        alice.send(Edit("e1", msg_id, "the typo"))
        done = alice.expect(Done, skip=NOTICES)
        edited = bob.expect(Edited, skip=NOTICES)
        assert (edited.msg_id, edited.sender, edited.to, edited.text) == (msg_id, "Alice", "Bob", "the typo")
        assert done == Done("e1", edited.at)  # when it was stamped, as its edited says
        assert alice2.expect(Edited, skip=NOTICES) == edited
        bob.send(EditReceipt(msg_id))
        # A resend: answered, and told again as the change was (its first answer may have
        # been lost with the edit made, and nobody told: test_rooms_after_delivered.py,
        # "an edit whose answer was lost"); a client applies it once, by its ``at``.
        alice.send(Edit("e1", msg_id, "the typo"))
        assert alice.expect(Done, skip=NOTICES) == done
        assert bob.expect(Edited, skip=NOTICES) == edited
        assert alice2.expect(Edited, skip=NOTICES) == edited
        no(bob, Edited)
        bob.send(HistoryRequest("h1", "Alice"))
        [entry] = bob.expect(HistoryPage, skip=NOTICES).messages
        assert (entry.text, entry.edited, entry.deleted) == ("the typo", True, False)
        alice.send(Delete("d1", msg_id))
        done = alice.expect(Done, skip=NOTICES)
        deleted = bob.expect(Deleted, skip=NOTICES)
        assert deleted.msg_id == msg_id and done == Done("d1", deleted.at) and deleted.at > edited.at
        assert alice2.expect(Deleted, skip=NOTICES).msg_id == msg_id
        bob.send(HistoryRequest("h2", "Alice"))
        [entry] = bob.expect(HistoryPage, skip=NOTICES).messages
        assert (entry.text, entry.edited, entry.deleted) == ("", False, True)
        alice.send(Edit("e2", msg_id, "back again"))
        assert alice.expect_error("unknown_message", skip=NOTICES + (Deleted,)).request_id == "e2"


def test_nobody_edits_or_deletes_anothers_message(server):
    with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
        msg_id = dm(alice, bob, "m1", "bob", "mine")
        bob.send(Edit("e1", msg_id, "yours now"))
        assert bob.expect_error("forbidden", skip=NOTICES).request_id == "e1"
        bob.send(Delete("d1", msg_id))
        assert bob.expect_error("forbidden", skip=NOTICES).request_id == "d1"
        no(alice, Edited, Deleted)


def edited_until_refused(alice: WireClient, bob: WireClient, msg_id: int, within: float = 5.0) -> ErrorReply:
    """Alice edits her message ``msg_id`` to Bob again and again until the server refuses
    it (its window over): that error, within ``within`` seconds."""
    deadline = time.monotonic() + within
    for attempt in range(10**6):
        alice.send(Edit(f"e{attempt}", msg_id, f"changed {attempt}"))
        # This edit's own answer (its done or its error), by its id: a frame of
        # another kind read here would leave the next answers one behind.
        answer = alice.next()
        while getattr(answer, "request_id", None) != f"e{attempt}":
            answer = alice.next()
        if isinstance(answer, ErrorReply):
            return answer
        assert time.monotonic() < deadline, "never too late"
        bob.drain(quiet=0.1)
    raise AssertionError("never refused")


def test_past_the_window_an_edit_or_delete_is_too_late():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, edit_window=0.5)) as server:
        with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
            msg_id = dm(alice, bob, "m1", "bob", "final")
            assert edited_until_refused(alice, bob, msg_id).code == "too_late"  # the window is 0.5 s
            alice.send(Delete("d1", msg_id))
            assert alice.expect_error("too_late", skip=NOTICES).request_id == "d1"


class _SteppedClock:
    """The ``time`` module as server/afterdelivered.py reads it, its wall clock ``by``
    seconds off the real one (a step), its monotonic clock the real one."""

    def __init__(self, by: float) -> None:
        self.by = by
        self.monotonic = time.monotonic

    def time(self) -> float:
        return time.time() + self.by


@pytest.fixture(params=["memory", "sqlite", "redis"])
def any_store_config(request, tmp_path):
    """A server's configuration on each store: memory, SQLite, a Redis of its own."""
    if request.param == "redis":
        from redisserver import RedisServer
        with RedisServer(tmp_path / "redis") as redis:
            yield ServerConfig(host="127.0.0.1", port=0, cluster_url=redis.url)
        return
    yield ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path if request.param == "sqlite" else None)


def test_a_wall_clock_stepped_forward_does_not_refuse_a_fresh_messages_edit(any_store_config, monkeypatch):
    with ServerThread(any_store_config) as server:
        with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
            msg_id = dm(alice, bob, "m1", "bob", "fresh")
            server.call(server.server.relay.after.look_at_clock)  # the server's sweep looks, unstepped
            monkeypatch.setattr(afterdelivered, "time", _SteppedClock(3600.0))
            alice.send(Edit("e1", msg_id, "fresh, edited"))
            assert isinstance(alice.expect((Done, ErrorReply), skip=NOTICES), Done)


def test_a_wall_clock_stepped_back_does_not_let_an_old_message_be_edited(any_store_config, monkeypatch):
    with ServerThread(dataclasses.replace(any_store_config, edit_window=1.0)) as server:
        with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
            msg_id = dm(alice, bob, "m1", "bob", "old soon")
            server.call(server.server.relay.after.look_at_clock)
            monkeypatch.setattr(afterdelivered, "time", _SteppedClock(-3600.0))
            # Too late a second after it was sent, on the monotonic clock, not in an hour.
            assert edited_until_refused(alice, bob, msg_id).code == "too_late"


def test_edit_and_delete_reach_a_recipient_that_was_offline_exactly_once(durable_server):
    server = durable_server
    with log_in(server, "Bob", password=PASSWORD, register=True) as bob, log_in(server, "Alice") as alice:
        kept = dm(alice, bob, "m1", "bob", "to be edited")
        gone = dm(alice, bob, "m2", "bob", "to be deleted")
        bob.close()
        alice.send(Edit("e1", kept, "edited while you were away"))
        alice.expect(Done, skip=NOTICES)
        alice.send(Delete("d1", gone))
        alice.expect(Done, skip=NOTICES)
    with log_in(server, "Bob", password=PASSWORD) as bob:
        edited = bob.expect(Edited, skip=NOTICES)
        assert (edited.msg_id, edited.text) == (kept, "edited while you were away")
        assert bob.expect(Deleted, skip=NOTICES).msg_id == gone
        # Not confirmed yet: told again at the next login. Confirm one only.
        bob.send(EditReceipt(kept))
        bob.drain(quiet=0.3)
    with log_in(server, "Bob", password=PASSWORD) as bob:
        assert bob.expect(Deleted, skip=NOTICES).msg_id == gone
        no(bob, Edited)
        bob.send(EditReceipt(gone))
        bob.send(EditReceipt(999999))
        assert bob.expect_error("unknown_message", skip=NOTICES).code == "unknown_message"
    with log_in(server, "Bob", password=PASSWORD) as bob:
        no(bob, Edited, Deleted)


def test_an_edit_made_while_the_receipt_of_the_one_before_was_on_its_way_is_told_at_the_next_login(durable_server):
    # Bob's client confirms the first edit; the second was stored before that receipt came
    # and written to Bob, who dropped before reading it. Before, the receipt named only the
    # message and confirmed its latest change, so the second edit was never told again.
    server = durable_server
    with log_in(server, "Bob", password=PASSWORD, register=True) as bob, log_in(server, "Alice") as alice:
        msg_id = dm(alice, bob, "m1", "bob", "draft")
        alice.send(Edit("e1", msg_id, "draft two"))
        alice.expect(Done, skip=NOTICES)
        first = bob.expect(Edited, skip=NOTICES)
        alice.send(Edit("e2", msg_id, "final"))
        alice.expect(Done, skip=NOTICES)
        bob.send(EditReceipt(msg_id, first.at))  # of "draft two"; "final" is in Bob's socket, unread
        bob.send(Receipt(987654))  # answered after the receipt before it: the store has taken it
        bob.expect_error("unknown_message", skip=NOTICES + (Edited,))
    with log_in(server, "Bob", password=PASSWORD) as bob:
        told = bob.expect(Edited, skip=NOTICES)
        assert (told.msg_id, told.text) == (msg_id, "final") and told.at > first.at
        bob.send(EditReceipt(msg_id, told.at))
        bob.send(Receipt(987654))
        bob.expect_error("unknown_message", skip=NOTICES)
    with log_in(server, "Bob", password=PASSWORD) as bob:
        no(bob, Edited, Deleted)


def test_a_device_away_while_another_took_the_changes_in_is_told_them_at_its_login(any_store_config):
    # Bob's phone was away while his laptop stayed online and confirmed Alice's edit and
    # delete; and on the laptop Bob edited a message he had sent her. Before, the phone was
    # told none of it: the changes were confirmed (told no more), the since page brings
    # only messages after the last one it had, and Bob's own edit went to his sessions online.
    _changes_while_the_phone_was_away(any_store_config)


def test_the_changes_a_device_missed_come_page_after_page_past_an_exactly_full_one():
    # Pages of two (max_pending_receipts) for its three changes: the first page is full,
    # so another is asked for (afterdelivered._tell_missed), which brings the third.
    _changes_while_the_phone_was_away(ServerConfig(host="127.0.0.1", port=0, max_pending_receipts=2))


def _changes_while_the_phone_was_away(config: ServerConfig) -> None:
    with ServerThread(config) as server:
        with log_in(server, "Bob", password=PASSWORD, register=True) as laptop, log_in(server, "Alice") as alice:
            with log_in(server, "Bob", password=PASSWORD) as phone:
                kept = dm(alice, laptop, "m1", "bob", "to be edited")
                gone = dm(alice, laptop, "m2", "bob", "to be deleted")
                mine = dm(laptop, alice, "m3", "alice", "typo")
                phone.send(Ping("last"))
                heard = phone.expect(Pong, skip=NOTICES + (DirectMessage, Accepted, Delivered)).now
            alice.send(Edit("e1", kept, "edited while the phone was away"))
            alice.expect(Done, skip=NOTICES)
            alice.send(Delete("d1", gone))
            alice.expect(Done, skip=NOTICES)
            for _ in range(2):
                change = laptop.expect((Edited, Deleted), skip=NOTICES)
                laptop.send(EditReceipt(change.msg_id, change.at))  # the laptop took both in
            laptop.send(Edit("e2", mine, "no typo"))
            laptop.expect(Done, skip=NOTICES)
            alice.expect(Edited, skip=NOTICES)
            laptop.send(Receipt(987654))  # answered after the receipts before it: stored
            laptop.expect_error("unknown_message", skip=NOTICES)
            phone = WireClient(server.host, server.port)
            phone.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, False, None, ALL, None, heard))
            phone.expect(Welcome, skip=NOTICES)
            kinds = (Edited, Deleted)
            with phone:
                told = [e for e in phone.drain(quiet=0.5, until=lambda got: len(
                    [e for e in got if isinstance(e, kinds)]) >= 3) if isinstance(e, kinds)]
                assert sorted((type(e).__name__, e.msg_id, getattr(e, "text", None)) for e in told) == sorted([
                    ("Edited", kept, "edited while the phone was away"), ("Deleted", gone, None),
                    ("Edited", mine, "no typo")]), told
            # A client that does not say when it heard (an older one) is told none: confirmed.
            with log_in(server, "Bob", password=PASSWORD) as older:
                no(older, Edited, Deleted)


def test_a_message_deleted_before_it_was_delivered_comes_flagged_and_pages_flag_it_too(durable_server):
    # It came as a dm with an empty text (an empty line on the terminal), then "deleted":
    # now the dm itself says so, and history and since pages flag it as every deleted one.
    from protocol import SincePage, SinceRequest
    server = durable_server
    for name in ("Bob", "Carol"):
        with log_in(server, name, password=PASSWORD, register=True) as gone_away:
            gone_away.close()
    with log_in(server, "Alice") as alice:
        alice.send(SendDirect("m1", "bob", "oops, wrong person"))
        gone = alice.expect(Queued, skip=NOTICES).msg_id
        alice.send(SendDirect("m2", "bob", "this one stays"))
        kept = alice.expect(Queued, skip=NOTICES).msg_id
        alice.send(Delete("d1", gone))
        alice.expect(Done, skip=NOTICES)
        with log_in(server, "Bob", features=ALL + ("since",), password=PASSWORD) as bob:
            first = bob.expect(DirectMessage, skip=NOTICES)
            assert first == DirectMessage(gone, "Alice", "Bob", "", first.sent_at, True)
            second = bob.expect(DirectMessage, skip=NOTICES)
            assert (second.msg_id, second.text, second.deleted) == (kept, "this one stays", None)
            assert bob.expect(Deleted, skip=NOTICES).msg_id == gone  # told until confirmed, as before
            bob.send(Receipt(gone))
            bob.send(Receipt(kept))
            bob.send(EditReceipt(gone))
            bob.send(HistoryRequest("h1", "Alice", 10))
            page = bob.expect(HistoryPage, skip=NOTICES + (Read,))
            assert [(e.msg_id, e.text, e.deleted) for e in page.messages] == \
                [(gone, "", True), (kept, "this one stays", False)]
            bob.send(SinceRequest("s1", 0, 10))
            since = bob.expect(SincePage, skip=NOTICES + (Read,))
            assert [(e.msg_id, e.text, e.deleted) for e in since.messages] == \
                [(gone, "", True), (kept, "this one stays", False)]
        # A session without the edits feature gets the same dm: the flag is a key it ignores.
        alice.send(SendDirect("m3", "carol", "never mind"))
        gone = alice.expect(Queued, skip=NOTICES + (Delivered,)).msg_id
        alice.send(Delete("d2", gone))
        alice.expect(Done, skip=NOTICES + (Delivered,))
        with log_in(server, "Carol", features=(), password=PASSWORD) as carol:
            assert carol.expect(DirectMessage, skip=NOTICES).deleted is True


def test_a_deleted_messages_text_is_gone_from_the_sqlite_files(tmp_path):
    secret = "the combination is 31-41-59-26"
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as server:
        with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
            msg_id = dm(alice, bob, "m1", "bob", secret)
            kept = dm(alice, bob, "m2", "bob", "this one stays")
            alice.send(Delete("d1", msg_id))
            alice.expect(Done, skip=NOTICES)
            # While the server runs, right after the answer: the database, its log, all of it.
            files = [path for path in tmp_path.rglob("*") if path.is_file()]
            assert config.database in files, files
            data = b"".join(path.read_bytes() for path in files)
            assert b"this one stays" in data  # the reading does find text that was not deleted
            assert secret.encode() not in data
    data = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert secret.encode() not in data and b"this one stays" in data and kept


async def _redis_values(url: str) -> bytes:
    """Every value of every key in the Redis at ``url``, joined (whatever their type)."""
    from resp import RedisClient
    reads = {b"hash": ("HGETALL",), b"string": ("GET",), b"set": ("SMEMBERS",), b"zset": ("ZRANGE", 0, -1),
             b"list": ("LRANGE", 0, -1), b"stream": ("XRANGE", "-", "+")}
    def flat(value) -> bytes:
        if isinstance(value, (list, tuple)):
            return b"\n".join(flat(v) for v in value)
        return value if isinstance(value, bytes) else str(value).encode()
    async with RedisClient(url) as redis:
        keys = await redis.execute("KEYS", "*")
        kinds = await redis.pipeline([("TYPE", key) for key in keys])
        kinds = [kind.encode() if isinstance(kind, str) else kind for kind in kinds]
        values = await redis.pipeline([(reads[kind][0], key, *reads[kind][1:]) for key, kind in zip(keys, kinds)])
    return flat(values)


def _files(folder, leave_out) -> bytes:
    data = []
    for path in folder.rglob("*"):
        if path != leave_out:
            try:
                data.append(path.read_bytes())
            except (FileNotFoundError, IsADirectoryError):  # a file the rewrite removed meanwhile
                pass
    return b"".join(data)


def test_a_deleted_messages_text_is_gone_from_redis_and_from_its_append_only_file_once_rewritten(tmp_path):
    """As docs/cluster.md says: blanked in Redis at once; its append-only file keeps the
    old text until ``BGREWRITEAOF``."""
    import asyncio
    from redisserver import RedisServer
    from resp import RedisClient
    secret = "the combination is 31-41-59-26"
    with RedisServer(tmp_path / "redis", appendfsync="always") as redis, \
            ServerThread(ServerConfig(host="127.0.0.1", port=0, cluster_url=redis.url)) as server:
        with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob:
            msg_id = dm(alice, bob, "m1", "bob", secret)
            dm(alice, bob, "m2", "bob", "this one stays")
            alice.send(Delete("d1", msg_id))
            alice.expect(Done, skip=NOTICES)
            data = asyncio.run(_redis_values(redis.url))
            assert b"this one stays" in data  # the reading does find text that was not deleted
            assert secret.encode() not in data
            assert secret.encode() in _files(redis.workdir, redis.log_path)  # until the rewrite

            async def rewrite() -> None:
                async with RedisClient(redis.url) as client:
                    await client.execute("BGREWRITEAOF")
                    deadline = time.monotonic() + 10
                    while b"aof_rewrite_in_progress:0" not in (info := await client.execute("INFO", "persistence")) \
                            or b"aof_rewrite_scheduled:0" not in info:
                        assert time.monotonic() < deadline, "no rewrite within 10 s"
                        await asyncio.sleep(0.05)
            asyncio.run(rewrite())
            deadline = time.monotonic() + 10
            while secret.encode() in (files := _files(redis.workdir, redis.log_path)):
                assert time.monotonic() < deadline, "the rewritten append-only file still has the text"
                time.sleep(0.05)
            assert b"this one stays" in files


# --- The client library and the terminal ------------------------------------------------------


def _next(client, kind: type, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = client.events.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {kind.__name__} within {timeout} s") from None
        if isinstance(event, kind):
            return event


def test_the_client_library_reads_edits_deletes_and_confirms_edits(server, clients):
    alice = ChatClient("Alice", "127.0.0.1", server.port, password=PASSWORD, register=True)
    bob = ChatClient("Bob", "127.0.0.1", server.port, password=PASSWORD, register=True)
    clients.extend([alice, bob])
    assert alice.connect(timeout=10).read_receipts is True
    bob.connect(timeout=10)
    sent = alice.send_direct("Bob", "helo")
    assert sent.wait({"delivered"}, timeout=10)
    got = _next(bob, DirectMessage)
    bob.typing("Alice")
    assert _next(alice, Typing) == Typing("Alice", "Bob")
    bob.mark_read("Alice", got.msg_id)
    assert _next(alice, Read) == Read("Alice", got.msg_id, "Bob")
    edited_at = alice.edit(sent.msg_id, "hello")  # when the change was stamped, as Bob is told
    assert _next(bob, Edited) == Edited(sent.msg_id, "Alice", "Bob", "hello", edited_at)
    with pytest.raises(RequestFailed) as refused:
        bob.delete(sent.msg_id)
    assert refused.value.code == "forbidden"
    deleted_at = alice.delete(sent.msg_id)
    assert _next(bob, Deleted) == Deleted(sent.msg_id, "Alice", "Bob", deleted_at) and deleted_at > edited_at
    alice.close()
    bob.close()
    # Bob's library confirmed the edit and the delete: his next session is told neither again.
    with log_in(server, "Bob", password=PASSWORD) as again:
        no(again, Edited, Deleted)


def test_receipts_turned_off_on_one_device_are_told_to_the_others_which_stop_sending_reads(server, clients):
    """Alice turns receipts off on her phone; her laptop, online meanwhile, went on sending
    reads and typing (refused in English) until its next login. Now it is told at once (a
    settings frame without id), its library stops sending them, and nothing is refused."""
    laptop = ChatClient("Alice", "127.0.0.1", server.port, password=PASSWORD, register=True)
    clients.append(laptop)
    assert laptop.connect(timeout=10).read_receipts is True
    with log_in(server, "Alice", password=PASSWORD) as phone, log_in(server, "Alice", password=PASSWORD) as tablet, \
            log_in(server, "Bob") as bob:
        tablet.drain(quiet=0.2)
        bob.send(SendDirect("m1", "Alice", "did you read it?"))
        msg_id = bob.expect(Accepted, skip=NOTICES).msg_id
        _next(laptop, DirectMessage)
        phone.send(Settings("s1", False))
        assert phone.expect(Done, skip=NOTICES + (DirectMessage,)).request_id == "s1"
        no(phone, Settings)  # the one who asked has its answer
        assert tablet.expect(Settings, skip=NOTICES + (DirectMessage,)) == Settings(None, False)
        assert _next(laptop, Settings) == Settings(None, False)
        assert laptop.read_receipts is False
        laptop.mark_read("Bob", msg_id)
        laptop.typing("Bob")
        no(bob, Read, Typing)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # nothing refused: nothing was sent
            try:
                event = laptop.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            assert not isinstance(event, ErrorReply), event
        # Turned on again from the tablet: the laptop reads again.
        tablet.send(Settings("s2", True))
        assert _next(laptop, Settings) == Settings(None, True)
        laptop.mark_read("Bob", msg_id)
        assert bob.expect(Read, skip=NOTICES + (Delivered,)) == Read("Bob", msg_id, "Alice")


def test_the_terminal_prints_read_typing_edit_and_delete_and_marks_what_it_printed_read(server):
    with log_in(server, "Bob") as bob:
        done = threading.Event()
        out = io.StringIO()
        ui = TerminalUI("Alice", server.host, server.port, timeout=10, stdin=_InputUntil("@Bob hi\n", done),
                        stdout=out, stderr=out, interactive=False)
        runner = threading.Thread(target=ui.run, daemon=True)
        runner.start()
        got = bob.expect(DirectMessage, skip=NOTICES)
        bob.send(Receipt(got.msg_id))
        bob.send(Typing("Alice"))
        bob.send(SendDirect("b1", "alice", "hi Alice"))
        mine = bob.expect(Accepted, skip=NOTICES).msg_id
        # Alice's terminal printed it, so it tells the server she has read it.
        assert bob.expect(Read, skip=NOTICES + (Delivered,)) == Read("Bob", mine, "Alice")
        bob.send(Read("Alice", got.msg_id))
        bob.send(Edit("e1", mine, "hi again, Alice"))
        bob.expect(Done, skip=NOTICES + (Delivered,))
        bob.send(Delete("d1", mine))
        bob.expect(Done, skip=NOTICES + (Delivered,))
        deadline = time.monotonic() + 10
        wanted = ["✓✓ read by Bob (up to message", "… Bob is typing", f"✎ Bob edited message {mine}: hi again, Alice",
                  f"✗ Bob deleted message {mine}"]
        while not all(any(w in line for line in out.getvalue().splitlines()) for w in wanted):
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.05)
        done.set()
        runner.join(10)


def test_the_terminal_shows_a_message_deleted_before_it_came_as_one_line_not_an_empty_one(server):
    # Bob offline; Alice sends, then deletes; Bob logs in: his terminal printed an empty
    # "Alice → you:" line, then "✗ Alice deleted message N".
    with log_in(server, "Bob", password=PASSWORD, register=True) as bob:
        bob.close()
    with log_in(server, "Alice") as alice:
        alice.send(SendDirect("m1", "bob", "not for you"))
        gone = alice.expect(Queued, skip=NOTICES).msg_id
        alice.send(Delete("d1", gone))
        alice.expect(Done, skip=NOTICES)
        alice.send(SendDirect("m2", "bob", "after that"))
        alice.expect(Queued, skip=NOTICES)
        done = threading.Event()
        out = io.StringIO()
        ui = TerminalUI("Bob", server.host, server.port, timeout=10, stdin=_InputUntil("", done),
                        stdout=out, stderr=out, interactive=False, password=PASSWORD)
        runner = threading.Thread(target=ui.run, daemon=True)
        runner.start()
        # Both confirmed (the deleted one too), and the delete's news confirmed as well.
        delivered = {alice.expect(Delivered, skip=NOTICES + (Read,)).msg_id for _ in range(2)}
        assert gone in delivered
        deadline = time.monotonic() + 10
        while "after that" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.05)
        done.set()
        runner.join(10)
    lines = out.getvalue().splitlines()
    assert [line for line in lines if "deleted" in line] == [f"✗ Alice deleted message {gone}"], lines
    assert not [line for line in lines if line.rstrip().endswith("→ you:")], lines


def test_a_guest_names_new_holder_does_not_inherit_the_switch():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0)) as server:
        with log_in(server, "Zoe") as zoe:
            zoe.send(Settings("s1", False))
            zoe.expect(Done, skip=NOTICES)
        deadline = time.monotonic() + 10
        while True:  # the name is free once the server has seen the first Zoe leave
            with log_in_or_refused(server, "Zoe") as (other, welcome):
                if welcome is not None:
                    assert welcome.read_receipts is True
                    break
            assert time.monotonic() < deadline, "the name never came free"
            time.sleep(0.05)


def test_the_changes_a_device_missed_that_the_store_could_not_read_come_once_it_works_again(server):
    # The store failed the read of what the phone missed: it is asked again when the store
    # recovers (relay.tell_when_recovered), not forgotten until the phone's next login.
    store = server.server.relay.store
    real, calls = store.dm_changes, []

    def failing_once(*args):
        calls.append(args)
        if len(calls) == 1:
            on_error = args[-1]
            asyncio.get_running_loop().call_soon(on_error, StoreUnavailable("the disk failed"))
            return
        real(*args)

    with log_in(server, "Bob", password=PASSWORD, register=True) as laptop, log_in(server, "Alice") as alice:
        msg_id = dm(alice, laptop, "m1", "bob", "draft")
        laptop.send(Ping("last"))
        heard = laptop.expect(Pong, skip=NOTICES).now
        alice.send(Edit("e1", msg_id, "final"))
        alice.expect(Done, skip=NOTICES)
        change = laptop.expect(Edited, skip=NOTICES)
        laptop.send(EditReceipt(msg_id, change.at))
        laptop.send(Receipt(987654))
        laptop.expect_error("unknown_message", skip=NOTICES)
        server.call(setattr, store, "dm_changes", failing_once)
        phone = WireClient(server.host, server.port)
        phone.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, False, None, ALL, None, heard))
        phone.expect(Welcome, skip=NOTICES)
        with phone:
            no(phone, Edited, quiet=0.5)
            assert len(calls) == 1
            server.call(server.server.relay._store_recovered)
            told = phone.expect(Edited, skip=NOTICES)
            assert (told.msg_id, told.text) == (msg_id, "final") and len(calls) == 2
            no(phone, Edited, quiet=0.3)


def test_a_guest_names_new_holder_is_told_no_change_of_the_earlier_holders_messages():
    # "Changes a device missed" tells a client the changes since the time it says: a new
    # holder of a guest name that says "since the beginning" must still see nothing of the
    # earlier holder's messages (its epoch), as history and since do not show them.
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0)) as server:
        with log_in(server, "Alice") as alice:
            with log_in(server, "Zoe") as zoe:
                msg_id = dm(alice, zoe, "m1", "Zoe", "for the first Zoe")
            alice.send(Edit("e1", msg_id, "still for the first Zoe"))
            alice.expect(Done, skip=NOTICES)
            deadline = time.monotonic() + 10
            while True:  # the name is free once the server has seen the first Zoe leave
                with log_in_or_refused(server, "Zoe", last_heard=0) as (other, welcome):
                    if welcome is not None:
                        no(other, Edited, Deleted, DirectMessage)
                        break
                assert time.monotonic() < deadline, "the name never came free"
                time.sleep(0.05)


class log_in_or_refused:
    """A hello for ``name``: (client, Welcome) or (client, None) if refused."""

    def __init__(self, server, name: str, last_heard: int | None = None) -> None:
        self.client = WireClient(server.host, server.port)
        self.client.send(Hello("h", name, const.PROTOCOL_VERSION, None, False, None, ALL, None, last_heard))
        event = self.client.next()
        while isinstance(event, NOTICES):
            event = self.client.next()
        self.welcome = event if isinstance(event, Welcome) else None

    def __enter__(self):
        return self.client, self.welcome

    def __exit__(self, *exc):
        self.client.close()


def test_a_recipient_who_blocked_the_sender_since_hears_nothing_of_an_edit_or_delete(server):
    """Those who block the sender hear nothing of the change, as nothing of the message
    (afterdelivered._change, quiet_for); the sender's answer is as for anyone."""
    from protocol import Block
    with log_in(server, "Alice") as alice, log_in(server, "Bob") as bob, log_in(server, "Carol") as carol:
        to_bob = dm(alice, bob, "m1", "bob", "teh typo")
        to_carol = dm(alice, carol, "m2", "carol", "teh typo")
        ok(bob, Block("b1", "Alice"))
        ok(alice, Edit("e1", to_bob, "the typo"))
        ok(alice, Edit("e2", to_carol, "the typo"))
        assert carol.expect(Edited, skip=NOTICES).msg_id == to_carol  # (so the edits were handled)
        ok(alice, Delete("d1", to_bob))
        no(bob, Edited, Deleted)


def test_a_guest_names_new_holder_may_not_change_the_earlier_holders_last_message():
    # The new holder's epoch is the last id given out when it took the name: that id, the
    # earlier holder's last message, is not theirs either (afterdelivered._change).
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0)) as server:
        with log_in(server, "Alice") as alice:
            with log_in(server, "Zoe") as zoe:
                msg_id = dm(zoe, alice, "m1", "Alice", "from the first Zoe")  # nothing after it: the epoch
            deadline = time.monotonic() + 10
            while True:  # the name is free once the server has seen the first Zoe leave
                with log_in_or_refused(server, "Zoe") as (other, welcome):
                    if welcome is not None:
                        other.send(Edit("e1", msg_id, "from the second Zoe"))
                        assert other.expect_error("forbidden", skip=NOTICES).request_id == "e1"
                        other.send(Delete("d1", msg_id))
                        assert other.expect_error("forbidden", skip=NOTICES).request_id == "d1"
                        no(alice, Edited, Deleted)
                        break
                assert time.monotonic() < deadline, "the name never came free"
                time.sleep(0.05)


def test_a_guest_names_new_holder_may_not_mark_the_earlier_holders_messages_read():
    # A message to the earlier holder ended with them (expired, or delivered to them): a
    # "read" of it from the name's new holder, who never got it, would tell its sender a
    # false "read" (afterdelivered._read).
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0)) as server:
        with log_in(server, "Alice") as alice:
            with log_in(server, "Zoe") as zoe:
                msg_id = dm(alice, zoe, "m1", "Zoe", "for the first Zoe")
            deadline = time.monotonic() + 10
            while True:  # the name is free once the server has seen the first Zoe leave
                with log_in_or_refused(server, "Zoe") as (other, welcome):
                    if welcome is not None:
                        other.send(Read("Alice", msg_id))
                        assert other.expect_error("unknown_message", skip=NOTICES).request_id is None
                        no(alice, Read)
                        break
                assert time.monotonic() < deadline, "the name never came free"
                time.sleep(0.05)


def test_a_device_back_from_away_is_not_told_the_changes_of_a_sender_its_user_blocks(server):
    # As a change made while it was online is not told (the block), nor is one made while
    # it was away (afterdelivered._tell_missed); the user's own changes still are.
    from protocol import Block
    with log_in(server, "Bob", password=PASSWORD, register=True) as laptop, log_in(server, "Alice") as alice:
        with log_in(server, "Bob", password=PASSWORD) as phone:
            theirs = dm(alice, laptop, "m1", "bob", "teh typo")
            mine = dm(laptop, alice, "m2", "alice", "my typo")
            phone.send(Ping("last"))
            heard = phone.expect(Pong, skip=NOTICES + (DirectMessage, Accepted, Delivered)).now
        ok(laptop, Block("b1", "Alice"))
        ok(alice, Edit("e1", theirs, "the typo"))
        ok(laptop, Edit("e2", mine, "no typo"))
        phone = WireClient(server.host, server.port)
        phone.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, False, None, ALL, None, heard))
        phone.expect(Welcome, skip=NOTICES)
        with phone:
            told = [e for e in phone.drain(quiet=0.5, until=lambda got: any(isinstance(e, Edited) for e in got))
                    if isinstance(e, (Edited, Deleted))]
            told += [e for e in phone.drain(quiet=0.5) if isinstance(e, (Edited, Deleted))]
            assert [(e.msg_id, e.text) for e in told] == [(mine, "no typo")], told
