"""Named rooms across the nodes of a cluster (issues 10 and 13): three nodes as
``--cluster`` makes them (each with its own Redis store and connections, in one process
on one loop), one real redis-server, real clients speaking protocol version 2 on
loopback. Any node takes any request on any room, and every member hears what a member
on one node would hear on one server: once, in one order.

Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from redisserver import redis_server  # noqa: F401  (a fixture)
from wire import WireClient

import const
from protocol import (
    Accepted, Ban, Block, Done, ErrorCode, ErrorReply, Invite, JoinRoom, Kick, LeaveRoom, MemberList, MembersRequest, Mute,
    Ping, RoomInfo, RoomList, RoomNotice, RoomPost, RoomsRequest, SendToRoom, Unmute, UserJoined, UserLeft,
)
from server import ServerConfig
from server.app import ChatServer
from server.background import close_loop

PRESENCE = (UserJoined, UserLeft, Ping)
QUIET = PRESENCE + (RoomNotice,)
PASSWORD = "correct horse"


class Nodes:
    """``count`` cluster nodes (``--cluster``: a Redis store each) on one loop in a thread."""

    def __init__(self, url: str, count: int, **config) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.servers: list[ChatServer] = []
        for _ in range(count):
            server = ChatServer(ServerConfig(host="127.0.0.1", port=0, cluster_url=url, **config))
            self.run(server.start())
            self.servers.append(server)

    def run(self, coro, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, func, *args):
        async def call():
            return func(*args)
        return self.run(call())

    def login(self, index: int, name: str, account: bool = False) -> WireClient:
        host, port = self.servers[index].address
        return WireClient.login(host, port, name, PASSWORD if account else None, register=account)

    def close(self) -> None:
        for server in self.servers:
            self.run(server.stop(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        close_loop(self.loop)


@pytest.fixture
def nodes(redis_server):  # noqa: F811
    made = []

    def make(count: int = 3, **config) -> Nodes:
        made.append(Nodes(redis_server.url, count, **config))
        return made[-1]

    yield make
    for n in made:
        n.close()


def wait_for(condition, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not within {timeout} s (last: {value!r})")


def online_everywhere(n: Nodes, *names: str) -> None:
    """Wait until every node's directory lists ``names`` (the stream reached them)."""
    keys = [name.lower() for name in names]
    wait_for(lambda: all(n.call(lambda s=s: all(k in s.relay.directory for k in keys)) for s in n.servers),
             what=f"{names} online on every node")


def offline_everywhere(n: Nodes, *names: str) -> None:
    """Wait until no node's directory lists ``names``: a closed connection is seen by its
    node a moment after the client closes it, and only then is the name free again."""
    keys = [name.lower() for name in names]
    wait_for(lambda: all(n.call(lambda s=s: not any(k in s.relay.directory for k in keys)) for s in n.servers),
             what=f"{names} offline on every node")


def join(client: WireClient, room: str, request_id: str = "j", create: bool = False,
         invite_only: bool = False) -> RoomInfo:
    client.send(JoinRoom(request_id, room, create, invite_only))
    answer = client.expect((RoomInfo, ErrorReply), skip=QUIET)
    assert isinstance(answer, RoomInfo), answer
    return answer


def done(client: WireClient, request) -> None:
    client.send(request)
    answer = client.expect((Done, ErrorReply), skip=QUIET)
    assert isinstance(answer, Done), answer


def posts(client: WireClient, count: int, timeout: float = 20.0) -> list[RoomPost]:
    """The next ``count`` room messages ``client`` gets (its own answers passed over)."""
    return [client.expect(RoomPost, timeout, skip=QUIET + (Accepted,)) for _ in range(count)]


def notices(client: WireClient, quiet: float = 0.5, until: tuple[str, str] | None = None) -> list[tuple[str, str]]:
    """The room notices (act, name) ``client`` is told until none has come for ``quiet``
    seconds, and ``until`` has come: a notice from another node comes through Redis, in
    no order with the answers the test waited for."""
    def told(events: list) -> list[tuple[str, str]]:
        return [(e.act, e.name) for e in events if isinstance(e, RoomNotice)]
    return told(client.drain(quiet=quiet, until=until and (lambda events: until in told(events))))


