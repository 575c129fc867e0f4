"""The READMEs' commands are what works on a stock system, and LEIAME.md says what README.md says.

- Commands to type say ``python3``, never ``python`` (not a command on Debian 12 or Ubuntu
  24.04): in the Markdown files, the docstrings and ``--help``.
- The test command is one line, and .ci/run runs exactly it.
- LEIAME.md (pt_BR) has the same commands as README.md (every command line of a fenced
  block, every inline ``python3 ...`` and ``/command``), the same sections and tables; the
  failure lists what differs, for whoever updates one of them.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LEIAME = ROOT / "LEIAME.md"
WAIT = 30.0

# `python chatserver.py`, `python -m pytest`: a command that fails where only python3 exists.
BARE_PYTHON = re.compile(r"(?<![\w./-])python (?:-m |[\w./-]+\.py\b)")
# What starts a command line to type (in a code block or an inline code span).
COMMAND_START = re.compile(r"(?:python3|py|sudo|bash|printf|git|\.) ")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")  # (a span may go on over a line break)


def project_files(*suffixes: str) -> list[Path]:
    return sorted(path for path in ROOT.rglob("*") if path.suffix in suffixes and path.is_file()
                  and not any(part.startswith(".") or part == "site-packages"
                              for part in path.relative_to(ROOT).parts))


def test_commands_to_type_say_python3() -> None:
    found = []
    for path in [*project_files(".md", ".py"), ROOT / ".ci" / "run"]:
        if path == Path(__file__).resolve():
            continue  # its examples of what not to write
        text = path.read_text(encoding="utf-8")
        for match in BARE_PYTHON.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {match.group(0)!r}")
    for program in ("chatserver.py", "chatclient.py"):
        shown = subprocess.run([sys.executable, program, "--help"], cwd=ROOT, capture_output=True, text=True,
                               timeout=WAIT, stdin=subprocess.DEVNULL)
        assert shown.returncode == 0, shown.stderr
        found += [f"{program} --help: {match.group(0)!r}" for match in BARE_PYTHON.finditer(shown.stdout)]
    assert not found, "say python3 (py on Windows), not python:\n" + "\n".join(found)


def test_ci_runs_exactly_the_readmes_one_line_test_command() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Run the tests"):]
    block = FENCE.search(section).group(1).strip()
    assert "\n" not in block, f"the test command is one line: {block!r}"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == block, f".ci/run ends with {commands[-1]!r}, README.md's test command is {block!r}"


def commands_in(markdown: str) -> set[str]:
    """Every command of a Markdown text: each command line of a fenced block (without its
    ``# comment``), each inline code span that is a command, and each ``/command`` word."""
    commands = set()
    for block in FENCE.findall(markdown):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if COMMAND_START.match(line):
                commands.add(" ".join(line.split()))
    prose = FENCE.sub("", markdown)
    for span in INLINE.findall(prose):
        span = span.strip()
        if COMMAND_START.match(span):
            commands.add(" ".join(span.split()))
        for word in re.findall(r"(?:^|(?<=\s))(/[a-z]+)\b", span):
            commands.add(word)
    return commands


def shape_of(markdown: str) -> tuple[list[str], list[int]]:
    """The heading levels in order, and the number of rows of each table."""
    prose = FENCE.sub("", markdown)
    levels = [match.group(1) for match in re.finditer(r"^(#+) ", prose, re.MULTILINE)]
    tables = [block.count("\n") + 1 for block in re.findall(r"(?:^\|.*\|$\n?)+", prose, re.MULTILINE)]
    return levels, tables


def test_leiame_has_the_readmes_commands_sections_and_tables() -> None:
    english, portuguese = README.read_text(encoding="utf-8"), LEIAME.read_text(encoding="utf-8")
    assert "Em português: [LEIAME.md](LEIAME.md)" in english.split("\n## ")[0]
    assert "In English: [README.md](README.md)" in portuguese.split("\n## ")[0]
    ours, theirs = commands_in(english), commands_in(portuguese)
    differences = [f"  only in README.md: {command}" for command in sorted(ours - theirs)]
    differences += [f"  only in LEIAME.md: {command}" for command in sorted(theirs - ours)]
    assert not differences, "the commands of README.md and LEIAME.md differ:\n" + "\n".join(differences)
    (levels, tables), (niveis, tabelas) = shape_of(english), shape_of(portuguese)
    assert levels == niveis, f"headings: README.md {levels}, LEIAME.md {niveis}"
    assert tables == tabelas, f"table rows: README.md {tables}, LEIAME.md {tabelas}"
