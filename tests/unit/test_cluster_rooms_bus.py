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
    bus.RoomPostChanged("n1", "#redes", "ana", '{"type":"deleted","room":"#redes"}\n',
                        json.dumps([["ana", '{"type":"room_notice"}\n']])),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: f"{type(e).__name__}")
def test_every_room_event_survives_encoding(event):
    assert bus.decode(bus.encode(event)) == event


def test_a_room_post_entry_completed_as_the_store_script_does_decodes_to_the_post():
    head = bus.room_post_head("Ana", "ana", "#redes", "olá \"turma\" / 🌍\n", 1700000002.25)
    entry = (head + "12" + "}").encode("utf-8")  # what _ROOM_POST writes: head .. id .. '}'
    assert bus.decode(entry) == bus.RoomPosted("Ana", "ana", "#redes", "olá \"turma\" / 🌍\n", 1700000002.25, 12)
    assert bus.encode(bus.decode(entry)) == entry


def test_a_room_change_with_a_record_of_the_wrong_type_is_a_bad_entry():
    with pytest.raises(bus.BadEntry):
        bus.decode(b'{"k":"roomstate","key":"#redes","version":"3","record":null,"notices":"[]"}')
