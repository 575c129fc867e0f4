"""The benchmark still runs and reports sane figures (``python3 -m bench.benchmark --smoke``),
so that it cannot rot between the times someone measures with it.

It starts real servers (in memory and durable) as subprocesses on loopback and drives
them with its own clients; the figures themselves are not judged here, only that each
phase ran, finished without errors and printed numbers that make sense.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def numbers(pattern: str, text: str) -> list[tuple[float, ...]]:
    """Every match of ``pattern`` in ``text``, its groups as floats (thousands commas removed)."""
    return [tuple(float(group.replace(",", "")) for group in match) if isinstance(match, tuple)
            else (float(match.replace(",", "")),) for match in re.findall(pattern, text)]


@pytest.mark.timeout_seconds(120)  # about 6 s idle; a loaded CI machine is much slower
def test_the_benchmark_smoke_run_reports_every_phase() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.benchmark", "--smoke"], cwd=ROOT, capture_output=True,
                          text=True, timeout=100, stdin=subprocess.DEVNULL)
    out = done.stdout
    assert done.returncode == 0, f"{out}\n{done.stderr}"
    assert "Traceback" not in done.stderr and "problems:" not in out, f"{out}\n{done.stderr}"
    assert "== server in memory" in out and "== server durable" in out
    rates = numbers(r"([\d,]+) messages/s with delivered acks", out)
    assert len(rates) == 2 and all(rate > 0 for (rate,) in rates), out
    cpu = numbers(r"(\d+) µs per message", out)
    assert len(cpu) == 2 and all(us > 0 for (us,) in cpu), out
    latencies = numbers(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms", out)
    assert len(latencies) == 4 and all(0 < p50 <= p99 for p50, p99 in latencies), out
    offered = numbers(r"latency at an offered 200 messages/s for 0.5 s \((\d+) messages\)", out)
    assert len(offered) == 2 and all(sent > 0 for (sent,) in offered), out
    assert re.search(r"durability costs -?\d+% of the in-memory throughput", out), out
    peaks = numbers(r"server RSS: ([\d.]+) MiB at start, peak ([\d.]+) MiB", out)
    assert len(peaks) == 2 and all(0 < start <= peak for start, peak in peaks), out
    idle = re.search(r"idle: 50 logged-in connections: server RSS [\d.]+ -> [\d.]+ MiB, (-?[\d,]+) bytes per "
                     r"connection", out)
    assert idle, out