def members(client: WireClient, room: str) -> list[tuple[str, str, bool]]:
    client.send(MembersRequest("m", room))
    answer = client.expect((MemberList, ErrorReply), skip=QUIET)
    assert isinstance(answer, MemberList), answer
    return [(m.name, m.role, m.online) for m in answer.members]


def test_a_room_created_on_one_node_is_joined_through_the_others_and_its_posts_reach_all_once_in_one_order(nodes):
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia, n.login(2, "Caio") as caio:
        online_everywhere(n, "Ana", "Bia", "Caio")
        assert join(ana, "#redes", create=True).created
        info = join(bia, "#REDES")  # through another node, which did not know the room
        assert (info.room_name, info.owner, info.count, info.created) == ("#redes", "Ana", 2, False)
        assert join(caio, "#redes").count == 3
        # The joins are announced to the members on every node, once each.
        assert notices(ana, until=("joined", "Caio")) == [("joined", "Bia"), ("joined", "Caio")]
        assert notices(bia, until=("joined", "Caio")) == [("joined", "Bia"), ("joined", "Caio")]
        # Lists through any node: the counts and who is online, across the cluster.
        assert members(caio, "#redes") == [("Ana", "owner", True), ("Bia", "member", True), ("Caio", "member", True)]
        bia.send(RoomsRequest("r"))
        rooms = bia.expect(RoomList, skip=QUIET)
        assert [(r.room_name, r.count) for r in rooms.rooms] == [(const.DEFAULT_ROOM, 3), ("#redes", 3)]

        # Many posts, from members on the three nodes, interleaved: every member gets each
        # once, and all in one order (the ids' order).
        clients = (ana, bia, caio)
        for i in range(10):
            for number, client in enumerate(clients):
                client.send(SendToRoom(f"p{number}-{i}", "#redes", f"{number}:{i}"))
        accepted, seen = {}, {}
        for client in clients:
            ids, client_posts = [], []
            deadline = time.monotonic() + 30
            while (len(ids) < 10 or len(client_posts) < 30) and time.monotonic() < deadline:
                event = client.expect((RoomPost, Accepted), max(0.1, deadline - time.monotonic()), skip=QUIET)
                (client_posts if isinstance(event, RoomPost) else ids).append(event)
            accepted[client] = [a.msg_id for a in ids]
            seen[client] = [p.msg_id for p in client_posts]
            assert [p.room_name for p in client_posts] == ["#redes"] * 30
        assert seen[ana] == seen[bia] == seen[caio]
        assert seen[ana] == sorted(seen[ana])
        assert sorted(seen[ana]) == sorted(i for ids in accepted.values() for i in ids)
        for client in clients:
            assert not [e for e in client.drain(quiet=0.5) if isinstance(e, RoomPost)]


