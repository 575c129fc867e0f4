"""Bench only: where the chat server's loop spends its long turns, traced inside a running server.

``BENCH_TURNS=FILE python3 -m bench.benchmark --mode memory ...`` starts the chat server
through this module (``python3 -m bench.memory_trace CHATSERVER-ARGS``), which installs
probes and otherwise runs ``chatserver.main`` unchanged. The benchmark sends SIGUSR1 as
its latency phase starts (forget what came before) and SIGUSR2 as it ends (write the
summary to FILE); it writes each delivered ack's arrival time and latency to FILE.msgs.
Nothing of this is in the server.

The probes (``time.perf_counter``: CLOCK_MONOTONIC, one clock with the generator's):

- every loop turn's work (the turn minus its wait in ``select``), and the longest turns
  with their start time;
- every callback (``Handle._run``) longer than a threshold, by its callback's name;
- every step of the server's periodic tasks (the sweep, the freezer), whatever its length
  (FILE.periodic: start, seconds, task);
- every garbage collection (``gc.callbacks``), by generation; those before the phase
  (the throughput phase's) summed up.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time

from bench.traced_server import run_traced

perf = time.perf_counter

_on = False
_turns: list[tuple[float, float, float, float]] = []  # (start, work, selected, CPU) of every turn since SIGUSR1
_slow: list[tuple[float, float, str]] = []      # (start, seconds, callback) of callbacks over _SLOW
_collections: list[tuple[float, float, int, int]] = []  # (start, seconds, generation, collected)
_gc_start = [0.0]
_output = ["/dev/stderr"]
_count_at_start = [(0, 0, 0)]
_before = [""]
_SLOW = 0.0003
# Steps of these tasks are kept whatever their length (FILE.periodic).
_PERIODIC = frozenset({"task ChatServer._sweep_forever", "task ChatServer._freeze_forever"})
_periodic: list[tuple[float, float, str]] = []  # (start, seconds, task) of their steps under _SLOW


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _name(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {getattr(coro, '__qualname__', coro)}"
    return getattr(callback, "__qualname__", repr(callback))


def install() -> None:
    import selectors
    from asyncio import base_events, events

    run = events.Handle._run

    def timed_run(self):  # type: ignore[no-untyped-def]
        if not _on:
            return run(self)
        started = perf()
        try:
            return run(self)
        finally:
            spent = perf() - started
            if spent > _SLOW:
                _slow.append((started, spent, _name(self)))
            elif isinstance(getattr(self._callback, "__self__", None), asyncio.Task):
                # The server's own periodic tasks (the sweep, the freezer) whatever their
                # length: their slices are under _SLOW, and a tail is read beside them.
                name = _name(self)
                if name in _PERIODIC:
                    _periodic.append((started, spent, name))

    events.Handle._run = timed_run  # type: ignore[method-assign]

    waited = [0.0]
    original_select = selectors.EpollSelector.select

    def select(self, timeout=None):  # type: ignore[no-untyped-def]
        started = perf()
        try:
            return original_select(self, timeout)
        finally:
            waited[0] += perf() - started

    selectors.EpollSelector.select = select  # type: ignore[method-assign]

    run_once = base_events.BaseEventLoop._run_once

    def timed_run_once(self):  # type: ignore[no-untyped-def]
        if not _on:
            return run_once(self)
        waited[0] = 0.0
        started, cpu = perf(), time.thread_time()
        try:
            return run_once(self)
        finally:
            _turns.append((started, perf() - started - waited[0], waited[0], time.thread_time() - cpu))

    base_events.BaseEventLoop._run_once = timed_run_once  # type: ignore[method-assign]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            _gc_start[0] = perf()
        else:
            _collections.append((_gc_start[0], perf() - _gc_start[0], info["generation"], info["collected"]))

    gc.callbacks.append(on_gc)


def start(*_args: object) -> None:
    global _on
    spans = [spent for _s, spent, _g, _c in _collections]
    _before[0] = (f"before the phase (since the server started): {len(spans)} collections, "
                  f"{sum(spans) * 1e3:.1f} ms in all, the longest {max(spans, default=0) * 1e3:.1f} ms")
    _turns.clear()
    _slow.clear()
    _periodic.clear()
    _collections.clear()
    _count_at_start[0] = gc.get_count()
    _on = True


def report(*_args: object) -> None:
    global _on
    _on = False
    phase_collections = list(_collections)  # not the full collection below
    work = [w for _s, w, _sel, _cpu in _turns]
    lines = [f"== memory trace: {len(_turns):,} loop turns; gc counts at the start {_count_at_start[0]}, "
             f"at the end {gc.get_count()}, thresholds {gc.get_threshold()}, frozen {gc.get_freeze_count():,}",
             f"turn work p50 {_quantile(work, .5) * 1e3:.3f} ms, p99 {_quantile(work, .99) * 1e3:.3f} ms, "
             f"p99.9 {_quantile(work, .999) * 1e3:.3f} ms, max {max(work, default=0) * 1e3:.3f} ms, "
             f"total {sum(work):.3f} s"]
    lines.append("longest turns (start, work ms, selected ms, CPU ms incl. select):")
    for s, w, sel, cpu in sorted(_turns, key=lambda t: -t[1])[:40]:
        lines.append(f"  {s:.6f} {w * 1e3:8.3f} {sel * 1e3:8.3f} {cpu * 1e3:8.3f}")
    by_name: dict[str, list[float]] = {}
    for _s, spent, name in _slow:
        by_name.setdefault(name, []).append(spent)
    lines.append(f"callbacks over {_SLOW * 1e3:.1f} ms, by name (count, p50, max ms):")
    for name, spans in sorted(by_name.items(), key=lambda kv: -sum(kv[1]))[:20]:
        lines.append(f"  {name:60} {len(spans):6} {_quantile(spans, .5) * 1e3:8.3f} {max(spans) * 1e3:8.3f}")
    lines.append("slowest callbacks (start, ms, name):")
    for s, spent, name in sorted(_slow, key=lambda t: -t[1])[:15]:
        lines.append(f"  {s:.6f} {spent * 1e3:8.3f} {name}")
    lines.append(_before[0])
    lines.append(f"collections in the phase: {len(_collections)}")
    for s, spent, generation, collected in _collections:
        lines.append(f"  {s:.6f} gen {generation} {spent * 1e3:8.3f} ms, collected {collected}")
    started = perf()
    gc.unfreeze()
    found = gc.collect()  # what the server's full collection every 10 minutes would find and cost
    lines.append(f"a full collection now: {found:,} unreachable objects, {(perf() - started) * 1e3:.1f} ms")
    with open(_output[0], "a") as out:
        out.write("\n".join(lines) + "\n")
    with open(_output[0] + ".turns", "w") as out:  # the long ones, for bench/memory_trace's readers
        out.writelines(f"{s:.6f} {w:.6f} {cpu:.6f}\n" for s, w, _sel, cpu in _turns if w > 0.0005)
    with open(_output[0] + ".allturns", "w") as out:  # every turn: start, work, wait in select, CPU
        out.writelines(f"{s:.6f} {w:.6f} {sel:.6f} {cpu:.6f}\n" for s, w, sel, cpu in _turns)
    with open(_output[0] + ".callbacks", "w") as out:  # every callback over _SLOW, and every collection
        out.writelines(f"{s:.6f} {spent:.6f} {name.replace(' ', '_')}\n" for s, spent, name in _slow)
        out.writelines(f"{s:.6f} {spent:.6f} gc{generation}\n" for s, spent, generation, _c in phase_collections)
    with open(_output[0] + ".periodic", "w") as out:  # the steps of _PERIODIC's tasks under _SLOW
        out.writelines(f"{s:.6f} {spent:.6f} {name.replace(' ', '_')}\n" for s, spent, name in _periodic)


def main() -> int:
    return run_traced("BENCH_TURNS", _output, install, start, report)


if __name__ == "__main__":
    sys.exit(main())
