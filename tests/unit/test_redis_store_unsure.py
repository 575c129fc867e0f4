"""The Redis store tells "not done" from "perhaps done" (StoreUnavailable.maybe_done), and
the answer to the client says which (server/login.py's unavailable_error).

A command the RESP client wrote and got no answer to (Redis paused, slow, cut off after
it) may run all the same; one it never wrote cannot have. Driven with a fake client whose
pipelines fail as the test says, on an event loop whose clock stands still.
"""

from __future__ import annotations

import asyncio

import pytest

from protocol import ErrorCode
from resp import RedisConnectionError, RedisTimeout
from server.config import ServerConfig
from server.login import unavailable_error
from server.store import StoreUnavailable
from server.stores.redis import RedisStore

from test_redis_store_drain import FakeClient, _run, _store, _turns


def _block(store: RedisStore) -> list:
    """Submit one write (a block); its answer lands in the list returned."""
    answers: list = []
    store.set_block("alice", "bob", True, answers.append, answers.append)
    return answers


def _failure_of(exc: BaseException) -> StoreUnavailable:
    result: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        answers = _block(store)
        await _turns(3)
        client.sent[0][1].set_exception(exc)
        await _turns(10)
        result.extend(answers)
    _run(scenario)
    assert len(result) == 1 and isinstance(result[0], StoreUnavailable), result
    return result[0]


def test_an_operation_written_and_unanswered_may_have_been_done() -> None:
    timed_out = _failure_of(RedisTimeout("no reply within 5 s; the command may or may not have run"))
    assert timed_out.maybe_done and timed_out.storage
    lost = _failure_of(RedisConnectionError("lost the connection; the command may or may not have run"))
    assert lost.maybe_done
    # An exception the RESP client did not make says nothing of the kind: perhaps done.
    assert _failure_of(TimeoutError("timed out")).maybe_done


def test_an_operation_never_written_was_not_done() -> None:
    unsent = _failure_of(RedisConnectionError("cannot connect; the command was not sent", sent=False))
    assert not unsent.maybe_done
    assert not _failure_of(RedisTimeout("no connection within 5 s; the command was not sent", sent=False)).maybe_done


def test_closing_the_store_tells_written_operations_from_unsent_ones() -> None:
    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        client.close = lambda: asyncio.sleep(0)  # what close() calls last
        written = _block(store)
        await _turns(3)
        assert len(client.sent) == 1  # in Redis's hands, unanswered
        unsent = _block(store)  # submitted, not yet written
        store.close()
        await _turns(3)
        assert [f.maybe_done for f in written] == [True]
        assert [f.maybe_done for f in unsent] == [False]
    _run(scenario)


def test_the_answer_says_nothing_was_done_only_when_nothing_was() -> None:
    config = ServerConfig()
    sure = unavailable_error(config, "7", StoreUnavailable("disk full"))
    assert sure.code == ErrorCode.UNAVAILABLE and sure.uncertain is None
    assert "nothing was done" in sure.message and sure.retry_after == config.unavailable_retry_after
    unsure = unavailable_error(config, "7", StoreUnavailable("no reply", maybe_done=True))
    assert unsure.code == ErrorCode.UNAVAILABLE and unsure.uncertain is True
    assert "nothing was done" not in unsure.message and "may have been" in unsure.message
    assert "same id" in unsure.message and unsure.retry_after == config.unavailable_retry_after
    assert unavailable_error(config, "7").uncertain is None  # no failure at hand: as before


def test_a_batch_redis_had_forgotten_the_scripts_of_was_not_done_if_the_reload_gets_no_answer() -> None:
    """Answered NOSCRIPT (Redis restarted: nothing of the batch ran), then the SCRIPT LOAD
    written and unanswered: whatever became of the LOAD, the operations did not run."""
    from resp import RedisError
    result: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)

        async def execute(*args, timeout=None):
            raise RedisTimeout("no reply within 5 s; the command may or may not have run")
        client.execute = execute
        answers = _block(store)
        await _turns(3)
        client.sent[0][1].set_result([RedisError("NOSCRIPT", "No matching script")])
        await _turns(10)
        result.extend(answers)
    _run(scenario)
    assert len(result) == 1 and isinstance(result[0], StoreUnavailable) and not result[0].maybe_done, result


def _dm(store: RedisStore, request_id: str, answers: list) -> None:
    """Submit Ana's direct message ``request_id`` to Bia; its answer lands in ``answers``:
    ``(request_id, "stored")`` or ``(request_id, "refused", maybe_done)``."""
    store.store_fields(("Ana", "ana", "Bia", "bia", f"text {request_id}", 1000.0, request_id, "queued", 2000.0),
                       lambda _stored: answers.append((request_id, "stored")),
                       lambda failure: answers.append((request_id, "refused", failure.maybe_done)))


