"""The slow-consumer line (server/session.py) under a flood: logged once per address and
interval, then counted (server/logsummary.py), as the other lines a client can cause at
will. A client can make itself a slow consumer as often as it can connect (ask, never
read, reconnect), and a whole class behind one address may stall at once on a bad link:
one warning each was a line per connection. Sessions driven by hand, with a fake clock."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from const import PROTOCOL_VERSION
from protocol import Delivered, Welcome
from server.config import ServerConfig
from server.logsummary import LogSummary
from server.session import SLOW_CONSUMER, ClientSession

LIMIT = 1000


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class FullTransport:
    """An open transport whose peer reads nothing: it holds all that was written."""

    def __init__(self) -> None:
        self.buffered, self.closed = 0, False

    def is_closing(self) -> bool:
        return self.closed

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def write(self, data: bytes) -> None:
        self.buffered += len(data)

    def close(self) -> None:
        self.closed = True

    abort = close


class Batcher:
    def add(self, session: ClientSession) -> None:
        pass


@pytest.fixture
def server(caplog):
    caplog.set_level(logging.DEBUG, logger="chat.server")
    clock = Clock()
    log_lines = LogSummary(logging.getLogger("chat.server"), 60.0, clock)
    relay = SimpleNamespace(config=ServerConfig(max_outgoing_bytes=LIMIT), log_lines=log_lines)
    return relay, clock, caplog


def _session(relay: SimpleNamespace, address: str, port: int) -> ClientSession:
    session = ClientSession(relay, Batcher())  # type: ignore[arg-type]
    session.conn.send(Welcome("h", f"user{port}", PROTOCOL_VERSION, "test", 30.0))
    session.transport = FullTransport()  # type: ignore[assignment]
    session.address, session.port, session.name = address, port, f"user{port}"
    return session


def _flooded(session: ClientSession) -> None:
    """Queue past the hard mark, as a client that never reads: dropped at the mark."""
    msg_id = 0
    while not session.closing:
        msg_id += 1
        session.send(Delivered(str(msg_id), msg_id))
        session.flush()
    assert session.leave_reason == SLOW_CONSUMER


def _lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "chat.server"]


def test_a_flood_of_slow_consumers_from_one_address_is_one_line_then_a_count(server):
    relay, clock, caplog = server
    for port in range(1000, 1200):
        clock.now += 0.1
        _flooded(_session(relay, "10.0.0.7", port))
    lines = _lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("disconnect user1000@10.0.0.7:1000: slow consumer (")
    clock.now += 60
    relay.log_lines.sweep()
    assert _lines(caplog)[1:] == ["199 more slow consumers from 10.0.0.7 in the last 80 s"]
    assert caplog.records[-1].levelno == logging.WARNING


def test_each_address_gets_its_own_line_and_stalled_sessions_count_with_the_dropped(server):
    relay, clock, caplog = server
    _flooded(_session(relay, "10.0.0.7", 1000))
    _flooded(_session(relay, "10.0.0.8", 1000))
    for port in (1001, 1002):  # held reading for a heartbeat, its queue never read
        _session(relay, "10.0.0.8", port).stalled(45.0)
    lines = _lines(caplog)
    assert [line.split(":")[0] for line in lines] == ["disconnect user1000@10.0.0.7", "disconnect user1000@10.0.0.8"]
    relay.log_lines.flush()
    assert _lines(caplog)[2:] == ["2 more slow consumers from 10.0.0.8 in the last 0 s"]
