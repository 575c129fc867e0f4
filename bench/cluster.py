"""Issue 10's benchmark: the cluster path against one node, side by side in one run.

Run from the repository root (``python3 -m bench.benchmark --cluster`` calls this)::

    python3 -m bench.cluster                       # the full run (a few minutes)
    python3 -m bench.cluster --fsync all           # also Redis with everysec and without AOF
    python3 -m bench.cluster --smoke               # tiny: every phase runs (the test suite's check)

It starts its own ``redis-server`` on a free loopback port (``--appendonly yes
--appendfsync always`` unless ``--fsync`` says more), and then, one after another, each
*setup* below (a column of the summary):

- ``relay``: the bare relay (bench/relay.py), the reference of issue 9's ratio;
- ``sqlite``: one chat server without Redis, durable (SQLite on disk, synchronous=FULL);
- ``redis-1``: one node with Redis (``--cluster URL``);
- ``redis-2``: two nodes with Redis on two ports, half of the clients on each, so that
  half of the random pairs are cross-node (the recipient's session is on the other node:
  the message goes through that node's inbox stream);
- ``workers-2``: ``--cluster URL --workers 2``, two nodes sharing one port (SO_REUSEPORT):
  the kernel spreads the clients, so about half of the pairs are cross-node too;
- ``bare-2``: two bare relays through the same Redis (bench/redis_relay.py), two ports, as
  ``redis-2``: the cluster path's hops (a message in the other node's inbox stream before
  its ``accepted``, read by a blocking XREADGROUP; its ``delivered`` back the same way) and
  nothing else, the reference of the cluster's figures as the bare relay is of issue 9's.
  What it cannot do on this machine, no node of the same design can.

Each setup gets the benchmark's phases (bench/benchmark.py's clients and phases, the same
frames): throughput (1,000 clients, four direct messages in flight each, a message ends at
its *delivered* ack), then latency at an offered 2,000 messages per second (delivered-ack
p50/p99, split into same-node and cross-node pairs where the benchmark knows which node
each client is on), then idle logged-in connections (spread over the nodes: RSS per
connection per node). CPU per message is given for the nodes (summed) and for Redis
(from /proc/PID/stat of the redis-server this started); for the latency phase, the share of
a core that the nodes, Redis and the generator each took meanwhile, and how long they waited
for one (/proc/PID/task/*/schedstat): at 2,000/s a message costs more than its share of a
full turn, and on two cores the three can fill both.

Nothing is pinned by default: the point of a cluster is to use every core, and on this
2-core machine the generator, the nodes and Redis share both. The output says what share of
the two cores each took, which is what says where the cluster stops scaling here. ``--pin``
measures the other arrangement: the nodes on the first CPU, Redis and the generator on the
second (bench/PROFILE.md, "The cluster path, round eight", says what it changed here).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from protocol import Accepted, Delivered
from resp import RedisClient

from .benchmark import (
    Bench,
    BenchClient,
    LoginStorm,
    ServerProcess,
    chat_command,
    ms,
    percentile,
    process_cpu_seconds,
    relay_command,
    schedstats,
    stop_process,
    throughput_phase,
)

# --- Redis --------------------------------------------------------------------------------

# The Redis settings a run can measure: label -> redis-server options.
FSYNC_MODES = {
    "always": ["--appendonly", "yes", "--appendfsync", "always"],
    "everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "no-aof": ["--appendonly", "no"],
}


class Redis:
    """A ``redis-server`` this benchmark started on a free loopback port, in ``workdir``."""

    def __init__(self, workdir: str, mode: str) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server on PATH (apt-get install redis-server)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.mode = mode
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      *FSYNC_MODES[mode], "--dir", workdir, "--logfile", ""],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    async def commandstats(self, reset: bool = False) -> dict[str, tuple[int, float]]:
        """INFO commandstats: command -> (calls, µs in all); ``reset`` zeroes them first."""
        async with RedisClient(self.url, timeout=30) as client:
            if reset:
                await client.execute("CONFIG", "RESETSTAT")
                return {}
            info = await client.execute("INFO", "commandstats")
        stats = {}
        for line in (info.decode() if isinstance(info, bytes) else info).splitlines():
            if line.startswith("cmdstat_"):
                name, _, fields = line[8:].partition(":")
                values = dict(item.split("=") for item in fields.split(","))
                stats[name] = (int(values["calls"]), float(values["usec"]))
        return stats

    async def latencystats(self, commands: tuple[str, ...]) -> str:
        """INFO latencystats (Redis 7) of ``commands`` since the last reset: calls and
        p50/p99 µs of each call's execution inside Redis, as one line."""
        async with RedisClient(self.url, timeout=30) as client:
            info = await client.execute("INFO", "latencystats")
            stats = await self.commandstats()
        lines = (info.decode() if isinstance(info, bytes) else info).splitlines()
        found = {}
        for line in lines:
            if line.startswith("latency_percentiles_usec_"):
                name, _, fields = line[len("latency_percentiles_usec_"):].partition(":")
                found[name] = dict(item.split("=") for item in fields.split(","))
        return ", ".join(f"{name} {stats.get(name, (0, 0))[0]} calls p50 {found[name].get('p50', '?')} "
                         f"p99 {found[name].get('p99', '?')} µs" for name in commands if name in found) or "n/a"

    async def fsync_spikes(self, reset: bool = False) -> str:
        """Redis's latency monitor (threshold 1 ms, set here) since the last reset: how many
        seconds had an AOF fsync (``aof-fsync-always``) or write of 1 ms or more, and the
        worst of each, as one line; ``reset`` starts it over. A cross-node message waits for
        two of them (A's script, B's receipt routed back): their tail is the disk's."""
        async with RedisClient(self.url, timeout=30) as client:
            if reset:
                await client.execute("CONFIG", "SET", "latency-monitor-threshold", "1")
                await client.execute("LATENCY", "RESET")
                await client.execute("CONFIG", "SET", "slowlog-log-slower-than", "1000")
                await client.execute("SLOWLOG", "RESET")
                return ""
            found = []
            for event in ("aof-fsync-always", "aof-write", "command"):
                history = await client.execute("LATENCY", "HISTORY", event)
                worst = [int(sample[1]) for sample in history or []]
                if worst:
                    worst.sort()
                    found.append(f"{event}: {len(worst)} seconds with >= 1 ms, their worst p50 "
                                 f"{worst[len(worst) // 2]} max {worst[-1]} ms")
            # Which commands took 1 ms or more (a script by its sha1's head and its first
            # arguments: scripts.py and stores/redis.py name them).
            slow: dict[str, list[int]] = {}
            for entry in await client.execute("SLOWLOG", "GET", "128") or []:
                words = [w.decode(errors="replace") if isinstance(w, bytes) else str(w) for w in entry[3][:5]]
                name = " ".join(w[:12] for w in words)
                slow.setdefault(name, []).append(int(entry[2]))
            for name, took in sorted(slow.items(), key=lambda item: -len(item[1])):
                found.append(f"slow {name!r} x{len(took)} max {max(took) / 1000:.1f} ms")
        return "; ".join(found) or "none >= 1 ms"

    def flush(self) -> None:
        """Empty it between setups (each starts from an empty chat), by one FLUSHALL."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
            sock.recv(64)

    def stop(self) -> None:
        stop_process(self.proc)


# --- The setups -----------------------------------------------------------------------------


class Nodes:
    """The chat server processes of one setup; ``ports[i]`` is where node ``i`` listens
    (one port for ``--workers``, whose node processes are the children of ``procs[0]``)."""

    def __init__(self, procs: list[ServerProcess]) -> None:
        self.procs = procs
        self.ports = [p.port for p in procs]

    def pids(self) -> list[int]:
        pids = []
        for proc in self.procs:
            pid = proc.proc.pid
            pids.append(pid)
            try:  # the workers of --workers N, if any
                pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except OSError:
                pass
        return pids

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                total += process_cpu_seconds(pid)
            except OSError:
                pass
        return total

    def rss_kib(self) -> list[int]:
        """VmRSS of each node process (the workers', not their idle parent's, for --workers)."""
        pids = self.pids()
        if len(pids) > len(self.procs):
            pids = [p for p in pids if p not in {proc.proc.pid for proc in self.procs}]
        sizes = []
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]))
        return sizes

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def cluster_command(url: str, workers: int = 1) -> Callable[[str], list[str]]:
    def command(data_dir: str) -> list[str]:
        argv = chat_command(False)(data_dir)
        argv = argv[:argv.index("--memory")] + ["--cluster", url]
        if workers > 1:
            argv += ["--workers", str(workers), "--port", "0"]
        return argv
    return command


def redis_relay_command(url: str) -> Callable[[str], list[str]]:
    def command(data_dir: str) -> list[str]:
        return [sys.executable, "-m", "bench.redis_relay", "--host", "127.0.0.1", "--port", "0", "--redis", url]
    return command


@dataclass(frozen=True)
class Setup:
    """One column: a label, a title, how many node processes on own ports (``nodes``) or
    sharing one (``workers``), whether it uses Redis, and whether its nodes are the bare
    relays through Redis (``bare``, bench/redis_relay.py) rather than chat servers."""

    label: str
    title: str
    nodes: int = 1
    workers: int = 1
    redis: bool = True
    reference: bool = False
    bare: bool = False

    def start(self, data_dir: str, url: str | None) -> Nodes:
        if self.reference:
            return Nodes([ServerProcess(self.label, relay_command(data_dir))])
        if not self.redis:
            return Nodes([ServerProcess(self.label, chat_command(True)(data_dir))])
        command = redis_relay_command(url) if self.bare else cluster_command(url, self.workers)
        procs: list[ServerProcess] = []
        try:
            for _ in range(self.nodes):
                procs.append(ServerProcess(self.label, command(data_dir)))
        except BaseException:
            for proc in procs:
                proc.stop()
            raise
        return Nodes(procs)


SETUPS = [
    Setup("relay", "bare relay (bench/relay.py: forward, one-hop ack)", redis=False, reference=True),
    Setup("sqlite", "1 node without Redis (durable SQLite)", redis=False),
    Setup("redis-1", "1 node with Redis (--cluster)"),
    Setup("redis-2", "2 nodes with Redis, two ports, half the pairs cross-node", nodes=2),
    Setup("workers-2", "2 nodes with Redis on one port (--workers 2)", workers=2),
    Setup("bare-2", "2 bare relays through Redis, two ports (bench/redis_relay.py: the cluster's hops, nothing else)",
          nodes=2, bare=True),
]


# --- Clients that know their node -------------------------------------------------------------


class _SentAt(dict):
    """``BenchClient.sent_at`` that remembers the request id it last gave up: the client
    pops it just before it reports the delivered ack, so the bench can tell which pair it was."""

    last: bytes | None = None

    def pop(self, key, *default):  # type: ignore[override]
        self.last = key
        return super().pop(key, *default)


class NodeClient(BenchClient):
    def __init__(self, name: str, bench: SplitBench, node: int) -> None:
        super().__init__(name, bench)
        self.node = node
        self.sent_at = _SentAt()
        self.cross: dict[bytes, bool] = {}  # request id (as BenchClient keys it) -> cross-node

    def send_to(self, other: str) -> None:
        super().send_to(other)
        node = self.bench.node_of.get(other)
        if node is not None:
            self.cross[b"%d" % self.counter] = node != self.node


class SplitBench(Bench):
    """A ``Bench`` that files delivered-ack latencies by same-node and cross-node pairs
    (when the nodes of both clients are known: not behind one shared port)."""

    def __init__(self, ack: type = Delivered) -> None:
        super().__init__(ack)
        self.node_of: dict[str, int] = {}
        self.by_pair: dict[bool, list[float]] = {False: [], True: []}

    def delivered(self, client: BenchClient, latency: float) -> None:
        cross = client.cross.pop(client.sent_at.last, None) if isinstance(client, NodeClient) else None
        if cross is not None:
            self.by_pair[cross].append(latency)
        super().delivered(client, latency)


async def connect_to_nodes(ports: list[int], count: int, bench: SplitBench,
                           known: bool = True) -> tuple[list[NodeClient], float]:
    """Log ``count`` clients in, spread round-robin over ``ports`` (200 handshakes at a time).
    ``known``: each port is one node (not several behind one port, where which node a
    client is on is the kernel's choice), so pairs can be told same-node or cross-node."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(200)
    clients: list[NodeClient] = []
    first = time.perf_counter()

    async def one(i: int) -> None:
        node = i % len(ports)
        async with gate:
            client = NodeClient(f"u{i}", bench, node if known else -1)
            if known:
                bench.node_of[client.name] = node
            await loop.create_connection(lambda: client, "127.0.0.1", ports[node])
            await asyncio.wait_for(client.welcomed, 60)
            clients.append(client)

    await asyncio.gather(*(one(i) for i in range(count)))
    took = bench.last_welcome - first
    if len(ports) > 1:
        await await_directories(ports)
    return clients, took


async def await_directories(ports: list[int], timeout: float = 30.0) -> None:
    """Return once every node has heard of every login so far. A node learns of logins on
    the others from the events stream, a moment after their welcome: a message sent in that
    moment is answered unknown_recipient (the benchmark would count an error). So log in one
    *sentinel* per node after everyone (its claim is the newest entry of the stream), and from
    every other node send it a message until one is accepted and delivered."""
    loop = asyncio.get_running_loop()
    probes = Bench()
    sentinels = [BenchClient(f"sentinel{n}", probes) for n in range(len(ports))]
    senders = [BenchClient(f"probe{n}", probes) for n in range(len(ports))]
    for client, port in [*zip(senders, ports), *zip(sentinels, ports)]:
        await loop.create_connection(lambda: client, "127.0.0.1", port)
        await asyncio.wait_for(client.welcomed, timeout)
    deadline = time.monotonic() + timeout
    try:
        for n, sentinel in enumerate(sentinels):
            for m, sender in enumerate(senders):
                while m != n:
                    ended, errors = len(probes.delivered_latencies), len(probes.errors)
                    sender.send_to(sentinel.name)
                    while len(probes.delivered_latencies) == ended:
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"node {m} did not hear of the logins on node {n} in {timeout:g} s")
                        await asyncio.sleep(0.01)
                    if len(probes.errors) == errors:
                        break
                    await asyncio.sleep(0.05)  # unknown_recipient: not yet; ask again
    finally:
        probes.closing = True
        for client in (*sentinels, *senders):
            client.transport.close()


