"""Admission (server/admission.py) and the listener's accept loop (server/listener.py),
driven by hand: a fake loop and fake sockets, no network, no clock."""

from __future__ import annotations

import asyncio
import errno
import logging

from otherplatforms import ProactorLikeEventLoop
from protocol import ErrorCode
from server.admission import GIVE_WAY_LOOK, SESSIONS_KEPT, Admission
from server.listener import AcceptFailures, Listener
from server.logsummary import LogSummary


def test_admission_counts_every_connection_against_the_capacity_and_its_address():
    admission = Admission(capacity=3, per_address=2)
    assert admission.admit("10.0.0.1") is None
    assert admission.admit("10.0.0.1") is None
    refusal = admission.admit("10.0.0.1")
    assert (refusal.code, refusal.status) == (ErrorCode.TOO_MANY_CONNECTIONS, 429)
    assert admission.admit("10.0.0.2") is None
    full = admission.admit("10.0.0.3")
    assert (full.code, full.status) == (ErrorCode.SERVER_FULL, 503)
    assert admission.total == 3  # refusals are not counted
    admission.release("10.0.0.1")
    assert admission.admit("10.0.0.3") is None
    assert (admission.count("10.0.0.1"), admission.count("10.0.0.3"), admission.total) == (1, 1, 3)


def test_releasing_an_address_that_holds_nothing_changes_nothing():
    admission = Admission(capacity=3, per_address=2)
    admission.admit("10.0.0.1")
    admission.release("10.0.0.9")  # a session made by hand, never admitted
    assert admission.total == 1
    admission.release("10.0.0.1")
    admission.release("10.0.0.1")
    assert (admission.total, admission.count("10.0.0.1")) == (0, 0)


class Waiter:
    """A connection that has not logged in, as the admission sees one."""

    name = key = None
    closing = False

    def __init__(self, logging_in: bool = False) -> None:
        self.logging_in = logging_in
        self.told: list[str] = []

    def logs_in(self, admission: Admission, key: str) -> Waiter:
        self.name = self.key = key
        admission.logged_in("10.0.0.1", self)
        return self

    def give_way(self, message: str) -> None:
        self.told.append(message)


def test_a_full_address_makes_its_oldest_connection_not_logged_in_give_way_to_a_newcomer():
    admission = Admission(capacity=10, per_address=3)
    old, logging_in, young = Waiter(), Waiter(logging_in=True), Waiter()
    for waiter in (old, logging_in, young):
        assert admission.admit("10.0.0.1") is None
        admission.waiting("10.0.0.1", waiter)
    assert admission.admit("10.0.0.1") is None  # the oldest gives way
    assert len(old.told) == 1 and "gave way" in old.told[0] and not logging_in.told and not young.told
    assert admission.count("10.0.0.1") == 4  # until the one that gave way is closed
    admission.release("10.0.0.1", old)
    admission.waiting("10.0.0.1", old)  # said again after closing: nothing (never happens)
    admission.settled("10.0.0.1", old)
    assert admission.admit("10.0.0.1") is None  # one logging in keeps its place: the next gives way
    assert young.told and not logging_in.told
    admission.release("10.0.0.1", young)
    admission.settled("10.0.0.1", logging_in)  # logged in
    refusal = admission.admit("10.0.0.1")  # nobody left who may give way
    assert refusal is not None and refusal.code == ErrorCode.TOO_MANY_CONNECTIONS
    assert admission.admit("10.0.0.2") is None  # another address is another count


def test_a_connection_closing_or_logged_in_when_said_waiting_is_never_asked_to_give_way():
    admission = Admission(capacity=10, per_address=2)
    closing, logged_in = Waiter(), Waiter()
    closing.closing = True  # (closed between its accept and its WebSocket upgrade)
    logged_in.name = logged_in.key = "bia"
    for waiter in (closing, logged_in):
        assert admission.admit("10.0.0.1") is None
        admission.waiting("10.0.0.1", waiter)
    refusal = admission.admit("10.0.0.1")
    assert refusal is not None and refusal.code == ErrorCode.TOO_MANY_CONNECTIONS
    assert closing.told == [] and logged_in.told == []


