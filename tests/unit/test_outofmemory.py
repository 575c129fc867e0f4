"""The line a server out of memory leaves in the log (server/outofmemory.py): what an
operator should do, said where README.md's "out of memory" sentence says it."""

from __future__ import annotations

import logging

import pytest

from server import outofmemory


def test_the_out_of_memory_line_names_the_settings_file_an_operator_edits(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """It said "MAX_CONNECTIONS in const.py", which README tells operators not to edit
    (their settings go in const_local.py, which survives a git pull)."""
    exits = []
    monkeypatch.setattr(outofmemory.os, "_exit", exits.append)
    with caplog.at_level(logging.CRITICAL, logger="chat.server"):
        outofmemory.give_up("a test")
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert exits == [outofmemory.EXIT_OUT_OF_MEMORY]
    assert "MAX_CONNECTIONS in const_local.py" in line and "const.py)" not in line, line
