"""How the Redis store encodes a turn's operations and answers them, without Redis: the
bytes a BATCH call carries, byte for byte as the generic encoder makes them, and the work
spent on them; each operation's answer from the call's reply."""

from __future__ import annotations

import asyncio
import logging

import pytest

from resp import Connection, RedisError, encode_command
from server.stores import redis as module
from server.stores import redis_scripts as lua
from server.stores.redis import RedisStore


def _store() -> tuple[RedisStore, list]:
    """A store that queues but never sends (no loop), and the scripts its ``_command`` was
    asked to encode."""
    store = RedisStore("redis://127.0.0.1:1/0")
    store._scheduled = True  # as if the turn's send were scheduled already: nothing is sent
    asked: list = []
    command = store._command
    store._command = lambda script, args: asked.append(script) or command(script, args)
    return store, asked


def _number(script) -> int:
    return lua.SCRIPTS.index(script) + 1


def test_a_turns_joined_receipts_and_acks_are_encoded_at_once_not_through_command():
    """A joined operation of receipts (acks) is filled into its packed script's form at
    once, for ``size`` and ``command`` together (bench/PROFILE.md, the cluster path's
    round eleven: about one joined operation per message in the benchmark), not through
    ``_command``'s loop and look-up; the BATCH call is byte for byte what the generic
    encoder makes of the same arguments."""
    store, asked = _store()
    store.record_receipt(1, "bob", sender_key="alice")
    store.record_receipt(22, "bob", sender_key="alice")
    store.record_ack(1, "alice")
    store.record_ack(333, "carol")
    receipts, acks = store._queued
    assert (receipts.size, acks.size, receipts.size) == (3, 3, 3)
    call = store._call(store._queued)
    assert asked == []
    assert call == encode_command(("EVALSHA", lua.BATCH.sha1, 0, store.prefix,
                                   _number(lua.RECEIPTS_PACKED), 1, "1\tbob\talice\t22\tbob\talice",
                                   _number(lua.ACKS_PACKED), 1, "1\talice\t333\tcarol"))
    store.record_ack(4, "alice")  # joined to the acks: encoded again, with it
    assert acks.size == 3 and acks.command == encode_command(("X", _number(lua.ACKS_PACKED), 1,
                                                              "1\talice\t333\tcarol\t4\talice"))[len(b"*3\r\n$1\r\nX\r\n"):]


def test_a_joined_operation_with_a_tab_in_a_key_goes_argument_by_argument_as_before():
    store, asked = _store()
    store.record_receipt(1, "bob", sender_key="al\tice")
    store.record_receipt(2, "bob", sender_key="alice")
    (receipts,) = store._queued
    assert receipts.size == 2 + 6
    assert store._call(store._queued) == encode_command(("EVALSHA", lua.BATCH.sha1, 0, store.prefix,
                                                         _number(lua.RECEIPTS), 6,
                                                         1, "bob", "al\tice", 2, "bob", "alice"))
    assert asked == [lua.RECEIPTS]


class _Answered:
    """A pipeline's task, done, with ``replies``: what _answer_ready reads of one."""

    def __init__(self, replies: list) -> None:
        self.replies = replies

    def done(self) -> bool:
        return True

    def cancelled(self) -> bool:
        return False

    def exception(self) -> None:
        return None

    def result(self) -> list:
        return self.replies