def test_after_one_logs_in_the_others_of_its_address_still_wait_and_may_give_way():
    admission = Admission(capacity=10, per_address=2)
    idle, bia = Waiter(), Waiter()
    for waiter in (idle, bia):
        assert admission.admit("10.0.0.1") is None
        admission.waiting("10.0.0.1", waiter)
    bia.logs_in(admission, "bia")
    assert admission.admit("10.0.0.1") is None  # the one still waiting gives way
    assert len(idle.told) == 1 and bia.told == []


def test_a_closed_connection_is_neither_asked_to_give_way_nor_counted_as_a_users_session():
    admission = Admission(capacity=10, per_address=4)
    gone = Waiter()
    assert admission.admit("10.0.0.1") is None
    admission.waiting("10.0.0.1", gone)
    admission.release("10.0.0.1", gone)  # closed before its login
    bia = [Waiter() for _ in range(SESSIONS_KEPT + 1)]
    for session in bia:
        assert admission.admit("10.0.0.1") is None
        admission.waiting("10.0.0.1", session)
        session.logs_in(admission, "bia")
    admission.release("10.0.0.1", bia[0])  # she closes one: she holds SESSIONS_KEPT
    assert admission.admit("10.0.0.1") is None  # the address is full again
    refusal = admission.admit("10.0.0.1")
    assert refusal is not None and refusal.code == ErrorCode.TOO_MANY_CONNECTIONS  # she keeps her three
    assert gone.told == [] and all(session.told == [] for session in bia)


def test_an_address_whose_connections_all_closed_leaves_nothing_in_the_books():
    admission = Admission(capacity=10, per_address=4)
    waiter, session = Waiter(), Waiter()
    for connection in (waiter, session):
        admission.admit("10.0.0.1")
        admission.waiting("10.0.0.1", connection)
    session.logs_in(admission, "bia")
    for connection in (waiter, session):
        admission.release("10.0.0.1", connection)
    assert (admission.total, admission._counts, admission._waiting, admission._users) == (0, {}, {}, {})


def test_a_full_address_of_sessions_makes_the_user_holding_the_most_give_up_its_oldest():
    admission = Admission(capacity=10, per_address=7)
    sessions = []
    for key in ("ana", "mal", "mal", "bia", "mal", "mal", "mal"):
        admission.admit("10.0.0.1")
        waiter = Waiter()
        admission.waiting("10.0.0.1", waiter)
        sessions.append(waiter.logs_in(admission, key))
    ana, mal1, mal2, bia, *mallory = sessions
    assert admission.admit("10.0.0.1") is None  # Mallory's oldest gives way
    assert "the most sessions there (5)" in mal1.told[0] and not any(w.told for w in (ana, mal2, bia, *mallory))
    admission.release("10.0.0.1", mal1)  # (the newcomer is not waiting: made by hand here)
    assert admission.admit("10.0.0.1") is None
    assert mal2.told and not any(w.told for w in (ana, bia, *mallory))
    admission.release("10.0.0.1", mal2)
    # Mallory holds SESSIONS_KEPT now, as a student's devices: nobody gives way.
    assert len(mallory) == SESSIONS_KEPT
    refusal = admission.admit("10.0.0.1")
    assert refusal is not None and refusal.code == ErrorCode.TOO_MANY_CONNECTIONS
    assert not any(w.told for w in (ana, bia, *mallory))
    by_hand = Waiter()
    by_hand.logs_in(admission, "mal")  # never waiting (never admitted): not counted
    assert admission.admit("10.0.0.1") is not None and not by_hand.told


def test_a_newcomer_looks_at_so_many_connections_for_one_that_may_give_way():
    admission = Admission(capacity=1000, per_address=GIVE_WAY_LOOK + 1)
    waiters = [Waiter(logging_in=i < GIVE_WAY_LOOK) for i in range(GIVE_WAY_LOOK + 1)]
    for waiter in waiters:
        admission.admit("10.0.0.1")
        admission.waiting("10.0.0.1", waiter)
    assert admission.admit("10.0.0.1") is not None  # the one that might have is beyond the look
    assert not any(waiter.told for waiter in waiters)


