"""Edits and deletes of the default room's messages across the nodes of a cluster (issue
13): two nodes as ``--cluster`` makes them (test_cluster_rooms.Nodes), one real
redis-server, wire clients at protocol version 2 with the feature ``edits``. Everyone
online on either node hears the change once, whichever node it went through.

Every wait has a deadline.
"""

from __future__ import annotations

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_room_convo import stream_events
from test_cluster_rooms import Nodes, online_everywhere
from wire import WireClient

import const
from protocol import (
    EDITS, Accepted, Delete, Done, Edit, Hello, RoomDeleted, RoomEdited, RoomMessage, RoomNotice, SendRoom,
    UserJoined, UserLeft, Welcome,
)

PASSWORD = "correct horse"
QUIET = (UserJoined, UserLeft, RoomNotice)
CHANGES = (RoomEdited, RoomDeleted)


@pytest.fixture
def nodes(redis_server):  # noqa: F811
    made = Nodes(redis_server.url, 2)
    yield made
    made.close()


def log_in(n: Nodes, index: int, name: str, password: str | None = None, register: bool = False) -> WireClient:
    host, port = n.servers[index].address
    client = WireClient(host, port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register, None, (EDITS,)))
    client.welcome = client.expect(Welcome, skip=QUIET)
    return client


def say(sender: WireClient, request_id: str, text: str, *everyone: WireClient) -> int:
    sender.send(SendRoom(request_id, text))
    msg_id = sender.expect(Accepted, skip=QUIET + (RoomMessage,)).msg_id
    for client in everyone:
        got = client.expect(RoomMessage, 20, skip=QUIET + CHANGES)
        assert (got.msg_id, got.text) == (msg_id, text)
    return msg_id


def test_default_room_edits_and_an_administrators_delete_reach_everyone_on_both_nodes_once(nodes):
    n = nodes
    with log_in(n, 0, "Ana") as ana, log_in(n, 1, "Mia") as mia, log_in(n, 0, "Eve") as eve, \
            log_in(n, 1, "Teacher", password=PASSWORD, register=True) as teacher:
        online_everywhere(n, "Ana", "Mia", "Eve", "Teacher")
        n.call(n.servers[1].relay.room_desk.add_admin, "Teacher")  # /admin at node 1's console
        for client in (ana, mia, eve, teacher):
            client.drain(quiet=0.3)
        first = say(ana, "m1", "the tset", ana, mia, eve, teacher)
        rude = say(ana, "m2", "something rude", ana, mia, eve, teacher)

        ana.send(Edit("e1", first, "the test"))
        ana.expect(Done, skip=QUIET + (RoomMessage,))
        for client in (mia, eve, teacher):  # node 2, node 1, node 2
            change = client.expect(RoomEdited, 20, skip=QUIET)
            assert (change.msg_id, change.room_name, change.text) == (first, const.DEFAULT_ROOM, "the test")
        teacher.send(Delete("d1", rude))  # on node 2: Ana and Eve are on node 1
        teacher.expect(Done, skip=QUIET + CHANGES)
        for client in (ana, mia, eve):
            notice = client.expect(RoomNotice, 20, skip=(UserJoined, UserLeft))
            assert (notice.room_name, notice.act, notice.name, notice.by) == (
                const.DEFAULT_ROOM, "delete", "Ana", "Teacher")
            change = client.expect(RoomDeleted, 20, skip=QUIET)
            assert (change.msg_id, change.room_name, change.by) == (rude, const.DEFAULT_ROOM, "Teacher")
        for client in (ana, mia, eve, teacher):  # once each
            events = client.drain(quiet=0.6)
            assert not [e for e in events if isinstance(e, CHANGES)], events
        # The deleted message's text is in no entry of the events stream (its own went with it).
        assert [e for e in stream_events(n) if "the tset" in repr(e)]  # the reading finds text
        assert not [e for e in stream_events(n) if "something rude" in repr(e)]
        # An edited message deleted: neither its first text nor its edit's stays.
        ana.send(Delete("d2", first))
        ana.expect(Done, skip=QUIET + CHANGES)
        for client in (mia, eve, teacher):
            assert client.expect(RoomDeleted, 20, skip=QUIET).msg_id == first
        left = [e for e in stream_events(n) if "the tset" in repr(e) or "the test" in repr(e)]
        assert not left, left


def test_on_a_shared_memory_store_default_room_changes_reach_the_other_node_once(redis_server):  # noqa: F811
    """Nodes on one store in memory (the in-process tests' cluster: no store script puts
    the change on the events stream) publish the default room's changes once stored:
    the other node's sessions hear each once, the one who asked none."""
    from test_cluster_nodes import Cluster
    c = Cluster(redis_server.url, 2)
    try:
        with WireClient(*c.address(0)) as ana, WireClient(*c.address(1)) as mia, WireClient(*c.address(0)) as eve:
            for client, name in ((ana, "Ana"), (mia, "Mia"), (eve, "Eve")):
                client.send(Hello("h", name, const.PROTOCOL_VERSION, None, False, None, (EDITS,)))
                client.expect(Welcome, skip=QUIET)
            online_everywhere(c, "Ana", "Mia", "Eve")
            first = say(ana, "m1", "the tset", ana, mia, eve)
            ana.send(Edit("e1", first, "the test"))
            ana.expect(Done, skip=QUIET + (RoomMessage,))
            for client in (mia, eve):
                change = client.expect(RoomEdited, 20, skip=QUIET)
                assert (change.msg_id, change.room_name, change.text) == (first, const.DEFAULT_ROOM, "the test")
            ana.send(Delete("d1", first))
            ana.expect(Done, skip=QUIET)
            for client in (mia, eve):
                change = client.expect(RoomDeleted, 20, skip=QUIET)
                assert (change.msg_id, change.by) == (first, None)
            for client in (ana, mia, eve):  # once each, and nothing to the one who asked
                events = client.drain(quiet=0.6)
                assert not [e for e in events if isinstance(e, CHANGES)], events
    finally:
        c.close()
