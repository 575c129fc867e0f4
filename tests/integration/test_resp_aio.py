"""The asyncio RESP client against fake servers that misbehave: silent, garbage, gone.

No redis-server needed: each fake is an asyncio server on 127.0.0.1, port 0, in the
test's own event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from redisserver import free_port
from resp import RedisClient, RedisConnectionError, may_have_run

TEST_DEADLINE = 20.0


def run(coro, deadline: float = TEST_DEADLINE):
    async def bounded():
        return await asyncio.wait_for(coro, deadline)  # (asyncio.timeout is 3.11's)
    return asyncio.run(bounded())


class FakeRedis:
    """A TCP server that hands each connection's bytes to ``reply(data) -> bytes``."""

    def __init__(self, reply=lambda data: b"", hang_up: bool = False) -> None:
        self.reply = reply
        self.hang_up = hang_up
        self.received = bytearray()
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeRedis:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()
        # End the connection handlers ourselves: cancelled at loop teardown, they would
        # make asyncio log a traceback.
        for writer in self.writers:
            writer.transport.abort()
        await asyncio.sleep(0)
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _serve(self, reader, writer) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while data := await reader.read(65536):
                self.received += data
                writer.write(self.reply(data))
                if self.hang_up:
                    break
        except ConnectionError:
            pass
        finally:
            writer.close()


def test_a_silent_server_times_the_command_out_and_the_connection_with_it():
    async def main():
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=0.3) as redis:
            first = asyncio.create_task(redis.execute("GET", "a"))
            second = asyncio.create_task(redis.execute("GET", "b", timeout=10))
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="no reply .* within 0.3 s; the command may or may not have run"):
                await first
            # The one behind it cannot be answered on that connection either.
            with pytest.raises(RedisConnectionError, match="after a command timed out"):
                await second
            assert time.monotonic() - started < 2
            assert not redis.connected
            # The next command opens a new connection.
            with pytest.raises(TimeoutError):
                await redis.execute("PING")
            assert fake.connections == 2
    run(main())


def test_garbage_from_the_server_fails_the_commands_and_is_logged_once(caplog):
    async def main():
        garbage = lambda data: b"?garbage\r\n" * 100  # noqa: E731
        async with FakeRedis(garbage) as fake, RedisClient(fake.url, timeout=5) as redis:
            results = await asyncio.gather(*(redis.execute("GET", i) for i in range(10)),
                                           return_exceptions=True)
            assert all(isinstance(r, RedisConnectionError) for r in results), results
            assert "unknown reply type byte b'?'" in str(results[0])
            assert not redis.connected
    with caplog.at_level(logging.WARNING, logger="resp"):
        run(main())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "unknown reply type" in errors[0].getMessage()


def test_a_server_that_closes_mid_reply_fails_the_command_saying_so():
    async def main():
        async with FakeRedis(lambda data: b"$10\r\nabc", hang_up=True) as fake, \
                RedisClient(fake.url, timeout=10) as redis:
            with pytest.raises(RedisConnectionError, match="middle of a reply"):
                await redis.execute("GET", "k")
    run(main())


def test_more_commands_than_max_in_flight_wait_and_fail_unsent_at_their_deadline():
    async def main():
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=0.3, max_in_flight=1) as redis:
            first = asyncio.create_task(redis.execute("GET", "a", timeout=10))
            await asyncio.sleep(0)
            with pytest.raises(TimeoutError, match="1 Redis commands were in flight .* not sent"):
                await redis.execute("GET", "b")
            assert b"GET" in fake.received and b"$1\r\nb" not in fake.received
            first.cancel()
    run(main())


