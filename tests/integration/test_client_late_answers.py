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
from clientkit import server_behind_proxy, start
from faultproxy import FaultProxy
from protocol import Block, Done, ErrorReply, Event, RoomInfo, Watching
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
    with server_behind_proxy() as (server, proxy, clients):
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


@pytest.mark.timeout_seconds(60)
def test_a_password_or_setting_changed_after_its_timeout_is_kept_and_not_handed_on() -> None:
    with server_behind_proxy() as (server, proxy, clients):
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


@pytest.mark.timeout_seconds(60)
def test_a_block_or_unregister_answered_after_its_timeout_is_said_as_answered_late_not_as_unmatched() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = start(clients, proxy.port, "Ana", password=PASSWORD, register=True,
                    resume_tokens=ResumeTokens(None))
        drained(ana)
        timeout = answered_late(proxy, ana, lambda: ana.block("Bruno", timeout=SHORT))
        assert timeout.uncertain
        assert [name.lower() for name in ana.blocked(timeout=WAIT)] == ["bruno"]  # done: the server keeps it
        timeout = answered_late(proxy, ana, lambda: ana.unblock("Bruno", timeout=SHORT))
        assert ana.blocked(timeout=WAIT) == []
        timeout = answered_late(proxy, ana, lambda: ana.unregister("not the password", timeout=SHORT))
        assert timeout.uncertain
        events = drained(ana)
        assert unmatched_answers(events) == []  # neither the ok nor the refusal
        # Told, with what was asked: a window's block list follows it.
        block, unblock, unregister = said_late(events)
        assert (block.request, block.done, type(block.asked), block.asked.name) == ("block", True, Block, "Bruno")
        assert (unblock.request, unblock.done, unblock.asked.name) == ("unblock", True, "Bruno")
        assert (unregister.request, unregister.done, unregister.code) == ("unregister", False, "bad_password")
        assert unregister.asked is None  # its frame holds the password: not handed around
        assert ana.connected


@pytest.mark.timeout_seconds(60)
def test_an_edit_or_delete_answered_after_its_timeout_is_taken_in_and_said() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = start(clients, proxy.port, "Ana", resume_tokens=ResumeTokens(None))
        bruno = start(clients, server.port, "Bruno", resume_tokens=ResumeTokens(None))
        message = ana.send_direct("Bruno", "oi, tudo bem?")
        assert message.wait({"delivered"}, timeout=WAIT)
        drained(ana)
        answered_late(proxy, ana, lambda: ana.edit(message.msg_id, "oi, tudo bom?", timeout=SHORT))
        answered_late(proxy, ana, lambda: ana.delete(message.msg_id, timeout=SHORT))
        answered_late(proxy, ana, lambda: ana.edit(message.msg_id, "again", timeout=SHORT))
        events = drained(ana)
        assert unmatched_answers(events) == []
        edit, delete, refused = said_late(events)
        assert (edit.request, edit.done, edit.asked.msg_id, edit.asked.text) == (
            "edit", True, message.msg_id, "oi, tudo bom?")
        assert (delete.request, delete.done, delete.asked.msg_id) == ("delete", True, message.msg_id)
        assert edit.at is not None and delete.at is not None and delete.at >= edit.at  # when each was stamped
        assert (refused.request, refused.done, refused.asked.msg_id) == ("edit", False, message.msg_id)
        assert refused.code, refused
        assert bruno.connected


@pytest.mark.timeout_seconds(60)
def test_a_room_act_answered_after_its_timeout_is_said_with_its_room_and_person() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = start(clients, proxy.port, "Ana", resume_tokens=ResumeTokens(None))
        bruno = start(clients, server.port, "Bruno", resume_tokens=ResumeTokens(None))
        answered_late(proxy, ana, lambda: ana.join("#redes", timeout=SHORT))
        bruno.join("#redes", timeout=WAIT)
        answered_late(proxy, ana, lambda: ana.kick("#redes", "Bruno", timeout=SHORT))
        answered_late(proxy, ana, lambda: ana.set_topic("#nowhere", "x", timeout=SHORT))
        assert [member.name for member in ana.members("#redes", timeout=WAIT)] == ["Ana"]
        events = drained(ana)
        assert unmatched_answers(events) == []
        assert not [event for event in events if isinstance(event, RoomInfo)]  # the join's: not unmatched
        join, kick, topic = said_late(events)
        assert (join.request, join.done, join.asked.room_name) == ("join", True, "#redes")
        assert (kick.request, kick.done, kick.asked.room_name, kick.asked.name) == ("kick", True, "#redes", "Bruno")
        assert (topic.request, topic.done, topic.asked.room_name) == ("topic", False, "#nowhere")
        # Lists asked in pages are no change: a late page is dropped, not said.
        answered_late(proxy, ana, lambda: ana.rooms(timeout=SHORT))
        assert said_late(drained(ana)) == []


@pytest.mark.timeout_seconds(60)
def test_a_watch_answered_after_its_timeout_is_kept_for_the_reconnections_and_its_presence_handed_on() -> None:
    with server_behind_proxy() as (server, proxy, clients):
        ana = start(clients, proxy.port, "Ana", resume_tokens=ResumeTokens(None))
        start(clients, server.port, "Bruno", resume_tokens=ResumeTokens(None))
        drained(ana)
        answered_late(proxy, ana, lambda: ana.watch(["Bruno"], timeout=SHORT))
        assert ana.watched == ["Bruno"]  # the server watches it: a reconnection watches it again
        [watching] = [event for event in drained(ana) if isinstance(event, Watching)]
        assert [user.name for user in watching.users] == ["Bruno"]  # as watch_soon's answer


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
