"""What Redis does per cross-node direct message, through two real nodes: commands,
scripts, CPU and append-only file bytes.

Run from the repository root (redis-server needed; about a minute)::

    python3 -m bench.cluster_redis_stats                  # 20,000 messages
    python3 -m bench.cluster_redis_stats --messages 5000 --pairs 100 --window 4

Starts its own ``redis-server`` (``appendfsync always``, as the cluster benchmark runs it)
and two nodes (``--cluster``), logs in ``--pairs`` pairs of clients (one of each pair on
each node: every message is cross-node) and, once they are in, takes Redis's
``INFO commandstats``, ``INFO cpu`` and ``INFO persistence`` (``aof_current_size``); then
sends ``--messages`` messages, ``--window`` in flight from every client to its partner
(bench.node_instructions' exchange), waits for their delivered acks and for the nodes'
lazy inbox acknowledgements, and prints the differences divided by the messages: calls of
each command (a script's commands counted apart from the script: Redis's commandstats
count both), Redis's CPU µs (user + system) and AOF bytes per message. Calls are exact
counts, not times; the CPU figure moves with the machine's load (run it under the
exclusive lock to compare trees).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile

from resp import RedisClient

from .benchmark import ServerProcess, compile_sources, stop_process
from .cluster import Redis, cluster_command
from .node_instructions import _exchange

# Written by _exchange's hook once every client is in (the stats before the messages).
_before: dict = {}


async def _info(url: str) -> dict[str, object]:
    """Redis's counters: 'cmd' -> {command: calls}, 'cpu' seconds, 'aof' bytes."""
    async with RedisClient(url, timeout=30) as client:
        text = (await client.execute("INFO", "everything")).decode()
    calls: dict[str, int] = {}
    cpu = aof = 0.0
    for line in text.splitlines():
        if line.startswith("cmdstat_"):
            name, _, values = line[len("cmdstat_"):].partition(":")
            fields = dict(kv.split("=") for kv in values.split(","))
            calls[name] = int(fields["calls"])
        elif line.startswith(("used_cpu_sys:", "used_cpu_user:")):
            cpu += float(line.split(":")[1])
        elif line.startswith("aof_current_size:"):
            aof = float(line.split(":")[1])
    return {"cmd": calls, "cpu": cpu, "aof": aof}


def run(messages: int, pairs: int, window: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="chat-redisstats-") as workdir:
        redis = Redis(workdir, "always")
        nodes = []
        try:
            for label in ("A", "B"):
                nodes.append(ServerProcess(label, cluster_command(redis.url)(workdir)))

            async def go() -> dict[str, object]:
                async def before_sends() -> None:
                    _before.update(await _info(redis.url))
                await _exchange([n.port for n in nodes], pairs, window, messages, before_sends)
                # The nodes acknowledge their inbox entries within a LAZY_SECONDS: wait
                # until no entry is left unacknowledged (or a bound).
                async with RedisClient(redis.url, timeout=30) as client:
                    for _ in range(200):
                        left = 0
                        for key in await client.execute("KEYS", "*inbox:*"):
                            left += int(await client.execute("XLEN", key))
                        if left == 0:
                            break
                        await asyncio.sleep(0.05)
                return await _info(redis.url)

            after = asyncio.run(go())
        finally:
            for node in nodes:
                stop_process(node.proc)
            redis.stop()
    before = _before
    calls = {name: (after["cmd"][name] - before["cmd"].get(name, 0)) / messages for name in after["cmd"]}
    return {"calls": {k: v for k, v in sorted(calls.items()) if v > 0.001},
            "cpu_us": (after["cpu"] - before["cpu"]) * 1e6 / messages,
            "aof": (after["aof"] - before["aof"]) / messages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=100, help="pairs of clients, one on each node")
    parser.add_argument("--window", type=int, default=4, help="messages in flight from each client")
    args = parser.parse_args(argv)
    compile_sources()
    figures = run(args.messages, args.pairs, args.window)
    print(f"{args.messages:,} cross-node messages ({args.pairs} pairs, {args.window} in flight each), per message:")
    for name, per in figures["calls"].items():
        print(f"  {name:28} {per:8.3f} calls")
    print(f"  Redis CPU {figures['cpu_us']:.1f} µs, AOF {figures['aof']:.0f} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