@pytest.mark.logs_tracebacks("a callback made to raise")
def test_each_receipt_and_ack_of_a_joined_operation_is_answered_in_order_and_a_failing_callback_stops_none(
        caplog):
    """A joined operation's answers (bench/PROFILE.md, the cluster path's round eleven,
    made without a list per operation): a receipt's None, an ack's True or False, each to
    its own callback in submission order; a callback that raises is logged and the others
    still run; an error reply refuses each one of the operation it answers."""
    store, _asked = _store()
    answers: list = []

    def boom(_answer) -> None:
        raise RuntimeError("a callback's bug")

    store.record_receipt(1, "bob", lambda a: answers.append(("receipt", 1, a)), sender_key="alice")
    store.record_receipt(2, "bob", boom, sender_key="alice")
    store.record_receipt(3, "bob", None, sender_key="alice")
    store.record_receipt(4, "bob", lambda a: answers.append(("receipt", 4, a)), sender_key="alice")
    store.history("alice", "bob", None, 10, 0, None)  # between: the acks are an operation of their own
    for msg_id, callback in ((1, boom), (2, None), (3, lambda a: answers.append(("ack", 3, a))),
                             (4, lambda a: answers.append(("ack", 4, a)))):
        store.record_ack(msg_id, "alice", callback)
    store.record_ack(5, "alice", lambda a: answers.append(("ack", 5, a)))
    store.history("alice", "bob", None, 10, 0, None)
    store.record_ack(6, "alice", None, lambda e: answers.append(("ack", 6, str(e))))
    store.record_ack(7, "alice", None, lambda e: answers.append(("ack", 7, str(e))))
    batch, store._queued = store._queued, []
    submitted, store._submitted = store._submitted, []
    assert [operation.count for operation in batch if isinstance(operation, module._Many)] == [4, 5, 2]
    replies = [4, RedisError("ERR", "a page's bug"), b"00110", [], RedisError("OOM", "no memory")]
    with caplog.at_level(logging.ERROR, logger="chat.store"):
        store._batches.append((batch, submitted, _Answered(replies), None))
        store._answer_ready()
    refused = "Redis at redis://127.0.0.1:1/0 refused the work: OOM no memory"
    assert answers == [("receipt", 1, None), ("receipt", 4, None), ("ack", 3, True), ("ack", 4, True),
                       ("ack", 5, False), ("ack", 6, refused), ("ack", 7, refused)]
    assert [r.message for r in caplog.records].count("store callback failed") == 2


class _Redis:
    """What the store's client half sees of Redis, without a socket: each pipeline's BATCH
    calls, read back into their operations, ``(script, arguments)``, in the order Redis
    would run them (``calls``, one list per call), each answered by ``answer``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, answer) -> None:
        self.loop, self.answer = loop, answer
        self.calls: list[list[tuple]] = []

    def pipeline_now(self, commands: list[bytes]) -> asyncio.Future:
        future = self.loop.create_future()
        future.set_result(self.answer_all(self.read(commands)))
        return future

    def read(self, commands: list[bytes]) -> list[list[tuple]]:
        """The pipeline's calls, each its operations (noted in ``calls``)."""
        calls = []
        for command in commands:
            reader = Connection()
            reader.send_encoded(b"")  # a pending command, for the call's bytes to answer
            reader.receive_data(command)
            _token, args = reader.next_reply()
            assert args[:4] == [b"EVALSHA", lua.BATCH.sha1.encode(), b"0", b"{chat}:"]
            operations, i = [], 4
            while i < len(args):
                count = int(args[i + 1])
                operations.append((lua.SCRIPTS[int(args[i]) - 1], args[i + 2:i + 2 + count]))
                i += 2 + count
            self.calls.append(operations)
            calls.append(operations)
        return calls

    def answer_all(self, calls: list[list[tuple]]) -> list[list]:
        return [[self.answer(script, arguments) for script, arguments in call] for call in calls]


