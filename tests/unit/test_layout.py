"""The tests' layout keeps its promises: tests/unit starts nothing (its conftest refuses),
every test file is in unit/ or integration/, and test file names are unique (pytest's
default import mode needs that)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("what", ["connect", "bind"])
def test_a_unit_test_cannot_connect_or_bind_a_socket(what: str) -> None:
    with socket.socket() as sock, pytest.raises(AssertionError, match="belongs in tests/integration"):
        getattr(sock, what)(("127.0.0.1", 9))


def test_a_unit_test_cannot_start_a_process() -> None:
    with pytest.raises(AssertionError, match="belongs in tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"], timeout=10)


def test_a_socketpair_still_works_in_a_unit_test() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"


def test_every_test_file_is_a_unit_or_an_integration_test_with_a_unique_name() -> None:
    files = sorted(TESTS.rglob("test_*.py"))
    misplaced = [str(f.relative_to(TESTS)) for f in files if f.parent.name not in ("unit", "integration")]
    assert not misplaced, f"put these in tests/unit or tests/integration: {misplaced}"
    names = [f.name for f in files]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
