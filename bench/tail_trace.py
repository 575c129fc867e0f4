"""Bench only: lay the slowest 1% of a traced latency phase beside what the server and the generator did.

Run from the repository root, after a traced benchmark::

    BENCH_TURNS=/tmp/t python3 -m bench.benchmark --mode memory --idle 0 --client-core 0 --repeat 1
    python3 -m bench.tail_trace /tmp/t

It reads the files that run leaves (bench/memory_trace.py, bench/benchmark.py): FILE.chat.msgs
and FILE.relay.msgs (each delivered ack's arrival and latency), FILE.chat.ticks and
FILE.relay.ticks (the generator's 1 ms ticks, with its CPU time when recorded), and for the
chat server FILE.allturns (every loop turn: start, work, wait in select, CPU) and
FILE.callbacks (callbacks over 0.3 ms, and collections as ``gcN``), and FILE.periodic (the
steps of the server's sweep and freezer, when kept). One clock for all:
``time.perf_counter``. A message's flight runs from its send (arrival - latency) to its
arrival. For each of the slowest 1% it counts what overlapped the flight:

- ``preempted``: a server turn of over 1 ms of work with 1 ms less of CPU (off its CPU);
- ``long CPU``: a server turn of over 1 ms of CPU;
- ``gap``: a generator tick more than 2 ms after the one before;
- ``gc``: a collection; and the callbacks over 0.3 ms by name;
- ``not woken``: the send came while the server sat in ``select``, and that ``select``
  returned more than 1 ms later (its data had arrived; the process was not running).

and the share of the flight the server spent working (its turns' work overlapping it).
"""

from __future__ import annotations

import bisect
import collections
import sys


def _rows(path: str) -> list[list[str]]:
    with open(path) as lines:
        return [line.split() for line in lines if line.strip()]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}"


