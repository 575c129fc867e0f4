"""Bench only: the life of each durable message, traced inside a running chat server.

``BENCH_TRACE=FILE python3 -m bench.benchmark --mode durable ...`` starts the chat server
through this module (``python3 -m bench.durable_trace CHATSERVER-ARGS``), which wraps a
few of the server's methods with timestamps (``time.perf_counter``, one clock for the
loop and the committer thread) and otherwise runs ``chatserver.main`` unchanged. The
benchmark sends the server SIGUSR1 as its latency phase starts (forget what came before)
and SIGUSR2 as it ends (write the summary to FILE). Nothing of this is in the server.

Per message, the segments of its path through the server (each one's p50/p99, ms):

- read → submit: the read that carried the ``send`` to ``store_message`` (parsing, checks);
- submit → execute: waiting for the transaction (the loop turn's end, or the commit under way);
- execute: its transaction's statements (on the loop, or on the committer thread);
- execute → COMMIT: the hand-off to the committer thread;
- COMMIT: the COMMIT itself (the fsync);
- COMMIT → loop: the hand-back, until the store's completion runs on the loop;
- loop → callback: the callbacks before this message's (and its own);
- callback → write: until the flush that hands ``accepted`` and the forward to the sockets;
- write → receipt read: the network and the clients (the load generator), not the server;
- receipt → write: from the read carrying the receipt to the flush of ``delivered``.
"""

from __future__ import annotations

import bisect
import sys
import threading
import time

from bench.traced_server import run_traced

perf = time.perf_counter

_on = False
_messages: dict[int, dict] = {}     # msg_id -> times
_transactions: dict[int, dict] = {}  # id(pending list) -> times
_all: list[dict] = []                # every transaction since SIGUSR1
_checkpoints: list[tuple[float, float]] = []  # the store's checkpoints (start, end)
_flushes: list[float] = []           # starts of the write batcher's flushes
_read = [0.0]                        # when the read being handled was started
_last: list[dict | None] = [None]   # the transaction executed last
_output = ["/dev/stderr"]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def install() -> None:
    from server import mailbox
    from server import store as store_module
    from server.outbox import WriteBatcher
    from server.relay import Relay
    from server.session import ClientSession
    from server.stores.sqlite import SQLiteStore

    def wrap(cls, name, before=None, after=None):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            if not _on:
                return original(self, *args, **kwargs)
            context = before(self, *args) if before else None
            result = original(self, *args, **kwargs)
            if after:
                after(self, context, result, *args)
            return result
        setattr(cls, name, wrapper)

    def read_started(self, *args):
        _read[0] = perf()
    wrap(ClientSession, "buffer_updated", before=read_started)

    def stored_after(self, context, result, message, *args):
        _messages[self._last_msg_id] = {"read": _read[0], "submit": context[0], "during": context[1]}
    # The relay stores a direct message with store_fields (store_message before).
    for name in ("store_message", "store_fields"):
        wrap(SQLiteStore, name, before=lambda self, *a: (perf(), self._committing), after=stored_after)

    def executed(self, started, result, pending, *_):
        transaction = {"execute": started, "executed": perf(), "messages": 0}
        _transactions[id(pending)] = transaction
        _last[0] = transaction
        _all.append(transaction)
        for batch, item, *_ in pending:
            if batch is mailbox.store_messages:
                transaction["messages"] += 1
                if item.msg_id in _messages:
                    _messages[item.msg_id]["tx"] = transaction
    wrap(store_module.Store, "_execute", before=lambda self, *a: perf(), after=executed)

    # The transaction handed to the committer: the last one executed (one commit at a time).
    original_commit = store_module.Store._commit

    def commit(self, *args):
        transaction = _last[0] if _on else None
        started = perf()
        try:
            return original_commit(self, *args)
        finally:
            if transaction is not None and threading.current_thread() is not threading.main_thread():
                transaction["commit"], transaction["committed"] = started, perf()
    store_module.Store._commit = commit
    original_checkpoint = store_module.Store._checkpoint

    def checkpoint(self, *args):
        started = perf()
        try:
            return original_checkpoint(self, *args)
        finally:
            if _on:
                _checkpoints.append((started, perf()))
    store_module.Store._checkpoint = checkpoint

    def finishing(self, pending, *args):
        transaction = _transactions.get(id(pending))
        if transaction is not None:
            transaction["back"] = perf()
    # The answers' start on the loop: _answer since the committer runs the transactions, _finish before.
    wrap(store_module.Store, "_answer" if hasattr(store_module.Store, "_answer") else "_finish", before=finishing)

    def callback(self, session, result):
        entry = _messages.get(result[0].msg_id)
        if entry is not None:
            entry["callback"] = perf()
    wrap(Relay, "_direct_stored", before=callback)

    def confirmed(self, session, msg_id):
        entry = _messages.get(msg_id)
        if entry is not None:
            entry["receipt"] = _read[0]
    wrap(Relay, "_confirm", before=confirmed)
    wrap(WriteBatcher, "flush_all", before=lambda self: _flushes.append(perf()))


