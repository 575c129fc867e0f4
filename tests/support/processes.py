"""Stopping the processes a test started: by PID, politely first, never waiting for ever."""

from __future__ import annotations

import os
import signal
import subprocess

from waits import wait_until


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


def thread_states(pid: int) -> dict[int, str]:
    """The state letter (R, S, T, ...) of each thread of process ``pid``, from /proc."""
    states = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as stat:
                states[int(tid)] = stat.read().rsplit(")", 1)[1].split()[0]
        except OSError:  # the thread ended meanwhile
            continue
    return states


def pause_process(pid: int, timeout: float = 10.0) -> None:
    """SIGSTOP ``pid`` and return once every one of its threads is stopped (state T).

    kill() returns before the stop took effect: Linux wakes one thread to take the stop,
    and the others run on until that thread has been scheduled and stopped them all. On a
    loaded machine a receiver thread can meanwhile read, and answer, what was sent after
    kill() returned (tests/integration/test_gui_sleep.py: a receipt from a "stopped"
    window). The process's own /proc/PID/stat shows only its main thread."""
    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: all(state in ("T", "t") for state in thread_states(pid).values()), timeout,
               f"every thread of process {pid} stopped")
