"""The interactive terminal client in a real terminal: tmux runs ``chatclient.py`` against
a real server on 127.0.0.1 (port 0), a test client (Bob) talks to it, and the tests read
what tmux's screen shows (``capture-pane``): wrapped input with the cursor moved into it
while messages arrive, the password prompt left alone, Tab, /reply, colours. Bounded
waits only: every look at the screen polls it until a deadline."""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clientkit import start
from faultproxy import FaultProxy
from client.library import ChatClient
from client.screen import display_width
from protocol import DirectMessage, RoomMessage
from server import ServerThread
from tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
WAIT = 15.0
_sockets = itertools.count()


class Tmux:
    """One tmux server of our own (its own socket), one window ``columns`` wide running
    ``command``; closed (the server and what runs in it) by :meth:`close`."""

    def __init__(self, command: str, columns: int = 40, rows: int = 20) -> None:
        self.tmux = require_tool("tmux", why="to run the terminal client in a real terminal")
        self.socket = f"chat-test-{os.getpid()}-{next(_sockets)}"
        self._run("-f", "/dev/null", "new-session", "-d", "-s", "chat", "-x", str(columns), "-y", str(rows),
                  command)

    def _run(self, *args: str) -> str:
        done = subprocess.run([self.tmux, "-L", self.socket, *args], capture_output=True, text=True,
                              encoding="utf-8", timeout=WAIT, check=True)
        return done.stdout

    def type(self, text: str) -> None:
        """Type ``text`` as keys (literally; "--" so that a text beginning with "-" is not
        taken for one of send-keys's flags)."""
        self._run("send-keys", "-t", "chat", "-l", "--", text)

    def press(self, *keys: str) -> None:
        """Press named keys: Enter, Left, Tab, C-a..."""
        self._run("send-keys", "-t", "chat", *keys)

    def resize(self, columns: int) -> None:
        """Make the window ``columns`` wide (the client gets SIGWINCH, as when a person
        resizes theirs)."""
        self._run("resize-window", "-t", "chat", "-x", str(columns))

    def screen(self, escapes: bool = False, history: bool = False) -> list[str]:
        """The window's lines as shown, the rows that a line wrapped onto joined to it (as
        tmux knows them: rows the terminal itself wrapped), with the colour sequences if
        ``escapes``; the lines scrolled off the top before them if ``history``."""
        return self._run("capture-pane", "-p", "-J", "-t", "chat", *(["-e"] if escapes else []),
                         *(["-S", "-"] if history else [])).split("\n")

    def wait(self, ready: Callable[[list[str]], bool], what: str, escapes: bool = False) -> list[str]:
        """Poll the screen until ``ready(rows)``; fail after WAIT seconds, showing it."""
        deadline = time.monotonic() + WAIT
        while True:
            rows = self.screen(escapes)
            if ready(rows):
                return rows
            if time.monotonic() > deadline:
                pytest.fail(f"the screen never showed {what}:\n" + "\n".join(rows))
            time.sleep(0.05)

    def wait_text(self, text: str, escapes: bool = False) -> list[str]:
        return self.wait(lambda rows: text in "\n".join(rows), repr(text), escapes)

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, timeout=WAIT)


@pytest.fixture
def terminal(server: ServerThread) -> Iterator[Callable[..., Tmux]]:
    """``terminal(name, columns=40, **env)``: the chat client for ``name`` in a tmux window
    (``ready``: its first prompt, which is in the language ``env`` may choose; ``args``: more
    of the client's options; ``rows``: the window's height)."""
    opened: list[Tmux] = []

    def open_terminal(name: str = "Alice", columns: int = 40, port: int | None = None, ready: str = "[room]> ",
                      args: tuple[str, ...] = (), rows: int = 20, **env: str) -> Tmux:
        variables = {"TERM": "xterm-256color", "LANGUAGE": "en", "PYTHONIOENCODING": "utf-8",
                     "LC_ALL": "C.UTF-8", "CHAT_STATE_DIR": os.environ["CHAT_STATE_DIR"], **env}
        if "NO_COLOR" not in env:
            variables["NO_COLOR"] = ""
        command = " ".join(["env", *(shlex.quote(f"{k}={v}") for k, v in variables.items()),
                            shlex.quote(sys.executable), "chatclient.py", shlex.quote(name),
                            "--port", str(port or server.port), *map(shlex.quote, args)])
        # The window stays after the client ends, so that its last words can be read.
        tmux = Tmux(f"cd {shlex.quote(str(ROOT))} && {command}; sleep {WAIT}", columns=columns, rows=rows)
        opened.append(tmux)
        tmux.wait_text(ready)
        return tmux

    yield open_terminal
    for tmux in opened:
        tmux.close()


