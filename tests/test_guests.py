"""A guest's private messages stay theirs: the resume token, the hold, the epoch.

Unit tests of :class:`server.guests.GuestNames` with a fake clock, then the relay driven
with fake sessions over an in-memory store (RelayBench): a guest who comes back with the
token gets what waited and its history; anyone else gets ``name_taken`` during the hold
and, after it, neither the queue nor the history of the name's earlier holder.
"""

from __future__ import annotations

import time

import pytest

from protocol import (
    Delivered, DirectMessage, ErrorCode, ErrorReply, HistoryPage, HistoryRequest, Queued, Receipt, Register,
    SendDirect, Welcome,
)
from server.guests import Claim, GuestNames
from test_store import RelayBench, loop  # noqa: F401  (the fixture)

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


# --- The relay ---------------------------------------------------------------------------


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


def test_a_guest_gets_a_resume_token_and_its_queue_and_history_with_it(loop):
    bench = RelayBench(loop)
    bob_leaves_with_mail(bench)
    back = bench.login("Bob")  # with the token the first welcome gave
    assert [m.text for m in back.take(DirectMessage)] == ["private 2", "private 3"]
    assert conversation(bench, back, "Alice") == ["hi Bob", "my secret", "private 2", "private 3"]
    bench.store.close()


def test_the_welcome_gives_a_token_to_a_new_holder_only(loop):
    bench = RelayBench(loop)
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


def test_during_the_hold_someone_else_is_refused_and_told_until_when(loop):
    bench = RelayBench(loop)
    bob_leaves_with_mail(bench)
    stranger = bench.attempt("BOB", tokens={})
    [refusal] = stranger.take(ErrorReply)
    assert refusal.code == ErrorCode.NAME_TAKEN and "UTC" in refusal.message
    until = time.strftime("%H:%M", time.gmtime(time.time() + bench.relay.config.guest_hold))
    assert until in refusal.message
    assert not stranger.take(Welcome) and not stranger.take(DirectMessage)
    # A wrong token is no better, and neither is claiming the name with a password.
    assert bench.attempt("Bob", tokens={"bob": "x" * 43}).take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    claim = bench.attempt("Bob", password="correct horse", register=True, tokens={})
    assert claim.take(ErrorReply)[0].code == ErrorCode.NAME_TAKEN
    bench.store.close()


def test_after_the_hold_someone_else_gets_neither_queue_nor_history(loop):
    bench = RelayBench(loop)
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


def test_the_old_holders_messages_confirmed_later_are_not_reported_to_the_new_holder(loop):
    bench = RelayBench(loop)
    bench.relay.logins.guests.hold = 0.0
    carol = bench.login("Carol")
    bench.relay.disconnected(carol, None)
    bob = bench.login("Bob")
    bench.relay.handle(bob, SendDirect("b-secret", "Carol", "for Carol"))
    bench.settle()
    bench.relay.disconnected(bob, None)
    stranger = bench.login("Bob", tokens={})
    carol = bench.login("Carol")
    [dm] = carol.take(DirectMessage)
    bench.relay.handle(carol, Receipt(dm.msg_id))
    bench.settle()
    assert not stranger.take(Delivered) and not stranger.sent
    bench.store.close()


def test_a_guest_who_registers_keeps_its_queue_and_history_and_nothing_older(loop):
    bench = RelayBench(loop)
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


def test_a_registered_name_is_unaffected(loop):
    bench = RelayBench(loop)
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
    from server import ServerConfig
    from server.relay import Relay
    from test_store import open_store

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
