"""Which Pythons run the project: 3.10 and newer; older ones get one line, not a traceback.

Python 3.10 (Ubuntu 22.04's) is supported by using no syntax newer than 3.10 and none of
the 3.11-only APIs listed below; protocol/compat.py holds the one backport. The entry
points check the version before importing anything that would fail (pythoncheck.py).
"""

from __future__ import annotations

import ast
import glob
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pythoncheck

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0
ENTRY_POINTS = ("chatserver.py", "chatclient.py")
# The project's packages: an old Python fails on importing any of them.
PROJECT_PACKAGES = ("const", "server", "client", "protocol", "registry", "shared", "web", "resp")


def python_files() -> list[Path]:
    """The project's Python files: not those of a virtual environment (.venv) or of git."""
    return sorted(path for path in ROOT.rglob("*.py")
                  if not any(part.startswith(".") or part == "site-packages"
                             for part in path.relative_to(ROOT).parts))


# --- Python 3.10 -------------------------------------------------------------------------


def test_every_module_parses_as_python_3_10() -> None:
    failures = []
    for path in python_files():
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 10))
        except SyntaxError as exc:
            failures.append(f"{path.relative_to(ROOT)}:{exc.lineno}: {exc.msg}")
    assert not failures, "syntax newer than Python 3.10:\n" + "\n".join(failures)


# What Python 3.11 added that this code base would plausibly reach for, each with what to
# use instead. protocol/compat.py is the one place allowed to name them (with a fallback).
NEWER_APIS = {
    r"\bfrom enum import\b[^\n]*\bStrEnum\b|\benum\.StrEnum\b": "protocol.compat.StrEnum",
    r"\basyncio\.timeout(_at)?\(": "asyncio.wait_for",
    r"\basyncio\.(TaskGroup|Runner|Barrier)\b": "asyncio.gather / asyncio.run",
    r"\b(Base)?ExceptionGroup\b|\.add_note\(": "plain exceptions",
    r"\bimport tomllib\b": "a format the standard library of 3.10 reads",
    r"\bdatetime\.UTC\b|\bfrom datetime import\b[^\n]*\bUTC\b": "datetime.timezone.utc",
    r"\bfrom typing import\b[^\n]*\b(Self|LiteralString|Never|assert_never|reveal_type|TypeVarTuple|"
    r"Unpack|Required|NotRequired|dataclass_transform)\b|\btyping\.(Self|LiteralString|Never|"
    r"assert_never|reveal_type|TypeVarTuple|Unpack|Required|NotRequired|dataclass_transform)\b":
        "a quoted class name or typing's 3.10 names",
    r"\bhashlib\.file_digest\b|\bcontextlib\.chdir\b|\blogging\.getLevelNamesMapping\b|\boperator\.call\b|"
    r"\bmath\.(exp2|cbrt)\b|\bsys\.exception\(\)|\blocale\.getencoding\b|\bre\.NOFLAG\b|\bwsgiref\.types\b":
        "the 3.10 equivalent",
    r"\benum\.(verify|member|nonmember|global_enum|ReprEnum|EnumCheck|FlagBoundary)\b": "plain enum",
    r"\.(blobopen|setlimit|getlimit|serialize|deserialize|create_window_function)\(": "sqlite3 of 3.10",
    r"\.(uncancel|cancelling)\(\)": "asyncio of 3.10",
}


def test_no_module_uses_an_api_newer_than_python_3_10() -> None:
    compat = ROOT / "protocol" / "compat.py"
    failures = []
    for path in python_files():
        if path in (compat, Path(__file__).resolve()):
            continue
        text = path.read_text(encoding="utf-8")
        for pattern, instead in NEWER_APIS.items():
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                failures.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r} is Python 3.11's; "
                                f"use {instead}")
    assert not failures, "\n".join(failures)


def test_asyncio_timeouts_are_caught_as_asyncio_timeout_error() -> None:
    # Before 3.11, asyncio.wait_for raises asyncio.TimeoutError, which is not TimeoutError:
    # a module that awaits wait_for must catch the former.
    failures = []
    for path in python_files():
        text = path.read_text(encoding="utf-8")
        if "asyncio.wait_for(" not in text:
            continue
        for match in re.finditer(r"except \(?(?:[\w.]+, )*TimeoutError\b", text):
            if not match.group(0).endswith("asyncio.TimeoutError"):
                line = text.count("\n", 0, match.start()) + 1
                failures.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}")
    assert not failures, "catch asyncio.TimeoutError around asyncio.wait_for:\n" + "\n".join(failures)


