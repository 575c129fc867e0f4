"""Guessing passwords must not lock anyone else out, on a real server, from several source
addresses (127.0.0.x and 127.0.1.x are all this machine's on Linux loopback).

The tester's cases: 60 addresses guessing one account kept its owner out (the budget of
password checks per second went to whoever asked first); one user guessing behind a shared
address kept the others there out, and for longer than the login timeout, which closed
their connection before they could try again; registrations and hellos went as fast as
one address could send them.
"""

from __future__ import annotations

import threading
import time

import const
from protocol import ErrorCode, ErrorReply, Hello, Register, UserJoined, UserLeft, Welcome
from servers import in_thread
from waits import wait_until
from wire import WireClient

PASSWORD = "correct horse battery staple"
NOTICES = (UserJoined, UserLeft)


def hello(server, name: str, password: str | None = None, source: str = "127.0.0.1", register: bool = False,
          client: WireClient | None = None) -> Welcome | ErrorReply:
    """The answer to one hello (on ``client``, else on a new connection closed after it)."""
    own = client is None
    client = client or WireClient(server.host, server.port, source=source)
    try:
        client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register))
        deadline = time.monotonic() + 10
        while True:
            event = client.next(max(0.001, deadline - time.monotonic()))
            if not isinstance(event, NOTICES):
                assert isinstance(event, (Welcome, ErrorReply)), f"expected an answer to the hello, got {event!r}"
                return event
    finally:
        if own:
            client.close()


class Guessers:
    """Threads guessing ``name``'s password, one per source address, each as soon as it may
    (it waits ``retry_after``, at most ``most`` seconds), until stopped."""

    def __init__(self, server, name: str, sources: list[str], most: float = 0.2) -> None:
        self.failed: set[str] = set()  # the sources that got bad_password
        self.answers = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._guess, args=(server, name, source, most), daemon=True)
                         for source in sources]

    def _guess(self, server, name: str, source: str, most: float) -> None:
        n = 0
        while not self._stop.is_set():  # a connection per login timeout (10 s)
            with WireClient(server.host, server.port, source=source) as client:
                while not self._stop.is_set():
                    n += 1
                    try:
                        client.send(Hello("h", name, const.PROTOCOL_VERSION, f"guess {n}"))
                        answer = client.next()
                    except (OSError, AssertionError):  # closed, or no answer within 10 s
                        break
                    if not isinstance(answer, ErrorReply):
                        break  # the connection timed out
                    self.answers += 1
                    if answer.code == ErrorCode.BAD_PASSWORD:
                        self.failed.add(source)
                    elif answer.code == ErrorCode.RATE_LIMITED:
                        self._stop.wait(min(answer.retry_after, most))

    def __enter__(self) -> Guessers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)


def test_guesses_from_many_addresses_do_not_keep_the_owner_out():
    sources = [f"127.0.1.{10 + i}" for i in range(12)]
    # Four checks a second: a dozen guessers ask for far more than that. Those that have
    # failed may only take the burst's top half: four checks are kept for the others.
    with in_thread(login_checks_per_second=4.0, login_checks_burst=8.0, login_failure_delay=0.05) as server:
        assert isinstance(hello(server, "Ana", PASSWORD, source="127.0.0.2", register=True), Welcome)
        assert isinstance(hello(server, "Ana", PASSWORD, source="127.0.0.2"), Welcome)  # her usual address
        with Guessers(server, "Ana", sources) as guessers:
            wait_until(lambda: len(guessers.failed) == len(sources), timeout=20, what="every guesser's failure")
            answers = []
            for source in ("127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.4", "127.0.0.2", "127.0.0.5"):
                # Every half second (the owner's pace, not a wait for the server): the
                # guessers ask for a check every 0.2 s each meanwhile.
                time.sleep(0.5)
                answer = hello(server, "Ana", PASSWORD, source=source)  # her usual address, or new ones
                answers.append(answer if isinstance(answer, ErrorReply) else "welcome")
            assert answers == ["welcome"] * 6, answers
            assert guessers.answers > 100  # they were guessing all along


def test_one_user_guessing_behind_a_shared_address_does_not_keep_the_others_there_out():
    delay = 0.3
    with in_thread(login_failure_delay=delay) as server:
        for name in ("natAna", "natMal"):
            assert isinstance(hello(server, name, PASSWORD, register=True), Welcome)
        with Guessers(server, "natMal", ["127.0.0.1"], most=60) as guessers:  # from the classroom
            wait_until(lambda: guessers.failed, what="the first wrong password")
            waits = []
            for _ in range(5):  # natAna, from the classroom too, whenever she likes
                answer = hello(server, "natAna", PASSWORD)
                if isinstance(answer, ErrorReply):
                    assert answer.code == ErrorCode.RATE_LIMITED, answer
                    waits.append(answer.retry_after)
                    time.sleep(answer.retry_after)
                    answer = hello(server, "natAna", PASSWORD)
                assert isinstance(answer, Welcome), answer
                time.sleep(0.4)
            assert all(wait <= delay for wait in waits), waits


def test_a_refused_login_may_wait_past_the_login_timeout_on_its_connection():
    """A wait after wrong passwords can be longer than the login timeout: the connection
    stays open for it, and the next hello on it is answered."""
    with in_thread(login_timeout=1.0, login_failure_delay=2.0) as server:
        assert isinstance(hello(server, "Ana", PASSWORD, register=True), Welcome)
        with WireClient(server.host, server.port) as client:
            assert hello(server, "Ana", "a typo", client=client).code == ErrorCode.BAD_PASSWORD
            refused = hello(server, "Ana", PASSWORD, client=client)
            assert refused.code == ErrorCode.RATE_LIMITED and refused.retry_after > 1.0, refused
            time.sleep(refused.retry_after)  # longer than the login timeout
            assert isinstance(hello(server, "Ana", PASSWORD, client=client), Welcome)


def test_an_address_registers_so_many_accounts_an_hour():
    with in_thread(registrations_per_address=3.0) as server:
        for i in range(3):
            assert isinstance(hello(server, f"New{i}", PASSWORD, register=True), Welcome)
        refused = hello(server, "New3", PASSWORD, register=True)
        assert refused.code == ErrorCode.RATE_LIMITED and 1100 < refused.retry_after <= 1200, refused
        with WireClient(server.host, server.port) as guest:
            assert isinstance(hello(server, "Guest", client=guest), Welcome)
            guest.send(Register("r", PASSWORD))  # claiming one's name in the session too
            assert guest.expect_error(ErrorCode.RATE_LIMITED, skip=NOTICES).retry_after > 1100
        assert isinstance(hello(server, "New3", PASSWORD, source="127.0.0.2", register=True), Welcome)


def test_hellos_count_against_the_address_request_rate():
    """1,500 guest names were taken in 2.9 s from one address, above its rate."""
    with in_thread(rate_per_address=0.5, burst_per_address=3.0) as server:
        for i in range(3):
            assert isinstance(hello(server, f"Guest{i}"), Welcome)
        refused = hello(server, "Guest3")
        assert refused.code == ErrorCode.RATE_LIMITED and refused.retry_after > 1.0, refused
        assert isinstance(hello(server, "Guest3", source="127.0.0.2"), Welcome)  # another address's own
