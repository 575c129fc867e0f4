"""Text laid out in a terminal's columns: how many a text takes (:func:`display_width`),
and lines wrapped to fit (:func:`wrap`, :func:`hanging_lines`: a list of commands with
what each does, as /help prints it at the client's and at the server's terminal).

A terminal breaks a line that is too long at its last column, mid-word, and goes on at
column 0 (``…numa sala só para`` / `` convidados``): what must stay readable at any width
is wrapped here first, at spaces, by columns (East Asian wide characters take two), not
by characters. Pure: the caller says how wide its terminal is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

# An SGR sequence (colours, bold): takes no column on screen.
_SGR = re.compile(r"\x1b\[[0-9;]*m")
# A Korean syllable's medial vowel and final consonant jamo: drawn in the first one's cell.
_JAMO_TAIL = re.compile("[\u1160-\u11ff\ud7b0-\ud7ff]")
# Fewer columns than this left for the descriptions beside their heads (a narrow terminal,
# a long head): each description goes on the lines under its head instead.
MIN_TEXT = 24
# How far such a description is indented under its head.
UNDER_HEAD = 4


def display_width(text: str) -> int:
    """Columns ``text`` takes on a terminal (one line, already sanitised; SGR ignored), as
    the C library's wcwidth() counts them, which terminals and tmux follow: a nonspacing or
    enclosing mark (Mn, Me: accents, Indic vowel signs, variation selectors), ZWNJ, ZWJ and a
    Korean syllable's medial and final jamo (_JAMO_TAIL) take none; East Asian wide characters two."""
    width = 0
    for char in _SGR.sub("", text):
        if unicodedata.category(char) in ("Mn", "Me") or char in "\u200c\u200d" or _JAMO_TAIL.match(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _cut(word: str, width: int) -> tuple[str, str]:
    """``word`` split where ``width`` columns end (a zero-width mark stays with the
    character before it; at least one character goes first, even a wide one on one column)."""
    taken = 0
    for end, char in enumerate(word):
        taken += display_width(char)
        if taken > width and end > 0:
            return word[:end], word[end:]
    return word, ""


def wrap(text: str, width: int) -> list[str]:
    """``text`` (one line) in lines of at most ``width`` columns, broken at spaces (runs of
    spaces are one); a word wider than a line is cut where the line ends. Never empty:
    an empty text is one empty line."""
    width = max(1, width)
    lines: list[str] = []
    line = ""
    for word in text.split():
        while display_width(word) > width:
            if line:
                lines.append(line)
                line = ""
            first, word = _cut(word, width)
            lines.append(first)
        if not word:
            continue
        if not line:
            line = word
        elif display_width(line) + 1 + display_width(word) <= width:
            line += " " + word
        else:
            lines.append(line)
            line = word
    if line or not lines:
        lines.append(line)
    return lines


def hanging_lines(rows: Sequence[tuple[str, str]], width: int | None, gap: int = 2) -> list[str]:
    """Two columns: each row's head, padded to the widest head, ``gap`` spaces, then its
    text. With ``width`` (the columns the lines may take), each text is wrapped at spaces
    to fit, its continuation lines indented to where it began (a hanging indent); where
    that would leave it fewer than MIN_TEXT columns, it starts on the line under its head,
    indented UNDER_HEAD columns (and a head wider than ``width`` is wrapped too, at its spaces). Without
    ``width`` (a pipe, a log file: no terminal to fit) one line per row, as it is."""
    if not rows:
        return []
    column = max(display_width(head) for head, _text in rows) + gap
    lines: list[str] = []
    for head, text in rows:
        padded = head + " " * (column - display_width(head))
        if width is None:
            lines.append((padded + text).rstrip())
        elif width - column >= MIN_TEXT:
            first, *rest = wrap(text, width - column)
            lines.append((padded + first).rstrip())
            lines += [" " * column + line for line in rest]
        else:
            lines += [head] if display_width(head) <= width else wrap(head, width)
            lines += [" " * UNDER_HEAD + line for line in wrap(text, width - UNDER_HEAD) if line]
    return lines
