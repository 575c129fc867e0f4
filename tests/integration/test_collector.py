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
import threading
import time

from protocol import SendDirect
from server import app
from servers import in_thread
from wire import WireClient


def test_a_tamed_server_freezes_a_bursts_young_objects_before_the_collector_scans_them():
    before = gc.get_threshold()
    collections: list[int] = []

    def watch(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    try:
        with in_thread(tame_gc=True):
            gc.set_threshold(*app._GC_THRESHOLDS)  # as the server did as it started
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


def test_a_tamed_server_s_collector_is_tamed_as_it_listens_not_at_its_first_sweep():
    # The sweep's first pass comes a period after the server listens (2.5 s by default): until
    # then Python's thresholds ran young collections every 700 allocations and full ones of
    # 30-40 ms over the sessions (bench/PROFILE.md, round syscalls: 9.7% of the memory
    # server's CPU in the collector in the benchmark's throughput phase, which starts a
    # second after the server does), and a restart's thousands of logins came then.
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)  # Python's own, as a fresh process has them
        frozen = gc.get_freeze_count()
        with in_thread(tame_gc=True, heartbeat_interval=60.0):  # its first sweep 15 s on
            assert gc.get_threshold() == app._GC_THRESHOLDS
            assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_due_full_collection_waits_while_messages_flow_and_runs_once_the_server_is_quiet(monkeypatch):
    # The sweep tells the collector whether anything happened since its last pass; a full
    # collection (a stall of the whole loop) is put off while messages flow.
    collections: list[str] = []
    real_collect = gc.collect

    def watch(*args: object) -> int:
        collections.append(threading.current_thread().name)
        return real_collect(*args)

    monkeypatch.setattr(app, "_FULL_GC_PERIOD", 0.0)  # always due, but for the quiet
    monkeypatch.setattr(app, "_FULL_GC_LATEST", 3600.0)
    monkeypatch.setattr(app.gc, "collect", watch)
    before = gc.get_threshold()
    try:
        # heartbeat 2 s: a sweep every 0.5 s, so a pause of the sender under load is not a quiet moment.
        with in_thread(tame_gc=True, fast=True, heartbeat_interval=2.0, heartbeat_timeout=60.0) as server, \
                WireClient.login(server.host, server.port, "Ana") as ana, \
                WireClient.login(server.host, server.port, "João") as joao:
            here = threading.current_thread().name
            busy_until = time.monotonic() + 2.5  # five sweeps, each after messages
            sent = 0
            while time.monotonic() < busy_until:
                ana.send(SendDirect(f"m{sent}", "João", "olá"))
                sent += 1
                threading.Event().wait(0.01)
            assert [name for name in collections if name != here] == [], "a full collection ran while messages flowed"
            deadline = time.monotonic() + 5.0
            while not [name for name in collections if name != here] and time.monotonic() < deadline:
                threading.Event().wait(0.02)
            assert [name for name in collections if name != here], "no full collection once the server was quiet"
            assert sent > 100 and joao
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
