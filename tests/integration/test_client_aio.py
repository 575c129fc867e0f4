"""The asyncio shell (client/aio.py) against a real server on 127.0.0.1, port 0.

The rules are the core's and have their unit tests in test_client_core.py; these check
that the asyncio shell moves the bytes, the time and the events right: a direct message
with both acks, a reconnection after a cut that resends with the same ids (the server's
history proves nothing was stored or delivered twice), requests answered, and close().
Each test runs in one event loop, bounded by ``run``'s deadline.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from collections.abc import Awaitable, Callable, Iterator

import pytest

import client.aio as aio_module
from client.aio import AioChatClient
from client.errors import CalledFromReceiver, NotConnected, RequestFailed
from client.events import Reconnected, Reconnecting
from client.outgoing import DELIVERED, FAILED, SENT, MessageUpdate
from client.resume import ResumeTokens
from fakeserver import FakeServer
from faultproxy import DOWN, Fault, FaultProxy
from protocol import ConnectionClosed, DirectMessage, ErrorCode
from server import ServerConfig, ServerThread
from servers import in_thread

WAIT = 10.0


def run(test: Callable[[], Awaitable[None]], deadline: float = 30.0) -> None:
    """Run ``test()`` in a fresh event loop; a hang fails after ``deadline`` seconds."""
    async def bounded() -> None:
        await asyncio.wait_for(test(), deadline)
    asyncio.run(bounded())


def client(port: int, name: str, **options: object) -> AioChatClient:
    return AioChatClient(name, "127.0.0.1", port, resume_tokens=ResumeTokens(None), **options)  # type: ignore[arg-type]


async def next_of(aio: AioChatClient, kind: type, timeout: float = WAIT) -> object:
    """The next event of type ``kind`` from ``aio``'s iterator (others are skipped)."""
    async def find() -> object:
        async for event in aio:
            if isinstance(event, kind):
                return event
        raise AssertionError(f"the events ended before a {kind.__name__}")
    return await asyncio.wait_for(find(), timeout)


