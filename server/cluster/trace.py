"""Bench-only tracing of the cross-node message path: off unless ``CHAT_CROSS_TRACE`` is set.

With ``CHAT_CROSS_TRACE=DIR`` in a node's environment, each node process appends
``(stage, key, CLOCK_MONOTONIC ns)`` to a list at a few points of a direct message's way
(server/cluster/node.py and server/stores/redis.py call :func:`mark`), and writes them to
``DIR/trace-<pid>.tsv`` at exit. CLOCK_MONOTONIC is one clock for every process of a
machine, so bench/crosstrace.py can join the files of both nodes by message id and give
p50/p99 per segment. Off (the default), :data:`ON` is False and callers skip the call: the
cost is one global read per point.
"""

from __future__ import annotations

import atexit
import os
import time

DIRECTORY = os.environ.get("CHAT_CROSS_TRACE", "")
ON = bool(DIRECTORY)
_marks: list[tuple[str, object, int]] = []
_now = time.monotonic_ns


def mark(stage: str, key: object) -> None:
    """Note that message ``key`` (an id, or a (sender key, request id) pair before it has
    one) passed ``stage`` now."""
    _marks.append((stage, key, _now()))


def probe_turns(loop, every: float = 0.005) -> None:
    """Every ``every`` seconds, note how long one whole loop turn took (stage ``turn``,
    key: its ns): from a callback at the start of a turn to the one it scheduled with
    ``call_soon``, which runs at the start of the next, after that turn's I/O and callbacks."""
    def second(started: int) -> None:
        _marks.append(("turn", _now() - started, 0))
        loop.call_later(every, tick)

    def first() -> None:
        loop.call_soon(second, _now())

    def tick() -> None:
        loop.call_soon(first)

    loop.call_later(every, tick)


def _write() -> None:
    if not _marks:
        return
    with open(os.path.join(DIRECTORY, f"trace-{os.getpid()}.tsv"), "w", encoding="utf-8") as out:
        for stage, key, at in _marks:
            out.write(f"{stage}\t{key!r}\t{at}\n")


if ON:
    atexit.register(_write)
