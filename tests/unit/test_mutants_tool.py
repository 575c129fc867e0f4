"""tools/mutants.py, the mutation tester: which changes it makes, that it reports those
the tests pass with, and that it always puts the module back. The tests are a function
here (no pytest run, no process)."""

from __future__ import annotations

import ast
import importlib.util
import os
import signal
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("mutants", Path(__file__).parents[2] / "tools" / "mutants.py")
mutants = sys.modules["mutants"] = importlib.util.module_from_spec(_SPEC)  # (a dataclass looks itself up there)
_SPEC.loader.exec_module(mutants)

SOURCE = '''def due(when, now, held):
    if when <= now and not held:
        return True
    return when - now
'''


def test_it_turns_comparisons_and_or_not_booleans_and_arithmetic_one_at_a_time() -> None:
    tree = ast.parse(SOURCE)
    found = list(mutants.sites(tree))
    assert sorted(site.kind for site in found) == ["and/or", "arithmetic", "boolean", "comparison", "not"]
    texts = {site.kind: mutants.mutant(tree, site) for site in found}
    assert "when < now and (not held)" in texts["comparison"]
    assert "when <= now or not held" in texts["and/or"]
    assert "when <= now and held" in texts["not"]
    assert "return False" in texts["boolean"]
    assert "return when + now" in texts["arithmetic"]
    assert ast.unparse(tree) == ast.unparse(ast.parse(SOURCE))  # the tree itself is untouched


def test_it_reports_the_changes_the_tests_pass_with_and_puts_the_module_back(tmp_path: Path) -> None:
    module = tmp_path / "due.py"
    module.write_text(SOURCE, encoding="utf-8")
    said: list[str] = []

    def passes() -> bool:  # tests that state only the arithmetic
        return "when - now" in module.read_text(encoding="utf-8")

    alive = mutants.survivors(module, passes, said.append)
    assert sorted(site.kind for site in alive) == ["and/or", "boolean", "comparison", "not"]
    assert said[0].startswith("5 mutants") and said[-1] == "4 of 5 survived"
    assert "survived, comparison at line 2: if when <= now and not held:" in said
    assert module.read_text(encoding="utf-8") == SOURCE


def test_an_interrupted_run_still_puts_the_module_back(tmp_path: Path) -> None:
    module = tmp_path / "due.py"
    module.write_text(SOURCE, encoding="utf-8")

    def interrupted() -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mutants.survivors(module, interrupted, lambda _: None)
    assert module.read_text(encoding="utf-8") == SOURCE


def test_a_run_stopped_with_kill_puts_the_module_back_too(tmp_path: Path) -> None:
    module = tmp_path / "due.py"
    module.write_text(SOURCE, encoding="utf-8")
    before = signal.getsignal(signal.SIGTERM)

    def killed() -> bool:
        os.kill(os.getpid(), signal.SIGTERM)
        return True

    with pytest.raises(KeyboardInterrupt), mutants.terminate_interrupts():
        mutants.survivors(module, killed, lambda _: None)
    assert module.read_text(encoding="utf-8") == SOURCE
    assert signal.getsignal(signal.SIGTERM) is before


def test_it_tries_only_the_lines_it_is_given(tmp_path: Path) -> None:
    module = tmp_path / "due.py"
    module.write_text(SOURCE, encoding="utf-8")
    said: list[str] = []
    alive = mutants.survivors(module, lambda: True, said.append, only={4})
    assert [(site.kind, site.line) for site in alive] == [("arithmetic", 4)]
    assert said[0].startswith("1 mutants") and module.read_text(encoding="utf-8") == SOURCE