async def until(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait (polling the loop) until ``condition()`` holds; fail after ``timeout``."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
def proxy(server: ServerThread) -> Iterator[FaultProxy]:
    with FaultProxy(server.host, server.port) as fault_proxy:
        yield fault_proxy


def test_a_direct_message_between_two_aio_clients_gets_both_acks(server: ServerThread) -> None:
    async def test() -> None:
        updates: list[MessageUpdate] = []
        alice = client(server.port, "Alice", on_event=lambda e: updates.append(e) if isinstance(e, MessageUpdate) else None)
        bob = client(server.port, "Bob")
        await alice.connect(WAIT)
        await bob.connect(WAIT)
        try:
            message, done = alice.send_direct("Bob", "hello from asyncio")
            dm = await next_of(bob, DirectMessage)
            assert isinstance(dm, DirectMessage) and (dm.sender, dm.text) == ("Alice", "hello from asyncio")
            assert await asyncio.wait_for(done, WAIT) == DELIVERED
            # Both acks: accepted (the server has it), then delivered (Bob's client has it).
            assert [u.state for u in updates] == [SENT, DELIVERED]
            assert message.msg_id == dm.msg_id and message.state == DELIVERED
            # A room message is final at sent.
            _room, room_done = bob.send_room("to everyone")
            assert await asyncio.wait_for(room_done, WAIT) == SENT
        finally:
            await alice.close()
            await bob.close()
    run(test)


def test_a_trackers_blocking_wait_on_the_event_loop_is_refused_at_once(server: ServerThread) -> None:
    # The answers are read by the reader task, on this loop: a wait() here blocked the loop,
    # so nothing was read, for the wait's whole timeout. The future is what to await.
    async def test() -> None:
        alice = client(server.port, "Alice")
        bob = client(server.port, "Bob")
        await alice.connect(WAIT)
        await bob.connect(WAIT)
        try:
            message, done = alice.send_direct("Bob", "olá")
            started = asyncio.get_running_loop().time()
            try:
                outcome: object = message.wait(DELIVERED, 3)
            except CalledFromReceiver as exc:
                outcome = exc
            spent = asyncio.get_running_loop().time() - started
            assert isinstance(outcome, CalledFromReceiver), \
                f"wait() on the loop returned {outcome!r} after {spent:.1f} s"
            assert spent < 1.0
            message.wait(DELIVERED, 0)  # a look without waiting is not refused (it would raise)
            assert await asyncio.wait_for(done, WAIT) == DELIVERED
        finally:
            await alice.close()
            await bob.close()
    run(test)


def test_requests_are_answered_and_refusals_raised(server: ServerThread) -> None:
    async def test() -> None:
        alice, bob = client(server.port, "Alice"), client(server.port, "Bob")
        await alice.connect(WAIT)
        await bob.connect(WAIT)
        try:
            assert {p.name for p in await alice.who(WAIT)} == {"Alice", "Bob"}
            assert (await alice.lookup("bob", WAIT)).status == "online"
            assert (await alice.lookup("Fulano", WAIT)).status == "unknown"
            for i in range(3):
                _message, done = alice.send_direct("Bob", f"line {i}")
                assert await asyncio.wait_for(done, WAIT) == DELIVERED
            entries = await alice.history("Bob", 2, WAIT)
            assert [e.text for e in entries] == ["line 1", "line 2"]
            with pytest.raises(RequestFailed) as refused:  # a name that cannot be encoded
                await alice.lookup("Bob\udc80", WAIT)
            assert refused.value.code == ErrorCode.BAD_FIELD
            assert alice.connected  # and the session goes on
            # A request is answered while the application reads no events: the reader
            # task never waits for it (Bob's iterator holds three DMs nobody took).
            assert (await bob.lookup("Alice", WAIT)).status == "online"
        finally:
            await alice.close()
            await bob.close()
    run(test)


def test_a_cut_connection_is_restored_and_resends_with_the_same_ids(server: ServerThread, proxy: FaultProxy) -> None:
    """The server's accepted for Alice's 3rd message is lost with her connection:
    the core writes them again with their first request ids after the reconnection, the
    server recognises them, and Bob gets each message once (the history, which would show a
    second copy under a new id, has each once)."""
    count = 10

    async def test() -> None:
        proxy.add(Fault(DOWN, "accepted", nth=3, name="Alice"))
        events: list[object] = []
        alice = client(proxy.port, "Alice", on_event=events.append, reconnect_delay=0.05)
        bob = client(server.port, "Bob")
        await alice.connect(WAIT)
        await bob.connect(WAIT)
        try:
            sent = [alice.send_direct("Bob", f"message {i}") for i in range(count)]
            ids = [message.request_id for message, _ in sent]
            states = await asyncio.wait_for(asyncio.gather(*(done for _, done in sent)), 3 * WAIT)
            assert states == [DELIVERED] * count, (states, proxy.cuts)
            assert [message.request_id for message, _ in sent] == ids
            assert len(proxy.cuts) == 1, proxy.cuts
            reconnected = [e for e in events if isinstance(e, Reconnected)]
            # At least the 3rd message (stored, its accepted lost) went out again.
            assert len(reconnected) == 1 and reconnected[0].resent >= 1, events
            assert any(isinstance(e, Reconnecting) for e in events)
            assert alice.reconnects == 1 and alice.connected
            received: list[str] = []
            while len(received) < count:
                dm = await next_of(bob, DirectMessage)
                received.append(dm.text)  # type: ignore[attr-defined]
            assert sorted(received) == sorted(f"message {i}" for i in range(count))
            history = await bob.history("Alice", 50, WAIT)
            assert sorted(e.text for e in history) == sorted(f"message {i}" for i in range(count))
        finally:
            await alice.close()
            await bob.close()
    run(test, 60.0)


def test_close_ends_the_session_once_and_fails_what_is_unfinished(server: ServerThread) -> None:
    async def test() -> None:
        carol = client(server.port, "Carol")  # known to the server, then offline
        await carol.connect(WAIT)
        await carol.close()
        alice = client(server.port, "Alice")
        await alice.connect(WAIT)
        waiting, waiting_done = alice.send_direct("Carol", "queued until Carol logs in")
        update = await next_of(alice, MessageUpdate)
        assert isinstance(update, MessageUpdate) and update.state == "queued"
        await alice.close("bye now")
        await alice.close()  # idempotent
        assert alice.closed.is_set() and not alice.connected
        assert await asyncio.wait_for(waiting_done, WAIT) == FAILED
        assert waiting.error is not None and waiting.error[0] == "connection_lost"
        rest = [event async for event in alice]  # the iterator ends after ConnectionClosed
        assert isinstance(rest[-1], ConnectionClosed)
        assert sum(isinstance(e, ConnectionClosed) for e in rest) == 1
        assert [e.state for e in rest if isinstance(e, MessageUpdate)] == [FAILED]
        late, late_done = alice.send_direct("Carol", "too late")
        assert late.state == FAILED and not late.submitted and late_done.result() == FAILED
        with pytest.raises(NotConnected):
            await alice.who(WAIT)
        # The server saw the goodbye: Alice is gone from its list.
        bob = client(server.port, "Bob")
        await bob.connect(WAIT)
        try:
            assert {p.name for p in await bob.who(WAIT)} == {"Bob"}
        finally:
            await bob.close()
    run(test)


def test_a_server_that_accepts_and_never_answers_the_login_is_said_so_in_words() -> None:
    """asyncio's wait_for gives asyncio.TimeoutError, which is TimeoutError only from Python
    3.11 on: the client says the same words on every Python it supports."""
    import socket

    from client.errors import ServerUnreachable

    async def test(port: int) -> None:
        mute = client(port, "Alice")
        with pytest.raises(ServerUnreachable, match=rf"^127\.0\.0\.1:{port} did not answer the login within 0\.3 s$"):
            await mute.connect(0.3)
        await mute.close()

    with socket.socket() as listener:  # accepts (the kernel's backlog), never reads or writes
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        run(lambda: test(listener.getsockname()[1]))


def test_a_silent_server_is_detected_by_the_cores_heartbeat_and_left() -> None:
    """The reader sleeps until the core's deadline: a frozen link (nothing passes, nothing
    closes) is declared lost after heartbeat_timeout and the session restored (once the
    server, which drops a silent client after 1 s, let the guest name go)."""
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=0.3, heartbeat_timeout=1.0)

    async def test(proxy: FaultProxy) -> None:
        events: list[object] = []
        alice = client(proxy.port, "Alice", on_event=events.append, heartbeat_interval=0.1,
                       heartbeat_timeout=0.4, reconnect_delay=0.1, reconnect_max_delay=0.2)
        await alice.connect(WAIT)
        try:
            assert proxy.freeze("Alice") == 1
            await until(lambda: any(isinstance(e, Reconnected) for e in events))
            lost = next(e for e in events if isinstance(e, Reconnecting))
            assert lost.reason.startswith("no data from the server for"), events
            assert (await alice.lookup("Alice", WAIT)).status == "online"
        finally:
            await alice.close()

    with ServerThread(config) as srv, FaultProxy(srv.host, srv.port) as proxy:
        run(lambda: test(proxy))


