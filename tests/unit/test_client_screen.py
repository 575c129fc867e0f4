"""The interactive terminal's screen, pure parts (client.screen and the line formats of
client.terminal_lines): widths and rows, colours, continuation lines, Tab's candidates, a sent
message's one line. No terminal, no sockets; the same screen in a real pseudo-terminal
is in test_client_tmux.py."""

from __future__ import annotations

import io
import re
import threading
import time

import pytest

from client.display import characters
from client.events import Reconnected, Reconnecting
from client.outgoing import MessageUpdate, OutgoingMessage
from client.screen import (
    PALETTE,
    KnownNames,
    Style,
    colour_wanted,
    complete,
    cursor_row,
    display_width,
    erase_input,
    fit_rows,
    indent_text,
    name_colour,
    screen_rows,
)
from registry.collation import name_order
from noonzone import local_time, stop_clock_at_noon
from client.terminal import TerminalUI
from client.terminal_lines import describe_follow_up, describe_on_screen, describe_own
from protocol import Deleted, DirectMessage, Edited, Read, RoomDeleted, RoomEdited, RoomMessage, UserJoined, UserLeft, Welcome
from protocol.events import MemberEntry, Presence, RoomEntry, RoomInfo, RoomNotice
from client.commands import (ClaimName, Command, DeleteAccount, DeleteLast, EditLast, RoomAct, RoomJoin, RoomLeave,
                             SetBlocked, SetPassword, SetReceipts, SetTarget, ShowHelp, ShowHistory, ShowMembers,
                             ShowRooms, ShowWho)

PLAIN = Style(False)
COLOUR = Style(True)
SGR = re.compile(r"\x1b\[[0-9;]*m")


# --- Widths and rows ----------------------------------------------------------------------


def test_display_width_counts_columns_not_characters() -> None:
    assert display_width("hello") == 5
    assert display_width("日本語") == 6                # wide: two columns each
    assert display_width("e\u0301") == 1               # a combining accent takes none
    assert display_width("\x1b[31mBob\x1b[0m") == 3    # colours take none
    assert display_width("") == 0


@pytest.mark.parametrize(("text", "columns"), [
    ("नमस्ते", 4),                          # Hindi: its vowel signs and virama (Mn, class 0) take none
    ("Conceic\u0327a\u0303o", 9),          # "Conceição" typed decomposed (NFD, as macOS sends)
    ("\u2764\ufe0f", 1),                   # ❤️: the variation selector takes none
    ("👍🏽", 4),                            # a skin tone is a wide character of its own on a terminal
    ("👨\u200d👩\u200d👧", 6),              # ZWJ takes none; each emoji two
    ("\u1100\u1161", 2),                   # a Korean syllable in jamo: the vowel joins the consonant
])
def test_display_width_counts_the_columns_a_terminal_gives(text: str, columns: int) -> None:
    """The widths the C library gives (wcwidth, which tmux and the terminals follow): a line
    in Hindi was counted wider than shown, so /who's columns and the rows of a typed line
    were off by one for each vowel sign."""
    assert display_width(text) == columns


@pytest.mark.parametrize(("before", "columns", "row"), [
    (0, 40, 0), (39, 40, 0),
    (40, 40, 1),    # a full row: readline has moved the cursor to the next one
    (79, 40, 1), (80, 40, 2), (200, 40, 5), (5, 0, 5),  # (a width of 0 is taken as 1)
])
def test_the_cursor_row_of_a_wrapped_input_line(before: int, columns: int, row: int) -> None:
    assert cursor_row(before, columns) == row


@pytest.mark.parametrize(("text", "columns", "rows"), [
    ("short", 40, 1), ("x" * 40, 40, 1), ("x" * 41, 40, 2), ("x" * 120, 40, 3),
    ("first\n        second", 40, 2), ("", 40, 1), ("日" * 21, 40, 2),
    ("\x1b[2m[12:00]\x1b[0m " + "x" * 32, 40, 1),  # escapes are not counted
])
def test_screen_rows_of_a_printed_line(text: str, columns: int, rows: int) -> None:
    assert screen_rows(text, columns) == rows


def test_erasing_the_input_goes_up_to_its_first_row_and_clears_below() -> None:
    assert erase_input(0) == "\r\x1b[J"
    assert erase_input(3) == "\r\x1b[3A\x1b[J"


# --- Colours ----------------------------------------------------------------------------


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


# --- Long lines wrapped at words (the terminal broke them mid-word, back to column 0) -----

STAMPED = "[12:01] Bob → you: "  # 19 columns: the text starts there; wrapped rows start at 8


@pytest.mark.parametrize(("line", "columns", "rows"), [
    # Broken at the last space that fits, the rest under the text after the time stamp.
    (STAMPED + "the quick brown fox jumps over the lazy dog", 40,
     [STAMPED + "the quick brown fox", " " * 8 + "jumps over the lazy dog"]),
    # A line that fits is left exactly as it is (its runs of spaces too).
    (STAMPED + "a  b   c", 40, [STAMPED + "a  b   c"]),
    (STAMPED + "x" * 21, 40, [STAMPED + "x" * 21]),  # exactly 40: the terminal does not break it
    # Runs of spaces inside a row are kept; those at a break are dropped, not carried over.
    (STAMPED + "aa  bb" + " " * 30 + "cc", 40, [STAMPED + "aa  bb", " " * 8 + "cc"]),
    # A word wider than a row fills the row it starts on, and is cut where each row ends.
    (STAMPED + "see " + "x" * 60, 40, [STAMPED + "see " + "x" * 17, " " * 8 + "x" * 32, " " * 8 + "x" * 11]),
    # A word that fits a row goes to the next one whole.
    (STAMPED + "see https://example.org/a/long/path", 40,
     [STAMPED + "see", " " * 8 + "https://example.org/a/long/path"]),
    # Wide characters take two columns; one that would straddle the edge starts the next row.
    (STAMPED + "x" + "漢字" * 10, 40, [STAMPED + "x" + "漢字" * 5, " " * 8 + "漢字" * 5]),
    (STAMPED + "olá " + "🙂" * 20, 40, [STAMPED + "olá " + "🙂" * 8, " " * 8 + "🙂" * 12]),
    (STAMPED + "olá " + "🙂" * 11, 40, [STAMPED + "olá", " " * 8 + "🙂" * 11]),  # (22 columns: fits a row)
    # A combining tilde takes no column and stays with its letter, even where a word is cut.
    (STAMPED + "Joa\u0303o e Conceic\u0327a\u0303o foram", 40,
     [STAMPED + "Joa\u0303o e Conceic\u0327a\u0303o", " " * 8 + "foram"]),
    (STAMPED + "x" * 20 + "a\u0303" + "b" * 20, 40, [STAMPED + "x" * 20 + "a\u0303", " " * 8 + "b" * 20]),
    (STAMPED + "x" * 21 + "a\u0303" + "b" * 20, 40, [STAMPED + "x" * 21, " " * 8 + "a\u0303" + "b" * 20]),
    # A message's own continuation line, too wide itself: wrapped under the same indent.
    (STAMPED + "one\n" + " " * 8 + "two three four five six seven eight", 30,
     [STAMPED + "one", " " * 8 + "two three four five", " " * 8 + "six seven eight"]),
    # Too narrow for the indent to leave room: the wrapped rows start at column 0.
    ("[12:01] aaa bbb ccc ddd", 20, ["[12:01] aaa bbb ccc", "ddd"]),
    # A number and its unit stay together: "tente de novo em 59" / "s" read as two things.
    (STAMPED + "muted: try again in 5 s", 40, [STAMPED + "muted: try again in", " " * 8 + "5 s"]),
    (STAMPED + "please wait 2 min 30 s (yes)", 40, [STAMPED + "please wait 2 min", " " * 8 + "30 s (yes)"]),
    (STAMPED + "tente de novo em 1,5 s;", 40, [STAMPED + "tente de novo em", " " * 8 + "1,5 s;"]),
])
def test_a_long_line_is_wrapped_at_words_under_its_text(line: str, columns: int, rows: list[str]) -> None:
    assert fit_rows(line, columns, 8).split("\n") == rows


def test_colours_take_no_column_and_are_never_cut() -> None:
    line = COLOUR.dim("[12:01]") + " " + COLOUR.name("Bob") + " → you: " + "word " * 8
    rows = fit_rows(line, 40, 8).split("\n")
    assert [SGR.sub("", row) for row in rows] == [STAMPED + "word word word word", " " * 8 + "word word word word"]
    assert rows[0].startswith(COLOUR.dim("[12:01]") + " " + COLOUR.name("Bob"))
    long_name = COLOUR.name("x" * 50)  # a colour span cut by the hard break: its sequences whole
    assert [SGR.sub("", row) for row in fit_rows(long_name, 40, 8).split("\n")] == ["x" * 40, " " * 8 + "x" * 10]
    assert all(SGR.sub("", row).count("\x1b") == 0 for row in fit_rows(long_name, 40, 8).split("\n"))


