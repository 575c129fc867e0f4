"""The Redis store after Redis forgot its scripts (restarted, ``SCRIPT FLUSH``): no
operation runs after one submitted later, whichever conversation or user either is of.

One RedisStore on a real redis-server, reached through a raw FaultProxy that holds back
Redis's replies on the store's link: Redis runs what the store sends and its answers wait
on their way, while another client (another node) loads the scripts. Every wait has a
deadline.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from faultproxy import DOWN, FaultProxy
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_redis_store import loop, open_redis_store  # noqa: F401  (loop: a fixture)
from waits import wait_until

from resp import RedisClient
from server.store import StoreUnavailable
from server.stores import redis_scripts as lua


def _redis(url: str, *command: str):
    async def main():
        async with RedisClient(url) as redis:
            return await redis.execute(*command)
    return asyncio.run(main())


@pytest.mark.timeout_seconds(60)
def test_a_change_answered_noscript_does_not_run_after_the_next_one(redis_server, loop):  # noqa: F811
    # Ana blocks Bob: Redis has no scripts, the call does not run, and its NOSCRIPT waits
    # on its way; another node loads the scripts; Ana unblocks Bob (and blocks Carla, to
    # see it ran). Sent again after its NOSCRIPT, the block ran last: Bob stayed blocked
    # though Ana's last word was to unblock him. It is refused as not done instead.
    url = redis_server.url
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        store = open_redis_store(loop, f"redis://127.0.0.1:{proxy.port}/0", timeout=10)
        answers: list = []

        def block(target: str, on: bool, tag: str) -> None:
            store.set_block("ana", target, on, lambda _: answers.append(tag), lambda failure: answers.append(failure))

        def turn() -> bool:
            loop.run_until_complete(asyncio.sleep(0.01))
            return True
        try:
            block("dora", True, "warm")  # connects the store's link
            loop.run_until_complete(store.drain(timeout=10))
            assert answers == ["warm"]
            assert _redis(url, "SCRIPT", "FLUSH") == "OK"
            port = store._client._link.transport.get_extra_info("sockname")[1]
            assert proxy.hold_peer(port, (DOWN,)) == 1
            block("bob", True, "block")
            wait_until(lambda: turn() and proxy.held(port, DOWN), what="Redis answering the block")
            assert _redis(url, "SCRIPT", "LOAD", lua.BATCH.source) == lua.BATCH.sha1.encode()  # another node's doing
            block("bob", False, "unblock")
            block("carla", True, "marker")
            wait_until(lambda: turn() and _redis(url, "SISMEMBER", "{chat}:blocks:ana", "carla") == 1,
                       what="Redis running the unblock")
            assert proxy.release_peer(port) == 1
            loop.run_until_complete(store.drain(timeout=20))
            assert _redis(url, "SISMEMBER", "{chat}:blocks:ana", "bob") == 0, "the block ran after the unblock"
            refused, *rest = answers[1:]
            assert isinstance(refused, StoreUnavailable) and not refused.maybe_done, answers
            assert rest == ["unblock", "marker"]
        finally:
            store.close()


@pytest.mark.timeout_seconds(60)
def test_an_operation_answered_noscript_late_is_answered_within_the_stores_timeout(redis_server, loop):  # noqa: F811
    # Redis forgot its scripts (SCRIPT FLUSH) and is slow: the block's NOSCRIPT comes at
    # 0.8 of the store's timeout, and Redis then hangs (paused), so the SCRIPT LOAD gets
    # no answer. The block is answered within the store's timeout all the same, as not
    # done: before, the load had a timeout of its own (answered at 1.8 timeouts; with a
    # call sent again after it, up to three).
    timeout = 2.0
    with FaultProxy("127.0.0.1", redis_server.port, raw=True) as proxy:
        store = open_redis_store(loop, f"redis://127.0.0.1:{proxy.port}/0", timeout=timeout)
        answers: list = []

        def block(target: str, tag: str) -> None:
            store.set_block("ana", target, True, lambda _: answers.append(tag), lambda failure: answers.append(failure))

        def turn() -> bool:
            loop.run_until_complete(asyncio.sleep(0.01))
            return True
        try:
            block("dora", "warm")  # connects the store's link
            loop.run_until_complete(store.drain(timeout=10))
            assert answers == ["warm"]
            assert _redis(redis_server.url, "SCRIPT", "FLUSH") == "OK"
            port = store._client._link.transport.get_extra_info("sockname")[1]
            assert proxy.hold_peer(port, (DOWN,)) == 1
            start = time.monotonic()
            block("bob", "block")
            wait_until(lambda: turn() and proxy.held(port, DOWN), what="Redis answering the block")
            wait_until(lambda: turn() and time.monotonic() - start >= 0.8 * timeout, what="0.8 of the timeout")
            with redis_server.paused():
                assert proxy.release_peer(port) == 1  # the NOSCRIPT; the SCRIPT LOAD waits in Redis
                wait_until(lambda: turn() and len(answers) == 2, timeout=4 * timeout, what="the block's answer")
                took = time.monotonic() - start
            refused = answers[1]
            assert isinstance(refused, StoreUnavailable) and not refused.maybe_done, answers
            assert took <= 1.25 * timeout, f"answered {took:.2f} s after it was submitted (timeout {timeout} s)"
            block("carla", "after")  # Redis back: the scripts are loaded again, and it runs
            wait_until(lambda: turn() and len(answers) == 3, timeout=4 * timeout, what="the next block's answer")
            assert answers[2] == "after"
        finally:
            store.close()
