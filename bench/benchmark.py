"""Benchmark the chat server: throughput, delivered-ack latency, memory per connection.

Run from the repository root::

    python3 -m bench.benchmark                  # the full run (about a minute)
    python3 -m bench.benchmark --quick          # smaller figures, for a smoke test
    python3 -m bench.benchmark --smoke          # tiny: every phase runs (the test suite's check)

It starts ``chatserver.py`` as a subprocess on 127.0.0.1 (a free port), so the server's
memory is its own, then drives it from this process with asyncio clients built on the same
sans-I/O core. Three phases:

1. throughput: N clients (default 1,000) each keep ``--window`` direct messages in flight
   to random other clients and wait for each one's *delivered* ack; prints messages per
   second and delivered-ack latency p50/p99, and the server's peak RSS;
2. latency: the same clients offer a fixed rate (default 2,000 messages per second) in
   total, open loop; prints delivered-ack latency p50/p99/max at that load;
3. idle: a fresh server, 10,000 logged-in idle clients; prints server RSS per connection.

The load generator shares the machine with the server, so on a 2-core machine the two
compete; the figures are for the whole system, not the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import const
from protocol import (
    Accepted,
    Connection,
    Delivered,
    DirectMessage,
    ErrorReply,
    Hello,
    OutcomeAck,
    Receipt,
    Role,
    SendDirect,
    Welcome,
)

ROOT = Path(__file__).resolve().parent.parent


# --- The server under test --------------------------------------------------------------


class ServerProcess:
    """``chatserver.py`` in a subprocess on a free loopback port; stopped by its PID."""

    def __init__(self, durable: bool, data_dir: str) -> None:
        # BENCH_PROFILE=FILE runs the server under cProfile, written to FILE when it stops.
        profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
        self.proc = subprocess.Popen(
            [sys.executable, *profile, str(ROOT / "chatserver.py"), "--host", "127.0.0.1", "--port", "0", "--web-port", "0",
             # The benchmark measures capacity, not abuse: all its clients come from
             # 127.0.0.1 and each sends as fast as acks come back, so lift the rate limits.
             "--max-connections-per-address", "100000", "--rate-per-address", "1e9",
             "--rate-per-connection", "1e9",
             *(["--data", data_dir] if durable else ["--memory"])],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = 0
        started = threading.Event()

        def read_log() -> None:  # keep draining so the server never blocks on its log
            for line in self.proc.stderr:
                match = re.search(r"listening on \S+:(\d+)", line)
                if match and not started.is_set():
                    self.port = int(match.group(1))
                    started.set()
                elif " ERROR " in line or "Traceback" in line:
                    print("server:", line.rstrip(), file=sys.stderr)

        threading.Thread(target=read_log, daemon=True).start()
        if not started.wait(15):
            self.stop()
            raise RuntimeError("the server did not start")

    def memory_kib(self, field: str) -> int:
        """A field of /proc/PID/status in KiB: VmRSS now, VmHWM the peak."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- Load-generating clients ------------------------------------------------------------


class BenchClient(asyncio.Protocol):
    """A client that logs in, confirms every DM it gets, and times its own DMs."""

    def __init__(self, name: str, bench: Bench, idle: bool = False) -> None:
        self.name = name
        # An idle client skips parsing once logged in: ten thousand of them would otherwise
        # spend the load generator's CPU decoding each other's join notices.
        self.idle = idle
        self.bench = bench
        self.conn = Connection(Role.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.welcomed = asyncio.get_running_loop().create_future()
        self.sent_at: dict[str, float] = {}
        self.counter = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.conn.send(Hello("hello", self.name, const.PROTOCOL_VERSION)))

    def data_received(self, data: bytes) -> None:
        if self.idle and self.welcomed.done():
            if b'"type":"ping"' in data:
                self.transport.write(b'{"type":"pong","token":"heartbeat"}\n')
            return
        conn = self.conn
        conn.receive_data(data)
        out = []
        for event in conn.events():
            kind = type(event)
            if kind is DirectMessage:
                out.append(conn.send(Receipt(event.msg_id)))
            elif kind is Delivered:
                out.append(conn.send(OutcomeAck(event.msg_id)))  # as every client must
                started = self.sent_at.pop(event.request_id)
                self.bench.delivered(self, time.perf_counter() - started)
            elif kind is Accepted:
                pass
            elif kind is Welcome:
                self.welcomed.set_result(None)
            elif kind is ErrorReply:
                self.bench.failed(self, event)
        pongs = conn.data_to_send()
        if pongs:
            out.append(pongs)
        if out:
            self.transport.write(b"".join(out))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"{self.name}: connection lost before welcome"))
        self.bench.lost(self)

    def send_to(self, other: str) -> None:
        self.counter += 1
        request_id = str(self.counter)
        self.sent_at[request_id] = time.perf_counter()
        self.transport.write(self.conn.send(SendDirect(request_id, other, "benchmark message " + request_id)))


