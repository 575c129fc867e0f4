"""Reading the terminal client's input lines: piped bytes that may not be UTF-8, and the
readline glue that lets incoming lines be printed without corrupting the line being typed.

The functions on input lines are pure (tested without I/O); :class:`ReadlineHooks` and
:func:`load_readline` touch the C library and the process's locale, and are used by
:class:`client.terminal.TerminalUI` only when stdin and stdout are terminals.
"""

from __future__ import annotations

import codecs
import re
import sys
from typing import Any, TextIO

from i18n import N_, _

# Bytes that are not text in the input's encoding: read with errors="surrogateescape"
# (chatclient.py sets it), each becomes a lone surrogate, which no real text contains.
_UNDECODABLE = re.compile("[\ud800-\udfff]")
# Said instead of sending such a line, rather than sending it garbled.
NOT_TEXT = N_("line {number} is not valid {encoding}; not sent")


def read_as_utf8(stream: TextIO) -> str | None:
    """Make piped input ``stream`` read UTF-8 (with surrogateescape), what files and most
    pipes hold, whatever the system's encoding: Windows reads a pipe in its ANSI code page
    (cp1252 in Brazil), and the UTF-8 file a student piped in came as "JoÃ£o". Returns the
    encoding it read before, for the lines that are not UTF-8 (:func:`redecoded`), or None
    if it read UTF-8 already or cannot be changed (a test's StringIO, input already read)."""
    before = getattr(stream, "encoding", None)
    reconfigure = getattr(stream, "reconfigure", None)
    try:
        if before is None or reconfigure is None or codecs.lookup(before).name == "utf-8":
            return None
        reconfigure(encoding="utf-8", errors="surrogateescape")
    except (LookupError, ValueError, OSError):
        return None
    return before


def redecoded(line: str, fallback: str | None) -> str:
    """Input ``line``, read as UTF-8 with surrogateescape: if some of its bytes were not
    UTF-8, the line's bytes read as ``fallback`` (the system's encoding, see
    :func:`read_as_utf8`: what a Python script's text pipe writes on Windows) if they are
    text in it; else ``line`` as it was (refused by :func:`undecodable_line`)."""
    if fallback is None or not _UNDECODABLE.search(line):
        return line
    try:
        return line.encode("utf-8", "surrogateescape").decode(fallback)
    except UnicodeError:
        return line


def undecodable_line(line: str, number: int, encoding: str | None) -> str | None:
    """What to say instead of sending input ``line`` (the ``number``-th read, decoded
    from ``encoding`` with surrogateescape) if some of its bytes were not text; else None."""
    if not _UNDECODABLE.search(line):
        return None
    try:
        name = codecs.lookup(encoding or "utf-8").name
    except LookupError:
        name = encoding or "utf-8"
    return _(NOT_TEXT).format(number=number, encoding="UTF-8" if name == "utf-8" else name)


class ReadlineHooks:
    """What Python's readline module does not expose, from the C library itself (ctypes):
    the cursor's place in the line (``rl_point``) and a full redraw of the prompt and line
    (``rl_forced_update_display``; the module's ``redisplay()`` only redraws what readline
    believes has changed, which is nothing after we erased it), with the prompt of now
    (``rl_set_prompt``, where it exists). None of the first two exists: None."""

    def __init__(self, module: Any, encoding: str) -> None:
        import ctypes

        library = ctypes.CDLL(module.__file__)
        self._point = ctypes.c_int.in_dll(library, "rl_point")
        self._buffer = ctypes.c_char_p.in_dll(library, "rl_line_buffer")
        self._redisplay = library.rl_forced_update_display
        self._redisplay.argtypes = []
        self._redisplay.restype = ctypes.c_int
        # (Absent from a readline look-alike: the prompt stays the one input() was given.)
        self._set_prompt = getattr(library, "rl_set_prompt", None)
        if self._set_prompt is not None:
            self._set_prompt.argtypes = [ctypes.c_char_p]
            self._set_prompt.restype = ctypes.c_int
        self._encoding = encoding

    @classmethod
    def load(cls, module: Any, encoding: str | None) -> ReadlineHooks | None:
        try:
            return cls(module, encoding or "utf-8")
        except (ImportError, OSError, ValueError, AttributeError, TypeError):
            return None

    def before_point(self) -> str:
        """The typed text left of the cursor (rl_point counts bytes of the line buffer)."""
        raw = self._buffer.value or b""
        return raw[: max(0, self._point.value)].decode(self._encoding, "replace")

    def redisplay(self, prompt: str) -> None:
        """Draw ``prompt`` and the line anew from the cursor's place (a fresh row), and put
        the cursor back where it was in the line. The prompt is said each time: it may change
        while a line is typed (put out of the room plain lines go to, it says so)."""
        if self._set_prompt is not None:
            self._set_prompt(prompt.encode(self._encoding, "replace"))  # (readline keeps a copy)
        self._redisplay()


def utf8_line_editing() -> None:
    """Line editing in UTF-8 where the terminal is: Python reads and writes UTF-8 (its UTF-8
    mode) even where LC_ALL names a locale the machine lacks (pt_BR.UTF-8 on a lab server
    reached over ssh), but readline follows the C library's locale, "C" then, and took each
    byte of "नमस्ते" or "ç" for a character: the typed line was garbled at once. Then, and
    only then, the C library is told C.UTF-8 (its character type alone)."""
    import locale
    if not hasattr(locale, "nl_langinfo"):  # Windows: no readline, no C library locale to fix
        return
    if locale.nl_langinfo(locale.CODESET) == "UTF-8" or (sys.stdin.encoding or "").lower() not in ("utf-8", "utf8"):
        return
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except locale.Error:  # no C.UTF-8 either (older systems): editing stays as it was
        pass


def load_readline() -> Any:
    """The readline module, ready to edit the lines input() reads (in UTF-8: see
    :func:`utf8_line_editing`), or None where there is none."""
    try:
        utf8_line_editing()  # before readline reads the locale, on import
        import readline  # noqa: F401  (importing it is what makes input() edit lines)
    except ImportError:  # Windows, or Python built without it: plain input() still works
        return None
    return readline
