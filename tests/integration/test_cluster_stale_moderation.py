"""A right taken away through one node of a cluster is gone on every node at once, not when
the others hear of it: a moderator removed (a member muted or kicked) through node 0 can
no longer delete another's post (edit their own) through node 1, whose copy of the room
is behind. Redis stores such a change only at the room's version it was decided on
(stores/redis_scripts.py CHANGE), as every other moderation act (SAVE_ROOM_VERSIONED);
else node 1 takes the room as it is and decides again.

Two nodes in one process (test_cluster_nodes.Cluster, each with its Redis store) on a real
redis-server; node 1 reaches Redis through a raw FaultProxy that holds back its events
reader's link, so that it has not heard of the change when its user asks: deterministic,
no sleep. Every wait has a deadline.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from faultproxy import FaultProxy
from redisserver import RedisServer, redis_server  # noqa: F401  (a fixture)
from test_cluster_nodes import Cluster, wait_for
from test_rooms_after_delivered import ALL, QUIET, post
from wire import WireClient

from protocol import (Appoint, Delete, Done, Edit, ErrorCode, ErrorReply, Hello, HistoryPage, HistoryRequest,
                      JoinRoom, Kick, Mute, Ping, RoomDeleted, RoomEdited, RoomInfo, RoomPost, Welcome)

SKIP = QUIET + (Ping, RoomPost)


def log_in(c: Cluster, index: int, name: str) -> WireClient:
    """``name`` on node ``index``, with the features read, typing and edits."""
    client = WireClient(*c.address(index))
    client.send(Hello("h", name, 2, None, False, None, ALL))
    client.welcome = client.expect(Welcome, skip=SKIP)
    return client


def room_on(c: Cluster, index: int):
    """Node ``index``'s copy of #sala."""
    return c.call(lambda: c.servers[index].relay.room_desk.rooms.get("#sala"))


@contextmanager
def mia_behind(redis: RedisServer) -> Iterator[tuple]:
    """Olga owns #sala through node 0; Mia (a moderator) and Vic are in it through node 1,
    which reaches Redis through a proxy: (the cluster, the proxy, Olga, Mia, Vic, a function
    that holds back node 1's events reader, returning the held link's port)."""
    with FaultProxy("127.0.0.1", redis.port, raw=True) as proxy:
        # The held link must not time out before the test releases it (see
        # test_cluster_join_order.bia_behind_a_lagging_events_reader).
        c = Cluster(redis.url, 1, True, timeout=10.0)
        try:
            c.add_through(proxy.port)
            with log_in(c, 0, "Olga") as olga, log_in(c, 1, "Mia") as mia, log_in(c, 1, "Vic") as vic:
                olga.send(JoinRoom("j", "#sala"))
                olga.expect(RoomInfo, skip=SKIP)
                for member in (mia, vic):
                    wait_for(lambda: room_on(c, 1) is not None, what="node 1 knowing #sala")
                    member.send(JoinRoom("j", "#sala"))
                    member.expect(RoomInfo, skip=SKIP)
                olga.send(Appoint("a", "#sala", "Mia", "moderator"))
                assert olga.expect((Done, ErrorReply), skip=SKIP).request_id == "a"
                wait_for(lambda: "mia" in room_on(c, 1).moderators and "vic" in room_on(c, 0).members,
                         what="both nodes knowing Mia a moderator and Vic a member")

                def hold() -> int:
                    node = c.nodes[1]
                    port = c.call(lambda: node._events_reader._link.transport.get_extra_info("sockname")[1])
                    assert proxy.hold_peer(port) == 1
                    return port

                yield c, proxy, olga, mia, vic, hold
        finally:
            c.close()


def intact(olga: WireClient, msg_id: int, text: str) -> None:
    """Post ``msg_id`` still reads ``text``, not deleted, as Redis has it."""
    olga.send(HistoryRequest("h", "#sala"))
    page = olga.expect(HistoryPage, skip=SKIP + (RoomDeleted, RoomEdited))
    assert [(e.text, e.deleted) for e in page.messages if e.msg_id == msg_id] == [(text, False)], page


def test_a_moderator_removed_through_one_node_cannot_delete_through_a_node_that_has_not_heard(
        redis_server):  # noqa: F811
    with mia_behind(redis_server) as (c, proxy, olga, mia, vic, hold):
        victim = post(vic, "v1", "Vic's words", olga, mia, room="#sala")
        port = hold()
        olga.send(Appoint("a2", "#sala", "Mia", "member"))
        assert olga.expect(Done, skip=SKIP).request_id == "a2"
        assert "mia" in room_on(c, 1).moderators, "node 1 must not have heard of it yet"
        mia.send(Delete("d1", victim))
        answer = mia.expect((Done, ErrorReply), skip=SKIP + (RoomDeleted,))
        assert (type(answer), getattr(answer, "code", None)) == (ErrorReply, ErrorCode.FORBIDDEN), answer
        intact(olga, victim, "Vic's words")
        # Node 1 took the room as Redis had it (its events reader still held back).
        assert "mia" not in room_on(c, 1).moderators
        assert proxy.release_peer(port) == 1


@pytest.mark.parametrize("act, code", [(Mute, ErrorCode.MUTED), (Kick, ErrorCode.NOT_MEMBER)])
def test_a_member_muted_or_kicked_through_one_node_cannot_edit_through_a_node_that_has_not_heard(
        redis_server, act, code):  # noqa: F811
    with mia_behind(redis_server) as (c, proxy, olga, mia, vic, hold):
        own = post(mia, "m1", "Mia's words", olga, room="#sala")
        port = hold()
        olga.send(act("x", "#sala", "Mia", "enough"))
        assert olga.expect(Done, skip=SKIP).request_id == "x"
        assert "mia" in room_on(c, 1).members and "mia" not in room_on(c, 1).muted, \
            "node 1 must not have heard of it yet"
        mia.send(Edit("e1", own, "Mia's words, rewritten"))
        answer = mia.expect((Done, ErrorReply), skip=SKIP + (RoomEdited,))
        assert (type(answer), getattr(answer, "code", None)) == (ErrorReply, code), answer
        intact(olga, own, "Mia's words")
        # Node 1 took the room as Redis had it (its events reader still held back).
        assert "mia" in room_on(c, 1).muted if act is Mute else "mia" not in room_on(c, 1).members
        assert proxy.release_peer(port) == 1