def test_a_command_that_waits_for_room_in_vain_takes_those_behind_it_along():
    # Sent once room comes, the third would run before the second, which its caller
    # sends again later (as with commands waiting for a connection, below). And the client
    # closing fails at once what still waits for room, unsent.
    async def main():
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=10, max_in_flight=1) as redis:
            first = asyncio.ensure_future(redis.execute("GET", "a"))
            await asyncio.sleep(0)
            second = asyncio.ensure_future(redis.execute("GET", "b", timeout=0.3))
            third = asyncio.ensure_future(redis.pipeline([("GET", "c")]))
            with pytest.raises(TimeoutError, match="1 Redis commands were in flight .* not sent") as failed:
                await second
            assert not may_have_run(failed.value)
            await asyncio.sleep(0)
            assert third.done(), "the later command still waits for room: it could run before the second's resend"
            with pytest.raises(TimeoutError, match="issued before this one .* not sent") as failed:
                await third
            assert not may_have_run(failed.value)
            fourth = asyncio.ensure_future(redis.execute("GET", "d"))  # waits behind the first
            await asyncio.sleep(0.05)
            started = time.monotonic()
            await redis.close()
            with pytest.raises(RedisConnectionError, match="not sent") as failed:
                await fourth
            assert not may_have_run(failed.value) and time.monotonic() - started < 2
            assert b"$1\r\nc" not in fake.received and b"$1\r\nd" not in fake.received
            with pytest.raises(RedisConnectionError):
                await first
    run(main())


def test_close_fails_what_is_in_flight_and_refuses_what_comes_after():
    async def main():
        async with FakeRedis() as fake:
            redis = RedisClient(fake.url, timeout=10)
            task = asyncio.create_task(redis.execute("GET", "a"))
            while not fake.received:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            await redis.close()
            with pytest.raises(RedisConnectionError, match="closed"):
                await task
            assert time.monotonic() - started < 2
            with pytest.raises(RedisConnectionError, match="closed"):
                await redis.execute("PING")
    run(main())


def test_no_server_at_all_fails_with_the_connection_error_at_the_deadline():
    async def main():
        port = free_port()
        async with RedisClient(f"redis://127.0.0.1:{port}/0", timeout=0.5) as redis:
            started = time.monotonic()
            with pytest.raises(RedisConnectionError, match="cannot connect.*Connect call failed.*not sent"):
                await redis.execute("PING")
            assert 0.4 < time.monotonic() - started < 2
    run(main())


def test_a_command_that_fails_waiting_for_the_connection_takes_those_behind_it_along():
    # The first waits in vain; Redis may come back before the second's own deadline. Sent
    # then, the second would run before the first, which its caller sends again later.
    async def main():
        port = free_port()
        async with RedisClient(f"redis://127.0.0.1:{port}/0", timeout=0.6, backoff_max=0.02) as redis:
            first = asyncio.ensure_future(redis.execute("PING", "first"))
            await asyncio.sleep(0.3)  # the two commands issued 0.3 s apart
            second = asyncio.ensure_future(redis.execute("PING", "second"))
            await asyncio.sleep(0)  # (submitted: waiting behind the first)
            with pytest.raises(RedisConnectionError, match="not sent") as failed:
                await first
            assert not may_have_run(failed.value)
            assert second.done(), "the later command still waits: it could run before the first's resend"
            with pytest.raises(RedisConnectionError, match="not sent") as failed:
                await second
            assert not may_have_run(failed.value)
    run(main())


def test_bad_arguments_raise_before_anything_is_sent():
    async def main():
        async with FakeRedis() as fake, RedisClient(fake.url) as redis:
            with pytest.raises(TypeError):
                await redis.execute("SET", "k", None)
            with pytest.raises(ValueError):
                await redis.execute()
            assert fake.connections == 0
    run(main())


def test_a_pipeline_to_a_silent_server_times_out_once_for_the_lot():
    async def main():
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=0.3) as redis:
            started = time.monotonic()
            with pytest.raises(TimeoutError, match="may or may not have run"):
                await redis.pipeline([("GET", i) for i in range(100)])
            assert time.monotonic() - started < 2
            assert fake.received.count(b"GET") == 100
    run(main())


