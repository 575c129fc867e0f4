"""A server process that stops running for a while (a VM paused by its host, a laptop that
serves a class and sleeps, SIGSTOP), then runs again: its clients, which kept pinging into
their sockets all along, must find their sessions still there.

The heartbeat's silence is the time a client said nothing while the server listened: the
time the server itself was away does not count (server/app.py, ``_sweep_forever``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from protocol import DirectMessage, ErrorReply, Ping, Pong, SendDirect, UserLeft
from servers import ServerProcess
from waits import wait_until
from wire import WireClient

INTERVAL, TIMEOUT = 1.0, 3.0


def _ping_until(clients: list[WireClient], until: float, tag: str) -> list[str]:
    """Ping from every client every 0.3 s until the monotonic time ``until``: what a live
    client does while its server does not answer. Returns the tokens sent."""
    tokens = []
    while True:
        token = f"{tag}{len(tokens)}"
        for client in clients:
            client.send(Ping(token))
        tokens.append(token)
        if time.monotonic() >= until:
            return tokens
        time.sleep(min(0.3, max(0.0, until - time.monotonic())))  # the pace of the pings, not a wait for a condition


def _stopped(pid: int) -> bool:
    """True once process ``pid`` is stopped (its state in /proc is T)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] == "T"


def _answered(client: WireClient, token: str, seen: list) -> bool:
    """True once ``token``'s Pong has come (every event read is kept in ``seen``)."""
    seen.extend(client.drain(quiet=0.05, timeout=0.2))
    return any(isinstance(event, Pong) and event.token == token for event in seen)


@pytest.mark.timeout_seconds(60)
def test_clients_that_pinged_while_the_server_was_stopped_keep_their_sessions(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGSTOP past the heartbeat timeout, then SIGCONT: the pings that waited in the
    sockets are read, nobody who pinged is dropped as silent, a message sent during the
    pause is delivered once, and a client that said nothing goes within the timeout."""
    settings = tmp_path / "const_local.py"
    settings.write_text(f"HEARTBEAT_INTERVAL = {INTERVAL}\nHEARTBEAT_TIMEOUT = {TIMEOUT}\n")
    monkeypatch.setenv("CHAT_CONST_LOCAL", str(settings))
    with ServerProcess("--memory") as server, \
            WireClient.login(server.host, server.port, "Alice") as alice, \
            WireClient.login(server.host, server.port, "Bob") as bob, \
            WireClient.login(server.host, server.port, "Carol") as carol:  # a ghost: it never speaks again
        events: dict[str, list] = {"Alice": [], "Bob": []}
        # Stopped while idle, as a paused VM mostly is: in its wait for events, which the
        # stop interrupts; its first look after SIGCONT then finds nothing to read.
        alice.drain(quiet=0.5)
        bob.drain(quiet=0.5)
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: _stopped(server.proc.pid), 5, "the server stopped")
            alice.send(SendDirect("m1", "Bob", "sent while the server was stopped"))
            _ping_until([alice, bob], time.monotonic() + 2 * TIMEOUT, "paused")
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
            resumed = time.monotonic()
        # A few sweeps of the server after it runs again (a sweep every INTERVAL / 4 s).
        after = _ping_until([alice, bob], time.monotonic() + INTERVAL, "after")
        for name, client in (("Alice", alice), ("Bob", bob)):
            wait_until(lambda: _answered(client, after[-1], events[name]), 10, f"{name}'s last ping answered")
        for name in events:
            assert not [e for e in events[name] if isinstance(e, ErrorReply)
                        or isinstance(e, UserLeft) and e.name != "Carol"], \
                (name, events[name])
        assert len([e for e in events["Bob"] if isinstance(e, DirectMessage)]) == 1, events["Bob"]
        assert "logout Alice" not in "".join(server.lines) and "logout Bob" not in "".join(server.lines)
        # The silent one (never read again, so it answers no ping) still goes, a
        # heartbeat timeout after the server runs again.
        wait_until(lambda: "logout Carol" in "".join(server.lines), TIMEOUT + 5, "Carol dropped")
        assert time.monotonic() - resumed < TIMEOUT + 5
