"""close() from an application that stopped taking events (client.events full): the session
ends at once, and the events that no longer fit are dropped with one line in the log.

The real server in a thread; Alice's messages to Bruno, who is offline, stay ``queued``
(unfinished), so that her end fails each with a MessageUpdate. With the queue full, each
one used to wait its 0.1 s for room and then be dropped with a warning of its own: a
minute and a half and a thousand lines for the thousand messages a client may hold,
before ``closed`` was set.
"""

from __future__ import annotations

import logging
import queue
import time

import pytest

from client import ChatClient
from client.resume import ResumeTokens
from server import ServerConfig, ServerThread

WAIT = 10.0
MESSAGES = 30


@pytest.mark.timeout_seconds(60)
def test_close_with_the_event_queue_full_ends_at_once_and_says_the_drops_once(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="client.library")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        with ChatClient("Bruno", "127.0.0.1", srv.port, resume_tokens=ResumeTokens(None)) as bruno:
            bruno.connect(timeout=WAIT)  # known to the server, then gone: messages to him wait
        alice = ChatClient("Alice", "127.0.0.1", srv.port, resume_tokens=ResumeTokens(None))
        try:
            alice.connect(timeout=WAIT)
            sent = [alice.send_direct("Bruno", f"recado {n}") for n in range(MESSAGES)]
            assert all(m.wait("queued", WAIT) for m in sent), sent
            alice.events = queue.Queue(1)  # white box: a queue (EVENT_QUEUE_SIZE) nobody drains any more
            alice.events.put_nowait(None)
            started = time.monotonic()
            alice.close()
            assert alice.closed.wait(WAIT)
            spent = time.monotonic() - started
            assert spent < 1.5, f"closed after {spent:.1f} s"
            assert all(m.state == "failed" for m in sent)
            drops = [r for r in caplog.records if "dropped" in r.getMessage()]
            assert len(drops) == 1 and f"{MESSAGES + 1} events" in drops[0].getMessage(), \
                [r.getMessage() for r in drops][:3]
        finally:
            alice.close()


@pytest.mark.timeout_seconds(60)
def test_the_asyncio_clients_close_with_its_queue_full_ends_at_once_and_says_the_drops_once(caplog) -> None:
    import asyncio

    from client.aio import AioChatClient

    caplog.set_level(logging.WARNING, logger="client.aio")

    async def test(port: int) -> None:
        async with AioChatClient("Bruno", "127.0.0.1", port, resume_tokens=ResumeTokens(None)):
            pass  # known to the server, then gone: messages to him wait
        alice = AioChatClient("Alice", "127.0.0.1", port, resume_tokens=ResumeTokens(None))
        await alice.connect(WAIT)
        try:
            sent = [alice.send_direct("Bruno", f"recado {n}")[0] for n in range(MESSAGES)]
            for _ in range(200):  # the loop reads the answers (bounded: 10 s)
                if all(m.state == "queued" for m in sent):
                    break
                await asyncio.sleep(0.05)
            assert all(m.state == "queued" for m in sent), sent
            alice._events = asyncio.Queue(1)  # white box: a queue nobody drains any more
            alice._events.put_nowait(None)  # type: ignore[arg-type]
            started = time.monotonic()
            await alice.close()
            await asyncio.wait_for(alice.closed.wait(), WAIT)
            spent = time.monotonic() - started
            assert spent < 1.5, f"closed after {spent:.1f} s"
            assert all(m.state == "failed" for m in sent)
        finally:
            await alice.close()

    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        asyncio.run(asyncio.wait_for(test(srv.port), 40))
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1 and f"{MESSAGES + 1} events" in drops[0].getMessage(), [r.getMessage() for r in drops][:3]