async def latency_phase(clients: list[NodeClient], bench: SplitBench, rate: int, seconds: float) -> int:
    """Open loop, as bench/benchmark.py's: ``rate`` DMs per second between random clients."""
    names = [c.name for c in clients]
    bench.latencies.clear()
    bench.delivered_latencies.clear()
    bench.by_pair = {False: [], True: []}
    sent = 0
    started = time.perf_counter()
    while (now := time.perf_counter()) - started < seconds:
        for _ in range(int((now - started) * rate) - sent):
            client, other = random.choice(clients), random.choice(names)
            if other != client.name:
                client.send_to(other)
                sent += 1
        await asyncio.sleep(0.001)
    deadline = time.perf_counter() + 30
    while len(bench.delivered_latencies) < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return sent


# --- Measuring ----------------------------------------------------------------------------------


@dataclass
class Result:
    fsync: str = ""  # the Redis setting it ran with ("" without Redis)
    rate: float = 0.0
    node_us: float = 0.0
    redis_us: float = 0.0
    generator_share: float = 0.0
    node_share: float = 0.0  # of one core, all nodes together
    redis_share: float = 0.0
    p50: float = float("nan")
    p99: float = float("nan")
    pairs: dict[bool, tuple[float, float, int]] = field(default_factory=dict)  # cross -> p50, p99, count
    latency_shares: tuple[float, ...] = ()  # nodes, Redis, generator: shares of a core in the latency phase
    logins: float = float("nan")
    per_connection: list[float] = field(default_factory=list)  # bytes per idle connection, per node


