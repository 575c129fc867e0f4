"""bench/syscalls.py, the system calls and bytes per message of each server, still runs and
counts what it says: real servers on loopback, perf attached to each over its throughput
phase. Skipped where perf is missing or may not attach to a process (not root and
``kernel.perf_event_paranoid`` above 1)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.syscalls import perf_counts

ROOT = Path(__file__).resolve().parents[2]


def perf_may_attach() -> bool:
    if shutil.which("perf") is None:
        return False
    done = subprocess.run(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_getppid", "--", sys.executable, "-c",
                           "import os; os.getppid()"], capture_output=True, text=True, timeout=30)
    return done.returncode == 0 and "getppid" in done.stderr and "<not" not in done.stderr


def test_perf_s_counts_are_read_by_system_call_name(tmp_path) -> None:
    out = tmp_path / "perf.txt"
    out.write_text("# started on Wed Dec  2 15:00:00 2026\n\n"
                   "98765,,raw_syscalls:sys_enter,2000000,100.00,,\n"
                   "12,,sched:sched_switch,2000000,100.00,,\n"
                   "60000,,syscalls:sys_enter_sendto,2000000,100.00,,\n"
                   "<not counted>,,syscalls:sys_enter_epoll_wait,0,0.00,,\n")
    assert perf_counts(str(out)) == {"all": 98765, "switches": 12, "sendto": 60000, "epoll_wait": 0}


@pytest.mark.timeout_seconds(120)
def test_the_system_call_measure_counts_each_server_s_sends_reads_and_bytes() -> None:
    if not perf_may_attach():
        pytest.skip("perf is missing or may not attach here")
    done = subprocess.run([sys.executable, "-m", "bench.syscalls", "--clients", "20", "--messages", "2000",
                           "--warmup", "200"], cwd=ROOT, capture_output=True, text=True, timeout=100,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    def row(title: str) -> list[float]:
        found = re.search(rf"^{re.escape(title)}\s+(.*)$", done.stdout, re.MULTILINE)
        assert found, f"no row {title!r} in\n{done.stdout}"
        return [float(value.replace(",", "")) for value in found.group(1).split()]

    relay, memory = row("  sendto")
    # The relay writes each of a message's three frames (accepted, dm, delivered) with its
    # own send(); the chat server one send() per connection and loop turn, so fewer.
    assert relay == pytest.approx(3.0, abs=0.05)
    assert 0.3 < memory < relay
    assert all(value > 0 for value in row("  recvfrom"))
    # The three frames out are about 200 bytes a message for both (compact JSON).
    assert all(150 < value < 300 for value in row("bytes written"))
    assert all(value > 0 for value in row("bytes read"))
    assert row("errors") == [0, 0]
