"""A request whose caller timed out, on a connection that stays open, and the server's
answer that comes after (the real server, 127.0.0.1 port 0; Ana through
tests/support/faultproxy.py, which stops reading what she sends until the test lets it).

The answer used to be handed to the application as an unmatched one (a bare ``ok``, or a
refusal the window shows as "the server reported an error"), and what it said was lost: a
``register`` made after its caller was told "no answer" left the client a guest until some
reconnection's login found out. Now the caller is told the change may have been made
(``RequestTimeout.uncertain``), and the late answer is recognised: the client applies what
it says of its own state (``registered``, the password it keeps) and hands on nothing.
"""

from __future__ import annotations

import io
import os
import queue
import threading

import pytest

from client import AnsweredLate, ChatClient, RequestTimeout
from client.resume import ResumeTokens
from client.terminal import TerminalUI
from clientkit import start
from faultproxy import FaultProxy
from protocol import Done, ErrorReply, Event
from server import ServerConfig, ServerThread
from waits import wait_until

WAIT = 10.0
SHORT = 0.5  # the caller's patience, while the proxy holds the request back
PASSWORD = "correct horse battery"
NEW_PASSWORD = "battery staple horse"


def drained(client: ChatClient) -> list[Event]:
    events = []
    while True:
        try:
            events.append(client.events.get_nowait())
        except queue.Empty:
            return events


def answered_late(proxy: FaultProxy, ana: ChatClient, request) -> RequestTimeout:
    """Run ``request()`` while the proxy holds Ana's frames back, so that it times out;
    then let them through, and wait (a who(): answers come in order) until the server's
    late answer was read. Returns the timeout raised."""
    assert proxy.stall("Ana") == 1
    with pytest.raises(RequestTimeout) as raised:
        request()
    assert proxy.unstall("Ana") == 1
    ana.who(timeout=WAIT)  # answered after the late one: that one was read by now
    return raised.value


def unmatched_answers(events: list[Event]) -> list[Event]:
    return [event for event in events if isinstance(event, (Done, ErrorReply))]


def said_late(events: list[Event]) -> list[AnsweredLate]:
    return [event for event in events if isinstance(event, AnsweredLate)]


@pytest.mark.timeout_seconds(60)
def test_a_register_answered_after_its_timeout_makes_the_client_registered_and_is_not_handed_on() -> None:
    clients: list[ChatClient] = []
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            ana = start(clients, proxy.port, "Ana", resume_tokens=ResumeTokens(None))
            drained(ana)
            timeout = answered_late(proxy, ana, lambda: ana.register(PASSWORD, timeout=SHORT))
            assert timeout.uncertain and "not known" in str(timeout), timeout  # it may have been made
            assert ana.registered and ana.password == PASSWORD, (ana.registered, ana.password)
            assert ana.connected and ana.reconnects == 0  # learnt from the answer, not from a new login
            events = drained(ana)
            assert unmatched_answers(events) == []
            assert said_late(events) == [AnsweredLate("register", True)]  # for the front ends to say it
            # True on the server too.
            other = start(clients, server.port, "Ana", password=PASSWORD, resume_tokens=ResumeTokens(None))
            assert other.registered
        finally:
            for client in clients:
                client.close()


@pytest.mark.timeout_seconds(60)
def test_a_password_or_setting_changed_after_its_timeout_is_kept_and_not_handed_on() -> None:
    clients: list[ChatClient] = []
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            ana = start(clients, proxy.port, "Ana", password=PASSWORD, register=True,
                        resume_tokens=ResumeTokens(None))
            assert ana.registered
            drained(ana)
            timeout = answered_late(proxy, ana, lambda: ana.change_password(PASSWORD, NEW_PASSWORD, timeout=SHORT))
            assert timeout.uncertain
            assert ana.password == NEW_PASSWORD  # what the reconnections log in with
            assert ana.read_receipts is True
            timeout = answered_late(proxy, ana, lambda: ana.set_read_receipts(False, timeout=SHORT))
            assert ana.read_receipts is False  # no read mark goes while off: the server would refuse it
            events = drained(ana)
            assert unmatched_answers(events) == []
            assert said_late(events) == [AnsweredLate("password", True), AnsweredLate("settings", True)]
            # A refusal that comes late says that nothing was changed.
            answered_late(proxy, ana, lambda: ana.change_password("not the password", "another new one",
                                                                   timeout=SHORT))
            assert ana.password == NEW_PASSWORD
            [refused] = said_late(drained(ana))
            assert (refused.request, refused.done, refused.code) == ("password", False, "bad_password")
        finally:
            for client in clients:
                client.close()


@pytest.mark.timeout_seconds(60)
def test_a_block_answered_after_its_timeout_is_not_handed_on() -> None:
    clients: list[ChatClient] = []
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            ana = start(clients, proxy.port, "Ana", password=PASSWORD, register=True,
                        resume_tokens=ResumeTokens(None))
            drained(ana)
            timeout = answered_late(proxy, ana, lambda: ana.block("Bruno", timeout=SHORT))
            assert timeout.uncertain
            assert [name.lower() for name in ana.blocked(timeout=WAIT)] == ["bruno"]  # done: the server keeps it
            timeout = answered_late(proxy, ana, lambda: ana.unregister("not the password", timeout=SHORT))
            assert timeout.uncertain
            assert unmatched_answers(drained(ana)) == []  # neither the ok nor the refusal
            assert ana.connected
        finally:
            for client in clients:
                client.close()


class FakePrompt:
    """Stands in for getpass.getpass: the answers given, in order."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)

    def __call__(self, prompt: str = "Password: ", stream: object = None) -> str:
        return self.answers.pop(0)


@pytest.mark.timeout_seconds(60)
def test_the_terminal_says_a_register_answered_after_it_said_it_may_or_may_not_have_been_done(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("getpass.getpass", FakePrompt(PASSWORD, PASSWORD))
    read_end, write_end = os.pipe()
    out, err = io.StringIO(), io.StringIO()
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy, os.fdopen(read_end) as stdin:
        ui = TerminalUI("Ana", "127.0.0.1", proxy.port, timeout=2.0, stdin=stdin, stdout=out, stderr=err,
                        interactive=False, prompt_passwords=True)
        runner = threading.Thread(target=ui.run, name="terminal", daemon=True)
        runner.start()
        try:
            wait_until(lambda: proxy.live_links("Ana") == 1 and ui.client.connected, WAIT, "Ana's login")
            assert proxy.stall("Ana") == 1
            os.write(write_end, b"/register\n")
            wait_until(lambda: "may or may not have been done" in out.getvalue(), WAIT, "/register's timeout")
            assert not ui.client.registered
            assert proxy.unstall("Ana") == 1
            wait_until(lambda: "registered after all" in out.getvalue(), WAIT, out.getvalue())
            assert ui.client.registered
            assert out.getvalue().splitlines()[-1] == ("* the server's answer came late: Ana is registered after "
                                                       "all: log in with its password from now on")
        finally:
            os.close(write_end)  # the end of the script: the client leaves
            runner.join(WAIT)
        assert not runner.is_alive()
