"""The tamed garbage collector of a running server (issue 9: the memory server's delivered p99).

With ``tame_gc`` the server raises the collector's first threshold to 50,000 allocations
and freezes what is alive at every sweep (every 2.5 s by default). A burst of traffic
could leave tens of thousands of young objects between two sweeps; the young collection
they then triggered scanned them all at once (11 ms in the benchmark's latency phase,
bench/PROFILE.md round twelve), a stall of the loop behind which every message waited.
The server now freezes them within a fraction of a second, well before the next sweep.
"""

from __future__ import annotations

import gc
import time

from server import app
from servers import in_thread


def test_a_tamed_server_freezes_a_bursts_young_objects_before_the_collector_scans_them():
    before = gc.get_threshold()
    collections: list[int] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    try:
        with in_thread(tame_gc=True):
            gc.set_threshold(*app._GC_THRESHOLDS)  # as the server's first sweep does, 2.5 s from now
            frozen = gc.get_freeze_count()
            gc.callbacks.append(watch)
            burst = [[n] for n in range(30_000)]  # young, tracked and alive, as messages in flight are
            assert gc.get_count()[0] >= 30_000 // 2
            # Well before the first sweep (2.5 s after the server listens), which also freezes.
            deadline = time.monotonic() + 1.0
            while gc.get_freeze_count() < frozen + len(burst) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert gc.get_freeze_count() >= frozen + len(burst), "the burst's objects were not frozen within 1 s"
            assert gc.get_count()[0] < 30_000 // 2
            assert collections == []
            del burst
    finally:
        if watch in gc.callbacks:
            gc.callbacks.remove(watch)
        gc.unfreeze()
        gc.set_threshold(*before)