def test_the_str_enum_backport_behaves_like_3_11s() -> None:
    from protocol import ErrorCode

    code = ErrorCode("bad_json")
    assert code is ErrorCode.BAD_JSON
    assert (str(code), f"{code}", f"{code:>9}", "%s" % code) == ("bad_json", "bad_json", " bad_json", "bad_json")
    assert code == "bad_json" and hash(code) == hash("bad_json")


# --- The version check --------------------------------------------------------------------


def test_the_minimum_is_the_one_the_readme_states() -> None:
    needed = ".".join(map(str, pythoncheck.MINIMUM))
    assert f"Python {needed} or newer" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_too_old_says_which_version_is_needed_and_which_runs() -> None:
    assert pythoncheck.too_old("chatserver.py", (3, 9, 18, "final", 0), "/usr/bin/python3") == (
        "chatserver.py needs Python 3.10 or newer; this is Python 3.9.18 (/usr/bin/python3)")
    assert pythoncheck.too_old("chatserver.py", (3, 10, 0, "final", 0)) is None
    assert pythoncheck.too_old("chatserver.py", (4, 0, 0, "final", 0)) is None


def run_as_old_python(entry: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``entry`` in a Python that says it is 3.9.18, in which the project's own
    packages cannot be imported (as they could not on a real old Python)."""
    blocked = ", ".join(repr(name) for name in PROJECT_PACKAGES)
    script = ("import runpy, sys\n"
              "sys.version_info = (3, 9, 18, 'final', 0)\n"
              f"for name in ({blocked}):\n"
              "    sys.modules[name] = None  # importing it now raises ImportError\n"
              f"sys.argv = [{entry!r}, *{list(args)!r}]\n"
              f"runpy.run_path({entry!r}, run_name='__main__')\n")
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=WAIT)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_an_old_python_gets_one_line_and_status_2(entry: str) -> None:
    done = run_as_old_python(entry, "Alice")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == f"{entry} needs Python 3.10 or newer; this is Python 3.9.18 ({sys.executable})\n"


def test_the_entry_points_parse_on_python_3_6() -> None:
    # Python parses a whole file before running any of it: the check in the entry files
    # helps only if the rest of them parses on the old Python too.
    for name in (*ENTRY_POINTS, "pythoncheck.py"):
        source = (ROOT / name).read_text(encoding="utf-8")
        tree = ast.parse(source, name, feature_version=(3, 6))
        futures = [alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and node.module == "__future__" for alias in node.names]
        assert "annotations" not in futures, f"{name}: `from __future__ import annotations` fails on Python 3.6"


def old_pythons() -> list[str]:
    """Interpreters older than the minimum found on this machine (PATH, pyenv)."""
    found = {}
    candidates = [f"python3.{minor}" for minor in range(6, pythoncheck.MINIMUM[1])]
    for name in candidates:
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            path = os.path.join(folder, name)
            if os.access(path, os.X_OK) and "shims" not in folder:
                found.setdefault(name, path)
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3.*"))):
        name = os.path.basename(path)
        if name in candidates:
            found.setdefault(name, path)
    return sorted(found.values())


@pytest.mark.timeout_seconds(120)
def test_real_old_pythons_get_the_line() -> None:
    pythons = old_pythons()
    if not pythons:
        pytest.skip("no Python older than 3.10 on this machine (optional: pyenv install 3.9)")
    for python in pythons:
        for entry in ENTRY_POINTS:
            done = subprocess.run([python, entry, "Alice"], cwd=ROOT, capture_output=True, text=True,
                                  timeout=WAIT)
            assert done.returncode == 2, (python, done.stderr)
            assert re.fullmatch(rf"{entry} needs Python 3\.10 or newer; this is Python 3\.\d+\.\d+ \(.*\)\n",
                                done.stderr), (python, done.stderr)