def received(client: ChatClient, kind: type, sender: str = "Alice", timeout: float = WAIT):
    """The next event of ``kind`` from ``sender`` that ``client`` receives (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        event = client.events.get(timeout=max(0.01, deadline - time.monotonic()))
        if isinstance(event, kind) and event.sender == sender:
            return event


def input_rows(rows: list[str]) -> str:
    """The prompt and the line being typed (all its rows): the last line on screen."""
    return [row for row in rows if row.strip()][-1]


@pytest.mark.timeout_seconds(90)
def test_a_long_line_with_the_cursor_in_its_middle_survives_incoming_messages(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    bob = start(clients, server.port, "Bob")
    alice = terminal("Alice", columns=40)
    typed = "the quick brown fox jumps over the lazy dog and then it runs far away"  # three rows at 40
    alice.type(typed)
    alice.press(*["Left"] * 20)  # the cursor into the middle of the second row
    alice.wait(lambda rows: input_rows(rows) == "[room]> " + typed, "the typed line")
    bob.send_room("hi from Bob")  # (one row at 40)
    bob.send_direct("Alice", "two lines\nfrom Bob").wait_done(WAIT)
    bob.send_room("x" * 70)  # a message that itself wraps
    rows = alice.wait_text("x" * 10)
    rows = alice.wait(lambda rows: input_rows(rows) == "[room]> " + typed, "the typed line, intact, last")
    shown = "\n".join(rows)
    assert re.search(r"\[\d\d:\d\d\] \(room\) Bob: hi from Bob\n", shown), shown
    # A multi-line message: indented continuation lines, no literal \n.
    assert re.search(r"\[\d\d:\d\d\] Bob → you: two lines\n {8}from Bob\n", shown), shown
    assert "\\n" not in shown
    # Typing goes on where the cursor was: the text is inserted in the middle.
    alice.type("[HERE]")
    expected = typed[:-20] + "[HERE]" + typed[-20:]
    alice.wait(lambda rows: input_rows(rows) == "[room]> " + expected, "the insertion where the cursor was")
    alice.press("Enter")
    assert received(bob, RoomMessage).text == expected
    # The sent message is one line (its rows), with its state at the end; the line typed is gone.
    rows = alice.wait(lambda rows: any(row.endswith("✓") for row in rows), "the sent mark")
    shown = "\n".join(rows)
    assert shown.count("[HERE]") == 1, shown
    assert "(room) you: the quick" in shown and "[room]> the quick" not in shown, shown


@pytest.mark.timeout_seconds(90)
def test_messages_wait_while_a_password_is_asked(server: ServerThread, terminal: Callable[..., Tmux],
                                                 clients: list[ChatClient]) -> None:
    bob = start(clients, server.port, "Bob")
    alice = terminal("Alice", columns=60)
    alice.type("/register")
    alice.press("Enter")
    alice.wait_text("new password for Alice")
    bob.send_direct("Alice", "are you there?").wait({"delivered"}, WAIT)
    bob.send_room("anyone?")
    time.sleep(0.5)  # (a margin for a wrong print to show up; nothing is waited on)
    rows = alice.screen()
    assert not any("are you there" in row or "anyone?" in row for row in rows), "\n".join(rows)
    assert [row for row in rows if row.strip()][-1].startswith("new password for Alice")
    alice.type("correct horse battery")
    alice.press("Enter")
    alice.wait_text("the same password again: ")
    alice.type("correct horse battery")
    alice.press("Enter")
    rows = alice.wait_text("* Alice is now registered")
    shown = "\n".join(rows)
    assert "Bob → you: are you there?" in shown and "(room) Bob: anyone?" in shown, shown
    assert "battery" not in shown


@pytest.mark.timeout_seconds(90)
def test_tab_completes_commands_and_names_and_reply_answers_the_last_sender(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    alice = terminal("Alice", columns=60)
    alice.type("/r too early")
    alice.press("Enter")
    alice.wait_text("! nobody has sent you a direct message yet")
    bob = start(clients, server.port, "Bobby")
    alice.wait_text("* Bobby joined")
    alice.type("/que")
    alice.press("Tab")
    # (tmux drops the space after the word at the end of a row; typing on shows it is there)
    alice.wait(lambda rows: input_rows(rows).rstrip() == "[room]> /query", "/query completed")
    alice.type("B")
    alice.press("Tab")
    alice.wait(lambda rows: input_rows(rows).rstrip() == "[room]> /query Bobby", "the name completed")
    alice.press("C-u")
    alice.type("@b")
    alice.press("Tab")
    alice.type("hi")
    alice.press("Enter")
    assert received(bob, DirectMessage).text == "hi"
    bob.send_direct("Alice", "answer me").wait_done(WAIT)
    alice.wait_text("Bobby → you: answer me")
    alice.type("/r here I am")
    alice.press("Enter")
    answer = received(bob, DirectMessage)
    assert (answer.sender, answer.text) == ("Alice", "here I am")
    alice.wait(lambda rows: any(re.search(r"you → Bobby: here I am ✓✓$", row) for row in rows),
               "the reply delivered, on one line")


@pytest.mark.timeout_seconds(90)
def test_to_says_at_once_whether_the_name_is_online_offline_or_nobodys(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """/to Ninguem said "plain lines now go to Ninguem", and only the first line typed
    there was refused: the server's whois is asked (the line comes within the timeout), and
    the prompt goes there all the same, never to the room."""
    start(clients, server.port, "Conceição", password="senha secreta 1", register=True).close()
    alice = terminal("Alice", columns=160)  # (its longest line whole)
    alice.type("/to Ninguem")
    alice.press("Enter")
    alice.wait_text("! plain lines now go to Ninguem, but nobody called Ninguem has ever logged in here, so they are "
                    "not sent: check the name")
    alice.wait(lambda rows: input_rows(rows).startswith("[@Ninguem]> "), "the prompt naming Ninguem")
    alice.type("/to conceição")
    alice.press("Enter")
    alice.wait_text("* plain lines now go to Conceição, who is offline: they wait for their next login")
    alice.wait(lambda rows: input_rows(rows).startswith("[@Conceição]> "), "the prompt, as the server spells it")


@pytest.mark.timeout_seconds(90)
def test_to_a_name_the_server_does_not_answer_for_says_so_and_gives_the_prompt_back_soon(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """With the server slow to answer, /to Conceição showed nothing and held the prompt for
    the whole --timeout (10 s): the user could not tell whether it had been taken. A line
    says at once that the name is being looked up, and within a few seconds the prompt is
    back, going to the name, with a line that says truly that it could not be checked
    (in place of the "looking up" one)."""
    start(clients, server.port, "Conceição", password="senha secreta 1", register=True).close()
    with FaultProxy(server.host, server.port) as proxy:
        alice = terminal("Alice", columns=120, port=proxy.port)
        assert proxy.freeze("Alice") == 1  # (nothing passes either way: the lookup is never answered)
        alice.type("/to Conceição")
        alice.press("Enter")
        alice.wait_text("* looking up Conceição on the server…")
        assert not input_rows(alice.screen()).startswith("[@Conceição]> ")  # (nothing said before the answer)
        rows = alice.wait(lambda rows: input_rows(rows).startswith("[@Conceição]> "), "the prompt, back")
        shown = "\n".join(rows)
        assert re.search(r"\* plain lines now go to Conceição; the name could not be checked: no answer from the "
                         r"server within 3 s\n\[@Conceição\]> ", shown), shown
        assert "looking up" not in shown, shown


@pytest.mark.timeout_seconds(90)
def test_who_with_the_server_slow_to_answer_says_it_is_asking_then_why_no_answer_came_in_its_place(
        server: ServerThread, terminal: Callable[..., Tmux]) -> None:
    """/quem (/who) with the server slow to answer held the prompt up to --timeout with
    nothing on screen. A line says at once what is asked; the line saying that no answer came
    takes its place, and the prompt is back."""
    with FaultProxy(server.host, server.port) as proxy:
        tiago = terminal("Tiago", columns=120, port=proxy.port, ready="[sala]> ", args=("--timeout", "3"),
                         LANGUAGE="pt_BR")
        assert proxy.freeze("Tiago") == 1  # (nothing passes either way: /quem is never answered)
        tiago.type("/quem")
        tiago.press("Enter")
        tiago.wait_text("* perguntando ao servidor quem está online…")
        assert not input_rows(tiago.screen()).startswith("[sala]> ")  # (not back before the answer)
        rows = tiago.wait(lambda rows: input_rows(rows).startswith("[sala]> "), "the prompt, back")
        shown = "\n".join(rows)
        assert re.search(r"\] ! /quem falhou: .*3 s\n\[sala\]> ", shown), shown
        assert "perguntando" not in shown, shown  # (in its place)


@pytest.mark.timeout_seconds(90)
def test_help_fits_an_80_by_24_terminal(terminal: Callable[..., Tmux]) -> None:
    """/help was about 55 rows: on an 80x24 terminal its top (the most used commands) scrolled
    out of sight. It shows those and the topics whole, and /ajuda moderação a topic's."""
    alice = terminal("Alice", columns=80, rows=24)
    alice.type("/help")
    alice.press("Enter")
    alice.wait_text("/help COMMAND")
    # (The prompt is drawn after the block's last line: a screen read between the two had none.)
    rows = alice.wait(lambda rows: "/help COMMAND" in "\n".join(rows) and input_rows(rows).startswith("[room]> "),
                      "the whole help, then the prompt")
    assert any(row.startswith("[room]> /help") for row in rows), rows  # (the line typed, still in sight)
    assert any(re.match(r"\[\d\d:\d\d\] @NAME TEXT +send TEXT to NAME only", row) for row in rows), rows
    alice.type("/ajuda moderação")
    alice.press("Enter")
    rows = alice.wait_text("(/dessilenciar)")
    assert any(re.match(r"\[\d\d:\d\d\] /invite NAME +let NAME join an invite-only room", row) for row in rows), rows


