"""Edits, deletes and typing of named-room posts across the nodes of a cluster (issues 10
and 13): two nodes as ``--cluster`` makes them (test_cluster_rooms.Nodes), one real
redis-server, wire clients speaking protocol version 2 with the features ``read``,
``typing`` and ``edits``. A member on one node hears what a member of one server hears
(test_rooms_after_delivered.py), whichever node the act went through: once.

Every wait has a deadline.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_conversation import redis_keys_holding
from test_cluster_rooms import Nodes, online_everywhere, wait_for
from wire import WireClient

import const
from protocol import (
    EDITS, READ, TYPING, Accepted, Appoint, Block, Delete, Done, Edit, Hello, JoinRoom, RoomDeleted, RoomEdited,
    RoomInfo, RoomNotice, RoomPost, RoomTyping, SendToRoom, Settings, UserJoined, UserLeft, Welcome, RoomRead,
)
from protocol.codec import encode
from server.afterdelivered import ROOM_TYPING
from server.cluster import bus

ALL = (READ, TYPING, EDITS)
PASSWORD = "correct horse"
# Read-marks lists (server/roomreads.py) come to members with `read` in small rooms as marks
# and switches change: not what these tests are about.
QUIET = (UserJoined, UserLeft, RoomNotice, RoomRead)
CHANGES = (RoomEdited, RoomDeleted)


@pytest.fixture
def nodes(redis_server):  # noqa: F811
    made = Nodes(redis_server.url, 2)
    yield made
    made.close()


def log_in(n: Nodes, index: int, name: str, features=ALL, version: int = const.PROTOCOL_VERSION,
           password: str | None = None, register: bool = False) -> WireClient:
    host, port = n.servers[index].address
    client = WireClient(host, port)
    client.send(Hello("h", name, version, password, register, None, features))
    client.welcome = client.expect(Welcome, skip=QUIET)
    return client


def join(client: WireClient, room: str = "#redes", create: bool = False) -> None:
    client.send(JoinRoom("j", room, create, False))
    client.expect(RoomInfo, skip=QUIET + (RoomPost,))


def post(sender: WireClient, request_id: str, text: str, *members: WireClient) -> int:
    """``sender`` posts ``text`` to #redes; each of ``members`` gets it; its msg_id."""
    sender.send(SendToRoom(request_id, "#redes", text))
    msg_id = sender.expect(Accepted, skip=QUIET + (RoomPost, RoomTyping)).msg_id
    for member in members:
        got = member.expect(RoomPost, 20, skip=QUIET + (RoomTyping,) + CHANGES)
        assert (got.msg_id, got.text) == (msg_id, text)
    return msg_id


def settled(*clients: WireClient) -> None:
    for client in clients:
        client.drain(quiet=0.3)


def none_of(client: WireClient, *kinds: type, quiet: float = 0.6) -> list:
    events = client.drain(quiet=quiet)
    assert not [e for e in events if isinstance(e, kinds)], events
    return events


def stream_events(n: Nodes) -> list[bus.BusEvent]:
    """Every entry on the events stream, decoded."""
    node = n.servers[0].peers
    entries = n.run(node._redis.execute("XRANGE", node.prefix + "events", "-", "+"))
    return [bus.decode(fields[fields.index(b"e") + 1]) for _id, fields in entries]


