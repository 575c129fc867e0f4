"""Ctrl-C before a program is ready ends it quietly: no traceback, ended by SIGINT (the
shell's status 130, as for any interrupted program), wherever it lands: while Python
imports the program's modules (a slow disk, a first run compiling them all), or in main()
before the server or the client takes the signal for itself (then Ctrl-C stops it as
README.md says, with a goodbye).

The interrupt is made to land at a chosen place: the program runs under a prelude that
sends SIGINT to its own process when a named module is about to be imported
(``import:NAME``) or a named function is called (``call:NAME``); Python raises
KeyboardInterrupt there, as it does for a real Ctrl-C. The server is given port 0 and
no disk, in case it is not interrupted (the prelude then says so, and the test fails).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0

PRELUDE = """
import os, runpy, signal, sys
kind, name = {where!r}.split(":")
sent = []

def interrupt():
    sent.append(True)
    os.kill(os.getpid(), signal.SIGINT)

class Interrupter:
    def find_spec(self, fullname, path=None, target=None):
        if kind == "import" and fullname == name and not sent:
            interrupt()
        return None

def profile(frame, event, arg):
    if event == "call" and frame.f_code.co_name == name and not sent:
        sys.setprofile(None)
        interrupt()

sys.meta_path.insert(0, Interrupter())
if kind == "call":
    sys.setprofile(profile)
sys.argv = [{program!r}, *{args!r}]
try:
    runpy.run_path({program!r}, run_name="__main__")
finally:
    sys.setprofile(None)
    if not sent:
        sys.stderr.write("the interrupt was not sent: {where} was never reached\\n")
"""

SERVER = ("chatserver.py", ["--host", "127.0.0.1", "--port", "0", "--web-port", "0", "--memory"])
# --send to a port nobody listens on: it fails at once if not interrupted.
CLIENT = ("chatclient.py", ["Ana", "127.0.0.1:9", "--send", "Bia", "oi"])


@pytest.mark.parametrize(("program", "where"), [
    (SERVER, "import:argparse"),                  # the first module after the version check
    (SERVER, "import:const"),                     # the settings (and const_local.py)
    (SERVER, "import:server"),                    # the server's own package
    (SERVER, "import:web.websocket.handshake"),   # the last module chatserver.py imports
    (SERVER, "call:parse_args"),                  # main(), before the server runs
    (SERVER, "import:resource"),                  # main(): raise_file_limit
    (SERVER, "call:config_from"),
    (CLIENT, "import:argparse"),
    (CLIENT, "import:const"),
    (CLIENT, "import:client.servers"),            # the last module chatclient.py imports
    (CLIENT, "call:build_parser"),                # main(), before its own Ctrl-C handling
    (CLIENT, "call:positionals"),
])
def test_ctrl_c_before_the_program_is_ready_ends_it_without_a_traceback(program, where) -> None:
    name, args = program
    done = subprocess.run([sys.executable, "-c", PRELUDE.format(where=where, program=name, args=args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=WAIT, stdin=subprocess.DEVNULL)
    assert "the interrupt was not sent" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
    assert done.returncode == -signal.SIGINT, (done.returncode, done.stderr)  # ended by SIGINT: the shell says 130