class Bench:
    """Counts outcomes; the phases decide what to send next."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.lost_clients = 0
        self.closing = False  # set before the benchmark closes its own clients
        self.on_delivered = None

    def delivered(self, client: BenchClient, latency: float) -> None:
        self.latencies.append(latency)
        if self.on_delivered is not None:
            self.on_delivered(client)

    def failed(self, client: BenchClient, error: ErrorReply) -> None:
        self.errors.append(f"{client.name}: {error.code}: {error.message}")
        if error.request_id is not None and client.sent_at.pop(error.request_id, None) is not None:
            # A refused message still ends: count it so a phase cannot wait for it forever.
            self.latencies.append(float("nan"))
            if self.on_delivered is not None:
                self.on_delivered(client)

    def lost(self, client: BenchClient) -> None:
        if not self.closing:
            self.lost_clients += 1


async def connect_clients(port: int, count: int, bench: Bench, prefix: str, idle: bool = False) -> list[BenchClient]:
    """Connect and log in ``count`` clients, at most 200 handshakes at a time."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(200)
    clients: list[BenchClient] = []

    async def one(i: int) -> None:
        async with gate:
            client = BenchClient(f"{prefix}{i}", bench, idle)
            await loop.create_connection(lambda: client, "127.0.0.1", port)
            await asyncio.wait_for(client.welcomed, 30)
            clients.append(client)

    await asyncio.gather(*(one(i) for i in range(count)))
    return clients


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def throughput_phase(clients: list[BenchClient], bench: Bench, total: int, window: int) -> float:
    """Closed loop: every client keeps ``window`` DMs in flight until ``total`` are delivered."""
    names = [c.name for c in clients]
    done = asyncio.get_running_loop().create_future()
    budget = total
    bench.latencies.clear()

    def next_for(client: BenchClient) -> None:
        nonlocal budget
        if budget > 0:
            budget -= 1
            other = random.choice(names)
            while other == client.name:
                other = random.choice(names)
            client.send_to(other)
        elif not done.done() and len(bench.latencies) >= total:
            done.set_result(None)

    bench.on_delivered = next_for
    started = time.perf_counter()
    for _ in range(window):
        for client in clients:
            next_for(client)
    await asyncio.wait_for(done, 300)
    elapsed = time.perf_counter() - started
    bench.on_delivered = None
    return elapsed


async def latency_phase(clients: list[BenchClient], bench: Bench, rate: int, seconds: float) -> int:
    """Open loop: send ``rate`` DMs per second in total from random clients."""
    names = [c.name for c in clients]
    bench.latencies.clear()
    tick = 0.001
    sent = 0
    started = time.perf_counter()
    while (now := time.perf_counter()) - started < seconds:
        due = int((now - started) * rate) - sent
        for _ in range(due):
            client = random.choice(clients)
            other = random.choice(names)
            if other != client.name:
                client.send_to(other)
                sent += 1
        await asyncio.sleep(tick)
    deadline = time.perf_counter() + 30
    while len(bench.latencies) + len(bench.errors) < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return sent