def report(base: str, which: str) -> None:
    msgs = [(float(a), float(lat)) for a, lat in _rows(f"{base}.{which}.msgs") if lat != "nan"]
    ticks = [[float(x) for x in row] for row in _rows(f"{base}.{which}.ticks")]
    latencies = sorted(lat for _, lat in msgs)
    n = len(latencies)
    p99 = latencies[int(n * 0.99)]
    print(f"== {which}: {n:,} messages, latency ms p50 {_ms(latencies[n // 2])}, p99 {_ms(p99)}, "
          f"p99.9 {_ms(latencies[int(n * 0.999)])}, max {_ms(latencies[-1])}")
    gaps = [(ticks[i - 1], ticks[i]) for i in range(1, len(ticks)) if ticks[i][0] - ticks[i - 1][0] > 0.002]
    line = (f"generator: {len(ticks):,} ticks, {len(gaps):,} ({len(gaps) / max(1, len(ticks)):.0%}) more than "
            f"2 ms after the one before, {sum(b[0] - a[0] for a, b in gaps):.2f} s in them")
    if ticks and len(ticks[0]) > 1:
        line += f", of which it ran {sum(b[1] - a[1] for a, b in gaps):.2f} s"
        line += f"; its CPU in the phase {ticks[-1][1] - ticks[0][1]:.2f} s"
    print(line)
    slow = sorted((a - lat, a, lat) for a, lat in msgs if lat >= p99)
    clusters: list[list[tuple[float, float, float]]] = []
    end = float("-inf")
    for flight in slow:
        if clusters and flight[0] <= end:
            clusters[-1].append(flight)
        else:
            clusters.append([flight])
        end = max(end, flight[1]) if len(clusters[-1]) > 1 else flight[1]
    sizes = sorted((len(c) for c in clusters), reverse=True)
    print(f"slowest 1%: {len(slow)} messages in {len(clusters)} clusters of overlapping flights (largest {sizes[:8]})")
    if which != "chat":
        return
    turns = [tuple(float(x) for x in row) for row in _rows(f"{base}.allturns")]  # start, work, select, CPU
    starts = [t[0] for t in turns]
    callbacks = [(float(s), float(d), name) for s, d, name in _rows(f"{base}.callbacks")]
    tick_gaps = [(a[0], b[0]) for a, b in gaps]

    def overlapping(s: float, a: float) -> list[tuple[float, ...]]:
        i = max(0, bisect.bisect_left(starts, s) - 1)
        found = []
        while i < len(turns) and turns[i][0] < a:
            if turns[i][0] + turns[i][2] + turns[i][1] > s:
                found.append(turns[i])
            i += 1
        return found

    def not_woken(s: float) -> float:
        i = bisect.bisect_right(starts, s) - 1
        if i < 0:
            return 0.0
        start, _work, selected, _cpu = turns[i]
        return start + selected - s if start <= s < start + selected else 0.0

    causes: collections.Counter[str] = collections.Counter()
    names: collections.Counter[str] = collections.Counter()
    shares = []
    for s, a, lat in slow:
        over = overlapping(s, a)
        kinds = []
        if not_woken(s) > 0.001:
            kinds.append("not woken")
        if any(t[1] > 0.001 and t[1] - t[3] > 0.001 for t in over):
            kinds.append("preempted")
        elif any(t[3] > 0.001 for t in over):
            kinds.append("long CPU")
        if any(b > s and g < a for g, b in tick_gaps):
            kinds.append("gap")
        hits = [c for c in callbacks if c[0] < a and c[0] + c[1] > s]
        if any(c[2].startswith("gc") for c in hits):
            kinds.append("gc")
        names.update(c[2] for c in hits)
        causes[" + ".join(kinds) or "none of these"] += 1
        busy = sum(max(0.0, min(a, t[0] + t[2] + t[1]) - max(s, t[0] + t[2])) for t in over)
        shares.append(busy / lat)
    work = sorted(t[1] for t in turns)
    print(f"server: {len(turns):,} turns, work ms p50 {work[len(work) // 2] * 1e3:.3f}, p99 "
          f"{work[int(len(work) * 0.99)] * 1e3:.3f}, max {_ms(work[-1])}; {sum(work):.2f} s of work")
    print("what overlapped each of the slowest 1%:")
    for kinds, count in causes.most_common():
        print(f"  {count:4}  {kinds}")
    shares.sort()
    print(f"share of a slow message's flight the server spent working: p10 {shares[len(shares) // 10]:.2f}, "
          f"p50 {shares[len(shares) // 2]:.2f}, p90 {shares[int(len(shares) * 0.9)]:.2f}")
    print("callbacks over 0.3 ms during their flights (count of messages):",
          ", ".join(f"{name} {count}" for name, count in names.most_common(8)) or "none")
    try:  # the server's periodic tasks' steps, when the trace kept them (bench/memory_trace.py)
        periodic = [(float(s), float(d), name) for s, d, name in _rows(f"{base}.periodic")]
    except FileNotFoundError:
        periodic = []
    if periodic:
        met = collections.Counter(name for s, a, _lat in slow for name in
                                  {p[2] for p in periodic if p[0] < a and p[0] + p[1] > s})
        steps = collections.Counter(p[2] for p in periodic)
        print("periodic tasks' steps under 0.3 ms (count, max ms; slow messages whose flight one overlapped):",
              ", ".join(f"{name} {count}, {_ms(max(p[1] for p in periodic if p[2] == name))}; {met[name]}"
                        for name, count in steps.most_common()))
    by_name: dict[str, list[float]] = collections.defaultdict(list)
    for _s, spent, name in callbacks:
        by_name[name].append(spent)
    print("callbacks over 0.3 ms in the phase (count, max ms):",
          ", ".join(f"{name} {len(v)}, {_ms(max(v))}" for name, v in sorted(by_name.items(), key=lambda kv: -sum(kv[1]))))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    for which in ("relay", "chat"):
        report(args[0], which)
    return 0


if __name__ == "__main__":
    sys.exit(main())
