"""The server under a shell's job control, as a teacher runs it: ``python3 chatserver.py &``,
or started in the foreground, then Ctrl-Z and ``bg``. An interactive bash on a
pseudo-terminal of its own (its controlling terminal, so that it has job control), the
server on 127.0.0.1 port 0 started from it; a wire-level client logs in. Bounded waits
only; at the end, whatever happened, the server is killed by its pid and the shell hung up
(which hangs up its jobs too)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import termios
from collections.abc import Iterator

import pytest

from logins import wire_login
from ptys import ROOT, Pty

SERVER = f"{sys.executable} chatserver.py --host 127.0.0.1 --port 0 --web-port 0 --memory"


class Shell:
    """An interactive bash on a pseudo-terminal; ``screen`` reads what it shows."""

    def __init__(self, bash: subprocess.Popen[bytes], screen: Pty) -> None:
        self.bash = bash
        self.screen = screen
        self.server_pid: int | None = None  # killed at the end

    def run(self, line: str) -> None:
        self.screen.type(line.encode() + b"\n")

    def start_server(self, suffix: str = "") -> int:
        """Start the server with ``suffix`` after its command (``&``, or nothing); its port."""
        before = len(self.screen.seen)
        self.run(f"{SERVER} {suffix}")
        self.screen.expect(b"listening on 127.0.0.1:")
        self.screen.expect(b"only this machine can connect")
        # The log's last line at start: standard input is the shell's terminal, where the
        # operator can type the console's commands (server/console.py console_hint).
        self.screen.expect(b"INFO type /help here for the console's commands (/quit stops the server)")
        found = re.search(rb"listening on 127\.0\.0\.1:(\d+)", self.screen.seen[before:])
        assert found, self.screen.seen
        return int(found[1])

    def note_server_pid(self) -> None:
        """Ask the shell for its job's pid (the server in the background or stopped), to be
        killed at the end; a server in the foreground dies with the shell's terminal."""
        before = len(self.screen.seen)
        self.run('echo "server""pid" $(jobs -p) "e""nd"')  # (quoted: its echo as typed differs)
        self.screen.expect(b" end\r\n", timeout=10)
        found = re.search(rb"serverpid (\d+) end\r\n", self.screen.seen[before:])
        assert found, self.screen.seen[before:]
        self.server_pid = int(found[1])


@contextlib.contextmanager
def shell() -> Iterator[Shell]:
    bash = shutil.which("bash")
    assert bash, "bash runs the server as a job of an interactive shell"
    master, slave = os.openpty()
    env = dict(os.environ, PS1="$ ", TERM="dumb", LANGUAGE="en", LC_ALL="C.UTF-8", PYTHONIOENCODING="utf-8")

    def controlling_terminal() -> None:  # (after start_new_session's setsid)
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([bash, "--norc", "--noprofile", "-i"], cwd=ROOT, stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True, preexec_fn=controlling_terminal)
    os.close(slave)
    it = Shell(proc, Pty(master))
    try:
        it.screen.expect(b"$ ")
        yield it
    finally:
        if it.server_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(it.server_pid, signal.SIGKILL)
        proc.send_signal(signal.SIGHUP)  # an interactive bash passes it on to every job, then exits
        try:
            proc.wait(10)
        finally:
            proc.kill()
            proc.wait(10)
            os.close(master)


def logs_in(port: int, name: str) -> bool:
    """A guest logs in and out: the server answers."""
    with wire_login("127.0.0.1", port, name):
        return True


@pytest.mark.timeout_seconds(60)
def test_a_server_started_in_the_background_serves_and_its_console_works_after_fg() -> None:
    """``python3 chatserver.py &``: the console's first read from the background got SIGTTIN,
    which stopped the whole server ("Stopped (tty input)"): it listened, and every client's
    login hung. Now it serves; brought back with ``fg``, its console answers."""
    with shell() as sh:
        port = sh.start_server("&")
        sh.note_server_pid()
        with wire_login("127.0.0.1", port, "Zoé"):
            sh.run("fg")
            sh.screen.expect(b"chatserver.py")
            sh.run("/who")
            sh.screen.expect(b"online (1):")
        sh.run("/quit")
        sh.screen.expect(b"INFO stopped")


@pytest.mark.timeout_seconds(60)
def test_a_server_suspended_with_ctrl_z_then_sent_on_with_bg_serves() -> None:
    """Started in the foreground, then Ctrl-Z and ``bg``: the console's pending read was
    taken up again in the background, and SIGTTIN stopped the server again at once."""
    with shell() as sh:
        port = sh.start_server()
        assert logs_in(port, "Ana")
        sh.screen.type(b"\x1a")  # Ctrl-Z
        sh.screen.expect(b"Stopped")
        sh.note_server_pid()
        sh.run("bg")
        sh.screen.expect(b"chatserver.py --host 127.0.0.1 --port 0 --web-port 0 --memory &")
        assert logs_in(port, "Bia")
        sh.run("fg")
        sh.screen.expect(b"chatserver.py --host 127.0.0.1 --port 0 --web-port 0 --memory\r\n")
        sh.run("/quit")
        sh.screen.expect(b"INFO stopped")
