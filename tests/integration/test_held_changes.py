"""Edits and deletes held back from a crowded reader (server/afterdelivered.py): each
message's latest change reaches it once it drains, also when a later change of another
message was written to it in between (the relay drives fake sessions over each store:
``RelayBench``). And what another node routes here: a typing notice too old is dropped;
after a break, a session that asked for catch_up is told to catch up."""

from __future__ import annotations

import time

import const
from protocol import (
    TYPING, Accepted, CatchUp, DirectMessage, Done, Edit, Edited, EditReceipt, Hello, Queued, Read, Receipt, SendDirect,
    Typing, Welcome,
)
from protocol.codec import encode
from server.relay import Relay
from test_store import FakeSession, RelayBench, loop, store_kind  # noqa: F401  (fixtures)


def _log_in_with_edits(bench: RelayBench, name: str, password: str | None = None, register: bool = False,
                       features: tuple[str, ...] = ("edits",)) -> FakeSession:
    bench.ports += 1
    session = FakeSession(bench.ports)
    bench.relay.connected(session)
    bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, password, register, features=features))
    bench.settle()
    assert [welcome.name for welcome in session.take(Welcome)] == [name], session.sent
    session.sent.clear()
    return session


def _edit(bench: RelayBench, alice: FakeSession, request_id: str, msg_id: int, text: str) -> None:
    bench.relay.handle(alice, Edit(request_id, msg_id, text))
    bench.settle()
    assert [done.request_id for done in alice.take(Done)] == [request_id]


def _sent_two(bench: RelayBench, alice: FakeSession, bob: FakeSession) -> list[int]:
    msg_ids = []
    for n in (1, 2):
        bench.relay.handle(alice, SendDirect(f"m{n}", "Bob", f"olá {n}"))
        bench.settle()
        [answer] = alice.take(Accepted) + alice.take(Queued)
        msg_ids.append(answer.msg_id)
    assert [m.msg_id for m in bob.take(DirectMessage)] == msg_ids  # and not confirmed: changes are told
    return msg_ids


