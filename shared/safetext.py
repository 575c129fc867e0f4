"""Turning what the server sent into text that is safe to print on a terminal.

Anything another user typed reaches our terminal, so it must not be able to drive it:
an ESC starts a control sequence (move the cursor, retitle the window, rewrite earlier
lines), a CR returns to the start of the line to overprint it, a U+202E reverses the text
that follows it. :func:`sanitize` shows every such character as a visible escape instead:

- C0 controls, DEL and C1 controls (category Cc): ``\\x1b``, ``\\x7f``, ``\\x9b``; newline,
  carriage return and tab as ``\\n``, ``\\r``, ``\\t``, so one message stays on one line;
- format characters (category Cf: bidi embeddings, overrides and isolates, invisible
  marks, zero-width space, byte-order mark, tag characters): ``\\u202e``, ``\\U000e0041``;
  except ZWNJ and ZWJ (U+200C, U+200D), which join letters in Persian and Indic scripts
  and the parts of emoji sequences, and can neither move the cursor nor reorder text;
- line and paragraph separators (U+2028, U+2029) and lone surrogates.

Two format characters are harmless and only look as they should: a soft hyphen (U+00AD,
pasted from Word: where a word may break, which a terminal never does) shows as nothing,
and a subdivision's flag (U+1F3F4 and tag characters to U+E007F, England's), which a
terminal cannot draw, as the black flag alone (UTS #51's fallback). The web page keeps
both, as it keeps all it can lay out safely (webclient/lang.js, visibleControls).

Everything else, including all printable non-ASCII text, passes unchanged. Backslashes are
not doubled: the aim is a harmless display, not a reversible encoding.
"""

from __future__ import annotations

import re
import unicodedata

# Characters with a short conventional escape; the soft hyphen shows as nothing.
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\u00ad": ""}
# A subdivision flag's tag characters (an emoji tag sequence, UTS #51), after its black flag.
_FLAG_TAGS = re.compile("(?<=\U0001f3f4)[\U000e0020-\U000e007e]+\U000e007f")
# Format characters that are needed to write some languages correctly and are harmless.
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def _is_unsafe(char: str) -> bool:
    category = unicodedata.category(char)
    return category in _UNSAFE_CATEGORIES or (category == "Cf" and char not in _ALLOWED_FORMAT)


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def sanitize(text: object) -> str:
    """Return ``text`` with every terminal-unsafe character shown as an escape (see above).

    Accepts any object (``str()`` of it), so a wrong type from a peer cannot crash a
    display; the result contains no control or format character and no newline.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    # Fast path: isprintable() is False for every unsafe character (and for some safe
    # ones, like non-ASCII spaces, which the slow path keeps).
    if text.isprintable():
        return text
    text = _FLAG_TAGS.sub("", text)
    return "".join(_escape(c) if _is_unsafe(c) else c for c in text)
