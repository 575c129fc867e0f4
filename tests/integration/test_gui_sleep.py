"""The real window (Xvfb) of a laptop that slept: its process stopped (SIGSTOP) for longer
than the server's timeout while Alice wrote to Bob, then resumed. The window must come
back by itself, show each of her messages once and in order, count them unread once,
and say "connected" again; Alice sees Bob leave and come back, once each.

Driven as tests/integration/test_gui.py drives the window (its fixtures, its test hook).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from protocol import Accepted, Delivered, Ping, Queued, SendDirect, UserJoined, UserLeft

# Pings are answered as they are read; her messages' outcomes may come before or after
# Bob's return is announced (the window's receipts race its join notice).
PASS = (Ping, Accepted, Queued, Delivered)
from server import ServerConfig, ServerThread
from test_gui import contact, display, open_gui  # noqa: F401  (fixtures)
from wire import WireClient

pytestmark = pytest.mark.timeout_seconds(120)


def bob_notice(alice: WireClient, kind: type, timeout: float) -> None:
    """Wait for Alice to hear that Bob joined or left (her own notices and the rest passed)."""
    deadline = time.monotonic() + timeout
    while True:
        event = alice.expect((kind, UserJoined, UserLeft), max(0.01, deadline - time.monotonic()), skip=PASS)
        if isinstance(event, kind) and event.name == "Bob":
            return
        assert event.name != "Bob", f"Bob: {event!r} before {kind.__name__}"


@pytest.fixture
def server() -> Iterator[ServerThread]:
    # A short timeout: the server gives the stopped window up within a few seconds. (1.5 s
    # was shorter than a loaded CI machine may leave a starting window unscheduled.)
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=1.0,
                                   heartbeat_timeout=3.0)) as srv:
        yield srv


def test_a_window_stopped_past_the_servers_timeout_comes_back_by_itself(server, open_gui) -> None:  # noqa: F811
    # The window first, then Alice: she answers the server's pings only while she reads,
    # and a window starting on a loaded machine can take longer than the server's timeout
    # (CI, once: Alice given up for silence before Bob was in).
    window = open_gui("Bob")
    window.logged_in()
    with WireClient.login(server.host, server.port, "Alice") as alice:
        assert alice.expect(UserJoined, skip=PASS).name == "Alice"  # her own, first
        os.kill(window.proc.pid, signal.SIGSTOP)  # our own child, by its PID
        try:
            for n, text in enumerate(("primeira", "segunda")):
                alice.send(SendDirect(f"a{n}", "Bob", text))
                alice.expect((Accepted, Queued), skip=(Ping,))
            bob_notice(alice, UserLeft, 10)
        finally:
            os.kill(window.proc.pid, signal.SIGCONT)
        bob_notice(alice, UserJoined, 20)
        state = window.wait(lambda s: s["state"] == "connected" and "segunda" in s["panes"].get("@bob", "")
                            + str(s["panes"]), "Alice's messages after the window came back")
        texts = str(state["panes"])
        assert texts.count("primeira") == 1 and texts.count("segunda") == 1, state["panes"]
        assert texts.index("primeira") < texts.index("segunda")
        row = contact(state, "@alice") or contact(state, "alice")
        assert row is not None and row["unread"] in ("2", 2), state["contacts"]
