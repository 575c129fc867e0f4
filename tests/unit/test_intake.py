"""The gate on history requests (server/intake.py), and the session's held reading.

A client's burst of history requests must not be answered all at once (the store's pages
come back in one loop turn, past the hard mark): at most ``limit`` are with the store, none
begins while the queue lags, and the frames behind a request that waits are not handled,
in order, until it may begin. Driven without sockets: fake transports, a stub relay whose
store answers when the test says, and the server's sweep with stand-in sessions.
"""

from __future__ import annotations

import asyncio
import time
import types

from const import PROTOCOL_VERSION
from protocol import ErrorCode, HistoryRequest, LookupRequest, SendDirect, State, Welcome
from server import app
from server.config import ServerConfig
from server.intake import Intake
from server.session import ClientSession


class Transport:
    """Records what the session asks of asyncio's transport."""

    def __init__(self) -> None:
        self.paused = False
        self.calls: list[str] = []
        self.written: list[bytes] = []

    def pause_reading(self) -> None:
        self.paused = True
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.paused = False
        self.calls.append("resume")

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_write_buffer_size(self) -> int:
        return 0


class Relay:
    """Handles what the session reads: history requests through the gate, to a store that
    answers when told (``answer``); everything else is noted at once."""

    def __init__(self, limit: int = 2) -> None:
        self.config = ServerConfig()
        self.intake = Intake(limit)
        self.handled: list[str] = []  # request ids, in the order they were handled
        self.with_store: list = []  # (callback, on_error) of the history requests asked

    def handle(self, session: ClientSession, event) -> None:
        if type(event) is HistoryRequest:
            self._history(session, event)
        else:
            self.handled.append(event.request_id)

    def _history(self, session: ClientSession, request: HistoryRequest) -> None:
        if not self.intake.admit(session, self._history, request):
            return
        self.handled.append(request.request_id)
        self.with_store.append(self.intake.track(session, lambda page: None, lambda failure: None))

    def answer(self) -> None:
        callback, _ = self.with_store.pop(0)
        callback(([], None))


def _session(relay: Relay) -> tuple[ClientSession, Transport]:
    session = ClientSession(relay, batcher=None)  # type: ignore[arg-type]
    session.conn.send(Welcome("h", "Alice", PROTOCOL_VERSION, "test", 30.0))
    session.transport = transport = Transport()  # type: ignore[assignment]
    return session, transport


def _frames(*events) -> bytes:
    from protocol.codec import encode
    return b"".join(encode(event) for event in events)


BURST = _frames(HistoryRequest("h1", "Bob"), HistoryRequest("h2", "Bob"), HistoryRequest("h3", "Bob"),
                SendDirect("s1", "Bob", "hi"), HistoryRequest("h4", "Bob"), LookupRequest("w1", "Bob"))


def test_a_burst_of_history_requests_is_handled_as_the_answers_come_back_in_order():
    relay = Relay(limit=2)
    session, transport = _session(relay)
    session.receive_chat(BURST)
    # Two with the store; the third waits, and so does everything behind it: unread.
    assert relay.handled == ["h1", "h2"] and transport.calls == ["pause"]
    assert session.reading_held_since is not None
    session.receive_chat(_frames(LookupRequest("w2", "Bob")))  # a read that was under way
    assert relay.handled == ["h1", "h2"]
    relay.answer()  # one back: h3 begins, then the send; h4 waits again
    assert relay.handled == ["h1", "h2", "h3", "s1"] and transport.paused
    relay.answer()
    assert relay.handled == ["h1", "h2", "h3", "s1", "h4", "w1", "w2"]
    assert not transport.paused and transport.calls[-1] == "resume" and session.reading_held_since is None
    relay.answer()
    relay.answer()
    assert relay.intake.in_flight(session) == 0 and relay.with_store == []


def test_a_failed_answer_frees_its_place_too():
    relay = Relay(limit=1)
    session, transport = _session(relay)
    session.receive_chat(_frames(HistoryRequest("h1", "Bob"), HistoryRequest("h2", "Bob")))
    assert relay.handled == ["h1"]
    _, on_error = relay.with_store.pop(0)
    on_error(object())
    assert relay.handled == ["h1", "h2"] and transport.calls == ["pause", "resume"]


def test_none_begins_while_the_queue_lags_and_the_drain_lets_it():
    relay = Relay(limit=2)
    session, transport = _session(relay)
    session.write_paused = True  # over the soft mark
    session.receive_chat(_frames(HistoryRequest("h1", "Bob"), LookupRequest("w1", "Bob")))
    assert relay.handled == [] and transport.paused and session.held  # relay.drained will be called
    relay.intake.drained(session)  # not drained yet: still lagging
    assert relay.handled == []
    session.write_paused = False
    relay.intake.drained(session)
    assert relay.handled == ["h1", "w1"] and not transport.paused


def test_an_answer_while_the_queue_lags_waits_for_the_drain():
    relay = Relay(limit=1)
    session, transport = _session(relay)
    session.receive_chat(_frames(HistoryRequest("h1", "Bob"), HistoryRequest("h2", "Bob")))
    session.write_paused = True
    relay.answer()
    assert relay.handled == ["h1"] and transport.paused and session.held
    session.write_paused = False
    relay.intake.drained(session)
    assert relay.handled == ["h1", "h2"]


