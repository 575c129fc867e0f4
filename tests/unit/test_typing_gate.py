"""The typing gate (server/typing.py): at most one "typing" per sender and recipient per
interval, reopened by a message, and bounded memory. A fake clock: plain numbers."""

from __future__ import annotations

from server.typing import TypingGate


def test_one_typing_per_interval_per_pair():
    gate = TypingGate(3.0)
    assert gate.allow("alice", "bob", 100.0)
    assert not gate.allow("alice", "bob", 101.0)
    assert not gate.allow("alice", "bob", 102.9)
    assert gate.allow("alice", "carol", 101.0)  # another recipient: its own pair
    assert gate.allow("bob", "alice", 101.0)  # the other direction too
    assert gate.allow("alice", "bob", 103.0)  # an interval after the last forwarded


def test_a_message_lets_the_next_typing_through_at_once():
    gate = TypingGate(3.0)
    assert gate.allow("alice", "bob", 100.0)
    gate.stopped("alice", "bob")
    assert gate.allow("alice", "bob", 100.5)


def test_prune_forgets_what_is_an_interval_old():
    gate = TypingGate(3.0)
    for number in range(1000):
        gate.allow(f"user{number}", "bob", 100.0)
    gate.allow("alice", "bob", 102.0)
    gate.prune(103.0)
    assert len(gate) == 1
    gate.prune(105.0)
    assert len(gate) == 0
