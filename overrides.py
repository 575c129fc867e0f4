"""The operator's own settings: const.py's defaults, changed by a file that upgrades never touch.

const.py ends by calling :func:`apply` on its own names. The file is ``const_local.py``
beside const.py (git ignores it, so ``git pull`` neither refuses to run nor conflicts, and a
new archive has none to overwrite it with), or the file the environment variable
``CHAT_CONST_LOCAL`` names; ``CHAT_CONST_LOCAL`` set but empty: no file. The tests set it
empty (tests/conftest.py), so a developer's own settings never change what they check.

The file is Python, run with const.py's settings as its starting point, and may set only
names that const.py has::

    ADMINS = ("João",)
    REQUIRE_ACCOUNTS = True
    RESERVED_NAMES = RESERVED_NAMES | {"prof"}

A name const.py does not have would be ignored in silence (``ADMIN = ...`` would admit
nobody as administrator), so it is an error, as a syntax error or an exception in the file
is; so is a text where const.py has a list (``("João")`` without its comma is one text, and
a list of its letters would follow), or any value of another kind than const.py's
(``SERVER_PORT = "5000"``; :func:`kind_of`). Each is one line naming the file and the line
(:class:`LocalSettingsError`); at start that line ends the program (:func:`apply`). Names
of the file's own begin with ``_``; modules it imports are no settings either.
"""

from __future__ import annotations

import ast
import difflib
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any, NamedTuple

# The environment variable that names the file (empty: none).
ENVIRONMENT_VARIABLE = "CHAT_CONST_LOCAL"
# The file's name beside const.py.
FILE_NAME = "const_local.py"


# The texts of the errors, marked for the catalogue (said in the user's language by
# LocalSettingsError.__str__; i18n imports const, so it is imported only then).
def N_(message: str) -> str:  # noqa: N802  (as i18n.N_, which cannot be imported here)
    return message


UNREADABLE = N_("your settings {file} ({variable}) cannot be read: {reason}")
FAILED = N_("your settings {file}, line {line}: {problem}")
UNKNOWN_LIKE = N_("your settings {file}, line {line}: const.py has no setting {name} (did you mean {like}?)")
UNKNOWN = N_("your settings {file}, line {line}: const.py has no setting {name}; a name of your own begins with _")
NOT_A_LIST = N_("your settings {file}, line {line}: {name} is a list in const.py, not a text: write ({text!r},), "
                "with the comma")
OF_ANOTHER_KIND = N_("your settings {file}, line {line}: {name} is {kind} in const.py ({default!r}), not {value!r}")

# The kinds of value const.py's settings have, and their words: a setting set to a value
# of another kind would fail (or, worse, work wrongly) only where it is used, far from the
# file that set it. bool before int (True is an int to Python, not to an operator); an int
# is a number where a float is; any collection is a list; None (unset) takes anything.
KINDS = (
    ((bool,), (bool,), N_("True or False")),
    ((int,), (int,), N_("a whole number")),
    ((float,), (int, float), N_("a number")),
    ((str,), (str,), N_("a text")),
    ((tuple, list, set, frozenset), (tuple, list, set, frozenset), N_("a list")),
)


class LocalSettingsError(Exception):
    """The settings file cannot be applied; ``str()`` is the one line that says why, in
    the language in use (i18n)."""

    def __init__(self, template: str, **fields: object) -> None:
        super().__init__(template, fields)
        self.template = template
        self.fields = fields

    def __str__(self) -> str:
        from i18n import _
        fields = {name: _(value) if name == "kind" else value for name, value in self.fields.items()}
        return _(self.template).format(**fields)


class SettingsExit(SystemExit):
    """The program ends (status 2) over a settings error whose one line, ``line``, has
    been written to stderr: an entry point with no terminal to show it on (the window,
    started from a desktop launcher) shows it its own way too."""

    def __init__(self, line: str) -> None:
        super().__init__(2)
        self.line = line


class Applied(NamedTuple):
    """What :func:`apply` did: the file (None: there was none) and the names it set, in
    const.py's order."""
    path: Path | None
    names: tuple[str, ...]

    def where(self, name: str) -> str:
        """``NAME in FILE`` for a message about the setting ``name``: the settings file if it
        set the name (where the operator looks), else const.py."""
        return f"{name} in {self.path if name in self.names else 'const.py'}"


def settings_path(environ: Mapping[str, str] | None = None) -> tuple[Path | None, bool]:
    """The file to apply, and whether it was named: the one ``CHAT_CONST_LOCAL`` names
    (none if it is empty), else ``const_local.py`` beside const.py, which may not exist."""
    env = os.environ if environ is None else environ
    named = env.get(ENVIRONMENT_VARIABLE)
    if named is not None:
        return (Path(named) if named else None), True
    return Path(__file__).resolve().parent / FILE_NAME, False


