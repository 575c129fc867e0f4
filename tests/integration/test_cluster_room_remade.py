"""A room made again under the name of one that ended, through another node of a cluster:
none of the ended room's posts are the new room's (PROTOCOL.md, "Rooms", ``leave``: "in
which nobody sees, is sent or may moderate the posts of the one that ended"), whichever
node makes it. A node knows the message ids it has seen itself and those a login's CLAIM
read; one that has stored nothing since its last login took a room made there for one
whose posts start at its stale count, and its maker read the ended room's history and
deleted its posts (an invite-only room's too, to whoever made a room of its name).

Real cluster nodes on one real redis-server, wire clients at protocol version 2; every
wait is bounded.
"""

from __future__ import annotations

from redisserver import redis_server  # noqa: F401  (a fixture)
from test_cluster_rooms import QUIET, join, nodes, online_everywhere  # noqa: F401  (nodes: a fixture)
from test_rooms_after_delivered import ALL, post

from protocol import Delete, Done, ErrorCode, ErrorReply, Hello, HistoryPage, HistoryRequest, LeaveRoom, RoomPost
from protocol import RoomRead, Welcome
from wire import WireClient


def log_in(n, index: int, name: str) -> WireClient:
    """``name`` on node ``index``, with the features read, typing and edits."""
    host, port = n.servers[index].address
    client = WireClient(host, port)
    client.send(Hello("h", name, 2, None, False, None, ALL))
    client.welcome = client.expect(Welcome, skip=QUIET)
    return client


def test_a_room_made_again_through_a_node_that_saw_no_post_holds_none_of_the_ended_rooms_posts(nodes):  # noqa: F811
    n = nodes(2)
    # Mallory logs in first: her node's count of message ids is read then, and it stores
    # nothing after (every post goes through Ana's node).
    with log_in(n, 1, "Mallory") as mallory, log_in(n, 0, "Ana") as ana:
        online_everywhere(n, "Mallory", "Ana")
        join(ana, "#sala", invite_only=True)
        secret = post(ana, "p1", "the old room's words", room="#sala")
        ana.send(LeaveRoom("l1", "#sala"))
        assert ana.expect(Done, skip=QUIET + (RoomPost,)).request_id == "l1"

        info = join(mallory, "#sala")  # the ended room's name, made again through the other node
        assert (info.created, info.owner) == (True, "Mallory")
        mallory.send(HistoryRequest("h1", "#sala"))
        assert mallory.expect(HistoryPage, skip=QUIET).messages == ()
        mallory.send(Delete("d1", secret))  # its owner now, but not of the ended room's posts
        refused = mallory.expect((Done, ErrorReply), skip=QUIET)
        assert (type(refused), getattr(refused, "code", None)) == (ErrorReply, ErrorCode.FORBIDDEN), refused
        mallory.send(RoomRead("#sala", secret))
        refused = mallory.expect((ErrorReply, RoomRead), skip=QUIET)
        assert (type(refused), getattr(refused, "code", None)) == (ErrorReply, ErrorCode.UNKNOWN_MESSAGE), refused
