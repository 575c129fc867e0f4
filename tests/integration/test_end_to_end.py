"""End to end, as a user runs it: chatserver.py and chatclient.py as real processes.

The clients are driven through pipes (standard input not a terminal: one command per line
in, one event per line out), exactly as a script would use them.
"""

from __future__ import annotations

import signal

import pytest
from lineprocess import DEADLINE, Process


@pytest.fixture
def server(tmp_path):
    process = Process("chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", "0",
                      "--data", str(tmp_path / "data"))
    try:
        process.port = int(process.wait_for(r"listening on \S+:(\d+)").group(1))
        yield process
    finally:
        process.stop()


def client(server: Process, name: str, *args: str, stdin: bool = True) -> Process:
    return Process("chatclient.py", name, "--host", "127.0.0.1", "--port", str(server.port), *args, stdin=stdin)


def test_two_terminal_clients_chat_through_pipes_with_delivered_acks(server):
    bob = client(server, "Bob")
    alice = client(server, "Alice")
    try:
        server.wait_for(r"login Bob")
        server.wait_for(r"login Alice")
        alice.type("@Bob hello Bob, olá 🌍")
        bob.wait_for(r"Alice → you: hello Bob, olá 🌍")
        alice.wait_for(r"delivered to Bob")
        bob.type("@alice hi Alice")
        alice.wait_for(r"Bob → you: hi Alice")
        bob.wait_for(r"(?i)delivered to Alice")
        alice.type("/to Bob")
        alice.type("plain line to the current target")
        bob.wait_for(r"Alice → you: plain line to the current target")
        alice.type("/all")
        alice.type("hello room")
        bob.wait_for(r"\(room\) Alice: hello room")
        alice.type("/whois Bob")
        alice.wait_for(r"Bob is online from 127\.0\.0\.1:\d+")
        alice.type("/quit")
        assert alice.proc.wait(DEADLINE) == 0
        bob.wait_for(r"Alice left \(quit\)")
    finally:
        alice.stop()
        bob.stop()


def test_escape_sequences_in_messages_never_reach_the_terminal(server):
    bob = client(server, "Bob")
    try:
        server.wait_for(r"login Bob")
        send = client(server, "Mallory", "--send", "Bob", "\x1b]0;pwned\x07\x1b[2Jclear screen", stdin=False)
        assert send.proc.wait(DEADLINE) == 0
        line = bob.wait_for(r"Mallory → you: .*clear screen").string
        assert "\x1b" not in line and "\x07" not in line and "\\x1b" in line
    finally:
        bob.stop()


def test_send_exits_0_when_delivered_and_1_for_an_unknown_user(server):
    bob = client(server, "Bob")
    try:
        server.wait_for(r"login Bob")
        carol = client(server, "Carol", "--send", "Bob", "from a script", stdin=False)
        assert carol.proc.wait(DEADLINE) == 0
        carol.wait_for(r"delivered to Bob")
        bob.wait_for(r"Carol → you: from a script")
        nobody = client(server, "Carol", "--send", "Zed", "anyone?", stdin=False)
        assert nobody.proc.wait(DEADLINE) == 1
        nobody.wait_for(r"Zed")
    finally:
        bob.stop()


def test_server_shutdown_tells_the_clients_and_without_reconnecting_they_exit(server):
    bob = client(server, "Bob", "--no-reconnect")
    try:
        server.wait_for(r"login Bob")
        server.proc.send_signal(signal.SIGTERM)
        bob.wait_for(r"shutting down")
        assert bob.proc.wait(DEADLINE) == 3
        assert server.proc.wait(DEADLINE) == 0
    finally:
        bob.stop()


def test_a_restarted_server_gets_its_terminal_clients_back_with_what_was_typed(server, tmp_path):
    bob = client(server, "Bob")
    alice = client(server, "Alice")
    again = None
    try:
        server.wait_for(r"login Bob")
        server.wait_for(r"login Alice")
        server.proc.send_signal(signal.SIGTERM)  # a planned restart: stop, then start on the same port
        assert server.proc.wait(DEADLINE) == 0
        bob.wait_for(r"reconnecting .*shutting down")
        alice.wait_for(r"reconnecting .*shutting down")
        alice.type("@Bob typed while the server restarts")
        again = Process("chatserver.py", "--host", "127.0.0.1", "--port", str(server.port), "--web-port", "0",
                        "--data", str(tmp_path / "data"))
        again.wait_for(r"listening on")
        bob.wait_for(r"Alice → you: typed while the server restarts")
        alice.wait_for(r"delivered to Bob")
        assert bob.proc.poll() is None and alice.proc.poll() is None
        assert not [line for line in bob.seen + alice.seen if "Disconnected by the server" in line]
    finally:
        if again is not None:
            again.stop()
        bob.stop()
        alice.stop()
