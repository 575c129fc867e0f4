"""A guest's private messages stay theirs: the resume token, the hold, the epoch.

Unit tests of :class:`server.guests.GuestNames` with a fake clock, then the relay driven
with fake sessions over an in-memory store (RelayBench): a guest who comes back with the
token gets what waited and its history; anyone else gets ``name_taken`` during the hold
and, after it, neither the queue nor the history of the name's earlier holder.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import sqlite3
import stat
import time
from pathlib import Path

import pytest

import const

from client.errors import LoginRefused
from client.exitcodes import ExitCode
from client.library import ChatClient
from client.oneshot import send_once
from client.outgoing import OutgoingMessage
from client.resume import ResumeTokens, state_dir
from protocol import (
    Accepted, Block, Delivered, DirectMessage, Done, ErrorCode, ErrorReply, Goodbye, Hello, HistoryPage, HistoryRequest,
    JoinRoom, Queued, Receipt, Register, Revoke, RoomInfo, RoomMessage, SendDirect, UserJoined, UserLeft, Welcome,
)
from server import ServerConfig, ServerThread
from server.guests import Claim, GuestNames
from server.login import LoginResult
from server.relay import Relay
from server.store import StoreUnavailable
from waits import wait_until
from wire import WireClient
from test_store import FakeSession, RelayBench, loop, open_store, store_kind  # noqa: F401  (fixtures)

NOTICES = (UserJoined, UserLeft)
NOTICES_AND_MAIL = (UserJoined, UserLeft, RoomMessage, Accepted, Delivered, DirectMessage)

# --- The rules, with a fake clock --------------------------------------------------------


def test_only_the_token_resumes_a_name_and_others_wait_for_the_hold():
    guests = GuestNames({}, hold=600.0)
    assert guests.decide("bob", None, 1000.0) == (Claim.TAKE, 0.0)
    token, _ = guests.take("bob", "Bob", epoch=7)
    assert len(token) >= 43 and guests.epoch("bob") == 7
    # Online: the holder's token resumes (the registry then refuses a second guest
    # session); anyone else is refused while the holder is online.
    assert guests.decide("bob", None, 1001.0) == (Claim.HELD, float("inf"))
    guests.left("bob", 2000.0)
    assert guests.decide("bob", token, 2001.0) == (Claim.RESUME, 0.0)
    assert guests.decide("bob", None, 2001.0) == (Claim.HELD, 2600.0)
    assert guests.decide("bob", "a" * 43, 2599.9) == (Claim.HELD, 2600.0)
    assert guests.decide("bob", None, 2600.0) == (Claim.TAKE, 0.0)
    # After the hold the holder still gets in, as long as nobody took the name.
    assert guests.decide("bob", token, 9999.0) == (Claim.RESUME, 0.0)
    new_token, _ = guests.take("bob", "bob", epoch=42)
    assert new_token != token and guests.epoch("bob") == 42
    assert guests.decide("bob", token, 9999.0) == (Claim.HELD, float("inf"))


def test_a_token_the_client_proposes_is_adopted_only_if_it_is_a_good_secret():
    guests = GuestNames({}, hold=600.0)
    proposed = "A" * 20 + "b-_" * 4  # 32 characters of the URL-safe alphabet
    token, _ = guests.take("bob", "Bob", epoch=0, proposed=proposed)
    assert token == proposed
    for weak in ("short", "x" * 31, "sp ace" * 8, "é" * 40, None):
        token, _ = guests.take("eve", "Eve", epoch=0, proposed=weak)
        assert token != weak and len(token) >= 43


def test_a_name_left_is_offered_to_be_forgotten_once_its_hold_is_over_and_not_before():
    guests = GuestNames({}, hold=600.0)
    guests.take("bob", "Bob", epoch=7)
    guests.take("eve", "Eve", epoch=7)
    assert guests.forgettable(99999.0, 10) == []  # both online
    guests.left("bob", 1000.0)
    guests.left("eve", 1100.0)
    assert guests.forgettable(1599.9, 10) == []  # still held
    assert guests.forgettable(1600.0, 10) == ["bob"]
    assert guests.forgettable(1700.0, 10) == ["eve"]  # each offered once
    guests.forget("bob")
    assert "bob" not in guests.holdings and guests.decide("bob", None, 1600.0) == (Claim.TAKE, 0.0)
    assert guests.held_lookalikes("B0B", 1600.0) == [] and guests.epoch("bob") == 0
    # A holder who came back is not offered; nor is one offered again before its new hold ends.
    guests.left("eve", 2000.0)
    guests.arrived("eve")
    assert guests.forgettable(9999.0, 10) == []
    guests.left("eve", 3000.0)
    guests.recheck("eve", 3500.0)
    assert guests.forgettable(3599.9, 10) == []
    assert guests.forgettable(3600.0, 10) == ["eve"]


def test_a_sweep_offers_at_most_its_limit():
    guests = GuestNames({}, hold=0.0)
    for i in range(5):
        guests.take(f"g{i}", f"g{i}", epoch=0)
        guests.left(f"g{i}", 10.0 + i)
    assert guests.forgettable(100.0, 2) == ["g0", "g1"]
    assert guests.forgettable(100.0, 10) == ["g2", "g3", "g4"]


# --- The relay ---------------------------------------------------------------------------


def test_a_guest_whose_welcome_was_lost_gets_back_in_with_the_token_it_proposed(loop, store_kind):
    """The client keeps its own token before the hello goes out; the welcome (and the
    connection) are lost; the retry carries the same token and is the same guest, not a
    stranger refused for the hold."""
    bench = RelayBench(loop, store_kind)
    mine = {"bob": "k" * 43}
    first = bench.attempt("Bob", tokens=mine)
    [welcome] = first.take(Welcome)
    assert welcome.resume == "k" * 43  # adopted, and said back
    bench.relay.disconnected(first, None)  # the welcome died with the connection
    again = bench.attempt("Bob", tokens=mine)
    assert [type(e) for e in again.take(Welcome)] == [Welcome]
    stranger = bench.attempt("Bob", tokens={"bob": "s" * 43})
    assert stranger.take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    bench.store.close()



def test_the_holder_whose_earlier_session_is_still_open_is_told_so_not_that_the_name_is_someone_elses(
        loop, store_kind):  # noqa: F811
    """The holder's token with its earlier connection still open (half-open: the server
    has not found it gone): name_taken, but with retry_after and words that say it is its
    own earlier session (client/display.py: not "choose another name"). A stranger's
    refusal stays as it was: no retry_after."""
    bench = RelayBench(loop, store_kind)
    mine = {"bob": "k" * 43}
    first = bench.attempt("Bob", tokens=mine)
    first.take(Welcome)
    [again] = bench.attempt("Bob", tokens=mine).take(ErrorReply)
    assert again.code == ErrorCode.NAME_TAKEN and again.retry_after == bench.relay.peers.release_retry, again
    assert "your earlier session" in again.message, again
    # It may be alive (another copy of the program with the same token): never "once the
    # server finds it gone", which a running copy never is.
    assert again.message.endswith("it is released when that session ends"), again
    assert "another program using your token" in again.message, again
    [stranger] = bench.attempt("Bob", tokens={"bob": "s" * 43}).take(ErrorReply)
    assert stranger.code == ErrorCode.NAME_TAKEN and stranger.retry_after is None, stranger
    bench.store.close()


def refusals_logged(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("login refused")]


def test_a_resume_refused_while_its_earlier_session_holds_the_name_logs_that_reason_once(
        loop, store_kind, caplog):  # noqa: F811
    """The log says why as the answer does: the guest's own earlier session (or another
    program with its token) holds the name, not that the name is someone else's. So does
    a cluster node whose claim Redis refused because the name is marked online there (the
    earlier session on another node), once, counted as a refused login as on one server."""
    caplog.set_level(logging.INFO, logger="chat")
    bench = RelayBench(loop, store_kind)
    mine = {"bob": "k" * 43}
    bench.attempt("Bob", tokens=mine).take(Welcome)
    caplog.clear()
    bench.attempt("Bob", tokens=mine)
    bench.relay.log_lines.flush()  # (one line per address in full, then counted: see the next)
    bench.attempt("Bob", tokens={"bob": "s" * 43})  # a stranger
    [holder, stranger] = refusals_logged(caplog)
    assert holder.endswith("the guest's earlier session (or another program with its resume token) still holds "
                           "the name"), holder
    assert stranger.endswith("the name 'Bob' is in use by a guest"), stranger  # the login desk's words
    # In a cluster: the claim comes back name_taken from Redis.
    bench.relay.log_lines.flush()
    caplog.clear()
    refused = bench.relay.metrics.logins_refused
    session = bench.attempt("Carla")  # welcomed; its claim is what is played again below
    hello = Hello("h2", "Bob", const.PROTOCOL_VERSION, resume=mine["bob"])
    bench.relay._claimed(session, hello, LoginResult("Bob", registered=False, claim=Claim.RESUME,
                                                     token=mine["bob"]), ErrorCode.NAME_TAKEN)
    [line] = refusals_logged(caplog)
    assert line.endswith("the guest's earlier session (or another program with its resume token) still holds the "
                         "name"), line
    assert bench.relay.metrics.logins_refused == refused + 1
    assert "your earlier session" in session.take(ErrorReply)[-1].message
    bench.store.close()


def conversation(bench: RelayBench, session, peer: str) -> list[str]:
    bench.relay.handle(session, HistoryRequest("hist", peer, 50))
    bench.settle()
    [page] = session.take(HistoryPage)
    return [entry.text for entry in page.messages]


def bob_leaves_with_mail(bench: RelayBench):
    """Bob (a guest) and Alice talk; Bob leaves; Alice writes twice more (queued)."""
    alice, bob = bench.login("Alice"), bench.login("Bob")
    bench.relay.handle(alice, SendDirect("a1", "Bob", "hi Bob"))
    bench.settle()
    [dm] = bob.take(DirectMessage)
    bench.relay.handle(bob, Receipt(dm.msg_id))
    bench.relay.handle(bob, SendDirect("b1", "Alice", "my secret"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    for i in (2, 3):
        bench.relay.handle(alice, SendDirect(f"a{i}", "Bob", f"private {i}"))
    bench.settle()
    assert [q.request_id for q in alice.take(Queued)] == ["a2", "a3"]
    return alice


def test_a_guest_gets_a_resume_token_and_its_queue_and_history_with_it(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bob_leaves_with_mail(bench)
    back = bench.login("Bob")  # with the token the first welcome gave
    assert [m.text for m in back.take(DirectMessage)] == ["private 2", "private 3"]
    assert conversation(bench, back, "Alice") == ["hi Bob", "my secret", "private 2", "private 3"]
    bench.store.close()


def test_the_welcome_gives_a_token_to_a_new_holder_only(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    first = bench.attempt("Bob")
    [welcome] = first.take(Welcome)
    assert welcome.resume and "resume" not in repr(welcome)  # a secret is never logged
    bench.relay.disconnected(first, None)
    again = bench.attempt("Bob", tokens={"bob": welcome.resume})
    [welcome_again] = again.take(Welcome)
    assert welcome_again.resume is None  # the same guest: it keeps its token
    account = bench.attempt("Carol", password="correct horse", register=True)
    assert account.take(Welcome)[0].resume is None  # an account logs in with its password
    bench.store.close()


def test_during_the_hold_someone_else_is_refused_and_told_until_when(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    hold, started = bench.relay.config.guest_hold, time.time()
    bob_leaves_with_mail(bench)
    stranger = bench.attempt("BOB", tokens={})
    [refusal] = stranger.take(ErrorReply)
    assert refusal.code == ErrorCode.NAME_TAKEN and started + hold <= refusal.until <= time.time() + hold
    # The words say the time the field gives: one read on the test's clock later (0.2 ms)
    # fell in the next minute once in a few hundred thousand runs.
    assert time.strftime("%H:%M:%S UTC", time.gmtime(refusal.until)) in refusal.message
    assert not stranger.take(Welcome) and not stranger.take(DirectMessage)
    # A wrong token is no better, and neither is claiming the name with a password.
    assert bench.attempt("Bob", tokens={"bob": "x" * 43}).take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    claim = bench.attempt("Bob", password="correct horse", register=True, tokens={})
    assert claim.take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    bench.store.close()


def test_the_refusal_of_a_held_name_says_to_programs_until_when(loop, store_kind):
    """A student moving from the terminal to the page (no token there) was told the name
    is "in use, or kept for a while", not for how long: the error's ``until`` says when the
    hold ends (a Unix time), for the clients to say it in their words. Not while the holder
    is online (no end to say), and never ``retry_after`` (that is the holder's own wait)."""
    bench = RelayBench(loop, store_kind)
    bob_leaves_with_mail(bench)
    [refusal] = bench.attempt("BOB", tokens={}).take(ErrorReply)
    assert refusal.code == ErrorCode.NAME_TAKEN and refusal.retry_after is None
    assert refusal.until is not None and abs(refusal.until - (time.time() + bench.relay.config.guest_hold)) < 5
    bench.store.close()


def test_after_the_hold_someone_else_gets_neither_queue_nor_history(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bench.relay.logins.guests.hold = 0.0  # the hold is over as soon as Bob leaves
    alice = bob_leaves_with_mail(bench)
    strangers: dict[str, str] = {}
    stranger = bench.login("bob", tokens=strangers)
    assert strangers["bob"] != bench.tokens["bob"]  # a new holder, a new token
    assert not stranger.take(DirectMessage)
    assert not stranger.take(Delivered) and not stranger.take(ErrorReply)  # nor news of Bob's own messages
    assert conversation(bench, stranger, "Alice") == []
    # Alice is told, truthfully, that Bob never got them; her own history keeps them all.
    assert sorted(e.request_id for e in alice.take(ErrorReply) if e.code == ErrorCode.EXPIRED) == ["a2", "a3"]
    assert conversation(bench, alice, "Bob") == ["hi Bob", "my secret", "private 2", "private 3"]
    # What is sent to the name from now on is the new holder's, and only that.
    bench.relay.handle(alice, SendDirect("a4", "Bob", "hello, whoever you are"))
    bench.settle()
    assert [m.text for m in stranger.take(DirectMessage)] == ["hello, whoever you are"]
    assert conversation(bench, stranger, "Alice") == ["hello, whoever you are"]
    # The first Bob, back with his old token, finds the name taken, not the stranger's mail.
    bench.relay.disconnected(stranger, None)
    bench.relay.logins.guests.hold = 600.0
    assert bench.attempt("Bob").take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    bench.store.close()


def test_the_old_holders_messages_confirmed_later_are_not_reported_to_the_new_holder(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bench.relay.logins.guests.hold = 0.0
    carol = bench.login("Carol")
    bench.relay.disconnected(carol, None)
    bob = bench.login("Bob")
    bench.relay.handle(bob, SendDirect("b-secret", "Carol", "for Carol"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    stranger = bench.login("Bob", tokens={})
    carol = bench.login("Carol")
    bench.announce_logins()
    [dm] = carol.take(DirectMessage)
    bench.relay.handle(carol, Receipt(dm.msg_id))
    bench.settle()
    assert not stranger.take(Delivered) and not stranger.sent
    bench.store.close()


def test_a_new_holder_reusing_an_old_request_id_sends_a_new_message(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bench.relay.logins.guests.hold = 0.0
    alice = bob_leaves_with_mail(bench)  # Bob sent "my secret" as request "b1"
    stranger = bench.login("Bob", tokens={})
    bench.relay.handle(stranger, SendDirect("b1", "Alice", "hello Alice"))
    bench.settle()
    [accepted] = stranger.take(Accepted)
    assert accepted.request_id == "b1" and not stranger.take(Delivered) and not stranger.take(ErrorReply)
    assert [m.text for m in alice.take(DirectMessage)][-1] == "hello Alice"
    bench.store.close()


def test_a_new_holder_does_not_inherit_whom_the_earlier_one_blocked(loop, tmp_path):
    bench = RelayBench(loop)
    bench.store.close()
    bench.store = open_store(loop, tmp_path / "chat.sqlite3")
    bench.relay = Relay(ServerConfig(guest_hold=0.0), bench.store)
    mallory, bob = bench.login("Mallory"), bench.login("Bob")
    bench.relay.handle(bob, Block("b", "Mallory"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    stranger = bench.login("Bob", tokens={})
    bench.relay.handle(mallory, SendDirect("m1", "Bob", "hello new Bob"))
    bench.settle()
    assert [m.text for m in stranger.take(DirectMessage)] == ["hello new Bob"]
    bench.store.close()  # and after a restart, too
    bench.store = open_store(loop, tmp_path / "chat.sqlite3")
    bench.relay = Relay(ServerConfig(), bench.store)
    assert not bench.relay.blocked.get("bob")
    bench.store.close()


def test_a_guest_who_registers_keeps_its_queue_and_history_and_nothing_older(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bench.relay.logins.guests.hold = 0.0
    alice = bob_leaves_with_mail(bench)
    bench.relay.disconnected(bench.login("Bob", tokens={}), None)  # a second Bob came and went
    bob = bench.login("Bob", tokens={})  # a third holder, who registers
    bench.relay.handle(alice, SendDirect("a5", "Bob", "for the third"))
    bench.settle()
    [dm] = bob.take(DirectMessage)
    bench.relay.handle(bob, Receipt(dm.msg_id))
    bench.relay.handle(bob, Register("r", "correct horse"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    bench.relay.handle(alice, SendDirect("a6", "Bob", "after registering"))
    bench.settle()
    owner = bench.login("Bob", password="correct horse", tokens={})
    assert [m.text for m in owner.take(DirectMessage)] == ["after registering"]
    assert conversation(bench, owner, "Alice") == ["for the third", "after registering"]
    bench.store.close()


def test_a_registered_name_is_unaffected(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    dana = bench.login("Dana", password="correct horse", register=True)
    bench.relay.disconnected(dana, None)
    bench.relay.handle(alice, SendDirect("d1", "Dana", "for Dana"))
    bench.settle()
    elsewhere = bench.login("dana", password="correct horse", tokens={})  # no token needed
    assert [m.text for m in elsewhere.take(DirectMessage)] == ["for Dana"]
    assert conversation(bench, elsewhere, "Alice") == ["for Dana"]
    bench.store.close()


@pytest.mark.parametrize("online_at_stop", [False, True])
def test_the_hold_and_the_token_survive_a_restart(loop, tmp_path, online_at_stop):

    path = tmp_path / "chat.sqlite3"
    bench = RelayBench(loop)
    bench.store.close()
    bench.store = open_store(loop, path)
    bench.relay = Relay(ServerConfig(), bench.store)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    if not online_at_stop:
        bench.relay.disconnected(bob, None)
    bench.relay.handle(alice, SendDirect("m", "Bob", "kept"))
    bench.settle()
    bench.store.close()  # the server stops (with Bob online: his hold starts at the restart)
    bench.store = open_store(loop, path)
    bench.relay = Relay(ServerConfig(), bench.store)
    assert bench.attempt("Bob", tokens={}).take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    back = bench.login("Bob")
    assert [m.text for m in back.take(DirectMessage)] == ["kept"]
    bench.store.close()


# --- A real server, the real client library and raw frames ---------------------------------

WAIT = 10.0


def connect_when_free(client: ChatClient) -> None:
    """Connect, retrying while the name is still online (the server may not have seen its
    last session go yet); bounded by WAIT."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            client.connect(timeout=WAIT)
            return
        except LoginRefused as exc:
            if exc.code != ErrorCode.NAME_TAKEN or time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a retry pause, bounded by the deadline above


def wait_offline(client: ChatClient, name: str) -> None:
    deadline = time.monotonic() + WAIT
    while client.lookup(name, WAIT).status != "offline":
        assert time.monotonic() < deadline, f"{name} is still online"
        time.sleep(0.02)  # polling pause, bounded by the deadline


def talk_then_leave(clients: list[ChatClient], port: int) -> tuple[ChatClient, OutgoingMessage]:
    """Bob (a guest, tokens in this test's file) and Alice talk; Bob leaves; Alice writes
    again: the message is queued for Bob. Returns Alice and that message."""
    alice = ChatClient("Alice", "127.0.0.1", port, resume_tokens=ResumeTokens(None), reconnect=False)
    bob = ChatClient("Bob", "127.0.0.1", port, reconnect=False)
    clients += [alice, bob]
    alice.connect(WAIT)
    bob.connect(WAIT)
    assert alice.send_direct("Bob", "hi Bob").wait("delivered", WAIT)
    assert bob.send_direct("Alice", "my secret").wait("delivered", WAIT)
    bob.close()
    wait_offline(alice, "Bob")
    waiting = alice.send_direct("Bob", "while you are away")
    assert waiting.wait("queued", WAIT)
    return alice, waiting


def direct_messages(client: ChatClient) -> list[str]:
    found = []
    while not client.events.empty():
        event = client.events.get_nowait()
        if isinstance(event, DirectMessage):
            found.append(event.text)
    return found


def test_real_clients_the_same_guest_comes_back_and_a_stranger_waits(clients, client_state):
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        alice, waiting = talk_then_leave(clients, server.port)
        # Someone else (another machine: their own token file) is refused during the hold.
        stranger = ChatClient("bob", "127.0.0.1", server.port, reconnect=False,
                              resume_tokens=ResumeTokens(Path(client_state) / "elsewhere" / "resume.json"))
        clients.append(stranger)
        with pytest.raises(LoginRefused) as refused:
            stranger.connect(WAIT)
        assert refused.value.code == ErrorCode.NAME_TAKEN and "UTC" in str(refused.value)
        # Bob's --send on this machine is Bob (it finds the token in the same file): it
        # gets what waited (and prints it, as --send does).
        out, err = io.StringIO(), io.StringIO()
        assert send_once("Bob", "Alice", "from a script", port=server.port, host="127.0.0.1",
                         stdout=out, stderr=err, timeout=WAIT) == ExitCode.OK, err.getvalue()
        assert "while you are away" in out.getvalue()
        assert waiting.wait("delivered", WAIT)
        # So is a new terminal session: the whole history is his.
        bob = ChatClient("Bob", "127.0.0.1", server.port, reconnect=False)
        clients.append(bob)
        connect_when_free(bob)
        texts = [entry.text for entry in bob.history("Alice", 20, WAIT)]
        assert texts == ["hi Bob", "my secret", "while you are away", "from a script"]


def test_real_clients_after_the_hold_a_stranger_gets_neither_queue_nor_history(clients, client_state):
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0)) as server:
        alice, waiting = talk_then_leave(clients, server.port)
        stranger = ChatClient("bob", "127.0.0.1", server.port, reconnect=False,
                              resume_tokens=ResumeTokens(Path(client_state) / "elsewhere" / "resume.json"))
        clients.append(stranger)
        connect_when_free(stranger)
        # The history answer comes after anything waiting would have been sent.
        assert stranger.history("Alice", 20, WAIT) == []
        assert direct_messages(stranger) == []
        assert waiting.wait_done(WAIT) and waiting.state == "failed" and waiting.error[0] == ErrorCode.EXPIRED
        assert [e.text for e in alice.history("Bob", 20, WAIT)] == ["hi Bob", "my secret", "while you are away"]
        # Its token is its own, not the first Bob's.
        mine = ResumeTokens.default().get(f"127.0.0.1:{server.port}", "Bob")
        theirs = stranger.resume_tokens.get(f"127.0.0.1:{server.port}", "Bob")
        assert mine and theirs and mine != theirs


def test_raw_frames_after_the_hold_a_stranger_gets_neither_queue_nor_history():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.0)) as server:
        with WireClient.login(server.host, server.port, "Alice") as alice:
            with WireClient.login(server.host, server.port, "Bob") as bob:
                bob.send(SendDirect("b1", "Alice", "my secret"))
                bob.expect(Accepted, skip=NOTICES)
                bob.send(Goodbye(""))
            alice.expect(UserLeft, skip=(UserJoined, DirectMessage))
            alice.send(SendDirect("a1", "Bob", "while you are away"))
            assert alice.expect(Queued, skip=NOTICES_AND_MAIL).request_id == "a1"
            with WireClient.login(server.host, server.port, "Bob", tokens={}) as stranger:
                assert stranger.welcome.resume  # a new holder, with a token of its own
                stranger.send(HistoryRequest("h", "Alice", 50))
                events = []
                while not isinstance(events[-1:] and events[-1], HistoryPage):
                    events.append(stranger.next(WAIT))
                assert events[-1].messages == ()
                assert not [e for e in events if isinstance(e, DirectMessage)]
            assert alice.expect(ErrorReply, skip=NOTICES_AND_MAIL).code == ErrorCode.EXPIRED


# --- A guest gives its name up ("Log out" on the page: a revoke of its own token) ---------


def _leave(client: WireClient) -> None:
    client.send(Goodbye("quit"))
    client.wait_closed()


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
@pytest.mark.parametrize("comes_back", [False, True], ids=["stranger", "same-guest"])
def test_a_guest_who_gives_its_name_up_leaves_it_to_the_next_hello_at_once(tmp_path, durable, comes_back):
    """Alice revokes her own token and says bye: a hello for "Alice" is welcomed at once
    (the hold, GUEST_HOLD, is not waited for) as a new holder, whether it carries no token
    (a stranger) or the one given up (Alice again: simply the next taker, its token taken
    as any proposed one): what waited for the name expires for its sender, and its history
    starts anew, as at any take after a hold."""
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path if durable else None)) as server:
        with WireClient.login(server.host, server.port, "Bob") as bob:
            mine: dict = {}
            with WireClient.login(server.host, server.port, "Alice", tokens=mine) as alice:
                token = alice.welcome.resume
                bob.send(SendDirect("b0", "Alice", "before"))
                alice.expect(DirectMessage, skip=NOTICES)
                alice.send(Revoke("r1", token))
                assert alice.expect(Done, skip=NOTICES_AND_MAIL).request_id == "r1"
                _leave(alice)
            bob.expect(UserLeft, skip=(UserJoined, Accepted, Queued, Delivered, Receipt))
            bob.send(SendDirect("b1", "Alice", "for the Alice who left"))
            assert bob.expect(Queued, skip=NOTICES_AND_MAIL).request_id == "b1"
            with WireClient.login(server.host, server.port, "Alice", tokens=mine if comes_back else {}) as taker:
                assert taker.welcome.resume == (token if comes_back else taker.welcome.resume)
                assert taker.welcome.resume and (comes_back or taker.welcome.resume != token)
                taker.send(HistoryRequest("h", "Bob", 50))
                events = []
                while not isinstance(events[-1:] and events[-1], HistoryPage):
                    events.append(taker.next(WAIT))
                assert events[-1].messages == ()
                assert not [e for e in events if isinstance(e, DirectMessage)]
            assert bob.expect(ErrorReply, skip=NOTICES_AND_MAIL).code == ErrorCode.EXPIRED


def test_a_give_up_the_store_refuses_is_answered_unavailable_and_the_name_stays_the_guests(loop, store_kind):
    """The store fails the write of the given-up holding: the revoke is answered
    ``unavailable`` at once (not ``ok``: nothing was given up), and the token still proves
    the name here, held for its guest once it left."""
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    saves = []

    def failing(key, holding, callback=None, on_error=None):
        saves.append(key)
        on_error(StoreUnavailable("disk full", storage=True))
    bench.store.save_holding = failing
    bench.relay.handle(alice, Revoke("r1", bench.tokens["alice"]))
    bench.settle()
    [refused] = alice.take(ErrorReply)
    assert saves == ["alice"] and refused.code == ErrorCode.UNAVAILABLE and refused.request_id == "r1"
    assert not alice.take(Done)
    bench.relay.disconnected(alice, None)
    bench.settle()
    [stranger] = bench.attempt("Alice", tokens={}).take(ErrorReply)
    assert stranger.code == ErrorCode.NAME_TAKEN
    assert [type(e) for e in bench.attempt("Alice").take(Welcome)] == [Welcome]
    bench.store.close()


def test_a_give_up_the_store_may_have_done_is_kept_and_a_resend_finds_it_done(loop, store_kind):
    """Redis took the write and did not answer in time (``maybe_done``): the answer says it
    may have been done (``uncertain``), the name is given up here too (never a token a node
    takes for proof while Redis has it given up), the holding is written again once the
    store recovers, and a resend of the revoke is answered ``ok``."""
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    real = bench.store.save_holding

    def unsure(key, holding, callback=None, on_error=None):
        on_error(StoreUnavailable("redis timed out", storage=True, maybe_done=True))
    bench.store.save_holding = unsure
    bench.relay.handle(alice, Revoke("r1", bench.tokens["alice"]))
    bench.settle()
    [refused] = alice.take(ErrorReply)
    assert refused.code == ErrorCode.UNAVAILABLE and refused.uncertain
    assert "alice" in bench.relay._unsaved_holdings
    bench.store.save_holding = real
    bench.relay.handle(alice, Revoke("r1", bench.tokens["alice"]))
    bench.settle()
    assert alice.take(Done) == [Done("r1")]
    bench.relay.disconnected(alice, None)
    bench.settle()
    assert [type(e) for e in bench.attempt("Alice", tokens={}).take(Welcome)] == [Welcome]
    bench.store.close()


def test_a_give_up_redis_refuses_for_a_newer_holding_tells_no_other_node(loop, store_kind):
    """Redis keeps a newer holding of the name (another node's guest took it): the give-up
    is answered ``ok`` (the name was not this guest's any more) and not published, which
    would put this node's stale holding over the newer one in every node's cache."""
    bench = RelayBench(loop, store_kind)
    alice = bench.login("Alice")
    told = []
    bench.relay.peers.holding_changed = lambda key, holding: told.append(key)

    def newer_kept(key, holding, callback=None, on_error=None):
        callback(False)
    bench.store.save_holding = newer_kept
    bench.relay.handle(alice, Revoke("r1", bench.tokens["alice"]))
    bench.settle()
    assert alice.take(Done) == [Done("r1")] and told == []
    bench.store.close()


@pytest.mark.parametrize("online_at_stop", [False, True])
def test_a_name_given_up_stays_given_up_across_a_restart(loop, tmp_path, online_at_stop):
    """The give-up is in the database (the holding's empty token hash): read back at a
    restart, whether the guest had left or was still online when the server stopped, the
    name is held by nobody and the old token proves nothing."""
    path = tmp_path / "chat.sqlite3"
    bench = RelayBench(loop)
    bench.store.close()
    bench.store = open_store(loop, path)
    bench.relay = Relay(ServerConfig(), bench.store)
    alice = bench.login("Alice")
    token = bench.tokens["alice"]
    bench.relay.handle(alice, Revoke("r1", token))
    bench.settle()
    assert alice.take(Done) == [Done("r1")]
    if not online_at_stop:
        bench.relay.disconnected(alice, None)
        bench.settle()
    bench.store.close()
    bench.store = open_store(loop, path)
    bench.relay = Relay(ServerConfig(), bench.store)
    stranger = bench.attempt("Alice", tokens={})
    [welcome] = stranger.take(Welcome)
    assert welcome.resume and welcome.resume != token
    bench.store.close()


def test_a_revoke_of_another_guests_token_gives_nothing_up(tmp_path):
    """Eve, who learnt Alice's token, sends a revoke of it from her own session: ``ok``, and
    nothing happens: once Alice left, her name is held for her, and her token still works."""
    tokens: dict = {}
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)) as server:
        with WireClient.login(server.host, server.port, "Alice", tokens=tokens) as alice:
            token = alice.welcome.resume
            with WireClient.login(server.host, server.port, "Eve", tokens={}) as eve:
                eve.send(Revoke("r1", token))
                assert eve.expect(Done, skip=NOTICES).request_id == "r1"
            _leave(alice)
        with WireClient(server.host, server.port) as stranger:
            stranger.send(Hello("h1", "Alice", const.PROTOCOL_VERSION))
            assert stranger.expect_error(ErrorCode.NAME_TAKEN).until is not None
        with WireClient.login(server.host, server.port, "Alice", tokens=tokens) as back:
            assert back.welcome.resume is None  # the same guest: it keeps its token


# --- The client's token file ---------------------------------------------------------------


def test_the_token_file_is_private_atomic_and_survives_a_bad_copy(tmp_path):
    path = tmp_path / "state" / "resume.json"
    tokens = ResumeTokens(path)
    assert tokens.get("h:1", "Bob") is None  # no file yet
    tokens.put("h:1", "Bob", "t1")
    tokens.put("h:2", "bob", "t2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["resume.json"]  # no temporary left
    fresh = ResumeTokens(path)
    assert (fresh.get("h:1", "BOB"), fresh.get("h:2", "Bob"), fresh.get("h:3", "Bob")) == ("t1", "t2", None)
    path.write_text("{not json", encoding="utf-8")
    broken = ResumeTokens(path)
    assert broken.get("h:1", "Bob") is None  # unreadable: a newcomer, not a crash
    broken.put("h:1", "Bob", "t3")
    assert ResumeTokens(path).get("h:1", "Bob") == "t3"


def test_the_token_a_hello_carries_is_kept_before_it_goes_out_and_only_for_a_guest():
    # The one rule both client shells (client/library.py, client/aio.py) use.
    tokens = ResumeTokens(None)
    proposed = tokens.for_hello("h:1", "Bob", None)
    assert proposed is not None and len(proposed) >= 32
    assert tokens.get("h:1", "bob") == proposed  # kept first: a lost welcome cannot lose it
    assert tokens.for_hello("h:1", "BOB", None) == proposed  # the same guest next time
    assert tokens.for_hello("h:1", "Carol", "a password") is None  # an account proves itself
    tokens.put("h:1", "Dave", "given")
    assert tokens.for_hello("h:1", "Dave", "a password") == "given"  # a kept one goes along


def test_a_token_that_cannot_be_saved_still_serves_this_client(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    tokens = ResumeTokens(blocker / "resume.json")  # its folder cannot be created
    tokens.put("h:1", "Bob", "t1")
    assert tokens.get("h:1", "Bob") == "t1"
    assert "cannot save the resume token" in caplog.text


def test_the_state_directory_follows_the_platform_conventions(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAT_STATE_DIR", str(tmp_path / "explicit"))
    assert state_dir() == tmp_path / "explicit"
    monkeypatch.delenv("CHAT_STATE_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert state_dir() == tmp_path / "xdg" / "chat"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_dir() == tmp_path / "home" / ".config" / "chat"


def test_the_token_travels_in_hello_and_welcome_and_is_never_shown():
    from protocol import Connection, Hello, Role
    from protocol.codec import decode, encode, TYPES

    hello = Hello("h", "Bob", 1, resume="s" * 43)
    welcome = Welcome("h", "Bob", 1, "server", 15.0, False, "t" * 43)
    for event in (hello, welcome):
        frame = encode(event)
        assert b'"resume":"' in frame and decode(frame.rstrip(b"\n"), TYPES, 4000) == event
        assert "resume" not in repr(event)
    assert b"resume" not in encode(Hello("h", "Bob", 1))  # absent unless there is one
    server = Connection(Role.SERVER)
    server.receive_data(b'{"type":"hello","id":"h","name":"Bob","version":1,"resume":7}\n')
    [rejected] = list(server.events())
    assert rejected.code == ErrorCode.BAD_FIELD and "resume" in rejected.message


def test_at_a_hand_over_a_blocked_message_to_the_earlier_holder_expires_with_the_others(loop, store_kind):
    # What waited for the earlier Bob expires when the name changes hands, its senders told;
    # a message Bob had blocked ended only at its own expiry, days later: its sender, told
    # nothing meanwhile while others' messages to Bob expired, could tell it was blocked.
    bench = RelayBench(loop, store_kind)
    bench.relay.logins.guests.hold = 0.0
    alice, mallory, bob = bench.login("Alice"), bench.login("Mallory"), bench.login("Bob")
    bench.relay.handle(bob, Block("b", "Mallory"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    bench.relay.handle(mallory, SendDirect("m1", "Bob", "blocked, unknown to me"))
    bench.relay.handle(alice, SendDirect("a1", "Bob", "queued"))
    bench.settle()
    [blocked] = mallory.take(Accepted) + mallory.take(Queued)
    stranger = bench.login("Bob", tokens={})
    bench.settle()
    assert [e.request_id for e in alice.take(ErrorReply) if e.code == ErrorCode.EXPIRED] == ["a1"]
    assert [(e.request_id, e.msg_id) for e in mallory.take(ErrorReply) if e.code == ErrorCode.EXPIRED] == \
        [("m1", blocked.msg_id)]
    assert conversation(bench, mallory, "Bob") == ["blocked, unknown to me"]
    assert not stranger.take(DirectMessage) and conversation(bench, stranger, "Mallory") == []
    # Its own expiry time tells nobody again.
    bench.relay.expire(time.time() + bench.relay.config.queue_ttl + 1)
    bench.settle()
    assert not mallory.take(ErrorReply) and not alice.take(ErrorReply)
    # Told until acknowledged, as any outcome: a new login of its sender hears it again.
    bench.relay.disconnected(mallory, None)
    mallory = bench.login("Mallory")
    bench.settle()
    assert [e.msg_id for e in mallory.take(ErrorReply) if e.code == ErrorCode.EXPIRED] == [blocked.msg_id]
    bench.store.close()


def test_real_clients_a_stranger_during_the_hold_is_told_until_when(clients, client_state):
    """The terminal's and the window's words for a name kept for its last guest, from a
    real refusal: until when (the local time) and for how long, through the client core."""
    from client.auth import refusal_line
    from client.display import format_when
    from client.serverclock import on_this_clock

    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        talk_then_leave(clients, server.port)
        stranger = ChatClient("bob", "127.0.0.1", server.port, reconnect=False,
                              resume_tokens=ResumeTokens(Path(client_state) / "elsewhere" / "resume.json"))
        clients.append(stranger)
        with pytest.raises(LoginRefused) as refused:
            stranger.connect(timeout=WAIT)
        assert refused.value.code == ErrorCode.NAME_TAKEN and refused.value.until is not None
        line = refusal_line(refused.value, scripted=False, name="bob")
        # On this computer's reckoning of the server's clock, as the words are (a few ms off
        # the server's own: a minute could turn in between).
        assert f"until {format_when(on_this_clock(refused.value.until))}" in line and "min" in line, line


# --- Forgetting a guest name: the hold is over and nothing refers to it ---------------------


def test_a_guest_who_left_is_forgotten_after_the_hold_and_a_new_holder_inherits_nothing(loop, store_kind):
    """Bob (a guest) joins a room, blocks Mallory and leaves: during the hold everything
    is kept; after it, his holding, his known-user entry and whom he blocked go (from the
    relay and the store), and so do his rooms; a new Bob gets none of it."""
    bench = RelayBench(loop, store_kind)
    mallory, bob = bench.login("Mallory"), bench.login("Bob")
    bench.relay.handle(bob, JoinRoom("j", "#maths"))
    bench.relay.handle(bob, Block("b", "Mallory"))
    bench.settle()
    assert bob.take(RoomInfo)
    bench.relay.disconnected(bob, None)
    hold, remembered = bench.relay.config.guest_hold, bench.relay.config.guest_remembered
    assert remembered > hold
    left, steady = time.time(), time.monotonic()
    relay = bench.relay
    # The hold runs on the monotonic clock (a wall clock's step changes no hold): it is
    # moved on with the wall time given.
    relay.logins.guests.clock = lambda: steady + (at - left)
    for during in (left + hold - 5, left + hold + 5, left + remembered - 5):  # held, then remembered
        at = during
        relay.expire(during)
        bench.settle()
        assert "bob" in relay.logins.guests.holdings and "bob" in relay.known and relay.blocked.get("bob")
    at = left + remembered + 5
    relay.expire(left + remembered + 5)
    bench.settle()
    assert "bob" not in relay.logins.guests.holdings and "bob" not in relay.known and "bob" not in relay.blocked
    assert "mallory" in relay.known  # online: kept
    # The store forgot them too: a relay started on it now knows nothing of Bob.
    again = Relay(ServerConfig(), bench.store)
    assert "bob" not in again.logins.guests.holdings and "bob" not in again.known and not again.blocked.get("bob")
    assert not bench.relay.room_desk.rooms.rooms_of("bob")
    stranger = bench.login("Bob", tokens={})
    bench.relay.handle(mallory, SendDirect("m1", "Bob", "hello new Bob"))
    bench.settle()
    assert [m.text for m in stranger.take(DirectMessage)] == ["hello new Bob"]
    assert not bench.relay.room_desk.rooms.rooms_of("bob")
    bench.store.close()


def test_one_forgetting_pass_at_a_time_asks_the_store(loop, store_kind, monkeypatch):
    # The sweep's expire may come again before the store answered which names are
    # referenced: Carol's name, beyond the pass's batch (one name here), waits for the
    # next pass, not a second question beside the first.
    monkeypatch.setattr(const, "GUEST_FORGET_BATCH", 1)
    bench = RelayBench(loop, store_kind)
    relay, asked = bench.relay, []
    for name in ("Bob", "Carol"):
        bench.relay.disconnected(bench.login(name), None)
    left, steady = time.time(), time.monotonic()
    later = left + relay.config.guest_remembered + 5
    relay.logins.guests.clock = lambda: steady + (later - left)
    real = bench.store.referenced
    bench.store.referenced = lambda keys, *callbacks: (asked.append(list(keys)), real(keys, *callbacks))
    relay.expire(later)
    relay.expire(later)  # before the store's answer
    bench.settle()
    assert asked == [["bob"]] and "bob" not in relay.logins.guests.holdings
    relay.expire(later)
    bench.settle()
    assert asked == [["bob"], ["carol"]] and "carol" not in relay.logins.guests.holdings
    bench.store.close()


def test_a_guest_with_a_message_waiting_or_an_outcome_untold_is_not_forgotten(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice = bob_leaves_with_mail(bench)  # two messages wait for Bob
    carol = bench.login("Carol")
    bench.relay.handle(carol, SendDirect("c1", "Alice", "hi"))
    bench.settle()
    bench.relay.disconnected(carol, None)  # before she hears it was delivered
    [dm] = [m for m in alice.take(DirectMessage) if m.text == "hi"]
    bench.relay.handle(alice, Receipt(dm.msg_id))
    bench.settle()
    bench.relay.expire(time.time() + bench.relay.config.guest_remembered + 5)
    bench.settle()
    assert {"bob", "carol"} <= set(bench.relay.logins.guests.holdings) and {"bob", "carol"} <= set(bench.relay.known)
    back = bench.login("Bob")  # with his token: still his name, and his mail
    assert [m.text for m in back.take(DirectMessage)] == ["private 2", "private 3"]
    assert bench.login("Carol").take(Delivered)
    bench.store.close()


def test_a_guest_who_registered_is_never_forgotten(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bob = bench.login("Bob")
    bench.relay.handle(bob, Register("r", "correct horse"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    bench.relay.expire(time.time() + bench.relay.config.guest_remembered + 5)
    bench.settle()
    assert "bob" in bench.relay.known and "bob" in bench.relay.logins.guests.holdings
    bench.store.close()


def guests_come_and_go(server: ServerThread, count: int) -> None:
    """``count`` guests, g0 to g<count - 1>, each logs in on a connection of its own and leaves."""
    for i in range(count):
        with socket.create_connection((server.host, server.port), timeout=WAIT) as conn:
            conn.sendall(b'{"type":"hello","id":"h","name":"g%d","version":%d}\n' % (i, const.PROTOCOL_VERSION))
            with conn.makefile("rb") as reader:
                assert b'"welcome"' in reader.readline()


@pytest.mark.parametrize("durable", [False, True], ids=["memory", "sqlite"])
def test_two_thousand_guests_who_came_and_left_leave_nothing_behind_once_no_longer_remembered(tmp_path, durable):
    """The server's structures that grow with guests' names (the registry, the known
    users, the holdings) are back where they started once the names are no longer
    remembered (GUEST_REMEMBERED, here as short as the hold); so are the database's rows
    of them."""
    config = ServerConfig(host="127.0.0.1", port=0, guest_hold=0.5, guest_remembered=0.5, expiry_interval=0.1,
                          rate_per_address=1e6, burst_per_address=1e6, data_dir=tmp_path if durable else None)
    with ServerThread(config) as server:
        relay = server.server.relay

        def sizes() -> tuple[int, int, int]:
            return server.call(lambda: (len(relay.registry), len(relay.known), len(relay.logins.guests.holdings)))

        start = sizes()
        guests_come_and_go(server, 2000)
        wait_until(lambda: sizes() == start, 30, "the guests' names forgotten")
    if durable:  # read once the server stopped, on a connection of the test's own
        with contextlib.closing(sqlite3.connect(tmp_path / "chat.sqlite3")) as db:
            assert [db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("users", "guests")] == [0, 0]


def test_a_script_s_thousands_of_guests_are_forgotten_once_their_hold_is_over_while_the_server_is_crowded() -> None:
    """Names are remembered a day after their guests left (a message to one is queued), but
    not without bound: past GUEST_REMEMBERED_MOST names held (here 100), those longest gone
    are forgotten as soon as their hold is over, and the newest are still remembered."""
    config = ServerConfig(host="127.0.0.1", port=0, guest_hold=0.5, guest_remembered_most=100, expiry_interval=0.1,
                          rate_per_address=1e6, burst_per_address=1e6)
    assert config.guest_remembered >= 3600
    with ServerThread(config) as server:
        relay = server.server.relay

        def held() -> tuple[int, int]:
            return server.call(lambda: (len(relay.known), len(relay.logins.guests.holdings)))

        guests_come_and_go(server, 1000)
        wait_until(lambda: max(held()) <= 100, 30, "the names beyond the 100 held forgotten")
        assert server.call(lambda: "g999" in relay.logins.guests.holdings and "g0" not in relay.known)


def test_a_guest_back_while_the_store_is_asked_is_not_forgotten(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bench.relay.disconnected(bench.login("Bob"), None)
    bench.relay.expire(time.time() + bench.relay.config.guest_remembered + 5)  # asks the store...
    bob = bench.login("Bob")  # ... and Bob is back, with his token, before it answers
    assert bob.take(Welcome) == [] and "bob" in bench.relay.logins.guests.holdings and "bob" in bench.relay.known
    bench.relay.disconnected(bob, None)
    again = Relay(ServerConfig(), bench.store)  # and the store kept him too
    assert "bob" in again.logins.guests.holdings and "bob" in again.known
    bench.store.close()


def featured(bench: RelayBench, name: str, tokens: dict[str, str]):
    """A session of guest ``name`` (with the token in ``tokens``, if any: ``{}`` for a
    newcomer) whose hello asked for read receipts and edits."""
    from protocol import BATCH_ACKS, EDITS, READ
    bench.ports += 1
    session = FakeSession(bench.ports)
    bench.relay.connected(session)
    bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, None, False, tokens.get(name.lower()),
                                      (READ, EDITS, BATCH_ACKS)))
    bench.settle()
    [welcome] = session.take(Welcome)
    if welcome.resume:
        tokens[name.lower()] = welcome.resume
    return session


def earlier_zoe(bench: RelayBench):
    """Alice and the first Zoe (a guest) write to each other, each confirms and reads the
    other's message, Alice edits hers, the first Zoe leaves: Alice, and (Alice's message to
    Zoe, Zoe's message to Alice, the edit's stamp)."""
    from protocol import Edit, Edited, Read
    bench.relay.logins.guests.hold = 0.0
    alice, zoe = featured(bench, "Alice", bench.tokens), featured(bench, "Zoe", {})
    bench.relay.handle(alice, SendDirect("a1", "Zoe", "for the first Zoe"))
    bench.relay.handle(zoe, SendDirect("z1", "Alice", "from the first Zoe"))
    bench.settle()
    [to_zoe], [to_alice] = zoe.take(DirectMessage), alice.take(DirectMessage)
    bench.relay.handle(zoe, Receipt(to_zoe.msg_id))
    bench.relay.handle(alice, Receipt(to_alice.msg_id))
    bench.relay.handle(alice, Read("Zoe", to_alice.msg_id))
    bench.relay.handle(alice, Edit("e1", to_zoe.msg_id, "still for the first Zoe"))
    bench.settle()
    [edited] = zoe.take(Edited)
    assert not alice.take(ErrorReply) and not zoe.take(ErrorReply)
    bench.relay.disconnected(zoe, None)  # unconfirmed: its edit, and the outcome of its message
    return alice, to_zoe.msg_id, to_alice.msg_id, edited.at


def test_a_newcomer_confirms_and_acks_nothing_of_the_earlier_holders_messages(loop, store_kind):
    # As "read" (afterdelivered._read): a receipt, an edit_receipt and an ack for the
    # earlier holder's messages get unknown_message, as for any id that is not the session's
    # (PROTOCOL.md "Guest names"), and the store is not asked to change them.
    from protocol import EditReceipt, OutcomeAck, OutcomeAcks, Receipts
    bench = RelayBench(loop, store_kind)
    alice, to_zoe, from_zoe, at = earlier_zoe(bench)
    newcomer = featured(bench, "Zoe", {})
    frames = (Receipt(to_zoe), Receipts((to_zoe,)), EditReceipt(to_zoe, at), OutcomeAck(from_zoe),
              OutcomeAcks((from_zoe,)))
    answers = {}
    for frame in frames:
        bench.relay.handle(newcomer, frame)
        bench.settle()
        answers[type(frame).__name__] = [e.code for e in newcomer.take(ErrorReply)]
    assert answers == {type(frame).__name__: [ErrorCode.UNKNOWN_MESSAGE] for frame in frames}
    bench.store.close()


def test_a_newcomers_history_with_a_peer_tells_no_read_mark_of_the_earlier_holding(loop, store_kind):
    # Alice read the first Zoe's message: that mark is a message id of the earlier holding,
    # not the newcomer's to learn, neither on the page nor in the read frame after it.
    from protocol import Read
    bench = RelayBench(loop, store_kind)
    alice, to_zoe, from_zoe, at = earlier_zoe(bench)
    newcomer = featured(bench, "Zoe", {})
    bench.relay.handle(newcomer, HistoryRequest("hist", "Alice", 50))
    bench.settle()
    [page] = newcomer.take(HistoryPage)
    assert (page.messages, page.read_up_to) == ((), None)
    assert not newcomer.take(Read)
    bench.store.close()


def test_a_newcomer_is_not_told_a_peer_read_the_earlier_holders_message(loop, store_kind):
    # Alice, back, reads what the first Zoe wrote her: her read mark goes to her own other
    # devices, never to the newcomer, whose holding that message is not.
    from protocol import Read
    bench = RelayBench(loop, store_kind)
    bench.relay.logins.guests.hold = 0.0
    alice, zoe = featured(bench, "Alice", bench.tokens), featured(bench, "Zoe", {})
    bench.relay.handle(zoe, SendDirect("z1", "Alice", "from the first Zoe"))
    bench.settle()
    [from_zoe] = alice.take(DirectMessage)
    bench.relay.handle(alice, Receipt(from_zoe.msg_id))
    bench.relay.disconnected(zoe, None)
    newcomer = featured(bench, "Zoe", {})
    bench.relay.handle(alice, Read("Zoe", from_zoe.msg_id))
    bench.settle()
    assert not alice.take(ErrorReply)
    assert not newcomer.take(Read)
    bench.store.close()


def test_a_newcomer_is_not_told_a_read_of_the_earlier_holders_message_from_another_node(loop):
    # In a cluster the mark comes routed from the reader's node (AfterDelivered.routed):
    # the newcomer's node leaves it out as the reader's node would.
    from protocol import READ, Read
    from protocol.codec import encode
    bench = RelayBench(loop, "memory")
    bench.relay.logins.guests.hold = 0.0
    bench.relay.disconnected(featured(bench, "Alice", bench.tokens), None)  # known; now on another node
    zoe = featured(bench, "Zoe", {})
    bench.relay.handle(zoe, SendDirect("z1", "Alice", "the first Zoe's last"))
    bench.settle()
    [theirs] = zoe.take(Queued)
    bench.relay.disconnected(zoe, None)
    newcomer = featured(bench, "Zoe", {})
    bench.relay.handle(newcomer, SendDirect("z3", "Alice", "from the new Zoe"))
    bench.settle()
    [mine] = newcomer.take(Queued)
    for msg_id in (theirs.msg_id, mine.msg_id):
        bench.relay.after.routed("zoe", "alice", READ, encode(Read("Zoe", msg_id, "Alice")), time.time())
    frames = [frame for frame in newcomer.take(bytes) if b'"read"' in frame]
    assert frames == [encode(Read("Zoe", mine.msg_id, "Alice"))]
    bench.store.close()
