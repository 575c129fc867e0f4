"""A login storm: N clients log in at once; how long it takes and how many notice bytes flow.

    python3 -m bench.presence_storm [--clients 10000] [--watchers 0] [--watch 20]
                                   [--server-root DIR]

Starts ``chatserver.py --memory`` (from ``--server-root``, default this checkout, so an
older commit unpacked elsewhere can be measured the same way) on a free loopback port,
connects ``--clients`` clients, at most 200 handshakes at a time as the benchmark does,
and reports:

- the time until every client was welcomed, and until the last notice arrived (the storm
  is over when nothing has come for ``--quiet`` seconds; that wait is not counted);
- the bytes the clients received after their welcome (join notices, nearly all of it);
- the server's CPU time for the storm.

``--watchers W`` makes the first W clients watch ``--watch`` names each of clients that
log in after them (as a contact list would), so the cost of presence for relationships
shows too. Clients do not parse what they get after the welcome: they only count it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.benchmark import process_cpu_seconds, stop_process

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """``chatserver.py --memory`` in a subprocess from ``root``; stopped by its PID.

    Its log goes to a file, not a pipe: a pipe drained by a thread of this busy process
    fills during a storm (two lines per login), and the server then blocks on its writes.
    """

    def __init__(self, root: Path) -> None:
        self.log = tempfile.NamedTemporaryFile("w+", prefix="storm-server-", suffix=".log")
        self.proc = subprocess.Popen(
            [sys.executable, str(root / "chatserver.py"), "--host", "127.0.0.1", "--port", "0", "--web-port", "0",
             "--max-connections-per-address", "100000", "--rate-per-address", "1e9",
             "--rate-per-connection", "1e9", "--memory"],
            cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log, text=True)
        self.port = 0
        deadline = time.monotonic() + 15
        while not self.port:
            match = re.search(r"listening on \S+:(\d+)", Path(self.log.name).read_text())
            if match:
                self.port = int(match.group(1))
            elif time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("the server did not start")
            else:
                time.sleep(0.05)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        problems = [line for line in Path(self.log.name).read_text().splitlines()
                    if " ERROR " in line or "Traceback" in line]
        for line in problems[:20]:
            print("server:", line, file=sys.stderr)
        self.log.close()


class StormClient(asyncio.Protocol):
    """Logs in; after the welcome only counts bytes (and answers pings)."""

    last_byte = 0.0  # when any client last received something

    def __init__(self, name: str, watch: list[str]) -> None:
        self.name = name
        self.watch = watch
        self.buffer = b""
        self.received = 0
        self.welcomed = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        hello = {"type": "hello", "id": "h", "name": self.name, "version": 1}
        transport.write(json.dumps(hello).encode() + b"\n")

    def data_received(self, data: bytes) -> None:
        StormClient.last_byte = time.perf_counter()
        if self.welcomed.done():
            self.received += len(data)
            if b'"type":"ping"' in data:
                self.transport.write(b'{"type":"pong","token":"storm"}\n')
            return
        self.buffer += data
        if b"\n" not in self.buffer:
            return
        first, _, rest = self.buffer.partition(b"\n")
        if b'"type":"welcome"' not in first:
            self.welcomed.set_exception(RuntimeError(f"{self.name}: {first[:200]!r}"))
            return
        self.received += len(rest)
        self.buffer = b""
        if self.watch:
            request = {"type": "watch", "id": "w", "names": self.watch}
            self.transport.write(json.dumps(request).encode() + b"\n")
        self.welcomed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.welcomed.done():
            self.welcomed.set_exception(ConnectionError(f"{self.name}: lost before the welcome"))


async def storm(port: int, count: int, watchers: int, watch: int, quiet: float) -> dict:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(200)
    clients: list[StormClient] = []

    def watched(i: int) -> list[str]:
        # Watcher i watches `watch` clients that log in after the watchers, spread out.
        if i >= watchers:
            return []
        return [f"s{watchers + (i * watch + k) % max(1, count - watchers)}" for k in range(watch)]

    async def one(i: int) -> None:
        async with gate:
            client = StormClient(f"s{i}", watched(i))
            await loop.create_connection(lambda: client, "127.0.0.1", port)
            await asyncio.wait_for(client.welcomed, 60)
            clients.append(client)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    welcomed = time.perf_counter() - started
    while time.perf_counter() - StormClient.last_byte < quiet:
        await asyncio.sleep(0.1)
    settled = StormClient.last_byte - started
    received = sum(c.received for c in clients)
    for client in clients:
        client.transport.abort()
    return {"welcomed": welcomed, "settled": settled, "received": received}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--watchers", type=int, default=0, help="clients that watch others")
    parser.add_argument("--watch", type=int, default=20, help="names each watcher watches")
    parser.add_argument("--quiet", type=float, default=2.0, help="seconds without data that end the storm")
    parser.add_argument("--server-root", type=Path, default=ROOT, help="the checkout whose server to run")
    args = parser.parse_args(argv)
    server = Server(args.server_root)
    try:
        cpu = server.cpu_seconds()
        result = asyncio.run(storm(server.port, args.clients, args.watchers, args.watch, args.quiet))
        cpu = server.cpu_seconds() - cpu
    finally:
        server.stop()
    # Three decimals: the test's 30 logins are welcomed in about 0.01 s, 0.00 at two (CI, once).
    print(f"{args.clients} logins ({args.watchers} watching {args.watch} each), server {args.server_root}: "
          f"all welcomed in {result['welcomed']:.3f} s, last notice at {result['settled']:.3f} s, "
          f"{result['received']:,} bytes ({result['received'] / 1e6:,.1f} MB) received after the welcomes, "
          f"server CPU {cpu:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
