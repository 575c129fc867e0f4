"""An application whose ``on_event`` raises for every event (the real server, 127.0.0.1
port 0; the threaded client and the asyncio one): the client goes on, and its log says the
error once, with its traceback, then how many more there were (client/onevent.py), not a
traceback per event.
"""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from client import ChatClient
from client.aio import AioChatClient
from client.resume import ResumeTokens
from clientkit import start
from protocol import DirectMessage, Event
from waits import wait_until

WAIT = 10.0
MESSAGES = 30


class Broken:
    """An on_event with a bug: it raises for every event (the calls are kept)."""

    def __init__(self) -> None:
        self.calls: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.calls.append(event)
        raise ValueError("the application's bug")

    def messages(self) -> int:
        return sum(isinstance(event, DirectMessage) for event in self.calls)


def send_to_ana(clients: list[ChatClient], port: int) -> None:
    bruno = start(clients, port, "Bruno", resume_tokens=ResumeTokens(None))
    for n in range(MESSAGES):
        bruno.send_direct("Ana", f"oi {n}")


def said_once_then_counted(caplog: pytest.LogCaptureFixture, raised: int) -> None:
    """The log has one traceback of on_event's error, then (at the session's end) the count
    of the ``raised - 1`` others, and no other line about on_event."""
    records = [record for record in caplog.records if record.name.startswith("client")]
    tracebacks = [record for record in records if record.exc_info]
    assert len(tracebacks) == 1, [record.getMessage() for record in tracebacks]
    assert "on_event raised" in tracebacks[0].getMessage()
    assert "the application's bug" in caplog.text  # its traceback
    lines = [record.getMessage() for record in records if "on_event" in record.getMessage()]
    assert len(lines) == 2, lines
    assert re.fullmatch(rf"{raised - 1} more ValueErrors raised by on_event from the client of 'Ana' in the last "
                        r"\d+ s", lines[1]), lines


@pytest.mark.timeout_seconds(60)
@pytest.mark.logs_tracebacks("on_event raises on purpose: its one traceback is asserted")
def test_an_on_event_that_always_raises_logs_one_traceback_then_a_count(server, clients: list[ChatClient],
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="client")
    broken = Broken()
    ana = start(clients, server.port, "Ana", on_event=broken, resume_tokens=ResumeTokens(None))
    send_to_ana(clients, server.port)
    wait_until(lambda: broken.messages() == MESSAGES, WAIT, "Ana's messages handed to on_event")
    assert ana.connected  # the client went on
    ana.close()
    assert ana.closed.wait(WAIT)
    said_once_then_counted(caplog, len(broken.calls))  # ConnectionClosed's call raised too


@pytest.mark.timeout_seconds(60)
@pytest.mark.logs_tracebacks("on_event raises on purpose: its one traceback is asserted")
def test_the_asyncio_clients_on_event_that_always_raises_logs_one_traceback_then_a_count(
        server, clients: list[ChatClient], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="client")
    broken = Broken()

    async def test() -> None:
        ana = AioChatClient("Ana", "127.0.0.1", server.port, on_event=broken, resume_tokens=ResumeTokens(None))
        await ana.connect(WAIT)
        try:
            await asyncio.to_thread(send_to_ana, clients, server.port)
            while broken.messages() < MESSAGES:
                await asyncio.sleep(0.02)
        finally:
            await ana.close()
    asyncio.run(asyncio.wait_for(test(), 30))
    said_once_then_counted(caplog, len(broken.calls))
