"""The server console's commands: what it takes is what its /help and the READMEs say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from server import console
from server.console import (ADMIN_COMMAND, BACKUP_COMMANDS, HELP_COMMANDS, PASSWORD_COMMANDS, QUIT_COMMANDS,
                            UNREGISTER_COMMANDS, WHO_COMMANDS, AnswersInOrder, help_lines, say_to_operator)

ROOT = Path(__file__).resolve().parents[2]


def console_table(readme: str, start: str) -> str:
    """The table of what one types at the server's terminal (the first after ``start``)."""
    text = (ROOT / readme).read_text(encoding="utf-8")
    after = text[text.index(start):]
    return re.search(r"(?:^\|.*\|$\n?)+", after, re.MULTILINE).group(0)


def test_the_console_takes_what_its_help_and_the_readmes_name_and_nothing_else() -> None:
    """It took an /exit that neither /help nor README.md mentioned, and README.md's table
    left out /quem and /ajuda."""
    commands = QUIT_COMMANDS | WHO_COMMANDS | HELP_COMMANDS | PASSWORD_COMMANDS | BACKUP_COMMANDS | {ADMIN_COMMAND}
    commands |= UNREGISTER_COMMANDS
    assert set(re.findall(r"/[a-z?]+", "\n".join(help_lines()))) == commands
    for readme, start in (("README.md", "What you type at the\nserver's terminal:"),
                          ("LEIAME.md", "O que se digita no terminal\ndo servidor:")):
        assert set(re.findall(r"`(/[a-z?]+)", console_table(readme, start))) == commands, readme


def test_the_console_takes_the_clients_names_of_the_commands_both_have() -> None:
    """A teacher who lists the class with /lista in the client got "unknown command" at
    the server's terminal: one table of names (client/commands.py COMMAND_WORDS) for both.
    /registro too: the original assignments' registry of names, addresses and ports, which
    is what /who lists."""
    from client.commands import COMMAND_WORDS, parse_command, ShowWho
    for word, taken in (("who", WHO_COMMANDS), ("quit", QUIT_COMMANDS), ("help", HELP_COMMANDS),
                        ("password", PASSWORD_COMMANDS)):
        assert taken == {f"/{name}" for names in COMMAND_WORDS[word].values() for name in names}, word
    assert {"/lista", "/registro", "/quem", "/who"} <= WHO_COMMANDS
    assert parse_command("/registro") == ShowWho()


def test_the_console_lists_the_registry_in_name_order_with_addresses_and_times() -> None:
    """A teacher's /quem at the server's terminal gave only names, in code-point order
    (Ângela, Çécília and Érica after Vitória): the registry the class studies is each
    user's address, port and time online, one line each, in the order of a class list."""
    from time import localtime, strftime

    from registry.registry import Endpoint, UserRecord
    from server.console import registry_lines

    def record(name: str, *ends: tuple[str, int, float]) -> UserRecord:
        endpoints = tuple(Endpoint(address, port, since, None) for address, port, since in ends)
        return UserRecord(name, endpoints, shared=len(endpoints) > 1)

    t0 = 1_800_000_000.0
    online = [record("Vitória", ("192.168.1.31", 50001, t0)), record("Érica", ("192.168.1.32", 50002, t0 + 5)),
              record("Ana", ("192.168.1.33", 50003, t0 + 9)),
              record("Professora", ("192.168.1.20", 50004, t0), ("192.168.1.20", 50005, t0 + 60))]
    at = [strftime("%H:%M:%S", localtime(t0 + offset)) for offset in (0, 5, 9, 60)]
    assert registry_lines(online) == [
        "online (4):",
        f"  Ana         192.168.1.33:50003  since {at[2]}",
        f"  Érica       192.168.1.32:50002  since {at[1]}",
        f"  Professora  192.168.1.20:50004  since {at[0]}",
        f"              192.168.1.20:50005  since {at[3]}",
        f"  Vitória     192.168.1.31:50001  since {at[0]}",
    ]
    assert registry_lines([]) == ["online: nobody"]


