"""The server's sweep: its longest loop turn over N logged-in sessions, in slices and in one.

Run from the repository root (a timing: under the workplace's lock if it has one)::

    python3 -m bench.sweep_turns                  # 1,000 and 10,000 sessions

Real sessions, relay and memory store on a real event loop, fake transports
(bench/inprocess.py's driver); ``ChatServer._sweep_forever`` runs on them as in the server
(a pass every 0.05 s here), and every step of its task is timed. Printed: the longest step
of each of five runs, with ``app._SWEEP_SLICE`` as it is and with the whole pass in one
step (as before the slices: bench/PROFILE.md, "Memory p99, round two"). Nobody is silent
long enough to be pinged or dropped, so this is the cost of looking.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from asyncio import events

from bench.inprocess import in_process_relay, logged_in_clients
from server import app
from server.config import ServerConfig


async def longest_steps(count: int, slice_size: int, runs: int = 5) -> list[float]:
    loop = asyncio.get_running_loop()
    relay, batcher = in_process_relay(loop)
    await logged_in_clients(relay, batcher, count, batch_acks=True)
    server = app.ChatServer(ServerConfig(login_timeout=0.2))  # a pass every 0.05 s
    server.relay = relay
    steps: list[float] = []
    run = events.Handle._run

    def timed(handle: events.Handle) -> None:
        started = time.perf_counter()
        try:
            run(handle)
        finally:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if owner is sweep:
                steps.append(time.perf_counter() - started)

    kept, app._SWEEP_SLICE = app._SWEEP_SLICE, slice_size
    events.Handle._run = timed  # type: ignore[method-assign]
    longest = []
    try:
        for _ in range(runs):
            steps.clear()
            sweep = asyncio.create_task(server._sweep_forever())
            await asyncio.sleep(0.12)  # two passes
            sweep.cancel()
            longest.append(max(steps))
    finally:
        events.Handle._run = run  # type: ignore[method-assign]
        app._SWEEP_SLICE = kept
    return longest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1000, 10_000])
    args = parser.parse_args(argv)
    for count in args.sessions:
        for size, label in ((app._SWEEP_SLICE, f"slices of {app._SWEEP_SLICE}"), (count + 1, "one step (before)")):
            steps = asyncio.run(longest_steps(count, size))
            print(f"{count:,} sessions, {label}: the sweep's longest step ms "
                  + ", ".join(f"{s * 1e3:.2f}" for s in steps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
