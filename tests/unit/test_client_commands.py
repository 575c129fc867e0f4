"""What a typed line means (client.commands.parse_command): a pure function."""

from __future__ import annotations

import pytest

from client.commands import (
    Blank,
    ClaimName,
    Mistake,
    Quit,
    ReplyText,
    SendText,
    SetBlocked,
    SetPassword,
    DeleteAccount,
    SetReceipts,
    SetTarget,
    ShowHelp,
    ShowHistory,
    ShowWho,
    ShowWhois,
    help_lines,
    parse_command,
)


@pytest.mark.parametrize(
    ("line", "target", "command"),
    [
        # Direct messages with @.
        ("@Bob hi", None, SendText("Bob", "hi")),
        ("@Bob hi there  ", None, SendText("Bob", "hi there  ")),
        ("@Bob    spaced", None, SendText("Bob", "spaced")),
        ("@Bob\thi", None, SendText("Bob", "hi")),
        ("@Bob: hi", None, SendText("Bob", "hi")),
        ("@Bob, hi", "Carol", SendText("Bob", "hi")),
        ("@bob.smith-2 x", None, SendText("bob.smith-2", "x")),
        ("@Bob hi\n", None, SendText("Bob", "hi")),
        ("@Bob hi\r\n", None, SendText("Bob", "hi")),
        # Plain lines go to the target.
        ("hello", None, SendText(None, "hello")),
        ("hello", "Bob", SendText("Bob", "hello")),
        ("  indented", None, SendText(None, "  indented")),
        ("email me at a@b.c", None, SendText(None, "email me at a@b.c")),
        # Escapes for lines that start with / or @.
        ("//etc/passwd is a file", None, SendText(None, "/etc/passwd is a file")),
        ("@@everyone look", "Bob", SendText("Bob", "@everyone look")),
        # Targets.
        ("/to Bob", None, SetTarget("Bob")),
        ("/to @Bob", None, SetTarget("Bob")),
        ("/TO Bob", None, SetTarget("Bob")),
        ("/all", "Bob", SetTarget(None)),
        ("/room", "Bob", SetTarget(None)),
        # Queries and the rest.
        ("/who", None, ShowWho()),
        ("  /who  ".strip(), None, ShowWho()),
        ("/whois Bob", None, ShowWhois("Bob")),
        ("/whois @Bob", None, ShowWhois("Bob")),
        # The original assignments' words: a lookup of a name in the registry, the list.
        ("/lookup Bob", None, ShowWhois("Bob")),
        ("/lista", None, ShowWho()),
        ("/history Bob", None, ShowHistory("Bob", 20)),
        ("/history @bob 5", None, ShowHistory("bob", 5)),
        ("/HISTORY Bob 10000", None, ShowHistory("Bob", 10000)),
        ("/block Mallory", None, SetBlocked("Mallory", True)),
        ("/unblock @Mallory", None, SetBlocked("Mallory", False)),
        ("/register", None, ClaimName()),
        ("/password", None, SetPassword()),
        ("/senha", None, SetPassword()),
        ("/unregister", None, DeleteAccount()),
        ("/descadastrar", None, DeleteAccount()),
        ("/unregister hunter22", None, Mistake("usage: /unregister (alone: the password is asked without echo)")),
        ("/password hunter22", None, Mistake("usage: /password (alone: the passwords are asked without echo)")),
        ("/help", None, ShowHelp()),
        ("/?", None, ShowHelp()),
        ("/quit", None, Quit()),
        ("/sair", None, Quit()),
        ("/exit", None, Quit()),
        ("/Quit", None, Quit()),
        # As in IRC clients: /msg, /query, and /reply (or /r) to the last sender.
        ("/msg Bob hi there", None, SendText("Bob", "hi there")),
        ("/MSG @Bob: two  spaces", "Carol", SendText("Bob", "two  spaces")),
        ("/mensagem Bob oi", None, SendText("Bob", "oi")),
        ("/query Bob", None, SetTarget("Bob")),
        ("/conversa @Bob", None, SetTarget("Bob")),
        ("/reply sure", None, ReplyText("sure")),
        ("/r  on my way ", "Bob", ReplyText("on my way ")),
        ("/responder já vou", None, ReplyText("já vou")),
        ("", None, Blank()),
        ("   ", "Bob", Blank()),
        ("\n", None, Blank()),
    ],
)
def test_lines_mean_commands(line: str, target: str | None, command: object) -> None:
    assert parse_command(line, target) == command


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("/frobnicate", "unknown command '/frobnicate'"),
        ("/frobnicate now", "/help"),
        ("/", "unknown command"),
        ("/ spaced", "unknown command"),
        ("/to", "usage: /to NAME"),
        ("/to Bob Carol", "usage: /to NAME"),
        ("/to b!d", "'b!d' is not a valid name"),
        ("/to server", "reserved"),
        ("/all Bob", "usage: /all"),
        ("/who Bob", "/whois NAME"),
        ("/whois", "usage: /whois NAME"),
        ("/history", "usage: /history NAME [N]"),
        ("/history Bob 0", "usage: /history NAME [N]"),
        ("/history Bob -3", "usage: /history NAME [N]"),
        ("/history Bob 10001", "usage: /history NAME [N]"),
        ("/history Bob ５", "usage: /history NAME [N]"),
        ("/history Bob 3 4", "usage: /history NAME [N]"),
        ("/history b!d", "'b!d' is not a valid name"),
        ("/block", "usage: /block NAME"),
        ("/unblock A B", "usage: /unblock NAME"),
        ("/register s3cret-password", "the password is asked without echo"),
        ("/msg", "usage: /msg NAME TEXT"),
        ("/msg Bob", "nothing to send to Bob: type /msg Bob TEXT"),
        ("/msg b!d hi", "'b!d' is not a valid name"),
        ("/query", "usage: /query NAME"),
        ("/reply", "usage: /reply TEXT"),
        ("/r   ", "usage: /r TEXT"),
        ("@", "usage: @NAME TEXT"),
        ("@ hello", "usage: @NAME TEXT"),
        ("@Bob", "nothing to send to Bob"),
        ("@Bob    ", "nothing to send to Bob"),
        ("@b\x1bd hi", "'b\\x1bd' is not a valid name"),
        ("@" + "x" * 40 + " hi", "longer than"),
    ],
)
def test_mistakes_say_what_to_type(line: str, hint: str) -> None:
    command = parse_command(line, None)
    assert isinstance(command, Mistake)
    assert hint in command.message