def test_pipelines_share_one_timer_for_their_deadlines_and_each_still_expires_on_time():
    """A timer per pipeline (the loop's heap, its comparisons, the cancel) was about fifteen
    Python calls of each of the store's batches and the node's routes and inbox reads
    (bench/PROFILE.md, round twenty-three): one timer watches them all now. Each pipeline
    still fails at its own deadline, a shorter one sent after a longer one too."""
    def pong(data: bytes) -> bytes:
        return b"+PONG\r\n" * data.count(b"PING")

    async def main():
        async with FakeRedis(pong) as fake, RedisClient(fake.url, timeout=5) as redis:
            await redis.execute("PING")  # connected
            loop = asyncio.get_running_loop()
            timers = []
            real_call_at = loop.call_at
            loop.call_at = lambda *args, **kwargs: (timers.append(args[1]), real_call_at(*args, **kwargs))[1]
            try:
                for _ in range(50):
                    assert await redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"]) == ["PONG"]
                assert await redis.pipeline([("PING",)] * 3) == ["PONG"] * 3
            finally:
                del loop.call_at
            assert len(timers) <= 1, timers
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=10) as redis:
            slow = redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"])
            started = time.monotonic()
            quick = redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"], timeout=0.3)
            with pytest.raises(TimeoutError, match="no reply .* within 0.3 s"):
                await quick
            assert time.monotonic() - started < 2
            # Its deadline closed the connection: the one before it cannot be answered either.
            with pytest.raises(RedisConnectionError, match="after a command timed out"):
                await slow
    run(main())


def test_an_outage_is_logged_once_however_many_commands_fail_in_it(caplog):
    async def main():
        port = free_port()
        async with RedisClient(f"redis://127.0.0.1:{port}/0", timeout=0.15, backoff_max=0.05) as redis:
            for _ in range(5):
                with pytest.raises(RedisConnectionError, match="cannot connect"):
                    await redis.execute("PING")
                # Each command on its own: the connector gives up between them.
                deadline = time.monotonic() + 5
                while redis._connector is not None:
                    assert time.monotonic() < deadline, "the connector kept trying for nobody"
                    await asyncio.sleep(0.01)
    with caplog.at_level(logging.WARNING, logger="resp"):
        run(main())
    assert [r.getMessage()[:14] for r in caplog.records] == ["cannot connect"]


def test_time_spent_waiting_for_room_counts_against_the_command_timeout():
    async def main():
        async with FakeRedis() as fake, RedisClient(fake.url, max_in_flight=1) as redis:
            first = asyncio.create_task(redis.execute("GET", "a", timeout=0.5))
            await asyncio.sleep(0)
            started = time.monotonic()
            # Room at 0.5 s, when the first times out; then 0.5 s left, not a fresh 1.0.
            with pytest.raises(TimeoutError, match="may or may not have run"):
                await redis.execute("GET", "b", timeout=1.0)
            assert 0.9 < time.monotonic() - started < 1.35
            with pytest.raises(TimeoutError):
                await first
    run(main())