def test_edit_and_delete_of_a_post_on_node_1_reach_the_members_on_node_2_at_once_and_once(nodes):
    n = nodes
    with log_in(n, 0, "Ana", password=PASSWORD, register=True) as ana, \
            log_in(n, 1, "Ana", password=PASSWORD) as ana2, log_in(n, 1, "Mia") as mia, \
            log_in(n, 1, "Bloc") as bloc, log_in(n, 1, "Old", features=None) as old, \
            log_in(n, 0, "Eve") as eve:
        online_everywhere(n, "Ana", "Mia", "Bloc", "Old", "Eve")
        join(ana, create=True)
        for client in (mia, bloc, old, eve):
            join(client)
        bloc.send(Block("b", "Ana"))
        bloc.expect(Done, skip=QUIET)
        wait_for(lambda: n.call(lambda: "ana" in n.servers[0].relay.blocked.get("bloc", ())),
                 what="node 1 knows Bloc blocks Ana")
        settled(ana, ana2, mia, bloc, old, eve)
        edited = post(ana, "m1", "the tset is on friday", ana, ana2, mia, old, eve)
        deleted = post(ana, "m2", "a secret by mistake", ana, ana2, mia, old, eve)

        ana.send(Edit("e1", edited, "the test is on friday"))
        ana.expect(Done, skip=QUIET + (RoomPost,))
        for member in (mia, ana2, eve):  # node 2, the sender's other session there, and node 1
            change = member.expect(RoomEdited, skip=QUIET)
            assert (change.msg_id, change.sender, change.room_name, change.text) == (
                edited, "Ana", "#redes", "the test is on friday")
        ana.send(Delete("d1", deleted))
        ana.expect(Done, skip=QUIET)
        for member in (mia, ana2, eve):
            change = member.expect(RoomDeleted, skip=QUIET)
            assert (change.msg_id, change.sender, change.room_name, change.by) == (deleted, "Ana", "#redes", None)
        # Once each; nothing to the one who asked, to a member blocking the sender, nor to
        # a session without the feature.
        for member in (mia, ana2, eve, ana):
            none_of(member, *CHANGES)
        none_of(bloc, RoomPost, *CHANGES, quiet=0.1)
        none_of(old, *CHANGES, quiet=0.1)
        # The stream entries of the changes: the edit's new text, not the deleted one's.
        # Each written by the store's script as it stored the change, with the post's fields.
        changes = [e for e in stream_events(n) if type(e) is bus.RoomPostChangeStored]
        assert [(e.node, e.by, e.room, e.msg_id, e.sender, e.sender_key, e.text, e.deleted) for e in changes] == [
            (n.servers[0].peers.node_id, None, "#redes", edited, "Ana", "ana", "the test is on friday", False),
            (n.servers[0].peers.node_id, None, "#redes", deleted, "Ana", "ana", "", True)], changes
        # A deleted post's text is in no stream entry: its own rpost entry went with it.
        assert not [e for e in stream_events(n) if "by mistake" in repr(e)]

        # An edited post deleted: neither its first text (rpost) nor its edit (rchanged) stays.
        ana.send(Delete("d2", edited))
        ana.expect(Done, skip=QUIET)
        for member in (mia, ana2, eve):
            assert member.expect(RoomDeleted, skip=QUIET).msg_id == edited
        left = [e for e in stream_events(n) if "tset" in repr(e) or "the test is on friday" in repr(e)]
        assert not left, left


def test_a_moderators_delete_on_node_2_is_announced_and_told_with_by_on_node_1(nodes):
    n = nodes
    with log_in(n, 0, "Olga") as olga, log_in(n, 1, "Moe") as moe, log_in(n, 0, "Vic") as vic, \
            log_in(n, 1, "Mia") as mia:
        online_everywhere(n, "Olga", "Moe", "Vic", "Mia")
        join(olga, create=True)
        for client in (moe, vic, mia):
            join(client)
        olga.send(Appoint("a1", "#redes", "Moe", "moderator"))
        olga.expect(Done, skip=QUIET)
        settled(olga, moe, vic, mia)
        spam = post(vic, "s1", "spam", olga, moe, vic, mia)
        moe.send(Delete("d1", spam))
        assert moe.expect(Done, skip=QUIET + (RoomDeleted,)).request_id == "d1"
        for member in (olga, vic, mia):  # node 1 (Olga, Vic) as node 2 (Mia): notice, then the delete
            notice = member.expect(RoomNotice, skip=(UserJoined, UserLeft))
            assert (notice.act, notice.name, notice.by) == ("delete", "Vic", "Moe")
            deleted = member.expect(RoomDeleted, skip=QUIET)
            assert (deleted.msg_id, deleted.sender, deleted.by) == (spam, "Vic", "Moe")
        for member in (olga, vic, mia):
            events = none_of(member, *CHANGES)
            assert not [e for e in events if isinstance(e, RoomNotice) and e.act == "delete"], events