def _redis_answers(refuse=()):
    """A stand-in for the scripts' replies: a store's new id (from 11), a receipts
    operation's count, an acks operation's '1' per ack (each ack its sender's), a page's
    empty list; a script in ``refuse`` answers an OOM error."""
    ids = iter(range(11, 100))

    def answer(script, arguments):
        if script in refuse:
            return RedisError("OOM", "no memory")
        if script is lua.STORE_PACKED or script is lua.STORE_PACKED_AFTER:
            return next(ids)
        if script is lua.RECEIPTS_PACKED:
            return arguments[0].count(b"\t") // 3 + 1
        if script is lua.ACKS_PACKED:
            return b"1" * (arguments[0].count(b"\t") // 2 + 1)
        return []
    return answer


def _fields(n: int) -> tuple:
    return ("Alice", "alice", "Bob", "bob", f"message {n}", 1000.0 + n, f"c{n}", "sent")


def _turn(redis_answer, submit) -> tuple[list[list[tuple]], list]:
    """Run ``submit(store, answers)`` as one loop turn of a store whose Redis is _Redis;
    (the BATCH calls' operations, what the callbacks were given, in the order given)."""
    loop = asyncio.new_event_loop()
    try:
        store = RedisStore("redis://127.0.0.1:1/0")
        store._loop = loop
        store._client = redis = _Redis(loop, redis_answer)
        answers: list = []

        async def turn() -> None:
            submit(store, answers)
            await store.drain(timeout=5)
        loop.run_until_complete(asyncio.wait_for(turn(), 10))
        return redis.calls, answers
    finally:
        loop.close()


def test_a_turns_receipts_and_acks_are_one_operation_each_ahead_of_its_stores_and_answered_in_submission_order():
    """Issue 10 (bench/PROFILE.md, the cluster path's round twelve): a turn of store,
    receipt, store, receipt, ack, store, receipt makes ONE receipts operation and ONE acks
    operation, run first, then the stores in their order (as the SQLite store runs its
    receipts-and-acks group first: base.py); and every callback still runs in submission
    order."""
    def submit(store: RedisStore, answers: list) -> None:
        def stored(result) -> None:
            answers.append(("store", result[0].msg_id, result[1]))
        store.store_fields(_fields(1), stored)
        store.record_receipt(1, "bob", lambda a: answers.append(("receipt", 1, a)), sender_key="alice")
        store.store_fields(_fields(2), stored)
        store.record_receipt(2, "bob", lambda a: answers.append(("receipt", 2, a)), sender_key="alice")
        store.record_ack(1, "alice", lambda a: answers.append(("ack", 1, a)))
        store.store_fields(_fields(3), stored)
        store.record_receipt(3, "bob", lambda a: answers.append(("receipt", 3, a)), sender_key="alice")

    calls, answers = _turn(_redis_answers(), submit)
    # (The second and third each stored only behind the one before it: STORE_PACKED_AFTER.)
    assert _scripts(calls) == [[
        (lua.RECEIPTS_PACKED, [b"1\tbob\talice\t2\tbob\talice\t3\tbob\talice"]),
        (lua.ACKS_PACKED, [b"1\talice"]),
        (lua.STORE_PACKED, b"message 1"), (lua.STORE_PACKED_AFTER, b"message 2"),
        (lua.STORE_PACKED_AFTER, b"message 3")]]
    assert answers == [("store", 11, "new"), ("receipt", 1, None), ("store", 12, "new"), ("receipt", 2, None),
                       ("ack", 1, True), ("store", 13, "new"), ("receipt", 3, None)]


def test_receipts_and_acks_cross_only_stores_and_a_refused_operation_refuses_each_of_them_in_its_place():
    """Any operation but a store (here a history page) is not crossed: the receipts and
    acks submitted before it run before it, those after it after it. A refused joined
    operation answers each of its receipts or acks its on_error, each at its own place in
    submission order among the others' answers."""
    def submit(store: RedisStore, answers: list) -> None:
        store.store_fields(_fields(1), lambda result: answers.append(("store", result[0].msg_id)))
        store.record_ack(7, "alice", lambda a: answers.append(("ack", 7, a)), lambda e: answers.append(("ack", 7, "no")))
        store.record_receipt(4, "bob", None, lambda e: answers.append(("receipt", 4, "no")), sender_key="alice")
        store.history("alice", "bob", None, 10, 0, lambda page: answers.append(("page", page)))
        store.record_receipt(5, "bob", None, lambda e: answers.append(("receipt", 5, str(e))), sender_key="alice")
        store.store_fields(_fields(2), lambda result: answers.append(("store", result[0].msg_id)))
        store.record_ack(4, "alice", lambda a: answers.append(("ack", 4, a)), lambda e: answers.append(("ack", 4, "no")))
        store.record_receipt(6, "bob", None, lambda e: answers.append(("receipt", 6, str(e))), sender_key="alice")

    calls, answers = _turn(_redis_answers(refuse={lua.RECEIPTS_PACKED}), submit)
    assert [[script for script, _ in call] for call in calls] == [[
        lua.RECEIPTS_PACKED, lua.ACKS_PACKED, lua.STORE_PACKED, lua.HISTORY,
        lua.RECEIPTS_PACKED, lua.ACKS_PACKED, lua.STORE_PACKED_AFTER]]
    assert calls[0][4][1] == [b"5\tbob\talice\t6\tbob\talice"]
    refused = "Redis at redis://127.0.0.1:1/0 refused the work: OOM no memory"
    assert answers == [("store", 11), ("ack", 7, True), ("receipt", 4, "no"), ("page", ([], None)),
                       ("receipt", 5, refused), ("store", 12), ("ack", 4, True), ("receipt", 6, refused)]


class _ManualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock moves only when the test moves it."""

    now = 1000.0

    def time(self) -> float:
        return self.now


def _lazy_store(loop: asyncio.AbstractEventLoop) -> tuple[RedisStore, _Redis]:
    store = RedisStore("redis://127.0.0.1:1/0")
    store._loop = loop
    store._client = redis = _Redis(loop, _redis_answers())
    return store, redis


async def _turns(count: int = 5) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


def _scripts(calls: list[list[tuple]]) -> list[list]:
    """The calls' operations, a store's as its text (the rest as they went)."""
    return [[(script, arguments[1] if script is lua.STORE_PACKED else arguments[2]
              if script is lua.STORE_PACKED_AFTER else arguments)
             for script, arguments in call] for call in calls]


def test_a_turn_of_acks_alone_sends_nothing_they_ride_in_the_next_pipeline_in_their_place():
    """Issue 10 (bench/PROFILE.md, round twenty-one): acks are lazy, as the SQLite store's
    are: a turn that submitted only acks wakes neither Redis nor, for the reply, the node.
    The next turn's pipeline carries them in their place (behind the receipts, as base.py
    allows), that turn's ack joined to them; the answers keep submission order."""
    loop = _ManualClockLoop()
    try:
        store, redis = _lazy_store(loop)
        answers: list = []

        async def scenario() -> None:
            store.record_ack(1, "alice", lambda a: answers.append(("ack", 1, a)))
            await _turns()
            assert redis.calls == [] and answers == []  # the clock stands still: no LAZY_SECONDS
            store.record_receipt(2, "bob", lambda a: answers.append(("receipt", 2, a)), sender_key="alice")
            store.record_ack(3, "alice", lambda a: answers.append(("ack", 3, a)))
            store.store_fields(_fields(4), lambda result: answers.append(("store", result[0].msg_id)))
            await _turns()
        loop.run_until_complete(asyncio.wait_for(scenario(), 10))
        assert _scripts(redis.calls) == [[
            (lua.RECEIPTS_PACKED, [b"2\tbob\talice"]),
            (lua.ACKS_PACKED, [b"1\talice\t3\talice"]),
            (lua.STORE_PACKED, b"message 4")]]
        assert answers == [("ack", 1, True), ("receipt", 2, None), ("ack", 3, True), ("store", 11)]
    finally:
        loop.close()