def _lost() -> RedisConnectionError:
    return RedisConnectionError("lost the connection; the command may or may not have run")


def test_a_message_read_as_an_earlier_ones_pipeline_fails_is_refused_unsent_after_it() -> None:
    """Ana's d1 is in a pipeline when it fails (Redis's connection lost); her d2 is read in
    that same loop turn, before the relay is told of d1's failure (and can hold her
    conversation back: server/sendorder.py). d2 must not be handed to Redis: on the next
    connection it would be stored before d1, which comes again only once refused (seen in
    the cluster's chaos run, seed 58). It is refused after d1, as never sent; the next
    message, submitted after the answers, goes to Redis."""
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        _dm(store, "d1", answers)
        await _turns(3)
        assert len(client.sent) == 1
        client.sent[0][1].set_exception(_lost())
        _dm(store, "d2", answers)  # read in the turn the failure happened
        await _turns(10)
        assert answers == [("d1", "refused", True), ("d2", "refused", False)]
        assert len(client.sent) == 1, "d2 was handed to Redis behind a failed pipeline not answered yet"
        _dm(store, "d3", answers)
        await _turns(3)
        assert len(client.sent) == 2  # after the answers: sent as usual
    _run(scenario)


def test_a_message_queued_when_an_earlier_failure_is_answered_is_refused_with_it() -> None:
    """d2 is submitted a turn after d1's pipeline failed, still before the store answers
    that failure, and waits for the end of the turn: answering d1's failure refuses it too
    (its sender could not yet hold it back), instead of writing it to Redis."""
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        _dm(store, "d1", answers)
        await _turns(3)
        client.sent[0][1].set_exception(_lost())
        await _turns(1)  # the task awaiting the pipeline woke: the store answers next turn
        assert answers == []
        _dm(store, "d2", answers)
        await _turns(10)
        assert answers == [("d1", "refused", True), ("d2", "refused", False)]
        assert len(client.sent) == 1, "d2 was written to Redis though submitted before d1's failure was answered"
    _run(scenario)


@pytest.mark.logs_tracebacks("answers Redis never gives, each logged as unreadable")
def test_refusals_behind_a_failure_end_while_messages_keep_coming_every_turn() -> None:
    """One message a loop turn from the failure on: those submitted before the failure was
    answered are refused, and the refusals do not feed each other for ever: within a few
    turns the messages go to Redis again, and every one is answered, in order."""
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        _dm(store, "d0", answers)
        await _turns(3)
        client.sent[0][1].set_exception(_lost())
        for n in range(1, 21):
            _dm(store, f"d{n}", answers)
            await _turns(1)
        assert len(client.sent) > 1, "every message after the failure was refused: the refusals fed each other"
        refused = [a[0] for a in answers if a[1] == "refused"]
        assert 2 <= len(refused) <= 5, answers  # d0, and the few of the turns before its answer
        for _, future in client.sent[1:]:
            future.set_result([[b"1"]])  # (any reply: answered, whatever it says)
        await _turns(10)
        assert [a[0] for a in answers][:len(refused)] == [f"d{n}" for n in range(len(refused))]
    _run(scenario)


def _blocks(store: RedisStore, count: int, answers: list) -> None:
    """Submit ``count`` writes (blocks) in one turn; their answers land in ``answers``."""
    for n in range(count):
        store.set_block("alice", f"user{n}", True, lambda _: answers.append("done"), answers.append)


def test_a_pipeline_answered_noscript_in_part_is_not_sent_again() -> None:
    """A pipeline is not a transaction: of its BATCH calls, one answered NOSCRIPT did not
    run, and one after it may have run (another node loaded the script in between). So
    the store sends a pipeline again (after SCRIPT LOAD) only when every call of it was
    answered NOSCRIPT: sent again, a call that ran would run twice. Else the calls that
    ran are answered, and those answered NOSCRIPT refused as not done."""
    from resp import RedisError
    from server.stores import redis_scripts as lua
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)

        async def refused(*args, timeout=None):
            raise AssertionError(f"sent again: {args[:2]}")
        client.execute = client.pipeline_encoded = refused
        _blocks(store, lua.BATCH_OPS + 1, answers)  # two BATCH calls in one pipeline
        await _turns(3)
        assert len(client.sent) == 1 and len(client.sent[0][0]) == 2
        client.sent[0][1].set_result([RedisError("NOSCRIPT", "No matching script"), [None]])
        await _turns(10)
    _run(scenario)
    assert len(answers) == 257
    refused = answers[:lua.BATCH_OPS]
    assert all(isinstance(a, StoreUnavailable) and not a.maybe_done for a in refused), refused[:2]
    assert answers[lua.BATCH_OPS] == "done"