def test_a_missing_redis_server_skips_the_redis_tests_but_fails_them_under_ci(monkeypatch):
    import redisserver
    monkeypatch.setattr(redisserver, "REDIS_SERVER", None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        redisserver.require_redis_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set but there is no redis-server"):
        redisserver.require_redis_server()


def test_pipeline_now_is_written_before_it_returns_behind_the_turns_earlier_commands():
    """A caller that gathered a turn's work itself (the store's batch, the node's routes)
    must not wait a turn for its task and one for the flush: the bytes leave before
    pipeline_now returns, after those of a command issued earlier in the same turn (order
    kept), and the replies come as pipeline_encoded's."""
    def pong(data: bytes) -> bytes:
        return b"+PONG\r\n" * data.count(b"PING") + b"$1\r\nx\r\n" * data.count(b"ECHO")

    async def main():
        async with FakeRedis(pong) as fake, RedisClient(fake.url, timeout=5) as redis:
            await redis.execute("PING")  # connected
            link = redis._link
            written = []
            real_write = link.transport.write
            link.transport.write = lambda data: (written.append(bytes(data)), real_write(data))[1]
            earlier = asyncio.ensure_future(redis.execute("PING"))
            await asyncio.sleep(0)  # its task runs: queued for the end of the turn, not written
            assert written == []
            replies = redis.pipeline_now([b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n"])
            assert len(written) == 1 and written[0].index(b"PING") < written[0].index(b"ECHO"), written
            assert await replies == [b"x"]
            assert await earlier == "PONG"
            assert redis._in_flight == 0
    run(main())


def test_pipeline_now_leaves_nothing_to_flush_at_the_end_of_the_turn():
    """pipeline_now writes its commands itself: a flush scheduled for the end of the turn
    as well found nothing to write, and cost each pipeline of the store and of the node's
    routes and inbox reads a callback (about a dozen Python calls, and a loop turn more
    when it was the turn's last: 2.3 of them a cross-node message per node; bench/PROFILE.md,
    round twenty-three). A command issued after it in the same turn is still flushed."""
    def pong(data: bytes) -> bytes:
        return b"+PONG\r\n" * data.count(b"PING") + b"$1\r\nx\r\n" * data.count(b"ECHO")

    async def main():
        async with FakeRedis(pong) as fake, RedisClient(fake.url, timeout=5) as redis:
            await redis.execute("PING")  # connected
            await asyncio.sleep(0)  # (the connection's own turn ends)
            flushes = []
            real_flush = redis._flush
            redis._flush = lambda: (flushes.append(1), real_flush())
            replies = redis.pipeline_now([b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n"])
            assert await replies == [b"x"]
            assert flushes == [] and not redis._flush_scheduled
            both = redis.pipeline_now([b"*2\r\n$4\r\nECHO\r\n$1\r\nx\r\n"])
            later = asyncio.ensure_future(redis.execute("PING"))  # issued after it, in the same turn
            assert await both == [b"x"] and await later == "PONG"
            assert flushes == [1]
            assert redis._in_flight == 0
    run(main())


def test_a_pipeline_now_schedules_no_callback_of_the_client_s_own():
    """Each pipeline_now scheduled two callbacks of its own beyond the wake-up of whoever
    awaits it: a flush at the end of the turn that found nothing to write, and per reply
    a done callback that only read the future's exception (so that one never awaited
    would not be logged as unread). About a dozen Python calls each; the store's batches,
    the node's routes and its inbox reads each paid them, 2.3 pipelines a cross-node
    message per node (bench/PROFILE.md, round twenty-three). Now none."""
    def pong(data: bytes) -> bytes:
        return b"+PONG\r\n" * data.count(b"PING")

    async def main():
        async with FakeRedis(pong) as fake, RedisClient(fake.url, timeout=5) as redis:
            await redis.execute("PING")  # connected
            await asyncio.sleep(0)
            loop = asyncio.get_running_loop()
            scheduled = []
            real_call_soon = loop.call_soon
            loop.call_soon = lambda callback, *args, **kwargs: (scheduled.append(callback),
                                                                real_call_soon(callback, *args, **kwargs))[1]
            try:
                for _ in range(20):
                    assert await redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"] * 2) == ["PONG", "PONG"]
            finally:
                del loop.call_soon
            ours = [callback for callback in scheduled
                    if getattr(getattr(callback, "__func__", callback), "__module__", None) == "resp.aio"]
            assert ours == [], ours[:4]
    run(main())


def test_a_failed_pipeline_now_that_nobody_awaits_is_not_logged_as_unread(caplog):
    """Its caller cancelled before it awaited (a client closing): the failure is still
    read, so asyncio does not log "exception was never retrieved" when it is collected."""
    import gc

    async def main():
        async with FakeRedis(hang_up=True) as fake, RedisClient(fake.url, timeout=5) as redis:
            replies = redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"] * 3)
            deadline = time.monotonic() + 5
            while not replies.failed():  # the server hangs up after reading it
                assert time.monotonic() < deadline, "the connection was not lost"
                await asyncio.sleep(0.01)
            del replies
            gc.collect()
            await asyncio.sleep(0)

    caplog.set_level(logging.ERROR, logger="asyncio")
    run(main())
    gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()], caplog.text


def test_the_client_reads_into_one_buffer_of_its_thread_not_a_fresh_one_per_read():
    """asyncio's plain Protocol path allocates 256 KiB for each recv, mapped and unmapped
    by the kernel for every small read (mmap, mremap, munmap: about six system calls a
    cross-node message per node; bench/PROFILE.md, round twenty-three), as the chat
    sessions' reads did before they read into one buffer per thread (server/session.py).
    The client's connections read into one buffer of their thread too, and a reply longer
    than it still arrives whole."""
    big = b"x" * (600 * 1024)

    def reply(data: bytes) -> bytes:
        return b"+PONG\r\n" * data.count(b"PING") + (b"$%d\r\n%b\r\n" % (len(big), big)) * data.count(b"GET")

    async def main():
        async with FakeRedis(reply) as fake, RedisClient(fake.url, timeout=5) as one, \
                RedisClient(fake.url, timeout=5) as two:
            assert await one.execute("PING") == "PONG" and await two.execute("PING") == "PONG"
            links = (one._link, two._link)
            assert all(isinstance(link, asyncio.BufferedProtocol) for link in links)
            buffers = [link.get_buffer(-1) for link in links] + [one._link.get_buffer(1 << 20)]
            assert all(buffer.obj is buffers[0].obj for buffer in buffers)
            assert await one.execute("GET", "k") == big
    run(main())


def test_pipeline_now_says_its_pipeline_failed_as_it_happens_before_anyone_awaits_it():
    """The Redis store holds back what it would write behind a failed pipeline until it has
    answered that failure (server/stores/redis.py, _refusal_behind); it learns of the
    failure from ``failed()``, which is true from the moment the connection is lost, before
    the task awaiting the replies wakes."""
    async def main():
        async with FakeRedis(hang_up=True) as fake, RedisClient(fake.url, timeout=5) as redis:
            replies = redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"])
            assert not replies.failed()
            deadline = time.monotonic() + 5
            while redis.connected or not fake.received:  # the server hangs up after reading it
                assert time.monotonic() < deadline, "the connection was not lost"
                await asyncio.sleep(0)
            assert replies.failed()
            with pytest.raises(RedisConnectionError):
                await replies
        async with FakeRedis(lambda data: b"+PONG\r\n") as fake, RedisClient(fake.url, timeout=5) as redis:
            replies = redis.pipeline_now([b"*1\r\n$4\r\nPING\r\n"])
            assert await replies == ["PONG"] and not replies.failed()
    run(main())


def test_may_have_run_tells_a_command_written_and_unanswered_from_one_never_written():
    """What the Redis store's "nothing was done" rests on (PROTOCOL.md, "When the server
    cannot store"): only a command that never reached the socket is known not to have run."""
    async def main():
        # Written, no reply within the timeout: Redis (paused, slow) may run it later.
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=0.2) as redis:
            with pytest.raises(TimeoutError) as timed_out:
                await redis.execute("SET", "k", "v")
            assert b"SET" in fake.received and may_have_run(timed_out.value)
            # Its neighbour on the connection, failed when the connection was closed: the same.
            first = asyncio.create_task(redis.execute("GET", "a"))
            second = asyncio.create_task(redis.execute("GET", "b", timeout=10))
            for task in (first, second):
                with pytest.raises((TimeoutError, RedisConnectionError)) as failed:
                    await task
                assert may_have_run(failed.value)
            # A pipeline written whole and unanswered.
            with pytest.raises(TimeoutError) as timed_out:
                await redis.pipeline([("INCR", "n")] * 3)
            assert may_have_run(timed_out.value)
        # Never written: no server to connect to.
        async with RedisClient(f"redis://127.0.0.1:{free_port()}/0", timeout=0.3) as redis:
            with pytest.raises(RedisConnectionError) as refused:
                await redis.execute("SET", "k", "v")
            assert not may_have_run(refused.value)
            with pytest.raises(RedisConnectionError) as refused:
                await redis.pipeline([("INCR", "n")] * 3)
            assert not may_have_run(refused.value)
        # Never written: a server that takes the connection and never answers AUTH, so
        # the commands wait for the connection until their deadline.
        async with FakeRedis() as fake, \
                RedisClient(fake.url.replace("redis://", "redis://:pw@"), timeout=0.3,
                            connect_timeout=5) as redis:
            with pytest.raises(TimeoutError, match="not sent") as waited:
                await redis.execute("SET", "k", "v")
            assert not may_have_run(waited.value) and b"SET" not in fake.received
        # Never written: no room under max_in_flight, or the client closed.
        async with FakeRedis() as fake, RedisClient(fake.url, timeout=0.3, max_in_flight=1) as redis:
            first = asyncio.create_task(redis.execute("GET", "a", timeout=10))
            await asyncio.sleep(0)
            with pytest.raises(TimeoutError) as no_room:
                await redis.execute("GET", "b")
            assert not may_have_run(no_room.value)
            first.cancel()
        redis = RedisClient(f"redis://127.0.0.1:{free_port()}/0")
        await redis.close()
        with pytest.raises(RedisConnectionError) as closed:
            await redis.execute("PING")
        assert not may_have_run(closed.value)
    run(main())