def test_an_application_that_stops_reading_events_holds_back_the_receipts(server: ServerThread,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Back-pressure: with Bob's queue full his reader stops handing events on, so the core
    confirms no more of his messages (a receipt only after hand-off) and Alice's stay
    ``sent``; once Bob reads, they are confirmed. close() ends in bounded time even
    while the queue is full."""
    monkeypatch.setattr(aio_module, "EVENT_QUEUE_SIZE", 2)

    async def test() -> None:
        alice = client(server.port, "Alice", on_event=lambda event: None)  # reads everything
        bob = client(server.port, "Bob")  # reads through the iterator, when the test says
        await alice.connect(WAIT)
        await bob.connect(WAIT)
        try:
            sent = [alice.send_direct("Bob", f"number {i}") for i in range(5)]
            # At most two fit in Bob's queue (with whatever came before them); the next
            # waits in his reader, not handed on, so not confirmed.
            await until(lambda: bob._events.full() and all(m.state != "sending" for m, _ in sent))
            await asyncio.sleep(0.3)  # time for a wrong receipt to arrive
            states = [m.state for m, _ in sent]
            assert states.count(DELIVERED) <= 2 and states[2:] == [SENT] * 3, states
            texts = [(await next_of(bob, DirectMessage)).text for _ in range(5)]  # type: ignore[attr-defined]
            assert texts == [f"number {i}" for i in range(5)]
            states = await asyncio.wait_for(asyncio.gather(*(done for _, done in sent)), WAIT)
            assert states == [DELIVERED] * 5
            for i in range(3):  # fill Bob's queue again, then close him without reading
                alice.send_direct("Bob", f"unread {i}")
            await until(lambda: bob._events.full())
            loop = asyncio.get_running_loop()
            started = loop.time()
            await bob.close()
            assert bob.closed.is_set() and loop.time() - started < 3 * aio_module.CLOSE_TIMEOUT
        finally:
            await alice.close()
            await bob.close()
    run(test)


def test_a_servers_goodbye_sends_the_session_to_the_next_server_at_once() -> None:
    """A server of the list says goodbye (a planned stop: a cluster node restarted in
    turn): the client logs in on the next one without a wait, not on the one that said
    it (client/core.py, failover)."""
    async def test(first: ServerThread, second: ServerThread) -> None:
        events: list[object] = []
        aio = AioChatClient("Alice", servers=[(first.host, first.port), (second.host, second.port)],
                            resume_tokens=ResumeTokens(None), reconnect_on_goodbye=True, on_event=events.append)
        await aio.connect(WAIT)
        try:
            await asyncio.get_running_loop().run_in_executor(None, first.stop)
            await until(lambda: any(isinstance(e, Reconnected) for e in events))
            assert [e.delay for e in events if isinstance(e, Reconnecting)] == [0.0], events
            assert [e.server for e in events if isinstance(e, Reconnected)] == [f"{second.host}:{second.port}"]
        finally:
            await aio.close()

    with in_thread() as first, in_thread() as second:
        run(lambda: test(first, second))


def test_a_guest_that_fails_over_to_another_server_of_the_chat_keeps_its_name_and_waiting_messages(
        server: ServerThread) -> None:
    """Two addresses of one chat (a cluster's nodes; here two proxies of one server): a
    guest whose server is lost logs in on the other with the token the first one gave it
    (client/resume.py), as the threaded library does, so it gets its name back at once
    with the messages that waited for it, not ``name_taken`` for GUEST_HOLD (600 s) and
    then a newcomer's empty mailbox."""
    async def test(first: FaultProxy, second: FaultProxy) -> None:
        events: list[object] = []
        alice = AioChatClient("Alice", servers=[("127.0.0.1", first.port), ("127.0.0.1", second.port)],
                              resume_tokens=ResumeTokens(None), reconnect_delay=0.05, reconnect_max_delay=0.2,
                              on_event=events.append)
        bob = client(server.port, "Bob")
        await alice.connect(WAIT)
        await bob.connect(WAIT)
        try:
            first.refuse_new = True  # the first address is gone for good
            first.cut("Alice")
            await until(lambda: any(isinstance(e, Reconnecting) for e in events))
            _, done = bob.send_direct("Alice", "while you were away")
            with suppress(asyncio.TimeoutError):  # said below, with the reconnections' reasons
                await until(lambda: any(isinstance(e, Reconnected) for e in events))
            assert [e.server for e in events if isinstance(e, Reconnected)] == [f"127.0.0.1:{second.port}"], \
                [e.reason for e in events if isinstance(e, Reconnecting)][-2:]
            await until(lambda: any(isinstance(e, DirectMessage) and e.text == "while you were away"
                                    for e in events))
            assert await asyncio.wait_for(done, WAIT) == DELIVERED
        finally:
            await alice.close()
            await bob.close()

    with FaultProxy(server.host, server.port) as first, FaultProxy(server.host, server.port) as second:
        run(lambda: test(first, second))


def test_close_during_a_reconnections_login_ends_the_session_at_once(server: ServerThread) -> None:
    """close() while a reconnection waits for a silent server's answer to the hello (one of
    the list that accepts and never answers) ends that login at once, as the threaded
    library's does (it shuts the attempt's socket): the session is over, ConnectionClosed
    handed on and ``closed`` set when close() returns, not a connect_timeout later."""
    import socket

    async def test(proxy: FaultProxy, mute: int) -> None:
        events: list[object] = []
        alice = AioChatClient("Alice", servers=[("127.0.0.1", proxy.port), ("127.0.0.1", mute)],
                              resume_tokens=ResumeTokens(None), reconnect_delay=0.05, reconnect_max_delay=0.1,
                              connect_timeout=3 * WAIT, on_event=events.append)
        await alice.connect(WAIT)
        proxy.refuse_new = True
        proxy.cut("Alice")
        await until(lambda: alice.port == mute)  # logging in there now, or about to
        loop = asyncio.get_running_loop()
        began = loop.time()
        await alice.close()
        assert alice.closed.is_set(), f"close() returned after {loop.time() - began:.1f} s with the session open"
        assert sum(isinstance(e, ConnectionClosed) for e in events) == 1

    with socket.socket() as listener, FaultProxy(server.host, server.port) as proxy:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts (the kernel's backlog), never reads or writes
        run(lambda: test(proxy, listener.getsockname()[1]), 60.0)


def test_against_a_version_1_server_the_aio_client_falls_back_and_keeps_that_offer() -> None:
    """A server that does not speak the newest version answers ``unsupported_version``: the
    client logs in again offering the next older one, as the threaded client does, and its
    reconnections offer the version that worked."""
    from fakeserver import FakeServer

    async def test(old: FakeServer) -> None:
        events: list[object] = []
        alice = client(old.port, "Alice", on_event=events.append, reconnect_delay=0.05)
        welcome = await alice.connect(WAIT)
        try:
            assert (welcome.version, old.hellos) == (1, [2, 1])
            await asyncio.get_running_loop().run_in_executor(None, old.drop, "Alice")
            await until(lambda: any(isinstance(e, Reconnected) for e in events))
            assert old.hellos == [2, 1, 1]
        finally:
            await alice.close()

    with FakeServer(max_version=1) as old:
        run(lambda: test(old))


def test_a_refused_resume_credential_is_followed_by_the_password_at_once(tmp_path) -> None:
    """The account's credential no longer holds after a restart (as if expired): the
    reconnection logs in with the password at once (client/credential.py)."""
    import sqlite3

    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)

    async def test() -> None:
        srv = ServerThread(config).__enter__()
        port = srv.port
        events: list[object] = []
        alice = client(port, "Alice", password="correct horse 1", register=True, on_event=events.append,
                       reconnect_delay=0.05, reconnect_max_delay=0.2, reconnect_on_goodbye=True)
        try:
            await alice.connect(WAIT)
            assert alice.core.credential.secret is not None
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, srv.stop)
            with sqlite3.connect(tmp_path / "chat.sqlite3") as db:
                db.execute("DELETE FROM account_credentials")
            srv = await loop.run_in_executor(None, lambda: ServerThread(ServerConfig(
                host="127.0.0.1", port=port, data_dir=tmp_path)).__enter__())
            with suppress(asyncio.TimeoutError):  # said below, with the reconnections' reasons
                await until(lambda: any(isinstance(e, Reconnected) for e in events))
            back = next((e for e in events if isinstance(e, Reconnected)), None)
            assert back is not None, [e.reason for e in events if isinstance(e, Reconnecting)][-2:]
            assert back.welcome.registered and alice.login_error is None
        finally:
            await alice.close()
            srv.stop()

    run(test, 60.0)


def test_a_server_that_fails_after_each_login_is_logged_in_to_ever_more_slowly(server: ServerThread,
                                                                               proxy: FaultProxy) -> None:
    """As the threaded client (test_client_realserver.py): after short sessions in a row
    (under STABLE_SESSION) each reconnection's backoff starts one doubling further on, not
    afresh at the first wait (ClientCore.backoff_start)."""
    async def test() -> None:
        alice = client(proxy.port, "Alice", reconnect_delay=0.1)
        await alice.connect(WAIT)
        try:
            proxy.add(Fault(DOWN, "welcome", when="after", every=1, times=1000, name="Alice"))
            proxy.cut("Alice")
            delays = [(await next_of(alice, Reconnecting)).delay for _ in range(4)]
        finally:
            await alice.close()
        # Doubled each time, whatever the jitter (0.8 to 1.2): each at least 2 x 0.8 / 1.2 the last.
        assert all(later >= 1.3 * earlier for earlier, later in zip(delays, delays[1:])), delays

    run(test)


def test_a_late_answer_is_not_handed_on_and_a_lost_one_is_said_uncertain(server: ServerThread,
                                                                          proxy: FaultProxy) -> None:
    # A request whose caller timed out (the proxy holds it back) is answered later on the same
    # connection: the answer is late, not unmatched, and is not handed on (it used to be, as a
    # bare UserList). One written and cut before its answer raises AnswerLost (uncertain),
    # as the threaded client's does (it raised a plain NotConnected).
    from client.errors import AnswerLost, RequestTimeout
    from protocol import UserList

    async def test() -> None:
        events: list[object] = []
        alice = client(proxy.port, "Alice", on_event=events.append, reconnect_delay=0.05)
        await alice.connect(WAIT)
        try:
            assert proxy.stall("Alice") == 1
            with pytest.raises(RequestTimeout) as timed_out:
                await alice.who(0.3)
            assert timed_out.value.uncertain
            assert proxy.unstall("Alice") == 1
            await alice.who(WAIT)  # answered after the late one: that one was read by now
            assert [e for e in events if isinstance(e, UserList)] == []
            assert proxy.stall("Alice") == 1
            lookup = asyncio.ensure_future(alice.lookup("Bob", WAIT))
            await until(lambda: bool(alice.core._replies))  # white box: written, waiting for its answer
            assert proxy.cut("Alice") == 1
            with pytest.raises(AnswerLost) as lost:
                await lookup
            assert lost.value.uncertain
        finally:
            await alice.close()
    run(test)


def test_a_login_refused_while_failing_over_names_the_server_that_refused_it() -> None:
    """As the threaded library's (test_client_library.py): with several servers, the line
    of a refused login names the server that refused it, not to be read as the lost one's."""
    async def test(first: FakeServer, second: FakeServer) -> None:
        events: list[object] = []
        gil = AioChatClient("Gil", servers=[(first.host, first.port), (second.host, second.port)],
                            resume_tokens=ResumeTokens(None), reconnect_delay=0.05, reconnect_max_delay=0.2,
                            on_event=events.append)
        await gil.connect(WAIT)
        try:
            await asyncio.get_running_loop().run_in_executor(None, first.stop)
            await until(lambda: any(isinstance(e, Reconnecting) and "storage" in e.reason for e in events))
            reasons = [e.reason for e in events if isinstance(e, Reconnecting) and "storage" in e.reason]
            assert reasons[0].startswith(f"login refused by {second.host}:{second.port}: the server cannot"), reasons
            assert "try again" not in reasons[0] and reasons[0].endswith("the client tries again by itself"), reasons
        finally:
            await gil.close()

    with FakeServer() as first, FakeServer(refuse=("unavailable", "busy")) as second:
        run(lambda: test(first, second))
