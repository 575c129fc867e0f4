"""System calls and bytes per direct message, the bare relay and the chat server in memory.

Run from the repository root (perf needed, and the right to attach it: root, or
``kernel.perf_event_paranoid`` at most 1)::

    python3 -m bench.syscalls                      # 1,000 clients, 60,000 messages each
    python3 -m bench.syscalls --messages 20000 --kinds memory

The benchmark's throughput phase (bench/benchmark.py: the same generator, clients and
frames) against each server, with ``perf stat`` counting the server's system calls by
their tracepoints over the phase only (no ptrace: the server runs at its own speed, so the
frames a read finds and a loop turn carries are those of the benchmark) and its context
switches (the times it slept: none for a server at saturation), and the server's
sockets' byte counters (``ss -ti``: ``bytes_received`` and ``bytes_acked``) read before and
after it. Every figure is divided by the messages of the phase. It says what instruction
counts (bench/instructions.py) leave out: the kernel's side of a message, where a ``send``
per frame costs a system call and a wake-up of the reader that a ``send`` per connection
and loop turn does not. The counts depend a little on timing (how many frames each read
finds), unlike instructions, so compare runs side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from bench.benchmark import SERVER_KINDS, Bench, connect_clients, plan_pinning, throughput_phase


def socket_bytes(port: int) -> tuple[int, int]:
    """Bytes the server's connected sockets on ``port`` received and sent (acked by the
    peer) so far, summed over them, from ``ss -ti``."""
    done = subprocess.run(["ss", "-tinH", "state", "established", f"( sport = :{port} )"],
                          capture_output=True, text=True, check=True)
    received = sum(int(n) for n in re.findall(r"\bbytes_received:(\d+)", done.stdout))
    sent = sum(int(n) for n in re.findall(r"\bbytes_acked:(\d+)", done.stdout))
    return received, sent


# The calls a server's loop makes (anything else shows in "system calls", the total, only).
CALLS = ("recvfrom", "sendto", "epoll_wait", "epoll_pwait", "epoll_ctl", "futex", "read", "write", "getpid",
         "sendmsg", "recvmsg", "getsockopt", "setsockopt", "ioctl")
NOT_CALLS = {"switches", "received", "sent", "rate", "user", "system", "errors"}


def user_system(pid: int) -> tuple[float, float]:
    """User and kernel CPU seconds of process ``pid`` so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def perf_counts(path: str) -> dict[str, int]:
    """``perf stat -x,``'s counts by system call name."""
    counts: dict[str, int] = {}
    with open(path) as lines:
        for line in lines:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("syscalls:sys_enter_"):
                name = fields[2].removeprefix("syscalls:sys_enter_")
                counts[name] = int(fields[0]) if fields[0].isdigit() else 0
            elif len(fields) > 2 and fields[2] == "raw_syscalls:sys_enter":
                counts["all"] = int(fields[0]) if fields[0].isdigit() else 0
            elif len(fields) > 2 and fields[2] == "sched:sched_switch":
                counts["switches"] = int(fields[0]) if fields[0].isdigit() else 0
    return counts


async def measure(kind, args: argparse.Namespace, pinning) -> dict[str, float]:
    bench = Bench(kind.ack)
    with tempfile.TemporaryDirectory(prefix="chat-syscalls-") as data_dir:
        server = kind.launch(data_dir, pinning.server)
        try:
            clients, _ = await connect_clients(server.port, args.clients, bench, "user")
            # Warm up (the first messages build what every later one reuses), then count.
            await throughput_phase(clients, bench, args.warmup, args.window)
            events = ",".join(["raw_syscalls:sys_enter", "sched:sched_switch", *(f"syscalls:sys_enter_{c}" for c in CALLS)])
            out = os.path.join(data_dir, "perf.txt")
            received, sent = socket_bytes(server.port)
            perf = subprocess.Popen(["perf", "stat", "-x,", "-o", out, "-e", events, "-p", str(server.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(0.3)  # perf's start: a phase counted from its middle would count fewer calls
            times = user_system(server.proc.pid)
            elapsed, _ = await throughput_phase(clients, bench, args.messages, args.window)
            user, system = (after - before for after, before in zip(user_system(server.proc.pid), times))
            perf.send_signal(signal.SIGINT)
            try:
                perf.wait(10)
            except subprocess.TimeoutExpired:
                perf.kill()  # ours, by its PID
                raise
            received, sent = (after - before for after, before in zip(socket_bytes(server.port), (received, sent)))
            for client in clients:
                client.transport.close()
        finally:
            server.stop()
        counts = perf_counts(out)
    n = args.messages
    figures = {name: count / n for name, count in counts.items()}
    figures.update(received=received / n, sent=sent / n, rate=n / elapsed, user=user / n * 1e6,
                   system=system / n * 1e6, errors=len(bench.errors))
    return figures


async def run(args: argparse.Namespace) -> int:
    pinning = plan_pinning(args.pin)
    kinds = [k for k in SERVER_KINDS if k.label in args.kinds]
    results = {}
    for _ in range(args.repeat):
        for kind in kinds:
            results.setdefault(kind.label, []).append(await measure(kind, args, pinning))
    print(f"per direct message, throughput phase ({args.clients:,} clients, window {args.window}, "
          f"{args.messages:,} messages after {args.warmup:,}; {pinning.note}):")
    labels = [f"{label} #{i + 1}" for label, rounds in results.items() for i in range(len(rounds))]
    rows = [figures for rounds in results.values() for figures in rounds]
    print(f"{'':24}" + "".join(f"{label:>14}" for label in labels))
    calls = sorted({name for row in rows for name, value in row.items()
                    if name not in NOT_CALLS and value >= 0.0005}, key=lambda name: -rows[0].get(name, 0))
    for name, title, fmt in [("all", "system calls", ".2f"), *((c, f"  {c}", ".3f") for c in calls if c != "all"),
                             ("switches", "context switches", ".3f"),
                             ("received", "bytes read", ".1f"), ("sent", "bytes written", ".1f"),
                             ("rate", "messages/s", ",.0f"), ("user", "server CPU µs, user", ".1f"),
                             ("system", "server CPU µs, kernel", ".1f"),
                             ("errors", "errors", ".0f")]:
        print(f"{title:24}" + "".join(f"{row.get(name, 0):>14{fmt}}" for row in rows))
    return 1 if any(row["errors"] for row in rows) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--warmup", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--kinds", nargs="+", default=["relay", "memory"], choices=[k.label for k in SERVER_KINDS])
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    args = parser.parse_args(argv)
    if shutil.which("perf") is None:
        print("perf is not installed: no system call counts (apt-get install linux-perf)", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.clients + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.clients + 100), hard))
    return asyncio.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
