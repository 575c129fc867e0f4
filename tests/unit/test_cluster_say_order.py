"""The sender of a say hears ``accepted`` before its ``room`` frame on a cluster node
(server/cluster/sayorder.py): the events stream may bring the say's entry before the
store's connection brings its answer (both come from the one script step, ROOM_SAY)."""

from __future__ import annotations

from dataclasses import replace

from server.cluster import bus
from server.cluster.node import ClusterNode
from server.cluster.sayorder import SayOrder
from server.mailbox import StoredMessage


def _say(msg_id: int, client_id: str = "s") -> StoredMessage:
    return StoredMessage(msg_id, "Ana", "ana", None, None, f"say {msg_id}", 1700000000.0 + msg_id, client_id, "room")


def test_with_no_say_waiting_the_streams_messages_pass_at_once():
    order = SayOrder()
    assert order.arrived(_say(1)) and order.arrived(_say(2))


def test_an_answer_lets_go_of_the_messages_up_to_its_id_and_the_last_answer_of_all():
    order = SayOrder()
    order.asked()  # id 5, as it turns out
    order.asked()  # id 7
    for msg_id in (4, 5, 6, 7, 8):  # 4, 6, 8: others' says, from other nodes
        assert not order.arrived(_say(msg_id))
    assert [m.msg_id for m in order.answered(5)] == [4, 5]
    assert [m.msg_id for m in order.answered(7)] == [6, 7, 8]  # the last: all
    assert order.arrived(_say(9))


def test_a_failed_say_lets_go_of_nothing_but_the_last_one_outstanding_lets_go_of_all():
    order = SayOrder()
    order.asked()
    order.asked()
    assert not order.arrived(_say(3)) and not order.arrived(_say(4))
    assert order.answered(0) == []  # unavailable (perhaps stored: its entry may be 3 or 4)
    assert [m.msg_id for m in order.answered(0)] == [3, 4]


def test_a_steady_flow_of_says_holds_a_message_only_until_the_answers_it_came_after():
    order = SayOrder()
    order.asked()  # 1
    assert not order.arrived(_say(1))
    order.asked()  # 2, asked before 1 was answered: the node never has none waiting
    assert [m.msg_id for m in order.answered(1)] == [1]
    assert not order.arrived(_say(2))
    order.asked()  # 3
    assert [m.msg_id for m in order.answered(2)] == [2]


class _Store:
    """A Redis store as the node calls it for a say, answered when the test says."""

    def __init__(self) -> None:
        self.pending: list = []

    def store_room_say(self, message, stream, head, length, callback, on_error):
        self.pending.append((message, callback, on_error))


class _Relay:
    def __init__(self, heard: list) -> None:
        self.heard = heard

    def deliver_room(self, message):
        self.heard.append(("room", message.msg_id))


def test_a_node_writes_a_say_the_stream_brought_early_after_its_accepted():
    """The entry's RoomPost comes first, then the store's answer: the relay answers
    ``accepted`` (its callback), then writes the ``room`` frame, once."""
    heard: list = []
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node.relay = _Relay(heard)
    store = _Store()
    node.store_say(store, _say(0, "s1"), lambda result: heard.append(("accepted", result[0].msg_id)),
                   lambda failure: heard.append(("unavailable", failure)))
    entry = (bus.room_say_head("Ana", "ana", "say 0", 1700000000.0) + "12}").encode()
    node._apply_event([b"e", entry])
    assert heard == []
    [(message, callback, _on_error)] = store.pending
    callback((replace(message, msg_id=12), "new"))
    assert heard == [("accepted", 12), ("room", 12)]


def test_a_node_lets_go_of_held_messages_when_a_say_fails():
    from server.store import StoreUnavailable

    heard: list = []
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node.relay = _Relay(heard)
    store = _Store()
    node.store_say(store, _say(0, "s1"), heard.append, lambda failure: heard.append("unavailable"))
    node._apply_event([b"e", bus.encode(bus.RoomPost(30, "Bia", "bia", "from elsewhere", 1700000001.0))])
    store.pending[0][2](StoreUnavailable("no reply", maybe_done=True))
    assert heard == ["unavailable", ("room", 30)]