async def measure(args: argparse.Namespace, durable: bool, bench: Bench) -> float:
    """Throughput and latency phases against one server; returns messages per second."""
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as data_dir:
        server = ServerProcess(durable, data_dir)
        try:
            mode = "durable (SQLite on disk, synchronous=FULL)" if durable else "in memory (--memory)"
            print(f"\n== server {mode}")
            rss_start = server.memory_kib("VmRSS")
            t0 = time.perf_counter()
            clients = await connect_clients(server.port, args.clients, bench, "user")
            print(f"connected {len(clients)} clients in {time.perf_counter() - t0:.1f} s")

            cpu = server.cpu_seconds()
            elapsed = await throughput_phase(clients, bench, args.messages, args.window)
            cpu = server.cpu_seconds() - cpu
            rate = args.messages / elapsed
            lat = bench.latencies
            print(f"throughput: {args.messages} direct messages, {args.clients} clients, window {args.window}")
            print(f"  {rate:,.0f} messages/s with delivered acks ({elapsed:.2f} s); server CPU "
                  f"{cpu / elapsed:.0%} of a core, {cpu / args.messages * 1e6:.0f} µs per message")
            print(f"  delivered-ack latency p50 {ms(percentile(lat, 0.5))}, p99 {ms(percentile(lat, 0.99))}")

            # The generator's own garbage collections would show up as server latency.
            gc.collect()
            gc.freeze()
            sent = await latency_phase(clients, bench, args.rate, args.seconds)
            lat = bench.latencies
            print(f"latency at an offered {args.rate:,} messages/s for {args.seconds:g} s ({sent} messages)")
            print(f"  delivered-ack latency p50 {ms(percentile(lat, 0.5))}, p99 {ms(percentile(lat, 0.99))},"
                  f" max {ms(max(lat))}")
            print(f"server RSS: {rss_start / 1024:.1f} MiB at start, peak {server.memory_kib('VmHWM') / 1024:.1f} MiB")
            bench.closing = True
            for client in clients:
                client.transport.close()
            gc.unfreeze()
            return rate
        finally:
            server.stop()


async def run(args: argparse.Namespace) -> int:
    bench = Bench()
    rates: dict[bool, list[float]] = {}
    modes = [False, True] if args.mode == "both" else [args.mode == "durable"]
    for _ in range(args.repeat):  # alternate the modes, so drift in the machine hits both
        for durable in modes:
            phase = Bench()  # fresh counts: the previous phase's clients are still closing
            rates.setdefault(durable, []).append(await measure(args, durable, phase))
            bench.errors += phase.errors
            bench.lost_clients += phase.lost_clients
    if args.repeat > 1:
        print()
        for durable, values in rates.items():
            shown = ", ".join(f"{v:,.0f}" for v in values)
            print(f"{'durable' if durable else 'in memory'}: median {statistics.median(values):,.0f} messages/s"
                  f" ({shown})")
    if len(rates) == 2:
        cost = 1 - statistics.median(rates[True]) / statistics.median(rates[False])
        print(f"\ndurability costs {cost:.0%} of the in-memory throughput"
              f"{' (medians)' if args.repeat > 1 else ''}")

    if args.idle:
        with tempfile.TemporaryDirectory(prefix="chat-bench-") as data_dir:
            server = ServerProcess(False, data_dir)
            idle_bench = Bench()
            try:
                before = server.memory_kib("VmRSS")
                t0 = time.perf_counter()
                idle = await connect_clients(server.port, args.idle, idle_bench, "idle", idle=True)
                print(f"\n== idle: connected {len(idle)} idle clients in {time.perf_counter() - t0:.1f} s")
                await asyncio.sleep(2)  # let the server settle (the first heartbeat sweep, GC)
                after = server.memory_kib("VmRSS")
                print(f"idle: {len(idle)} logged-in connections: server RSS {before / 1024:.1f} -> "
                      f"{after / 1024:.1f} MiB, {(after - before) * 1024 / len(idle):,.0f} bytes per connection")
                idle_bench.closing = True
                for client in idle:
                    client.transport.close()
            finally:
                server.stop()
            bench.errors += idle_bench.errors
            bench.lost_clients += idle_bench.lost_clients

    if bench.errors or bench.lost_clients:
        print(f"\nproblems: {len(bench.errors)} errors, {bench.lost_clients} connections lost early")
        for line in bench.errors[:10]:
            print("  " + line)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=100_000, help="direct messages in the throughput phase")
    parser.add_argument("--window", type=int, default=4, help="DMs each client keeps in flight")
    parser.add_argument("--rate", type=int, default=2000, help="offered messages per second, latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to measure (0: skip)")
    parser.add_argument("--mode", choices=["both", "durable", "memory"], default="both",
                        help="server storage to measure (default both, and the cost of durability)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the throughput and latency phases this many times per mode; report medians")
    parser.add_argument("--quick", action="store_true", help="small figures: 100 clients, 5,000 messages")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny figures, only to check that every phase runs and reports (a few seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.messages, args.seconds, args.idle = 100, 5000, 2.0, 500
    if args.smoke:
        args.clients, args.messages, args.rate, args.seconds, args.idle = 20, 400, 200, 0.5, 50
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(args.clients, args.idle) + 100
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    print(f"chat benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
