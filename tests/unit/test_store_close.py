"""The durable store's close answers everything submitted to it: an item still waiting
for the transaction after the one under way (the server's drain gives up after 10 s on a
slow disk) got neither its callback nor its on_error, so whoever submitted it waited for
ever. It is answered StoreUnavailable: not committed, so never said accepted."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from server.store import Store, StoreUnavailable


def test_close_during_a_commit_answers_what_waited_for_the_next_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "chat.db")
    store.open()
    started, slow_disk = threading.Event(), threading.Event()
    heard: list = []

    def slow(db: object) -> str:
        started.set()
        slow_disk.wait(10.0)
        return "stored"

    async def run() -> None:
        loop = asyncio.get_running_loop()
        store.start(loop)
        store.submit(slow, lambda result: heard.append(("first", result)))
        deadline = loop.time() + 5.0
        while not started.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert started.is_set(), "the committer never took the first operation"
        store.submit(lambda db: "stored", lambda result: heard.append(("second", result)),
                     lambda failure: heard.append(("second", failure)))
        slow_disk.set()  # the commit under way ends while the store closes
        store.close()
        deadline = loop.time() + 5.0
        while len(heard) < 2 and loop.time() < deadline:
            await asyncio.sleep(0.005)

    asyncio.run(run())
    assert ("first", "stored") in heard
    second = [outcome for who, outcome in heard if who == "second"]
    assert len(second) == 1 and isinstance(second[0], StoreUnavailable), heard
