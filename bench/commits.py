"""The durable store's commits at an offered rate: how long each COMMIT takes, and its tail.

Run from the repository root::

    python3 -m bench.commits                       # 2,000 messages/s for 20 s, in a temp dir
    python3 -m bench.commits --rate 2000 --seconds 30 --dir /var/tmp

The message path's store work without the relay or sockets: the real SQLite store
(server/stores/sqlite.py, WAL, ``synchronous=FULL``, group commit) on a real event loop,
fed as the benchmark's latency phase feeds the server: ``--rate`` direct messages per
second spread over 1 ms ticks, each stored (``store_message``), and once it is on disk its
receipt and its ack recorded, as the relay does. Prints the distribution of the COMMIT
times (the store's ``on_commit``, as /metrics has it), the time from submitting a message
to its callback (what ``accepted`` waits for: the durable part of the delivered-ack
latency), and how large the write-ahead log grew.

On a shared machine the figures move with the others' disk and CPU use: compare two
versions in adjacent runs, and give the load (``uptime``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from server import mailbox
from server.stores.sqlite import SQLiteStore

_BOUNDS_MS = (0.5, 1, 2, 3, 5, 10, 20, 50, 100, 250, float("inf"))


def histogram(values_s: list[float]) -> str:
    counts = [0] * len(_BOUNDS_MS)
    for value in values_s:
        ms = value * 1000
        counts[next(i for i, bound in enumerate(_BOUNDS_MS) if ms <= bound)] += 1
    return "  ".join(f"<={b:g}:{c}" if b != float("inf") else f">{_BOUNDS_MS[-2]:g}:{c}"
                     for b, c in zip(_BOUNDS_MS, counts) if c)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(directory: Path, rate: int, seconds: float, users: int) -> None:
    loop = asyncio.get_running_loop()
    store = SQLiteStore(directory / "chat.db")
    store.open()
    store.start(loop)
    commits: list[float] = []
    store.on_commit = commits.append
    executes: list[float] = []  # the statements of each transaction, run on the committer thread
    execute = store._execute

    def timed_execute(pending: list, *rest):
        began = time.perf_counter()
        try:
            return execute(pending, *rest)
        finally:
            executes.append(time.perf_counter() - began)

    store._execute = timed_execute
    # Where each transaction's time went: (execute start, commit start and end on the
    # committer thread, callbacks start on the loop), to explain the slowest messages.
    phases: list[list[float]] = []
    # The answers start in _answer (the committer thread runs the transactions, issue 9).
    commit, finish = store._commit, store._answer

    main_file = directory / "chat.db"
    with_checkpoint: list[float] = []  # COMMITs during which the database file itself was written

    def timed_commit() -> None:
        phases[-1].append(time.perf_counter())
        before = os.stat(main_file).st_mtime_ns
        background = getattr(store, "_checkpointing", None) is not None  # a checkpoint thread's (before round ten)
        commit()
        phases[-1].append(time.perf_counter())
        if os.stat(main_file).st_mtime_ns != before and not background:
            with_checkpoint.append(phases[-1][2] - phases[-1][1])

    def timed_finish(*args) -> None:
        if phases and len(phases[-1]) == 3:
            phases[-1].append(time.perf_counter())
        finish(*args)

    store._commit, store._answer = timed_commit, timed_finish
    checkpoints: list[float] = []  # the store's own checkpoints (the committer thread's, between commits)
    checkpoint = store._checkpoint

    def timed_checkpoint(*args):
        began = time.perf_counter()
        try:
            return checkpoint(*args)
        finally:
            checkpoints.append(time.perf_counter() - began)

    store._checkpoint = timed_checkpoint
    execute_phase = store._execute

    def marked_execute(pending: list, *rest):
        phases.append([time.perf_counter()])
        return execute_phase(pending, *rest)

    store._execute = marked_execute
    latencies: list[float] = []
    wal = directory / "chat.db-wal"
    wal_max = 0
    sent = 0
    times = os.times()  # the process's CPU (the loop's and the committer thread's), user and system
    started = loop.time()
    text = "benchmark message " + "x" * 20

    def stored(submitted: float, result: tuple[mailbox.StoredMessage, str]) -> None:
        latencies.append(loop.time() - submitted)
        message = result[0]
        store.record_receipt(message.msg_id, message.recipient_key)
        store.record_ack(message.msg_id, message.sender_key)

    while (now := loop.time()) - started < seconds:
        due = int((now - started) * rate)
        while sent < due:
            sent += 1
            sender, recipient = f"user{sent % users}", f"user{(sent * 7 + 1) % users}"
            at = time.time()
            message = mailbox.StoredMessage(0, sender, sender, recipient, recipient, text, at, str(sent), "sent",
                                            at + 3600)
            store.store_message(message, lambda result, t=now: stored(t, result))
        try:
            wal_max = max(wal_max, os.stat(wal).st_size)
        except OSError:
            pass
        await asyncio.sleep(0.001)
    await store.drain()
    store.close()
    spent = os.times()
    user, system = spent.user - times.user, spent.system - times.system
    print(f"{sent:,} messages at {rate:,}/s over {seconds:g} s: {len(commits):,} commits, "
          f"{sent / max(1, len(commits)):.1f} messages per commit; write-ahead log up to {wal_max / 2**20:.1f} MiB")
    print(f"COMMIT ms: p50 {quantile(commits, 0.5) * 1000:.2f}  p99 {quantile(commits, 0.99) * 1000:.2f}  "
          f"p99.9 {quantile(commits, 0.999) * 1000:.2f}  max {max(commits) * 1000:.2f}")
    print(f"  histogram (ms): {histogram(commits)}")
    if with_checkpoint:
        print(f"COMMITs that checkpointed (wrote the database file, no checkpoint thread at work): "
              f"{len(with_checkpoint)}, mean {statistics.fmean(with_checkpoint) * 1000:.2f} ms, "
              f"max {max(with_checkpoint) * 1000:.2f} ms")
    else:
        print("COMMITs that checkpointed (wrote the database file, no checkpoint thread at work): none")
    if checkpoints:
        print(f"checkpoints: {len(checkpoints)}, ms p50 {quantile(checkpoints, 0.5) * 1000:.2f}  "
              f"p99 {quantile(checkpoints, 0.99) * 1000:.2f}  max {max(checkpoints) * 1000:.2f}")
    print(f"statements per transaction (on the committer thread), ms: p50 {quantile(executes, 0.5) * 1000:.2f}  "
          f"p99 {quantile(executes, 0.99) * 1000:.2f}  max {max(executes) * 1000:.2f}")
    print(f"  histogram (ms): {histogram(executes)}")
    whole = [p for p in phases if len(p) == 4]
    if whole:
        slow = sorted(whole, key=lambda p: p[3] - p[0])[-max(1, len(whole) // 100):]  # the slowest 1%
        parts = [(p[1] - p[0], p[2] - p[1], p[3] - p[2]) for p in slow]
        print("slowest 1% of transactions, execute start to callbacks, mean ms: statements "
              f"{statistics.fmean(a for a, _, _ in parts) * 1000:.2f}, COMMIT "
              f"{statistics.fmean(b for _, b, _ in parts) * 1000:.2f}, back to the loop "
              f"{statistics.fmean(c for _, _, c in parts) * 1000:.2f}")
    print(f"submit to stored ms: p50 {quantile(latencies, 0.5) * 1000:.2f}  p99 {quantile(latencies, 0.99) * 1000:.2f}"
          f"  max {max(latencies) * 1000:.2f}  (mean {statistics.fmean(latencies) * 1000:.2f})")
    print(f"process CPU per message: {(user + system) / max(1, sent) * 1e6:.1f} µs "
          f"(user {user / max(1, sent) * 1e6:.1f}, system {system / max(1, sent) * 1e6:.1f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="messages offered per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--dir", default=None, help="where the database goes (default: a temporary directory)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="chat-commits-") as directory:
        asyncio.run(run(Path(directory), args.rate, args.seconds, args.users))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