def pin(pids: list[int], cpus: frozenset[int] | None) -> None:
    """Keep every thread of each process of ``pids`` on ``cpus`` (None: leave them be).
    Threads started later inherit it from the thread that starts them."""
    if cpus is None:
        return
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                os.sched_setaffinity(int(task.name), cpus)
            except (OSError, ValueError):
                pass  # a thread that just ended


def plan_pinning(wanted: bool) -> tuple[frozenset[int] | None, frozenset[int] | None, str]:
    """``--pin``: (the nodes' CPUs, Redis's and the generator's, what the output says); pins
    this process (the generator) now, before it starts any thread."""
    if not wanted:
        return None, None, "nothing pinned"
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []
    if len(cpus) < 2:
        return None, None, "nothing pinned (--pin needs two CPUs and sched_setaffinity)"
    nodes, others = frozenset({cpus[0]}), frozenset({cpus[1]})
    os.sched_setaffinity(0, others)
    return nodes, others, f"pinned: nodes on CPU {cpus[0]}, Redis and the load generator on CPU {cpus[1]}"


def _cpu(redis: Redis | None) -> float:
    return redis.cpu_seconds() if redis is not None else 0.0


def scheduled(pids: list[int]) -> tuple[float, float, int]:
    """For the threads of ``pids`` together, so far: seconds run on a CPU, seconds runnable
    but waiting for one, and how many times they were given one (bench.benchmark's
    ``schedstats``). A process woken by a message waits this long for a core before it can
    even read it: the part of a latency that is neither the code nor the disk."""
    ran = waited = 0.0
    slices = 0
    for pid in pids:
        for thread_ran, thread_waited, thread_slices in (schedstats(pid) or {}).values():
            ran += thread_ran
            waited += thread_waited
            slices += thread_slices
    return ran, waited, slices