class FakeLoop:
    """What the listener uses of a loop: readers, timers and tasks, recorded."""

    def __init__(self) -> None:
        self.readers: dict[int, tuple] = {}
        self.timers: list[tuple[float, object]] = []
        self.tasks: list = []

    def add_reader(self, fd, callback, *args) -> None:
        self.readers[fd] = (callback, args)

    def remove_reader(self, fd) -> bool:
        return self.readers.pop(fd, None) is not None

    def call_later(self, delay, callback, *args) -> None:
        self.timers.append((delay, callback))

    def create_task(self, coro):
        coro.close()  # never run: the tests look at what was decided before
        self.tasks.append(coro)

        class Task:
            def add_done_callback(self, callback) -> None:
                pass
        return Task()

    def ready(self, fd: int) -> None:
        """The socket ``fd`` is readable: run its reader, as the loop would."""
        callback, args = self.readers[fd]
        callback(*args)


class OutOfDescriptors:
    """A listening socket with clients waiting that the process has no descriptor for."""

    def __init__(self) -> None:
        self.accepts = 0
        self.closed = False

    def fileno(self) -> int:
        return 7

    def accept(self):
        self.accepts += 1
        raise OSError(errno.EMFILE, "Too many open files")

    def close(self) -> None:
        self.closed = True


def test_out_of_descriptors_the_listener_stops_reading_its_socket_for_a_second(caplog):
    # asyncio 3.11's accept loop tried accept() up to the backlog times per readiness and
    # re-armed itself once per failure: 2.6 million failed calls a minute, a busy core.
    loop, listening = FakeLoop(), OutOfDescriptors()
    failures = AcceptFailures(loop_stub(), 300)
    listener = Listener([listening], lambda address, port: None, Admission(10, 10), LogSummary(logging.getLogger("t")),
                        failures=failures, backlog=4096, loop=loop)  # type: ignore[arg-type]
    listener.start()
    with caplog.at_level(logging.INFO, logger="chat.server"):
        loop.ready(7)
    assert listening.accepts == 1  # one try, not one per waiting client
    assert 7 not in loop.readers  # no longer woken by the waiting clients
    assert [delay for delay, _ in loop.timers] == [1.0]  # one retry, a second later
    assert [r.getMessage() for r in caplog.records] == [
        "cannot accept connections: [Errno 24] Too many open files (open-file limit 300); retrying every second"]
    loop.timers.pop()[1]()  # the second has passed
    assert 7 in loop.readers
    loop.ready(7)  # still out of descriptors: the same again, counted, not logged
    assert (listening.accepts, failures.count, len(loop.timers)) == (2, 1, 1)
    listener.close()
    loop.timers.pop()[1]()  # a retry due after the listener closed does not re-arm it
    assert not loop.readers and listening.closed


class Waiting:
    """A listening socket with clients from ``addresses`` waiting."""

    def __init__(self, addresses: list[str]) -> None:
        self.waiting = [Client(address, 40000 + i) for i, address in enumerate(addresses)]

    def fileno(self) -> int:
        return 8

    def accept(self):
        if not self.waiting:
            raise BlockingIOError
        client = self.waiting.pop(0)
        return client, (client.address, client.port)

    def close(self) -> None:
        pass


