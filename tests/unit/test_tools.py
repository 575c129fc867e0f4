"""The rule for a missing tool (tests/support/tools.py): a skip on a developer's machine, a
failure in CI, where a skip would hide a whole area behind a green run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import require_module, require_tool, tools_required

NO_SUCH_TOOL = "chat-test-no-such-tool-7f3a"


@pytest.fixture
def no_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CHAT_REQUIRE_BROWSER", raising=False)


def test_a_missing_tool_skips_outside_ci_saying_what_to_install(no_ci: None) -> None:
    assert not tools_required()
    with pytest.raises(pytest.skip.Exception, match=f"{NO_SUCH_TOOL} is not installed to do it "
                                                    r"\(Debian: apt-get install the-package\)"):
        require_tool(NO_SUCH_TOOL, "the-package", why="to do it")


@pytest.mark.parametrize("variable, value", [("CI", "true"), ("CI", "1"), ("CHAT_REQUIRE_BROWSER", "1")])
def test_a_missing_tool_fails_in_ci(no_ci: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    assert tools_required()
    with pytest.raises(pytest.fail.Exception, match=f"{NO_SUCH_TOOL} is not installed .*CI must install it"):
        require_tool(NO_SUCH_TOOL)
    with pytest.raises(pytest.fail.Exception, match="the Python module chat_no_such_module is not installed"):
        require_module("chat_no_such_module", "python3-nothing")


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_ci_set_to_false_is_not_ci(no_ci: None, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert not tools_required()


def test_a_tool_that_is_there_is_returned(no_ci: None) -> None:
    assert require_tool("sh").endswith("/sh")


ROOT = Path(__file__).resolve().parents[2]
# The skips that are not for a missing tool of CI's, each with why it may stay: every other
# test that misses a program goes through require_tool (or fails in CI on its own).
SKIPS_ALLOWED = {
    "tests/support/tools.py": "the rule itself",
    "tests/support/redisserver.py": "fails under CI first (require_redis_server)",
    "tests/integration/test_autobahn.py": "fails under CI first (kosoku, which .ci/run installs)",
    "tests/integration/test_pyversion.py": "a Python older than 3.10, which no Debian package has: "
                                           "the entry points' line is checked without it too",
}


def test_no_test_skips_for_a_missing_program_but_through_the_rule() -> None:
    # A test that called pytest.skip itself when `node` was missing would have skipped in
    # CI too, hiding what it checks behind a green run.
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in SKIPS_ALLOWED or path == Path(__file__).resolve():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\bpytest\.skip\(", line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "use tools.require_tool, which fails under CI: " + "; ".join(offenders)


def test_ci_installs_every_package_a_test_requires() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", " ".join(
        re.findall(r"apt-get install ((?:[^\n]*\\\n)*[^\n]*)", script)).replace("\\\n", " ")))
    needed = {}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if path == Path(__file__).resolve():
            continue
        for call in re.finditer(r'require_tool\(\s*"([^"]+)"(?:\s*,\s*(?:package=)?"([^"]+)")?', path.read_text("utf-8")):
            for package in (call.group(2) or call.group(1)).split():  # "xvfb xauth": both
                needed.setdefault(package, path.relative_to(ROOT).as_posix())
        for call in re.finditer(r'require_module\(\s*"[^"]+"\s*,\s*"([^"]+)"', path.read_text("utf-8")):
            needed.setdefault(call.group(1), path.relative_to(ROOT).as_posix())
    assert {"chromium", "openssl", "tmux", "nodejs", "python3-tk"} <= set(needed)  # the scan finds the calls
    missing = {package: where for package, where in needed.items() if package not in installed}
    assert not missing, f".ci/run does not install {missing}"
