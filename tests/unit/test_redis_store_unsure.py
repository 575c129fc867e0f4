"""The Redis store tells "not done" from "perhaps done" (StoreUnavailable.maybe_done), and
the answer to the client says which (server/login.py's unavailable_error).

A command the RESP client wrote and got no answer to (Redis paused, slow, cut off after
it) may run all the same; one it never wrote cannot have. Driven with a fake client whose
pipelines fail as the test says, on an event loop whose clock stands still.
"""

from __future__ import annotations

import asyncio

from protocol import ErrorCode
from resp import RedisConnectionError, RedisTimeout
from server.config import ServerConfig
from server.login import unavailable_error
from server.store import StoreUnavailable
from server.stores.redis import RedisStore

from test_redis_store_drain import FakeClient, _run, _store, _turns


def _block(store: RedisStore) -> list:
    """Submit one write (a block); its answer lands in the list returned."""
    answers: list = []
    store.set_block("alice", "bob", True, answers.append, answers.append)
    return answers


def _failure_of(exc: BaseException) -> StoreUnavailable:
    result: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        answers = _block(store)
        await _turns(3)
        client.sent[0][1].set_exception(exc)
        await _turns(10)
        result.extend(answers)
    _run(scenario)
    assert len(result) == 1 and isinstance(result[0], StoreUnavailable), result
    return result[0]


def test_an_operation_written_and_unanswered_may_have_been_done() -> None:
    timed_out = _failure_of(RedisTimeout("no reply within 5 s; the command may or may not have run"))
    assert timed_out.maybe_done and timed_out.storage
    lost = _failure_of(RedisConnectionError("lost the connection; the command may or may not have run"))
    assert lost.maybe_done
    # An exception the RESP client did not make says nothing of the kind: perhaps done.
    assert _failure_of(TimeoutError("timed out")).maybe_done


def test_an_operation_never_written_was_not_done() -> None:
    unsent = _failure_of(RedisConnectionError("cannot connect; the command was not sent", sent=False))
    assert not unsent.maybe_done
    assert not _failure_of(RedisTimeout("no connection within 5 s; the command was not sent", sent=False)).maybe_done


def test_closing_the_store_tells_written_operations_from_unsent_ones() -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        client.close = lambda: asyncio.sleep(0)  # what close() calls last
        written = _block(store)
        await _turns(3)
        assert len(client.sent) == 1  # in Redis's hands, unanswered
        unsent = _block(store)  # submitted, not yet written
        store.close()
        await _turns(3)
        assert [f.maybe_done for f in written] == [True]
        assert [f.maybe_done for f in unsent] == [False]
    _run(scenario)


def test_the_answer_says_nothing_was_done_only_when_nothing_was() -> None:
    config = ServerConfig()
    sure = unavailable_error(config, "7", StoreUnavailable("disk full"))
    assert sure.code == ErrorCode.UNAVAILABLE and sure.uncertain is None
    assert "nothing was done" in sure.message and sure.retry_after == config.unavailable_retry_after
    unsure = unavailable_error(config, "7", StoreUnavailable("no reply", maybe_done=True))
    assert unsure.code == ErrorCode.UNAVAILABLE and unsure.uncertain is True
    assert "nothing was done" not in unsure.message and "may have been" in unsure.message
    assert "same id" in unsure.message and unsure.retry_after == config.unavailable_retry_after
    assert unavailable_error(config, "7").uncertain is None  # no failure at hand: as before


def test_a_batch_redis_had_forgotten_the_scripts_of_was_not_done_if_the_reload_gets_no_answer() -> None:
    """Answered NOSCRIPT (Redis restarted: nothing of the batch ran), then the SCRIPT LOAD
    written and unanswered: whatever became of the LOAD, the operations did not run."""
    from resp import RedisError
    result: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)

        async def execute(*args, timeout=None):
            raise RedisTimeout("no reply within 5 s; the command may or may not have run")
        client.execute = execute
        answers = _block(store)
        await _turns(3)
        client.sent[0][1].set_result([RedisError("NOSCRIPT", "No matching script")])
        await _turns(10)
        result.extend(answers)
    _run(scenario)
    assert len(result) == 1 and isinstance(result[0], StoreUnavailable) and not result[0].maybe_done, result
