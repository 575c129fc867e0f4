"""The server console's reads under job control (server/console.py ``_next_line``): a read
refused in the background (EIO, SIGTTIN being ignored) waits for ``fg`` and reads again;
any other failure ends the console. No terminal here: a stand-in stream and job state."""

from __future__ import annotations

import errno

import pytest

from server import console


class Refusing:
    """A console stream whose reads fail with ``errors`` (OSErrors) in turn, then give
    ``line``."""

    def __init__(self, errors: list[OSError], line: str = "/quit\n") -> None:
        self.errors, self.line = list(errors), line

    def readline(self) -> str:
        if self.errors:
            raise self.errors.pop(0)
        return self.line


def test_a_read_refused_in_the_background_then_fg_before_the_look_reads_again(monkeypatch) -> None:
    """Seen in CI (test_console_job_control.py, Ctrl-Z, bg, then fg at once): the read got
    EIO in the background, ``fg`` came before the console looked, so it took the EIO for a
    console gone and ended: the /quit typed next was never read."""
    monkeypatch.setattr(console, "_in_the_background", lambda stream: False)  # fg already
    stream = Refusing([OSError(errno.EIO, "Input/output error")])
    assert console._next_line(stream) == "/quit\n"


def test_a_read_refused_in_the_background_waits_for_fg(monkeypatch) -> None:
    looks = iter([True, True, False])  # in the background for two looks, then fg
    monkeypatch.setattr(console, "_in_the_background", lambda stream: next(looks))
    monkeypatch.setattr(console.time, "sleep", lambda seconds: None)
    assert console._next_line(Refusing([OSError(errno.EIO, "Input/output error")])) == "/quit\n"


def test_a_console_whose_terminal_keeps_refusing_in_the_foreground_ends(monkeypatch) -> None:
    """A terminal hung up answers every read EIO: once is the race above, twice in a row in
    the foreground is the end (no spinning)."""
    monkeypatch.setattr(console, "_in_the_background", lambda stream: False)
    eio = OSError(errno.EIO, "Input/output error")
    with pytest.raises(OSError):
        console._next_line(Refusing([eio, eio, eio]))


def test_another_failure_ends_the_console(monkeypatch) -> None:
    monkeypatch.setattr(console, "_in_the_background", lambda stream: False)
    with pytest.raises(OSError):
        console._next_line(Refusing([OSError(errno.EBADF, "Bad file descriptor")]))