async def measure(setup: Setup, args: argparse.Namespace, redis: Redis | None, bench: SplitBench) -> Result:
    result = Result()
    if redis is not None:
        redis.flush()
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as data_dir:
        nodes = setup.start(data_dir, redis.url if redis is not None else None)
        try:
            pin(nodes.pids(), args.node_cpus)
            print(f"\n== {setup.title}" + (f" [Redis appendfsync {redis.mode}]" if redis is not None else ""))
            clients, seconds = await connect_to_nodes(nodes.ports, args.clients, bench, known=setup.workers == 1)
            print(f"connected {len(clients)} clients in {seconds:.1f} s")

            if redis is not None:
                await redis.commandstats(reset=True)
            node_cpu, redis_cpu, gen_cpu = nodes.cpu_seconds(), _cpu(redis), time.process_time()
            # The relay's own ack is accepted; its delivered acks (forwarded receipts) still come.
            elapsed, all_delivered = await throughput_phase(clients, bench, args.messages, args.window)
            if setup.reference:
                elapsed = all_delivered  # compare everything by the delivered ack
            node_cpu = nodes.cpu_seconds() - node_cpu
            redis_cpu = _cpu(redis) - redis_cpu
            gen_cpu = time.process_time() - gen_cpu
            result.rate = args.messages / elapsed
            result.node_us, result.redis_us = node_cpu / args.messages * 1e6, redis_cpu / args.messages * 1e6
            result.node_share, result.redis_share = node_cpu / all_delivered, redis_cpu / all_delivered
            result.generator_share = gen_cpu / all_delivered
            print(f"throughput: {args.messages} direct messages, {args.clients} clients, window {args.window}")
            print(f"  {result.rate:,.0f} messages/s with delivered acks ({elapsed:.2f} s)")
            print(f"  CPU per message: nodes {result.node_us:.0f} µs, Redis {result.redis_us:.0f} µs; shares of a "
                  f"core: nodes {result.node_share:.0%}, Redis {result.redis_share:.0%}, "
                  f"load generator {result.generator_share:.0%}")
            if redis is not None:  # what Redis did per message (commands, and their time inside Redis)
                stats = sorted((await redis.commandstats()).items(), key=lambda item: -item[1][1])
                print("  Redis per message: " + ", ".join(
                    f"{name} {calls / args.messages:.2f} calls {usec / args.messages:.0f} µs"
                    for name, (calls, usec) in stats if calls >= args.messages / 100))

            gc.collect()
            gc.freeze()
            waits = {"nodes": nodes.pids(), "Redis": [redis.proc.pid] if redis is not None else [],
                     "generator": [os.getpid()]}
            before, started = {who: scheduled(pids) for who, pids in waits.items()}, time.monotonic()
            if redis is not None:
                await redis.commandstats(reset=True)
                await redis.fsync_spikes(reset=True)
            sent = await latency_phase(clients, bench, args.rate, args.seconds)
            elapsed = time.monotonic() - started
            used = {who: [a - b for a, b in zip(scheduled(waits[who]), before[who])] for who in waits}
            lat = bench.delivered_latencies
            result.p50, result.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
            print(f"latency at an offered {args.rate:,} messages/s for {args.seconds:g} s ({sent} messages)")
            print(f"  delivered-ack latency p50 {ms(result.p50)}, p99 {ms(result.p99)}, max {ms(max(lat, default=0))}")
            for cross, values in bench.by_pair.items():
                if values:
                    what = "cross-node" if cross else "same-node"
                    result.pairs[cross] = (percentile(values, 0.5), percentile(values, 0.99), len(values))
                    print(f"  {what} pairs ({len(values)}): p50 {ms(result.pairs[cross][0])}, "
                          f"p99 {ms(result.pairs[cross][1])}")
            # What each took of the machine's cores at this rate: at 2,000/s a message a turn
            # costs two to three times its share of a full turn (bench/PROFILE.md, round twenty).
            result.latency_shares = tuple(used[who][0] / elapsed for who in waits)
            print("  CPU meanwhile, share of a core: " + ", ".join(
                f"{who} {ran / elapsed:.0%}" + (f" ({ran / max(sent, 1) * 1e6:.0f} µs a message)" if who != "generator"
                                                else "")
                for who, (ran, _, slices) in used.items() if slices)
                + f"; together {sum(result.latency_shares):.0%} of a core, of the {os.cpu_count()} there are")
            # Time runnable but without a core: per wake-up, and in all per message.
            print("  waiting for a CPU (run queue): " + ", ".join(
                f"{who} {wait / max(slices, 1) * 1e6:.0f} µs per wake-up ({slices / max(sent, 1):.1f} wake-ups and "
                f"{wait / max(sent, 1) * 1e6:.0f} µs per message)" for who, (_, wait, slices) in used.items() if slices))
            if redis is not None:  # the time of each call inside Redis (not its waits, nor the fsync)
                print("  inside Redis, per call: " + await redis.latencystats(("evalsha", "xreadgroup", "xack")))
                print("  Redis's latency monitor (per second's worst): " + await redis.fsync_spikes())
            bench.closing = True
            for client in clients:
                client.transport.close()
            gc.unfreeze()
            await asyncio.sleep(0.5)  # let the nodes see them go before the idle phase

            if args.idle:
                await measure_idle(setup, nodes, args.idle, bench, result)
            return result
        finally:
            nodes.stop()


