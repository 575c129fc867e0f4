"""The bus entries of named rooms across a cluster's nodes (server/cluster/bus.py): bytes
in and out, no Redis. The RoomPosted entry is completed by the Redis store's script
(the id and the closing brace after room_post_head), so its format is fixed here too."""

from __future__ import annotations

import json

import pytest

from server.cluster import bus

EVENTS = [
    bus.RoomChanged("#redes", 3, '{"v":1,"name":"#redes"}', json.dumps([["bia", '{"type":"room_notice"}\n']])),
    bus.RoomChanged("#redes", 4, None, "[]"),
    bus.RoomPosted("Ana", "ana", "#redes", "olá \"turma\" / 🌍\n", 1700000002.25, 12),
    bus.AdminAdded("teacher"),
    bus.RoomPostChangeStored("n1", "Moe", json.dumps([["ana", '{"type":"room_notice"}\n']]), "#redes", 7, "Ana",
                             "ana", "", 1700000003.5, True),
    bus.RoomPostChangeStored("n1", None, "[]", "", 8, "João", "joão", "olá \"turma\"\n", 1700000004.25, False),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{type(e).__name__}")
def test_every_room_event_survives_encoding(event):
    assert bus.decode(bus.encode(event)) == event


def test_a_room_post_entry_completed_as_the_store_script_does_decodes_to_the_post():
    head = bus.room_post_head("Ana", "ana", "#redes", "olá \"turma\" / 🌍\n", 1700000002.25)
    entry = (head + "12" + "}").encode("utf-8")  # what ROOM_POST writes: head .. id .. '}'
    assert bus.decode(entry) == bus.RoomPosted("Ana", "ana", "#redes", "olá \"turma\" / 🌍\n", 1700000002.25, 12)
    assert bus.encode(bus.decode(entry)) == entry


def test_a_post_change_entry_completed_as_the_store_script_does_decodes_to_the_change():
    head = bus.room_post_change_head("n1", None, "[]")
    # What CHANGE appends (stores/redis_scripts.py): the post's fields, each text through
    # json_string (quotes, backslashes and control characters as \\u escapes, the rest as it
    # is), and the brace.
    tail = ('"room":"#redes","msg_id":12,"sender":"Conceição","sender_key":"conceição",'
            '"text":"a prova \\u000a\\u0022é\\u0022 na sexta","at":1700000002.25,"deleted":false}')
    assert bus.decode((head + tail).encode("utf-8")) == bus.RoomPostChangeStored(
        "n1", None, "[]", "#redes", 12, "Conceição", "conceição", 'a prova \n"é" na sexta', 1700000002.25, False)


def test_a_room_change_with_a_record_of_the_wrong_type_is_a_bad_entry():
    with pytest.raises(bus.BadEntry):
        bus.decode(b'{"k":"roomstate","key":"#redes","version":"3","record":null,"notices":"[]"}')


def test_a_say_entry_completed_as_the_store_script_does_decodes_to_the_room_post():
    """A say in a cluster is put on the stream by the store's script (ROOM_SAY) that
    stores it: room_say_head, the id and "}" are a RoomPost entry, which any node reads."""
    head = bus.room_say_head("Ana", "ana", "olá \"todos\" / 🌍\n", 1700000002.25)
    entry = (head + "12" + "}").encode("utf-8")
    assert bus.decode(entry) == bus.RoomPost(12, "Ana", "ana", "olá \"todos\" / 🌍\n", 1700000002.25)
    assert json.loads(entry) == json.loads(bus.encode(bus.decode(entry)))  # the fields encode() writes


class _Store:
    """A store as a cluster node calls it for a say: what it was asked, answered at once."""

    def __init__(self, status: str, one_step: bool) -> None:
        self.status, self.calls = status, []
        if one_step:
            self.store_room_say = lambda message, *rest: self._answer("store_room_say", message, rest)

    def _answer(self, name, message, rest):
        self.calls.append((name, message, rest[:-2]))
        callback = rest[-2]
        callback((message, self.status))

    def store_message(self, message, callback, on_error):
        self._answer("store_message", message, (callback, on_error))


def _node_saying(store: _Store, status_seen: list) -> list:
    """A node storing one say in ``store``; what it put on the stream after the store."""
    from server.cluster.node import ClusterNode
    from server.mailbox import StoredMessage

    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    posted: list = []
    node._post_room = posted.append
    say = StoredMessage(0, "Ana", "ana", None, None, "oi", 1700000002.25, "s1", "room")
    node.store_say(store, say, lambda result: status_seen.append(result[1]), status_seen.append)
    return posted


def test_a_cluster_node_stores_a_say_and_its_stream_entry_in_one_store_call():
    """On the Redis store, a say goes to Redis as one operation that also writes its
    RoomPost entry (nothing is put on the stream after the answer: an answer lost would
    lose the say live); the store's answer is the relay's, once."""
    store, seen = _Store("new", one_step=True), []
    assert _node_saying(store, seen) == []
    [(name, message, (stream, head, length))] = store.calls
    assert name == "store_room_say" and message.client_id == "s1" and seen == ["new"]
    assert (stream, length) == ("{chat}:events", 100_000)
    assert head == bus.room_say_head("Ana", "ana", "oi", 1700000002.25)


@pytest.mark.parametrize("status", ["new", "resend", "id_reused"])
def test_on_a_store_without_that_script_a_new_say_alone_is_put_on_the_stream_after(status):
    store, seen = _Store(status, one_step=False), []
    posted = _node_saying(store, seen)
    assert [call[0] for call in store.calls] == ["store_message"] and seen == [status]
    assert [m.client_id for m in posted] == (["s1"] if status == "new" else [])