def test_typing_in_a_room_crosses_nodes_not_with_receipts_off_and_is_never_left_in_redis(nodes):
    n = nodes
    with log_in(n, 0, "Ana") as ana, log_in(n, 1, "Mia") as mia, log_in(n, 1, "Off") as off, \
            log_in(n, 1, "Old", features=None) as old, log_in(n, 0, "Eve") as eve, \
            log_in(n, 1, "Bloc") as bloc, log_in(n, 0, "One", password=PASSWORD, register=True) as one2, \
            log_in(n, 1, "One", version=1, password=PASSWORD) as one:
        online_everywhere(n, "Ana", "Mia", "Off", "Old", "Eve", "Bloc", "One")
        join(ana, create=True)
        for client in (mia, off, old, eve, bloc, one2):
            join(client)
        off.send(Settings("s1", False))
        off.expect(Done, skip=QUIET)
        bloc.send(Block("b", "Ana"))
        bloc.expect(Done, skip=QUIET)
        wait_for(lambda: n.call(lambda: all("off" in s.relay.after.receipts_off and "ana" in
                                            s.relay.blocked.get("bloc", ()) for s in n.servers)),
                 what="every node knows Off's receipts are off and Bloc blocks Ana")
        settled(ana, mia, off, old, eve, bloc, one, one2)
        for _ in range(3):
            ana.send(RoomTyping("#redes"))
        assert mia.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")  # node 2
        assert eve.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")  # node 1
        none_of(mia, RoomTyping)  # coalesced: the others within the interval are absorbed
        none_of(off, RoomTyping, quiet=0.1)  # receipts off
        none_of(old, RoomTyping, quiet=0.1)  # no feature
        none_of(bloc, RoomTyping, quiet=0.1)  # blocks the typist
        # One is a member through node 1; their session on node 2 speaks version 1 (no
        # rooms), with every feature: it gets none.
        assert one2.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")
        events = one.drain(quiet=0.3)
        assert all(isinstance(e, QUIET) for e in events), events  # not even a frame it rejects
        none_of(ana, RoomTyping, quiet=0.1)
        # Never stored: once handled, no key or stream entry holds it.
        wait_for(lambda: not redis_keys_holding(SimpleNamespace(nodes=[n.servers[0].peers], run=n.run),
                                                b"typing"), what="no Redis key holding the typing")


def test_a_room_typing_that_reaches_a_node_late_is_dropped(nodes):
    n = nodes
    with log_in(n, 0, "Ana") as ana, log_in(n, 1, "Mia") as mia:
        online_everywhere(n, "Ana", "Mia")
        join(ana, create=True)
        join(mia)
        settled(ana, mia)
        frame = encode(RoomTyping("#redes", "Ana")).decode("utf-8")

        def arrives(at: float) -> None:
            entry = bus.encode(bus.Conversation("mia", "ana", ROOM_TYPING, frame, at))
            n.call(n.servers[1].peers._apply_inbox, [b"e", entry])

        arrives(time.time() - 60)  # a node that was away from Redis for a minute
        none_of(mia, RoomTyping)
        arrives(time.time())
        assert mia.expect(RoomTyping, skip=QUIET) == RoomTyping("#redes", "Ana")


def test_an_edit_stored_by_a_node_that_then_loses_redis_and_stops_reaches_the_members_on_the_other_node(nodes):
    """Node 1 stored an edit of a post and told Ana "ok"; then every call on its own link
    to Redis failed, and it stopped. Mia, on node 2, still reads the edit while she stays
    connected: the store's script that stored it put it on the events stream in the same
    step. Before, node 1 put it there after the store's answer, in a call of its own, kept
    to put again once Redis answered: a node cut off then stopped (or killed) lost it, and
    Mia read the old text until her next login (the chaos run, cluster seed 943 with 20
    clients)."""
    from resp.aio import RedisConnectionError

    n = nodes
    server = n.servers[0]
    redis = server.peers._redis
    refused = []

    async def cut_off(*args, **options):
        refused.append(args[:1])
        raise RedisConnectionError("Redis went away (the test)")

    with log_in(n, 0, "Ana") as ana, log_in(n, 1, "Mia") as mia:
        online_everywhere(n, "Ana", "Mia")
        join(ana, create=True)
        join(mia)
        settled(ana, mia)
        msg_id = post(ana, "m1", "a prova é na sexta", ana, mia)
        n.call(setattr, redis, "execute", cut_off)  # the store's own link still answers
        ana.send(Edit("e1", msg_id, "a prova é na quinta"))
        ana.expect(Done, skip=QUIET + (RoomPost,))
        n.servers.remove(server)
        n.run(server.stop(), 30)
        assert refused, "node 1's link to Redis was not used after the edit"
        change = mia.expect(RoomEdited, 10, skip=QUIET)
        assert (change.msg_id, change.text) == (msg_id, "a prova é na quinta")
