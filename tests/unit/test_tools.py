"""The rule for a missing tool (tests/support/tools.py): a skip on a developer's machine, a
failure in CI, where a skip would hide a whole area behind a green run."""

from __future__ import annotations

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