class Stream(io.StringIO):
    """A standard stream that is a terminal or not."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def close(self) -> None:  # its text stays readable after the code under test closed it
        pass


def test_the_new_password_goes_to_the_operators_screen_never_to_the_log_stream() -> None:
    """``/password NAME``'s new password went to standard error, the log's stream: an
    operator who sends it to a file (2>server.log) found the password in the file."""
    line = "new password of Ana: s3cr3t"
    tty = Stream(True)

    def open_tty() -> Stream:
        return tty

    def no_tty() -> Stream:
        raise OSError("no controlling terminal")

    cases = [  # (stdin, stdout, the terminal): where the line lands
        (Stream(True), Stream(True), open_tty, "stdout"),  # at a terminal, nothing redirected
        (Stream(True), Stream(False), open_tty, "tty"),  # a person typing, the output to a file
        (Stream(True), Stream(False), no_tty, "stdout"),
        (Stream(False), Stream(False), open_tty, "stdout"),  # a script driving the console reads it there
    ]
    for stdin, stdout, opener, where in cases:
        tty.seek(0)
        tty.truncate()
        log = Stream(False)
        with contextlib.redirect_stderr(log):
            say_to_operator(line, stdin=stdin, stdout=stdout, open_tty=opener)
        assert {"stdout": stdout, "tty": tty}[where].getvalue() == line + "\n", where
        assert log.getvalue() == "" and (where == "tty" or tty.getvalue() == "")


def test_the_operators_screen_is_the_console_on_windows(monkeypatch) -> None:
    # Windows has no /dev/tty: the new password went to standard output, the file.
    opened = []
    monkeypatch.setattr(console.sys, "platform", "win32")
    monkeypatch.setattr(console, "open", lambda name, *args, **kwargs: opened.append((name, kwargs)) or Stream(True),
                        raising=False)
    console._open_terminal()
    assert opened == [("CONOUT$", {"encoding": "utf-8"})]


def test_unregister_is_done_only_when_typed_again_for_the_same_account_within_the_window() -> None:
    """/unregister NAME cannot be undone: the first asks, the same again within a minute
    does it; another name, or too late, asks again (a slip of the keys deletes nobody)."""
    confirm = console.Confirmation(window=60.0)
    assert not confirm.confirmed("joão", 100.0)  # asked
    assert confirm.confirmed("joão", 130.0)  # the same again: done
    assert not confirm.confirmed("joão", 131.0)  # the question was used up: asked anew
    assert not confirm.confirmed("maria", 140.0)  # another name replaces the question
    assert not confirm.confirmed("joão", 150.0)
    assert not confirm.confirmed("joão", 210.1)  # past the minute: asked again
    assert confirm.confirmed("joão", 211.0)


def test_the_unregister_question_names_the_command_in_the_consoles_language() -> None:
    from i18n import use
    assert "type /unregister Conceição again within a minute" in console.unregister_question("Conceição")
    try:
        use("pt_BR")
        assert "digite /descadastrar Conceição de novo em até um minuto" in console.unregister_question("Conceição")
    finally:
        use("en")


def test_the_log_says_at_start_how_to_use_the_console_only_when_someone_can_type_there() -> None:
    """A server at a terminal logged where it listens and nothing about its console: an
    operator saw no prompt and did not know it took commands. The hint names /help, which
    the console takes; with no terminal on standard input (a pipe, a file, nothing) there is
    nobody to type, and no hint."""
    hint = console.console_hint(Stream(True))
    assert hint is not None and "/help" in hint.split() and "/help" in HELP_COMMANDS
    assert "(/quit stops" in hint and "/quit" in QUIT_COMMANDS
    assert console.console_hint(Stream(False)) is None
    closed = io.StringIO()
    closed.close()
    assert console.console_hint(closed) is None


def test_the_console_answers_in_the_order_of_its_commands() -> None:
    """/password Dana (answered once its hash and store are done), then /unregister Dana
    (answered at once): the question was printed before the password. Each answer waits for
    the earlier commands' ones; a second line of a command (a backup's "made") comes at once."""
    said: list[str] = []
    answers = AnswersInOrder(said.append, clock=lambda: 0.0)
    password, unregister, who = answers.turn(), answers.turn(), answers.turn()
    unregister("delete Dana?")
    who("online: nobody")
    assert said == []
    password("new password of Dana")
    assert said == ["new password of Dana", "delete Dana?", "online: nobody"]
    backup = answers.turn()
    backup("backing up…")
    backup("backup made")
    assert said[-2:] == ["backing up…", "backup made"]


def test_a_command_that_does_not_answer_mutes_the_console_only_for_a_while() -> None:
    now = [0.0]
    said: list[str] = []
    answers = AnswersInOrder(said.append, clock=lambda: now[0], hold=60.0)
    silent, who = answers.turn(), answers.turn()
    who("online: nobody")
    assert said == []
    now[0] = 61.0
    answers.turn()("help")
    assert said == ["online: nobody", "help"]
    silent("late answer")  # said when it comes, not lost
    assert said[-1] == "late answer"


def test_answers_held_by_a_silent_command_are_said_when_its_hold_ends_without_another_command() -> None:
    """Held behind a command that never answers, /who's answer waited for the next command's
    answer: none might come. The console's loop calls flush() once each hold has ended."""
    now = [0.0]
    said: list[str] = []
    answers = AnswersInOrder(said.append, clock=lambda: now[0], hold=60.0)
    answers.turn()
    answers.turn()("online: nobody")
    answers.flush()
    assert said == []
    now[0] = 60.5
    answers.flush()
    assert said == ["online: nobody"]