def test_a_session_that_leaves_leaves_nothing_behind():
    relay = Relay(limit=1)
    session, transport = _session(relay)
    session.receive_chat(_frames(HistoryRequest("h1", "Bob"), HistoryRequest("h2", "Bob")))
    session.closing = True
    relay.intake.forget(session)
    relay.answer()  # the answer to a session gone
    assert relay.handled == ["h1"] and relay.intake.in_flight(session) == 0 and not relay.intake._kept


def test_the_release_runs_at_the_next_loop_turn_not_inside_the_store_answer():
    async def run() -> list[str]:
        relay = Relay(limit=1)
        session, _ = _session(relay)
        session.receive_chat(_frames(HistoryRequest("h1", "Bob"), HistoryRequest("h2", "Bob"),
                                     LookupRequest("w1", "Bob")))
        relay.answer()
        during = list(relay.handled)
        await asyncio.sleep(0)
        return [*during, "|", *relay.handled]

    assert asyncio.run(run()) == ["h1", "|", "h1", "h2", "w1"]


def test_held_time_does_not_count_against_the_unfinished_frame():
    relay = Relay(limit=1)
    session, _ = _session(relay)
    before = time.monotonic()
    session.receive_chat(_frames(HistoryRequest("h1", "Bob"), HistoryRequest("h2", "Bob")) + b'{"type":')
    started = session.conn.unfinished_since
    session.reading_held_since -= 20.0  # held for 20 s
    relay.answer()
    # moved on by the time held: 20 s, and what this test took (held from the frames' arrival)
    assert started + 20.0 <= session.conn.unfinished_since <= started + 20.0 + (time.monotonic() - before)


# --- The sweep: a session whose reading we hold --------------------------------------------


class _Swept:
    """What the sweep reads of a session, silent for long; notes what was done to it."""

    unfinished_since = None
    pinged = False
    is_open = True
    closing = False

    def __init__(self, held_for: float | None, write_paused: bool) -> None:
        self.made = now = time.monotonic()
        self.conn = types.SimpleNamespace(state=State.OPEN)
        self.connected_at = None
        self.last_seen = now - 100.0  # silent far past the heartbeat timeout
        self.reading_held_since = None if held_for is None else now - held_for
        self.write_paused = write_paused
        self.done: list = []

    def send(self, event) -> None:
        self.done.append(("send", type(event).__name__))

    def end(self, code: str, message: str, reason: str) -> None:
        self.done.append(("end", code))
        self.closing = True

    def stalled(self, held: float) -> None:
        self.done.append(("stalled", held))
        self.closing = True


class _Sessions(list):
    """The sessions, counting the sweep's passes: each pass lists them once."""

    passes = 0

    def __iter__(self):
        self.passes += 1
        return super().__iter__()


def _sweep(sessions: list[_Swept]) -> None:
    async def run() -> None:
        server = app.ChatServer(ServerConfig(heartbeat_interval=0.05, heartbeat_timeout=10.0, login_timeout=0.2))
        swept = _Sessions(sessions)
        server.relay = types.SimpleNamespace(sessions=swept, probes={}, expire=lambda now: None,
                                             metrics=types.SimpleNamespace(activity=lambda: 0),
                                             after=types.SimpleNamespace(look_at_clock=lambda: None))
        sweep = asyncio.create_task(server._sweep_forever())
        # A few passes (one every 0.05 s), counted: a sleep of 0.15 s could end first on a
        # loaded machine, the sweep's first timer set after it.
        while swept.passes < 3:
            await asyncio.sleep(0.01)
        sweep.cancel()

    asyncio.run(asyncio.wait_for(run(), 10.0))


def test_a_session_whose_reading_we_hold_is_not_dropped_for_its_silence():
    free, held, stuck = _Swept(None, False), _Swept(30.0, False), _Swept(30.0, True)
    waiting = _Swept(5.0, True)  # waits for its client to read, not yet a heartbeat long
    _sweep([free, held, stuck, waiting])
    assert free.done == [("end", ErrorCode.HEARTBEAT_TIMEOUT)]  # as before
    assert held.done == [] and waiting.done == []  # its silence is ours
    # A heartbeat long, its client reads nothing: held since 30 s before it was made (not
    # rounded: 0.5 s of a loaded machine between then and the pass made it 31).
    [(act, held_for)] = stuck.done
    assert act == "stalled" and 30.0 <= held_for <= 30.0 + (time.monotonic() - stuck.made), stuck.done


def test_a_session_held_while_its_hello_is_decided_still_has_the_login_timeout():
    # Reading is held while a password is checked (Relay._hello): its silence is ours, but
    # a check that never ends must not keep the connection for ever (login_timeout: 0.2 s).
    deciding = _Swept(30.0, False)
    deciding.conn.state, deciding.is_open = State.HANDSHAKE, False
    deciding.connected_at = time.monotonic() - 1.0
    _sweep([deciding])
    assert deciding.done == [("end", ErrorCode.LOGIN_TIMEOUT)]
