"""One cluster node's whole work per cross-node direct message, counted in instructions.

Run from the repository root (valgrind and redis-server needed; a few minutes)::

    python3 -m bench.node_instructions                   # 2,000 and 6,000 messages
    python3 -m bench.node_instructions --small 1000 --large 3000
    python3 -m bench.node_instructions --profile FILE    # no valgrind: node A under cProfile

Starts its own ``redis-server`` (``appendfsync always``, as the cluster benchmark runs it),
node B plainly and node A under ``valgrind --tool=callgrind``, both with ``--cluster``;
logs in ``--pairs`` pairs of clients, one of each pair on each node, and keeps ``--window``
messages in flight from every client to its partner (the benchmark's generator, its
frames and ``batch_acks``), so every message is cross-node and node A handles half of them
as the sender's node (the send, the store, `accepted`, the receipt's `delivered` from its
inbox, the ack) and half as the recipient's (the message from its inbox, the `dm`, the
receipt). Node A's count for ``--large`` messages minus the one for ``--small``, divided by
their difference, is one node's instructions a cross-node message (both nodes together do
about twice that): start-up, logins and shutdown cancel. Unlike the CPU times bench.cluster
reads, the count does not move with the machine's load; it leaves out the kernel's part
(``send``, ``recv``, ``epoll``). Node A under valgrind is the slow process, so its loop
turns are full, as a node's are under the benchmark's throughput phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Awaitable, Callable

from .benchmark import ROOT, BenchClient, ServerProcess, compile_sources, stop_process
from .cluster import Redis, SplitBench, await_directories, cluster_command

# Node A under valgrind runs some fifty times slower: with the usual five seconds its
# heartbeat's deadline passed during a long turn and it rejoined (claims, notices: work of
# its own in the count), and a two-second Redis timeout could fire. An hour of each.
_PATIENCE = 3600.0


def _run_patient_node(argv: list[str]) -> int:
    """``--node-a``: chatserver.py's main with a long heartbeat TTL and Redis timeouts."""
    from server.cluster.node import ClusterNode
    from server.stores.redis import RedisStore
    import chatserver
    # (prefix, node_id, beat, ttl, timeout, clock, wall): the TTL and the timeout.
    defaults = list(ClusterNode.__init__.__defaults__)
    defaults[3] = defaults[4] = _PATIENCE
    ClusterNode.__init__.__defaults__ = tuple(defaults)
    RedisStore.__init__.__kwdefaults__ = {**RedisStore.__init__.__kwdefaults__, "timeout": _PATIENCE}
    return chatserver.main(argv)


class _Node:
    """A node process whose log is read for its port, and for valgrind's count at its end."""

    def __init__(self, argv: list[str], env: dict[str, str], timeout: float) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.port = 0
        self.count: int | None = None
        started = threading.Event()

        def read_log() -> None:
            for line in self.proc.stderr:
                found = re.search(r"listening on \S+:(\d+)", line)
                if found and not started.is_set():
                    self.port = int(found.group(1))
                    started.set()
                collected = re.search(r"Collected\s*:\s*(\d+)", line)
                if collected:
                    self.count = int(collected.group(1))
                elif "Traceback" in line or " ERROR " in line:
                    print("node:", line.rstrip(), file=sys.stderr)

        self.reader = threading.Thread(target=read_log, daemon=True)
        self.reader.start()
        if not started.wait(timeout):
            stop_process(self.proc)
            raise RuntimeError("node A did not start")


async def _exchange(ports: list[int], pairs: int, window: int, messages: int,
                    before_sends: Callable[[], Awaitable[None]] | None = None) -> None:
    """Log the pairs in, then (after ``await before_sends()``, if given) send ``messages``
    cross-node messages, each client ``window`` in flight to its partner, until all their
    delivered acks are in."""
    loop = asyncio.get_running_loop()
    bench = SplitBench()
    clients: list[list[BenchClient]] = [[], []]
    for i in range(pairs):
        for side in (0, 1):
            client = BenchClient(f"p{i}n{side}", bench)
            await loop.create_connection(lambda: client, "127.0.0.1", ports[side])
            await asyncio.wait_for(client.welcomed, 120)
            clients[side].append(client)
    await await_directories(ports, timeout=300)
    if before_sends is not None:
        await before_sends()
    partner = {c.name: clients[1 - side][i].name for side in (0, 1) for i, c in enumerate(clients[side])}
    budget = messages
    done = loop.create_future()

    def next_for(client: BenchClient) -> None:
        nonlocal budget
        if budget > 0:
            budget -= 1
            client.send_to(partner[client.name])
        elif not done.done() and len(bench.latencies) >= messages:
            done.set_result(None)

    bench.on_ack = next_for
    for _ in range(window):
        for side in clients:
            for client in side:
                next_for(client)
    await asyncio.wait_for(done, 3600)
    if bench.errors:
        raise RuntimeError(f"{len(bench.errors)} errors, first {bench.errors[0]}")
    # The last delivered acks' acks: give node A time to take them before it stops.
    await asyncio.sleep(0)
    bench.closing = True
    for side in clients:
        for client in side:
            client.transport.write(b'{"type":"bye"}\n')
    deadline = time.monotonic() + 600
    while any(not c.transport.is_closing() for side in clients for c in side) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for side in clients:
        for client in side:
            client.transport.close()


def count(messages: int, pairs: int, window: int, profile: str | None = None) -> int | None:
    """Node A's instructions for start-up, logins, ``messages`` and shutdown (None with
    ``profile``: node A ran under cProfile instead, its stats written there)."""
    if shutil.which("redis-server") is None or (profile is None and shutil.which("valgrind") is None):
        raise RuntimeError("needs redis-server and valgrind on PATH")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="chat-nodecount-") as workdir:
        redis = Redis(workdir, "always")
        b = a = None
        try:
            b = ServerProcess("B", cluster_command(redis.url)(workdir))
            argv = [os.path.realpath(sys.executable),  # the interpreter itself, not pyenv's shim
                    "-m", "bench.node_instructions", "--node-a", *cluster_command(redis.url)(workdir)[2:]]
            if profile:
                argv[1:1] = ["-m", "cProfile", "-o", profile]
            else:
                argv[:0] = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
            a = _Node(argv, env, 300)
            asyncio.run(_exchange([a.port, b.port], pairs, window, messages))
            a.proc.terminate()
            a.proc.wait(600)
            a.reader.join(60)
            return a.count if profile is None else None
        finally:
            for node in (a, b):
                if node is not None and node.proc.poll() is None:
                    stop_process(node.proc)
            redis.stop()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--node-a"]:
        return _run_patient_node(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=6000)
    parser.add_argument("--pairs", type=int, default=100, help="pairs of clients, one on each node")
    parser.add_argument("--window", type=int, default=4, help="messages in flight from each client")
    parser.add_argument("--profile", metavar="FILE", help="no count: node A under cProfile, --large messages")
    args = parser.parse_args(argv)
    compile_sources()
    if args.profile:
        count(args.large, args.pairs, args.window, args.profile)
        return 0
    small = count(args.small, args.pairs, args.window)
    large = count(args.large, args.pairs, args.window)
    if small is None or large is None:
        raise SystemExit("valgrind printed no count")
    print(f"node A: {(large - small) / (args.large - args.small):,.0f} instructions per cross-node message "
          f"({args.large:,} - {args.small:,} messages, {args.pairs} pairs, {args.window} in flight each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
