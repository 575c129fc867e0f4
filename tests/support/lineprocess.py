"""A program of the project (chatserver.py, chatclient.py) driven through pipes, as a
script drives it: lines typed into its standard input, its output's lines waited for."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
# Seconds a test waits for a line.
DEADLINE = 15.0


class Process:
    """A subprocess whose stdout and stderr lines are collected by reader threads."""

    def __init__(self, *args: str, stdin: bool = True, env: dict[str, str] | None = None) -> None:
        """``python3 *args`` in the project's folder; ``env``: more environment variables."""
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, text=True, bufsize=1,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin",
                                          # the test's own client state, never the real home's
                                          "CHAT_STATE_DIR": os.environ["CHAT_STATE_DIR"],
                                          "CHAT_CONST_LOCAL": "",  # nor a developer's own settings
                                          **(env or {})})
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match:
        """The first line (seen before or arriving) matching ``pattern``."""
        for line in self.seen:
            if match := re.search(pattern, line):
                return match
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line matching {pattern!r} within {timeout} s; saw {self.seen[-10:]}")

    def type(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        stop_process(self.proc)