@pytest.mark.parametrize("text", [
    "the quick brown fox jumps over the lazy dog " * 4,
    "Joa\u0303o disse: a reunia\u0303o de amanha\u0303 e\u0301 na sala 205, na\u0303o esquec\u0327am " * 3,
    "中文的句子没有空格所以要在字之间断开" * 3 + " 🙂👍🏽🇧🇷 " * 5,
    "x" * 200,
])
@pytest.mark.parametrize("columns", [1, 2, 3, 9, 17, 24, 25, 40, 41, 80])
def test_wrapped_rows_fit_and_lose_no_character(text: str, columns: int) -> None:
    line = STAMPED + text
    wrapped = fit_rows(line, columns, 8)
    rows = wrapped.split("\n")
    # (but one character wider than the terminal: 👍🏽 takes 4 columns, on a row of its own)
    assert all(display_width(row) <= columns or len(characters(row.strip())) == 1 for row in rows), rows
    assert "".join(wrapped.split()) == "".join(line.split())  # only spaces at the breaks go
    if all(display_width(row) <= columns for row in rows):
        assert screen_rows(wrapped, columns) == len(rows)  # what a rewrite erases


def test_a_long_message_is_wrapped_on_the_screen_and_whole_in_a_pipe() -> None:
    text = "a mensagem de Conceição sobre a prova de redes de amanhã cedo"
    ui, out = _screen_ui(columns=40)
    ui._on_event(DirectMessage(7, "Bob", "Alice", text, time.time()))
    rows = out.getvalue().split("\n")[:-1]
    assert [row[8:] for row in rows] == ["Bob → you: a mensagem de", "Conceição sobre a prova de redes",
                                         "de amanhã cedo"], rows
    assert all(display_width(row) <= 40 for row in rows) and rows[1].startswith(" " * 8 + "C"), rows
    piped = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=io.StringIO(), stdout=piped, stderr=piped, interactive=False)
    ui._on_event(DirectMessage(7, "Bob", "Alice", text, time.time()))
    assert piped.getvalue().splitlines() == [f"[{piped.getvalue()[1:6]}] Bob → you: {text}"]


def test_colour_only_on_a_terminal_and_never_with_no_color() -> None:
    assert colour_wanted(_Stream(True), {})
    assert colour_wanted(_Stream(True), {"NO_COLOR": ""})        # set but empty: no effect (no-color.org)
    assert not colour_wanted(_Stream(True), {"NO_COLOR": "1"})
    assert not colour_wanted(_Stream(False), {})
    assert not colour_wanted(io.StringIO(), {})


def test_a_name_always_gets_the_same_colour_whatever_its_case() -> None:
    assert name_colour("Bob") == name_colour("bob") == name_colour("BOB")
    assert name_colour("Bob") in PALETTE
    # Stable across runs and machines (a CRC, not Python's salted hash): fixed values.
    assert [name_colour(name) for name in ("Alice", "Bob", "Carol", "João")] == \
        [name_colour(name) for name in ("alice", "bob", "carol", "joão")]
    assert len({name_colour(f"user{n}") for n in range(100)}) > len(PALETTE) // 2  # spread over the palette
    assert COLOUR.name("Bob") == f"\x1b[{name_colour('Bob')}mBob\x1b[0m"
    assert PLAIN.name("Bob") == "Bob" and PLAIN.me("you") == "you" and PLAIN.dim("x") == "x"


# --- Lines ------------------------------------------------------------------------------


def test_a_multi_line_text_shows_on_indented_lines_not_as_backslash_n() -> None:
    assert indent_text("one\ntwo\r\nthree", 8) == "one\n        two\n        three"
    assert indent_text("trailing\n\n", 4) == "trailing"
    assert indent_text("evil\x1b[2J\nnext", 2) == "evil\\x1b[2J\n  next"   # each line still sanitised
    dm = DirectMessage(1, "Bob", "Alice", "line one\nline two", time.time())
    line = describe_on_screen(dm, "Alice", PLAIN, "12:00") or ""
    assert re.fullmatch(r"\[\d\d:\d\d\] Bob → you: line one\n {8}line two", line), line
    assert "\\n" not in line


def test_every_line_has_a_time_stamp_and_names_have_their_colours() -> None:
    joined = describe_on_screen(UserJoined("Carol", 0.0), "Alice", PLAIN, "12:34")
    assert joined == "[12:34] * Carol joined"
    assert describe_on_screen(UserLeft("Carol", "quit", 0.0), "Alice", PLAIN, "12:35") == "[12:35] * Carol left (quit)"
    assert describe_on_screen(UserJoined("alice", 0.0), "Alice", PLAIN, "12:34") is None
    assert describe_on_screen(RoomMessage(2, "ALICE", "mine", 0.0), "Alice", PLAIN, "12:34") is None
    room = describe_on_screen(RoomMessage(2, "Bob", "hi", time.time()), "Alice", COLOUR, "12:34") or ""
    assert f"\x1b[{name_colour('Bob')}mBob\x1b[0m" in room
    assert re.fullmatch(r"\[\d\d:\d\d\] \(room\) Bob: hi", SGR.sub("", room))
    reconnecting = describe_on_screen(Reconnecting(2, 1.0, "refused"), "Alice", PLAIN, "12:36")
    assert reconnecting == "[12:36] ! connection lost; reconnecting in 1.0 s (attempt 2): refused"


def test_a_sent_message_is_one_line_whose_mark_shows_its_state() -> None:
    message = OutgoingMessage("r1", "Bob", "hello")
    message.submitted = True
    clock = time.strftime("%H:%M", time.localtime(message.created))
    assert describe_own(message, "sending", None, PLAIN) == f"[{clock}] you → Bob: hello …"
    assert describe_own(message, "sent", None, PLAIN) == f"[{clock}] you → Bob: hello ✓"
    assert describe_own(message, "delivered", None, PLAIN) == f"[{clock}] you → Bob: hello ✓✓"
    assert describe_own(message, "queued", None, PLAIN) == \
        f"[{clock}] you → Bob: hello ✓ queued (offline: kept for their next login)"
    assert describe_own(message, "failed", ("unknown_recipient", "x"), PLAIN) == \
        f"[{clock}] you → Bob: hello ✗ not sent: nobody called Bob has ever logged in here: check the name"
    # Bob typed for Bób, who is online: the failure names him (the error's "like").
    from client.outgoing import Failure
    from protocol import ErrorReply
    mistyped = Failure.of(ErrorReply("unknown_recipient", "x", "r1", like="Bób"))
    assert describe_own(message, "failed", mistyped, PLAIN) == \
        f"[{clock}] you → Bob: hello ✗ not sent: nobody called Bob has ever logged in here; did you mean Bób?"
    waiting = OutgoingMessage("r2", None, "two\nlines")  # made later: its own minute
    assert describe_own(waiting, "sending", None, PLAIN) == \
        f"[{time.strftime('%H:%M', time.localtime(waiting.created))}] (room) you: two\n        lines … " \
        "waiting for the connection"
    assert describe_follow_up(message, "delivered", None, PLAIN, "12:59") == "[12:59] ✓✓ to Bob: hello"
    old = OutgoingMessage("r4", "Bob", "hello")
    old.created -= 3 * 3600 + 5
    assert describe_follow_up(old, "failed", ("expired", "x"), PLAIN, "12:59") == \
        "[12:59] ✗ not delivered to Bob: hello — it waited 3 h for Bob and expired: their client never took it; " \
        "tell them some other way, or send it again when they are online"
    long = OutgoingMessage("r3", "Bob", "a rather long message\nthat goes on and on and on")
    assert describe_follow_up(long, "sent", None, PLAIN, "12:59") == \
        "[12:59] ✓ to Bob: a rather long message that go…"


