"""/to NAME asks the server who NAME is (``whois``, within the terminal's timeout) and
says it: online; offline (messages wait for their next login: PROTOCOL.md, "send"); or
nobody by that name has logged in (a message to it would be refused). It went on as if
every name existed, and only the first line sent said the name was wrong.

Without a connection: the library's calls are stand-ins (client/terminal.py). With a real
server: tests/integration/test_client_scripted.py and test_client_tmux.py.
"""

from __future__ import annotations

import io

import pytest

import i18n
from client.errors import NotConnected, RequestTimeout
from client.exitcodes import ExitCode
from client.outgoing import DELIVERED, OutgoingMessage
from client.terminal import TerminalUI
from protocol import LookupResult, Presence

TIMEOUT = 2.5


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use("en")


def _pipe(typed: str, monkeypatch: pytest.MonkeyPatch, registry: dict[str, tuple[str, str]],
          online: tuple[str, ...] = ()) -> tuple[TerminalUI, io.StringIO, list]:
    """A pipe terminal reading ``typed`` whose server knows ``registry`` (canonical name ->
    (name, status)) and has ``online`` online; returns it, its stdout, and what was asked
    and sent: ("whois", name, timeout) and ("send", to, text)."""
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, timeout=TIMEOUT, stdin=io.StringIO(typed), stdout=out,
                    stderr=io.StringIO(), interactive=False)
    asked: list = []

    def lookup(name: str, timeout: float) -> LookupResult:
        asked.append(("whois", name, timeout))
        spelt, status = registry.get(name.lower(), (name, "unknown"))
        return LookupResult("1", spelt, status)

    def send_direct(to: str, text: str) -> OutgoingMessage:
        asked.append(("send", to, text))
        message = OutgoingMessage(f"r{len(asked)}", to, text)
        message.submitted = True
        message._advance(DELIVERED, msg_id=len(asked))
        return message

    monkeypatch.setattr(ui.client, "lookup", lookup)
    monkeypatch.setattr(ui.client, "send_direct", send_direct)
    monkeypatch.setattr(ui.client, "who", lambda timeout: [Presence(name, 0.0) for name in online])
    monkeypatch.setattr(ui.client, "watch_soon", lambda names: None)
    return ui, out, asked


def test_to_someone_online_says_where_plain_lines_go_as_the_server_spells_the_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/to joão\noi\n", monkeypatch, {"joão": ("João", "online")})
    assert ui._loop() == ExitCode.OK
    assert out.getvalue().splitlines()[0] == "* plain lines now go to João"
    assert asked[0] == ("whois", "joão", TIMEOUT) and asked[1] == ("send", "João", "oi"), asked


def test_to_someone_offline_says_the_lines_wait_for_their_next_login(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/to conceição\n", monkeypatch, {"conceição": ("Conceição", "offline")})
    assert ui._loop() == ExitCode.OK
    assert out.getvalue().splitlines() == [
        "* plain lines now go to Conceição, who is offline: they wait for their next login"]


def test_to_a_name_nobody_has_says_so_at_once_and_nothing_goes_to_the_room_instead(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain lines go to the name all the same: a line meant for it never goes to the room
    (or to whoever they went to before), and each is refused as it was."""
    ui, out, asked = _pipe("/to Joao\nsó para você\n", monkeypatch, {"joão": ("João", "online")}, online=("João",))
    assert ui._loop() == ExitCode.REFUSED  # the /to line did not do what it was for
    assert out.getvalue().splitlines()[0] == \
        "! plain lines now go to Joao, but nobody called Joao has ever logged in here, so they are not sent: did " \
        "you mean João?"
    assert ("send", "Joao", "só para você") in asked, asked  # (the server refuses it: unknown_recipient)


def test_to_a_name_nobody_has_without_a_likely_one(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, _ = _pipe("/to Zed\n", monkeypatch, {})
    ui._loop()
    assert out.getvalue().splitlines()[0] == \
        "! plain lines now go to Zed, but nobody called Zed has ever logged in here, so they are not sent: check the " \
        "name"


@pytest.mark.parametrize("failure", [NotConnected("not connected to the server (reconnecting: connection lost)"), RequestTimeout("no answer within 2.5 s")])
def test_to_while_the_server_cannot_answer_goes_there_and_says_the_name_was_not_checked(
        monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    ui, out, _ = _pipe("/to Bob\n", monkeypatch, {})

    def fails(name: str, timeout: float) -> LookupResult:
        raise failure

    monkeypatch.setattr(ui.client, "lookup", fails)
    assert ui._loop() == ExitCode.OK
    assert out.getvalue().splitlines()[0] == \
        f"* plain lines now go to Bob; the name could not be checked: {failure}"
    assert ui._target == "Bob"


def test_to_a_room_and_all_ask_nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out, asked = _pipe("/to #redes\n/all\n", monkeypatch, {})
    ui._loop()
    assert asked == [] and out.getvalue().splitlines() == ["* plain lines now go to #redes",
                                                           "* plain lines now go to the room"]


def test_to_in_portuguese(monkeypatch: pytest.MonkeyPatch) -> None:
    i18n.use("pt_BR")
    ui, out, _ = _pipe("/para Zed\n/para conceição\n", monkeypatch, {"conceição": ("Conceição", "offline")})
    ui._loop()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("! agora o que você digitar vai para Zed, mas ninguém chamado Zed jamais entrou"), lines
    assert lines[1].startswith("* agora o que você digitar vai para Conceição, que está offline"), lines
