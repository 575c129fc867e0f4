"""The reason the others are told when someone's connection ends (``left``, PROTOCOL.md):
what the session said (a quit, a timeout the sweep found), or else what the system said of
the connection (the relay drives fake sessions: ``RelayBench``)."""

from __future__ import annotations

import json

import pytest

from test_store import RelayBench, loop  # noqa: F401  (fixtures)


@pytest.mark.parametrize("leave_reason, exc, told", [
    ("disconnected", None, "disconnected"),  # the peer closed: nothing more to say
    ("disconnected", ConnectionResetError(104, "reset"), "connection lost (ConnectionResetError)"),
    # The system's timeout (TCP_USER_TIMEOUT: what was written stayed unacknowledged) is
    # the heartbeat's verdict reached another way.
    ("disconnected", TimeoutError(110, "timed out"), "timeout"),
    ("quit", ConnectionResetError(104, "reset"), "quit"),  # it said bye; the reset came after
])
def test_the_others_are_told_why_a_connection_ended(loop, leave_reason, exc, told):
    bench = RelayBench(loop, "memory")
    alice, bob = bench.login("Alice"), bench.login("Bob")
    bench.announce_logins()
    bob.leave_reason = leave_reason
    bench.relay.disconnected(bob, exc)
    bench.relay.presence.flush()
    frames = [json.loads(line) for item in alice.sent if isinstance(item, bytes) for line in item.splitlines()]
    assert [(f["name"], f["reason"]) for f in frames if f["type"] == "left"] == [("Bob", told)]
    bench.store.close()
