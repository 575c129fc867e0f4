"""A pseudo-terminal's master side for tests of the interactive client (os.openpty()): read
with deadlines, typed into."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

WAIT = 10.0
ROOT = Path(__file__).resolve().parents[2]


class Pty:
    """The master side of a pseudo-terminal, read with deadlines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.seen = b""

    def expect(self, wanted: bytes, timeout: float = WAIT) -> None:
        """Read until ``wanted`` has appeared; AssertionError (with the screen so far) if it
        does not within ``timeout`` seconds or the terminal closes first."""
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{wanted!r} never appeared; screen so far: {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # EIO: the other side is closed
                    chunk = b""
                assert chunk, f"{wanted!r} never appeared; the terminal closed: {self.seen!r}"
                self.seen += chunk

    def quiet(self, period: float = 0.3, timeout: float = WAIT) -> None:
        """Read until nothing more comes for ``period`` seconds (the other side is idle, e.g.
        readline has handled every key typed); AssertionError if that takes over ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the terminal never went quiet; screen so far: {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], min(period, remaining))
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                return  # closed: nothing more will come
            if not chunk:
                return
            self.seen += chunk

    def type(self, text: bytes) -> None:
        os.write(self.fd, text)


@contextlib.contextmanager
def on_a_pty(*args: str, lang: str = "C.UTF-8",
             columns: int | None = None) -> Iterator[tuple[subprocess.Popen[bytes], Pty]]:
    """``chatclient.py ARGS`` on a pseudo-terminal of its own, its screen to read; killed
    at the end if it is still running. ``columns``: its width (None: none said, which the
    client takes for 80), for a test that reads long lines whole (the client wraps a line
    wider than its terminal at its words)."""
    master, slave = os.openpty()
    if columns is not None:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = dict(os.environ, TERM="xterm", PYTHONIOENCODING="utf-8", NO_COLOR="1", LANG=lang, LANGUAGE="",
               LC_ALL="", LC_MESSAGES="")
    proc = subprocess.Popen([sys.executable, "chatclient.py", *args], cwd=ROOT, stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    try:
        yield proc, Pty(master)
    finally:
        proc.kill()
        proc.wait(WAIT)
        os.close(master)