def test_parser_never_raises_on_odd_input() -> None:
    for line in ["/\x00", "@\x00", "/to \u202e", "\x1b[2J", "/" * 1000, "@" * 1000, "\ud800", "@\ud800 x"]:
        parse_command(line, None)
        parse_command(line, "Bob")


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/receipts", SetReceipts(None)),
        ("/receipts on", SetReceipts(True)),
        ("/RECEIPTS OFF", SetReceipts(False)),
        ("/recibos", SetReceipts(None)),
        ("/recibos não", SetReceipts(False)),
        ("/recibos nao", SetReceipts(False)),
        ("/recibos sim", SetReceipts(True)),
        ("/recibos off", SetReceipts(False)),
    ],
)
def test_the_receipts_switch_takes_on_or_off_in_either_language(line: str, command: object) -> None:
    assert parse_command(line, "Bob") == command


@pytest.mark.parametrize("line", ["/receipts maybe", "/receipts on off", "/recibos 1"])
def test_the_receipts_switch_refuses_anything_else(line: str) -> None:
    command = parse_command(line, None)
    assert isinstance(command, Mistake)
    assert "[on|off]" in command.message


def test_help_lists_the_receipts_switch_with_its_portuguese_name() -> None:
    rows = [row for row in help_lines() if row.startswith("/receipts")]
    assert len(rows) == 1 and "(/recibos)" in rows[0] and "[on|off]" in rows[0]


def test_help_says_whois_tells_since_when_and_lists_the_assignments_words() -> None:
    rows = [row for row in help_lines() if row.startswith("/whois") or row.startswith("/who ")]
    assert len(rows) == 2
    whois, who = sorted(rows, reverse=True)
    assert "since when" in whois and "/lookup" in whois
    assert "/lista" in who


def test_help_says_what_the_marks_on_a_message_mean() -> None:
    """One original assignment's client waited for the server's confirmation of each
    message; here it is a mark, and /help never said what ✓ and ✓✓ mean."""
    rows = [row for row in help_lines() if "✓✓" in row]
    assert len(rows) == 1 and "delivered" in rows[0] and "the server has it" in rows[0]