class Client:
    def __init__(self, address: str, port: int) -> None:
        self.address, self.port = address, port
        self.sent = b""
        self.closed = False

    def setblocking(self, flag: bool) -> None:
        pass

    def send(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def close(self) -> None:
        self.closed = True


def test_connections_over_a_limit_are_answered_and_closed_at_accept_and_logged_once_per_address(caplog):
    loop = FakeLoop()
    listening = Waiting(["10.0.0.1"] * 5 + ["10.0.0.2"])
    admission = Admission(capacity=100, per_address=2)
    listener = Listener([listening], lambda address, port: None, admission, LogSummary(logging.getLogger("chat.server")),
                        refusal_bytes=lambda refusal: refusal.code.encode(), loop=loop)  # type: ignore[arg-type]
    listener.start()
    clients = list(listening.waiting)
    with caplog.at_level(logging.INFO, logger="chat.server"):
        loop.ready(8)
    assert len(loop.tasks) == 3  # two from 10.0.0.1 and one from 10.0.0.2 are opened
    assert [(c.sent, c.closed) for c in clients] == [(b"", False)] * 2 + [(b"too_many_connections", True)] * 3 + [
        (b"", False)]
    assert (admission.count("10.0.0.1"), admission.count("10.0.0.2")) == (2, 1)
    assert [r.getMessage() for r in caplog.records] == [
        "refused 10.0.0.1:40002: at most 2 connections per address"]  # the other two: counted


def loop_stub():
    class Stub:
        def get_exception_handler(self):
            return None
    return Stub()


def test_on_a_loop_without_add_reader_the_listener_awaits_each_connection_and_waits_after_a_failure(caplog):
    # Windows' proactor loop has no add_reader: there the listener awaits sock_accept.
    loop = ProactorLikeEventLoop()
    client = Client("10.0.0.1", 40000)
    outcomes = [OSError(errno.EMFILE, "Too many open files"), (client, ("10.0.0.1", 40000))]
    taken = asyncio.Event()

    async def sock_accept(sock):
        if outcomes:
            outcome = outcomes.pop(0)
            if isinstance(outcome, OSError):
                raise outcome
            return outcome
        taken.set()
        await asyncio.Future()  # nobody else connects

    loop.sock_accept = sock_accept  # type: ignore[method-assign]
    listening = Waiting([])
    failures = AcceptFailures(loop_stub(), 300)
    try:
        async def run() -> Listener:
            listener = Listener([listening], lambda address, port: None, Admission(10, 0),  # per address 0: refused
                                LogSummary(logging.getLogger("chat.server")), failures=failures,
                                refusal_bytes=lambda refusal: refusal.code.encode(), retry_delay=0.01)
            listener.start()
            await asyncio.wait_for(taken.wait(), 5)
            listener.close()
            await listener.wait_closed()
            return listener

        with caplog.at_level(logging.INFO, logger="chat.server"):
            listener = loop.run_until_complete(run())
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records][:1] == [
        "cannot accept connections: [Errno 24] Too many open files (open-file limit 300); retrying every second"]
    assert not outcomes and (client.sent, client.closed) == (b"too_many_connections", True)
    assert listener.closed and not listener.sockets


def test_a_connection_that_gives_way_is_logged_with_an_ipv6_address_in_brackets():
    """"TLS handshake with 2001:db8::5:41000" and "web 2001:db8::5:41000": the port read
    as the address's last group. Written as every other line writes them: [2001:db8::5]:41000."""
    from types import SimpleNamespace

    from server import listener as listener_module, web
    lines = []
    log_lines = SimpleNamespace(log=lambda kind, key, level, msg, *args: lines.append(msg % args))
    handshake = object.__new__(listener_module._Handshake)
    handshake.listener, handshake.address, handshake.port = SimpleNamespace(log_lines=log_lines), "2001:db8::5", 41000
    handshake.task = SimpleNamespace(cancel=lambda: None)
    handshake.give_way("full")
    page = SimpleNamespace(mode=web._HTTP, relay=SimpleNamespace(log_lines=log_lines), address="2001:db8::5",
                           port=41000, transport=SimpleNamespace(write=lambda data: None), close=lambda: None)
    web.WebSession.give_way(page, "full")
    assert len(lines) == 2, lines
    assert lines[0].startswith("TLS handshake with [2001:db8::5]:41000: "), lines
    assert lines[1].startswith("web [2001:db8::5]:41000 "), lines


def test_the_sessions_of_a_full_school_cost_the_admission_a_dict_entry_each():
    # Issue 9: at most 2.5 KiB of server memory per idle logged-in connection, at 10,000.
    # A dict of users each holding a dict of its sessions cost each connection of a
    # different user its own one-entry dict, about 230 bytes (the benchmark's idle phase:
    # 2,790 bytes per connection, 2,600 without them).
    import tracemalloc

    class Session:  # slotted: its login allocates nothing of its own, only the admission does
        __slots__ = ("name", "key", "closing", "logging_in")

        def __init__(self, key: str) -> None:
            self.name, self.key, self.closing, self.logging_in = None, key, False, False

        def give_way(self, message: str) -> None:
            raise AssertionError(message)

    count = 10_000
    admission = Admission(capacity=count + 1, per_address=count + 1)
    sessions = [Session(f"user{i}") for i in range(count)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for session in sessions:
            admission.admit("10.0.0.1")
            admission.waiting("10.0.0.1", session)
            session.name = session.key
            admission.logged_in("10.0.0.1", session)
        per_session = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert per_session < 80, per_session  # (here: about 30; a dict per user: about 245)
