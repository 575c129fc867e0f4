"""A session ends its asyncio transport once, whatever way the connection ends first.

CPython's selector socket transport (3.11 to 3.13) has two ways to end a connection: one
counts it lost (close() of an empty buffer, abort()), the other does not (its write
handler, when a closing transport's buffer has drained). An abort() after the second, or a
close() or abort() made from the protocol's resume_writing (which that handler calls just
before its own ending), has the transport lose the connection a second time: asyncio logs
an AttributeError, and in the first case the caller gets it. These tests use a real
transport over a loopback socket pair; the traceback guard (tests/support/tracebacks.py)
would fail them too, but they say what they expect themselves.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from types import SimpleNamespace

import pytest

import server.session
from server.config import ServerConfig
from server.logsummary import LogSummary
from server.session import ClientSession

LIMIT = 5.0  # seconds any step here may take at most


class Batcher:
    def add(self, session: ClientSession) -> None:
        session.flush()


def relay(drained=lambda session: None) -> SimpleNamespace:
    """The little of the relay a session's connection uses here; ``lost`` counts the ends."""
    ends: list[ClientSession] = []
    return SimpleNamespace(config=ServerConfig(), log_lines=LogSummary(logging.getLogger("chat.server")),
                           connected=lambda session: None, drained=drained, ends=ends,
                           disconnected=lambda session, exc: ends.append(session),
                           admission=SimpleNamespace(release=lambda address, session: None))


async def read_to_end(sock: socket.socket) -> int:
    """The bytes ``sock`` reads until the other side closes (bounded by the caller)."""
    loop, total = asyncio.get_running_loop(), 0
    while data := await loop.sock_recv(sock, 1 << 20):
        total += len(data)
    return total


def run(scenario) -> list[dict]:
    """Run ``scenario(loop, ours, theirs)`` on a fresh loop, over a connected socket pair;
    return what the loop's exception handler was given meanwhile."""
    reported: list[dict] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: reported.append(context))
        ours, theirs = socket.socketpair()
        with ours, theirs:
            theirs.setblocking(False)
            await asyncio.wait_for(scenario(loop, ours, theirs), LIMIT)
    asyncio.run(main())
    return reported


def test_a_late_cut_after_the_peer_took_everything_does_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # close() with data still queued: the transport ends the connection itself once the
    # peer has read it all, and the cut CLOSE_GRACE seconds on must leave it alone.
    monkeypatch.setattr(server.session, "CLOSE_GRACE", 0.2)
    chat = relay()

    async def scenario(loop, ours, theirs) -> None:
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        transport, session = await loop.create_connection(lambda: ClientSession(chat, Batcher()), sock=ours)
        transport.write(b"x" * 1_000_000)
        assert transport.get_write_buffer_size() > 0  # more than the kernel takes at once
        session.close()
        cut_due = loop.create_future()  # scheduled after the cut, with the same delay: runs after it
        loop.call_later(server.session.CLOSE_GRACE, cut_due.set_result, None)
        assert await read_to_end(theirs) == 1_000_000
        await cut_due
        await asyncio.sleep(0)  # what the cut scheduled, if anything

    reported = run(scenario)
    assert [context.get("message") for context in reported] == []
    assert len(chat.ends) == 1


def test_closing_while_asyncio_resumes_writing_ends_the_connection_once() -> None:
    # What a drained session does may end it: the last answer to pipelined HTTP requests
    # ("Connection: close"), a bye's. When the peer took all that was queued at once, the
    # answer is sent whole and the session closes a transport with an empty buffer, inside
    # asyncio's write handler.
    def drained(session: ClientSession) -> None:
        session.transport.write(b"goodbye")
        session.close()

    chat = relay(drained)

    async def scenario(loop, ours, theirs) -> None:
        transport, session = await loop.create_connection(lambda: ClientSession(chat, Batcher()), sock=ours)
        transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        payload = b"x" * 2_000_000
        transport.write(payload)
        assert session.write_paused  # more than the high mark waits in the transport
        assert await read_to_end(theirs) == len(payload) + len(b"goodbye")
        while not chat.ends:
            await asyncio.sleep(0.01)
        for _ in range(3):
            await asyncio.sleep(0)  # the second end asyncio may have scheduled

    reported = run(scenario)
    assert [context.get("message") for context in reported] == []
    assert len(chat.ends) == 1