@pytest.mark.parametrize(("language", "own", "follow_up"), [
    ("en", "you → João: oi ✓ queued (offline: kept for their next login)",
     "✓ queued for João: oi (offline: kept for their next login)"),
    ("pt_BR", "você → João: oi ✓ na fila (offline: guardada até o próximo login)",
     "✓ na fila para João: oi (offline: guardada até o próximo login)"),
])
def test_a_queued_message_s_lines_name_the_recipient_once(language: str, own: str, follow_up: str) -> None:
    """A tester read "✓ na fila (João está offline; …) para João: oi": João twice, the
    state's words between the mark and whom it is about. Each line names João once: the
    message's own line after the arrow, the short follow-up line as the others do, with
    why it waits after the text."""
    import i18n
    message = OutgoingMessage("r1", "João", "oi")
    message.submitted = True
    clock = time.strftime("%H:%M", time.localtime(message.created))
    i18n.use(language)
    try:
        assert describe_own(message, "queued", None, PLAIN) == f"[{clock}] {own}"
        assert describe_follow_up(message, "queued", None, PLAIN, "12:59") == f"[12:59] {follow_up}"
    finally:
        i18n.use("en")


# --- Completion -------------------------------------------------------------------------

COMMANDS = ["to", "query", "msg", "reply", "r", "who", "whois", "help", "para"]
NAMES = ["Bob", "bobby", "Carol"]


@pytest.mark.parametrize(("line", "begin", "word", "expected"), [
    ("/wh", 0, "/wh", ["/who", "/whois"]),
    ("/R", 0, "/R", ["/reply", "/r"]),
    ("@b", 0, "@b", ["@Bob", "@bobby"]),
    ("@C", 0, "@C", ["@Carol"]),
    ("/msg b", 5, "b", ["Bob", "bobby"]),
    ("/whois c", 7, "c", ["Carol"]),
    ("/msg Bob hel", 9, "hel", []),     # the text of a message: nothing to offer
    ("bo", 0, "bo", []),                # a plain line's first word is text
    ("hi @b", 3, "@b", ["@Bob", "@bobby"]),
    ("/q", 0, "/q", ["/query"]),
    ("x /w", 2, "/w", []),              # a command word only at the start
])
def test_tab_completes_commands_and_names(line: str, begin: int, word: str, expected: list[str]) -> None:
    assert complete(line, begin, word, COMMANDS, NAMES) == expected


class _LineBuffer:
    """What TerminalUI._complete asks of readline: the line typed, and where the word is."""

    def __init__(self, line: str) -> None:
        self.line = line

    def get_line_buffer(self) -> str:
        return self.line

    def get_begidx(self) -> int:
        return len(self.line) - len(self.line.split(" ")[-1])

    def get_endidx(self) -> int:
        return len(self.line)


def _tab(ui: TerminalUI, line: str) -> list[str]:
    """Every candidate the terminal's Tab offers at the end of ``line``."""
    ui._readline = _LineBuffer(line)
    word = line.split(" ")[-1]
    found: list[str] = []
    while (candidate := ui._complete(word, len(found))) is not None:
        found.append(candidate)
    return found


@pytest.mark.parametrize(("language", "line", "expected"), [
    ("en", "/help ro", ["rooms ", "room "]),             # the topic (and the command of that name, once), /room
    ("en", "/help mod", ["moderation "]),
    ("en", "/? acc", ["account "]),
    ("en", "/help kic", ["kick "]),                     # /help COMMAND: a command's word
    ("pt_BR", "/ajuda mod", ["moderação "]),           # (not "moderation" too: Tab stopped at "moder")
    ("pt_BR", "/ajuda sal", ["salas ", "sala "]),       # the topic first, then the commands
    ("pt_BR", "/ajuda co", ["conta ", "conversa ", "convidar "]),
    ("en", "/msg Bo", ["Bob "]),                        # (after other commands: still names)
])
def test_tab_completes_the_topics_of_help(language: str, line: str, expected: list[str]) -> None:
    """"/help ro" Tab did nothing (no name starts so): Tab completed commands and names,
    not /help's topics, which /help lists. It offers the topics in the language in use (in
    that language only), then the commands /help COMMAND takes."""
    import i18n
    ui, _ = _screen_ui()
    ui._names.online("Bob")
    i18n.use(language)
    try:
        assert _tab(ui, line) == expected
    finally:
        i18n.use("en")


def test_known_names_put_who_is_online_first() -> None:
    names = KnownNames()
    names.known("Dave")         # a conversation, not online
    names.online("Bob")
    names.online("Carol")
    assert names.names() == ["Carol", "Bob", "Dave"]
    names.offline("carol")      # Carol left: still known, after the online ones
    assert names.names() == ["Bob", "Carol", "Dave"]
    names.everyone_online(["Erin"])  # a /who answer
    assert names.names() == ["Erin", "Carol", "Bob", "Dave"]
    names.online("BOB")         # the server's latest spelling, once
    assert names.names().count("BOB") == 1 and "Bob" not in names.names()
    small = KnownNames(limit=2)
    for name in ("a1", "a2", "a3"):
        small.known(name)
    assert small.names() == ["a3", "a2"]


# --- The screen's lines through TerminalUI (no connection: events fed by hand) -------------


def _screen_ui(columns: int = 40) -> tuple[TerminalUI, _Stream]:
    out = _Stream(True)
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=_Stream(True), stdout=out, stderr=out, interactive=True,
                    colour=False)
    ui._screen.columns = lambda: columns  # type: ignore[method-assign]
    return ui, out


def test_to_a_name_the_server_is_slow_about_says_it_is_looked_up_then_what_came_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/to held the prompt for the whole --timeout with nothing on screen while the server
    did not answer. A line says the name is being looked up; the wait is short; the line
    that says where plain lines go (unchecked, here) takes its place."""
    from client.errors import RequestTimeout
    ui, out = _screen_ui(columns=200)
    asked: list[float] = []

    def lookup(name: str, timeout: float) -> None:
        asked.append(timeout)
        deadline = time.monotonic() + 5
        while "looking up" not in out.getvalue():  # the notice comes while the answer is awaited
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.01)
        raise RequestTimeout(f"no answer from the server within {timeout:g} s")

    monkeypatch.setattr(ui.client, "lookup", lookup)
    ui._execute(SetTarget("Conceição"))  # (the command as typed: its notice is the screen's, for every command)
    assert asked == [3.0]  # (not --timeout, 10 s)
    rows = out.getvalue().split("\n")
    assert rows[0].endswith("* looking up Conceição on the server…"), rows
    assert rows[1].startswith("\x1b[1A\r\x1b[J") and rows[1].endswith(  # (in place of the notice)
        "* plain lines now go to Conceição; the name could not be checked: no answer from the server "
        "within 3 s"), rows
    assert ui._target == "Conceição"


def test_whois_of_a_name_the_server_is_slow_about_says_it_is_looked_up_then_the_answer_in_its_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/whois held the prompt too, with nothing on screen, until the answer or --timeout."""
    from client.commands import ShowWhois
    from protocol import LookupResult
    ui, out = _screen_ui(columns=200)
    asked: list[float] = []

    def lookup(name: str, timeout: float) -> LookupResult:
        asked.append(timeout)
        deadline = time.monotonic() + 5
        while "looking up" not in out.getvalue():
            assert time.monotonic() < deadline, out.getvalue()
            time.sleep(0.01)
        return LookupResult("1", "Conceição", "offline")

    monkeypatch.setattr(ui.client, "lookup", lookup)
    ui._execute(ShowWhois("conceição"))
    assert asked == [10.0]  # (--timeout: the answer is what was asked for)
    rows = out.getvalue().split("\n")
    assert rows[0].endswith("* looking up conceição on the server…"), rows
    assert rows[1].startswith("\x1b[1A\r\x1b[J") and rows[1].endswith(
        "* Conceição is offline (messages to them wait for their next login)"), rows


def _slow(out: _Stream, notice: str, answer: object):
    """A request of the client's that answers ``answer`` once ``notice`` is on the screen
    (or after 2 s without it: a screen that says nothing while it waits)."""
    def request(*args: object, **kwargs: object) -> object:
        deadline = time.monotonic() + 2
        while notice not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        return answer
    return request


