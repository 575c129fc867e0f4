"""The terminal client's session through TerminalUI, without a connection: the library's
calls are stand-ins and the server's events are fed by hand, on the test's thread
(client/terminal.py). The same in a real terminal is in tests/integration/test_client_tmux*.py."""

from __future__ import annotations

import io
import time

import pytest

import const
from client import auth
from client.errors import LoginRefused
from client.exitcodes import ExitCode
from client.outgoing import DELIVERED, OutgoingMessage
from client.terminal import TerminalUI
from client.terminal_input import read_as_utf8, redecoded, undecodable_line
from protocol import CatchUp, ConnectionClosed, ErrorCode, ErrorReply, Goodbye, Welcome

NEW_PASSWORD = "the operator's new one"


def _ui(typed: str, prompting: bool) -> tuple[TerminalUI, io.StringIO]:
    """A terminal whose session is open, with ``typed`` as its input (one line each);
    ``prompting``: a person is there to be asked for passwords (a terminal), else a script."""
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, timeout=1.0, stdin=io.StringIO(typed), stdout=out, stderr=out,
                    interactive=False, prompt_passwords=prompting, password="the old one")
    return ui, out


def _signed_out(ui: TerminalUI, code: str = ErrorCode.PASSWORD_RESET) -> None:
    """The server ends the session for its password, as it does: the error, bye, the end."""
    reason = const.PASSWORD_RESET_REASON if code == ErrorCode.PASSWORD_RESET else const.PASSWORD_CHANGED_REASON
    ui._on_event(ErrorReply(code, "log in again with the new password"))
    ui._on_event(Goodbye(reason))
    ui.client.close_reason = reason
    ui._on_event(ConnectionClosed())


