"""The pure parts of the interactive terminal's screen: no I/O, tested without a terminal.

The terminal client (:mod:`client.terminal`) prints incoming lines above the line being
typed. To do that without corrupting it, it must know how many screen rows the prompt and
the typed text take and on which of them the cursor is: :func:`display_width` (of
shared/columns.py: East Asian wide characters take two columns, combining marks none,
colour sequences none), :func:`cursor_row` and :func:`screen_rows` do that arithmetic,
and :func:`erase_input` gives the escape sequence that clears it all; :func:`fit_rows` wraps a
line wider than the terminal at its words, as the terminal itself would not. The rest: stable colours for names
(:func:`name_colour`, :class:`Style`, off without a terminal or with ``NO_COLOR``), message
texts shown on indented continuation lines (:func:`indent_text`), and what Tab offers
(:func:`complete`, :class:`KnownNames`).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Mapping
from typing import TextIO

from registry import canonical
from registry.names import lookalike_among
from shared.columns import display_width  # (the server's console lays its /help out by it too)

from .display import characters, sanitize

# The lines of a message typed with Shift+Enter or sent by a script: any line ending.
_LINE_BREAK = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
# Names get one of these colours (SGR foreground codes): six hues, normal and bright, all
# readable on dark and light backgrounds alike (no black, white or grey).
PALETTE = (31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96)
RESET = "\x1b[0m"
# A colour sequence (SGR) in a line: no column on screen, never a place to break it.
_SGR = re.compile(r"(\x1b\[[0-9;]*m)")
# The spaces a line may be broken at (only these: a no-break space holds its words together).
_SPACES = re.compile(r"( +)")
# A number and the unit after it ("59 s", "2 min", "1,5 h"), which a break between them
# made two things to read ("tente de novo em 59" / "s"): the one space between is no place
# to break the line.
_NUMBER = re.compile(r"\(?\d+(?:[.,]\d+)?")
_UNIT = re.compile(r"(?:s|ms|min|h)[),;.:]*")
# Fewer columns than this beside the indent of the rows a line is wrapped onto (a very
# narrow terminal): they start at column 0 instead.
MIN_WRAPPED = 16


def cursor_row(columns_before: int, columns: int) -> int:
    """The screen row (from 0, the prompt's first) of the cursor ``columns_before``
    columns after the start of the prompt, on a terminal ``columns`` wide. At an exact
    multiple of the width the cursor is already on the next row (readline moves it there)."""
    return columns_before // max(1, columns)


def screen_rows(text: str, columns: int) -> int:
    """Rows the printed ``text`` (lines joined by ``\\n``) takes on a terminal ``columns`` wide."""
    columns = max(1, columns)
    return sum(max(1, -(-display_width(line) // columns)) for line in text.split("\n"))


def fit_rows(line: str, columns: int, indent: int) -> str:
    """``line`` as the interactive screen prints it (continuation lines after ``\\n``, colour
    sequences in it), wrapped for a terminal ``columns`` wide so that the terminal never
    breaks it itself (mid-word, back to column 0): each of its lines wider than that is
    broken at the last space that fits, the spaces at the break dropped, and goes on on
    rows indented ``indent`` spaces (under the text after the time stamp, as a message's
    own continuation lines; column 0 where that would leave fewer than MIN_WRAPPED). A
    word wider than a row is cut where the row ends, never inside a character as a reader
    sees it (client.display.characters: a letter and its combining accent stay together);
    widths are columns (display_width: a CJK character or an emoji takes two, an accent
    none). A line that fits is left exactly as it is; the result takes
    ``screen_rows(result, columns)`` rows. The colour of a span cut by a break goes on
    over the indent (spaces: nothing to see) into the next row, as the terminal draws it.
    The screen's own: a pipe has no width, and gets every line whole."""
    columns = max(1, columns)
    if columns - indent < MIN_WRAPPED:
        indent = 0
    return "\n".join(row for text in line.split("\n") for row in _fit_row(text, columns, indent))


def fit_terminal(line: str, stream: TextIO) -> str:
    """``line`` broken at words to fit the terminal ``stream`` writes to (:func:`fit_rows`,
    its further rows at column 0): the lines said before the chat's screen begins (a name
    refused, a password prompt's mistake), which the terminal broke mid-word ("a única po" /
    "ntuação"). As it is when ``stream`` is no terminal or does not say its width."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns if stream.isatty() else 0
    except (AttributeError, OSError, ValueError):
        columns = 0
    return fit_rows(line, columns, 0) if columns > 0 else line


def _fit_row(text: str, columns: int, indent: int) -> list[str]:
    """One line of :func:`fit_rows` (no ``\\n`` in it): the rows it takes."""
    if display_width(text) <= columns:
        return [text]
    rows: list[str] = []
    row, used, bare, spaces = "", 0, True, ""  # bare: nothing on the row yet but spaces
    for word in _words(text):
        if word.startswith(" "):
            if bare and not rows:  # the line's own indent (a continuation line's): kept
                row, used = row + word, used + len(word)
            elif not bare:  # between words: written only if a word follows on this row
                spaces = word
            continue
        width = display_width(word)
        if used + len(spaces) + width <= columns:
            row, used, bare = row + spaces + word, used + len(spaces) + width, bare and width == 0
        elif not bare and width <= columns - indent:  # the word goes on to the next row
            rows.append(row)
            row, used, bare = " " * indent + word, indent + width, width == 0
        else:  # a word wider than a whole row: it fills this one and goes on, cut where each ends
            if not bare and used + len(spaces) < columns:
                row, used = row + spaces, used + len(spaces)
            for piece in _pieces(word):
                taken = display_width(piece)
                if used + taken > columns and not bare:
                    rows.append(row)
                    row, used, bare = " " * indent, indent, True
                row, used, bare = row + piece, used + taken, bare and taken == 0
        spaces = ""
    rows.append(row)
    return rows


def _words(text: str) -> list[str]:
    """``text`` in runs of spaces and words (what lies between them, colour sequences
    included), in order."""
    found: list[str] = []
    for part in _SPACES.split(text):
        if not part:
            continue
        if part.startswith(" ") or not found or found[-1].startswith(" "):
            found.append(part)
        else:
            found[-1] += part
    joined: list[str] = []  # a number, one space and its unit: one word
    for part in found:
        if len(joined) >= 2 and joined[-1] == " " and _UNIT.fullmatch(part) and _NUMBER.fullmatch(joined[-2]):
            joined.pop()
            joined[-1] += " " + part
        else:
            joined.append(part)
    return joined


def _pieces(word: str) -> list[str]:
    """``word`` in colour sequences and characters as a reader sees them: where it may be cut."""
    return [piece for part in _SGR.split(word) if part
            for piece in ([part] if _SGR.fullmatch(part) else characters(part))]


def erase_input(row: int) -> str:
    """The escape sequence that, with the cursor on ``row`` of an input line (see
    :func:`cursor_row`), clears every row of it: up to its first row, to column 0, and
    clear to the end of the screen (which also takes the rows it wraps onto)."""
    return "\r" + (f"\x1b[{row}A" if row > 0 else "") + "\x1b[J"


def colour_wanted(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Colours on ``stream``: only on a terminal, and never when ``NO_COLOR`` is set to
    anything but the empty string (https://no-color.org/)."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not environ.get("NO_COLOR")


def name_colour(name: str) -> int:
    """The SGR colour of ``name``: a hash of its canonical form into :data:`PALETTE`, so
    "Bob" and "bob" get the same one, in every run and on every machine."""
    return PALETTE[zlib.crc32(canonical(name).encode("utf-8")) % len(PALETTE)]


class Style:
    """How the terminal dresses text: with colours (``enabled``) or plainly.

    Every method takes text that is already safe to print (sanitised) and returns it
    with, or without, the escape sequences around it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def name(self, shown: str, name: str | None = None) -> str:
        """``shown`` in the colour of ``name`` (default: ``shown`` itself)."""
        if not self.enabled:
            return shown
        return f"\x1b[{name_colour(shown if name is None else name)}m{shown}{RESET}"

    def me(self, shown: str) -> str:
        """Our own name ("you"): bold, not a palette colour, so it stands apart."""
        return f"\x1b[1m{shown}{RESET}" if self.enabled else shown

    def dim(self, shown: str) -> str:
        """Time stamps and states: faint, so messages stand out."""
        return f"\x1b[2m{shown}{RESET}" if self.enabled else shown

    def alert(self, shown: str) -> str:
        """A failure: red."""
        return f"\x1b[31m{shown}{RESET}" if self.enabled else shown


def indent_text(text: object, indent: int) -> str:
    """A message's text for the screen: each of its lines sanitised, the second and later
    ones on continuation lines indented by ``indent`` spaces (never a literal ``\\n``).
    Trailing empty lines are dropped."""
    raw = text if isinstance(text, str) else sanitize(text)
    lines = _LINE_BREAK.split(raw)
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    pad = "\n" + " " * indent
    return pad.join(sanitize(line) for line in lines)


class KnownNames:
    """The names Tab offers: who is online (presence notices, /who) and who we know
    (conversations, lookups), each kept as last spelt by the server, most recent first.
    Not thread-safe on its own: the terminal guards it with its output lock."""

    def __init__(self, limit: int = 1000) -> None:
        self._online: dict[str, str] = {}
        self._known: dict[str, str] = {}
        self._limit = limit

    def online(self, name: str) -> None:
        self._online.pop(canonical(name), None)
        self._online[canonical(name)] = name
        self.known(name)

    def offline(self, name: str) -> None:
        self._online.pop(canonical(name), None)

    def everyone_online(self, names: Iterable[str]) -> None:
        """A /who answer: exactly these are online now."""
        self._online.clear()
        for name in names:
            self.online(name)

    def online_keys(self) -> set[str]:
        """The comparison forms (``registry.canonical``) of the names known online."""
        return set(self._online)

    def known(self, name: str) -> None:
        key = canonical(name)
        self._known.pop(key, None)
        self._known[key] = name
        while len(self._known) > self._limit:
            self._known.pop(next(iter(self._known)))

    def spelt(self, name: str) -> str:
        """``name`` as the server spells it, if it is known here (``João`` for ``joão``:
        the same name, registry.canonical); else as given."""
        key = canonical(name)
        return self._online.get(key) or self._known.get(key) or name

    def names(self) -> list[str]:
        """Online names first (most recently seen first), then the others we know."""
        online = list(reversed(self._online.values()))
        rest = [name for key, name in reversed(self._known.items()) if key not in self._online]
        return online + rest

    def like(self, name: str, asking: str = "") -> str | None:
        """The one name known here that looks like ``name`` but is someone else's
        (``João`` for ``joao``: registry/names.py, rule 7), for "did you mean João?";
        None when there is none, or several (which one is not ours to guess). Never
        ``asking``'s, the user's own: nobody is asked whether they meant themselves."""
        return lookalike_among(name, self.names(), (asking,))


def complete(line: str, begin: int, word: str, commands: Iterable[str], names: Iterable[str]) -> list[str]:
    """What Tab offers for ``word``, which starts at index ``begin`` of ``line`` (the text
    up to the cursor). A first word starting with ``/`` completes to command words; a
    word starting with ``@`` to ``@NAME``; the word right after a command word to a name
    (``/msg Bo``, ``/whois Bo``); anything else is text to send, and gets nothing. Matching ignores
    case; each candidate once, in the order given."""
    before = line[:begin].split()
    first = not before
    candidates: list[str] = []
    if first and word.startswith("/"):
        candidates = ["/" + command for command in commands]
    elif word.startswith("@"):
        candidates = ["@" + name for name in names]
    elif len(before) == 1 and before[0].startswith("/"):
        candidates = list(names)
    folded = word.casefold()
    seen: set[str] = set()
    found = []
    for candidate in candidates:
        if candidate.casefold().startswith(folded) and candidate.casefold() not in seen:
            seen.add(candidate.casefold())
            found.append(candidate)
    return found
