"""An outcome another device of the user acknowledged, against the real server (loopback,
port 0): Ana's phone sent, lost its connection, and her laptop took the ``delivered`` of
those messages and acknowledged them, so no login tells the phone again (PROTOCOL.md,
``ack``). The phone learns them from the history it asks after its reconnection, also
when the server refuses some of those requests for now (a chaos run's second device
stayed ``sent`` for good, seed 365). And a catch-up refused for now is asked again.
"""

from __future__ import annotations

import threading

from client import ChatClient, RequestFailed
from client.outgoing import DELIVERED, QUEUED
from client.resume import ResumeTokens
from clientkit import start
from faultproxy import FaultProxy
from protocol import Delivered
from server import ServerConfig, ServerThread

WAIT = 10.0
PASSWORD = "correct horse battery"
PEOPLE = ("Bia", "Caio", "Davi", "Eva", "Fábio")


def test_a_phone_back_from_away_learns_the_outcomes_its_laptop_took_though_some_histories_were_refused() -> None:
    # Three requests at once, then one a second: the phone's reconnection asks one history
    # per person with a message still open, five of them, and two are refused for now.
    config = ServerConfig(host="127.0.0.1", port=0, rate_per_connection=1.0, burst_per_connection=3.0)
    clients: list[ChatClient] = []
    with ServerThread(config) as server, FaultProxy(server.host, server.port) as proxy:
        try:
            taken: list[int] = []
            all_taken = threading.Event()

            def laptop_event(event: object) -> None:
                if isinstance(event, Delivered):  # the outcome of a message the phone sent
                    taken.append(event.msg_id)
                    if len(taken) == len(PEOPLE):
                        all_taken.set()

            start(clients, server.port, "Ana", password=PASSWORD, register=True, on_event=laptop_event)
            people = {name: start(clients, server.port, name, resume_tokens=ResumeTokens(None)) for name in PEOPLE}
            for person in people.values():
                person.close()  # away: what is sent to them waits
            phone = start(clients, proxy.port, "Ana", password=PASSWORD, resume_tokens=ResumeTokens(None),
                          reconnect_max_delay=0.5)
            sent = [phone.send_direct(name, f"oi, {name}") for name in PEOPLE]
            assert all(message.wait(QUEUED, WAIT) for message in sent), sent
            proxy.refuse_new = True
            proxy.cut("Ana")
            for person in people.values():  # back: they confirm, the laptop is told
                person.connect(timeout=WAIT)
            assert all_taken.wait(WAIT), taken
            assert sorted(taken) == sorted(message.msg_id for message in sent)
            assert all(message.state == QUEUED for message in sent), sent
            proxy.refuse_new = False
            assert all(message.wait(DELIVERED, 3 * WAIT) for message in sent), sent
        finally:
            for client in clients:
                client.close()


def test_a_catch_up_refused_for_now_is_asked_again_after_the_wait() -> None:
    """A reconnection comes when the servers have trouble: the catch-up's ``since`` may be
    refused for now (``unavailable``, ``rate_limited``). Given up on, the device would show
    none of what another one took meanwhile until its next reconnection; with patience the
    page is asked again after the server's wait."""
    config = ServerConfig(host="127.0.0.1", port=0, rate_per_connection=1.0, burst_per_connection=2.0)
    clients: list[ChatClient] = []
    with ServerThread(config) as server:
        try:
            ana = start(clients, server.port, "Ana", password=PASSWORD, register=True)
            bia = start(clients, server.port, "Bia", resume_tokens=ResumeTokens(None))
            assert bia.send_direct("Ana", "a prova é na quinta").wait(DELIVERED, WAIT)
            refused = None
            for _ in range(10):  # spend Ana's requests: her budget refuses the next for now
                try:
                    ana.since(0)
                except RequestFailed as exc:
                    refused = exc
                    break
            assert refused is not None and refused.code == "rate_limited", refused
            assert [entry.text for entry in ana.since(0, patience=WAIT)] == ["a prova é na quinta"]
        finally:
            for client in clients:
                client.close()
