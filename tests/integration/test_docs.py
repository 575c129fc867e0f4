"""The READMEs' commands are what works on a stock system, and LEIAME.md says what README.md says.

- Commands to type say ``python3``, never ``python`` (not a command on Debian 12 or Ubuntu
  24.04): in the Markdown files, the docstrings and ``--help``.
- The test command is one line, and .ci/run runs exactly it.
- LEIAME.md (pt_BR) has the same commands as README.md (every command line of a fenced
  block, every inline ``python3 ...`` and ``/command``), the same sections and tables, and
  the same figures and the same settings, options and files named in each section (a
  measurement or a paragraph added to one only); the failure lists what differs, for
  whoever updates one of them.
- The terminal client's table (in both) lists every command of client/commands.py, and
  the table of languages each one's English and first Portuguese name; neither names a
  command the client does not have.
- What the documents (README.md, LEIAME.md, PROTOCOL.md, docs/*.md, the examples'
  docstrings and const.py's comments) point to is there: every ``--option`` of a command
  they show is in that program's ``--help``, every relative link and every path of the
  project's files resolves, and every ``FILE.md, "Section"`` names a heading (or a bold
  paragraph title) of FILE.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from docfiles import FENCE, headings_of, sections_of, slug

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LEIAME = ROOT / "LEIAME.md"
WAIT = 30.0
# What a newcomer reads and does literally (bench/PROFILE.md is a lab notebook: its past
# commands are kept as they were run).
DOCUMENTS = [README, LEIAME, ROOT / "PROTOCOL.md", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "examples").glob("*.py")), ROOT / "const.py"]

# `python chatserver.py`, `python -m pytest`: a command that fails where only python3 exists.
BARE_PYTHON = re.compile(r"(?<![\w./-])python (?:-m |[\w./-]+\.py\b)")
# What starts a command line to type (in a code block or an inline code span).
COMMAND_START = re.compile(r"(?:python3|py|sudo|bash|printf|git|\.) ")
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


# A command a document shows: the program (a module or a script), then its arguments up to
# the end of the line, the code span, a table cell or a ``# comment``; a synopsis goes on
# over lines that start with ``[--``.
DOCUMENTED_COMMAND = re.compile(r"(?:python3|py) (-m [\w.]+|[\w./-]+\.py)([^`|#\n]*)")
SYNOPSIS_GOES_ON = re.compile(r"\n[ \t]+(?=\[--)")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")


def test_every_option_a_document_shows_is_in_its_programs_help() -> None:
    wanted: dict[str, dict[str, set[str]]] = {}
    for path in DOCUMENTS:
        for match in DOCUMENTED_COMMAND.finditer(SYNOPSIS_GOES_ON.sub(" ", path.read_text(encoding="utf-8"))):
            for option in OPTION.findall(match.group(2)):
                wanted.setdefault(match.group(1), {}).setdefault(option, set()).add(path.name)
    assert "chatserver.py" in wanted and "chatclient.py" in wanted and "-m bench.benchmark" in wanted
    missing = []
    for program, options in sorted(wanted.items()):
        shown = subprocess.run([sys.executable, *program.split(), "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
        assert shown.returncode == 0, f"{program} --help: {shown.stderr}"
        missing += [f"{program} {option} ({', '.join(sorted(where))})" for option, where in sorted(options.items())
                    if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", shown.stdout)]
    assert not missing, "options the documents show that --help does not list:\n" + "\n".join(missing)


# A relative Markdown link, and a path of the project's own files (a top folder of the
# project, then folders and a file name; a PLACEHOLDER part such as LANG is a pattern).
LINK = re.compile(r"\]\((?!https?:|mailto:)([^)#\s]*)(?:#([^)\s]+))?\)")
PROJECT_PATH = re.compile(r"(?<![\w./~-])((?:[\w-]+/)+[\w.-]+\.(?:py|md|json|po|html|js|css|png))\b")


def test_every_link_and_path_in_the_documents_resolves() -> None:
    top = {path.name for path in ROOT.iterdir() if path.is_dir() and not path.name.startswith(".")}
    missing = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        for target, anchor in LINK.findall(text) if path.suffix == ".md" else ():
            file = (path.parent / target) if target else path
            if not file.exists():
                missing.append(f"{where}: link to {target}")
            elif anchor and file.suffix == ".md" and anchor not in {slug(h) for h in headings_of(file)}:
                missing.append(f"{where}: link to {target}#{anchor}, a heading {file.name} does not have")
        for cited in PROJECT_PATH.findall(text):
            parts = cited.split("/")
            if parts[0] in top and not any(part.isupper() for part in parts) and not (ROOT / cited).exists():
                missing.append(f"{where}: {cited}")
    assert not missing, "the documents point to what is not there:\n" + "\n".join(missing)


# A citation of a section: `PROTOCOL.md, "Names"`, `(docs/cluster.md, "Performance")`,
# `o docs/cluster.md, seção "Try it"`, `README, "Names"`; its title may go on over a line
# break (of a comment, in a .py file).
CITATION = re.compile(r"((?:[\w-]+/)*[\w-]+\.md|\b(?:README|LEIAME|PROTOCOL)\b)(?:,? (?:section|seção)|,)\s+"
                      r"\"([^\"]{1,200})\"")
LINE_BREAK = re.compile(r"\s*\n\s*(?:#\s*)?")


def test_every_section_the_documents_cite_is_a_heading_of_that_file() -> None:
    wrong = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in CITATION.finditer(text):
            name, title = match.group(1), LINE_BREAK.sub(" ", match.group(2))
            file = ROOT / (name if name.endswith(".md") else f"{name}.md")
            line = text.count("\n", 0, match.start()) + 1
            if not file.exists():
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} does not exist")
            elif not any(section.startswith(title) for section in sections_of(file)):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {name} has no section {title!r}")
    assert not wrong, "citations of sections that are not there:\n" + "\n".join(wrong)


# Figures as either language writes them: 7,013 and 7.013, 5.5 and 5,5, 03:59 and 3h59 are
# the same digits. What is quoted (a message's own words, a command) may differ.
FIGURE = re.compile(r"\d(?:[\d.,]*\d)?")
QUOTED = re.compile(r"`[^`]*`|\"[^\"]{0,300}\"|https?://\S+")


def figures_by_section(markdown: str) -> list[Counter[str]]:
    prose = QUOTED.sub("", FENCE.sub("", markdown))
    return [Counter(str(int(re.sub(r"[.,]", "", figure))) for figure in FIGURE.findall(section))
            for section in re.split(r"^#+ .*$", prose, flags=re.MULTILINE)]


def test_leiame_quotes_the_readmes_figures_section_by_section() -> None:
    english, portuguese = README.read_text(encoding="utf-8"), LEIAME.read_text(encoding="utf-8")
    titles = ["(before the first heading)"] + re.findall(r"^#+ (.*)$", FENCE.sub("", english), re.MULTILINE)
    differences = []
    for title, ours, theirs in zip(titles, figures_by_section(english), figures_by_section(portuguese)):
        if ours != theirs:
            differences.append(f"  {title}: only in README.md {sorted((ours - theirs).elements())}, "
                               f"only in LEIAME.md {sorted((theirs - ours).elements())}")
    assert not differences, "README.md and LEIAME.md quote different figures:\n" + "\n".join(differences)


# What a section names that a translation keeps as it is: a setting, an option, a file.
NAMED = re.compile(r"`([A-Z][A-Z0-9_]{2,}|--[a-z][\w-]*|[\w./-]+\.(?:py|md|json|sqlite3))`")


def test_leiame_names_the_readmes_settings_options_and_files_section_by_section() -> None:
    english, portuguese = README.read_text(encoding="utf-8"), LEIAME.read_text(encoding="utf-8")
    titles = ["(before the first heading)"] + re.findall(r"^#+ (.*)$", FENCE.sub("", english), re.MULTILINE)
    sections = [re.split(r"^#+ .*$", FENCE.sub("", text), flags=re.MULTILINE) for text in (english, portuguese)]
    differences = []
    for title, ours, theirs in zip(titles, *sections):
        ours, theirs = set(NAMED.findall(ours)), set(NAMED.findall(theirs))
        if ours != theirs:
            differences.append(f"  {title}: only in README.md {sorted(ours - theirs)}, "
                               f"only in LEIAME.md {sorted(theirs - ours)}")
    assert not differences, "README.md and LEIAME.md name different things:\n" + "\n".join(differences)


# A command word in a table row: `/who`, `/histórico` (not `//etc/hosts`, a line sent as text).
TABLE_COMMAND = re.compile(r"(?<![/\w])/([^\s`/|\]]+)")


def commands_in_tables(markdown: str, section: str, columns: int) -> set[str]:
    """The command words in the first ``columns`` cells of the rows of the tables of the
    ``## section`` of ``markdown`` (the cells that are commands, not what they do)."""
    text = next(part for part in re.split(r"^## ", markdown, flags=re.MULTILINE) if part.startswith(section))
    cells = [cell for line in text.splitlines() if line.startswith("| `") for cell in line.split("|")[1:columns + 1]]
    return {word for cell in cells for word in TABLE_COMMAND.findall(cell)}


