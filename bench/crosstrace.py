"""Where a cross-node message's time goes: joins the nodes' trace files (server/cluster/trace.py).

    mkdir /tmp/tr && CHAT_CROSS_TRACE=/tmp/tr python3 -m bench.cluster --setups redis-2 ...
    python3 -m bench.crosstrace /tmp/tr

Prints p50/p99 (ms) of each segment of a cross-node direct message's way, in order, over
the messages that passed every point (CLOCK_MONOTONIC is one clock for all processes),
and how each node's inbox reader waited: the time from asking (XREADGROUP) to the reply,
and the entries per reply. Only the latency phase's messages matter; the throughput
phase's are in the files too, so ``--last`` keeps the messages of the last N seconds.
"""

from __future__ import annotations

import argparse
import ast
import glob
import os
from collections import defaultdict

from .benchmark import percentile

turns: dict = {}  # path -> whole loop turns measured (ms)

SEGMENTS = [
    ("a_submit", "a_write", "A: store+route submitted -> its EVALSHA written (before 009f0b0: task start)"),
    ("a_write", "a_back", "A: EVALSHA written -> reply resumed the task (Redis round trip)"),
    ("a_back", "a_accept", "A: reply -> accepted (answers in order)"),
    ("a_write", "b_read", "A's EVALSHA -> B's XREADGROUP reply applied (Redis, fsync, B's wake)"),
    ("b_read", "b_tell", "B: dm written to recipient -> its receipt read (generator + 2 turns of B)"),
    ("b_tell", "b_rwrite", "B: receipt read -> ROUTES written (before 009f0b0: task start)"),
    ("b_rwrite", "b_rback", "B: ROUTES written -> reply resumed the task"),
    ("b_rwrite", "a_tell", "B's ROUTES -> A's XREADGROUP reply applied (Redis, fsync, A's wake)"),
    ("a_submit", "a_tell", "A: read -> delivered written to the sender (whole, less the generator)"),
    ("b_tell", "a_fast", "B: receipt read -> A told it from B's datagram (fast path, fastpath.py)"),
    ("a_submit", "a_fast", "A: read -> delivered written, by the fast path (whole, less the generator)"),
]


def load(directory: str) -> tuple[dict, dict]:
    """(message id -> {stage: ns}, pid -> inbox reads [(asked ns, answered ns, entries)])."""
    marks: dict = defaultdict(dict)
    reads: dict = {}
    global turns
    for path in glob.glob(os.path.join(directory, "trace-*.tsv")):
        keyed: dict = {}
        ids: dict = {}
        asked = None
        node_reads = reads[path] = []
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                stage, key, at = line.rstrip("\n").split("\t")
                at = int(at)
                if stage == "xcall":
                    asked = at
                    continue
                if stage == "turn":
                    turns.setdefault(path, []).append(int(key) / 1e6)
                    continue
                if stage == "xread":
                    if asked is not None:
                        node_reads.append((asked, at, int(key)))
                    continue
                key = ast.literal_eval(key)
                if stage == "a_id":
                    ids[key[:2]] = key[2]
                elif isinstance(key, tuple):
                    keyed.setdefault(key, {})[stage] = at
                else:
                    marks[key][stage] = at
        for key, stages in keyed.items():
            if key in ids:
                marks[ids[key]].update(stages)
    return marks, reads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--last", type=float, default=6.0, help="seconds at the end to keep (the latency phase)")
    args = parser.parse_args(argv)
    marks, reads = load(args.directory)
    whole = [m for m in marks.values() if all(s in m for s, _e, _t in SEGMENTS) and all(e in m for _s, e, _t in SEGMENTS)]
    if not whole:
        print("no message passed every point")
        return 1
    end = max(m["a_tell"] for m in whole)
    kept = [m for m in whole if m["a_submit"] >= end - args.last * 1e9]
    print(f"{len(kept)} cross-node messages traced (of {len(whole)}), last {args.last} s")
    print(f"{'segment':<82} {'p50':>6} {'p99':>6}")
    for start, stop, title in SEGMENTS:
        values = sorted((m[stop] - m[start]) / 1e6 for m in kept)
        print(f"{title:<82} {percentile(values, 0.5):6.2f} {percentile(values, 0.99):6.2f}")
    since = end - args.last * 1e9
    for path, node_reads in sorted(reads.items()):
        recent = [r for r in node_reads if r[0] >= since]
        if not recent:
            continue
        waits = sorted((b - a) / 1e6 for a, b, _n in recent)
        counts = sorted(n for _a, _b, n in recent)
        print(f"{os.path.basename(path)}: {len(recent)} inbox reads, asked->answered p50 {percentile(waits, 0.5):.2f} "
              f"p99 {percentile(waits, 0.99):.2f} ms, entries per read p50 {percentile(counts, 0.5)} "
              f"p99 {percentile(counts, 0.99)}")
    for path, values in sorted(turns.items()):
        values = values[-int(args.last * 200):]  # one probe per 5 ms
        print(f"{os.path.basename(path)}: a whole loop turn p50 {percentile(values, 0.5):.2f} "
              f"p90 {percentile(values, 0.9):.2f} p99 {percentile(values, 0.99):.2f} ms ({len(values)} probes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