@pytest.mark.parametrize(("command", "method", "answer", "notice", "shown"), [
    (ShowWho(), "who", [Presence("Conceição", 0.0)], "* asking the server who is online…", "* online (1):"),
    (ShowHistory("Conceição", 3), "history_read", ([], None), "* asking the server for the history with Conceição…",
     "* no messages with Conceição"),
    (ShowHistory("#redes", 3), "history_read", ([], None), "* asking the server for the history of #redes…",
     "* no messages in #redes"),
    (ShowRooms(), "rooms", [RoomEntry("#redes", 3, "")], "* asking the server for the list of rooms…",
     "* 1 room:"),
    (ShowMembers("#redes"), "members", [MemberEntry("Olga", "owner", True)],
     "* asking the server who is in #redes…", "* in #redes (1): Olga (owner)"),
    (RoomJoin("#redes"), "join", RoomInfo("r1", "#redes", 3), "* asking the server to let you into #redes…",
     "* you are in #redes (3 members)"),
    (RoomLeave("#redes"), "leave", None, "* asking the server to take you out of #redes…",
     "* you left #redes"),  # (plain lines went to the default room, and still do)
])
def test_a_request_the_server_is_slow_to_answer_says_it_is_waiting_then_the_answer_in_its_place(
        monkeypatch: pytest.MonkeyPatch, command: Command, method: str, answer: object, notice: str,
        shown: str) -> None:
    """/who, /history, /rooms and /members held the prompt up to --timeout (10 s) with
    nothing on screen while the server was slow: the user could not tell whether the command
    had been taken. After a moment a line says what is awaited; the answer takes its place."""
    ui, out = _screen_ui(columns=200)
    monkeypatch.setattr(ui.client, method, _slow(out, notice, answer))
    # (no second question: nobody online to look like)
    monkeypatch.setattr(ui, "_like", lambda name, yourself=False: None)
    ui._execute(command)
    rows = out.getvalue().split("\n")
    assert rows[0].endswith(notice), rows
    assert rows[1].startswith("\x1b[1A\r\x1b[J") and rows[1].endswith(shown), rows  # (in place of the notice)