@pytest.mark.parametrize("code", [ErrorCode.PASSWORD_RESET, ErrorCode.PASSWORD_CHANGED])
def test_signed_out_for_its_password_a_terminal_asks_for_the_new_one_and_goes_on(
        monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    """The operator's /password NAME (or a change on another device) ended the terminal with
    "start the client again", status 6: with a person there, the login's own prompt asks for
    the new password in place, and what is typed next goes out on the new session."""
    ui, out = _ui("@Bob still here\n", prompting=True)
    tried: list[str | None] = []
    asked: list[str] = []

    def connect(timeout: float, *, retry_until: float | None = None, on_retry: object = None) -> Welcome:
        tried.append(ui.client.password)
        if ui.client.password != NEW_PASSWORD:  # the old one is refused now; none: it is needed
            raise LoginRefused(ErrorCode.BAD_PASSWORD if ui.client.password else ErrorCode.AUTH_REQUIRED, "no")
        return Welcome("h", "Alice", 2, "server", 15.0, registered=True)

    sent: list[tuple[str, str]] = []

    def send_direct(to: str, text: str) -> OutgoingMessage:
        sent.append((to, text))
        message = OutgoingMessage("r1", to, text)
        message.submitted = True
        message._advance(DELIVERED, msg_id=5)
        return message

    monkeypatch.setattr(ui.client, "connect", connect)
    monkeypatch.setattr(ui.client, "send_direct", send_direct)
    monkeypatch.setattr(ui.client, "watch_soon", lambda names: None)
    monkeypatch.setattr(auth, "ask_password", lambda prompt: asked.append(prompt) or NEW_PASSWORD)
    _signed_out(ui, code)
    assert ui._loop() == ExitCode.OK
    said = out.getvalue()
    # The old password is never tried again: the prompt is the login's, asked once.
    assert tried == [None, NEW_PASSWORD] and asked == ["password for Alice: "], (tried, asked)
    assert "start the client again" not in said and "wrong password" not in said, said
    assert "log in again with the new password" in said, said
    assert said.count("* connected to 127.0.0.1:9 as Alice (registered)") == 1, said
    assert sent == [("Bob", "still here")]


def test_signed_out_a_terminal_whose_user_gives_up_at_the_prompt_ends_as_at_the_start(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out = _ui("", prompting=True)

    def no_password(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr(ui.client, "connect", lambda timeout, **_: (_ for _ in ()).throw(
        LoginRefused(ErrorCode.AUTH_REQUIRED, "it needs its password")))
    monkeypatch.setattr(auth, "ask_password", no_password)
    _signed_out(ui)
    assert ui._loop() == ExitCode.AUTH_FAILED
    assert "no password given" in out.getvalue()


def test_signed_out_a_script_is_told_how_to_log_in_again_and_ends_with_status_6(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ui, out = _ui("@Bob never sent\n", prompting=False)
    monkeypatch.setattr(ui.client, "connect", lambda *a, **k: pytest.fail("a script has nobody to ask"))
    _signed_out(ui)
    assert ui._loop() == ExitCode.AUTH_FAILED
    said = out.getvalue()
    assert "; to log in again, start the client again: it asks for the password" in said, said
    assert "Disconnected" not in said


def test_ctrl_c_at_the_logins_password_prompt_ends_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C at "password for Alice:" hung the terminal for good: the login holds the
    output lock, and the new line after ^C took it again."""
    import threading
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=io.StringIO(), stdout=out, stderr=out, interactive=True,
                    prompt_passwords=True)

    def interrupted(prompt: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(ui.client, "connect", lambda timeout, **_: (_ for _ in ()).throw(
        LoginRefused(ErrorCode.AUTH_REQUIRED, "it needs its password")))
    monkeypatch.setattr(auth, "ask_password", interrupted)
    ended: list[int] = []
    runner = threading.Thread(target=lambda: ended.append(ui._run()), daemon=True)
    runner.start()
    runner.join(5.0)
    assert ended == [ExitCode.INTERRUPTED]
    assert out.getvalue() == "\n"


def test_an_error_without_id_is_said_in_the_sentence_for_its_code_not_as_a_server_error() -> None:
    """An unknown_message answering a read or receipt, or the reason the server closed the
    connection, showed as "! server error: message 999 was not sent to you (unknown_message)":
    the server's English and the code, past the sentence the client keeps for that code."""
    import i18n
    ui, out = _ui("", prompting=False)
    ui._on_event(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, "message 999 was not sent to you"))
    ui._on_event(ErrorReply(ErrorCode.HEARTBEAT_TIMEOUT, "no frame for 45 s"))
    ui._on_event(ErrorReply("too_many_errors", "slow down"))  # a code without a sentence: the server's words
    assert out.getvalue().splitlines() == [
        "! there is no such message for you on the server (it was deleted, or it was not sent to or by you)",
        "! the server closed the connection: it heard nothing from this client for too long",
        "! server error: slow down (too_many_errors)",
    ]
    i18n.use("pt_BR")
    try:
        ui._on_event(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, "message 999 was not sent to you"))
    finally:
        i18n.use("en")
    assert out.getvalue().splitlines()[-1] == \
        "! o servidor não tem essa mensagem para você (ela foi apagada, ou não foi enviada para você nem por você)"


def test_a_cluster_node_back_from_a_break_makes_the_terminal_catch_up_quietly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The node was cut off, the connection stayed open: what another session of ours got
    or sent meanwhile never came here. The catch_up frame starts the catch-up a
    reconnection starts (client/terminal_catchup.py), and prints nothing itself."""
    ui, out = _ui("", prompting=False)
    started: list[bool] = []
    monkeypatch.setattr(ui._catch_up, "start", lambda counted=False: started.append(counted))
    ui._on_event(CatchUp())
    assert started == [False] and out.getvalue() == ""


@pytest.mark.parametrize("interactive", [False, True], ids=["pipe", "screen"])
def test_history_shows_what_was_read_on_its_messages_without_a_read_line_after_it(
        monkeypatch: pytest.MonkeyPatch, interactive: bool) -> None:
    """As the page does (history_page's read_up_to, on the messages themselves): "(read)"
    on the entries. The server's read mark that follows the page said it again, in a
    "✓✓ read by Bob (up to message 3)" line under it; a mark past the page is news still."""
    import re
    from client.commands import ShowHistory
    from protocol import HistoryEntry, Read
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, timeout=1.0, stdin=io.StringIO(), stdout=out, stderr=out,
                    interactive=interactive, colour=False)
    ui._screen.columns = lambda: 200  # type: ignore[method-assign]
    entries = [HistoryEntry(2, "Alice", "Bob", "first", 0.0, "delivered"),
               HistoryEntry(3, "Alice", "Bob", "second", 0.0, "delivered")]

    def history_read(peer: str, count: int, timeout: float) -> tuple[list[HistoryEntry], int]:
        ui._on_event(Read("Alice", 3, "Bob"))  # the server's mark after the page, read at once
        return entries, 3

    monkeypatch.setattr(ui.client, "history_read", history_read)
    ui._execute(ShowHistory("Bob", 20))
    said = out.getvalue()
    assert said.count("(read)") == 2 and "read by" not in said, said
    ui._on_event(Read("Alice", 4, "Bob"))  # Bob read a newer one: that is news
    lines = [line for line in out.getvalue().split("\n") if "read by" in line]
    assert len(lines) == 1 and re.search(r"✓✓ read by Bob \(up to message 4\)$", lines[0]), out.getvalue()


def test_a_message_deleted_before_it_came_gets_no_read_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing of it was shown to be read: its sender saw "✓✓ read by Ana (up to message 1)"
    for a message Ana never saw."""
    import time
    from protocol import DirectMessage
    ui, out = _ui("", prompting=False)
    marks: list[tuple[str, int]] = []
    monkeypatch.setattr(ui.client, "mark_read", lambda peer, msg_id: marks.append((peer, msg_id)))
    monkeypatch.setattr(ui.client, "watch_soon", lambda names: None)
    ui._on_event(DirectMessage(1, "Bob", "Alice", "", time.time(), True))
    ui._on_event(DirectMessage(2, "Bob", "Alice", "hello", time.time()))
    assert marks == [("Bob", 2)]


def screen_lines(written: str) -> list[str]:
    """The lines a terminal shows after ``written``: each "ESC[nA CR ESC[J" (up n rows,
    erase to the end) takes the last n lines off, as the terminal does."""
    import re
    lines: list[str] = []
    for part in re.split(r"(\x1b\[\d+A\r\x1b\[J)", written):
        up = re.fullmatch(r"\x1b\[(\d+)A\r\x1b\[J", part)
        if up:
            del lines[len(lines) - int(up.group(1)):]
        else:
            lines.extend(part.split("\n")[:-1])
    return lines


@pytest.mark.parametrize("interactive", [False, True], ids=["pipe", "screen"])
def test_a_long_outage_of_the_servers_storage_takes_one_status_line_not_one_per_hold(interactive: bool) -> None:
    """Each hold of a message the server answered "unavailable" printed a new "! the
    server is unavailable..." line (every 5 to 30 s while the outage lasted). On the screen
    the line is now rewritten in place with the attempt the client is at, while it is the
    last line (a line printed since stays, and the status goes on below it); in a pipe it
    is said when the outage begins and when it ends. No message line is lost."""
    from client.events import Reconnected, ServerUnavailable
    from protocol import DirectMessage
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, timeout=1.0, stdin=io.StringIO(), stdout=out, stderr=out,
                    interactive=interactive, colour=False)
    ui._screen.columns = lambda: 200  # type: ignore[method-assign]
    for wait in (5.0, 10.0):
        ui._on_event(ServerUnavailable(wait))
    ui._on_event(DirectMessage(7, "Bob", "Alice", "are you there?", time.time()))  # today: no day line
    for wait in (20.0, 30.0, 30.0):
        ui._on_event(ServerUnavailable(wait))
    ui._on_event(ServerUnavailable(None, back=True))
    ui._on_event(ServerUnavailable(5.0))  # another outage, later: said again
    ui._on_event(Reconnected(0))
    ui._on_event(ServerUnavailable(5.0))  # a new session's answers tell afresh (client/core.py)
    lines = [line.split("] ", 1)[-1] for line in screen_lines(out.getvalue())] if interactive \
        else out.getvalue().splitlines()
    unavailable = "! the server is unavailable (it cannot store messages now); trying again in"
    if interactive:
        assert lines == [f"{unavailable} 10 s (attempt 3)", "Bob → you: are you there?",
                         "! the server stores messages again", f"{unavailable} 5.0 s (attempt 2)",
                         "! reconnected", f"{unavailable} 5.0 s (attempt 2)"], lines
    else:
        assert lines[1].endswith("] Bob → you: are you there?"), lines
        assert lines[:1] + lines[2:] == [f"{unavailable} 5.0 s", "! the server stores messages again",
                                         f"{unavailable} 5.0 s", "! reconnected", f"{unavailable} 5.0 s"], lines


def test_whois_and_history_of_a_name_typed_without_its_accents_ask_did_you_mean(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A teacher typed /whois joao and /history ana_luiza while João and Ana_Luíza were in
    class: "joao is not online (nobody by that name has logged in here)" and "no messages
    with ana_luiza", both untrue for the person meant. As a message to @Joao does, the
    terminal names the one person it knows whose name looks like it."""
    from client.commands import ShowHistory, ShowWhois
    from protocol import LookupResult, UserJoined
    ui, out = _ui("", prompting=False)
    ui._on_event(UserJoined("João", 0.0))
    ui._on_event(UserJoined("Ana_Luíza", 0.0))
    monkeypatch.setattr(ui.client, "lookup", lambda name, timeout: LookupResult("1", name, "unknown"))
    monkeypatch.setattr(ui.client, "history_read", lambda peer, count, timeout: ([], None))
    ui._execute(ShowWhois("joao"))
    ui._execute(ShowHistory("ana_luiza", 20))
    ui._execute(ShowWhois("Fulano"))  # nobody like it: said as before
    assert out.getvalue().splitlines()[-3:] == [
        "* joao is not online (nobody by that name has logged in here): did you mean João?",
        "* no messages with ana_luiza: did you mean Ana_Luíza?",
        "* Fulano is not online (nobody by that name has logged in here)",
    ]


def test_did_you_mean_asks_who_is_online_when_the_terminal_knows_nobody_like_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal started after the class came in had seen no one join: /whois joao said
    nobody by that name had logged in, João in class. It asks who is online first."""
    from client.commands import ShowWhois
    from protocol import LookupResult, Presence
    ui, out = _ui("", prompting=False)
    monkeypatch.setattr(ui.client, "lookup", lambda name, timeout: LookupResult("1", name, "unknown"))
    monkeypatch.setattr(ui.client, "who", lambda timeout: [Presence("João", 0.0), Presence("Ana", 0.0)])
    ui._execute(ShowWhois("joao"))
    assert out.getvalue().splitlines()[-1] == \
        "* joao is not online (nobody by that name has logged in here): did you mean João?"


def test_did_you_mean_is_the_servers_like_when_its_whois_answer_has_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that names the look-alike online in its whois answer (PROTOCOL.md, "user":
    ``like``, of every node's users) is believed: no "who" round trip to find it again."""
    from client.commands import ShowWhois
    from protocol import LookupResult
    ui, out = _ui("", prompting=False)
    monkeypatch.setattr(ui.client, "lookup", lambda name, timeout: LookupResult("1", name, "unknown", like="João"))

    def who(timeout: float) -> list:
        raise AssertionError("who was asked although the server named the look-alike")

    monkeypatch.setattr(ui.client, "who", who)
    ui._execute(ShowWhois("joao"))
    assert out.getvalue().splitlines()[-1] == \
        "* joao is not online (nobody by that name has logged in here): did you mean João?"


def test_did_you_mean_names_the_one_asking_as_themself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alice (typing without the accent, as her keyboard does) asked /whois Álice and was
    asked "did you mean Alice?": herself, not said to be. Then she was told nothing at all,
    while anyone else typing /whois Conceicao got "did you mean Conceição?" and Conceição
    herself, looking herself up from a keyboard without accents, got only "nobody by that
    name has logged in here". Now the one look-alike that is the asker is named as such."""
    import i18n
    from client.commands import ShowHistory, ShowWhois
    from protocol import LookupResult, Presence, UserJoined
    ui, out = _ui("", prompting=False)
    ui._on_event(UserJoined("Alice", 0.0))
    monkeypatch.setattr(ui.client, "lookup", lambda name, timeout: LookupResult("1", name, "unknown"))
    monkeypatch.setattr(ui.client, "history_read", lambda peer, count, timeout: ([], None))
    monkeypatch.setattr(ui.client, "who", lambda timeout: [Presence("Alice", 0.0), Presence("Ana", 0.0)])
    ui._execute(ShowWhois("Álice"))
    ui._execute(ShowHistory("Álice", 20))
    assert out.getvalue().splitlines()[-2:] == [
        "* Álice is not online (nobody by that name has logged in here): did you mean Alice (you)?",
        "* no messages with Álice: did you mean Alice (you)?",
    ]
    i18n.use("pt_BR")
    try:
        ui._execute(ShowHistory("álice", 20))
    finally:
        i18n.use("en")
    assert out.getvalue().splitlines()[-1] == "* nenhuma mensagem com álice: você quis dizer Alice (você)?", \
        out.getvalue()
    ui._on_event(UserJoined("Álíce", 0.0))  # someone else like it too: that one is meant
    ui._execute(ShowWhois("Alíce"))
    assert out.getvalue().splitlines()[-1].endswith("did you mean Álíce?"), out.getvalue()


def test_a_refused_room_history_is_said_in_portuguese_with_the_room() -> None:
    """/historico #redes from outside the room, or of a room that is not there, said the
    server's English: "! /historico falhou: you are not in #redes: join it first"."""
    import i18n
    from client.commands import ShowHistory
    from client.errors import RequestFailed
    ui, out = _ui("", prompting=False)
    refusals = iter([RequestFailed(ErrorCode.NOT_MEMBER, "you are not in #redes: join it first"),
                     RequestFailed(ErrorCode.NO_SUCH_ROOM, "there is no room #vazia")])

    def history_read(peer: str, count: int, timeout: float) -> None:
        raise next(refusals)

    ui.client.history_read = history_read  # type: ignore[method-assign]
    i18n.use("pt_BR")
    try:
        ui._execute(ShowHistory("#redes", 20))
        ui._execute(ShowHistory("#vazia", 20))
    finally:
        i18n.use("en")
    said = out.getvalue().splitlines()[-2:]
    assert all("you are not" not in line and "there is no" not in line for line in said), said
    assert "#redes" in said[0] and "#vazia" in said[1], said


def test_piped_input_in_windows_code_page_is_read_as_utf8_then_line_by_line_as_cp1252():
    # Windows reads a pipe in cp1252: a UTF-8 file's "João" came as "JoÃ£o".
    piped = io.TextIOWrapper(io.BytesIO("@Conceição olá 😀\n".encode() + "ação\n".encode("cp1252") + b"\x81\n"),
                             encoding="cp1252", errors="surrogateescape")
    fallback = read_as_utf8(piped)
    assert (fallback, piped.encoding, piped.errors) == ("cp1252", "utf-8", "surrogateescape")
    lines = [redecoded(line, fallback) for line in piped]
    assert lines[:2] == ["@Conceição olá 😀\n", "ação\n"]
    assert undecodable_line(lines[2], 3, piped.encoding) == "line 3 is not valid UTF-8; not sent"  # neither
    assert read_as_utf8(io.StringIO("João\n")) is None  # nothing to change


def test_unregister_asks_the_password_as_its_confirmation_and_enter_alone_keeps_the_account(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/unregister says what goes, asks the password without echo (never from the line), and
    sends it; Enter alone deletes nothing; a guest and a script are told why not."""
    ui, out = _ui("", prompting=True)
    sent = []
    monkeypatch.setattr(ui.client, "unregister", lambda password, timeout: sent.append(password))
    ui.client.registered = True
    answers = iter(["", "her password"])
    monkeypatch.setattr(auth, "ask_password", lambda prompt: next(answers))
    ui._unregister()
    assert sent == [] and "no password given; nothing was deleted" in out.getvalue()
    ui._unregister()
    assert sent == ["her password"]
    said = out.getvalue()
    assert "deletes the account Alice for good" in said and "* the account Alice was deleted" in said
    ui.client.registered = False
    ui._unregister()
    assert "is a guest name, not an account" in out.getvalue() and sent == ["her password"]
    script, said = _ui("", prompting=False)
    script.client.registered = True
    script._unregister()
    assert "needs the password typed without echo" in said.getvalue()


def _names_soon(ui: TerminalUI, wanted: str, timeout: float = 5.0) -> list[str]:
    """What Tab offers after ``@`` once ``wanted`` is among it, or at the deadline."""
    from client.screen import complete
    deadline = time.monotonic() + timeout
    while True:
        with ui._print_lock:
            offered = complete("@", 0, "@", [], ui._names.names())
        if f"@{wanted}" in offered or time.monotonic() > deadline:
            return offered
        time.sleep(0.01)


def test_a_fresh_terminal_learns_who_is_online_for_tab_and_again_after_a_reconnection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal started with Beatriz already online completed "@Beat" to nothing until
    /who was typed: Tab's names came from joins seen and /who only (README promises
    completion "from who is online"). Each login asks who is online, as /who does; so
    does each reconnection (who came meanwhile was told to nobody here)."""
    from client.events import Reconnected
    from protocol import Presence
    out = io.StringIO()
    ui = TerminalUI("Tiago", "127.0.0.1", 9, timeout=1.0, stdin=io.StringIO(), stdout=out, stderr=out,
                    interactive=True, prompt_passwords=False, colour=False)
    online = [Presence("Beatriz", 0.0), Presence("Tiago", 0.0)]
    monkeypatch.setattr(ui.client, "connect", lambda timeout, **_: Welcome("h", "Tiago", 2, "server", 15.0))
    monkeypatch.setattr(ui.client, "who", lambda timeout: list(online))
    with ui._print_lock:
        assert ui._log_in() is None
    assert "@Beatriz" in _names_soon(ui, "Beatriz")
    online[:] = [Presence("Carla", 0.0), Presence("Tiago", 0.0)]  # came while the connection was down
    ui._on_event(Reconnected(Welcome("h", "Tiago", 2, "server", 15.0)))
    # Online first: Carla and Tiago now; Beatriz (gone meanwhile) only as someone known.
    assert _names_soon(ui, "Carla") == ["@Tiago", "@Carla", "@Beatriz"]


@pytest.mark.parametrize("lost", ["connection", "timeout"])
def test_a_change_whose_answer_never_came_is_not_said_failed(lost: str) -> None:
    """/block Bob written, then the connection lost before the answer (AnswerLost), or no
    answer within the timeout: the terminal said "! /block failed: ...", though the server
    may have blocked Bob. It says the change may or may not have been made."""
    from client.commands import SetBlocked
    from client.errors import AnswerLost, RequestFailed, RequestTimeout
    ui, out = _ui("", prompting=False)
    errors = iter([AnswerLost("the connection was lost before the answer came") if lost == "connection"
                   else RequestTimeout("no answer from the server within 1 s"),
                   RequestFailed(ErrorCode.UNAVAILABLE, "the server's storage is failing")])

    def block(name: str, timeout: float) -> None:
        raise next(errors)

    ui.client.block = block  # type: ignore[method-assign]
    ui._execute(SetBlocked("Bob", True))
    ui._execute(SetBlocked("Bob", True))  # refused by the server: that one did fail
    said = out.getvalue().splitlines()[-2:]
    assert "failed" not in said[0] and "may or may not" in said[0], said
    assert "/block failed" in said[1], said