def settings_of(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The settings in ``namespace`` (const.py's globals): its names but those that begin
    with ``_`` and modules."""
    return {name: value for name, value in namespace.items()
            if not name.startswith("_") and not isinstance(value, ModuleType)}


def read(path: Path, defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Run the settings file ``path`` from ``defaults`` (const.py's settings); return the
    settings it sets, in ``defaults``' order. Raises :class:`LocalSettingsError`."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise LocalSettingsError(UNREADABLE, file=path, variable=ENVIRONMENT_VARIABLE,
                                 reason=exc.strerror or exc) from None
    try:
        tree = ast.parse(source, str(path))
    except SyntaxError as exc:
        raise LocalSettingsError(FAILED, file=path, line=exc.lineno, problem=exc.msg) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        # What CPython's parser raises instead of SyntaxError for a name that is not UTF-8
        # (UnicodeDecodeError) or an expression nested too deep: no line to point at.
        raise LocalSettingsError(FAILED, file=path, line=1, problem=f"{type(exc).__name__}: {exc}") from None
    namespace: dict[str, Any] = {**defaults, "__name__": "const_local", "__file__": str(path)}
    try:
        exec(compile(tree, str(path), "exec"), namespace)
    except Exception as exc:
        raise LocalSettingsError(FAILED, file=path, line=_line_in(exc.__traceback__, str(path)),
                                 problem=f"{type(exc).__name__}: {exc}") from None
    assigned = _assigned(tree)
    for name, value in settings_of(namespace).items():
        if name not in defaults:
            like = difflib.get_close_matches(name.upper(), defaults, n=1)
            fields = dict(file=path, line=assigned.get(name, 1), name=name)
            raise (LocalSettingsError(UNKNOWN_LIKE, like=like[0], **fields) if like
                   else LocalSettingsError(UNKNOWN, **fields))
    changed = {name: namespace[name] for name, default in defaults.items()
               if name in namespace and (name in assigned or namespace[name] is not default)}
    for name, value in changed.items():
        if isinstance(value, str) and isinstance(defaults[name], (tuple, list, set, frozenset)):
            raise LocalSettingsError(NOT_A_LIST, file=path, line=assigned.get(name, 1), name=name, text=value)
        kind = kind_of(value, defaults[name])
        if kind is not None:
            raise LocalSettingsError(OF_ANOTHER_KIND, file=path, line=assigned.get(name, 1), name=name, kind=kind,
                                     default=defaults[name], value=value)
    return changed


def kind_of(value: object, default: object) -> str | None:
    """The words (untranslated) for the kind of value ``default`` is (:data:`KINDS`) if
    ``value`` is not of that kind; None if it is, or if the default's kind is not checked."""
    for defaults, takes, words in KINDS:
        if isinstance(default, defaults):
            fits = isinstance(value, takes) and not (isinstance(value, bool) and bool not in takes)
            return None if fits else words
    return None


def apply(namespace: MutableMapping[str, Any], path: Path | None, named: bool = True) -> Applied:
    """Apply the settings file ``path`` (None: none) to ``namespace`` (const.py's
    ``globals()``, with ``*settings_path()``). A file that is not there is no error unless
    it was ``named``. On an error, its one line goes to stderr, in the language the command
    line or the environment asks for, and the program ends with status 2 (:class:`SettingsExit`)."""
    if path is None or (not named and not path.exists()):
        return Applied(None, ())
    try:
        changed = read(path, settings_of(namespace))
    except LocalSettingsError as error:
        import i18n  # only now: i18n imports const, which calls this as it is imported
        i18n.use(i18n.early_choice())
        line = str(error)
        sys.stderr.write(f"{line}\n")
        sys.stderr.flush()
        raise SettingsExit(line) from None
    namespace.update(changed)
    return Applied(path, tuple(changed))


def _assigned(tree: ast.Module) -> dict[str, int]:
    """The first line that binds each name of the module (an assignment, an import, a
    definition): where to point an error about the name."""
    lines: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            name = node.id
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = node.name
        elif isinstance(node, ast.alias):
            name = (node.asname or node.name).split(".")[0]
        else:
            continue
        if not hasattr(node, "lineno"):
            continue
        if name not in lines or node.lineno < lines[name]:
            lines[name] = node.lineno
    return lines


def _line_in(traceback: TracebackType | None, filename: str) -> int:
    """The line of the settings file where the exception of ``traceback`` was raised
    (the last frame of that file)."""
    line = 1
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