@pytest.mark.timeout_seconds(90)
def test_tab_completes_a_topic_of_help_in_the_language_in_use(terminal: Callable[..., Tmux]) -> None:
    """"/ajuda mod" Tab did nothing: Tab knew commands and names, not the topics /ajuda
    lists. It completes the topic, as its answer names it, and /ajuda shows that topic."""
    tiago = terminal("Tiago", columns=80, ready="[sala]> ", LANGUAGE="pt_BR")
    tiago.type("/ajuda mod")
    tiago.press("Tab")
    tiago.wait(lambda rows: input_rows(rows).rstrip() == "[sala]> /ajuda moderação", "the topic completed")
    tiago.press("Enter")
    tiago.wait_text("/convidar NOME")


@pytest.mark.timeout_seconds(90)
def test_join_with_the_server_slow_to_answer_says_it_is_asking_then_why_no_answer_came_in_its_place(
        server: ServerThread, terminal: Callable[..., Tmux]) -> None:
    """/entrar (/join) with the server slow to answer held the prompt up to --timeout with
    nothing on screen, as /quem did. A line says at once what is asked; the line saying that
    no answer came takes its place, and the prompt is back."""
    with FaultProxy(server.host, server.port) as proxy:
        tiago = terminal("Tiago", columns=120, port=proxy.port, ready="[sala]> ", args=("--timeout", "3"),
                         LANGUAGE="pt_BR")
        assert proxy.freeze("Tiago") == 1  # (nothing passes either way: /entrar is never answered)
        tiago.type("/entrar #redes")
        tiago.press("Enter")
        tiago.wait_text("* pedindo ao servidor para entrar em #redes…")
        assert not input_rows(tiago.screen()).startswith("[sala]> ")  # (not back before the answer)
        rows = tiago.wait(lambda rows: input_rows(rows).startswith("[sala]> "), "the prompt, back")
        shown = "\n".join(rows)
        assert re.search(r"\] ! /entrar falhou: .*3 s\n\[sala\]> ", shown), shown
        assert "pedindo" not in shown, shown  # (in its place)


