"""A school behind one address (NAT): every student's connection comes from the same IP.

With the server's default limits (nothing lifted), 200 honest clients from 127.0.0.1,
guests and accounts, log in at once, write to each other, and come back after a restart
of a durable server, all at once: nobody is refused for good (``too_many_connections``,
a login given up), every message reaches its recipient once, and every sender sees it
``delivered``. The per-address budgets (const.py: connections, requests, late receipts)
must fit such a school; the password-check budget may pace the accounts' logins, as it
is meant to, but not refuse them.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from pathlib import Path

import pytest

import const
from client import ChatClient, OutgoingMessage
from client.errors import LoginRefused, RequestFailed
from client.resume import ResumeTokens
from protocol import DirectMessage, ErrorCode
from recorder import Recorder
from server import ServerThread
from redisserver import RedisServer
from servers import ServerProcess, server_config
from waits import wait_until

STUDENTS = 200          # behind one address: more than one class, fewer than a school
ACCOUNTS = 30           # of them with a password (within REGISTRATIONS_PER_ADDRESS at once)
PASSWORD = "senha-da-turma"
WAIT = 60.0             # bound for every phase (the accounts' logins are paced: 10 a second)


def names() -> list[str]:
    return [f"Conceição_{i:03d}" for i in range(ACCOUNTS)] + [f"Aluno_{i:03d}" for i in range(ACCOUNTS, STUDENTS)]


def log_everyone_in(clients: dict[str, ChatClient], refusals: collections.Counter) -> None:
    """Every client's connect at once, a thread each, as a class does at the bell: a
    refusal that waiting cures is tried again after its retry_after (what the terminal
    client's reconnect loop does), counted in ``refusals``; any other fails the test."""
    lock = threading.Lock()
    deadline = time.monotonic() + WAIT

    def one(client: ChatClient) -> None:
        while time.monotonic() < deadline:
            try:
                client.connect(timeout=WAIT)
                return
            except LoginRefused as exc:
                with lock:
                    refusals[exc.code] += 1
                time.sleep(exc.retry_after or 0.5)

    threads = [threading.Thread(target=one, args=(client,)) for client in clients.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT + 5)


def round_trip(client: ChatClient) -> None:
    """A ``who`` of ``client``'s, waiting out the address's request rate: the test asks
    two hundred in a row from one address (the students' own traffic spends it too), and
    a refusal with its wait is the server's honest answer to that, not a lost message."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            client.who(WAIT)
            return
        except RequestFailed as refused:
            if refused.code != "rate_limited" or time.monotonic() > deadline:
                raise
            time.sleep(refused.retry_after or 0.1)  # the wait the server named


def each_delivered_once(clients: dict[str, ChatClient], recorders: dict[str, Recorder],
                        sent: list[tuple[str, str, OutgoingMessage]]) -> None:
    """Every tracker in ``sent`` (sender, recipient, tracker) ends ``delivered`` within WAIT,
    and every recipient's application was handed each message once, none twice."""
    try:
        wait_until(lambda: all(tracker.state == "delivered" for _, _, tracker in sent), WAIT)
    except AssertionError:
        raise AssertionError(f"not all delivered within {WAIT} s: "
                             f"{collections.Counter(tracker.state for _, _, tracker in sent)}") from None
    for client in clients.values():  # one round trip each: a duplicate in flight has arrived
        round_trip(client)
    shown = collections.Counter((e.sender, e.to, e.text) for recorder in recorders.values()
                                for e in recorder.of(DirectMessage))
    expected = collections.Counter((name, to, tracker.text) for name, to, tracker in sent)
    assert shown == expected, (f"missing: {list((expected - shown).elements())[:5]}; "
                               f"twice: {list((shown - expected).elements())[:5]}")


@pytest.mark.timeout_seconds(180)
def test_a_school_behind_one_address_logs_in_talks_and_survives_a_restart(tmp_path: Path) -> None:
    students = names()
    recorders = {name: Recorder() for name in students}
    clients: dict[str, ChatClient] = {}
    refusals: collections.Counter = collections.Counter()
    config = server_config(tmp_path / "data")
    assert config.max_connections_per_address == const.MAX_CONNECTIONS_PER_ADDRESS  # the defaults
    server = ServerThread(config)
    server.__enter__()
    try:
        port = server.port
        for name in students[:ACCOUNTS]:  # the accounts exist (registered earlier)
            with ChatClient(name, "127.0.0.1", port, password=PASSWORD, register=True,
                            resume_tokens=ResumeTokens(None), reconnect=False) as first:
                first.connect(timeout=WAIT)
        for name in students:
            clients[name] = ChatClient(name, "127.0.0.1", port, on_event=recorders[name],
                                       password=PASSWORD if name in students[:ACCOUNTS] else None,
                                       resume_tokens=ResumeTokens(None), reconnect_on_goodbye=True)

        log_everyone_in(clients, refusals)
        logged_in = [name for name, client in clients.items() if client.connected]
        assert len(logged_in) == STUDENTS, (f"{STUDENTS - len(logged_in)} of {STUDENTS} students could not log in; "
                                            f"refusals: {dict(refusals)}")

        sent = [(name, to, clients[name].send_direct(to, f"olá {to}, de {name}"))
                for i, name in enumerate(students) for to in (students[(i + 1) % STUDENTS],
                                                              students[(i + 17) % STUDENTS])]
        # The server restarts while the messages are on their way (a planned restart: the
        # clients reconnect after its goodbye, at once and all together).
        server.stop()
        sent += [(name, to, clients[name].send_direct(to, f"tchau {to}, de {name}"))
                 for i, name in enumerate(students) for to in (students[(i + 3) % STUDENTS],)]
        server = ServerThread(dataclasses.replace(config, port=port))
        server.__enter__()

        each_delivered_once(clients, recorders, sent)
        assert not refusals.keys() - {ErrorCode.RATE_LIMITED}, dict(refusals)
    finally:
        for client in clients.values():
            client.close()
        server.stop()


@pytest.mark.timeout_seconds(300)
def test_a_school_behind_one_address_on_a_cluster_fails_over_and_survives_redis(tmp_path: Path) -> None:
    """Two nodes on one Redis (``appendfsync always``), 120 students from one address, half
    of them on each node, writing across nodes. ``kill -9`` of one node: its students all
    land on the other, which then holds every connection of the address; every message
    arrives once and is ``delivered``. Then ``kill -9`` of Redis, messages written while it
    is away (answered ``unavailable``, and sent again by the clients), and Redis back:
    nothing is lost, nothing shown twice, and no budget of the address refused anything."""
    students = names()[:120]
    recorders = {name: Recorder() for name in students}
    clients: dict[str, ChatClient] = {}
    refusals: collections.Counter = collections.Counter()
    redis = RedisServer(tmp_path / "redis", appendfsync="always").start()
    one = ServerProcess("--cluster", redis.url)
    two = ServerProcess("--cluster", redis.url)
    try:
        ports = (one.wait_listening(), two.wait_listening())
        for name in students[:ACCOUNTS]:
            with ChatClient(name, "127.0.0.1", ports[0], password=PASSWORD, register=True,
                            resume_tokens=ResumeTokens(None), reconnect=False) as first:
                first.connect(timeout=WAIT)
        for i, name in enumerate(students):  # half list node one first, half node two
            servers = [("127.0.0.1", ports[i % 2]), ("127.0.0.1", ports[1 - i % 2])]
            clients[name] = ChatClient(name, on_event=recorders[name], servers=servers,
                                       password=PASSWORD if name in students[:ACCOUNTS] else None,
                                       resume_tokens=ResumeTokens(None), reconnect_on_goodbye=True)
        log_everyone_in(clients, refusals)
        assert all(client.connected for client in clients.values()), dict(refusals)

        def write(word: str) -> list[tuple[str, str, OutgoingMessage]]:
            return [(name, to, clients[name].send_direct(to, f"{word} {to}, de {name}"))
                    for i, name in enumerate(students) for to in (students[(i + 1) % len(students)],)]

        sent = write("olá")  # to a neighbour: on the other node
        each_delivered_once(clients, recorders, sent)
        sent += write("e aí")
        two.kill()  # mid-flow
        wait_until(lambda: all(c.connected and c.port == ports[0] for c in clients.values()), WAIT,
                   "every student on the node left")
        each_delivered_once(clients, recorders, sent)

        redis.kill()
        sent += write("tchau")  # answered unavailable, kept and written again by the clients
        wait_until(lambda: any("storage failing" in line for line in one.lines), WAIT, "the node to refuse work")
        redis.start()
        each_delivered_once(clients, recorders, sent)
        assert not refusals.keys() - {ErrorCode.RATE_LIMITED}, dict(refusals)
        # The address's budgets (connections, requests, late receipts, acks) refused nothing.
        over = [line for line in one.lines if "per address" in line or "over the budget" in line
                or "rate limited" in line]
        assert over == [], over
    finally:
        for client in clients.values():
            client.close()
        for node in (one, two):
            node.kill()
            node.proc.stdin.close()
        redis.stop()
