"""What the chat server adds to the latency tail at an offered rate, in one process.

Run from the repository root::

    python3 -m bench.turns                        # 1,000 clients, 2,000 messages/s, 10 s
    python3 -m bench.turns --rate 2000 --seconds 10 --no-tame-gc

The latency phase of the benchmark without sockets: real sessions, the relay and the
memory store on a real event loop, fake transports (bench.inprocess.FakeTransport), and
the clients are a timer every millisecond that hands each session what arrived for it:
the sends due at the offered rate, and the receipts and acks (``batch_acks``) of what it
was sent in the previous tick. So a message's delivered-ack latency here is the server's
work plus at most two ticks of this driver, with no kernel, network or second process.

Prints the delivered-ack latency p50/p99 (from the tick that handed in the ``send`` to
the tick that found the ``delivered``), the garbage collections that ran (by generation,
with their pauses, from ``gc.callbacks``) and the longest loop turns. The collector is
tamed as the server tames it (``gc.freeze()`` and ``app._GC_THRESHOLDS``; the server's
sweep freezes again every pass, so ``--freeze-every`` seconds here, and its freezer the
young objects every ``app._FREEZE_CHECK`` seconds once they are many), unless
``--no-tame-gc``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import time

from bench.inprocess import _DELIVERED, _DM, _MSG_ID, _confirmations, in_process_relay, logged_in_clients
from server import app


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(clients: int, rate: int, seconds: float, tame: bool, freeze_every: float, seed: int) -> None:
    loop = asyncio.get_running_loop()
    relay, batcher = in_process_relay(loop)
    sessions = await logged_in_clients(relay, batcher, clients, batch_acks=True)
    for _, transport in sessions:
        transport.written.clear()

    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    began = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - began[0])

    gc.collect()
    thresholds = gc.get_threshold()
    if tame:
        gc.freeze()
        gc.set_threshold(*app._GC_THRESHOLDS)
    gc.callbacks.append(on_gc)
    rng = random.Random(seed)
    sent_at: dict[bytes, float] = {}  # request id -> tick it was handed in
    latencies: list[float] = []
    turns: list[float] = []
    inbox: list[list[bytes]] = [[] for _ in range(clients)]
    counter = sent = 0
    started = last_freeze = last_young = loop.time()
    try:
        while (now := loop.time()) - started < seconds:
            tick = time.perf_counter()
            due = int((now - started) * rate)
            while sent < due:
                sent += 1
                counter += 1
                i = rng.randrange(clients)
                to = rng.randrange(clients - 1)
                to += to >= i
                request = b"%d" % counter
                sent_at[request] = now
                inbox[i].append(b'{"type":"send","id":"%b","to":"user%d","text":"benchmark message %d"}\n'
                                % (request, to, counter))
            for i, (session, _) in enumerate(sessions):
                if inbox[i]:
                    session.data_received(b"".join(inbox[i]))
                    inbox[i] = []
            await asyncio.sleep(0)  # the store's answers
            await asyncio.sleep(0)  # the batched writes
            for i, (_, transport) in enumerate(sessions):
                if not transport.written:
                    continue
                frames = b"".join(transport.written).split(b"\n")
                transport.written.clear()
                receipts, acks = [], []
                for line in frames[:-1]:
                    if line.startswith(_DM):
                        receipts.append(line[len(_DM):line.index(b",", len(_DM))])
                    elif line.startswith(_DELIVERED):
                        request = line[len(_DELIVERED):line.index(b'"', len(_DELIVERED))]
                        latencies.append(loop.time() - sent_at.pop(request))
                        acks.append(line[line.index(_MSG_ID) + 9:-1])
                inbox[i] += _confirmations(receipts, acks)
            turns.append(time.perf_counter() - tick)
            if tame and now - last_freeze >= freeze_every:  # as the server's sweep does
                last_freeze = last_young = now
                gc.freeze()
            elif tame and now - last_young >= app._FREEZE_CHECK:  # as the server's freezer does
                last_young = now
                app._freeze_young()
            await asyncio.sleep(0.001)
    finally:
        gc.callbacks.remove(on_gc)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    print(f"{len(latencies):,} messages delivered at {rate:,}/s offered, {clients:,} clients, {seconds:g} s, "
          f"collector {'tamed as the server tames it' if tame else 'as Python sets it'}")
    print(f"delivered-ack latency ms (driver ticks included): p50 {quantile(latencies, 0.5) * 1000:.2f}  "
          f"p99 {quantile(latencies, 0.99) * 1000:.2f}  max {max(latencies) * 1000:.2f}")
    print(f"driver ticks (server work of one tick), ms: p50 {quantile(turns, 0.5) * 1000:.2f}  "
          f"p99 {quantile(turns, 0.99) * 1000:.2f}  max {max(turns) * 1000:.2f}")
    for generation, values in pauses.items():
        if values:
            print(f"collections of generation {generation}: {len(values)}, pause mean "
                  f"{statistics.fmean(values) * 1000:.2f} ms, max {max(values) * 1000:.2f} ms")
        else:
            print(f"collections of generation {generation}: none")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--freeze-every", type=float, default=2.5, help="seconds between freezes (the sweep's)")
    parser.add_argument("--no-tame-gc", dest="tame", action="store_false")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    asyncio.run(run(args.clients, args.rate, args.seconds, args.tame, args.freeze_every, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
