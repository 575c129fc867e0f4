"""``chatclient.py NAME --send TO TEXT``: outcomes and exit statuses (client.oneshot)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from client import ChatClient
from client.exitcodes import ExitCode
from client.oneshot import send_once
from fakeserver import FakeServer, bob, server  # noqa: F401  (bob, server: fixtures)
from protocol import DirectMessage

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0


def send(server: FakeServer, to: str, text: str, name: str = "Carol", timeout: float = WAIT) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = send_once(name, to, text, host=server.host, port=server.port, timeout=timeout, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_exit_codes_are_the_documented_ones() -> None:
    assert [(c.name, c.value) for c in ExitCode] == [
        ("OK", 0), ("REFUSED", 1), ("USAGE", 2), ("NO_SERVER", 3), ("LOGIN_REFUSED", 4), ("TIMEOUT", 5),
        ("AUTH_FAILED", 6), ("UNAVAILABLE", 7), ("INTERRUPTED", 130), ("TERMINATED", 143)]
    assert "  6  authentication failed" in ExitCode.describe()
    assert "  5  no delivery acknowledgement" in ExitCode.describe()
    assert "  7  the server cannot store anything now" in ExitCode.describe()
    assert "(its disk is full or failing, or it cannot reach its Redis)" in ExitCode.describe()  # both stores


def test_delivered_exits_0(server: FakeServer, bob: ChatClient) -> None:
    code, out, err = send(server, "Bob", "some text")
    assert (code, out, err) == (ExitCode.OK, "delivered to Bob (msg 1)\n", "")
    event = bob.events.get(timeout=WAIT)
    while not isinstance(event, DirectMessage):
        event = bob.events.get(timeout=WAIT)
    assert (event.sender, event.text) == ("Carol", "some text")


def test_refused_by_the_server_exits_1(server: FakeServer) -> None:
    code, out, err = send(server, "Bob", "anyone?")
    assert (code, out) == (ExitCode.REFUSED, "")
    assert err == "error: not sent to Bob — nobody called Bob has ever logged in here: check the name\n"


def test_too_long_exits_1(server: FakeServer, bob: ChatClient) -> None:
    code, _, err = send(server, "Bob", "x" * 100_000)
    assert code == ExitCode.REFUSED and "the text is longer than 4000 characters" in err


def test_no_server_exits_3() -> None:
    with FakeServer() as server:
        pass
    code, out, err = send(server, "Bob", "hi")
    assert (code, out) == (ExitCode.NO_SERVER, "")
    assert err.startswith("error: connection to 127.0.0.1:") and "refused" in err


def test_name_taken_exits_4(server: FakeServer, bob: ChatClient) -> None:
    code, _, err = send(server, "Bob", "hi", name="bob")
    assert code == ExitCode.LOGIN_REFUSED
    assert err.startswith("error: login refused: ") and "is in use" in err


def test_no_acknowledgement_exits_5() -> None:
    with FakeServer(deliver=False) as server:
        bob = ChatClient("Bob", server.host, server.port)
        bob.connect(timeout=WAIT)
        try:
            code, out, err = send(server, "Bob", "hi", timeout=0.3)
        finally:
            bob.close()
    assert (code, out) == (ExitCode.TIMEOUT, "")
    assert err.startswith("error: no delivery confirmation from Bob within 0.3 s (the server accepted it as msg ")


def test_the_command_line(server: FakeServer, bob: ChatClient) -> None:
    done = subprocess.run([sys.executable, "chatclient.py", "Carol", "--port", str(server.port), "--send", "Bob", "hi there"],
                          cwd=ROOT, capture_output=True, text=True, encoding="utf-8", timeout=WAIT)
    assert (done.returncode, done.stdout, done.stderr) == (0, "delivered to Bob (msg 1)\n", "")


@pytest.mark.parametrize("args", [["Carol", "--send", "Bob"], ["Carol", "--port", "70000"], [],
                                  ["Carol", "--timeout", "-1", "--send", "Bob", "x"],
                                  # An empty message was delivered: "Carol → you:" and nothing.
                                  ["Carol", "--send", "Bob", ""], ["Carol", "--send", "Bob", " \n "],
                                  ["Carol", "--send", "#redes", "hi"]])  # not to a room: it said nobody is called so
def test_usage_errors_exit_2(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "chatclient.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT, stdin=subprocess.DEVNULL)
    assert done.returncode == ExitCode.USAGE
    assert "usage: chatclient.py" in done.stderr


def test_help_lists_the_exit_statuses() -> None:
    done = subprocess.run([sys.executable, "chatclient.py", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT)
    assert done.returncode == 0
    assert "exit status:" in done.stdout and "login refused" in done.stdout


def test_a_login_refused_as_unavailable_exits_7() -> None:
    with FakeServer(refuse=("unavailable", "the server cannot save anything right now")) as server:
        code, out, err = send(server, "Bob", "hi")
    assert (code, out) == (ExitCode.UNAVAILABLE, "")
    assert "cannot use its storage right now" in err and "try again" in err


@pytest.mark.parametrize("uncertain", [False, True], ids=["unavailable", "unconfirmed"])
def test_a_message_given_up_after_unavailable_answers_says_how_often_it_was_tried_and_exits_7(
        uncertain: bool) -> None:
    """A server whose store fails every message (asking for a retry after 0.1 s): --send
    said the server's last wait ("...; try again later"), or only "may or may not", though
    the client had tried six times; now it says how often and how long, as the terminal."""
    from server import ServerConfig, ServerThread
    from server.store import StoreUnavailable
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, unavailable_retry_after=0.1)) as srv:
        def fail_every_message() -> None:
            srv.server.relay.store.store_fields = lambda fields, callback=None, on_error=None: on_error(
                StoreUnavailable("disk full", maybe_done=uncertain))
        bob = ChatClient("Bob", "127.0.0.1", srv.port)
        bob.connect(timeout=WAIT)
        try:
            srv.call(fail_every_message)
            code, out, err = send(srv, "Bob", "hi")  # type: ignore[arg-type]
        finally:
            bob.close()
    assert (code, out) == (ExitCode.UNAVAILABLE, ""), err
    assert "tried 6 times in " in err, err
    assert ("may or may not have been" in err) == uncertain, err


def test_messages_that_came_meanwhile_are_under_a_line_naming_their_day() -> None:
    """--send prints the messages waiting for us (offline deliveries at login): yesterday's
    under "── Yesterday ──", as the interactive terminal shows them; the stamps stay HH:MM.
    Where it is about noon: a midnight between the test's "yesterday" and the drawing made
    it the day before."""
    import datetime
    import threading
    import time

    from noonzone import living_at_noon
    with living_at_noon(), FakeServer(deliver=False) as server:
        day = datetime.date.today() - datetime.timedelta(days=1)
        yesterday = time.mktime((day.year, day.month, day.day, 23, 0, 0, 0, 0, -1))
        bob = ChatClient("Bob", server.host, server.port)
        bob.connect(timeout=WAIT)
        try:
            def deliver() -> None:  # while Carol's --send waits for its confirmation
                server.wait_online("Carol")
                server.send("Carol", DirectMessage(7, "Bob", "Carol", "boa noite", yesterday))
                server.send("Carol", DirectMessage(8, "Bob", "Carol", "bom dia", time.time()))
            helper = threading.Thread(target=deliver, daemon=True)
            helper.start()
            code, out, err = send(server, "Bob", "hi", timeout=1.5)
            helper.join(WAIT)
        finally:
            bob.close()
    lines = out.splitlines()
    assert code == ExitCode.TIMEOUT and lines[0] == "── Yesterday ──" and lines[2] == "── Today ──", (out, err)
    assert lines[1] == "[23:00] Bob → you: boa noite" and lines[3].endswith("] Bob → you: bom dia"), lines
