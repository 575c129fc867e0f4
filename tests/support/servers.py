"""The one way tests start a real chat server: in this process (a thread) or as a process.

Both listen on 127.0.0.1, port 0 (the system picks a free port; read it back from
``.port``) and are stopped when their ``with`` block ends, whatever happened inside it::

    with in_thread() as server:                      # ServerThread, in-memory database
        ...server.host, server.port...
    with in_thread(tmp_path, fast=True, message_ttl=1) as server:   # data folder, options
        ...
    with ServerProcess("--data-dir", str(tmp_path)) as proc:        # chatserver.py
        ...proc.port, proc.stop() (SIGTERM, exit status), proc.kill() (a crash)...
    result = run_chatserver("--data-dir", "missing")   # to its end: start-up failures
    proc, port = start_server_process()   # a bare Popen whose stderr the test reads itself

Options are :class:`server.ServerConfig` fields (``in_thread``) or chatserver.py's
arguments (``ServerProcess``). ``fast=True`` lifts the rate limits, for tests that send
fast on purpose. The ``server`` fixture of tests/conftest.py is ``in_thread()``.
"""

from __future__ import annotations

import os
import queue
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from server import ServerConfig, ServerThread

ROOT = Path(__file__).resolve().parents[2]
# Generous rate limits: for tests that send fast on purpose.
FAST = dict(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=1e6, burst_per_address=1e6)


def server_config(data_dir: Path | None = None, *, fast: bool = False, **overrides: object) -> ServerConfig:
    """A ServerConfig on 127.0.0.1, port 0; ``data_dir`` None: the database in memory."""
    return ServerConfig(host="127.0.0.1", port=0, data_dir=data_dir,  # type: ignore[arg-type]
                        **{**(FAST if fast else {}), **overrides})


def in_thread(data_dir: Path | None = None, *, fast: bool = False, **overrides: object) -> ServerThread:
    """A server to run in a thread of this process: ``with in_thread(...) as server`` starts
    it (returns once it listens) and stops it as a real shutdown would."""
    return ServerThread(server_config(data_dir, fast=fast, **overrides))


class ServerProcess:
    """``chatserver.py`` in a subprocess on 127.0.0.1, port 0, without the web client;
    its standard error (the log) is collected by a thread (``lines``, ``output()``), its
    standard output (the console's answers that stay out of the log) by another
    (``console``). ``with`` waits until it listens (``.port``) and kills it at the end if
    it still runs."""

    def __init__(self, *args: str, file_limit: int | None = None) -> None:
        """``args``: chatserver.py's arguments; ``file_limit``: the server's open-file limit
        (RLIMIT_NOFILE, soft and hard)."""
        def limit_files() -> None:
            import resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (file_limit, file_limit))

        self.proc = subprocess.Popen(
            [sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0", "--web-port", "0", *args],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=limit_files if file_limit is not None else None)
        self.lines: list[str] = []
        self._ports: queue.Queue[int | None] = queue.Queue()
        self.console: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=lambda: self.console.extend(self.proc.stdout), daemon=True).start()
        self.host = "127.0.0.1"
        self.port = 0

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            match = re.search(r"listening on \S+:(\d+)", line)
            if match:
                self._ports.put(int(match.group(1)))
        self._ports.put(None)

    def wait_listening(self, timeout: float = 15) -> int:
        """The port, once the server says it listens; AssertionError (with its output) if
        it ends or stays silent for ``timeout`` seconds."""
        try:
            port = self._ports.get(timeout=timeout)
        except queue.Empty:
            port = None
        if port is None:
            self.kill()
            raise AssertionError(f"chatserver.py did not start:\n{self.output()}")
        self.port = port
        return port

    def kill(self) -> None:
        """SIGKILL: no goodbye, no final commit (a crash)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> int:
        """A clean shutdown (SIGTERM); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def output(self) -> str:
        self._reader.join(10)
        return "".join(self.lines)

    def __enter__(self) -> ServerProcess:
        self.wait_listening()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.proc.stdin.close()
        self._reader.join(10)


def start_server_process(*args: str) -> tuple[subprocess.Popen, int]:
    """chatserver.py (database in memory) as a bare Popen and its port, for tests that
    write to its console (``proc.stdin``) and read its standard error themselves; stop it
    with processes.stop_process."""
    proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0", "--memory",
                             "--web-port", "0", *args],
                            cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, wait_for_listening(proc)


def wait_for_listening(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """The port of the "listening on HOST:PORT" line ``proc`` writes to stderr; kills
    ``proc`` and raises AssertionError if none came within ``timeout`` seconds."""
    # Read the raw pipe under select(): a readline() would wait forever for a server that
    # hangs before saying anything. (Nothing goes through proc.stderr's own buffer here,
    # so a later proc.stderr.read() gets the rest.)
    deadline = time.monotonic() + timeout
    said = b""
    while True:
        match = re.search(rb"listening on \S+:(\d+).*\n", said)  # a whole line: all of the port
        if match:
            return int(match.group(1))
        left = deadline - time.monotonic()
        chunk = b""
        if left > 0 and select.select([proc.stderr], [], [], left)[0]:
            chunk = os.read(proc.stderr.fileno(), 4096)
        if not chunk:  # the time is up, or the process closed its stderr (it ended)
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"the server did not start within {timeout:g} s; it said: "
                                 f"{said.decode(errors='replace')!r}")
        said += chunk


def run_chatserver(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run chatserver.py to its end (for start-up failures)."""
    return subprocess.run([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0",
                           "--web-port", "0", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> str:
    """A chatserver.py that refused to start did so as the project promises: status 1, one
    line on standard error naming the problem (each of ``words``), no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]