def test_lazy_acks_go_by_themselves_after_lazy_seconds_a_receipt_at_once_and_all_at_once_for_a_drain():
    from server.store import LAZY_SECONDS

    loop = _ManualClockLoop()
    try:
        store, redis = _lazy_store(loop)
        answers: list = []

        async def scenario() -> None:
            store.record_ack(1, "alice", answers.append)
            loop.now += LAZY_SECONDS * 0.9
            await _turns()
            assert redis.calls == []
            loop.now += LAZY_SECONDS * 0.2
            await _turns()
            assert _scripts(redis.calls) == [[(lua.ACKS_PACKED, [b"1\talice"])]] and answers == [True]
            # A receipt is not held: the sender heard "delivered" already, and a receipt
            # that waited could die with its node (the message would come again).
            store.record_receipt(2, "bob", answers.append, sender_key="alice")
            await _turns()
            assert len(redis.calls) == 2 and answers == [True, None]
            # Someone drains the store (the server stopping): nothing is held for the timer.
            store.record_ack(3, "alice", answers.append)
            await asyncio.wait_for(store.drain(timeout=5), 5)
            assert len(redis.calls) == 3 and answers == [True, None, True]
        loop.run_until_complete(asyncio.wait_for(scenario(), 10))
    finally:
        loop.close()


def test_a_batch_call_makes_a_scripts_function_when_one_of_its_operations_runs_not_every_scripts_each_call():
    """BATCH holds every store script: made as closures at the top of the
    chunk, each call made all of them, whatever it ran (at one message a loop turn, 43,000
    of Redis's instructions a call: bench/PROFILE.md, the cluster path's round thirteen).
    Each is a branch of ``make`` now, made at its first operation in a call and kept for
    the call's next ones."""
    source = lua.BATCH.source.decode()
    assert "ops[1] = function" not in source
    assert source.count("then return function(ARGV)") == len(lua.SCRIPTS)
    head = source.index("local function make(number)")
    assert source.index("local ops = {}") > head and source.count("op = make(number)") == 1