async def measure_idle(setup: Setup, nodes: Nodes, count: int, bench: Bench, result: Result) -> None:
    """``count`` idle logged-in connections spread over the nodes' ports; RSS per connection per node.
    The nodes have just carried the throughput phase, so their heaps have room already: the
    figure is lower than that of a fresh server (bench/benchmark.py's idle phase)."""
    before = nodes.rss_kib()
    per_port = [count // len(nodes.ports) + (i < count % len(nodes.ports)) for i in range(len(nodes.ports))]
    storms = [LoginStorm(port) for port in nodes.ports]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(asyncio.to_thread(storm.run, n, f"idle{i}-")
                               for i, (storm, n) in enumerate(zip(storms, per_port))))
        result.logins = time.perf_counter() - started
        for storm in storms:
            bench.errors += storm.errors
        idle = sum(len(storm.sockets) for storm in storms)
        await asyncio.sleep(2)  # let the nodes settle (a heartbeat, GC)
        after = nodes.rss_kib()
        per_node = idle / max(1, len(after))  # behind one port the kernel spreads them about evenly
        result.per_connection = [(a - b) * 1024 / max(1, per_node) for a, b in zip(after, before)]
        shown = ", ".join(f"{b / 1024:.1f} -> {a / 1024:.1f} MiB" for b, a in zip(before, after))
        print(f"idle: {idle:,} logged-in connections over {len(after)} node(s) in {result.logins:.2f} s; RSS {shown}; "
              + ", ".join(f"{v:,.0f}" for v in result.per_connection) + " bytes per connection per node")
    finally:
        for storm in storms:
            storm.close()


