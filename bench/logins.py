"""The chat server's own work per login, in one process: no sockets, no generator.

Run from the repository root::

    python3 -m bench.logins                          # 10,000 guests log in; CPU per login
    python3 -m bench.logins --logins 2000 --memory   # what each idle login keeps, by traceback

Real sessions (server/session.py), the relay and the memory store on a real event loop, set
up as bench/inprocess.py sets them (limits lifted but computed; the collector tamed as the
server tames it); only the transports are
fakes (bench.inprocess.FakeTransport). Each client sends the hello the benchmark's
``LoginStorm`` sends (``{"type":"hello","id":"hello","name":"userN","version":V,...}``), in
batches of ``--concurrency`` as the storm keeps 200 handshakes under way, and the loop turns
until each batch is welcomed. Prints the process's CPU time per login.

The steady figure on a shared machine is the count of instructions (valgrind; the
difference of two runs cancels start-up)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 -m bench.logins --logins 2000
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 -m bench.logins --logins 6000

("Collected" of the second minus the first, divided by 4,000.)

``--memory`` instead starts tracemalloc after a warm-up and prints the bytes still allocated
per idle logged-in session, grouped by the allocating line (``--depth`` frames of traceback):
the chat server's share of an idle connection (the fake transport's is left out; asyncio's
real transport is the same for the bare relay).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc

import const
from bench.inprocess import FakeTransport, in_process_relay
from server import app
from server.outbox import WriteBatcher
from server.relay import Relay
from server.session import ClientSession

_WELCOME = b'{"type":"welcome"'


async def _log_in(relay: Relay, batcher: WriteBatcher, names: range, prefix: str, concurrency: int,
                  keep: list) -> None:
    """Log ``prefix + str(i)`` in for each i, ``concurrency`` at a time; every one must be welcomed."""
    hello = b'{"type":"hello","id":"hello","name":"%s%d","version":%d,"register":false}\n'
    start = names.start
    while start < names.stop:
        batch = []
        for i in range(start, min(start + concurrency, names.stop)):
            session, transport = ClientSession(relay, batcher), FakeTransport()
            session.connection_made(transport)
            session.data_received(hello % (prefix.encode(), i, const.PROTOCOL_VERSION))
            batch.append((session, transport))
        for _ in range(1000):
            await asyncio.sleep(0)
            if all(t.written and t.written[0].startswith(_WELCOME) for _, t in batch):
                break
        else:
            bad = next(t.written[:1] for _, t in batch if not (t.written and t.written[0].startswith(_WELCOME)))
            raise SystemExit(f"a login was not welcomed: {bad!r}")
        for _, transport in batch:
            transport.written.clear()  # idle clients read nothing; the fake need not keep it
        keep += batch
        start += concurrency


async def run(logins: int, concurrency: int, memory: bool, depth: int, top: int) -> None:
    loop = asyncio.get_running_loop()
    relay, batcher = in_process_relay(loop)
    keep: list = []
    await _log_in(relay, batcher, range(50), "warm", concurrency, keep)  # caches and tables
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    gc.freeze()  # as the real server's tamed collector does (server/app.py), with its thresholds
    thresholds = gc.get_threshold()
    gc.set_threshold(*app._GC_THRESHOLDS)
    if memory:
        tracemalloc.start(depth)
        before = tracemalloc.take_snapshot()
    started = time.process_time()
    await _log_in(relay, batcher, range(logins), "user", concurrency, keep)
    for _ in range(5):
        await asyncio.sleep(0)
    cpu = time.process_time() - started
    gc.unfreeze()  # the collector is process-wide: leave it as it was
    gc.set_threshold(*thresholds)
    if not memory:
        print(f"{cpu / logins * 1e6:.1f} µs of CPU per login (server and driver), {logins:,} logins")
        return
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    filters = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__),
               tracemalloc.Filter(False, "*/bench/inprocess.py")]
    stats = after.filter_traces(filters).compare_to(before.filter_traces(filters), "traceback")
    total = sum(s.size_diff for s in stats)
    print(f"{total / logins:,.0f} bytes kept per idle login (tracemalloc, fake transports left out), "
          f"{logins:,} logins")
    for stat in stats[:top]:
        if abs(stat.size_diff) < logins * 4:
            break
        print(f"{stat.size_diff / logins:8.1f} B  {stat.count_diff / logins:5.2f} blocks")
        for line in stat.traceback.format()[::-1][: 2 * depth]:
            print("      " + line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--logins", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200, help="hellos fed before the loop turns")
    parser.add_argument("--memory", action="store_true", help="bytes kept per idle login, by traceback")
    parser.add_argument("--depth", type=int, default=3, help="traceback frames per allocation (--memory)")
    parser.add_argument("--top", type=int, default=25, help="allocation sites shown (--memory)")
    args = parser.parse_args(argv)
    asyncio.run(run(args.logins, args.concurrency, args.memory, args.depth, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
