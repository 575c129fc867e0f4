"""A class's scripts started together behind one address (a school's NAT), on a real server
whose password-check budget is low: some of the logins are refused ``rate_limited`` with a
short ``retry_after``. The terminal and the window sat through it; the library's first
``connect()`` (threaded and asyncio) raised it, so a bot started with its classmates died
at once. Now every first connect waits it out (bounded), as reconnections already did."""

from __future__ import annotations

import asyncio
import threading
import time

import const
from client.aio import AioChatClient
from client.library import ChatClient
from protocol import ErrorCode, ErrorReply, Hello, Welcome
from servers import in_thread
from wire import WireClient

PASSWORD = "senha da turma toda"
CLASS = [f"Aluno{i}" for i in range(8)]
WAIT = 20.0
# Two password checks a second, two at once: eight logins together meet the budget.
BUDGET = {"login_checks_per_second": 2.0, "login_checks_burst": 2.0}


def register_class(server) -> None:
    """Claim every name of CLASS, waiting out the budget by hand (the hellos of a test)."""
    deadline = time.monotonic() + WAIT
    for name in CLASS:
        while True:
            with WireClient(server.host, server.port) as wire:
                wire.send(Hello("h", name, const.PROTOCOL_VERSION, PASSWORD, True))
                answer = wire.next(WAIT)
            if isinstance(answer, Welcome):
                break
            assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.RATE_LIMITED, answer
            assert time.monotonic() + answer.retry_after < deadline, "registering the class took too long"
            threading.Event().wait(answer.retry_after)


def test_scripts_started_together_all_log_in() -> None:
    with in_thread(**BUDGET) as server:
        register_class(server)
        clients = [ChatClient(name, server.host, server.port, password=PASSWORD) for name in CLASS]
        failures: list[BaseException] = []

        def log_in(client: ChatClient) -> None:
            try:
                client.connect(timeout=WAIT)
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

        threads = [threading.Thread(target=log_in, args=(client,)) for client in clients]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(2 * WAIT)
            assert failures == [] and all(client.connected for client in clients), failures
        finally:
            for client in clients:
                client.close()


def test_asyncio_bots_started_together_all_log_in() -> None:
    async def class_at_once(port: int) -> list[object]:
        clients = [AioChatClient(name, "127.0.0.1", port, password=PASSWORD) for name in CLASS]
        try:
            return list(await asyncio.wait_for(asyncio.gather(
                *(client.connect(timeout=WAIT) for client in clients), return_exceptions=True), 2 * WAIT))
        finally:
            for client in clients:
                await client.close()

    with in_thread(**BUDGET) as server:
        register_class(server)
        answers = asyncio.run(class_at_once(server.port))
        assert [answer for answer in answers if not isinstance(answer, Welcome)] == []