class _RedisThatRuns(_Redis):
    """A Redis whose pipelines run when the test says (:meth:`run_next`), with its memory
    full (OOM: every store refused) or not, and which keeps the request ids stored, as
    the scripts' ``cid:`` hash does: STORE_PACKED_AFTER's check reads it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, self._answer)
        self.stored: list[bytes] = []  # the texts, in the order stored
        self._ids: set[bytes] = set()
        self._next_id = 11
        self._full = False
        self._waiting: list[tuple[list[list[tuple]], asyncio.Future]] = []

    def pipeline_now(self, commands: list[bytes]) -> asyncio.Future:
        future = self.loop.create_future()
        self._waiting.append((self.read(commands), future))
        return future

    def run_next(self, full: bool) -> None:
        calls, future = self._waiting.pop(0)
        self._full = full
        future.set_result(self.answer_all(calls))

    def _answer(self, script, arguments):
        packed = arguments[0]
        request_id = packed.rsplit(b"\t", 1)[1]
        if script is lua.STORE_PACKED_AFTER and arguments[1] not in self._ids:
            return RedisError("BEHIND", "the message before it in its conversation was not stored")
        if self._full:
            return RedisError("OOM", "command not allowed when used memory > 'maxmemory'")
        self._ids.add(request_id)
        self.stored.append(arguments[-1])
        self._next_id += 1
        return self._next_id - 1


def test_a_message_sent_behind_an_unanswered_one_of_its_conversation_is_stored_only_if_that_one_was():
    """Redis refuses a message for now (OOM) while a later one of the same conversation is
    already on its way, in the same call or in the next pipeline; if Redis takes writes
    again by the time that one runs, it must not be stored ahead of the refused one
    (tests/integration/test_flapping_store.py): each message sent while its predecessor's
    answer is not back goes as STORE_PACKED_AFTER and is refused BEHIND, unavailable for
    now, unless its predecessor was stored. Another conversation is not held back, and once
    everything is answered no message waits behind another."""
    loop = _ManualClockLoop()
    try:
        store = RedisStore("redis://127.0.0.1:1/0")
        store._loop = loop
        store._client = redis = _RedisThatRuns(loop)
        answers: list = []

        def send(n: int, to: str = "Bob") -> None:
            fields = ("Alice", "alice", to, to.lower(), f"message {n}", 1000.0 + n, f"c{n}", "sent")
            store.store_fields(fields, lambda result: answers.append((n, result[0].msg_id)),
                               lambda failure: answers.append((n, failure.reason)))

        async def scenario() -> None:
            send(1), send(2), send(9, to="Carol")
            await _turns()
            send(3)  # the first pipeline's answer is not back: behind message 2
            await _turns()
            assert [[script for script, _ in call] for call in redis.calls] == [
                [lua.STORE_PACKED, lua.STORE_PACKED_AFTER, lua.STORE_PACKED],
                [lua.STORE_PACKED_AFTER]]
            # (each with its predecessor's request id)
            assert [redis.calls[0][1][1][1], redis.calls[1][0][1][1]] == [b"c1", b"c2"]
            redis.run_next(full=True)
            redis.run_next(full=False)  # Redis writes again as message 3 runs
            await _turns()
            send(4)  # everything answered: a message of its own
            await _turns()
            redis.run_next(full=False)
            await _turns()
        loop.run_until_complete(asyncio.wait_for(scenario(), 10))
        oom = "Redis at redis://127.0.0.1:1/0 refused the work: OOM command not allowed when used memory > 'maxmemory'"
        behind = "not stored: BEHIND the message before it in its conversation was not stored"
        assert answers == [(1, oom), (2, behind), (9, oom), (3, behind), (4, 11)]
        assert redis.calls[-1] == [(lua.STORE_PACKED, redis.calls[-1][0][1])]
        assert redis.stored == [b"message 4"] and not store._latest
    finally:
        loop.close()


def test_a_message_the_script_stored_blocked_is_answered_blocked_and_routed_nowhere():
    """The STORE scripts decide whether a direct message's recipient blocks its sender, by
    Redis's block lists (docs/cluster.md, "Blocks"): one asked as ``sent`` or ``queued``
    and stored ``blocked`` is answered {3, its id}. The relay is given it ``blocked`` (it
    answers it as a blocked one, never forwards or routes it), under its new id, with its
    other fields as asked; the messages around it as Redis answered them."""
    ids = iter(range(11, 100))

    def answer(script, arguments):
        msg_id = next(ids)
        return [3, msg_id] if b"blocked?" in arguments[-1] else msg_id

    def submit(store: RedisStore, answers: list) -> None:
        store.router = None

        def stored(result) -> None:
            answers.append((result[0], result[1], store.routed))
        store.store_fields(_fields(1), stored)
        store.store_fields(("Mallory", "mallory", "Bob", "bob", "blocked?", 1002.0, "c2", "queued", 1500.0), stored)
        store.store_fields(_fields(3), stored)

    _calls, answers = _turn(answer, submit)
    assert [(m.msg_id, m.state, status, routed) for m, status, routed in answers] == [
        (11, "sent", "new", None), (12, "blocked", "new", None), (13, "sent", "new", None)]
    blocked = answers[1][0]
    assert (blocked.sender_key, blocked.recipient_key, blocked.text, blocked.client_id, blocked.expires_at) == (
        "mallory", "bob", "blocked?", "c2", 1500.0)
