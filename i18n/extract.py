"""Which texts the program asks to translate, and what a translation must keep.

:func:`python_messages` reads the Python sources with :mod:`ast` and returns every literal
passed to ``_()``, ``N_()`` or ``ngettext()``; :func:`web_messages` does the same for the
web page: ``t("...")`` and ``tn("...", "...", n)`` in its scripts (:func:`page_scripts`), and the
``data-i18n*`` attributes of ``index.html`` (an element's English text, or the English
value of the attribute named after ``data-i18n-``). :func:`placeholders` is what a
translation must keep: ``{name}`` fields and ``%s``-style conversions.
"""

from __future__ import annotations

import ast
import json
import re
import string
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Source trees that hold no user-facing text (tests, benchmarks, generated data).
SKIPPED_DIRS = frozenset({"tests", "bench", ".git", "__pycache__", "docs"})
WEB_ROOT = ROOT / "webclient"


@dataclass(frozen=True, slots=True)
class Message:
    """A text to translate: ``plural`` is set for ngettext/tn; ``where`` is file:line."""

    msgid: str
    plural: str | None
    where: str

    @property
    def key(self) -> str:
        """The catalogue key (as in a .mo file and the page's JSON)."""
        return self.msgid if self.plural is None else f"{self.msgid}\0{self.plural}"


def _literal(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def python_files(root: Path = ROOT) -> list[Path]:
    """Every Python source of the program (not tests, benchmarks...)."""
    return sorted(p for p in root.rglob("*.py") if not SKIPPED_DIRS.intersection(p.relative_to(root).parts))


def python_messages(root: Path = ROOT) -> list[Message]:
    """Every literal given to ``_``, ``N_`` or ``ngettext`` in the program's sources.

    A call whose argument is built on the spot (an f-string, ``+``, a call) is reported as
    a message whose msgid starts with ``"<not a literal>"``, so that a check can refuse
    it: its text would never reach the catalogue. ``_(variable)`` is allowed: tables of
    texts are marked with ``N_()`` where they are defined.
    """
    found = []
    for path in python_files(root):
        # The definitions of _() and ngettext() pass their arguments on: only their literals count.
        definitions = path.relative_to(root).parts[0] == "i18n"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            where = f"{path.relative_to(root)}:{node.lineno}"
            if name in ("_", "N_") and len(node.args) == 1:
                text = _literal(node.args[0])
                if text is not None:
                    found.append(Message(text, None, where))
                elif definitions:
                    continue
                elif isinstance(node.args[0], (ast.JoinedStr, ast.BinOp, ast.Call)) or name == "N_":
                    # An f-string or a built text never matches the catalogue; a name or
                    # a table lookup is fine: its texts are marked with N_() where defined.
                    found.append(Message("<not a literal>", None, where))
            elif name == "ngettext" and len(node.args) == 3:
                singular, plural = _literal(node.args[0]), _literal(node.args[1])
                if (singular is None or plural is None) and definitions:
                    continue
                if singular is None or plural is None:
                    found.append(Message("<not a literal>", None, where))
                else:
                    found.append(Message(singular, plural, where))
    return found


# t("...") and tn("...", "...", n) with double-quoted JavaScript string literals.
_JS_STRING = r'"((?:[^"\\\n]|\\.)*)"'
_JS_T = re.compile(r"(?<![\w.$])t\(\s*" + _JS_STRING + r"\s*[,)]")
_JS_TN = re.compile(r"(?<![\w.$])tn\(\s*" + _JS_STRING + r"\s*,\s*" + _JS_STRING + r"\s*,")
_JS_CALL = re.compile(r"(?<![\w.$])(?<!function )tn?\(")
# A line that translates a text from a table (itself checked) says so, after "//".
_JS_DYNAMIC = "i18n: listed"


def _js_unquote(text: str) -> str:
    return json.loads(f'"{text}"')


class _I18nAttributes(HTMLParser):
    """Collects the English texts of elements marked with data-i18n* attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, int]] = []
        self._open: list[list] = []  # [tag, text so far, line] of data-i18n elements being read

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.startswith("data-i18n-") and value is None:
                target = name[len("data-i18n-"):]
                if values.get(target):
                    self.found.append((values[target], self.getpos()[0]))
        if "data-i18n" in values:
            self._open.append([tag, "", self.getpos()[0]])

    def handle_data(self, data: str) -> None:
        for item in self._open:
            item[1] += data

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _tag, text, line = self._open.pop()
            self.found.append((" ".join(text.split()), line))


_SCRIPT_SRC = re.compile(r'<script src="([^"/]+\.js)"')


def page_scripts(web_root: Path = WEB_ROOT) -> list[Path]:
    """The page's scripts, in the order ``index.html`` loads them (its ``<script src>``s;
    not the catalogues of ``i18n/``, which the page loads itself)."""
    html = (web_root / "index.html").read_text(encoding="utf-8")
    return [web_root / name for name in _SCRIPT_SRC.findall(html)]


def web_messages(web_root: Path = WEB_ROOT) -> list[Message]:
    """Every text the web page translates (see the module's docstring)."""
    found = []
    for path in page_scripts(web_root):
        found += _script_messages(path.read_text(encoding="utf-8"), path.name)
    parser = _I18nAttributes()
    parser.feed((web_root / "index.html").read_text(encoding="utf-8"))
    found.extend(Message(text, None, f"index.html:{line}") for text, line in parser.found)
    return found


def _script_messages(script: str, name: str) -> list[Message]:
    """The texts of one of the page's scripts, ``name`` its file's name (for ``where``)."""
    found = []
    plural_spans = []
    for match in _JS_TN.finditer(script):
        line = script.count("\n", 0, match.start()) + 1
        found.append(Message(_js_unquote(match.group(1)), _js_unquote(match.group(2)), f"{name}:{line}"))
        plural_spans.append(match.start())
    singles = {m.start(): m for m in _JS_T.finditer(script)}
    for call in _JS_CALL.finditer(script):
        line = script.count("\n", 0, call.start()) + 1
        line_text = script[script.rfind("\n", 0, call.start()) + 1:script.find("\n", call.start())]
        if call.start() in plural_spans or line_text.lstrip().startswith(("//", "*", "/*")):
            continue
        if _JS_DYNAMIC in line_text:
            continue
        if call.start() in singles:
            found.append(Message(_js_unquote(singles[call.start()].group(1)), None, f"{name}:{line}"))
        else:
            found.append(Message("<not a literal>", None, f"{name}:{line}"))
    return found


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")


def placeholders(text: str) -> list[str]:
    """The placeholders of ``text``, sorted: ``{name}`` fields (with their format spec)
    and ``%``-conversions; a malformed ``{`` counts as one (``"{?"``)."""
    found = []
    try:
        for _literal_text, field, spec, conversion in string.Formatter().parse(text):
            if field is not None:
                found.append("{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}")
    except ValueError:
        found.append("{?")
    found.extend(m.group(0) for m in _PERCENT.finditer(text) if m.group(0) != "%%")
    return sorted(found)
