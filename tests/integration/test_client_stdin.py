"""Input that is not valid UTF-8 is reported by line, never sent garbled (the terminal
client, piped and interactive). ``--send`` takes its text from the command line instead.

Loopback only (the fake server); every wait has a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from client import ChatClient
from client.exitcodes import ExitCode
from client.terminal_input import undecodable_line
from fakeserver import FakeServer, bob, server  # noqa: F401  (bob, server: fixtures)
from protocol import SendDirect, SendRoom
from ptys import Pty

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0


def test_a_line_with_undecodable_bytes_is_named_by_its_number() -> None:
    undecodable = b"caf\xe9 \xff".decode("utf-8", "surrogateescape")
    assert undecodable_line(undecodable, 3, "utf-8") == "line 3 is not valid UTF-8; not sent"
    assert undecodable_line(undecodable, 3, "UTF8") == "line 3 is not valid UTF-8; not sent"
    assert undecodable_line(undecodable, 1, "cp1252") == "line 1 is not valid cp1252; not sent"
    assert undecodable_line("café, João, 李雷, 😀", 3, "utf-8") is None


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"], ids=["utf8-locale", "c-locale"])
def test_a_pipe_with_invalid_utf8_sends_only_the_valid_lines(server: FakeServer, bob: ChatClient,
                                                             locale: str) -> None:
    script = (b"@Bob caf\xc3\xa9 ok\n"        # valid UTF-8: sent
              b"@Bob caf\xe9 latin-1\n"       # Latin-1: not sent
              b"hello room\n"
              b"/to B\xff\xfeb\n"             # not even a command is taken from it
              b"@Bob cut \xe2\x82\n")         # a sequence cut short
    env = dict(os.environ, LC_ALL=locale, LANG=locale, PYTHONIOENCODING="")
    env.pop("PYTHONUTF8", None)
    done = subprocess.run([sys.executable, "chatclient.py", "Alice", "--port", str(server.port)],
                          cwd=ROOT, input=script, capture_output=True, timeout=WAIT * 2, env=env)
    out = done.stdout.decode("utf-8")
    assert done.returncode == ExitCode.REFUSED, done.stderr  # three lines not sent
    assert done.stderr.decode("utf-8").startswith("error: 3 lines of the input did not go through")
    lines = out.splitlines()
    for number in (2, 4, 5):
        assert f"! line {number} is not valid UTF-8; not sent" in lines, out
    assert [event.text for event in server.received(SendDirect, "Alice")] == ["café ok"]
    assert [event.text for event in server.received(SendRoom, "Alice")] == ["hello room"]
    assert "\ufffd" not in out and "Traceback" not in done.stderr.decode("utf-8", "replace")


# Interactive mode without line editing, as on Windows: GNU readline, where there is one,
# drops bytes that are not text in the terminal's encoding before the client sees the line
# (what was sent is then what the screen showed).
WITHOUT_READLINE = ("import runpy, sys\n"
                    "sys.modules['readline'] = None  # importing it raises ImportError\n"
                    "sys.argv[0] = 'chatclient.py'\n"
                    "runpy.run_path('chatclient.py', run_name='__main__')\n")


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_typed_invalid_utf8_is_reported_not_sent(server: FakeServer, bob: ChatClient) -> None:
    master, slave = os.openpty()
    env = dict(os.environ, TERM="xterm", PYTHONIOENCODING="utf-8", NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-c", WITHOUT_READLINE, "Alice", "--port", str(server.port)],
                            cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    screen = Pty(master)
    try:
        screen.expect(b"[room]> ")
        screen.type(b"ol\xe1 from Latin-1\r")
        screen.expect(b"! line 1 is not valid UTF-8; not sent")
        screen.type("olá\r".encode())
        screen.expect("(room) you: olá ✓".encode())
        screen.type(b"/quit\r")
        assert proc.wait(WAIT) == 0
    finally:
        proc.kill()
        proc.wait(WAIT)
        os.close(master)
    assert [event.text for event in server.received(SendRoom, "Alice")] == ["olá"]