def test_a_pipeline_answered_noscript_throughout_is_sent_again_once_after_the_scripts_are_loaded() -> None:
    from resp import RedisError
    from server.stores import redis_scripts as lua
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        loads: list = []

        async def execute(*args, timeout=None):
            assert args[:2] == ("SCRIPT", "LOAD")
            loads.append(len(client.sent))  # the pipelines written before it
            return lua.BATCH.sha1
        client.execute = execute
        _blocks(store, lua.BATCH_OPS + 1, answers)
        await _turns(3)
        client.sent[0][1].set_result([RedisError("NOSCRIPT", "No matching script")] * 2)
        await _turns(10)
        assert loads == [1] and [commands for commands, _ in client.sent] == [client.sent[0][0]] * 2
        client.sent[1][1].set_result([[None] * lua.BATCH_OPS, [None]])
        await _turns(10)
    _run(scenario)
    assert answers == ["done"] * (lua.BATCH_OPS + 1)


def _noscript() -> list:
    from resp import RedisError
    return [RedisError("NOSCRIPT", "No matching script")]


def test_what_is_submitted_while_the_scripts_are_loaded_again_runs_after_what_is_sent_again() -> None:
    """Ana's edit e1 is answered NOSCRIPT (Redis forgot its scripts); while the SCRIPT LOAD
    is on its way, her edit e2 of the same message is submitted. Written at once, e2 would
    run as soon as the scripts are loaded, before e1 is sent again: e1's older text would
    end as the message's. e2 waits, and is written right behind e1."""
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        loaded = loop.create_future()

        async def execute(*args, timeout=None):
            assert args[:2] == ("SCRIPT", "LOAD")
            return await loaded
        client.execute = execute
        store.set_block("ana", "e1", True, lambda _: answers.append("e1"), answers.append)
        await _turns(3)
        e1 = client.sent[0][0]
        client.sent[0][1].set_result(_noscript())
        await _turns(3)
        store.set_block("ana", "e2", True, lambda _: answers.append("e2"), answers.append)
        await _turns(3)
        assert len(client.sent) == 1, "written while the scripts were being loaded again"
        e2 = store._batches[-1][3].commands
        loaded.set_result("sha")
        await _turns(3)
        assert [commands for commands, _ in client.sent] == [e1, e1, e2]
        # Once they are written, the next is written at once, before their answers.
        store.set_block("ana", "e3", True, lambda _: answers.append("e3"), answers.append)
        await _turns(3)
        assert len(client.sent) == 4
        for _commands, replies in client.sent[1:]:
            replies.set_result([[None]])
        await _turns(10)
    _run(scenario)
    assert answers == ["e1", "e2", "e3"]


def test_a_call_answered_noscript_before_one_that_ran_is_refused_not_run_after_it() -> None:
    """Two pipelines in flight: the first answered NOSCRIPT, the second ran (another node
    loaded the scripts in between). Sent again, the first would run after the second:
    it is refused as not done, and nothing is sent again."""
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)

        async def refused(*args, timeout=None):
            raise AssertionError(f"sent: {args[:2]}")
        client.execute = refused
        store.set_block("ana", "first", True, lambda _: answers.append("first"), answers.append)
        await _turns(3)
        store.set_block("ana", "second", True, lambda _: answers.append("second"), answers.append)
        await _turns(3)
        assert len(client.sent) == 2
        client.sent[0][1].set_result(_noscript())
        client.sent[1][1].set_result([[None]])
        await _turns(10)
        assert len(client.sent) == 2
    _run(scenario)
    assert len(answers) == 2 and isinstance(answers[0], StoreUnavailable) and not answers[0].maybe_done, answers
    assert answers[1] == "second"


def test_pipelines_in_flight_all_answered_noscript_are_sent_again_together_in_their_order() -> None:
    answers: list = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        loads: list = []

        async def execute(*args, timeout=None):
            loads.append(args[:2])
            return "sha"
        client.execute = execute
        for name in ("first", "second"):
            store.set_block("ana", name, True, lambda _, name=name: answers.append(name), answers.append)
            await _turns(3)
        first, second = (commands for commands, _ in client.sent)
        client.sent[0][1].set_result(_noscript())
        await _turns(3)
        client.sent[1][1].set_result(_noscript())
        await _turns(3)
        assert loads == [("SCRIPT", "LOAD")] and client.sent[2][0] == first + second
        client.sent[2][1].set_result([[None], [None]])
        await _turns(10)
    _run(scenario)
    assert answers == ["first", "second"]


class ClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the test moves it (``now``)."""

    now = 1000.0

    def time(self) -> float:
        return self.now


class TimedClient(FakeClient):
    """The RESP client's pipelines and commands as the store uses them, with its deadlines:
    each is answered when the test says, or fails with RedisTimeout once the loop's clock
    passes its timeout (``timeout`` seconds, or the call's own)."""

    def __init__(self, loop: ClockLoop, timeout: float) -> None:
        super().__init__(loop)
        self.timeout = timeout
        self.deadlines: list[tuple[float, asyncio.Future]] = []
        self.loads: list[asyncio.Future] = []

    def _due(self, future: asyncio.Future, timeout: float | None) -> None:
        self.deadlines.append((self.loop.time() + (self.timeout if timeout is None else timeout), future))

    def pipeline_now(self, commands: list[bytes], timeout: float | None = None) -> asyncio.Future:
        future = super().pipeline_now(commands)
        self._due(future, timeout)
        return future

    async def execute(self, *args, timeout=None):
        assert args[:2] == ("SCRIPT", "LOAD")
        future = self.loop.create_future()
        self.loads.append(future)
        self._due(future, timeout)
        return await future

    def expire(self) -> None:
        for deadline, future in self.deadlines:
            if deadline <= self.loop.time() and not future.done():
                future.set_exception(RedisTimeout("no reply within the timeout; the command may or may not have run"))


@pytest.mark.parametrize("loaded_after", [0.9, 0.02])
def test_an_operation_answered_noscript_is_answered_within_one_store_timeout(loaded_after: float) -> None:
    """Ana's e1 is answered NOSCRIPT just before the store's timeout T (Redis slow after a
    restart); the SCRIPT LOAD is answered ``loaded_after`` T later, and what is sent again
    never. Her e2 is submitted while the load is on its way. Each must be answered within
    T of its submission, as any operation is: before, the reply, the load and the call
    sent again each had a T of their own (e1 answered 2.8 T after it was sent, e2 1.85 T;
    with a quick load, e1 at 1.92 T)."""
    loop = ClockLoop()
    answered: dict[str, tuple[float, object]] = {}

    async def scenario() -> None:
        store, _ = _store(loop)
        timeout = store.timeout
        client = store._client = TimedClient(loop, timeout)
        submitted = {}

        def edit(tag: str) -> None:
            submitted[tag] = loop.time()
            store.set_block("ana", tag, True, lambda _: answered.setdefault(tag, (loop.time(), "done")),
                            lambda failure: answered.setdefault(tag, (loop.time(), failure)))

        edit("e1")
        await _turns(3)
        start, step = loop.time(), timeout / 100
        for n in range(1, 400):
            if len(answered) == 2:
                break
            loop.now = start + n * step
            client.expire()
            elapsed = loop.now - start
            if abs(elapsed - 0.9 * timeout) < step / 2:
                client.sent[0][1].set_result(_noscript())
            if abs(elapsed - 0.95 * timeout) < step / 2:
                edit("e2")
            if client.loads and not client.loads[0].done() and elapsed >= (0.9 + loaded_after) * timeout - step / 2:
                client.loads[0].set_result(b"sha")
            await _turns(5)
        for tag, (at, _answer) in answered.items():
            # (Seen at the step after the deadline: float sums may put it a hair past one.)
            assert at - submitted[tag] <= timeout + step * 1.01, (tag, (at - submitted[tag]) / timeout, answered)
        assert sorted(answered) == ["e1", "e2"], answered
        store._client = client  # (nothing left to close)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert all(isinstance(answer, StoreUnavailable) for _at, answer in answered.values()), answered
    # A load that came too late sends nothing (not done); one in time sends e1 again and
    # e2 behind it, unanswered (perhaps done).
    assert [answered[tag][1].maybe_done for tag in ("e1", "e2")] == [loaded_after < 0.1] * 2, answered



def _arguments(command: bytes) -> list[bytes]:
    """The arguments of one RESP command (an array of bulk strings)."""
    count, rest = command[1:].split(b"\r\n", 1)
    args = []
    for _ in range(int(count)):
        size, rest = rest[1:].split(b"\r\n", 1)
        args.append(rest[:int(size)])
        rest = rest[int(size) + 2:]
    return args


@pytest.mark.parametrize("load_fails", ["lost", "refused"])
def test_messages_written_as_the_scripts_fail_to_load_go_behind_the_one_answered_noscript(load_fails: str) -> None:
    """Ana's d1 is answered NOSCRIPT, and the SCRIPT LOAD fails (its connection lost, or
    Redis refuses it: out of memory): d1 did not run and is refused. Her d2, d3... (one a
    loop turn) submitted in the turn or two before that refusal is answered (before the
    relay can hold her conversation back: server/sendorder.py) are written to Redis, where
    another node may have loaded the scripts meanwhile. That keeps her order all the same
    because each goes behind the one before it (RedisStore._behind): Redis stores it only
    if that one is stored, so d2 is refused BEHIND (d1 never ran), d3 behind d2, and so on;
    a resend is recognised by its id, so nothing is stored twice (the rule's comment:
    RedisStore._reload_scripts). The test holds that rule in place."""
    from resp import RedisError
    answers: list = []
    before: list[str] = []

    async def scenario(loop: asyncio.AbstractEventLoop) -> None:
        store, client = _store(loop)
        load = loop.create_future()

        async def execute(*args, timeout=None):
            assert args[:2] == ("SCRIPT", "LOAD")
            return await load
        client.execute = execute
        _dm(store, "d1", answers)
        await _turns(3)
        client.sent[0][1].set_result(_noscript())
        await _turns(3)
        if load_fails == "lost":
            load.set_exception(_lost())
        else:
            load.set_result(RedisError("OOM", "command not allowed when used memory > 'maxmemory'"))
        for n in range(2, 10):
            if not answers:
                before.append(f"d{n}")
            _dm(store, f"d{n}", answers)
            await _turns(1)
        await _turns(10)
        assert answers[:1] == [("d1", "refused", False)] and before, (before, answers)
        written = {}
        for commands, _ in client.sent[1:]:
            for command in commands:
                args = _arguments(command)
                fields = args[6].decode().split("\t")  # STORE_PACKED(_AFTER)'s packed fields, the id last
                written[fields[-1]] = args[7].decode() if len(args) == 9 else None  # the id it goes behind
        for n, tag in enumerate(before, 2):
            # Refused unsent (held, or behind a failure) or written behind the one before it.
            assert tag not in written or written[tag] == f"d{n - 1}", (tag, written)
        assert any(tag in written for tag in before), "none was written: the test no longer shows the rule"
    _run(scenario)


def test_held_pipelines_are_refused_together_when_the_load_is_answered_at_the_first_ones_deadline() -> None:
    """The edge of 60b1a858 (RedisStore._reload_scripts, ``late``). Ana's a1 is answered
    NOSCRIPT at once, her a2, written after it, ran (another node loaded the scripts in
    between: a1 is refused, nothing is sent again). Made while a2 was unanswered, h1 (in
    the same instant as a1) and h2 (T/2 later) are held; the SCRIPT LOAD is bounded by the
    earliest deadline (a1's and h1's, T after they were made) and answered at that very
    instant: h1's time is up, h2's is not. Made in order, h2 must not be written while h1
    is refused unsent (it would run before h1, which its caller sends again once told):
    both are refused, in their order. Before: h2 was written, h1 refused."""
    loop = ClockLoop()
    answers: list = []

    async def scenario() -> None:
        store, _ = _store(loop)
        timeout = store.timeout
        client = store._client = TimedClient(loop, timeout)

        def block(tag: str) -> None:
            store.set_block("ana", tag, True, lambda _: answers.append((tag, "done")),
                            lambda failure: answers.append((tag, "refused", failure.maybe_done)))

        start = loop.now
        block("a1")
        await _turns(3)
        block("a2")
        await _turns(3)
        assert len(client.sent) == 2
        client.sent[0][1].set_result(_noscript())
        await _turns(3)
        block("h1")  # made at a1's instant: held, as the scripts are loaded again
        await _turns(3)
        loop.now = start + timeout / 2
        block("h2")
        await _turns(3)
        assert len(client.sent) == 2, "h1 and h2 are held"
        client.sent[1][1].set_result([[None]])  # a2 ran: the reload is decided, the load sent
        await _turns(3)
        assert len(client.loads) == 1
        loop.now = start + timeout  # h1's deadline (and a1's, and the load's)
        client.loads[0].set_result(b"sha")
        client.expire()
        await _turns(10)
        assert len(client.sent) == 2, ("h2 written while h1, made before it, was refused unsent",
                                       [commands for commands, _ in client.sent[2:]], answers)
        store._client = client  # (nothing left to close)

    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert answers == [("a1", "refused", False), ("a2", "done"), ("h1", "refused", False), ("h2", "refused", False)], \
        answers
