"""The asyncio RESP client against a real redis-server (see tests/support/redisserver.py).

Each test runs its own event loop under a deadline; the servers are started on free
127.0.0.1 ports and stopped by PID.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from resp import RedisClient, RedisConnectionError, RedisError, Script

TEST_DEADLINE = 30.0


def run(coro, deadline: float = TEST_DEADLINE):
    """Run ``coro`` in a new event loop; fail the test if it takes over ``deadline`` s."""
    async def bounded():
        return await asyncio.wait_for(coro, deadline)  # (asyncio.timeout is 3.11's)
    return asyncio.run(bounded())


async def wait_until(condition, deadline: float = 10.0, what: str = "condition") -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def test_set_and_get_round_trip_text_and_bytes(redis_server):
    async def main():
        async with RedisClient(redis_server.url) as redis:
            assert await redis.execute("SET", "greeting", "olá 🌍") == "OK"
            assert await redis.execute("GET", "greeting") == "olá 🌍".encode()
            assert await redis.execute("SET", b"bin\x00", b"\xff\r\n\x00") == "OK"
            assert await redis.execute("GET", b"bin\x00") == b"\xff\r\n\x00"
            assert await redis.execute("GET", "missing") is None
            assert await redis.execute("INCRBY", "n", 41) == 41
            assert await redis.execute("SET", "t", "v", "EX", 60) == "OK"
            assert 0 < await redis.execute("TTL", "t") <= 60
    run(main())


def test_a_thousand_commands_in_one_loop_turn_go_out_in_one_write(redis_server):
    async def main():
        async with RedisClient(redis_server.url) as redis:
            assert await redis.execute("PING") == "PONG"
            transport = redis._link.transport
            writes = []
            real_write = transport.write
            transport.write = lambda data: (writes.append(len(data)), real_write(data))[1]
            replies = await asyncio.gather(*(redis.execute("INCR", "counter") for _ in range(1000)))
            assert replies == list(range(1, 1001))  # in order, each with its own command
            assert len(writes) == 1
            assert writes[0] == 1000 * len(b"*2\r\n$4\r\nINCR\r\n$7\r\ncounter\r\n")
    run(main())


def test_an_error_reply_among_successes_is_a_value_and_hides_nothing(redis_server):
    async def main():
        async with RedisClient(redis_server.url) as redis:
            replies = await asyncio.gather(
                redis.execute("SET", "a", 1),
                redis.execute("INCR", "a"),
                redis.execute("LPUSH", "a", "x"),
                redis.execute("NOSUCHCOMMAND"),
                redis.execute("GET", "a"),
            )
            assert replies[:2] == ["OK", 2]
            assert replies[2].code == "WRONGTYPE"
            assert isinstance(replies[3], RedisError) and replies[3].code == "ERR"
            assert replies[4] == b"2"
    run(main())


def test_auth_from_the_url(tmp_path):
    with RedisServer(tmp_path, password="s3cret pw") as server:
        async def main():
            url = f"redis://:s3cret%20pw@127.0.0.1:{server.port}/0"
            async with RedisClient(url) as redis:
                assert await redis.execute("SET", "k", "v") == "OK"
            # Without a password: the server's refusal is a reply like any other.
            async with RedisClient(f"redis://127.0.0.1:{server.port}/0") as redis:
                reply = await redis.execute("GET", "k")
                assert isinstance(reply, RedisError) and reply.code == "NOAUTH"
            # A wrong password fails the command at once, saying why, and sends nothing.
            async with RedisClient(f"redis://:wrong@127.0.0.1:{server.port}/0", timeout=10) as redis:
                started = time.monotonic()
                with pytest.raises(RedisConnectionError, match="refused AUTH: WRONGPASS.*not sent"):
                    await redis.execute("GET", "k")
                assert time.monotonic() - started < 5
        run(main())


def test_auth_with_a_user_name(tmp_path):
    with RedisServer(tmp_path, password="adminpw") as server:
        async def main():
            async with RedisClient(server.url) as admin:
                assert await admin.execute("ACL", "SETUSER", "node", "on", ">nodepw", "~*", "+@all") == "OK"
            async with RedisClient(f"redis://node:nodepw@127.0.0.1:{server.port}/0") as redis:
                assert await redis.execute("ACL", "WHOAMI") == b"node"
        run(main())


def test_select_from_the_url(redis_server):
    async def main():
        base = f"redis://127.0.0.1:{redis_server.port}"
        async with RedisClient(base + "/3") as db3, RedisClient(base + "/0") as db0:
            assert await db3.execute("SET", "where", "three") == "OK"
            assert await db0.execute("GET", "where") is None
            assert await db3.execute("GET", "where") == b"three"
            assert await db0.execute("SELECT", 3) == "OK"
            assert await db0.execute("GET", "where") == b"three"
        async with RedisClient(base + "/999") as bad:
            with pytest.raises(RedisConnectionError, match="refused SELECT: ERR DB index is out of range"):
                await bad.execute("PING")
    run(main())


def test_a_script_runs_by_hash_and_falls_back_to_eval_on_noscript(redis_server):
    async def main():
        add = Script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        async with RedisClient(redis_server.url) as redis:
            assert await redis.execute("SCRIPT", "FLUSH") == "OK"
            assert await add(redis, keys=["n"], args=[5]) == 5      # NOSCRIPT, then EVAL
            assert await redis.execute("SCRIPT", "EXISTS", add.sha1) == [1]
            assert await add(redis, keys=["n"], args=[2]) == 7      # EVALSHA alone
            stats = (await redis.execute("INFO", "commandstats")).decode()
            assert "cmdstat_eval:calls=1," in stats
            assert "cmdstat_evalsha:calls=2," in stats
            broken = Script("return redis.call('NOSUCH')")
            reply = await broken(redis)
            assert isinstance(reply, RedisError) and reply.code == "ERR"
    run(main())


def test_a_stream_read_by_a_group_with_a_blocking_read_on_its_own_client(redis_server):
    async def main():
        async with RedisClient(redis_server.url) as redis, \
                RedisClient(redis_server.url, timeout=10) as reader:
            assert await redis.execute("XGROUP", "CREATE", "chat", "relay", "$", "MKSTREAM") == "OK"
            read = asyncio.create_task(reader.execute(
                "XREADGROUP", "GROUP", "relay", "node-1", "COUNT", 10, "BLOCK", 5000,
                "STREAMS", "chat", ">"))
            await wait_until(lambda: reader.connected, what="the reader to connect")
            # The blocked reader does not hold up the other client.
            assert await redis.execute("PING") == "PONG"
            entry_id = await redis.execute("XADD", "chat", "*", "text", "olá")
            assert await read == [[b"chat", [[entry_id, [b"text", "olá".encode()]]]]]
            pending = await redis.execute("XPENDING", "chat", "relay")
            assert pending[0] == 1
            claimed = await redis.execute("XAUTOCLAIM", "chat", "relay", "node-2", 0, "0-0")
            assert claimed[1] == [[entry_id, [b"text", "olá".encode()]]]
            assert await redis.execute("XACK", "chat", "relay", entry_id) == 1
            assert (await redis.execute("XPENDING", "chat", "relay"))[0] == 0
    run(main())


def test_config_get_and_info_are_readable(redis_server):
    async def main():
        async with RedisClient(redis_server.url) as redis:
            assert await redis.execute("CONFIG", "GET", "appendfsync") == [b"appendfsync", b"everysec"]
            info = await redis.execute("INFO", "persistence")
            assert b"aof_enabled:0" in info
    run(main())


def test_commands_in_flight_when_redis_dies_fail_and_later_ones_reconnect(redis_server):
    async def main():
        async with RedisClient(redis_server.url, timeout=10) as redis:
            assert await redis.execute("SET", "k", "v") == "OK"
            # BLPOP blocks in the server, so it is surely in flight at the kill.
            in_flight = [asyncio.create_task(redis.execute("BLPOP", "nothing", 8)) for _ in range(3)]
            await wait_until(lambda: len(redis._link.core.pending) == 3, what="the commands to go out")
            started = time.monotonic()
            redis_server.kill()
            for task in in_flight:
                with pytest.raises(RedisConnectionError, match="lost the connection.*may or may not"):
                    await task
            assert time.monotonic() - started < 5  # at once, not at their timeout
            assert not redis.connected
            redis_server.start()                     # the same port
            assert await redis.execute("PING") == "PONG"
            assert await redis.execute("GET", "k") is None  # a fresh server: nothing saved
    run(main())


def test_commands_issued_while_redis_is_down_wait_for_it_within_their_timeout(redis_server):
    async def main():
        async with RedisClient(redis_server.url, timeout=15, backoff_max=0.2) as redis:
            assert await redis.execute("PING") == "PONG"
            redis_server.kill()
            await wait_until(lambda: not redis.connected, what="the client to see the loss")
            waiting = asyncio.create_task(redis.execute("SET", "k", "after"))
            # It tries, fails and keeps trying while the server is down.
            await wait_until(lambda: redis._connect_error is not None, what="a failed attempt")
            assert not waiting.done()
            await asyncio.to_thread(redis_server.start)
            assert await waiting == "OK"
            assert await redis.execute("GET", "k") == b"after"
    run(main())


def test_a_command_fails_with_the_connection_error_when_redis_stays_down(redis_server):
    async def main():
        async with RedisClient(redis_server.url, timeout=1.0, backoff_max=0.1) as redis:
            redis_server.kill()
            started = time.monotonic()
            with pytest.raises(RedisConnectionError, match="cannot connect.*not sent"):
                await redis.execute("PING")
            assert 0.9 < time.monotonic() - started < 3
    run(main())


def test_a_cancelled_command_does_not_shift_the_replies_behind_it(redis_server):
    async def main():
        async with RedisClient(redis_server.url) as redis:
            assert await redis.execute("PING") == "PONG"
            blocked = asyncio.create_task(redis.execute("BLPOP", "q", 1))
            await wait_until(lambda: len(redis._link.core.pending) == 1, what="BLPOP to go out")
            blocked.cancel()
            # SET is answered after BLPOP's null reply: it must get "OK", not BLPOP's None.
            assert await redis.execute("SET", "x", 1) == "OK"
            assert await redis.execute("GET", "x") == b"1"
    run(main())


def test_more_commands_than_max_in_flight_wait_their_turn(redis_server):
    async def main():
        async with RedisClient(redis_server.url, max_in_flight=3) as redis:
            replies = await asyncio.gather(*(redis.execute("INCR", "n") for _ in range(50)))
            assert sorted(replies) == list(range(1, 51))
    run(main())


def test_what_waits_for_room_under_max_in_flight_is_not_overtaken_by_what_comes_after(redis_server):
    # Callers rely on the order they issue commands in (the store's pipelines, the node's
    # routes: a message's entry before a later one's). A pipeline that waits for room must
    # not be overtaken by a smaller command that fits, nor by a pipeline_now issued after
    # it, whose place is taken when it is called, not when it is awaited.
    from resp import encode_command

    async def main():
        async with RedisClient(redis_server.url, max_in_flight=2) as redis:
            assert await redis.execute("PING") == "PONG"
            held = asyncio.ensure_future(redis.execute("BLPOP", "nothing", 0.3))  # 1 of 2 in flight for 0.3 s
            await asyncio.sleep(0)
            first = asyncio.ensure_future(redis.pipeline([("RPUSH", "order", "first"), ("RPUSH", "order", "first+")]))
            await asyncio.sleep(0)  # 2 more: it waits for room
            then = redis.pipeline_now([encode_command(("RPUSH", "order", "then"))])  # 1 more would fit
            last = asyncio.ensure_future(redis.execute("RPUSH", "order", "last"))
            assert await held is None
            await asyncio.gather(first, then, last)
            assert await redis.execute("LRANGE", "order", 0, -1) == [b"first", b"first+", b"then", b"last"]
            # Issued in one turn while a pipeline waits: pipeline_now's place is its call's.
            held = asyncio.ensure_future(redis.execute("BLPOP", "nothing", 0.3))
            await asyncio.sleep(0)
            now = redis.pipeline_now([encode_command(("RPUSH", "again", "a")), encode_command(("RPUSH", "again", "b"))])
            after = asyncio.ensure_future(redis.execute("RPUSH", "again", "c"))
            await asyncio.sleep(0)  # the execute's task runs before pipeline_now's replies are awaited
            await asyncio.gather(held, after, now)
            assert await redis.execute("LRANGE", "again", 0, -1) == [b"a", b"b", b"c"]
            assert redis._in_flight == 0
    run(main())


def test_pipeline_sends_a_batch_in_one_write_and_returns_replies_in_order(redis_server):
    async def main():
        async with RedisClient(redis_server.url, max_in_flight=100) as redis:
            assert await redis.pipeline([]) == []
            assert await redis.execute("PING") == "PONG"
            transport = redis._link.transport
            writes = []
            real_write = transport.write
            transport.write = lambda data: (writes.append(len(data)), real_write(data))[1]
            commands = [("SET", f"k{i}", i) for i in range(500)] + [("LPUSH", "k7", "x")] \
                + [("GET", f"k{i}") for i in range(500)]
            # Larger than max_in_flight: a batch that cannot fit goes alone.
            replies = await redis.pipeline(commands)
            assert replies[:500] == ["OK"] * 500
            assert replies[500].code == "WRONGTYPE"
            assert replies[501:] == [str(i).encode() for i in range(500)]
            assert len(writes) == 1
    run(main())


def test_pipeline_encoded_sends_commands_already_in_resp_bytes(redis_server):
    from resp import encode_command

    async def main():
        async with RedisClient(redis_server.url) as redis:
            assert await redis.pipeline_encoded([]) == []
            encoded = [encode_command(("SET", "k", "v")), encode_command(("GET", "k")),
                       encode_command(("INCR", "k"))]
            replies = await redis.pipeline_encoded(encoded)
            assert replies[:2] == ["OK", b"v"] and replies[2].code == "ERR"
    run(main())