def start(*_) -> None:
    global _on
    _messages.clear()
    _transactions.clear()
    _flushes.clear()
    _last[0] = None
    _all.clear()
    _checkpoints.clear()
    _on = True


def report(*_) -> None:
    global _on
    _on = False
    flushes = sorted(_flushes)

    def next_flush(at: float) -> float | None:
        i = bisect.bisect_left(flushes, at)
        return flushes[i] if i < len(flushes) else None

    names = ["read → submit", "submit → execute", "execute", "execute → COMMIT", "COMMIT", "COMMIT → loop",
             "loop → callback", "callback → write", "write → receipt read", "receipt → write",
             "server total (both legs)", "read → accepted written"]
    segments: dict[str, list[float]] = {name: [] for name in names}
    waited: list[float] = []
    rows: list[tuple[list[float], dict]] = []  # (times, entry) of each message traced whole
    complete = 0
    for entry in _messages.values():
        tx = entry.get("tx")
        if tx is None or "commit" not in tx or "back" not in tx or "callback" not in entry or "receipt" not in entry:
            continue
        written = next_flush(entry["callback"])
        delivered = next_flush(entry["receipt"])
        if written is None or delivered is None:
            continue
        complete += 1
        times = [entry["read"], entry["submit"], tx["execute"], tx["executed"], tx["commit"], tx["committed"],
                 tx["back"], entry["callback"], written, entry["receipt"], delivered]
        for name, a, b in zip(names, times, times[1:]):
            segments[name].append(b - a)
        segments["server total (both legs)"].append((written - entry["read"]) + (delivered - entry["receipt"]))
        segments["read → accepted written"].append(written - entry["read"])
        if entry["during"]:
            waited.append(tx["execute"] - entry["submit"])
        rows.append((times, entry))
    commits = [t["committed"] - t["commit"] for t in _all if "committed" in t]
    lines = [f"durable trace: {complete:,} messages traced whole, {len(commits):,} commits "
             f"({complete / max(1, len(commits)):.1f} messages per commit)",
             f"{'segment':28} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}"]
    for name in names:
        values = segments[name]
        if values:
            lines.append(f"{name:28} {_quantile(values, .5) * 1e3:8.3f} {_quantile(values, .99) * 1e3:8.3f} "
                         f"{sum(values) / len(values) * 1e3:8.3f}")
    lines.append(f"submitted during a commit: {len(waited):,} of {complete:,}; their wait p50 "
                 f"{_quantile(waited, .5) * 1e3:.3f} ms, p99 {_quantile(waited, .99) * 1e3:.3f} ms")
    spans = sorted(_checkpoints)
    during, clear = [], []
    for t in _all:
        if "committed" in t:
            i = bisect.bisect_right(spans, (t["committed"], float("inf")))
            overlaps = any(a < t["committed"] and b > t["commit"] for a, b in spans[max(0, i - 2):i])
            (during if overlaps else clear).append(t["committed"] - t["commit"])
    lines.append(f"checkpoints: {len(spans)}, mean {sum(b - a for a, b in spans) / max(1, len(spans)) * 1e3:.2f} ms, "
                 f"p99 {_quantile([b - a for a, b in spans], .99) * 1e3:.2f} ms; "
                 f"COMMIT p50/p99 during one {_quantile(during, .5) * 1e3:.3f}/{_quantile(during, .99) * 1e3:.3f} ms "
                 f"({len(during)}), otherwise {_quantile(clear, .5) * 1e3:.3f}/{_quantile(clear, .99) * 1e3:.3f} ms")
    lines.extend(_tail(rows, spans))
    with open(_output[0], "a") as out:
        out.write("\n".join(lines) + "\n")


