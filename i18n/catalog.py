"""Message catalogues: reading a ``.po`` file, and compiling it without any outside tool.

The source of every translation is ``locale/<lang>/LC_MESSAGES/chat.po`` (GNU gettext's
text format). :func:`parse_po` reads one into :class:`Entry` values; :func:`compile_mo`
turns them into the bytes of a GNU ``.mo`` file, which :class:`gettext.GNUTranslations`
reads from memory, so nothing compiled is ever committed; :func:`to_json` is the same
catalogue for the web page. Fuzzy entries and entries with no translation are left out,
as ``msgfmt`` leaves them out: the English text is shown instead.

The ``.mo`` layout (GNU gettext manual, "The Format of GNU MO Files"): a 28-byte header
(magic 0x950412de, revision 0, the number of strings N, the offsets of the table of
originals and of the table of translations, an empty hash table), then two tables of N
(length, offset) pairs, then the NUL-terminated strings. Originals are sorted by their
bytes. A plural entry's original is ``msgid NUL msgid_plural`` and its translation the
forms joined by NUL; a context is ``msgctxt EOT msgid``.
"""

from __future__ import annotations

import ast
import struct
from dataclasses import dataclass

MO_MAGIC = 0x950412DE


class PoError(ValueError):
    """The ``.po`` text is malformed; the message names the line."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One message: ``msgstr`` has one form, or one per plural form if ``msgid_plural``."""

    msgid: str
    msgstr: tuple[str, ...]
    msgid_plural: str | None = None
    msgctxt: str | None = None
    fuzzy: bool = False
    line: int = 0

    @property
    def translated(self) -> bool:
        """True when msgfmt would keep it: not fuzzy, and every form filled in."""
        return not self.fuzzy and bool(self.msgstr) and all(self.msgstr)


def _unquote(text: str, line: int) -> str:
    text = text.strip()
    if len(text) < 2 or not text.startswith('"') or not text.endswith('"'):
        raise PoError(f"line {line}: expected a quoted string, got {text[:40]!r}")
    try:
        # A PO string is a C string; within the ASCII escapes used here, Python's are the same.
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise PoError(f"line {line}: bad string {text[:40]!r}") from None
    if not isinstance(value, str):
        raise PoError(f"line {line}: bad string {text[:40]!r}")
    return value


def parse_po(text: str) -> list[Entry]:
    """The entries of a ``.po`` file (the header, msgid "", included); PoError if malformed."""
    entries: list[Entry] = []
    fields: dict[str, str] = {}
    current: str | None = None
    fuzzy = False
    start = 0

    def finish() -> None:
        nonlocal fields, current, fuzzy
        if fields:
            if "msgid" not in fields:
                raise PoError(f"line {start}: an entry without msgid")
            plural = fields.get("msgid_plural")
            if plural is None:
                forms = (fields.get("msgstr", ""),)
            else:
                count = sum(1 for key in fields if key.startswith("msgstr["))
                forms = tuple(fields.get(f"msgstr[{i}]", "") for i in range(count))
            entries.append(Entry(fields["msgid"], forms, plural, fields.get("msgctxt"), fuzzy, start))
        fields, current, fuzzy = {}, None, False

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#"):
            if any(key.startswith("msgstr") for key in fields):
                finish()  # a comment starts the next entry
            if line.startswith("#,") and "fuzzy" in line[2:].replace(",", " ").split():
                fuzzy = True
            continue
        if line.startswith('"'):
            if current is None:
                raise PoError(f"line {number}: a string continues no keyword")
            fields[current] += _unquote(line, number)
            continue
        keyword, _, rest = line.partition(" ")
        if keyword not in ("msgctxt", "msgid", "msgid_plural", "msgstr") and not (
                keyword.startswith("msgstr[") and keyword.endswith("]") and keyword[7:-1].isdigit()):
            raise PoError(f"line {number}: unknown keyword {keyword[:20]!r}")
        if keyword in ("msgctxt", "msgid") and "msgid" in fields and keyword not in fields:
            finish()  # a new entry begins without a blank line between them
        if keyword in ("msgctxt", "msgid") and not fields:
            start = number
        if keyword in fields:
            raise PoError(f"line {number}: {keyword} given twice in one entry")
        fields[keyword] = _unquote(rest, number)
        current = keyword
    finish()
    return entries


def _key(entry: Entry) -> str:
    key = entry.msgid if entry.msgid_plural is None else f"{entry.msgid}\0{entry.msgid_plural}"
    return key if entry.msgctxt is None else f"{entry.msgctxt}\x04{key}"


def compile_mo(entries: list[Entry]) -> bytes:
    """The bytes of a GNU ``.mo`` file holding the translated entries (and the header).

    Strings are written in UTF-8, so the header always says so (a ``Content-Type`` line
    is added if the ``.po`` file has none): gettext decodes by it.
    """
    fields = header_fields(entries)
    if "charset=" not in fields.get("Content-Type", ""):
        header = next((e.msgstr[0] for e in entries if e.msgid == "" and e.msgctxt is None), "")
        lines = [line for line in header.splitlines() if not line.startswith("Content-Type:")]
        entries = [e for e in entries if e.msgid != "" or e.msgctxt is not None]
        entries.append(Entry("", ("\n".join([*lines, "Content-Type: text/plain; charset=UTF-8"]) + "\n",)))
    pairs = sorted((_key(e).encode("utf-8"), "\0".join(e.msgstr).encode("utf-8"))
                   for e in entries if e.translated or (e.msgid == "" and e.msgctxt is None))
    count = len(pairs)
    originals_at = 28
    translations_at = originals_at + 8 * count
    data_at = translations_at + 8 * count
    tables = [[], []]
    blob = bytearray()
    for column in (0, 1):
        for pair in pairs:
            text = pair[column]
            tables[column].append((len(text), data_at + len(blob)))
            blob += text + b"\0"
    header = struct.pack("<7I", MO_MAGIC, 0, count, originals_at, translations_at, 0, data_at)
    table_bytes = b"".join(struct.pack("<2I", length, offset) for column in tables for length, offset in column)
    return header + table_bytes + bytes(blob)


def header_fields(entries: list[Entry]) -> dict[str, str]:
    """The ``Name: value`` lines of the header entry (msgid "")."""
    for entry in entries:
        if entry.msgid == "" and entry.msgctxt is None:
            lines = (line.partition(":") for line in entry.msgstr[0].splitlines())
            return {name.strip(): value.strip() for name, sep, value in lines if sep}
    return {}


def plural_expression(entries: list[Entry]) -> str:
    """The C expression after ``plural=`` in the header (``n != 1`` if there is none)."""
    forms = header_fields(entries).get("Plural-Forms", "")
    for part in forms.split(";"):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "plural":
            expression = value.strip()
            while expression.startswith("(") and expression.endswith(")"):
                expression = expression[1:-1].strip()
            return expression
    return "n != 1"


def to_json(entries: list[Entry], language: str) -> dict:
    """The catalogue for the web page: ``{"language", "plural", "messages"}``, where a
    message maps its English text to a string, or a plural one (key ``singular NUL
    plural``, as in a ``.mo``) to the list of forms."""
    messages = {}
    for entry in entries:
        if entry.msgid and entry.msgctxt is None and entry.translated:
            messages[_key(entry)] = entry.msgstr[0] if entry.msgid_plural is None else list(entry.msgstr)
    return {"language": language, "plural": plural_expression(entries), "messages": dict(sorted(messages.items()))}