def test_a_moderation_act_the_server_is_slow_to_answer_says_it_is_waiting_then_its_notice_in_its_place(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """/kick held the prompt with nothing on screen while the server was slow. After a moment
    a line says what is asked; the room's notice of the act, which the receiver prints once
    the server has done it, takes its place (no "done" line: it is confirmed)."""
    ui, out = _screen_ui(columns=200)
    notice = "* asking the server to put Bob out of #redes…"
    slow = _slow(out, notice, None)

    def kick(room: str, name: str, reason: str | None, timeout: float) -> None:
        slow()
        # The server's answer, then its notice to the room, which the receiver thread prints.
        threading.Thread(target=ui._on_event, args=(RoomNotice("#redes", "kick", "Bob", time.time(), by="Alice"),),
                         daemon=True).start()

    monkeypatch.setattr(ui.client, "kick", kick)
    ui._execute(RoomAct("kick", "#redes", "Bob"))
    rows = out.getvalue().split("\n")
    assert rows[0].endswith(notice), rows
    assert rows[1].startswith("\x1b[1A\r\x1b[J") and rows[1].endswith("* you put Bob out of #redes"), rows
    assert rows[2:] == [""], rows  # (nothing else: no "done" line, no notice after the answer)


def test_a_moderation_act_answered_at_once_gets_no_notice_while_its_room_notice_is_awaited(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The server has answered: no line says it is being asked, though the room's notice of
    the act has not come yet (here it never does, and the line saying it was done comes
    after a second)."""
    ui, out = _screen_ui(columns=200)
    monkeypatch.setattr(ui.client, "unban", lambda room, name, timeout: None)
    ui._execute(RoomAct("unban", "#redes", "Bob"))
    assert out.getvalue().count("\n") == 1 and out.getvalue().endswith("* done: /unban Bob in #redes\n"), \
        out.getvalue()


@pytest.mark.parametrize(("target", "command", "notice"), [
    (None, ShowWho(), "* asking the server who is online…"),
    (None, SetTarget("#redes"), None),  # (asks nothing)
    (None, ShowHelp(), None),
    (None, RoomJoin("#redes"), "* asking the server to let you into #redes…"),
    (None, RoomLeave("#redes"), "* asking the server to take you out of #redes…"),
    ("#redes", RoomLeave(None), "* asking the server to take you out of #redes…"),
    (None, RoomLeave(None), None),  # (the default room is not left: said at once)
    (None, RoomLeave("#LOBBY"), None),
    ("#redes", RoomAct("invite", None, "Bob"), "* asking the server to invite Bob to #redes…"),
    ("#redes", RoomAct("topic", None, "provas na sexta"), "* asking the server to set the topic of #redes…"),
    (None, RoomAct("kick", "#redes", "Bob", reason="spam"), "* asking the server to put Bob out of #redes…"),
    (None, RoomAct("kick", None, "Bob"), None),  # (nobody is put out of the default room: said at once)
    ("#redes", RoomAct("ban", None, "Bob"), "* asking the server to ban Bob from #redes…"),
    ("#redes", RoomAct("unban", None, "Bob"), "* asking the server to lift the ban on Bob in #redes…"),
    (None, RoomAct("mute", None, "Bob", 60.0), "* asking the server to mute Bob in #lobby…"),
    ("#redes", RoomAct("unmute", None, "Bob"), "* asking the server to let Bob write in #redes again…"),
])
def test_what_each_command_says_while_it_waits_for_the_server(
        target: str | None, command: Command, notice: str | None) -> None:
    """/join, /leave and the moderation acts said nothing while the server was slow to
    answer them; each names what it asks for, in the room it will be asked in."""
    ui, _ = _screen_ui()
    ui._target = target
    assert ui._awaited(command) == notice


def _sent_message(msg_id: int) -> OutgoingMessage:
    message = OutgoingMessage("r1", "Bob", "see you at 14h")
    message.submitted = True
    assert message._advance("sent", msg_id=msg_id)
    return message


@pytest.mark.parametrize(("command", "method", "notice", "shown"), [
    (SetBlocked("Bob", True), "block", "* asking the server to block Bob…", "* blocked Bob: their messages"),
    (SetBlocked("Bob", False), "unblock", "* asking the server to unblock Bob…", "* unblocked Bob"),
    (EditLast("see you at 15h"), "edit", "* asking the server to edit your last message…",
     "* “see you at 14h” edited"),
    (DeleteLast(), "delete", "* asking the server to delete your last message…", "* “see you at 14h” deleted"),
    (DeleteLast("Bob"), "delete", "* asking the server to delete the last post of Bob in #redes…",
     "* “x” deleted"),
    (SetReceipts(True), "set_read_receipts", "* asking the server to turn read receipts on…",
     "* read receipts are on: "),
    (ClaimName(), "register", "* asking the server to register Alice…", "* Alice is now registered: "),
])
def test_a_change_the_server_is_slow_to_answer_says_it_is_waiting_then_the_answer_in_its_place(
        monkeypatch: pytest.MonkeyPatch, command: Command, method: str, notice: str, shown: str) -> None:
    """/block, /unblock, /edit, /delete, /receipts and /register held the prompt up to
    --timeout with nothing on screen while the server was slow, as /who did before it said
    what it waits for: the user could not tell whether the command had been taken. They say
    it too, by the same rule (Screen.awaiting); the answer takes the notice's place."""
    ui, out = _screen_ui(columns=200)
    ui._target = "#redes" if isinstance(command, DeleteLast) and command.name else None
    ui._own_last = _sent_message(7)
    ui._keep_text(7, "see you at 14h", shown=True)
    ui._keep_text(9, "x", shown=True)
    ui._last_posts[("#redes", "bob")] = 9
    ui._script_password = "senha secreta 1"  # (/register: no prompt here)
    monkeypatch.setattr(ui, "receipts_on", lambda: False)
    monkeypatch.setattr(ui.client, method, _slow(out, notice, None))
    ui._execute(command)
    rows = out.getvalue().split("\n")
    assert rows[0].endswith(notice), rows
    assert rows[1].startswith("\x1b[1A\r\x1b[J") and shown in rows[1], rows  # (in place of the notice)


@pytest.mark.parametrize(("command", "method", "notice", "shown"), [
    (SetPassword(), "change_password", "* asking the server to change the password of Alice…",
     "* the password of Alice is changed"),
    (DeleteAccount(), "unregister", "* asking the server to delete the account Alice…",
     "* the account Alice was deleted"),
])
def test_a_change_asked_after_a_password_prompt_says_it_is_waiting_only_once_the_password_is_typed(
        monkeypatch: pytest.MonkeyPatch, command: Command, method: str, notice: str, shown: str) -> None:
    """/password and /unregister said nothing while the server was slow. They say what they
    wait for as the others do, counted from when the password prompt is answered (the
    notice is no line to hold back behind the prompt, then show under what came meanwhile);
    a line that came during the prompt is shown, and is not taken for the answer."""
    from client import terminal
    ui, out = _screen_ui(columns=200)
    ui.client.registered = True
    typed: list[str] = []

    def ask(prompt: str) -> str:
        receiver = threading.Thread(target=ui._screen.emit, args=("* Bob joined",))  # (meanwhile: held)
        receiver.start()
        receiver.join()
        time.sleep(0.4)  # a person typing: longer than the notice's wait
        typed.append(out.getvalue())
        return "senha secreta 1"

    monkeypatch.setattr(terminal.auth, "ask_password", ask)
    monkeypatch.setattr(terminal.auth, "ask_new_password", lambda name, tell: "senha secreta 2")
    monkeypatch.setattr(ui.client, method, _slow(out, notice, None))
    ui._execute(command)
    assert notice not in typed[0], typed  # (nothing while the password was typed)
    rows = [row for row in out.getvalue().split("\n") if "/unregister deletes" not in row]
    assert rows[0].endswith("* Bob joined"), rows
    assert rows[1].endswith(notice), rows
    assert rows[2].startswith("\x1b[1A\r\x1b[J") and shown in rows[2], rows


@pytest.mark.parametrize(("events", "rows"), [
    # The server's order: an `offline` in each room shared, then the `left`.
    ([RoomNotice("#redes", "offline", "Ana", 0.0), RoomNotice("#bd", "offline", "Ana", 0.0),
      UserLeft("Ana", "quit", 0.0)],
     ["* Ana went offline in #redes", "* Ana went offline in #redes, #bd",
      "* Ana left (quit; was in #redes, #bd)"]),
    # Another order (a cluster's notices come through Redis), and a `left` with no reason.
    ([UserLeft("Ana", "", 0.0), RoomNotice("#redes", "offline", "Ana", 0.0)],
     ["* Ana left", "* Ana left (was in #redes)"]),
    # Another person: a line of their own.
    ([RoomNotice("#redes", "offline", "Ana", 0.0), UserLeft("Bob", "timeout", 0.0)],
     ["* Ana went offline in #redes", "* Bob left (timeout)"]),
])
def test_someone_gone_offline_is_one_line_with_the_rooms_they_were_in(events: list[object], rows: list[str]) -> None:
    """When Ana quit, a member of #redes read "* Ana went offline in #redes" and then "* Ana
    left (quit)" ("se despediu"), a line per room shared and one more. While it is the last line,
    each of those rewrites the one before: one line says it all. Nothing is held back."""
    ui, out = _screen_ui(columns=200)
    for event in events:
        ui._on_event(event)
    shown = out.getvalue().split("\n")[:-1]
    assert [re.sub(r"^(\x1b\[1A\r\x1b\[J)?\[\d\d:\d\d\] ", "", row) for row in shown] == rows, shown
    rewritten = [row.startswith("\x1b[1A\r\x1b[J") for row in shown]
    assert rewritten == [False] + [row.startswith("* Ana") for row in rows[1:]], shown


@pytest.mark.parametrize(("language", "events", "rows", "rewritten"), [
    # The server's order, seen at a login: an `online` in each room shared, then the `joined`.
    ("pt_BR", [RoomNotice("#redes", "online", "João", 0.0), UserJoined("João", 0.0)],
     ["* João está online em #redes", "* João entrou (está em #redes)"], [False, True]),
    ("en", [RoomNotice("#redes", "online", "Ana", 0.0), RoomNotice("#bd", "online", "Ana", 0.0),
            UserJoined("Ana", 0.0)],
     ["* Ana is online in #redes", "* Ana is online in #redes, #bd", "* Ana joined (is in #redes, #bd)"],
     [False, True, True]),
    # Another order (a cluster's notices come through Redis).
    ("en", [UserJoined("Ana", 0.0), RoomNotice("#redes", "online", "Ana", 0.0)],
     ["* Ana joined", "* Ana joined (is in #redes)"], [False, True]),
    # Another person, or one who went and came: a line of their own.
    ("en", [RoomNotice("#redes", "online", "Ana", 0.0), UserJoined("Bob", 0.0)],
     ["* Ana is online in #redes", "* Bob joined"], [False, False]),
    ("en", [RoomNotice("#redes", "offline", "Ana", 0.0), UserJoined("Ana", 0.0)],
     ["* Ana went offline in #redes", "* Ana joined"], [False, False]),
])
def test_someone_come_online_is_one_line_with_the_rooms_they_are_in(
        language: str, events: list[object], rows: list[str], rewritten: list[bool]) -> None:
    """When João came back, Conceição, with him in #redes, read "* João está online em #redes"
    and then "* João entrou", two lines for one arrival (leaving is one line already). While
    it is the last line, each of those rewrites the one before, as when someone goes."""
    import i18n
    i18n.use(language)
    try:
        ui, out = _screen_ui(columns=200)
        for event in events:
            ui._on_event(event)
    finally:
        i18n.use("en")
    shown = out.getvalue().split("\n")[:-1]
    assert [re.sub(r"^(\x1b\[1A\r\x1b\[J)?\[\d\d:\d\d\] ", "", row) for row in shown] == rows, shown
    assert [row.startswith("\x1b[1A\r\x1b[J") for row in shown] == rewritten, shown


def test_a_line_between_ends_the_line_of_someone_gone_offline() -> None:
    """Only the last line is rewritten: after a message, the `left` is a line of its own."""
    ui, out = _screen_ui(columns=200)
    ui._on_event(RoomNotice("#redes", "offline", "Ana", 0.0))
    ui._on_event(RoomNotice("#redes", "online", "Bob", 0.0))
    ui._on_event(UserLeft("Ana", "quit", 0.0))
    shown = out.getvalue().split("\n")[:-1]
    assert len(shown) == 3 and not any(row.startswith("\x1b[1A") for row in shown), shown
    assert shown[2].endswith("* Ana left (quit)"), shown


def test_a_script_s_slow_answer_comes_alone_with_no_notice_before_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pipe the answers are the script's lines, one per command: no notice among them."""
    out = _Stream(False)
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=_Stream(False), stdout=out, stderr=out, interactive=False)

    def who(timeout: float) -> list[Presence]:
        threading.Event().wait(0.5)  # (past the screen's moment before its notice)
        return [Presence("Conceição", 0.0)]

    monkeypatch.setattr(ui.client, "who", who)
    ui._execute(ShowWho())
    assert out.getvalue().startswith("* online (1): Conceição (since "), out.getvalue()
    assert out.getvalue().count("\n") == 1, out.getvalue()


def _script_ui() -> tuple[TerminalUI, _Stream]:
    out = _Stream(False)
    return TerminalUI("Alice", "127.0.0.1", 9, stdin=_Stream(False), stdout=out, stderr=out, interactive=False), out


@pytest.mark.parametrize("room", [None, "#lobby", "#Lobby"])
def test_members_of_the_default_room_are_who_is_online(monkeypatch: pytest.MonkeyPatch, room: str | None) -> None:
    """A new user saw "#lobby (3 members)" in /rooms; /members said the default room "has no
    such thing", and /members #lobby that "only a message's sender may change it, and only a
    room's owner..." (the server's forbidden: PROTOCOL.md says to ask who for it). Its
    members are who is online: the answer is /who's, as /members says a room's."""
    from client.errors import RequestFailed
    ui, out = _script_ui()

    def members(room: str, timeout: float) -> list[MemberEntry]:
        raise RequestFailed("forbidden", "not for the default room")

    monkeypatch.setattr(ui.client, "members", members)
    monkeypatch.setattr(ui.client, "who", lambda timeout: [Presence("João", 0.0), Presence("Alice", 0.0)])
    ui._execute(ShowMembers(room))
    assert out.getvalue() == "* in #lobby (2): Alice, João\n"


@pytest.mark.parametrize("room", [None, "#lobby"])
def test_leaving_the_default_room_says_it_cannot_be_left_and_how_to_leave_the_chat(
        monkeypatch: pytest.MonkeyPatch, room: str | None) -> None:
    """/deixar said the default room "has no such thing"; /deixar #lobby, that "only a
    message's sender may change it...". Everyone logged in is in it: /quit leaves."""
    from client.commands import RoomLeave
    from client.errors import RequestFailed
    ui, out = _script_ui()

    def leave(room: str, timeout: float) -> None:
        raise RequestFailed("forbidden", "not the default room")

    monkeypatch.setattr(ui.client, "leave", leave)
    ui._execute(RoomLeave(room))
    assert out.getvalue() == "! /leave: #lobby is the default room, which everyone logged in is in; it cannot be " \
                             "left (/quit leaves the chat)\n"


@pytest.mark.parametrize("room", ["#lobby", "#Lobby"])
def test_the_history_of_the_default_room_says_it_keeps_none(monkeypatch: pytest.MonkeyPatch, room: str) -> None:
    """/historico #lobby, seen as a pt_BR user, said "/historico falhou: você não pode fazer
    isso: só quem enviou uma mensagem pode mudá-la, e só quem é responsável por uma sala
    ..." (the server's forbidden: "#lobby keeps no history"): about rights nobody lacked.
    The default room keeps none: said so, with where history is."""
    from client.commands import ShowHistory
    from client.errors import RequestFailed
    ui, out = _script_ui()

    def history_read(peer: str, count: int, timeout: float):
        raise RequestFailed("forbidden", "#lobby keeps no history: ask for a room or a person's")

    monkeypatch.setattr(ui.client, "history_read", history_read)
    ui._execute(ShowHistory(room, 20))
    assert out.getvalue() == "! /history: #lobby is the default room, which keeps no history; /history #ROOM " \
                             "shows another room's, /history NAME your messages with NAME\n"
    from i18n import use
    ui, out = _script_ui()
    try:
        use("pt_BR")
        ui._execute(ShowHistory(room, 20))
    finally:
        use("en")
    assert out.getvalue() == "! /historico: #lobby é a sala geral, que não guarda histórico; /historico #SALA " \
                             "mostra o de outra sala, /historico NOME as suas mensagens com NOME\n"


def test_a_name_the_server_says_nobody_has_is_not_offered_by_tab(monkeypatch: pytest.MonkeyPatch) -> None:
    """After "/historico joao" (nobody's: did you mean João?) or "@conceicao oi" (refused:
    nobody called conceicao), Tab offered joao and conceicao beside João and Conceição, so
    "@Jo" Tab completed nothing at once. Only names the server knows are offered."""
    ui, out = _screen_ui(columns=200)
    ui._on_event(UserJoined("João", 0.0))
    ui._on_event(UserJoined("Conceição", 0.0))
    monkeypatch.setattr(ui.client, "history_read", lambda peer, count, timeout: ([], None))
    from client.commands import ShowHistory
    ui._execute(ShowHistory("joao", 3))
    assert "did you mean João?" in out.getvalue(), out.getvalue()
    refused = OutgoingMessage("r1", "conceicao", "oi")
    refused.submitted = True
    ui._show_own(refused)
    refused._advance("failed", error=("unknown_recipient", "nobody called conceicao"))
    ui._on_event(MessageUpdate(refused, "failed"))
    taken = OutgoingMessage("r2", "Bruna", "oi")  # (offline, known: the server took it)
    taken.submitted = True
    ui._show_own(taken)
    taken._advance("queued", msg_id=4)
    ui._on_event(MessageUpdate(taken, "queued"))
    assert ui._names.names() == ["Conceição", "João", "Bruna"]


def test_reconnect_attempts_update_one_line() -> None:
    ui, out = _screen_ui(columns=100)
    for attempt in (1, 2, 3):
        ui._on_event(Reconnecting(attempt, 0.5 * attempt, "connection refused"))
    ui._on_event(Reconnected(Welcome("h", "Alice", 1, "server", 15.0)))
    lines = out.getvalue().split("\n")
    # Each attempt goes back up over the previous one (one row here) and clears it.
    assert lines[1].startswith("\x1b[1A\r\x1b[J") and "(attempt 2)" in lines[1]
    assert lines[2].startswith("\x1b[1A\r\x1b[J") and "(attempt 3)" in lines[2]
    assert lines[3].startswith("\x1b[1A\r\x1b[J") and lines[3].endswith("! reconnected")
    ui._on_event(Reconnecting(1, 0.5, "again"))  # a new outage: "reconnected" stays on screen
    assert not out.getvalue().split("\n")[4].startswith("\x1b[1A")


def test_a_message_state_rewrites_its_line_or_follows_it_briefly() -> None:
    ui, out = _screen_ui()
    first = OutgoingMessage("r1", "Bob", "x" * 50)   # two rows at 40 columns (wrapped: two lines)
    first.submitted = True
    ui._show_own(first)
    first._advance("sent")
    ui._on_event(MessageUpdate(first, "sent"))
    rows = out.getvalue().split("\n")
    assert rows[2].startswith("\x1b[2A\r\x1b[J") and rows[3].endswith(" ✓"), rows
    ui._on_event(UserJoined("Carol", 0.0))           # now the message's line is not the last
    first._advance("delivered")
    ui._on_event(MessageUpdate(first, "delivered"))
    last = "\n".join(out.getvalue().split("\n")[-3:-1])  # (49 columns: wrapped at its last space)
    assert re.fullmatch(r"\[\d\d:\d\d\] ✓✓ to Bob:\n {8}x{29}…", last), last


def test_a_message_state_after_the_window_narrowed_follows_its_line_rather_than_rewriting_it() -> None:
    """Narrowed after a message's line was printed, a terminal that rewraps (tmux, VTE)
    shows it on more rows than it took, and the rewrite of its mark went up over only some
    of them. The new state comes on a short line below; a wider window still rewrites."""
    ui, out = _screen_ui(columns=60)
    widths = iter([60] * 50)
    ui._screen.columns = lambda: next(widths)  # type: ignore[method-assign]
    message = OutgoingMessage("r1", "Bob", "x" * 30)   # one row at 60 columns, two at 30
    message.submitted = True
    ui._show_own(message)
    widths = iter([80] * 50)                           # wider: the rows stay as they were
    message._advance("sent")
    ui._on_event(MessageUpdate(message, "sent"))
    assert out.getvalue().split("\n")[1].startswith("\x1b[1A\r\x1b[J"), out.getvalue()
    widths = iter([30] * 50)                           # narrower than when that line was printed
    message._advance("delivered")
    ui._on_event(MessageUpdate(message, "delivered"))
    last = out.getvalue().split("\n")[2]
    assert not last.startswith("\x1b[") and re.fullmatch(r"\[\d\d:\d\d\] ✓✓ to Bob: x+…?", last), out.getvalue()


def test_a_state_reached_while_the_line_is_printed_still_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    # The receiver moves the message on (sending -> sent, final for the room) while the
    # main thread prints its first line: the update that follows must rewrite that line,
    # not be dropped because the message looks final already.
    import client.terminal as terminal
    ui, out = _screen_ui()
    message = OutgoingMessage("r1", None, "hello")
    message.submitted = True
    describe = terminal.describe_own

    def racing(m: OutgoingMessage, state: str, error: object, style: Style) -> str:
        line = describe(m, state, error, style)  # type: ignore[arg-type]
        m._advance("sent")
        return line

    monkeypatch.setattr(terminal, "describe_own", racing)
    ui._show_own(message)
    monkeypatch.setattr(terminal, "describe_own", describe)
    assert out.getvalue().endswith("(room) you: hello …\n")
    ui._on_event(MessageUpdate(message, "sent"))
    assert out.getvalue().endswith("(room) you: hello ✓\n")


def test_an_edit_or_delete_names_the_message_by_the_text_this_screen_showed() -> None:
    # A screen shows no message numbers: "✎ Bob edited message 7" named nothing its reader
    # had seen. The text it had here names it; one never shown keeps its number.
    ui, out = _screen_ui(columns=200)
    ui._on_event(DirectMessage(7, "Bob", "Alice", "see you at 14h   in\nroom 205", time.time()))
    ui._on_event(Edited(7, "Bob", "Alice", "see you at 15h", 0.0))
    ui._on_event(Deleted(7, "Bob", "Alice", 0.0))
    ui._on_event(Edited(8, "Bob", "Alice", "never shown here", 0.0))
    ui._on_event(RoomMessage(9, "Carol", "long " * 20, time.time()))
    ui._on_event(RoomEdited(9, "Carol", "#lobby", "short", 0.0))
    ui._on_event(RoomDeleted(9, "Carol", "#lobby", 0.0, by="Teacher"))
    lines = [SGR.sub("", line) for line in out.getvalue().split("\n")]
    assert any(line.endswith("✎ Bob edited “see you at 14h in room 205”: see you at 15h") for line in lines), lines
    assert any(line.endswith("✗ Bob deleted “see you at 15h”") for line in lines), lines
    assert any(line.endswith("✎ Bob edited message 8: never shown here") for line in lines), lines
    assert any(line.endswith("(room) ✎ Carol edited “" + ("long " * 8)[:39] + "…”: short") for line in lines), lines
    assert any(line.endswith("(room) ✗ Teacher deleted “short” of Carol") for line in lines), lines


def test_a_read_mark_names_our_message_by_its_text() -> None:
    ui, out = _screen_ui(columns=200)
    sent = OutgoingMessage("r1", "Bob", "the exam is on Thursday")
    sent.submitted = True
    ui._show_own(sent)
    sent.msg_id = 12
    sent._advance("delivered")
    ui._on_event(MessageUpdate(sent, "delivered"))
    ui._on_event(Read("Alice", 12, "Bob"))
    ui._on_event(Read("Alice", 13, "Bob"))  # not shown here: its number
    lines = [SGR.sub("", line) for line in out.getvalue().split("\n")]
    assert any(line.endswith("✓✓ read by Bob (up to “the exam is on Thursday”)") for line in lines), lines
    assert any(line.endswith("✓✓ read by Bob (up to message 13)") for line in lines), lines


def test_edit_and_delete_take_the_last_message_sent_wherever_it_went(monkeypatch: pytest.MonkeyPatch) -> None:
    # "@João texto" sends past the target; /edit then changed the last message to where
    # plain lines go (Bob's), not the one the user had just sent and saw above.
    from client.commands import DeleteLast, EditLast, SendText
    ui, out = _screen_ui(columns=200)
    ui._target = "Bob"
    ids = iter((21, 22, 23))

    def send_direct(to: str, text: str) -> OutgoingMessage:
        message = OutgoingMessage(f"r{to}", to, text)
        message.submitted, message.msg_id = True, next(ids)
        return message

    changes: list[tuple] = []
    monkeypatch.setattr(ui.client, "send_direct", send_direct)
    monkeypatch.setattr(ui.client, "edit", lambda msg_id, text, timeout: changes.append(("edit", msg_id, text)))
    monkeypatch.setattr(ui.client, "delete", lambda msg_id, timeout: changes.append(("delete", msg_id)))
    ui._send(SendText("Bob", "to Bob"))
    ui._send(SendText("João", "to João, with a typo"))
    ui._change_last(EditLast("to João, fixed"))
    ui._change_last(DeleteLast())
    assert changes == [("edit", 22, "to João, fixed"), ("delete", 22)]


def test_a_message_deleted_before_it_came_is_one_line_saying_so_not_an_empty_one() -> None:
    # Its sender deleted it while we were offline: it came as an empty "Ana → you:" line,
    # then "✗ Ana deleted message 7". Now the dm says it was deleted: one line, whichever
    # of the dm and the "deleted" told at login comes first.
    import i18n
    from client.terminal_lines import describe_event
    ui, out = _screen_ui(columns=200)
    ui._on_event(DirectMessage(7, "Ana", "Alice", "", time.time(), True))
    ui._on_event(Deleted(7, "Ana", "Alice", 0.0))
    ui._on_event(Deleted(8, "Ana", "Alice", 0.0))  # the other order (in a cluster)
    ui._on_event(DirectMessage(8, "Ana", "Alice", "", time.time(), True))
    lines = [SGR.sub("", line) for line in out.getvalue().split("\n") if line]
    assert len(lines) == 2 and lines[0].endswith("✗ Ana deleted a message"), lines
    assert not any("→ you" in line for line in lines), lines
    # A pipe's lines keep the number, which scripts can match, as for any delete.
    assert describe_event(DirectMessage(7, "Ana", "Alice", "", 0.0, True), "Alice") == "✗ Ana deleted message 7"
    i18n.use("pt_BR")
    try:
        line = describe_on_screen(DirectMessage(7, "Ana", "Alice", "", 0.0, True), "Alice", PLAIN, "12:00")
        assert line is not None and line.endswith("✗ Ana apagou uma mensagem"), line
    finally:
        i18n.use("en")


# --- A class's noise: one line for a room's readers, one for its typists -----------------


def _posted(ui: TerminalUI, msg_id: int) -> None:
    """Alice's post ``msg_id`` in #redes, as the server echoes it."""
    from protocol import RoomPost
    ui._post_seen(RoomPost(msg_id, "Alice", "#redes", "aula de hoje", time.time()))


def test_a_posts_read_count_rewrites_its_line_while_it_is_the_last() -> None:
    """A teacher's terminal printed "✓✓ … was read by 4", then "by 5", ... one line for
    each member who read the post. The count now rewrites its line, as the outage's does;
    after a line printed in between, the next count goes below it."""
    from protocol import RoomRead
    ui, out = _screen_ui(columns=200)
    _posted(ui, 50)
    ui._on_event(RoomRead("#redes", marks=(50, 10)))
    ui._on_event(RoomRead("#redes", marks=(50, 50, 10)))
    rows = out.getvalue().split("\n")
    assert "was read by 1" in rows[0] and not rows[0].startswith("\x1b[")
    assert rows[1].startswith("\x1b[1A\r\x1b[J") and rows[1].endswith("was read by 2"), rows
    ui._on_event(UserJoined("Bob", time.time()))
    ui._on_event(RoomRead("#redes", marks=(50, 50, 50)))
    rows = out.getvalue().split("\n")
    assert rows[3].endswith("was read by 3") and not rows[3].startswith("\x1b["), rows


def test_a_posts_read_counts_in_a_pipe_stay_one_line_each() -> None:
    from protocol import RoomRead
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=io.StringIO(), stdout=out, stderr=out, interactive=False)
    _posted(ui, 50)
    ui._on_event(RoomRead("#redes", marks=(50,)))
    ui._on_event(RoomRead("#redes", marks=(50, 50)))
    assert [line[-9:] for line in out.getvalue().splitlines()] == ["read by 1", "read by 2"]


