"""/help laid out for the terminal it is printed on (shared/columns.py): the client's (in
English and Portuguese) and the server console's. A tester's 80-column terminal broke
``/ajuda``'s lines mid-word back to column 0 ("…(/roo" / "ms)"); now each description is
wrapped at spaces within the width, its further lines under its first. The same in a
real terminal: test_client_tmux.py and test_console_tmux.py."""

from __future__ import annotations

import pytest

import i18n
from client.commands import help_lines as client_help
from server.console import help_lines as server_help
from shared.columns import MIN_TEXT, UNDER_HEAD, display_width, hanging_lines, wrap


@pytest.fixture
def language():
    yield i18n.use
    i18n.use("en")


def words_of(lines) -> list[str]:
    return " ".join(lines).split()


@pytest.mark.parametrize("lang", ["en", "pt_BR"])
def test_the_clients_help_fits_an_80_column_terminal_under_its_time_stamp(language, lang: str) -> None:
    language(lang)
    width = 80 - 8  # what the screen leaves beside "[HH:MM] " (client/terminal.py)
    lines = client_help(width)
    assert all(display_width(line) <= width for line in lines), [line for line in lines if len(line) > width]
    # Nothing said differently, nor cut mid-word: the same words as the unwrapped list.
    assert words_of(lines) == words_of(client_help())
    # A continuation line starts under its description (a hanging indent), never at column 0.
    column = client_help()[0].index(client_help()[0].split("  ")[-1].strip())
    heads = [line for line in lines if not line.startswith(" ")]
    assert len(heads) == len(client_help())
    assert all(line[:column].strip() == "" and line[column] != " " for line in lines if line.startswith(" "))


def test_the_tester_s_portuguese_lines_wrap_at_words(language) -> None:
    language("pt_BR")
    lines = client_help(72)
    at = next(i for i, line in enumerate(lines) if line.startswith("/convidar NOME"))
    assert lines[at].endswith("deixa NOME entrar numa sala só para")
    assert lines[at + 1].strip() == "convidados (/invite)"
    at = next(i for i, line in enumerate(lines) if line.startswith("/salas "))
    assert lines[at].endswith("as salas, com membros e temas") and lines[at + 1].strip() == "(/rooms)"


@pytest.mark.parametrize("lang", ["en", "pt_BR"])
def test_the_server_consoles_help_fits_its_terminal(language, lang: str) -> None:
    """At 120 columns its /unregister and /backup lines (about 135) were cut mid-word too."""
    language(lang)
    lines = server_help(120)
    assert all(display_width(line) <= 120 for line in lines)
    assert words_of(lines) == words_of(server_help()) and lines[0] == server_help()[0]
    assert len(lines) > len(server_help())  # it did have lines to wrap
    assert all(line.startswith("  /") or line.startswith(" " * 10) for line in lines[1:])


def test_without_a_width_each_command_is_one_line_as_before() -> None:
    assert [line for line in client_help() if line.startswith("/receipts")] == [
        "/receipts [on|off]             read receipts and typing, both ways; alone: which it is now (/recibos)"]


def test_wrapping_counts_columns_not_characters() -> None:
    """Wide characters take two columns (client/screen.py's rule, now shared): a Japanese
    description wraps at half as many characters; a word wider than a line is cut."""
    rows = [("/a", "日本語 " * 6), ("/bb", "x" * 30)]
    lines = hanging_lines(rows, 5 + MIN_TEXT)
    assert all(display_width(line) <= 5 + MIN_TEXT for line in lines), lines
    # 3 words of 6 columns and their spaces: 20 of the 24; a fourth would make 27.
    assert lines[:2] == ["/a   " + " ".join(["日本語"] * 3), "     " + " ".join(["日本語"] * 3)]
    assert lines[2:] == ["/bb  " + "x" * MIN_TEXT, "     " + "x" * 6]
    assert wrap("", 10) == [""] and wrap("Conceic\u0327a\u0303o e", 9) == ["Conceic\u0327a\u0303o", "e"]


def test_a_terminal_too_narrow_for_two_columns_puts_the_description_under_its_head() -> None:
    lines = hanging_lines([("/mute NAME [SECONDS] [REASON]", "keep NAME from writing in the room")], 30)
    assert lines == ["/mute NAME [SECONDS] [REASON]", " " * UNDER_HEAD + "keep NAME from writing in",
                     " " * UNDER_HEAD + "the room"]
    assert hanging_lines([("…  ✓  ✓✓", "marks")], 20) == ["…  ✓  ✓✓", " " * UNDER_HEAD + "marks"]