@pytest.mark.timeout_seconds(90)
def test_block_and_register_with_the_server_slow_to_answer_say_what_they_wait_for_then_why_no_answer_came(
        server: ServerThread, terminal: Callable[..., Tmux]) -> None:
    """/bloquear and /registrar held the prompt up to --timeout with nothing on screen while
    the server did not answer, where /quem and /entrar say what they wait for. They say it
    too (/registrar once its passwords are typed: nothing under the prompts), and the line
    saying the answer did not come takes its place."""
    with FaultProxy(server.host, server.port) as proxy:
        tiago = terminal("Tiago", columns=120, port=proxy.port, ready="[sala]> ", args=("--timeout", "3"),
                         LANGUAGE="pt_BR")
        assert proxy.freeze("Tiago") == 1  # (nothing passes either way: nothing is answered)
        tiago.type("/bloquear Bob")
        tiago.press("Enter")
        tiago.wait_text("* pedindo ao servidor para bloquear Bob…")
        rows = tiago.wait(lambda rows: input_rows(rows).startswith("[sala]> "), "the prompt, back")
        shown = "\n".join(rows)
        assert re.search(r"\] ! /bloquear: a resposta do servidor não chegou, .*3 s\n\[sala\]> ", shown, re.S), shown
        assert "pedindo" not in shown, shown  # (in its place)
        tiago.type("/registrar")
        tiago.press("Enter")
        tiago.wait_text("nova senha para Tiago")
        tiago.type("senha secreta 1")
        tiago.press("Enter")
        tiago.wait_text("a mesma senha de novo: ")
        tiago.type("senha secreta 1")
        tiago.press("Enter")
        tiago.wait_text("* pedindo ao servidor para registrar Tiago…")
        rows = tiago.wait(lambda rows: input_rows(rows).startswith("[sala]> "), "the prompt, back again")
        shown = "\n".join(rows)
        assert re.search(r"a mesma senha de novo: \n\[\d\d:\d\d\] ! /registrar: a resposta do servidor não chegou, "
                         r".*3 s: ainda não se sabe se o nome foi registrado .*\n\[sala\]> ", shown, re.S), shown
        assert "pedindo ao servidor para registrar" not in shown, shown


