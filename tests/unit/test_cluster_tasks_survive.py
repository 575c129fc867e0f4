"""A cluster node's long-running tasks survive an unexpected exception: no sockets.

The heartbeat, the two stream readers and the gauges' watcher each catch what Redis can
do to them (a lost connection, a timeout). Anything else (a bug in applying a rejoin, in
reloading the registry, in the relay's resync) ended the task for good, silently: the
task is kept in ``_tasks``, so its exception was never even reported. A node whose
heartbeat has ended is reaped by the others a TTL later, every user on it is told to have
left, and it answers every login ``unavailable`` until it is restarted.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from server.cluster import node as node_module
from server.cluster.node import ClusterNode


@pytest.mark.logs_tracebacks("a heartbeat step made to raise")
def test_the_heartbeat_goes_on_after_an_unexpected_exception(monkeypatch, caplog) -> None:
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    beats: list[float] = []
    reaps = [ValueError("a bug in a step of the heartbeat")]  # the first beat's reap raises

    async def beat(_client: object, args: tuple) -> int:
        beats.append(asyncio.get_running_loop().time())
        return 1

    async def reap() -> list:
        if reaps:
            raise reaps.pop()
        return []

    async def nothing() -> None:
        pass

    async def idle() -> None:  # the readers and the gauges: not what this test is about
        await asyncio.Event().wait()

    monkeypatch.setattr(node_module.scripts, "BEAT", beat)
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.01)
    monkeypatch.setattr(node, "_reap", reap)
    for name in ("_check_memory", "_check_version", "_open_fast", "_join", "_load"):
        monkeypatch.setattr(node, name, nothing)
    for name in ("_read_events", "_read_inbox", "_watch_gauges"):
        monkeypatch.setattr(node, name, idle)

    async def run() -> None:
        await node.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while len(beats) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        node._stopping = True
        for task in node._tasks:
            task.cancel()
        await asyncio.gather(*node._tasks, return_exceptions=True)

    asyncio.run(run())
    assert len(beats) >= 3, f"the heartbeat stopped after {len(beats)} beat(s)"
    assert any("a bug in a step of the heartbeat" in record.getMessage() or record.exc_info
               for record in caplog.records), caplog.text
