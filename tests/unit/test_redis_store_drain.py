"""RedisStore.drain wakes in the loop turn that answers the last pipeline (no poll).

Driven with a fake client (its pipelines' answers given by the test) on an event loop
whose clock stands still: a drain that waited for a timer (a poll) would never return.
"""

from __future__ import annotations

import asyncio

from server.stores.redis import RedisStore


class FrozenClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still: timers never fire, callbacks still run."""

    def time(self) -> float:
        return 1000.0


class FakeClient:
    """The RedisClient's pipeline_now as the store uses it: one future per pipeline,
    answered when the test says."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sent: list[tuple[list[bytes], asyncio.Future]] = []

    def pipeline_now(self, commands: list[bytes], timeout: float | None = None) -> asyncio.Future:
        future = self.loop.create_future()
        self.sent.append((commands, future))
        return future


def _store(loop: asyncio.AbstractEventLoop) -> tuple[RedisStore, FakeClient]:
    store = RedisStore("redis://127.0.0.1:1/0")
    store._loop = loop
    client = store._client = FakeClient(loop)
    return store, client


def _run(scenario) -> None:
    """Run ``scenario(loop)`` to its end on a FrozenClockLoop."""
    loop = FrozenClockLoop()
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(loop), None))
    finally:
        loop.close()


async def _turns(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def test_drain_returns_in_the_turns_after_the_last_pipeline_is_answered_without_a_timer() -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        acks: list = []
        store.record_ack(7, "alice", acks.append)
        store.record_ack(8, "alice", acks.append)
        drain = loop.create_task(store.drain(timeout=60))
        await _turns(5)
        assert len(client.sent) == 1 and not drain.done()  # sent, not answered: drain waits
        # The answer: one BATCH call whose one operation (the joined acks) said b"10".
        client.sent[0][1].set_result([[b"10"]])
        await _turns(10)
        assert acks == [True, False]
        assert drain.done(), "drain still waits after the last answer (a timer, with a clock that stands still)"
        # Nothing pending: returns at once.
        await asyncio.wait_for(store.drain(timeout=60), None)
    _run(scenario)


def test_drain_waits_for_operations_a_callback_submits_and_for_the_pipeline_they_make() -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        answers: list = []

        def first(answer: bool) -> None:
            answers.append(answer)
            store.record_ack(9, "bob", answers.append)  # a callback submits more work

        store.record_ack(7, "alice", first)
        drain = loop.create_task(store.drain(timeout=60))
        await _turns(5)
        client.sent[0][1].set_result([[b"1"]])
        await _turns(10)
        assert answers == [True] and len(client.sent) == 2
        assert not drain.done()  # the second pipeline is still in flight
        client.sent[1][1].set_result([[b"1"]])
        await _turns(10)
        assert answers == [True, True] and drain.done()
    _run(scenario)


def test_close_wakes_a_drain_and_refuses_what_was_pending() -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        failures: list = []
        store.record_ack(7, "alice", None, failures.append)
        drain = loop.create_task(store.drain(timeout=60))
        await _turns(5)
        store._client = None  # (close() would close a real client's connection)
        store.close()
        await _turns(10)
        assert drain.done() and len(failures) == 1
    _run(scenario)