@pytest.mark.parametrize(("line", "meant"), [
    ("sair", "/sair"), ("exit", "/exit"), ("quit\n", "/quit"), ("  Sair ", "/Sair"), ("lista", "/lista"),
    ("who", "/who"), ("lookup Bob", "/lookup Bob"), ("whois  João", "/whois João"),
    # Not those words alone: a message (or a command already).
    ("sair daqui", None), ("lookup", None), ("lookup Bob agora", None), ("lookup <b>", None), ("/sair", None),
    ("@Bob sair", None), ("sair?", None), ("oi", None), ("", None),
])
def test_a_commands_word_typed_without_its_slash_is_recognised(line: str, meant: str | None) -> None:
    """The original assignments' clients took ``sair``, ``lista``, ``lookup Bob`` as they
    were: typed here, they would go to the room as messages."""
    from client.commands import bare_command
    assert bare_command(line) == meant


# --- /help on a 24-row terminal -------------------------------------------------------------

# An 80-column terminal's columns beside the time stamp (client.terminal_lines.INDENT); the
# rows of a 24-row one left under the line typed, above the prompt, with a day's line.
HELP_COLUMNS = 80 - 8
HELP_ROWS = 24 - 3


@pytest.mark.parametrize("language", ["en", "pt_BR"])
def test_help_fits_a_24_row_terminal_and_leads_to_every_command(language: str) -> None:
    """/help was the whole list, about 55 rows at 80 columns: on a 24-row terminal its top,
    the most used commands, scrolled away. /help shows those and the topics, /help TOPIC a
    topic's commands, /help COMMAND one command: each fits, and every command is in a topic
    that /help names."""
    import i18n
    from client.commands import _TOPICS, help_topic
    from shared.commandwords import COMMAND_WORDS, command_names
    i18n.use(language)
    try:
        overview = help_lines(HELP_COLUMNS, "")
        assert len(overview) <= HELP_ROWS, "\n".join(overview)
        assert overview[0].startswith(i18n._("@NAME TEXT")) and any("✓✓" in row for row in overview)
        listed: list[str] = []
        for topic in _TOPICS:
            name = command_names(topic, table=_TOPICS)[0]
            assert name in "\n".join(overview), (name, overview)  # (the overview names every topic)
            assert parse_command(f"/{command_names('help')[0]} {name}") == ShowHelp(topic)
            rows = help_lines(HELP_COLUMNS, topic)
            assert len(rows) <= HELP_ROWS, "\n".join(rows)
            listed += [row.split()[0] for row in rows if row.startswith("/") and not row.startswith("//")]
        assert sorted(f"/{command_names(word)[0]}" for word in COMMAND_WORDS) == sorted(listed)
        for word in COMMAND_WORDS:  # each one alone, under any of its names
            for name in command_names(word):
                assert help_topic(name) in (word, *_TOPICS), name  # ("rooms" is a topic that has /rooms)
            rows = help_lines(None, word)  # (for "rooms", its topic)
            assert any(row.startswith(f"/{command_names(word)[0]} ") for row in rows), rows
            assert word in _TOPICS or len(rows) == 1, rows
    finally:
        i18n.use("en")


@pytest.mark.parametrize(("line", "command"), [
    ("/help", ShowHelp()),
    ("/help rooms", ShowHelp("rooms")),  # (the topic, which lists /rooms)
    ("/ajuda Moderação", ShowHelp("moderation")),
    ("/ajuda moderacao", ShowHelp("moderation")),
    ("/? kick", ShowHelp("kick")),
    ("/help /Expulsar", ShowHelp("kick")),
    ("/help sair", ShowHelp("quit")),
])
def test_help_takes_a_topic_or_a_command_in_either_language(line: str, command: ShowHelp) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize("line", ["/help nonsense", "/help kick ban", "/ajuda @Bob"])
def test_help_of_something_it_has_no_topic_for_says_what_it_takes(line: str) -> None:
    command = parse_command(line)
    assert isinstance(command, Mistake)
    assert "messages, people, rooms, moderation, account" in command.message, command.message