def test_a_change_held_back_stays_held_when_another_message_s_change_is_written_before_the_drain(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = _log_in_with_edits(bench, "Alice"), _log_in_with_edits(bench, "Bob")
    first, second = _sent_two(bench, alice, bob)
    bob.lagging = True  # crowded: Alice's changes wait in the store
    _edit(bench, alice, "e1", first, "olá, turma")
    _edit(bench, alice, "e2", second, "até amanhã")
    # Held: the session's flush calls drained as soon as its queue is under the mark
    # (ClientSession.flush), not only the relay's recheck a quarter second on.
    assert bob.take(Edited) == [] and bob.held
    bob.lagging = False  # read meanwhile; the relay has not called drained yet
    _edit(bench, alice, "e3", first, "olá, turma!")  # written at once: not to be fetched again
    assert [(e.msg_id, e.text) for e in bob.take(Edited)] == [(first, "olá, turma!")]
    bench.relay.drained(bob)
    bench.settle()
    assert [(e.msg_id, e.text) for e in bob.take(Edited)] == [(second, "até amanhã")]
    assert bob not in bench.relay.after._changes_held
    bench.store.close()


def test_a_change_held_back_then_written_is_not_fetched_and_nothing_stays_held(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    alice, bob = _log_in_with_edits(bench, "Alice"), _log_in_with_edits(bench, "Bob")
    first, _ = _sent_two(bench, alice, bob)
    bob.lagging = True
    _edit(bench, alice, "e1", first, "olá, turma")
    bob.lagging = False
    _edit(bench, alice, "e2", first, "olá, turma!")
    assert [(e.msg_id, e.text) for e in bob.take(Edited)] == [(first, "olá, turma!")]
    assert bob not in bench.relay.after._changes_held  # (a set per session would stay until it left)
    bench.relay.drained(bob)
    bench.settle()
    assert bob.take(Edited) == []
    bench.store.close()


def test_changes_held_past_a_page_come_in_pages_until_all_are_told(loop, store_kind):
    # A fetch takes max_pending_receipts changes at most: Bob confirmed his messages, not
    # their edits (each told until its edit_receipt), so more can wait than one page holds.
    bench = RelayBench(loop, store_kind, max_pending_receipts=2)
    alice, bob = _log_in_with_edits(bench, "Alice"), _log_in_with_edits(bench, "Bob")
    msg_ids = []
    for n in range(5):
        bench.relay.handle(alice, SendDirect(f"m{n}", "Bob", f"olá {n}"))
        bench.settle()
        [message] = bob.take(DirectMessage)
        bench.relay.handle(bob, Receipt(message.msg_id))
        bench.settle()
        msg_ids.append(message.msg_id)
    bob.lagging = True
    for n, msg_id in enumerate(msg_ids):
        _edit(bench, alice, f"e{n}", msg_id, f"olá, turma {n}")
    assert bob.take(Edited) == []
    bob.lagging = False
    bench.relay.drained(bob)
    bench.settle()
    assert [(e.msg_id, e.text) for e in bob.take(Edited)] == [(m, f"olá, turma {n}") for n, m in enumerate(msg_ids)]
    assert bob not in bench.relay.after._changes_held
    bench.store.close()


def test_a_read_mark_from_another_device_does_not_stand_for_a_held_change(loop, store_kind):
    # Bob's laptop is crowded when Alice edits her message; his phone reads it meanwhile.
    # The read mark goes to the laptop at once (it always goes), and names the same
    # msg_id: the edit still waits for the laptop's drain, and comes then.
    bench = RelayBench(loop, store_kind)
    alice = _log_in_with_edits(bench, "Alice")
    both = ("edits", "read")
    laptop = _log_in_with_edits(bench, "Bob", "correct horse", register=True, features=both)
    phone = _log_in_with_edits(bench, "Bob", "correct horse", features=both)
    bench.announce_logins()
    bench.relay.handle(alice, SendDirect("m1", "Bob", "olá"))
    bench.settle()
    [message] = laptop.take(DirectMessage)
    assert [m.msg_id for m in phone.take(DirectMessage)] == [message.msg_id]
    laptop.lagging = True
    _edit(bench, alice, "e1", message.msg_id, "olá, turma")
    assert laptop.take(Edited) == [] and [e.text for e in phone.take(Edited)] == ["olá, turma"]
    bench.relay.handle(phone, Read("Alice", message.msg_id))
    bench.settle()
    assert [r.msg_id for r in laptop.take(Read)] == [message.msg_id]
    # And the same from a device of his on another node (routed: a frame).
    routed = encode(Read("Alice", message.msg_id, "Bob"))
    bench.relay.after.routed("bob", "bob", "read", routed, time.time())
    assert laptop.sent == [routed]
    laptop.sent.clear()
    laptop.lagging = False
    bench.relay.drained(laptop)
    bench.settle()
    assert [(e.msg_id, e.text) for e in laptop.take(Edited)] == [(message.msg_id, "olá, turma")]
    bench.store.close()


def test_a_typing_routed_from_another_node_is_dropped_once_older_than_the_typing_interval(loop):
    # Bob would show "Alice is typing" for longer than she typed; a read or an edit is
    # never too old. ``at`` is on this node's wall clock (bus.Conversation).
    bench = RelayBench(loop)
    bob = _log_in_with_edits(bench, "Bob", features=("typing", "read"))
    frame = encode(Typing("Bob", "Alice"))
    interval = bench.relay.config.typing_interval
    now = time.time()
    for age, written in ((interval + 1.0, False), (interval - 1.0, True), (0.0, True)):
        bench.relay.after.routed("bob", "alice", TYPING, frame, now - age)
        assert bob.sent == ([frame] if written else []), age
        bob.sent.clear()
    old_read = encode(Read("Bob", 7, "Alice"))
    bench.relay.after.routed("bob", "alice", "read", old_read, now - interval - 60.0)
    assert bob.sent == [old_read]
    bench.store.close()


def _asks_again_while_crowded(bench: RelayBench, session: FakeSession) -> None:
    """``session`` asks the relay to look again while it is crowded, as a ClientSession does."""
    def crowded() -> bool:
        if session.lagging:
            bench.relay.recheck_later(session)
        return session.lagging
    session.crowded = crowded  # type: ignore[method-assign]


def test_crowded_sessions_are_looked_at_again_together_on_one_timer_until_they_are_not(loop):
    # ClientSession.crowded asks the relay to look again (recheck_later) when its queue is
    # over the others' mark without asyncio's pause, which would call drained itself.
    bench = RelayBench(loop)
    timers: list = []
    bench.relay = Relay(bench.relay.config, bench.store,
                        schedule=lambda delay, callback: timers.append((delay, callback)))
    alice, bob = _log_in_with_edits(bench, "Alice"), _log_in_with_edits(bench, "Bob")
    carol = _log_in_with_edits(bench, "Carol")
    first, _ = _sent_two(bench, alice, bob)
    for session in (bob, carol):
        _asks_again_while_crowded(bench, session)
    del timers[:]  # (the presence notices' batches)
    bob.lagging = carol.lagging = True
    _edit(bench, alice, "e1", first, "olá, turma")  # held back from Bob: he is crowded
    assert bob.take(Edited) == []
    bench.relay.recheck_later(bob)
    bench.relay.recheck_later(carol)
    rechecks = [(delay, callback) for delay, callback in timers if delay == const.OTHERS_RECHECK]
    assert len(rechecks) == 1  # one timer for all, set once
    del timers[:]
    carol.lagging = False
    rechecks[0][1]()
    bench.settle()
    assert bob.take(Edited) == []  # still crowded: looked at again on a new timer
    rechecks = [(delay, callback) for delay, callback in timers if delay == const.OTHERS_RECHECK]
    assert len(rechecks) == 1
    bob.lagging = False
    del timers[:]
    rechecks[0][1]()
    bench.settle()
    assert [(e.msg_id, e.text) for e in bob.take(Edited)] == [(first, "olá, turma")]
    assert [delay for delay, _ in timers if delay == const.OTHERS_RECHECK] == []  # nobody is crowded now
    bench.store.close()


def test_after_a_break_the_sessions_that_asked_for_catch_up_are_told_it_before_what_is_told_again(loop):
    bench = RelayBench(loop)
    alice = _log_in_with_edits(bench, "Alice", features=("catch_up", "edits"))
    bob = _log_in_with_edits(bench, "Bob", features=("edits",))
    first, _ = _sent_two(bench, alice, bob)
    _edit(bench, alice, "e1", first, "olá, turma")
    bob.sent.clear()
    bench.relay.resync(time.time() - 60)
    bench.settle()
    # The author's client holds what it is told again until it has caught up: CatchUp first.
    assert [type(e) for e in alice.sent if isinstance(e, (CatchUp, Edited))] == [CatchUp, Edited]
    # Unconfirmed and made since the break: told once, not once as each.
    assert bob.take(CatchUp) == [] and [e.msg_id for e in bob.take(Edited)] == [first]
    bench.store.close()


def test_a_device_back_from_a_break_is_told_each_change_once_be_it_unconfirmed_or_missed(loop, store_kind):
    # Bob's phone saw both of Alice's edits and confirmed the second only. His laptop,
    # back from a break that began before both, is told the first as unconfirmed and the
    # second as missed: each once (the first is both, and was told twice).
    bench = RelayBench(loop, store_kind)
    alice = _log_in_with_edits(bench, "Alice")
    phone = _log_in_with_edits(bench, "Bob", "correct horse", register=True)
    first, second = _sent_two(bench, alice, phone)
    left = int(time.time() * 1000)
    _edit(bench, alice, "e1", first, "olá, turma")
    _edit(bench, alice, "e2", second, "até amanhã")
    [seen] = [e for e in phone.take(Edited) if e.msg_id == second]
    bench.relay.handle(phone, EditReceipt(second, seen.at))
    bench.settle()
    bench.ports += 1
    laptop = FakeSession(bench.ports)
    bench.relay.connected(laptop)
    bench.relay.handle(laptop, Hello("h", "Bob", const.PROTOCOL_VERSION, "correct horse", features=("edits",),
                                     last_heard=left))
    bench.settle()
    assert [w.name for w in laptop.take(Welcome)] == ["Bob"]
    assert [(e.msg_id, e.text) for e in laptop.take(Edited)] == [(first, "olá, turma"), (second, "até amanhã")]
    assert laptop not in bench.relay.after._told_unconfirmed  # (kept only until the missed ones are told)
    bench.store.close()
