"""Stopping the processes a test started: by PID, politely first, never waiting for ever."""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """SIGTERM ``proc`` if it still runs, then SIGKILL if it has not exited within
    ``timeout`` seconds; returns once it has been reaped (or raises TimeoutExpired)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