def test_a_rooms_typists_share_one_line_rewritten_in_place() -> None:
    """Thirty students typing in #redes gave the teacher a line each: "… Ana is typing in
    #redes", "… Bruno is typing in #redes"... On the screen they are one line, rewritten."""
    from protocol import RoomTyping
    ui, out = _screen_ui(columns=200)
    for name in ("Ana", "Bruno", "Carla", "Davi", "Eva"):
        ui._on_event(RoomTyping("#redes", name))
    ui._on_event(RoomTyping("#redes", "Ana"))  # a repeat of the same burst: nothing new
    rows = out.getvalue().split("\n")[:-1]
    assert rows[0].endswith("… Ana is typing in #redes"), rows
    assert rows[1].endswith("… Ana and Bruno are typing in #redes"), rows
    assert rows[2].endswith("… Ana, Bruno and Carla are typing in #redes"), rows
    assert rows[4].endswith("… Ana, Bruno and 3 others are typing in #redes"), rows
    assert len(rows) == 5 and all(row.startswith("\x1b[1A\r\x1b[J") for row in rows[1:]), rows


def test_a_rooms_typists_in_a_pipe_are_one_line_each() -> None:
    from protocol import RoomTyping
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=io.StringIO(), stdout=out, stderr=out, interactive=False)
    ui._on_event(RoomTyping("#redes", "Ana"))
    ui._on_event(RoomTyping("#redes", "Bruno"))
    assert out.getvalue().splitlines() == ["… Ana is typing in #redes", "… Bruno is typing in #redes"]


