"""Benchmark the RESP client: client CPU time per Redis command.

Run from the repository root::

    python3 -m bench.resp_bench                     # starts its own redis-server
    python3 -m bench.resp_bench --url redis://127.0.0.1:6379/0 --commands 200000

Three workloads, each alternating ``SET key value`` and ``GET key`` over 1,000 keys with
64-byte values:

1. ``pipeline``: batches of ``--batch`` commands with :meth:`RedisClient.pipeline`;
2. ``gather``: the same batches as ``asyncio.gather`` of one ``execute`` per command
   (what concurrent callers produce: a task per command, one write per loop turn);
3. ``sequential``: one command per round trip (a tenth as many commands), for latency.

It prints, for each, the client process's CPU time per command (``time.process_time``:
Redis runs in another process and is not counted), commands per second and, for the
sequential run, the round-trip time. The best of ``--repeat`` runs is reported: the
machine is shared, and the minimum is the figure least disturbed by others.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from resp import RedisClient

VALUE = b"v" * 64


def _commands(count: int) -> list[tuple]:
    out = []
    for i in range(count):
        key = f"bench:{i % 1000}"
        out.append(("SET", key, VALUE) if i % 2 == 0 else ("GET", key))
    return out


async def _pipeline(client: RedisClient, commands: list[tuple], batch: int) -> None:
    for start in range(0, len(commands), batch):
        await client.pipeline(commands[start:start + batch])


async def _gather(client: RedisClient, commands: list[tuple], batch: int) -> None:
    for start in range(0, len(commands), batch):
        await asyncio.gather(*(client.execute(*c) for c in commands[start:start + batch]))


async def _sequential(client: RedisClient, commands: list[tuple], batch: int) -> None:
    for command in commands:
        await client.execute(*command)


async def _measure(url: str, workload, commands: list[tuple], batch: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for ``workload`` on a connected client."""
    async with RedisClient(url, timeout=30) as client:
        assert await client.execute("PING") == "PONG"
        cpu, wall = time.process_time(), time.perf_counter()
        await workload(client, commands, batch)
        return time.process_time() - cpu, time.perf_counter() - wall


def _start_redis(workdir: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("no redis-server on PATH: install it or pass --url")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir, "--logfile", ""],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not answers_ping(port, proc, 10):
        proc.kill()
        sys.exit("redis-server did not start")
    return proc, f"redis://127.0.0.1:{port}/0"


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listened on a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers_ping(port: int, proc: subprocess.Popen, seconds: float) -> bool:
    """Wait (at most ``seconds``) until the Redis on 127.0.0.1:``port`` answers PING: True;
    False if the time runs out or ``proc`` ends first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return True
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            return False
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="an existing Redis (default: start one)")
    parser.add_argument("--commands", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    proc = None
    with tempfile.TemporaryDirectory() as workdir:
        url = args.url
        if url is None:
            proc, url = _start_redis(workdir)
        try:
            print(f"{args.commands:,} commands (SET/GET, 64-byte values), batches of {args.batch}, "
                  f"best of {args.repeat}")
            for name, workload, count in [("pipeline", _pipeline, args.commands),
                                          ("gather", _gather, args.commands),
                                          ("sequential", _sequential, args.commands // 10)]:
                commands = _commands(count)
                runs = [asyncio.run(_measure(url, workload, commands, args.batch))
                        for _ in range(args.repeat)]
                cpu = min(r[0] for r in runs)
                wall = min(r[1] for r in runs)
                line = (f"{name:>10}: {cpu / count * 1e6:6.2f} µs client CPU per command, "
                        f"{count / wall:>9,.0f} commands/s")
                if name == "sequential":
                    line += f", {wall / count * 1e6:.0f} µs per round trip"
                print(line)
        finally:
            if proc is not None:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(10)


if __name__ == "__main__":
    main()
