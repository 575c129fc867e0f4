"""Benchmark the chat server against a bare relay, side by side: the ratio is the headline.

Run from the repository root::

    python3 -m bench.benchmark                  # the full run (a few minutes)
    python3 -m bench.benchmark --repeat 3       # three alternating rounds; medians
    python3 -m bench.benchmark --quick          # smaller figures, for a smoke test
    python3 -m bench.benchmark --smoke          # tiny: every phase runs (the test suite's check)
    python3 -m bench.benchmark --rooms          # the room workload instead: bench/rooms.py
    python3 -m bench.benchmark --cluster        # issue 10's: one node, Redis, two nodes (bench/cluster.py)

Each server under test is a subprocess on 127.0.0.1 (a free port), so its memory and CPU
time are its own: the reference, ``bench/relay.py`` (a bare asyncio ``Protocol`` that
forwards each message and answers with a one-hop ack, nothing else), then ``chatserver.py``
in memory (``--memory``) and durable (SQLite on disk). They are listed in ``SERVER_KINDS``
(a label and how to start it); each round runs them in that order, and ``--repeat`` rounds
alternate them so that drift in a shared machine hits all of them alike.

One load generator, this process, drives every server with the same asyncio clients built
on the project's sans-I/O core, sending the same frames: every direct message is a ``send``
answered by ``accepted``, a ``dm`` to the recipient answered by its ``receipt``, and a
``delivered`` to the sender answered by its ``ack`` (both servers welcome the feature
``batch_acks``, so the receipts and the acks of one read go as one frame each). What counts as the end of a message is
the acknowledgement *each server gives*: the relay's own ack is ``accepted`` (one hop: "I
have read it"); the chat server's is ``delivered`` (end to end: the recipient's client has
it, and the server kept it until then). So the relay is measured with the cheaper promise it
makes and the chat server with the dearer one, and the ratio says what the promise costs.
The relay still forwards the receipt as ``delivered``, so the generator's frames (and its
CPU per message) are the same for both, and the relay's delivered-ack latency is printed too.

Phases per server:

1. throughput: N clients (default 1,000) each keep ``--window`` direct messages in flight
   to random other clients and send the next at each one's ack; prints messages per second,
   the server's CPU time per message, ack latency p50/p99, and the generator's own CPU: near
   100% of its core, the generator and not the server is the limit, and the output says so;
2. latency: the same clients offer a fixed rate (default 2,000 messages per second) in
   total, open loop; prints delivered-ack latency p50/p99/max at that load, and how busy the
   server's core was meanwhile (its CPU time over the phase, its main thread's apart, and its
   CPU time a message at that rate): a p99 is mostly queueing, so it is read beside that share;
3. logins and idle memory (the relay and the chat server in memory): 10,000 clients
   connect and log in, at most 200 handshakes at a time, from bare sockets on one epoll
   (``LoginStorm``: the asyncio clients cost the generator more per login than the relay
   spends); prints the time from the first connect to the last welcome, and server RSS per
   idle logged-in connection: the RSS difference between 500 warm-up clients and 10,000
   more, each read once the server settled, so that start-up does not move it;
4. client core (the chat server only; ``--client-core N``, 0 skips it): N real
   ``client.aio`` clients, the asyncio shell over the same sans-I/O core as the terminal
   client and the window, offer ``--core-rate`` messages per second; prints the latency from
   ``send_direct`` to ``delivered`` as the project's own client sees it (bench/coreclients.py).
   Phases 1 and 2 keep the raw generator on purpose: they measure the server, and a whole
   client core per simulated user would measure the generator instead.

On Linux, the server is pinned to one CPU and the generator to another (``--no-pin`` turns
it off); the output says which. On a 2-core machine shared with other work the absolute
figures vary by tens of percent from run to run, and so does the ratio of one round when
other work takes more CPU from one server than from the other: the output says how long
each server's CPU was taken by other work (pinned: its CPU's busy time less the server's own,
from /proc/stat, so that a server's threads waiting for each other do not count; else its
threads' waits, from /proc schedstat) next to each round's ratio, and gives
the ratio by server CPU per message too, which that hardly moves. The relay's count at its
one-hop ack leaves up to clients × window receipts still in flight when it stops the clock;
its rate counted at its last forwarded ``delivered`` is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import gc
import os
import random
import re
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import const
from bench import coreclients
from client.core import outcome_of
from protocol import BATCH_ACKS
from protocol import (
    Accepted,
    Connection,
    Delivered,
    DirectMessage,
    ErrorReply,
    FrameRejected,
    Hello,
    OutcomeAck,
    Ping,
    Pong,
    Receipt,
    Role,
    Welcome,
    codec,
)

ROOT = Path(__file__).resolve().parent.parent


# --- The servers under test ---------------------------------------------------------------


def relay_command(data_dir: str) -> list[str]:
    return [sys.executable, "-m", "bench.relay", "--host", "127.0.0.1", "--port", "0"]


def chat_command(durable: bool) -> Callable[[str], list[str]]:
    def command(data_dir: str) -> list[str]:
        # BENCH_PROFILE=FILE runs the server under cProfile, written to FILE when it stops.
        profile = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
        # BENCH_TRACE=FILE: the life of each message in the latency phase (bench/durable_trace.py).
        program = ["-m", "bench.durable_trace"] if os.environ.get("BENCH_TRACE") else [str(ROOT / "chatserver.py")]
        # BENCH_TURNS=FILE: the server's long loop turns in the latency phase (bench/memory_trace.py).
        if os.environ.get("BENCH_TURNS"):
            program = ["-m", "bench.memory_trace"]
        return [sys.executable, *profile, *program, "--host", "127.0.0.1", "--port", "0",
                "--web-port", "0",
                # The benchmark measures capacity, not abuse: all its clients come from
                # 127.0.0.1 and each sends as fast as acks come back, so lift the rate limits.
                "--max-connections-per-address", "100000", "--rate-per-address", "1e9",
                "--rate-per-connection", "1e9",
                *(["--data", data_dir] if durable else ["--memory"])]
    return command


@dataclass(frozen=True)
class ServerKind:
    """A server the benchmark measures, and how.

    ``command(data_dir)`` is the argv that starts it on a free loopback port; it must log
    ``listening on HOST:PORT`` on stderr. ``ack`` is the event that ends a message in the
    throughput phase: the acknowledgement this server gives. The ``reference`` kind is the
    one the others are divided by; ``idle`` kinds also get the login and idle-memory phase.
    More kinds are more entries in ``SERVER_KINDS``; one that is more than one process
    (issue 10's cluster) gives ``start(data_dir, cpus)`` instead of ``command``, returning
    anything with :class:`ServerProcess`'s ``port``, ``memory_kib``, ``cpu_seconds``,
    ``cpu_wait_seconds`` and ``stop`` (summed over its processes).
    """

    label: str
    title: str
    command: Callable[[str], list[str]] | None
    ack: type
    reference: bool = False
    idle: bool = False
    target: float | None = None  # issue 9's goal for the ratio to the reference
    start: Callable[[str, frozenset[int] | None], ServerProcess] | None = None

    def launch(self, data_dir: str, cpus: frozenset[int] | None) -> ServerProcess:
        if self.start is not None:
            return self.start(data_dir, cpus)
        return ServerProcess(self.label, self.command(data_dir), cpus)


SERVER_KINDS = [
    ServerKind("relay", "bare relay (bench/relay.py: forward, one-hop ack, nothing else)", relay_command, Accepted,
               reference=True, idle=True),
    ServerKind("memory", "in memory (--memory)", chat_command(False), Delivered, idle=True, target=1.0),
    ServerKind("durable", "durable (SQLite on disk, synchronous=FULL)", chat_command(True), Delivered, target=0.8),
]


@dataclass(frozen=True)
class Pinning:
    """Which CPUs the server and the generator run on (None: wherever the kernel likes)."""

    server: frozenset[int] | None
    generator: frozenset[int] | None
    note: str


def plan_pinning(wanted: bool) -> Pinning:
    """Pin this process (the generator) now, and say where servers go; see ``ServerProcess``."""
    if not wanted:
        return Pinning(None, None, "not pinned (--no-pin)")
    if not hasattr(os, "sched_setaffinity"):
        return Pinning(None, None, "not pinned (no sched_setaffinity on this system)")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return Pinning(None, None, f"not pinned (only CPU {cpus[0]} is available)")
    server, generator = frozenset({cpus[0]}), frozenset({cpus[1]})
    # Called before any thread starts, so every thread of the generator inherits it.
    os.sched_setaffinity(0, generator)
    return Pinning(server, generator, f"pinned: server on CPU {cpus[0]}, load generator on CPU {cpus[1]}")


def schedstats(pid: int | str) -> dict[int, tuple[float, float, int]] | None:
    """For each thread of process ``pid``, by thread id: (seconds it has run on a CPU,
    seconds it has been runnable but waiting for one, how many times it was given one),
    from /proc/PID/task/*/schedstat (in ns: finer than the 10-ms ticks of /proc/PID/stat,
    which a short phase needs); None where the kernel does not keep it. A thread that ends
    while it is read is left out."""
    stats = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return None
    for task in tasks:
        try:
            ran, waited, slices = (task / "schedstat").read_text().split()[:3]
            stats[int(task.name)] = (int(ran) / 1e9, int(waited) / 1e9, int(slices))
        except (OSError, ValueError):
            pass  # a thread that just ended
    return stats or None


def cpu_wait_seconds(pid: int | str) -> float | None:
    """Seconds the threads of process ``pid`` have spent runnable but waiting for a CPU
    (schedstats); None where the kernel does not keep it. On a machine shared with other
    work, this is the time taken by the others: a server that waited for half of a phase
    ran at half speed, whatever its code.
    """
    stats = schedstats(pid)
    return None if stats is None else sum(waited for _, waited, _ in stats.values())


def cpu_busy_seconds(cpu: int) -> float | None:
    """Seconds CPU ``cpu`` has been busy (user, nice, system, and steal: time the VM's host
    gave to others) since boot, from /proc/stat; None where there is no such file."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{cpu} "):
                user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, line.split()[1:9])
                return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    return None


class ServerProcess:
    """A server in a subprocess on a free loopback port; stopped by its PID."""

    def __init__(self, label: str, command: list[str], cpus: frozenset[int] | None = None) -> None:
        self.proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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
        self.cpus = cpus
        if not started.wait(15):
            self.stop()
            raise RuntimeError(f"the {label} server did not start")
        if cpus is not None:
            # Every thread it has now; threads it starts later inherit from them.
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                os.sched_setaffinity(int(task.name), cpus)

    def memory_kib(self, field: str) -> int:
        """A field of /proc/PID/status in KiB: VmRSS now, VmHWM the peak."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far (all its threads)."""
        return process_cpu_seconds(self.proc.pid)

    def cpu_wait_seconds(self) -> float | None:
        """Seconds of CPU taken from the server by other work (a cumulative count: compare
        two readings). Pinned to one CPU, that is the CPU's busy time (steal included: the
        VM's host) less the server's own, so that the server's threads waiting for each
        other (the durable store's committer beside the loop) are not counted as others'
        work; otherwise the time its threads waited for a CPU (``cpu_wait_seconds``)."""
        if self.cpus is not None and len(self.cpus) == 1:
            busy = cpu_busy_seconds(next(iter(self.cpus)))
            if busy is not None:
                return busy - self.cpu_seconds()
        return cpu_wait_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far (all its threads; Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the server we started, by PID; SIGKILL if it has not gone within 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- Load-generating clients ------------------------------------------------------------


# The frames of the message path, as both servers write them (compact JSON, keys in this
# order: the chat server's fast encoders in protocol/codec.py, the relay's dicts). The
# generator recognises them by these prefixes and reads the one or two fields it needs;
# any other frame (errors, pings, notices, or these in another spelling) goes through the
# project's decoder, so nothing is skipped unread.
_DM = b'{"type":"dm","msg_id":'
_DELIVERED = b'{"type":"delivered","id":"'
_ACCEPTED = b'{"type":"accepted","id":"'
_MSG_ID = b'","msg_id":'
_DM_AT, _DELIVERED_AT, _ACCEPTED_AT, _MSG_ID_AT = len(_DM), len(_DELIVERED), len(_ACCEPTED), len(_MSG_ID)
_SERVER_TYPES = codec.TYPES  # a server's frames are checked by the servers' own tests, not here


class BenchClient(asyncio.Protocol):
    """A client that logs in, confirms every DM it gets, and times its own DMs.

    Until its welcome it speaks through the project's sans-I/O core; after it, the hot
    frames (``dm``, ``delivered``, ``accepted``) are matched by their prefix and answered
    with pre-formatted bytes, and everything the client writes while handling one read (its
    receipts, its acks, the next messages the phase sends at each ack) goes out in one
    ``write``. So the generator costs a fraction of what decoding each frame into an event
    did, and it stays far from its core's limit while the servers are measured at theirs.
    Every ``delivered`` (and, for the relay, ``accepted``) must name a request this client
    has outstanding, or it is counted as an error.

    Its hello asks for ``batch_acks`` (as the client core's does), and both servers welcome
    it (bench/relay.py takes the batched forms too), so both get the same frames: the
    receipts of one read in one ``receipt`` frame and its acks in one ``ack`` frame, ahead
    of the read's next messages; one id alone in the single form. A server whose welcome
    does not name the feature (``batched`` false) gets a frame per id, as before.

    It does not run a whole :class:`client.core.ClientCore` per client (whose trackers and
    conditions per message would measure the generator, not the server); what it owes the
    server per event follows the core's rules (receipts, outcome acks:
    :func:`client.core.outcome_of`).
    """

    def __init__(self, name: str, bench: Bench, idle: bool = False) -> None:
        self.name = name
        # An idle client skips parsing once logged in: ten thousand of them would otherwise
        # spend the load generator's CPU decoding each other's join notices.
        self.idle = idle
        self.bench = bench
        self.transport: asyncio.Transport | None = None
        self.welcomed = asyncio.get_running_loop().create_future()
        # Request id (ASCII digits, as bytes: as they come back) -> when it was sent.
        self.sent_at: dict[bytes, float] = {}
        self.delivered_ids: set[int] = set()  # to tell an outcome told again from a wrong one
        self.counter = 0
        self.partial = b""  # an unfinished frame after the last read
        self.out: list[bytes] | None = None  # frames to write at the end of this read
        self.batched = False  # the welcome named batch_acks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(codec.encode(Hello("hello", self.name, const.PROTOCOL_VERSION, features=(BATCH_ACKS,))))

    def data_received(self, data: bytes) -> None:
        if self.idle and self.welcomed.done():
            if b'"type":"ping"' in data:
                self.transport.write(b'{"type":"pong","token":"heartbeat"}\n')
            return
        if self.partial:
            data = self.partial + data
        *lines, self.partial = data.split(b"\n")
        bench, sent_at = self.bench, self.sent_at
        out = self.out = []
        receipts: list[bytes] = []  # the msg_ids (their digits) this read confirms
        acks: list[bytes] = []  # and acknowledges
        now = time.perf_counter()  # every frame of one read arrived together
        for line in lines:
            if line.startswith(_DM):
                receipts.append(line[_DM_AT:line.index(b",", _DM_AT)])
            elif line.startswith(_DELIVERED):
                end = line.index(_MSG_ID, _DELIVERED_AT)
                msg_id = int(line[end + _MSG_ID_AT:-1])
                # As every client must: acknowledge the outcome.
                digits = line[end + _MSG_ID_AT:-1]
                acks.append(digits)
                self.delivered(line[_DELIVERED_AT:end], now, line, int(digits))
            elif line.startswith(_ACCEPTED):
                if bench.ends_on_accepted:
                    self.accepted(line[_ACCEPTED_AT:line.index(_MSG_ID, _ACCEPTED_AT)], now, line)
            elif line and not line.isspace():
                self.other_frame(line, now)
        self.out = None
        if receipts or acks:
            out[:0] = self.confirmations(receipts, acks)
        if out:
            self.transport.write(b"".join(out))

    def confirmations(self, receipts: list[bytes], acks: list[bytes]) -> list[bytes]:
        """The frames confirming ``receipts`` and acknowledging ``acks`` (msg_ids as digits,
        as read): with batch_acks one frame each (a list of at most
        codec.MAX_IDS_PER_FRAME, one id alone in the single form), else one per id."""
        frames = []
        for ids, single, batch in ((receipts, b'{"type":"receipt","msg_id":%b}\n', b'{"type":"receipt","msg_ids":[%b]}\n'),
                                   (acks, b'{"type":"ack","msg_id":%b}\n', b'{"type":"ack","msg_ids":[%b]}\n')):
            if len(ids) == 1 or ids and not self.batched:
                frames += [single % msg_id for msg_id in ids]
            elif ids:
                frames += [batch % b",".join(ids[start:start + codec.MAX_IDS_PER_FRAME])
                           for start in range(0, len(ids), codec.MAX_IDS_PER_FRAME)]
        return frames

    def delivered(self, request_id: bytes, now: float, line: bytes, msg_id: int) -> None:
        started = self.sent_at.pop(request_id, None)
        if started is None:
            if msg_id in self.delivered_ids:  # told again (PROTOCOL.md allows it): counted apart
                self.bench.repeated += 1
            else:
                self.bench.unexpected(self, line)
        else:
            self.delivered_ids.add(msg_id)
            self.bench.delivered(self, now - started)

    def accepted(self, request_id: bytes, now: float, line: bytes) -> None:
        started = self.sent_at.get(request_id)
        if started is None:
            self.bench.unexpected(self, line)
        else:
            self.bench.acked(self, now - started)

    def other_frame(self, line: bytes, now: float) -> None:
        """Any frame but the message path's usual ones: decoded as the core decodes it
        (the login's frames, pings, errors; or a hot frame spelled another way)."""
        event = codec.decode(line, _SERVER_TYPES, const.MAX_TEXT_CHARS)
        kind = type(event)
        if kind is DirectMessage:
            self.write(codec.encode(Receipt(event.msg_id)))
        elif kind is Delivered:
            self.write(codec.encode(OutcomeAck(event.msg_id)))
            self.delivered(event.request_id.encode(), now, line, event.msg_id)
        elif kind is Accepted:
            if self.bench.ends_on_accepted:
                self.accepted(event.request_id.encode(), now, line)
        elif kind is Ping:
            self.write(codec.encode(Pong(event.token)))
        elif kind is Welcome:
            self.batched = BATCH_ACKS in (event.features or ())
            self.bench.last_welcome = now
            if not self.welcomed.done():
                self.welcomed.set_result(None)
        elif kind is ErrorReply:
            if outcome_of(event) is not None:  # the client core's rule: an expiry is acked too
                self.write(codec.encode(OutcomeAck(event.msg_id)))
            self.bench.failed(self, event)
        elif kind is FrameRejected:
            self.bench.unexpected(self, line)

    def write(self, frame: bytes) -> None:
        if self.out is not None:
            self.out.append(frame)
        else:
            self.transport.write(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"{self.name}: connection lost before welcome"))
        self.bench.lost(self)

    def send_to(self, other: str) -> None:
        self.counter += 1
        request_id = b"%d" % self.counter
        self.sent_at[request_id] = time.perf_counter()
        self.write(b'{"type":"send","id":"%b","to":"%b","text":"benchmark message %b"}\n'
                   % (request_id, other.encode(), request_id))


class Bench:
    """Counts outcomes against one server; the phases decide what to send next.

    A message ends at ``ack``, the acknowledgement its server gives (``Accepted`` for the
    relay, ``Delivered`` for the chat server): ``latencies`` holds those, and ``on_ack`` is
    called for each. ``delivered_latencies`` holds every delivered ack, whatever the server.
    """

    def __init__(self, ack: type = Delivered) -> None:
        self.ends_on_accepted = ack is Accepted
        self.latencies: list[float] = []
        self.delivered_latencies: list[float] = []
        self.errors: list[str] = []
        self.lost_clients = 0
        self.repeated = 0  # delivered acks told again for a message already delivered
        self.closing = False  # set before the benchmark closes its own clients
        self.on_ack: Callable[[BenchClient], None] | None = None
        self.last_welcome = 0.0
        # Resolved when ``delivered_goal`` delivered acks (or refusals) are in.
        self.all_delivered: asyncio.Future | None = None
        self.delivered_goal = 0
        # BENCH_TURNS: (arrival, latency) of each delivered ack in the latency phase.
        self.arrivals: list[tuple[float, float]] | None = None
        self.ticks: list[tuple[float, float]] | None = None  # and the generator's ticks (time, its CPU time)

    def acked(self, client: BenchClient, latency: float) -> None:
        self.latencies.append(latency)
        if self.on_ack is not None:
            self.on_ack(client)

    def delivered(self, client: BenchClient, latency: float) -> None:
        self.count_delivered(latency)
        if not self.ends_on_accepted:
            self.acked(client, latency)

    def count_delivered(self, latency: float) -> None:
        self.delivered_latencies.append(latency)
        if self.arrivals is not None:
            self.arrivals.append((time.perf_counter(), latency))
        waiting = self.all_delivered
        if waiting is not None and not waiting.done() and len(self.delivered_latencies) >= self.delivered_goal:
            waiting.set_result(None)

    def failed(self, client: BenchClient, error: ErrorReply) -> None:
        self.errors.append(f"{client.name}: {error.code}: {error.message}")
        if error.request_id is not None and client.sent_at.pop(error.request_id.encode(), None) is not None:
            # A refused message still ends: count it so a phase cannot wait for it forever.
            self.count_delivered(float("nan"))
            self.acked(client, float("nan"))

    def unexpected(self, client: BenchClient, frame: bytes) -> None:
        """An ack for no request this client has outstanding, or a frame it cannot read."""
        self.errors.append(f"{client.name}: unexpected frame {frame[:120]!r}")

    def lost(self, client: BenchClient) -> None:
        if not self.closing:
            self.lost_clients += 1


async def connect_clients(port: int, count: int, bench: Bench, prefix: str) -> tuple[list[BenchClient], float]:
    """Connect and log in ``count`` clients, at most 200 handshakes at a time (the login
    phase uses the cheaper :class:`LoginStorm`).

    Returns the clients and the seconds from the first connect to the last welcome.
    """
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(200)
    clients: list[BenchClient] = []
    first_connect = time.perf_counter()

    async def one(i: int) -> None:
        async with gate:
            client = BenchClient(f"{prefix}{i}", bench)
            await loop.create_connection(lambda: client, "127.0.0.1", port)
            await asyncio.wait_for(client.welcomed, 30)
            clients.append(client)

    await asyncio.gather(*(one(i) for i in range(count)))
    return clients, bench.last_welcome - first_connect


class LoginStorm:
    """Idle clients for the login phase: raw non-blocking sockets on one ``epoll``, no asyncio.

    Each client connects, sends one ``hello`` (encoded once by the project's client core,
    only the name differs) and reads until its first line, which must be a ``welcome``;
    after that it reads nothing (the server's notices wait in the socket's buffer) and
    answers nothing: the phase lasts seconds and the server's first heartbeat ping comes
    after ``const.HEARTBEAT_INTERVAL``. At most ``concurrency`` handshakes are under way at
    once, as in the throughput phase's ``connect_clients``.

    Why not asyncio clients: per connection, ``create_connection``, a transport, a protocol
    object and a client core cost the generator about 350 µs of CPU, so 10,000 logins took
    3.6 s against the bare relay, which does almost nothing per login: the generator, not
    the servers, was measured. Here a login costs the generator a few system calls.
    """

    def __init__(self, port: int, concurrency: int = 200) -> None:
        self.address = ("127.0.0.1", port)
        self.concurrency = concurrency
        self.sockets: list[socket.socket] = []
        self.errors: list[str] = []
        self.last_welcome = 0.0
        hello = Connection(Role.CLIENT).send(Hello("hello", "NAME", const.PROTOCOL_VERSION))
        self._hello = hello.split(b'"NAME"')

    def run(self, count: int, prefix: str, timeout: float = 120.0) -> float:
        """Log ``count`` clients in; returns the seconds from the first connect to the last welcome.

        Clients that fail (refused, closed, or not welcomed) are in ``errors``; the rest in
        ``sockets``, connected, until :meth:`close`.
        """
        epoll = select.epoll()
        pending: dict[int, list] = {}  # fd -> [socket, name, hello sent, bytes read]
        started = next_index = 0
        first_connect = time.perf_counter()
        deadline = first_connect + timeout
        try:
            while next_index < count or pending:
                while len(pending) < self.concurrency and next_index < count:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    sock.setblocking(False)
                    sock.connect_ex(self.address)  # EINPROGRESS, or done at once on loopback
                    name = f"{prefix}{next_index}"
                    next_index += 1
                    pending[sock.fileno()] = [sock, name, False, b""]
                    epoll.register(sock.fileno(), select.EPOLLOUT | select.EPOLLIN)
                if time.perf_counter() > deadline:
                    self.errors.append(f"{len(pending)} logins unanswered after {timeout:g} s")
                    break
                for fd, events in epoll.poll(1.0):
                    entry = pending[fd]
                    sock = entry[0]
                    if not entry[2] and events & select.EPOLLOUT:
                        failure = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                        if failure:
                            self._fail(epoll, pending, fd, f"{entry[1]}: connect: {os.strerror(failure)}")
                            continue
                        sock.send(f'"{entry[1]}"'.encode().join(self._hello))  # a few dozen bytes: one send
                        entry[2] = True
                        epoll.modify(fd, select.EPOLLIN)
                        continue
                    if events & (select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP):
                        try:
                            data = sock.recv(65536)
                        except OSError as exc:
                            self._fail(epoll, pending, fd, f"{entry[1]}: {exc}")
                            continue
                        if not data:
                            self._fail(epoll, pending, fd, f"{entry[1]}: connection closed before welcome")
                            continue
                        entry[3] += data
                        line, newline, _ = entry[3].partition(b"\n")
                        if not newline:
                            continue
                        epoll.unregister(fd)
                        del pending[fd]
                        if line.startswith(b'{"type":"welcome"'):
                            self.last_welcome = time.perf_counter()
                            self.sockets.append(sock)
                            started += 1
                        else:
                            self.errors.append(f"{entry[1]}: {line[:200].decode(errors='replace')}")
                            sock.close()
        finally:
            for entry in pending.values():
                entry[0].close()
            epoll.close()
        return max(0.0, self.last_welcome - first_connect)

    def _fail(self, epoll: select.epoll, pending: dict[int, list], fd: int, why: str) -> None:
        epoll.unregister(fd)
        pending.pop(fd)[0].close()
        self.errors.append(why)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(v for v in values if v == v)  # refused messages (NaN) have no latency
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def ack_name(kind: ServerKind) -> str:
    return "accepted acks (one hop)" if kind.ack is Accepted else "delivered acks"


async def throughput_phase(clients: list[BenchClient], bench: Bench, total: int, window: int) -> tuple[float, float]:
    """Closed loop: every client keeps ``window`` DMs in flight until ``total`` are acked.

    Returns the seconds until the last ack, and until the last delivered ack (the same for
    a server whose ack is the delivered one; a little later for the relay).
    """
    names = [c.name for c in clients]
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    budget = total
    bench.latencies.clear()
    bench.delivered_latencies.clear()
    bench.all_delivered, bench.delivered_goal = loop.create_future(), total

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

    bench.on_ack = next_for
    started = time.perf_counter()
    for _ in range(window):
        for client in clients:
            next_for(client)
    await asyncio.wait_for(done, 300)
    elapsed = time.perf_counter() - started
    bench.on_ack = None
    # The relay's last delivered acks trail its accepted ones: let them in before the next phase.
    try:
        await asyncio.wait_for(bench.all_delivered, 10)
    except asyncio.TimeoutError:
        pass  # the next phase's counts start afresh; the missing ones show as a lower rate here
    bench.all_delivered = None
    return elapsed, time.perf_counter() - started


async def latency_phase(clients: list[BenchClient], bench: Bench, rate: int, seconds: float) -> int:
    """Open loop: send ``rate`` DMs per second in total from random clients."""
    names = [c.name for c in clients]
    bench.latencies.clear()
    bench.delivered_latencies.clear()
    tick = 0.001
    sent = 0
    started = time.perf_counter()
    ticks = bench.ticks = [] if bench.arrivals is not None else None
    while (now := time.perf_counter()) - started < seconds:
        if ticks is not None:
            ticks.append((now, time.thread_time()))
        due = int((now - started) * rate) - sent
        for _ in range(due):
            client = random.choice(clients)
            other = random.choice(names)
            if other != client.name:
                client.send_to(other)
                sent += 1
        await asyncio.sleep(tick)
    deadline = time.perf_counter() + 30
    while len(bench.delivered_latencies) < sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return sent


# The generator at this share of its core or more is the bottleneck, not the server.
GENERATOR_BOUND = 0.9


@dataclass
class Result:
    """One server's figures in one round."""

    rate: float
    cpu_us: float
    generator_share: float
    p50: float
    p99: float
    server_waited: float | None  # share of the throughput phase it waited for a CPU
    server_share: float  # of a core, over the throughput phase
    latency_share: float  # of a core, over the latency phase


@dataclass(frozen=True)
class Busy:
    """How busy a server was over a phase: its CPU seconds, and its shares of a core, in all
    and of its main thread (the loop; of the others, only the durable store's committer
    works much)."""

    seconds: float
    share: float
    main: float


def latency_busy(pid: int, before: dict[int, tuple[float, float, int]], elapsed: float) -> Busy:
    """The server ``pid``'s CPU since ``before`` (its schedstats then), over ``elapsed`` seconds."""
    after = schedstats(pid) or {}
    used = {tid: ran - before.get(tid, (0.0, 0.0, 0))[0] for tid, (ran, _, _) in after.items()}
    total = sum(used.values())
    return Busy(total, total / elapsed, used.get(pid, 0.0) / elapsed)


async def measure(kind: ServerKind, args: argparse.Namespace, bench: Bench, pinning: Pinning) -> Result:
    """Throughput and latency phases against one server."""
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as data_dir:
        server = kind.launch(data_dir, pinning.server)
        try:
            print(f"\n== server {kind.title}")
            rss_start = server.memory_kib("VmRSS")
            clients, login_seconds = await connect_clients(server.port, args.clients, bench, "user")
            print(f"connected {len(clients)} clients in {login_seconds:.1f} s")

            cpu = server.cpu_seconds()
            generator_cpu = time.process_time()
            waits = server.cpu_wait_seconds(), cpu_wait_seconds("self")
            elapsed, all_delivered = await throughput_phase(clients, bench, args.messages, args.window)
            cpu = server.cpu_seconds() - cpu
            generator_share = (time.process_time() - generator_cpu) / all_delivered
            # Shares of the whole phase, until the last delivered ack: the server's work ends there.
            waited = [None if before is None or after is None else max(0.0, after - before) / all_delivered
                      for before, after in zip(waits, (server.cpu_wait_seconds(), cpu_wait_seconds("self")))]
            rate = args.messages / elapsed
            lat = bench.latencies
            print(f"throughput: {args.messages} direct messages, {args.clients} clients, window {args.window}")
            print(f"  {rate:,.0f} messages/s with {ack_name(kind)} ({elapsed:.2f} s); server CPU "
                  f"{cpu / all_delivered:.0%} of a core, {cpu / args.messages * 1e6:.0f} µs per message")
            print(f"  {kind.ack.TYPE}-ack latency p50 {ms(percentile(lat, 0.5))}, p99 {ms(percentile(lat, 0.99))}")
            if kind.ack is not Delivered:
                print(f"  (its forwarded delivered acks all in after {all_delivered:.2f} s: "
                      f"{args.messages / all_delivered:,.0f} messages/s counted that way)")
            bound = generator_share >= GENERATOR_BOUND
            both = bound and cpu / all_delivered >= GENERATOR_BOUND
            print(f"  load generator CPU {generator_share:.0%} of its core"
                  + (": GENERATOR-BOUND, and the server near 100% too: both at their limit here" if both else
                     ": GENERATOR-BOUND, the generator and not the server is the limit here;"
                     " this server's rate is a floor" if bound else ""))
            if None not in waited:
                print(f"  waiting for a CPU (taken by other work on the machine): server {waited[0]:.0%} of the "
                      f"phase, load generator {waited[1]:.0%}")

            # The generator's own garbage collections would show up as server latency.
            gc.collect()
            gc.freeze()
            turns = os.environ.get("BENCH_TURNS")
            traced = (os.environ.get("BENCH_TRACE") or turns) and not kind.reference and kind.start is None
            if traced:
                os.kill(server.proc.pid, signal.SIGUSR1)
            if turns:
                bench.arrivals = []
            threads, started = schedstats(server.proc.pid) or {}, time.monotonic()
            sent = await latency_phase(clients, bench, args.rate, args.seconds)
            busy = latency_busy(server.proc.pid, threads, time.monotonic() - started)
            if traced:
                os.kill(server.proc.pid, signal.SIGUSR2)
            if turns and bench.arrivals is not None:
                with open(f"{turns}.{'relay' if kind.reference else 'chat'}.msgs", "w") as out:
                    out.writelines(f"{at:.6f} {latency:.6f}\n" for at, latency in bench.arrivals)
                with open(f"{turns}.{'relay' if kind.reference else 'chat'}.ticks", "w") as out:
                    out.writelines(f"{at:.6f} {cpu:.6f}\n" for at, cpu in bench.ticks or ())
                bench.arrivals = None
            lat = bench.delivered_latencies
            p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
            print(f"latency at an offered {args.rate:,} messages/s for {args.seconds:g} s ({sent} messages)")
            print(f"  delivered-ack latency p50 {ms(p50)}, p99 {ms(p99)}, max {ms(max(lat, default=0.0))}")
            print(f"  server CPU meanwhile: {busy.share:.1%} of a core (main thread {busy.main:.1%}, others "
                  f"{max(0.0, busy.share - busy.main):.1%}), {busy.seconds / max(sent, 1) * 1e6:.0f} µs a message")
            if kind.ack is not Delivered:
                print(f"  {kind.ack.TYPE}-ack latency p50 {ms(percentile(bench.latencies, 0.5))}, "
                      f"p99 {ms(percentile(bench.latencies, 0.99))}")
            print(f"server RSS: {rss_start / 1024:.1f} MiB at start, peak {server.memory_kib('VmHWM') / 1024:.1f} MiB")
            bench.closing = True
            for client in clients:
                client.transport.close()
            gc.unfreeze()
            return Result(rate, cpu / args.messages * 1e6, generator_share, p50, p99, waited[0], cpu / all_delivered,
                          busy.share)
        finally:
            server.stop()


def compile_sources() -> None:
    """Bring the project's bytecode caches up to date, so that each server starts from them.

    A server that compiles a module it imports (its .pyc missing or older than the source:
    the first run after an edit, or a fresh copy of the tree) keeps the compiler's garbage in
    its heap: its RSS at start read 32.3 MiB instead of 30.1, and the sessions logged in
    after reused part of it, so the idle bytes came out 80 to 90 lower per connection
    (2,462-2,472 against 2,555-2,562, the same tree) depending on the caches' state.
    """
    compileall.compile_dir(ROOT, quiet=1, rx=re.compile(r"[/\\](?:tests|\.git)[/\\]"))


async def measure_idle(kind: ServerKind, count: int, bench: Bench, pinning: Pinning) -> tuple[float, float]:
    """Log ``count`` idle clients in after ``count // 20`` warm-up ones; returns (seconds for
    the ``count`` logins, server bytes per idle connection).

    The bytes are the RSS difference between the warm-up population and ``count`` more,
    each read 2 s after its storm (the server settled), divided by ``count``. The RSS read
    right after the server says "listening" moved by ±220 bytes per connection at 10,000
    from run to run in round five (memory that start-up freed is reused by the first
    sessions, more or less of it); the warm-up takes that up, and the reading after it is
    one of a settled server, like the one after the storm. Why a few warm-up clients and
    not the difference of N/2 and N: the server's dicts double their tables as they grow,
    but a set below 50,000 entries quadruples its own, so a window of one doubling saw the
    relay's set of sessions grow in some runs and not in others; from 500 to 10,500 every
    table grows as from 0 to 10,000 (no dict of users reaches its next size, 10,922). The
    figure from the start reading is printed beside it, as earlier rounds measured it.
    """
    warm = max(1, count // 20)
    compile_sources()
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as data_dir:
        server = kind.launch(data_dir, pinning.server)
        try:
            start = server.memory_kib("VmRSS")
            storm = LoginStorm(server.port)
            try:
                # In a thread: the storm runs its own epoll loop, and this loop stays free.
                await asyncio.to_thread(storm.run, warm, "warm")
                warmed = len(storm.sockets)
                await asyncio.sleep(2)  # let the server settle (the first heartbeat sweep, GC)
                settled = server.memory_kib("VmRSS")
                login_seconds = await asyncio.to_thread(storm.run, count, "idle")
                total = len(storm.sockets)
                bench.errors += storm.errors
                print(f"\n== idle, {kind.label}: {total - warmed:,} logins (connect, hello, welcome; 200 at a time) "
                      f"in {login_seconds:.3f} s, first connect to last welcome")
                await asyncio.sleep(2)  # as above: both readings settled alike
                after = server.memory_kib("VmRSS")
                per_connection = (after - settled) * 1024 / max(1, total - warmed)
                from_start = (after - start) * 1024 / max(1, total)
                print(f"idle, {kind.label}: {warmed} -> {total} logged-in connections: server RSS settled "
                      f"{settled / 1024:.1f} -> {after / 1024:.1f} MiB, {per_connection:,.0f} bytes per connection")
                print(f"idle, {kind.label}: {total} logged-in connections: server RSS {start / 1024:.1f} -> "
                      f"{after / 1024:.1f} MiB, {from_start:,.0f} bytes per connection from the start reading "
                      f"(start-up noise included)")
            finally:
                storm.close()
            return login_seconds, per_connection
        finally:
            server.stop()


def ratio_text(values: list[float]) -> str:
    shown = ", ".join(f"{v:.2f}×" for v in values)
    return f"{statistics.median(values):.2f}×" + (f" (median of {len(values)} rounds: {shown})" if len(values) > 1 else "")


async def run(args: argparse.Namespace, pinning: Pinning) -> int:
    bench = Bench()
    chat_labels = {"both": {"memory", "durable"}, "memory": {"memory"}, "durable": {"durable"}}[args.mode]
    kinds = [k for k in SERVER_KINDS if k.reference or k.label in chat_labels]
    reference = next(k for k in kinds if k.reference)
    results: dict[str, list[Result]] = {k.label: [] for k in kinds}
    for _ in range(args.repeat):  # alternate the servers, so drift in the machine hits all of them
        for kind in kinds:
            phase = Bench(kind.ack)  # fresh counts: the previous phase's clients are still closing
            results[kind.label].append(await measure(kind, args, phase, pinning))
            bench.errors += phase.errors
            bench.lost_clients += phase.lost_clients

    if args.client_core:  # the project's own asyncio client, over the shared core (bench/coreclients.py)
        for kind in kinds:
            if not kind.reference:
                bench.errors += await coreclients.measure(kind, args, pinning)

    idle: dict[str, tuple[float, float]] = {}
    if args.idle:
        for kind in kinds:
            if kind.idle:
                phase = Bench(kind.ack)
                idle[kind.label] = await measure_idle(kind, args.idle, phase, pinning)
                bench.errors += phase.errors
                bench.lost_clients += phase.lost_clients

    def median(label: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[label])

    rounds = f"medians of {args.repeat} rounds" if args.repeat > 1 else "one round"
    print(f"\n== summary ({rounds}; {args.clients:,} clients; {pinning.note})")
    width = max(len(k.label) for k in kinds) + 2
    print(f"{'':34}" + "".join(f"{k.label:>{width + 8}}" for k in kinds))
    rows = [
        ("messages/s (each server's own ack)", lambda k: f"{median(k.label, 'rate'):,.0f}"),
        ("server CPU µs per message", lambda k: f"{median(k.label, 'cpu_us'):.0f}"),
        (f"delivered p50 at {args.rate:,}/s, ms", lambda k: f"{median(k.label, 'p50') * 1000:.2f}"),
        (f"delivered p99 at {args.rate:,}/s, ms", lambda k: f"{median(k.label, 'p99') * 1000:.2f}"),
        (f"server CPU at {args.rate:,}/s, share", lambda k: f"{median(k.label, 'latency_share'):.0%}"),
        ("generator CPU, share of its core", lambda k: f"{median(k.label, 'generator_share'):.0%}"),
    ]
    if all(r.server_waited is not None for rs in results.values() for r in rs):
        rows.append(("server waited for a CPU, share", lambda k: f"{median(k.label, 'server_waited'):.0%}"))
    if idle:
        rows += [(f"{args.idle:,} logins, s", lambda k: f"{idle[k.label][0]:.2f}" if k.label in idle else "-"),
                 ("bytes per idle connection", lambda k: f"{idle[k.label][1]:,.0f}" if k.label in idle else "-")]
    for title, cell in rows:
        print(f"{title:34}" + "".join(f"{cell(k):>{width + 8}}" for k in kinds))
    if any(r.generator_share >= GENERATOR_BOUND for rs in results.values() for r in rs):
        print("note: the load generator was near 100% of its core in some rounds (GENERATOR-BOUND above): "
              "there the servers may be faster than measured")
    waits = [r.server_waited for rs in results.values() for r in rs if r.server_waited is not None]
    if waits and max(waits) >= 0.2:
        print(f"note: the servers waited for a CPU up to {max(waits):.0%} of a phase, taken by other work on the "
              "machine: absolute figures are understated, and a ratio holds only where the waits were alike")

    if {"memory", "durable"} <= results.keys():
        cost = 1 - median("durable", "rate") / median("memory", "rate")
        print(f"\ndurability costs {cost:.0%} of the in-memory throughput"
              f"{' (medians)' if args.repeat > 1 else ''}")
    print(f"\n== headline: chat server ÷ bare relay, messages per second, each with its own ack "
          f"(relay: accepted, one hop; chat server: delivered, end to end)")
    for kind in kinds:
        if kind.reference:
            continue
        ratios = [mine.rate / ref.rate for mine, ref in zip(results[kind.label], results[reference.label])]
        target = f"; issue 9's target ≥ {kind.target:.1f}×" if kind.target is not None else ""
        print(f"ratio {kind.label}: {ratio_text(ratios)}{target}")
        # The same comparison by CPU: it depends far less on how much of its CPU other work
        # left each server, so on a busy shared machine it is the steadier of the two.
        by_cpu = [ref.cpu_us / mine.cpu_us for mine, ref in zip(results[kind.label], results[reference.label])]
        print(f"  by server CPU per message (relay µs ÷ {kind.label} µs): {ratio_text(by_cpu)}")
        pairs = list(zip(results[reference.label], results[kind.label]))
        if all(ref.server_waited is not None and mine.server_waited is not None for ref, mine in pairs):
            # A round where one server waited much longer than the other compares the machine, not the servers.
            shown = ", ".join(f"{ref.server_waited:.0%}/{mine.server_waited:.0%}" for ref, mine in pairs)
            print(f"  share of each round the servers waited for a CPU, relay/{kind.label}: {shown}")
        bound = [ref for ref, _ in pairs if ref.generator_share >= GENERATOR_BOUND]
        floor = sum(ref.server_share < GENERATOR_BOUND for ref in bound)
        if floor:
            print(f"  in {floor} of {len(pairs)} rounds the relay was GENERATOR-BOUND with CPU to spare: it could go "
                  "faster than measured, so the ratio there is an upper bound")
        if len(bound) > floor:
            print(f"  in {len(bound) - floor} of {len(pairs)} rounds the relay and the generator were both near 100% "
                  "of their cores: the relay's rate is about right, but a server faster than it could not show it")

    if bench.errors or bench.lost_clients:
        print(f"\nproblems: {len(bench.errors)} errors, {bench.lost_clients} connections lost early")
        for line in bench.errors[:10]:
            print("  " + line)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--rooms" in argv:  # the room workload (issue 13): bench/rooms.py, with its own flags
        from bench import rooms
        return rooms.main([arg for arg in argv if arg != "--rooms"])
    if "--instructions" in argv:  # issue 9: both servers' instructions per message, under valgrind
        from bench import instructions
        return instructions.main([arg for arg in argv if arg != "--instructions"])
    if "--cluster" in argv:  # issue 10's benchmark: its own module, its own options
        from bench.cluster import main as cluster_main
        return cluster_main([a for a in argv if a != "--cluster"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Never read here (main() hands over above): listed so that --help shows every workload.
    parser.add_argument("--rooms", action="store_true",
                        help="the room workload instead: one room of 1,000 members (bench/rooms.py; see its --help)")
    parser.add_argument("--cluster", action="store_true",
                        help="issue 10's cluster benchmark instead (bench/cluster.py; see its --help)")
    parser.add_argument("--instructions", action="store_true",
                        help="instructions per message of the relay and the chat server under valgrind, and "
                             "their ratio, instead (bench/instructions.py; minutes)")
    parser.add_argument("--clients", type=int, default=1000, help="clients sending each other direct messages")
    parser.add_argument("--messages", type=int, default=100_000, help="direct messages in the throughput phase")
    parser.add_argument("--window", type=int, default=4, help="DMs each client keeps in flight")
    parser.add_argument("--rate", type=int, default=2000, help="offered messages per second, latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to measure (0: skip)")
    parser.add_argument("--client-core", type=int, default=coreclients.CORE_CLIENTS,
                        help="client.aio clients in the client-core phase (0: skip)")
    parser.add_argument("--core-rate", type=int, default=coreclients.CORE_RATE,
                        help="offered messages per second, client-core phase")
    parser.add_argument("--mode", choices=["both", "durable", "memory"], default="both",
                        help="chat server storage to measure next to the relay (default both, and the cost "
                             "of durability)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the throughput and latency phases this many rounds; report medians")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the server and the generator to different CPUs")
    parser.add_argument("--quick", action="store_true", help="small figures: 100 clients, 5,000 messages")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny figures, only to check that every phase runs and reports (a few seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.messages, args.seconds, args.idle = 100, 5000, 2.0, 500
    if args.smoke:
        # 2,000 messages, not fewer: the throughput phase's CPU is read in the kernel's 10 ms
        # ticks (/proc/PID/stat), and 400 took the bare relay 0.01 s on a fast moment: 0 ticks,
        # "0 µs per message" (CI, once).
        args.clients, args.messages, args.rate, args.seconds, args.idle = 20, 2000, 200, 0.5, 50
    if args.smoke:  # the client-core phase's own line (bench/coreclients.py)
        args.client_core, args.core_rate = 4, 100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max(args.clients, args.idle + args.idle // 20) + 100  # the idle phase's warm-up too
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    pinning = plan_pinning(args.pin)
    print(f"chat benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {pinning.note}")
    return asyncio.run(run(args, pinning))


if __name__ == "__main__":
    sys.exit(main())