@pytest.mark.timeout_seconds(90)
def test_a_line_rewritten_in_place_after_the_window_narrowed_leaves_nothing_of_the_old_one(
        server: ServerThread, terminal: Callable[..., Tmux]) -> None:
    """A line that is rewritten in place (here the notice of a /who the server does not
    answer) was printed on one row of a 60-column window; narrowed to 30 columns, the
    terminal wrapped it onto two, and its rewrite went up one row only: the notice's first
    row stayed on screen above the answer. The answer comes below it instead."""
    with FaultProxy(server.host, server.port) as proxy:
        alice = terminal("Alice", columns=60, port=proxy.port, args=("--timeout", "3"))
        assert proxy.freeze("Alice") == 1
        alice.type("/who")
        alice.press("Enter")
        alice.wait_text("* asking the server who is online…")
        alice.resize(30)
        rows = alice.wait(lambda rows: input_rows(rows).startswith("[room]> "), "the prompt, back")
        shown = "\n".join(row.rstrip() for row in rows).rstrip()
        assert re.search(r"\n\[\d\d:\d\d\] ! /who failed: no\n {8}answer from the server\n {8}within 3 s\n\[room\]>$",
                         shown), shown
        # Whatever is left of the notice is whole (the terminal's own wrapping of it, joined).
        assert all("asking the server who is online…" in row for row in alice.screen() if "asking" in row), shown


