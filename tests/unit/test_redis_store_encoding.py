"""How the Redis store encodes a turn's operations, without Redis: the bytes a BATCH call
carries, byte for byte as the generic encoder makes them, and the work spent on them."""

from __future__ import annotations

from resp import encode_command
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