def _fmt_ms(value: float) -> str:
    return "-" if value != value else f"{value * 1000:.2f}"


async def run(args: argparse.Namespace) -> int:
    modes = list(FSYNC_MODES) if args.fsync == "all" else args.fsync.split(",")
    errors: list[str] = []
    lost = repeated = 0
    columns: list[tuple[str, Result]] = []
    with tempfile.TemporaryDirectory(prefix="chat-bench-redis-") as workdir:
        for index, mode in enumerate(modes):
            os.makedirs(os.path.join(workdir, mode))
            redis = Redis(os.path.join(workdir, mode), mode)
            try:
                pin([redis.proc.pid], args.other_cpus)
                for setup in SETUPS:
                    if setup.label not in args.setups:
                        continue
                    if not setup.redis and index > 0:
                        continue  # the same without Redis: measured once
                    bench = SplitBench(Accepted if setup.reference else Delivered)
                    result = await measure(setup, args, redis if setup.redis else None, bench)
                    result.fsync = mode if setup.redis else ""
                    label = setup.label + (f"/{mode}" if setup.redis and len(modes) > 1 else "")
                    columns.append((label, result))
                    errors += bench.errors
                    lost += bench.lost_clients
                    repeated += bench.repeated
            finally:
                redis.stop()

    relay = next((r for label, r in columns if label == "relay"), None)
    print(f"\n== summary (one round; {args.clients:,} clients, window {args.window}; {args.pinned}; "
          f"{os.cpu_count()} CPUs; Redis {', '.join(modes)})")
    width = max(16, max(len(label) for label, _ in columns) + 2)
    print(f"{'':38}" + "".join(f"{label:>{width}}" for label, _ in columns))

    def pair(cross: bool, index: int) -> Callable[[Result], str]:
        return lambda r: _fmt_ms(r.pairs[cross][index]) if cross in r.pairs else "-"

    rows: list[tuple[str, Callable[[Result], str]]] = [
        ("messages/s with delivered acks", lambda r: f"{r.rate:,.0f}"),
        ("node CPU µs per message (all nodes)", lambda r: f"{r.node_us:.0f}"),
        ("Redis CPU µs per message", lambda r: f"{r.redis_us:.0f}" if r.redis_us else "-"),
        ("CPU shares: nodes/Redis/generator", lambda r: f"{r.node_share:.0%}/{r.redis_share:.0%}/"
                                                        f"{r.generator_share:.0%}"),
        (f"CPU shares at {args.rate:,}/s: nodes/Redis/generator",
         lambda r: "/".join(f"{share:.0%}" for share in r.latency_shares) or "-"),
        (f"delivered p50 at {args.rate:,}/s, ms", lambda r: _fmt_ms(r.p50)),
        (f"delivered p99 at {args.rate:,}/s, ms", lambda r: _fmt_ms(r.p99)),
        ("  same-node p50 / p99, ms", lambda r: f"{pair(False, 0)(r)}/{pair(False, 1)(r)}"),
        ("  cross-node p50 / p99, ms", lambda r: f"{pair(True, 0)(r)}/{pair(True, 1)(r)}"),
    ]
    if args.idle:
        rows += [(f"{args.idle:,} idle logins, s", lambda r: f"{r.logins:.2f}"),
                 ("bytes per idle connection, per node",
                  lambda r: "/".join(f"{v:,.0f}" for v in r.per_connection) or "-")]
    if relay is not None:
        rows.append(("ratio to the bare relay (delivered)", lambda r: f"{r.rate / relay.rate:.2f}×"))
    bare = {r.fsync: r for label, r in columns if label.startswith("bare-2")}  # one per Redis setting
    if bare:
        rows.append(("ratio to the bare relays through Redis",
                     lambda r: f"{r.rate / bare[r.fsync].rate:.2f}×" if r.fsync in bare else "-"))
    for title, cell in rows:
        print(f"{title:38}" + "".join(f"{cell(r):>{width}}" for _, r in columns))
    by_label = dict(columns)
    for two in ("redis-2", "workers-2"):
        for label, result in columns:
            if label.startswith(two) and label.replace(two, "redis-1") in by_label:
                one = by_label[label.replace(two, "redis-1")]
                print(f"two nodes ÷ one ({label}): ×{result.rate / one.rate:.2f} messages/s")

    if repeated:
        print(f"{repeated} delivered acks were told again for messages already delivered (the protocol allows it)")
    if errors or lost:
        print(f"\nproblems: {len(errors)} errors, {lost} connections lost early")
        for line in errors[:10]:
            print("  " + line)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=30_000, help="direct messages in the throughput phase")
    parser.add_argument("--window", type=int, default=4, help="DMs each client keeps in flight")
    parser.add_argument("--rate", type=int, default=2000, help="offered messages per second, latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--idle", type=int, default=5000, help="idle connections per setup (0: skip)")
    parser.add_argument("--fsync", default="always",
                        help="Redis settings to measure, comma-separated, of always, everysec, no-aof; or all")
    parser.add_argument("--setups", default=",".join(s.label for s in SETUPS),
                        help="which columns, comma-separated (default all)")
    parser.add_argument("--smoke", action="store_true", help="tiny figures: only checks that every phase runs")
    parser.add_argument("--pin", action="store_true",
                        help="the nodes on the first CPU, Redis and the load generator on the second")
    args = parser.parse_args(argv)
    if args.smoke:
        # 2,000 messages, as bench.benchmark's smoke run: CPU is read in 10 ms ticks, and 400
        # took the bare relay 0.02 s, which read 0 ticks ("nodes 0 µs") now and then.
        args.clients, args.messages, args.rate, args.seconds, args.idle = 20, 2000, 200, 0.5, 40
    args.setups = set(args.setups.split(","))
    if args.fsync != "all" and not set(args.fsync.split(",")) <= FSYNC_MODES.keys():
        parser.error(f"--fsync: one or more of {', '.join(FSYNC_MODES)}, or all")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(args.clients, args.idle) * 2 + 100
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    args.node_cpus, args.other_cpus, args.pinned = plan_pinning(args.pin)
    print(f"cluster benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.pinned}")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