@pytest.mark.parametrize(("document", "terminal", "languages"), [
    (README, "The terminal client", "Languages"), (LEIAME, "O cliente de terminal", "Idiomas")])
def test_the_command_tables_are_the_clients_commands(document: Path, terminal: str, languages: str) -> None:
    from client.commands import COMMAND_WORDS
    command_of = {name: word for word, names in COMMAND_WORDS.items() for group in names.values() for name in group}
    text = document.read_text(encoding="utf-8")
    listed, translated = commands_in_tables(text, terminal, 1), commands_in_tables(text, languages, 2)
    unknown = (listed | translated) - set(command_of)
    assert not unknown, f"no such command: {sorted(unknown)}"
    missing = set(COMMAND_WORDS) - {command_of[name] for name in listed}  # by any of its names
    assert not missing, f"not in {terminal!r}: {sorted(missing)}"
    named = set(COMMAND_WORDS) | {names["pt_BR"][0] for names in COMMAND_WORDS.values()}
    assert not named - translated, f"not in {languages!r}: {sorted(named - translated)}"


def test_the_cluster_guides_metrics_are_the_nodes_metrics_counted_right() -> None:
    """docs/cluster.md, "Metrics": every metric a cluster node adds (server/metrics.py's
    cluster gauges and PEER_COUNTERS, and the Redis round trips) named, and the gauges
    and counters counted as many as there are (it said "four gauges" of six, and named
    none of them but in words)."""
    import server.metrics as metrics

    text = (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")
    section = text.split("### Metrics\n", 1)[1].split("\n### ", 1)[0]
    gauges = [name for name, _help in metrics.GAUGES if name.startswith("chat_cluster_")]
    counters = list(metrics.PEER_COUNTERS)
    for name in gauges + counters + ["chat_redis_round_trip_seconds"]:
        assert f"`{name}" in section, f"{name} is not in docs/cluster.md's Metrics section"
    words = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
    said = dict((kind, count) for count, kind in re.findall(r"\b(\w+) (gauges|counters)\b", section))
    assert said == {"gauges": words[len(gauges)], "counters": words[len(counters)]}, said


def test_the_metrics_table_says_which_stores_leave_the_store_queue_out() -> None:
    """PROTOCOL.md, "Metrics": ``chat_store_queue`` is served only by a store with a queue
    (server/app.py reads its ``queue_depth``); a cluster node's Redis store has none, and
    the table said nothing of it, so a dashboard made on one server found no figure on a
    cluster."""
    from server.stores.redis import RedisStore

    rows = [line for line in (ROOT / "PROTOCOL.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `chat_store_queue`")]
    assert len(rows) == 1, rows
    if not hasattr(RedisStore, "queue_depth"):
        assert "--cluster" in rows[0], f"the row does not say a cluster node leaves it out: {rows[0]}"