def test_a_ban_through_one_node_keeps_the_user_out_when_they_try_through_another(nodes):
    n = nodes(3)
    with n.login(1, "Ana") as ana, n.login(0, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        join(ana, "#lab", create=True)
        join(bia, "#lab")
        done(ana, Ban("b", "#lab", "Bia", "spam"))  # through node 1
        banned = bia.expect(RoomNotice, skip=PRESENCE)
        while banned.act != "ban":
            banned = bia.expect(RoomNotice, skip=PRESENCE)
        assert (banned.name, banned.by, banned.reason) == ("Bia", "Ana", "spam")
        bia.send(SendToRoom("s", "#lab", "still here?"))  # through node 0
        bia.expect_error(ErrorCode.NOT_MEMBER, skip=QUIET)
        bia.send(JoinRoom("j2", "#lab"))
        assert "spam" in bia.expect_error(ErrorCode.BANNED, skip=QUIET).message
        bia.close()
        offline_everywhere(n, "Bia")
        with n.login(2, "Bia") as again:  # ... and through node 2, where nothing was done
            again.send(JoinRoom("j3", "#lab"))
            again.expect_error(ErrorCode.BANNED, skip=QUIET)


def test_a_kick_of_someone_who_left_through_another_node_names_them_and_ones_own_does_not(nodes):
    """not_member of a kick is about the person kicked when they left (through another
    node), and about the asker when it is the asker who is out: the first names the person
    (the error's name, as their node spells it), the second nobody (PROTOCOL.md, "error")."""
    n = nodes(2)
    with n.login(0, "Olga") as olga, n.login(1, "Vic") as vic:
        online_everywhere(n, "Olga", "Vic")
        join(olga, "#turma", create=True)
        join(vic, "#turma")
        done(vic, LeaveRoom("l", "#turma"))  # through node 1
        olga.send(Kick("k1", "#turma", "vic"))  # through node 0
        refused = olga.expect_error(ErrorCode.NOT_MEMBER, skip=QUIET)
        assert (refused.request_id, refused.message, refused.name) == ("k1", "Vic is not in #turma", "Vic")
        vic.send(Kick("k2", "#turma", "Olga"))
        own = vic.expect_error(ErrorCode.NOT_MEMBER, skip=QUIET)
        assert (own.request_id, own.message, own.name) == ("k2", "you are not in #turma: join it first", None)


def test_two_invitees_joining_an_invite_only_room_at_once_through_two_nodes_are_both_in_it(nodes):
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia, n.login(2, "Caio") as caio:
        online_everywhere(n, "Ana", "Bia", "Caio")
        for round_ in range(4):
            room = f"#lab{round_}"
            join(ana, room, create=True, invite_only=True)
            done(ana, Invite("i1", room, "Bia"))
            done(ana, Invite("i2", room, "Caio"))
            bia.send(JoinRoom("j", room))
            caio.send(JoinRoom("j", room))
            for client in (bia, caio):
                answer = client.expect((RoomInfo, ErrorReply), skip=QUIET)
                assert isinstance(answer, RoomInfo), answer
            expected = [("Ana", "owner", True), ("Bia", "member", True), ("Caio", "member", True)]
            # A join decided on another node reaches this one's rooms by the events stream, a
            # moment after its answer (with its join notice): each node's list comes to both.
            for client, node in ((ana, 0), (bia, 1), (caio, 2)):
                wait_for(lambda c=client: members(c, room) == expected, what=f"{room}'s members as node {node} has them")
            record = json.loads(n.call(lambda: n.servers[0].relay.store.rooms())[room])
            assert [name for _key, name in record["members"]][:1] == ["Ana"]
            assert sorted(name for _key, name in record["members"]) == ["Ana", "Bia", "Caio"]
            assert record["invited"] == []  # each invitation used up once


def test_two_creates_of_one_name_through_two_nodes_make_one_room(nodes):
    n = nodes(2)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        for round_ in range(4):
            room = f"#race{round_}"
            ana.send(JoinRoom("c", room, create=True))
            bia.send(JoinRoom("c", room, create=True))
            answers = [client.expect((RoomInfo, ErrorReply), skip=QUIET) for client in (ana, bia)]
            assert sorted(type(a).__name__ for a in answers) == ["ErrorReply", "RoomInfo"], answers
            error = next(a for a in answers if isinstance(a, ErrorReply))
            assert error.code == ErrorCode.ROOM_EXISTS
            owner = next(a for a in answers if isinstance(a, RoomInfo)).owner
            for client in (ana, bia):
                assert members(client, room) == [(owner, "owner", True)]


def test_two_creates_of_look_alike_names_through_two_nodes_make_one_room(nodes):
    """"#modem0" and "#rnodem0" ("rn" looks like "m") made at once through two nodes: one room, and
    the other is told its name looks like it (each node checks look-alikes against the
    rooms it knows, and neither knew the other's yet)."""
    n = nodes(2)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        for round_ in range(4):
            ana.send(JoinRoom("c", f"#modem{round_}", create=True))
            bia.send(JoinRoom("c", f"#rnodem{round_}", create=True))
            answers = [client.expect((RoomInfo, ErrorReply), skip=QUIET) for client in (ana, bia)]
            assert sorted(type(a).__name__ for a in answers) == ["ErrorReply", "RoomInfo"], answers
            error = next(a for a in answers if isinstance(a, ErrorReply))
            assert error.code == ErrorCode.CONFUSABLE_NAME, error
            made = next(a for a in answers if isinstance(a, RoomInfo)).room_name
            names = (f"#modem{round_}", f"#rnodem{round_}")
            stored = n.call(lambda: n.servers[0].relay.store.rooms())
            assert [json.loads(r)["name"] for r in stored.values() if json.loads(r)["name"] in names] == [made]


def test_a_new_room_that_looks_like_one_a_node_has_not_heard_of_yet_is_refused(nodes):
    """The look-alike check is Redis's too: a room stored by another node whose stream
    entry has not come yet (here: stored on a stream nobody reads) still bars a
    look-alike new name, and the node then knows that room."""
    n = nodes(2)
    store = n.servers[0].relay.store
    record = json.dumps({"v": 1, "name": "#modem", "owner": "olga", "invite_only": False, "topic": "",
                         "created_at": time.time(), "members": [["olga", "Olga"]], "moderators": [],
                         "invited": [], "banned": [], "muted": []})
    from registry import lookalike_key
    from server.rooms import room_key
    replies = []
    n.call(lambda: store.save_room_versioned(room_key("#modem"), 0, record, "{chat}:nobody-reads", b"x", 10,
                                             replies.append, replies.append, lookalike_key("modem")))
    wait_for(lambda: replies, what="the store's answer")
    assert replies == [("ok", 1)]
    with n.login(1, "Bia") as bia:
        bia.send(JoinRoom("c", "#rnodem", create=True))
        answer = bia.expect((RoomInfo, ErrorReply), skip=QUIET)
        assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.CONFUSABLE_NAME, answer
        assert "#modem" in answer.message
        assert room_key("#rnodem") not in n.call(lambda: n.servers[1].relay.store.rooms())
        join(bia, "#modem")  # the node knows it now


def test_a_member_offline_logs_in_on_another_node_and_gets_the_missed_posts_once(nodes):
    n = nodes(3)
    with n.login(0, "Ana") as ana:
        join(ana, "#redes", create=True)
        with n.login(1, "Bia", account=True) as bia:
            join(bia, "#redes")
            ana.send(SendToRoom("p0", "#redes", "before"))
            assert [p.text for p in posts(bia, 1)] == ["before"]
        wait_for(lambda: n.call(lambda: all("bia" not in s.relay.directory for s in n.servers)), what="bia gone")
        for i in range(3):
            ana.send(SendToRoom(f"p{i + 1}", "#redes", f"missed {i}"))
            ana.expect(Accepted, skip=QUIET + (RoomPost,))
        with n.login(2, "Bia", account=True) as bia:  # on a third node
            assert [p.text for p in posts(bia, 3)] == ["missed 0", "missed 1", "missed 2"]
            ana.send(SendToRoom("p9", "#redes", "live"))
            assert [p.text for p in posts(bia, 1)] == ["live"]
            assert not [e for e in bia.drain(quiet=0.5) if isinstance(e, RoomPost)]
        wait_for(lambda: n.call(lambda: all("bia" not in s.relay.directory for s in n.servers)), what="bia gone")
        with n.login(0, "Bia", account=True) as bia:  # nothing missed since: nothing again
            assert not [e for e in bia.drain(quiet=1.0) if isinstance(e, RoomPost)]


def test_presence_and_room_notices_reach_the_members_on_every_node_once(nodes):
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        with n.login(2, "Caio", account=True) as caio:
            join(caio, "#redes")
            caio_joined = ("joined", "Caio")
            assert caio_joined in notices(ana, until=caio_joined) and caio_joined in notices(bia, until=caio_joined)
        for client in (ana, bia):
            assert wait_for(lambda c=client: notices(c), what="offline") == [("offline", "Caio")]
        with n.login(0, "Caio", account=True):
            for client in (ana, bia):
                assert wait_for(lambda c=client: notices(c), what="online") == [("online", "Caio")]
            # A leave through node 1, heard once on node 0.
            done(bia, LeaveRoom("l", "#redes"))
            for client in (ana,):
                assert wait_for(lambda c=client: notices(c), what="left") == [("left", "Bia")]


def test_a_mute_ends_once_for_the_cluster_not_once_per_node(nodes):
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia, n.login(2, "Caio") as caio:
        online_everywhere(n, "Ana", "Bia", "Caio")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        join(caio, "#redes")
        for client in (ana, bia, caio):  # the joins told, Caio's the last
            notices(client, until=("joined", "Caio"))
        done(ana, Mute("m", "#redes", "Bia", "calma", 1.0))
        bia.send(SendToRoom("s1", "#redes", "hi"))  # through another node: muted there too
        bia.expect_error(ErrorCode.MUTED, skip=QUIET)
        time.sleep(2.5)  # the mute's end (1 s) and every node's timer
        # Bia's refusal passed over the mute's notice; Ana heard it after her Done, as on
        # one server. The end: once, from whichever node stored it first.
        heard = {client: notices(client, quiet=1.0, until=("unmute", "Bia")) for client in (ana, bia, caio)}
        assert heard[ana] == heard[caio] == [("mute", "Bia"), ("unmute", "Bia")], heard
        assert heard[bia] == [("unmute", "Bia")], heard
        bia.send(SendToRoom("s2", "#redes", "back"))
        bia.expect(Accepted, skip=QUIET + (RoomPost,))


def test_every_node_lists_a_member_muted_through_another_as_muted(nodes):
    """A moderator's client offers Unmute for a muted member (``muted`` in member_list):
    a mute made through one node is in the list another node answers, and its unmute too."""
    n = nodes(2)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        for client in (ana, bia):
            notices(client, until=("joined", "Bia"))
        done(ana, Mute("m", "#redes", "Bia"))
        notices(bia, until=("mute", "Bia"))  # node 1 has the mute: it tells it once it has it

        def muted() -> list[tuple[str, bool]]:
            bia.send(MembersRequest("m", "#redes"))
            return [(m.name, m.muted) for m in bia.expect(MemberList, skip=QUIET).members]
        assert muted() == [("Ana", False), ("Bia", True)]
        done(ana, Unmute("u", "#redes", "Bia"))
        notices(bia, until=("unmute", "Bia"))
        assert muted() == [("Ana", False), ("Bia", False)]


def test_a_console_administrator_moderates_through_every_node(nodes):
    n = nodes(2)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia, n.login(1, "Teacher", account=True) as teacher:
        online_everywhere(n, "Ana", "Bia", "Teacher")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        teacher.send(Kick("k0", "#redes", "Bia"))
        teacher.expect_error(ErrorCode.NOT_MEMBER, skip=QUIET)
        print(n.call(n.servers[0].relay.room_desk.add_admin, "Teacher"))  # the console of node 0
        wait_for(lambda: n.call(lambda: "teacher" in n.servers[1].relay.room_desk.rooms.admins()),
                 what="node 1 knows the administrator")
        done(teacher, Kick("k1", "#redes", "Bia"))  # through node 1
        # Node 0 applies it when it reads the stream, in no order with node 1's answer.
        wait_for(lambda: members(ana, "#redes") == [("Ana", "owner", True)], what="the kick known on node 0")


def test_a_kick_racing_posts_through_another_node_does_not_split_the_room(nodes):
    """Bia posts through node 1 as fast as she may while Ana kicks her through node 0:
    every post of hers that was accepted reached Caio (node 2) before the kick notice, and
    none after it; what came after the kick was refused (not_member), on the room as it is."""
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia, n.login(2, "Caio") as caio:
        online_everywhere(n, "Ana", "Bia", "Caio")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        join(caio, "#redes")
        notices(caio)
        for i in range(20):
            bia.send(SendToRoom(f"s{i}", "#redes", f"post {i}"))
        ana.send(Kick("k", "#redes", "Bia", "enough"))
        for i in range(20, 40):
            bia.send(SendToRoom(f"s{i}", "#redes", f"post {i}"))
        answers = []
        while len(answers) < 40:
            event = bia.expect((Accepted, ErrorReply), skip=QUIET + (RoomPost,))
            if isinstance(event, ErrorReply) and event.code == ErrorCode.RATE_LIMITED:
                answers.append(None)
                continue
            answers.append(event)
        accepted = [a.msg_id for a in answers if isinstance(a, Accepted)]
        refused = [a.code for a in answers if isinstance(a, ErrorReply)]
        assert set(refused) <= {ErrorCode.NOT_MEMBER}, refused
        caio_saw = []
        while True:
            event = caio.expect((RoomPost, RoomNotice), skip=PRESENCE)
            caio_saw.append(event)
            if isinstance(event, RoomNotice) and event.act == "kick":
                break
        assert sorted(p.msg_id for p in caio_saw if isinstance(p, RoomPost)) == sorted(accepted)
        assert not [e for e in caio.drain(quiet=0.5) if isinstance(e, RoomPost)]


def test_members_on_the_kicking_node_get_the_posts_stored_before_the_kick_as_everywhere(nodes):
    """Caio posts through node 1 while Ana kicks Bia through node 0, where Bia is too:
    Bia gets exactly the posts that come before the kick in the one order (as Dan on node
    2 sees it), although node 0 applied the kick to its copy of the room before the
    stream brought it those posts."""
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(0, "Bia") as bia, n.login(1, "Caio") as caio, \
            n.login(2, "Dan") as dan:
        online_everywhere(n, "Ana", "Bia", "Caio", "Dan")
        join(ana, "#redes", create=True)
        for client in (bia, caio, dan):
            join(client, "#redes")
        for round_ in range(3):
            if round_:
                join(bia, "#redes", f"j{round_}")
            for client in (ana, bia, caio, dan):
                client.drain(quiet=0.3)
            for i in range(8):
                caio.send(SendToRoom(f"s{round_}-{i}", "#redes", f"post {i}"))
                if i == 3:
                    ana.send(Kick(f"k{round_}", "#redes", "Bia"))
            time.sleep(0.05)

            def before_kick(client: WireClient) -> list[int]:
                ids = []
                while True:
                    event = client.expect((RoomPost, RoomNotice), skip=PRESENCE + (Done, Accepted, ErrorReply))
                    if isinstance(event, RoomNotice) and event.act == "kick":
                        return ids
                    if isinstance(event, RoomPost):
                        ids.append(event.msg_id)

            expected = before_kick(dan)
            assert before_kick(bia) == expected
            assert before_kick(ana) == expected
            assert not [e for e in bia.drain(quiet=0.5) if isinstance(e, RoomPost)]


def test_while_redis_is_down_room_requests_are_answered_unavailable_in_time_and_nothing_of_them_happened(
        nodes, redis_server):  # noqa: F811
    n = nodes(2)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        redis_server.kill()
        started = time.monotonic()
        ana.send(Kick("k", "#redes", "Bia"))
        assert ana.expect_error(ErrorCode.UNAVAILABLE, 20, skip=QUIET).retry_after
        bia.send(SendToRoom("s", "#redes", "anyone?"))
        assert bia.expect_error(ErrorCode.UNAVAILABLE, 20, skip=QUIET).retry_after
        assert time.monotonic() - started < 20
        # Nothing of the kick happened: Bia is still a member, on both nodes' copies.
        for server in n.servers:
            assert n.call(lambda s=server: list(s.relay.room_desk.rooms.get("#redes").members.values())) == \
                ["Ana", "Bia"]


def test_a_block_through_one_node_keeps_a_room_post_from_another_node_away(nodes):
    n = nodes(3)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia, n.login(2, "Caio") as caio:
        online_everywhere(n, "Ana", "Bia", "Caio")
        for client in (ana, bia, caio):
            join(client, "#redes", create=client is ana)
        done(bia, Block("b", "Ana"))
        wait_for(lambda: n.call(lambda: all("ana" in s.relay.blocked.get("bia", ()) for s in n.servers)),
                 what="every node knows the block")
        ana.send(SendToRoom("p1", "#redes", "hello"))
        caio.send(SendToRoom("p2", "#redes", "hi"))
        assert sorted(p.text for p in posts(caio, 2)) == ["hello", "hi"]
        assert [p.text for p in posts(bia, 1)] == ["hi"]
        assert not [e for e in bia.drain(quiet=0.5) if isinstance(e, RoomPost)]


def test_named_room_posts_are_counted_in_the_metrics_on_the_node_that_stored_them(nodes):
    # chat_messages_total{kind="room",outcome="sent"} counts a new post to a named room as
    # it counts the default room's: once, on the node that answered it (a resend not again).
    n = nodes(2)
    with n.login(0, "Ana") as ana, n.login(1, "Bia") as bia:
        online_everywhere(n, "Ana", "Bia")
        join(ana, "#redes", create=True)
        join(bia, "#redes")
        for request_id in ("p1", "p2", "p1"):  # the second p1 is a resend
            ana.send(SendToRoom(request_id, "#redes", "counted"))
            ana.expect(Accepted, skip=QUIET + (RoomPost,))
        assert n.call(lambda: n.servers[0].relay.metrics.room_sent) == 2
        assert n.call(lambda: n.servers[1].relay.metrics.room_sent) == 0


def test_ones_own_rooms_are_listed_by_any_node(nodes):
    """``rooms`` with ``mine`` through any node: Bia, let into Ana's invite-only #lab3
    through one node, logs in again through another, which lists exactly #lab3 as hers;
    put out through a third node, she is in none (each node's rooms are the cluster's)."""
    n = nodes(3)
    with n.login(0, "Ana") as ana:
        assert join(ana, "#lab3", create=True, invite_only=True).created
        join(ana, "#algebra")
        done(ana, Invite("i", "#lab3", "Bia"))
        with n.login(1, "Bia") as bia:
            assert join(bia, "#LAB3").room_name == "#lab3"
        offline_everywhere(n, "Bia")
        with n.login(2, "Bia") as bia:
            bia.send(RoomsRequest("r", mine=True))
            mine = bia.expect(RoomList, skip=QUIET)
            assert (mine.mine, [(r.room_name, r.count, r.invite_only) for r in mine.rooms], mine.next) == \
                (True, [("#lab3", 2, True)], None)
            done(ana, Kick("k", "#lab3", "Bia"))
            kicked = bia.expect(RoomNotice, skip=PRESENCE)  # the one notice of #lab3 she may get
            assert (kicked.room_name, kicked.act, kicked.name) == ("#lab3", "kick", "Bia")
            bia.send(RoomsRequest("r2", mine=True))
            assert bia.expect(RoomList, skip=QUIET) == RoomList("r2", (), None, True)


def test_a_cluster_of_accounts_only_invites_an_account_of_another_node_and_no_name_without_one(nodes):
    """The rule of server/rooms.py (an invitation is for an account where only accounts log
    in) on every node alike: an account registered on another node, offline, is invited;
    a name with no account is unknown_recipient."""
    cluster = nodes(2, require_accounts=True)
    cluster.login(1, "Mia", account=True).close()
    wait_for(lambda: cluster.call(lambda: "mia" in cluster.servers[0].relay.logins.accounts), what="Mia's account")
    with cluster.login(0, "Olga", account=True) as olga:
        olga.send(JoinRoom("j1", "#secret", invite_only=True))
        olga.expect(RoomInfo, skip=QUIET)
        olga.send(Invite("i1", "#secret", "Mla"))
        refused = olga.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=QUIET)
        assert refused.request_id == "i1" and refused.message.startswith("Mla has no account here")
        olga.send(Invite("i2", "#secret", "Mia"))
        assert olga.expect(Done, skip=QUIET).request_id == "i2"
