"""How the Redis store encodes a turn's operations and answers them, without Redis: the
bytes a BATCH call carries, byte for byte as the generic encoder makes them, and the work
spent on them; each operation's answer from the call's reply."""

from __future__ import annotations

import logging

from resp import RedisError, encode_command
from server.stores import redis as module
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
    return module.SCRIPTS.index(script) + 1


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
    assert call == encode_command(("EVALSHA", module.BATCH.sha1, 0, store.prefix,
                                   _number(module._RECEIPTS_PACKED), 1, "1\tbob\talice\t22\tbob\talice",
                                   _number(module._ACKS_PACKED), 1, "1\talice\t333\tcarol"))
    store.record_ack(4, "alice")  # joined to the acks: encoded again, with it
    assert acks.size == 3 and acks.command == encode_command(("X", _number(module._ACKS_PACKED), 1,
                                                              "1\talice\t333\tcarol\t4\talice"))[len(b"*3\r\n$1\r\nX\r\n"):]


def test_a_joined_operation_with_a_tab_in_a_key_goes_argument_by_argument_as_before():
    store, asked = _store()
    store.record_receipt(1, "bob", sender_key="al\tice")
    store.record_receipt(2, "bob", sender_key="alice")
    (receipts,) = store._queued
    assert receipts.size == 2 + 6
    assert store._call(store._queued) == encode_command(("EVALSHA", module.BATCH.sha1, 0, store.prefix,
                                                         _number(module._RECEIPTS), 6,
                                                         1, "bob", "al\tice", 2, "bob", "alice"))
    assert asked == [module._RECEIPTS]


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
    assert [len(operation.callbacks) for operation in batch if hasattr(operation, "callbacks")] == [4, 5, 2]
    replies = [4, RedisError("ERR", "a page's bug"), b"00110", [], RedisError("OOM", "no memory")]
    with caplog.at_level(logging.ERROR, logger="chat.store"):
        store._batches.append((batch, _Answered(replies)))
        store._answer_ready()
    refused = "Redis at redis://127.0.0.1:1/0 refused the work: OOM no memory"
    assert answers == [("receipt", 1, None), ("receipt", 4, None), ("ack", 3, True), ("ack", 4, True),
                       ("ack", 5, False), ("ack", 6, refused), ("ack", 7, refused)]
    assert [r.message for r in caplog.records].count("store callback failed") == 2
