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
from processes import pause_process, thread_states
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


def stopped_window(server: ServerThread, pid: int, answer: object) -> str:
    """Why Alice may have heard ``answer`` (a delivery) while the window was stopped: its
    process's state (T: stopped) and the sessions of Bob the server holds (another one?)."""
    try:
        state = "".join(sorted(thread_states(pid).values()))
    except OSError as exc:
        state = f"unknown ({exc})"
    sessions = server.call(lambda: [repr(each) for each in server.server.relay.registry.sessions_by_key("bob")])
    return (f"{answer!r} while the window was stopped: its threads' states {state}, Bob's sessions {sessions},"
            f" the window's local ports to the server {local_ports(pid, server.port)}")


def local_ports(pid: int, port: int) -> list[int]:
    """The local ports of process ``pid``'s IPv4 TCP connections to ``port`` (from /proc)."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        with open("/proc/net/tcp", encoding="ascii") as table:
            rows = [line.split() for line in table.readlines()[1:]]
    except OSError:
        return []
    return [int(row[1].split(":")[1], 16) for row in rows
            if int(row[2].split(":")[1], 16) == port and f"socket:[{row[9]}]" in inodes]


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
        # Stopped for sure before she writes: kill() returns before all of its threads are
        # stopped, and its receiver thread could meanwhile take her first message in and
        # confirm it (seen once: Delivered(a0) "while the window was stopped").
        pause_process(window.proc.pid)  # our own child, by its PID
        try:
            for n, text in enumerate(("primeira", "segunda")):
                alice.send(SendDirect(f"a{n}", "Bob", text))
                answer = alice.expect((Accepted, Queued, Delivered), skip=(Ping,))
                assert not isinstance(answer, Delivered), stopped_window(server, window.proc.pid, answer)
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