def test_who_for_a_class_is_one_block_in_columns_as_wide_as_the_terminal() -> None:
    """/who for 30 students was one line of 900 characters, wrapped anywhere by the
    terminal. It is a heading and the names in columns under it, in class-list order."""
    from client.screen import display_width
    from protocol import Presence
    from unittest import mock
    names = [f"Aluno{n:02d}" for n in range(30, 0, -1)] + ["Ângela", "Érica"]
    ui, out = _screen_ui(columns=80)
    with mock.patch.object(ui.client, "who", lambda timeout: [Presence(name, None) for name in names]):
        from client.commands import ShowWho
        ui._execute(ShowWho())
    rows = out.getvalue().split("\n")[:-1]
    assert rows[0].endswith("* online (32):"), rows
    assert len(rows) > 4 and all(display_width(row) <= 80 for row in rows), rows
    assert all(row.startswith(" " * 8) for row in rows[1:]), rows
    # Down each column, then the next: the class list's order (Ângela after Aluno30).
    ordered = sorted(names, key=name_order)
    firsts = [row.split()[0] for row in rows[1:]]
    assert firsts == ordered[:len(firsts)], rows
    assert sum(row.count("(since") for row in rows) == 32, rows


# --- Days: a separator where the day changes (client.display.DayBreaks) --------------------


def _local_noon(days_ago: int) -> float:
    """Noon, local time, ``days_ago`` calendar days before today."""
    return local_time(12, days_ago=days_ago)


@pytest.fixture
def at_noon(monkeypatch: pytest.MonkeyPatch) -> float:
    """time.time() stopped at today's noon: on the running clock, a midnight between a test's
    "yesterday" and the drawing made it the day before (once in many days, but real)."""
    return stop_clock_at_noon(monkeypatch)