def _overlap(spans: list[tuple[float, float]], a: float, b: float) -> tuple[float, int]:
    """Seconds of [a, b] covered by ``spans`` (sorted, disjoint), and how many touch it."""
    covered, count = 0.0, 0
    for start, end in spans[max(0, bisect.bisect_right(spans, (a, a)) - 1):]:
        if start >= b:
            break
        if end > a:
            covered += min(b, end) - max(a, start)
            count += 1
    return covered, count


# What a message of the tail waited for, in the order the table prints them.
CAUSES = ["checkpoint", "commit under way (messages)", "commit under way (receipts/acks only)",
          "other wait for its transaction", "read → submit", "execute", "own COMMIT",
          "COMMIT → loop (hand-back)", "loop → write (callbacks, flush)", "receipt → write"]


def _tail(rows: list[tuple[list[float], dict]], checkpoints: list[tuple[float, float]]) -> list[str]:
    """The slowest 1% and 2% of messages by the server's part of their path (both legs):
    what they waited for. The wait for their transaction (submit → execute) is split into
    the time a checkpoint ran, the time another transaction's COMMIT ran (two COMMITs in
    series; "receipts/acks only" when that transaction carried no message: the lazy
    flush's), and the rest (the loop turn's end, the statements of the transaction before).
    Each message's largest part is its cause."""
    others = sorted((t["commit"], t["committed"], t["messages"]) for t in _all if "committed" in t)
    commit_spans = [(a, b) for a, b, n in others if n]
    lazy_spans = [(a, b) for a, b, n in others if not n]
    parts = []
    for times, entry in rows:
        read, submit, execute, executed, commit, committed, back, _, written, receipt, delivered = times
        ckpt, _ = _overlap(checkpoints, submit, execute)
        busy, _ = _overlap(commit_spans, submit, execute)
        lazy, _ = _overlap(lazy_spans, submit, execute)
        part = dict(zip(CAUSES, [ckpt, busy, lazy, max(0.0, execute - submit - ckpt - busy - lazy),
                                 submit - read, executed - execute, committed - commit, back - committed,
                                 written - back, delivered - receipt]))
        parts.append((written - read + delivered - receipt, part))
    parts.sort(key=lambda p: p[0])
    lines = []
    for share in (0.02, 0.01):
        tail = parts[int(len(parts) * (1 - share)):]
        if not tail:
            continue
        lines.append(f"slowest {share:.0%} ({len(tail)} messages, server both legs >= {tail[0][0] * 1e3:.2f} ms): "
                     f"cause (largest part): count, mean of that part over the tail ms, messages with it > 0")
        for cause in CAUSES:
            count = sum(1 for _, part in tail if max(part, key=part.get) == cause)
            mean = sum(part[cause] for _, part in tail) / len(tail)
            touched = sum(1 for _, part in tail if part[cause] > 0)
            lines.append(f"  {cause:40} {count:5} {mean * 1e3:8.3f} {touched:6}")
    return lines


def main() -> int:
    return run_traced("BENCH_TRACE", _output, install, start, report)


if __name__ == "__main__":
    sys.exit(main())