@pytest.mark.timeout_seconds(90)
def test_tab_completes_the_name_of_someone_online_before_the_terminal_started(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """A tester started the client with Beatriz already online: "@Beat" Tab did nothing
    until /who had been typed. The terminal asks who is online as it logs in; Tab is
    pressed until the answer is in (a person's first Tab may come before it), within WAIT."""
    start(clients, server.port, "Beatriz")
    tiago = terminal("Tiago", columns=60)
    tiago.type("@Beat")
    deadline = time.monotonic() + WAIT
    while input_rows(tiago.screen()).rstrip() != "[room]> @Beatriz":
        if time.monotonic() > deadline:
            pytest.fail("@Beat Tab never completed to @Beatriz:\n" + "\n".join(tiago.screen()))
        tiago.press("Tab")
        time.sleep(0.1)  # (between presses: the screen is polled, the answer is not waited for)
    assert "Beatriz joined" not in "\n".join(tiago.screen())  # (learnt from the login's question)


@pytest.mark.timeout_seconds(90)
def test_tab_never_erases_what_was_typed_when_names_differ_in_case_or_accents(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """Tiago typed "@Jo" and Tab with João and joana online: the line became "@", his "Jo"
    erased (names match ignoring case, but readline cut the typed word down to what the
    two have in common letter for letter). What is typed stays; a second Tab lists both."""
    start(clients, server.port, "João")
    start(clients, server.port, "joana")
    tiago = terminal("Tiago", columns=60)
    tiago.type("@Jo")
    deadline = time.monotonic() + WAIT
    while "@joana" not in "\n".join(tiago.screen()[:-1]):  # the list, once the names are known
        if time.monotonic() > deadline:
            pytest.fail("Tab never listed the two names:\n" + "\n".join(tiago.screen()))
        tiago.press("Tab")
        time.sleep(0.1)  # (between presses: the screen is polled, the answer is not waited for)
    rows = tiago.wait(lambda rows: "@João" in "\n".join(rows), "the two names listed")
    assert input_rows(rows).rstrip() == "[room]> @Jo", "\n".join(rows)


@pytest.mark.timeout_seconds(90)
def test_help_fits_an_80_column_terminal_broken_at_words_under_its_descriptions(
        server: ServerThread, terminal: Callable[..., Tmux]) -> None:
    """A tester's /ajuda in an 80-column terminal, most students' default: the terminal
    broke its long lines mid-word back to column 0 ("…(/roo" / "ms)"). Each line now
    fits (tmux joins the rows a terminal wrapped: none here is wider than the window) and
    goes on under its description. (The topic of moderation: /ajuda alone is the most used
    commands, test_help_fits_an_80_by_24_terminal.)"""
    tiago = terminal("Tiago", columns=80, ready="[sala]> ", LANGUAGE="pt_BR")
    tiago.type("/ajuda moderação")
    tiago.press("Enter")
    tiago.wait_text("(/unmute)")  # its last line: the list is printed at once
    rows = [row.rstrip() for row in tiago.screen(history=True)]
    first = next(at for at, row in enumerate(rows) if re.match(r"\[\d\d:\d\d\] /convidar NOME ", row))
    last = next(at for at, row in enumerate(rows) if "(/unmute)" in row)
    rows = rows[first:last + 1]  # the list, its last description's rows included
    assert all(display_width(row) <= 80 for row in rows), "\n".join(row for row in rows if display_width(row) > 80)
    shown = "\n".join(rows)
    # "[HH:MM] " and the heads' column: 8 + 37.
    assert re.search(r"\] /convidar NOME {23}deixa NOME entrar numa sala só para\n {45}convidados \(/invite\)\n",
                     shown), shown


@pytest.mark.timeout_seconds(90)
def test_a_long_message_is_wrapped_at_words_under_its_text_at_the_terminals_width(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """In a 40-column terminal a long message was broken by the terminal at its last
    column, mid-word ("Concei" / "ção"), and went on at column 0 under the time stamp.
    The client breaks it at spaces, its further rows under the text (8 columns in), at the
    width the window has when the message comes: also after the window was resized."""
    bob = start(clients, server.port, "Bob")
    joao = terminal("João", columns=40, ready="[sala]> ", LANGUAGE="pt_BR")
    bob.send_direct("João", "a mensagem de Conceição sobre a prova de redes de amanhã cedo").wait_done(WAIT)
    rows = [row.rstrip() for row in joao.wait_text("amanhã cedo")]
    shown = "\n".join(rows)
    # (capture-pane -J joins the rows the terminal itself wrapped: these are the client's breaks)
    assert re.search(r"\n\[\d\d:\d\d\] Bob → você: a mensagem de\n {8}Conceição sobre a prova de redes\n"
                     r" {8}de amanhã cedo\n", shown), shown
    assert all(display_width(row) <= 40 for row in rows), shown
    joao.resize(60)
    bob.send_direct("João", "e a do João, que chega depois, numa janela mais larga agora").wait_done(WAIT)
    shown = "\n".join(row.rstrip() for row in joao.wait_text("mais larga agora"))
    assert re.search(r"\n\[\d\d:\d\d\] Bob → você: e a do João, que chega depois, numa\n"
                     r" {8}janela mais larga agora\n", shown), shown


@pytest.mark.timeout_seconds(90)
@pytest.mark.parametrize("no_color", ["", "1"], ids=["colour", "NO_COLOR"])
def test_names_are_coloured_on_a_terminal_unless_no_color(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient], no_color: str) -> None:
    bob = start(clients, server.port, "Bob")
    alice = terminal("Alice", NO_COLOR=no_color)
    bob.send_room("colourful")
    rows = alice.wait_text("colourful", escapes=True)
    line = next(row for row in rows if "colourful" in row)
    if no_color:
        assert "\x1b[" not in line, repr(line)
    else:
        # tmux shows the name's colour as its own SGR sequence (one of the palette's hues).
        assert re.search(r"\x1b\[(3[1-6]|9[1-6])mBob", line), repr(line)


def test_a_pipe_gets_no_colour(server: ServerThread, clients: list[ChatClient]) -> None:
    start(clients, server.port, "Bob")
    env = dict(os.environ, NO_COLOR="", LANGUAGE="en")
    done = subprocess.run([sys.executable, "chatclient.py", "Alice", "--port", str(server.port)], cwd=ROOT,
                          input="@Bob hi\n/who\n", capture_output=True, text=True, encoding="utf-8",
                          timeout=WAIT, env=env)
    assert done.returncode == 0, done.stderr
    assert "✓✓ delivered to Bob: hi" in done.stdout.splitlines()
    assert "\x1b" not in done.stdout


@pytest.mark.timeout_seconds(90)
def test_reconnect_attempts_update_one_line(server: ServerThread, terminal: Callable[..., Tmux]) -> None:
    with FaultProxy(server.host, server.port) as proxy:
        alice = terminal("Alice", columns=100, port=proxy.port)
        proxy.refuse_new = True          # the server is "down": every attempt is reset
        proxy.cut("Alice")
        alice.wait_text("(attempt 3)")   # three attempts so far...
        proxy.refuse_new = False
        rows = alice.wait_text("! reconnected")
    shown = [row for row in rows if row.strip()]
    # ... and what is left of them is one line: "! reconnected" took the attempts' place.
    assert not any("reconnecting in" in row for row in shown), "\n".join(shown)
    assert re.fullmatch(r"\[\d\d:\d\d\] ! reconnected", shown[-2]), "\n".join(shown)
    assert shown[-1].rstrip() == "[room]>"
    assert len(shown) == 4, "\n".join(shown)  # connected, how to write, reconnected, the prompt


@pytest.mark.timeout_seconds(90)
def test_a_password_reset_asks_for_the_new_one_in_place_and_the_chat_goes_on(
        server: ServerThread, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """The operator's /password NAME ended the terminal ("start the client again", status
    6): in a terminal the new password is asked right there, with the login's prompt, and
    the same screen goes on on the new session."""
    start(clients, server.port, "Alice", password="the old password", register=True).close()
    bob = start(clients, server.port, "Bob")
    alice = terminal("Alice", columns=120, ready="password for Alice: ")
    alice.type("the old password")
    alice.press("Enter")
    alice.wait_text("* connected")
    given: list[str | None] = []
    server.call(lambda: server.server.relay.account_desk.reset_password(
        "Alice", lambda password, failure: given.append(password)))
    alice.wait_text("! your password was reset by the server operator")
    alice.wait(lambda rows: input_rows(rows).startswith("password for Alice:"), "the password asked again")
    assert given and given[0], given
    alice.type(given[0])
    alice.press("Enter")
    alice.wait(lambda rows: sum("* connected" in row for row in rows) == 2 and input_rows(rows).rstrip() == "[room]>",
               "connected again, and the prompt")
    alice.type("@Bob back with the new password")
    alice.press("Enter")
    assert received(bob, DirectMessage).text == "back with the new password"
    shown = "\n".join(alice.wait(lambda rows: any(row.endswith("back with the new password ✓✓") for row in rows),
                                 "the message delivered"))
    assert "start the client again" not in shown and "wrong password" not in shown and "EXIT" not in shown, shown
    assert given[0] not in shown, shown  # typed without echo