def test_messages_of_another_day_come_under_a_dim_line_naming_their_day(at_noon: float) -> None:
    """A student reading in the morning what came overnight and last week saw only HH:MM:
    Friday's 23:50 read as today's. A line names the day where it changes; today's first
    message after older ones is under "Today"; the stamps stay HH:MM."""
    import datetime
    ui, out = _screen_ui(columns=100)
    ui._screen.style = COLOUR  # the separator is dim
    week = _local_noon(5)
    ui._on_event(DirectMessage(1, "Bob", "Alice", "last week", week))
    ui._on_event(DirectMessage(2, "Bob", "Alice", "later that day", week + 3600))
    ui._on_event(DirectMessage(3, "Bob", "Alice", "yesterday", _local_noon(1)))
    ui._on_event(DirectMessage(4, "Bob", "Alice", "now", time.time()))
    ui._on_event(UserJoined("Carol", time.time()))
    rows = [SGR.sub("", row) for row in out.getvalue().split("\n")[:-1]]
    weekday = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")[
        datetime.date.fromtimestamp(week).weekday()]
    assert rows[0].startswith(f"── {weekday}, "), rows
    assert re.fullmatch(r"\[\d\d:\d\d\] Bob → you: last week", rows[1]), rows
    assert re.fullmatch(r"\[\d\d:\d\d\] Bob → you: later that day", rows[2]), rows
    assert rows[3] == "── Yesterday ──" and rows[5] == "── Today ──", rows
    assert rows[6].endswith("Bob → you: now") and rows[7].endswith("* Carol joined") and len(rows) == 8, rows
    assert "\x1b[2m── Yesterday ──" in out.getvalue()  # dim, as the stamps


def test_a_view_of_todays_messages_has_no_day_line_and_a_pipe_gets_them_plain(at_noon: float) -> None:
    ui, out = _screen_ui(columns=100)
    ui._on_event(DirectMessage(1, "Bob", "Alice", "now", time.time()))
    assert "──" not in out.getvalue()
    out = io.StringIO()
    ui = TerminalUI("Alice", "127.0.0.1", 9, stdin=io.StringIO(), stdout=out, stderr=out, interactive=False)
    ui._on_event(DirectMessage(1, "Bob", "Alice", "ontem", _local_noon(1)))
    ui._on_event(DirectMessage(2, "Bob", "Alice", "hoje", time.time()))
    lines = out.getvalue().splitlines()
    assert lines[0] == "── Yesterday ──" and lines[2] == "── Today ──" and len(lines) == 4, lines
    assert re.fullmatch(r"\[\d\d:\d\d\] Bob → you: ontem", lines[1]), lines


def test_history_names_the_days_of_its_messages_and_stamps_them_hh_mm(at_noon: float) -> None:
    from client.terminal_lines import format_history
    from protocol import HistoryEntry
    entries = [HistoryEntry(1, "Bob", "Alice", "sexta", _local_noon(1) - 3600, "delivered"),
               HistoryEntry(2, "Alice", "Bob", "ok", _local_noon(1), "delivered"),
               HistoryEntry(3, "Bob", "Alice", "bom dia", time.time(), "delivered")]
    lines = format_history("Bob", entries, "alice")
    assert lines[1] == "  ── Yesterday ──" and lines[4] == "  ── Today ──" and len(lines) == 6, lines
    assert all(re.match(r"  \[\d\d:\d\d\] ", line) for line in (lines[2], lines[3], lines[5])), lines


def test_a_day_line_stays_when_the_message_under_it_is_rewritten(at_noon: float) -> None:
    """Our message's line is rewritten in place as its state moves: the day's line above it
    is not part of what is erased."""
    ui, out = _screen_ui(columns=100)
    ui._on_event(DirectMessage(1, "Bob", "Alice", "ontem", _local_noon(1)))
    mine = OutgoingMessage("r1", "Bob", "bom dia")
    mine.submitted = True
    ui._show_own(mine)
    mine._advance("sent")
    ui._on_event(MessageUpdate(mine, "sent"))
    rows = out.getvalue().split("\n")[:-1]
    assert rows[0] == "── Yesterday ──" and rows[2] == "── Today ──", rows
    assert rows[4].startswith("\x1b[1A\r\x1b[J") and rows[4].endswith("you → Bob: bom dia ✓"), rows


def test_the_first_line_after_midnight_comes_under_its_own_day_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal left open overnight: what it printed cannot be rewritten (the screen
    scrolled on: the terminal never redraws its lines), so the next day's first line, a
    message or a notice, comes under a "Today" of its own. Fake clock."""
    # Today's 00:05 by the calendar, not an hour after 23:00: where the clocks go back at
    # midnight, that hour ends at 23:00 again.
    evening, after_midnight = local_time(23, days_ago=1), local_time(0, 5)
    clock = [evening]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    ui, out = _screen_ui(columns=100)
    ui._on_event(DirectMessage(1, "Bob", "Alice", "boa noite", evening - 7200.0))
    ui._on_event(DirectMessage(2, "Bob", "Alice", "dorme bem", evening))
    assert "──" not in out.getvalue()  # a view of (then) today's lines has none
    clock[0] = after_midnight
    ui._on_event(UserJoined("Carol", clock[0]))
    ui._on_event(DirectMessage(3, "Bob", "Alice", "bom dia", clock[0] + 60.0))
    rows = [SGR.sub("", row) for row in out.getvalue().split("\n")[:-1]]
    assert rows[2] == "── Today ──" and rows[3].endswith("* Carol joined"), rows
    assert rows[4].endswith("Bob → you: bom dia") and len(rows) == 5, rows


def test_a_name_typed_in_another_case_is_spelt_as_the_server_spells_it() -> None:
    names = KnownNames()
    names.online("João")
    names.known("Conceição")
    assert names.spelt("joão") == "João" and names.spelt("JOÃO") == "João"
    assert names.spelt("conceição") == "Conceição"
    assert names.spelt("joao") == "joao"  # another name (a look-alike): not ours to change
    assert names.spelt("Zé") == "Zé"      # unknown: as typed


@pytest.mark.parametrize(("event", "line"), [
    (RoomDeleted(9, "João", "#redes", 0.0, by="Conceição"),
     "✗ Conceição apagou “estou digitando”, que você enviou em #redes"),
    (RoomDeleted(9, "João", "#lobby", 0.0, by="Conceição"),
     "(sala) ✗ Conceição apagou “estou digitando”, que você enviou"),
    (Deleted(9, "João", "Ana", 0.0, by="Conceição"),
     "✗ Conceição apagou “estou digitando”, que você enviou"),
    # Someone else's: by their name, as before.
    (RoomDeleted(9, "Ana", "#redes", 0.0, by="Conceição"),
     "✗ Conceição apagou “estou digitando” de Ana em #redes"),
])
def test_a_message_of_ours_deleted_by_a_moderator_is_said_to_be_ours(event: object, line: str) -> None:
    """João read "✗ Conceição apagou “estou digitando…” de João em #redes": his own message,
    by his name, as if it were someone else's. It says it was his."""
    import i18n
    from client.terminal_lines import describe_event
    i18n.use("pt_BR")
    try:
        assert describe_event(event, "João", None, "estou digitando") == line
    finally:
        i18n.use("en")


def test_the_portuguese_lines_about_where_typed_lines_go_say_it_in_one_way() -> None:
    """"/deixar" said "* você saiu de #redes; as linhas simples vão para a sala" ("plain
    lines", word for word), where /para and /todos say "agora o que você digitar vai para":
    a student does not know what a "linha simples" is. Every such line says it their way."""
    import i18n
    from client.commands import help_lines
    i18n.use("pt_BR")
    try:
        ui, out = _screen_ui(columns=200)
        ui.client.leave = lambda room, timeout: None  # type: ignore[method-assign]
        ui._target = "#redes"  # (where plain lines went: the line says where they go now)
        ui._execute(RoomLeave("#redes"))
        ui._execute(RoomAct("kick", None, "Bob"))  # (plain lines go to the default room: no one to put out)
        shown = out.getvalue() + "\n".join(help_lines(None, "rooms"))
    finally:
        i18n.use("en")
    assert "* você saiu de #redes; agora o que você digitar vai para a sala" in shown, shown
    assert "! /expulsar: o que você digitar vai para a sala geral, que não tem isso" in shown, shown
    assert "entra em (ou cria) #SALA; o que você digitar passa a ir para lá" in shown, shown
    assert "linhas simples" not in shown, shown


@pytest.mark.parametrize("typed", ["conceicao", "CONCEICAO"])
def test_history_of_conceicao_typed_in_any_case_without_accents_offers_conceicao(
        monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    """Brazilians type names without accents, in capitals too: "/historico CONCEICAO" asks
    "did you mean Conceição?" (registry.names.lookalike_among, rule 7), as for conceicao."""
    ui, out = _screen_ui(columns=200)
    ui._on_event(UserJoined("Conceição", 0.0))
    monkeypatch.setattr(ui.client, "history_read", lambda peer, count, timeout: ([], None))
    from client.commands import ShowHistory
    ui._execute(ShowHistory(typed, 3))
    assert "did you mean Conceição?" in out.getvalue(), out.getvalue()
