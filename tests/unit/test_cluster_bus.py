"""The sans-I/O parts of the cluster: the bus encoding (bytes in and out) and the
directory every node derives from the events stream (events in, notices out)."""

from __future__ import annotations

import asyncio

import pytest

from server.cluster import bus
from server.cluster.directory import NODE_GONE_REASON, Directory, Joined, Left
from server.mailbox import StoredMessage

import const

MESSAGE = StoredMessage(7, "Ana", "ana", "Bia", "bia", "olá 🌍", 1700000000.25, "r-1", "sent", 1700086400.0)
EVENTS = [
    bus.SessionOn("ana", "Ana", False, "n1/1", "n1", "127.0.0.1", 50000, 1700000000.5),
    bus.SessionOff("ana", "n1/1", "quit", 1700000001.0),
    bus.NodeGone("n1"),
    bus.RoomPost(8, "Ana", "ana", "olá a todos", 1700000002.0),
    bus.BlockChange("bia", "ana", True),
    bus.Registered("ana"),
    bus.Deliver(MESSAGE),
    bus.Tell("ana", 7, '{"type":"delivered","id":"r-1","msg_id":7}'),
    bus.AccountSaved("ana", "Ana", "ab" * 32, "cd" * 16, "scrypt:n=16384,r=8,p=1"),
    bus.AccountSaved("ana", "Ana", "ab" * 32, "cd" * 16, "scrypt:n=16384,r=8,p=1", "ef" * 32),  # a password change
    bus.PasswordReset("ana"),
    bus.HoldingSaved("bia", "Bia", "ef" * 32, 6, None),
    bus.HoldingSaved("bia", "Bia", "ef" * 32, 6, 1700000003.0),
    bus.Settled("bia", 7),
    bus.CarbonCopy("ana", 7, '{"type":"sent","msg_id":7,"to":"Bia","text":"olá","sent_at":1.5,"state":"sent"}'),
    bus.Conversation("bia", "ana", "read", '{"type":"read","with":"Bia","msg_id":7,"from":"Ana"}', 1700000004.5),
    bus.Conversation("bia", "ana", "typing", '{"type":"typing","to":"Bia","from":"Ana"}', 1700000005.0),
    bus.ReceiptsSwitch("ana", False),
    bus.RoomReadMoved("#redes", "ana", 90),
    bus.Probe("ana"),
    bus.SessionSeen("ana", "node-b/7"),
    bus.MessagesWaiting("conceição"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_bus_event_survives_encoding(event):
    data = bus.encode(event)
    assert isinstance(data, bytes)
    assert bus.decode(data) == event


@pytest.mark.parametrize("msg_id", [1, 7, 1234567890123])
def test_a_dm_entry_cut_around_its_id_is_the_entry_of_the_message_with_that_id(msg_id):
    # The store's script joins the two halves around the id it gives the message.
    from dataclasses import replace

    before, after = bus.deliver_parts(replace(MESSAGE, msg_id=0, text='a "quoted", 0 olá'))
    expected = replace(MESSAGE, msg_id=msg_id, text='a "quoted", 0 olá')
    assert before + b"%d" % msg_id + after == bus.encode(bus.Deliver(expected))


def test_the_reap_scripts_entry_decodes():
    # scripts.REAP writes this one itself, with cjson.
    assert bus.decode(b'{"k":"gone","node":"host-12-abc"}') == bus.NodeGone("host-12-abc")


def test_a_direct_message_keeps_every_field():
    assert bus.decode(bus.encode(bus.Deliver(MESSAGE))).message == MESSAGE


@pytest.mark.parametrize("data, says", [
    (b"", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not an object"),
    (b'{"k":"what"}', "unknown kind"),
    (b'{"node":"n1"}', "unknown kind"),
    (b'{"k":"gone"}', "'node' is not a str"),
    (b'{"k":"gone","node":5}', "'node' is not a str"),
    (b'{"k":"on","key":"a","name":"A","shared":1,"sid":"n/1","node":"n","address":"x","port":1,"since":1}',
     "'shared' is not a bool"),
    (b'{"k":"off","key":"a","sid":"n/1","reason":"quit","at":"now"}', "'at' is not a float"),
    (b'{"k":"dm","m":[1,2]}', "needs its message's fields"),
    (b'{"k":"dm"}', "needs its message's fields"),
    # The cross-node message path: each of its message's fields checked as another kind's.
    (b'{"k":"dm","m":[7,"Ana","ana","Bia","bia",42,1700000000.25,"r-1","sent",null,null,false]}',
     "dm: field 'text' is not a str"),
    (b'{"k":"dm","m":[[7],"Ana","ana","Bia","bia","oi",1700000000.25,"r-1","sent",null,null,false]}',
     "dm: field 'msg_id' is not a int"),
    (b'{"k":"dm","m":[true,"Ana","ana","Bia","bia","oi",1700000000.25,"r-1","sent",null,null,false]}',
     "dm: field 'msg_id' is not a int"),
    (b'{"k":"dm","m":[7,"Ana","ana",{},"bia","oi",1700000000.25,"r-1","sent",null,null,false]}',
     "dm: field 'recipient' is not a str | None"),
    (b'{"k":"dm","m":[7,"Ana","ana","Bia","bia","oi","ontem","r-1","sent",null,null,false]}',
     "dm: field 'sent_at' is not a float"),
    (b'{"k":"dm","m":[7,"Ana","ana","Bia","bia","oi",1700000000.25,"r-1","sent",null,null,0]}',
     "dm: field 'deleted' is not a bool"),
    (b'{"k":"dm","m":[7,"Ana","ana","Bia","bia","oi",1700000000.25,"r-1","sent",null,null]}',
     "needs its message's fields"),
    (b'{"k":"dm","m":{"msg_id":7}}', "needs its message's fields"),
    (b'{"k":"receipts","key":"ana","on":1}', "'on' is not a bool"),
    (b'{"k":"conv","key":"bia","actor":"ana","feature":"typing","frame":"{}"}', "'at' is not a float"),
])
def test_a_bad_entry_is_refused_saying_why(data, says):
    with pytest.raises(bus.BadEntry, match=says):
        bus.decode(data)


def test_a_node_skips_bad_dm_entries_counting_them_and_logs_them_once(caplog):
    """A broken or hostile dm entry in a node's inbox reaches no handler (it logged a
    traceback there): the node counts it and says so once, not once an entry."""
    import logging

    from server.cluster.node import ClusterNode

    class Relay:
        store = object()  # not Redis's: attach() asks what it can do

        def __init__(self) -> None:
            self.delivered: list = []
            self.deliver_routed = self.delivered.append

    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    relay = Relay()
    node.attach(relay)
    delivered = relay.delivered
    good = bus.encode(bus.Deliver(MESSAGE))
    bad = [good.replace('"olá 🌍"'.encode(), b"42"), good.replace(b"[7,", b"[[7],"), b'{"k":"dm","m":[7]}']
    assert all(entry != good for entry in bad)
    caplog.set_level(logging.ERROR, logger="chat.server")
    for entry in [*bad, good, *bad]:
        node._apply_inbox([b"e", entry])
    assert delivered == [MESSAGE]
    assert node._bad_entries == 6
    said = [r.getMessage() for r in caplog.records if "unreadable stream entr" in r.getMessage()]
    assert len(said) == 1 and "1 unreadable" in said[0], said


@pytest.mark.logs_tracebacks("an event made to fail")
def test_a_node_applies_every_event_of_an_inbox_entry_in_order_even_after_one_that_fails(caplog):
    """An inbox entry holds the events one script call routed to the node, one a line
    (scripts.HELD_FUNCTIONS): each is applied, in order; an unreadable one is counted and
    skipped, and a bug in applying one is logged and the events after it still applied
    (one bug must not lose the other messages of the call)."""
    import logging
    from dataclasses import replace

    from server.cluster.node import ClusterNode

    class Relay:
        store = object()

        def __init__(self) -> None:
            self.delivered: list = []

        def deliver_routed(self, message) -> None:
            if message.msg_id == 9:
                raise RuntimeError("a bug")
            self.delivered.append(message.msg_id)

        def settled_elsewhere(self, key, msg_id) -> None:
            self.delivered.append(("settled", key, msg_id))

    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", beat=0.001)
    relay = Relay()
    node.attach(relay)
    caplog.set_level(logging.ERROR, logger="chat.cluster")
    lines = [bus.encode(bus.Deliver(replace(MESSAGE, msg_id=i))) for i in (8, 9, 10)]
    lines[2:2] = [b"not json", bus.encode(bus.Settled("bob", 3))]
    node._apply_inbox([b"e", b"\n".join(lines)])
    assert relay.delivered == [8, ("settled", "bob", 3), 10]
    assert node._bad_entries == 1 and node._apply_errors == 1


def on(key, name, sid, since=100.0, shared=False):
    return bus.SessionOn(key, name, shared, sid, sid.rsplit("/", 1)[0], "127.0.0.1", 5000, since)


def test_the_directory_tells_a_join_and_a_leave_once():
    directory = Directory()
    assert directory.apply(on("ana", "Ana", "n1/1", 100.0), now=0) == [Joined("ana", "Ana", 100.0)]
    assert "Ana" in directory.registry and len(directory) == 1
    assert directory.apply(on("ana", "Ana", "n1/1", 100.0), now=0) == []  # the same entry again
    assert directory.apply(bus.SessionOff("ana", "n1/1", "quit", 101.0), now=0) == [Left("ana", "Ana", "quit", 101.0)]
    assert directory.apply(bus.SessionOff("ana", "n1/1", "quit", 101.0), now=0) == []
    assert len(directory) == 0


def test_an_account_on_two_nodes_is_one_user_until_its_last_session_ends():
    directory = Directory()
    assert directory.apply(on("caio", "Caio", "n1/1", 100.0, shared=True), now=0) == [Joined("caio", "Caio", 100.0)]
    assert directory.apply(on("caio", "Caio", "n2/1", 200.0, shared=True), now=0) == []
    record = directory.registry.lookup("caio")
    assert [e.session for e in record.endpoints] == ["n1/1", "n2/1"] and record.since == 100.0
    assert directory.apply(bus.SessionOff("caio", "n1/1", "quit", 300.0), now=0) == []
    assert directory.apply(bus.SessionOff("caio", "n2/1", "quit", 301.0), now=0) == [
        Left("caio", "Caio", "quit", 301.0)]


def test_the_users_of_a_dead_node_leave_with_notices_and_the_others_stay():
    directory = Directory()
    for event in (on("ana", "Ana", "n1/1"), on("bia", "Bia", "n2/1"), on("caio", "Caio", "n1/2", shared=True),
                  on("caio", "Caio", "n2/2", shared=True)):
        directory.apply(event, now=0)
    notices = directory.apply(bus.NodeGone("n1"), now=500.0)
    assert notices == [Left("ana", "Ana", NODE_GONE_REASON, 500.0)]  # Caio is still online on n2
    assert [r.name for r in directory.registry.online()] == ["Bia", "Caio"]
    assert directory.apply(bus.NodeGone("n1"), now=501.0) == []
    # A late "off" of a session the NodeGone removed changes nothing.
    assert directory.apply(bus.SessionOff("ana", "n1/1", "quit", 502.0), now=0) == []


def test_the_users_of_a_node_that_stopped_in_order_move_without_news_or_are_told_gone_after_the_grace():
    directory = Directory()
    for event in (on("ana", "Ana", "n1/1"), on("bia", "Bia", "n1/2"), on("caio", "Caio", "n2/1")):
        directory.apply(event, now=0)
    stopped = const.SHUTDOWN_REASON
    assert directory.apply(bus.SessionOff("ana", "n1/1", stopped, 100.0), now=1000.0) == []
    assert directory.apply(bus.SessionOff("bia", "n1/2", stopped, 100.0), now=1000.0) == []
    assert [r.name for r in directory.registry.online()] == ["Caio"]  # /who tells the truth meanwhile
    # Ana is back on the other node within the grace: no join either.
    assert directory.apply(on("ana", "Ana", "n2/2", 101.0), now=1001.0) == []
    assert directory.overdue(1000.0 + const.CLUSTER_MOVE_GRACE - 0.1) == []
    # Bia is not: her leave is told once the grace is over, once, with the stop's reason and time.
    assert directory.overdue(1000.0 + const.CLUSTER_MOVE_GRACE) == [Left("bia", "Bia", stopped, 100.0)]
    assert directory.overdue(2000.0) == []
    assert directory.apply(on("bia", "Bia", "n2/3", 2000.0), now=2000.0) == [Joined("bia", "Bia", 2000.0)]
    # Any other reason is told at once, as before.
    assert directory.apply(bus.SessionOff("caio", "n2/1", "quit", 2001.0), now=2001.0) == [
        Left("caio", "Caio", "quit", 2001.0)]


def test_a_node_id_with_a_slash_still_names_its_sessions():
    directory = Directory()
    directory.apply(on("ana", "Ana", "host/a-1/3"), now=0)
    assert directory.apply(bus.NodeGone("host/a-1"), now=9.0) == [Left("ana", "Ana", NODE_GONE_REASON, 9.0)]


def test_load_starts_again_from_a_snapshot():
    directory = Directory()
    directory.apply(on("old", "Old", "n9/1"), now=0)
    directory.load([("ana", "Ana", False, [("n1/1", "10.0.0.1", 4000, 50.0)]),
                    ("caio", "Caio", True, [("n1/2", "10.0.0.2", 4001, 60.0), ("n2/1", "10.0.0.3", 4002, 70.0)])])
    assert [r.name for r in directory.registry.online()] == ["Ana", "Caio"]
    assert directory.registry.lookup("caio").shared
    # The snapshot's sessions are followed like the others.
    assert directory.apply(bus.NodeGone("n1"), now=1.0) == [Left("ana", "Ana", NODE_GONE_REASON, 1.0)]


def test_a_guest_that_registers_becomes_shared():
    directory = Directory()
    directory.apply(on("ana", "Ana", "n1/1"), now=0)
    assert not directory.registry.lookup("ana").shared
    directory.apply(bus.Registered("ana"), now=0)
    assert directory.registry.lookup("ana").shared


def test_a_guests_second_session_is_followed_not_refused():
    # After a node rejoined, its guest's new session may come before the old one's end:
    # the claim decided; the directory follows (and must not raise, or its reader stops).
    directory = Directory()
    directory.apply(on("ana", "Ana", "n1/1", 100.0), now=0)
    assert directory.apply(on("ana", "Ana", "n1/2", 100.0), now=0) == []
    assert not directory.registry.lookup("ana").shared
    assert directory.apply(bus.NodeGone("n1"), now=5.0) == [Left("ana", "Ana", NODE_GONE_REASON, 5.0)]


def test_a_rejoining_node_does_not_tell_its_own_users_that_they_left_and_joined():
    """After a rejoin a node reads its own NodeGone, then the SessionOn of each session it
    claimed again. Its users never left: the directory holds their leaves back and drops
    them, with the joins, when the users are online again; a user of another node that
    the NodeGone did not concern is unaffected. The old sessions go all the same (no ghost
    in who; a later leave is told)."""
    here = Directory("n1")
    there = Directory("n2")  # another node's view of the same stream
    for event in (on("ana", "Ana", "n1/1"), on("caio", "Caio", "n1/2"), on("bia", "Bia", "n2/1"),
                  on("duda", "Duda", "n1/3")):
        here.apply(event, now=0)
        there.apply(event, now=0)
    # Duda logged out during the outage (her release never reached Redis): she is not in
    # ``here`` any more, so her leave is told at once, as before.
    assert here.apply(bus.NodeGone("n1"), now=500.0, here={"ana", "caio"}) == [
        Left("duda", "Duda", NODE_GONE_REASON, 500.0)]
    assert there.apply(bus.NodeGone("n1"), now=500.0) == [
        Left("ana", "Ana", NODE_GONE_REASON, 500.0), Left("caio", "Caio", NODE_GONE_REASON, 500.0),
        Left("duda", "Duda", NODE_GONE_REASON, 500.0)]
    assert [r.name for r in here.registry.online()] == ["Bia"]  # the old sessions are gone
    assert set(here.held) == {"ana", "caio"}
    # Claimed again: no join here, a join there.
    assert here.apply(on("ana", "Ana", "n1/4"), now=0) == []
    assert there.apply(on("ana", "Ana", "n1/4"), now=0) == [Joined("ana", "Ana", 100.0)]
    assert [r.name for r in here.registry.online()] == ["Ana", "Bia"]
    # Caio's name was taken meanwhile: his session closed, and his leave is told now.
    assert here.let_go("caio", "server lost the cluster", 501.0) == [
        Left("caio", "Caio", "server lost the cluster", 501.0)]
    assert here.held == {} and here.let_go("caio", "quit", 502.0) == []
    # A later leave of a reclaimed session is told as any other; so is the next NodeGone
    # passed no ``here`` (or another node's).
    assert here.apply(bus.SessionOff("ana", "n1/4", "quit", 600.0), now=0) == [Left("ana", "Ana", "quit", 600.0)]
    here.apply(on("eli", "Eli", "n1/5"), now=0)
    assert here.apply(bus.NodeGone("n2"), now=700.0, here={"bia"}) == [Left("bia", "Bia", NODE_GONE_REASON, 700.0)]
    assert here.apply(bus.NodeGone("n1"), now=701.0) == [Left("eli", "Eli", NODE_GONE_REASON, 701.0)]


def test_a_held_leave_ends_without_a_notice_when_the_user_comes_back_any_way():
    """The user of a held leave who is online again by another way (a session on another
    node, or a reload that shows them) was not away as far as this node's users know."""
    directory = Directory("n1")
    directory.apply(on("ana", "Ana", "n1/1", shared=True), now=0)
    directory.apply(on("bia", "Bia", "n1/2"), now=0)
    assert directory.apply(bus.NodeGone("n1"), now=5.0, here={"ana", "bia"}) == []
    assert directory.apply(on("ana", "Ana", "n2/1", shared=True), now=0) == []
    directory.load([("bia", "Bia", False, [("n1/3", "127.0.0.1", 5000, 1.0)])])
    assert directory.held == {}
    assert directory.let_go("bia", "quit", 6.0) == []


class FakeSession:
    address, port, closing = "127.0.0.1", 5000, False


def test_a_node_without_a_confirmed_heartbeat_answers_logins_unavailable_at_once():
    """The cut-off rule, on a fake clock and without Redis: a node admits nobody unless
    Redis confirmed its heartbeat within the TTL (so it cannot split the registry)."""
    from server.cluster.node import ClusterNode
    now = [1000.0]
    node = ClusterNode("redis://127.0.0.1:1/0", ttl=5.0, clock=lambda: now[0])
    assert not node.available  # never joined
    node._last_beat = now[0]  # what a confirmed JOIN or BEAT records
    now[0] += 4.9
    assert node.available
    now[0] += 0.2
    assert not node.available

    async def login() -> list:
        answers: list = []
        node.claim(FakeSession(), "ana", "Ana", False, now[0], answers.append)
        assert answers == []  # never from inside the call
        await asyncio.sleep(0)
        return answers

    assert asyncio.run(login()) == ["unavailable"]


class Heard:
    """The relay as a node tells it joins and leaves (ClusterNode._notify), recording them."""

    def __init__(self) -> None:
        self.known: dict[str, str] = {}
        self.notices: list[tuple] = []

    def cluster_joined(self, key: str, name: str, since: float) -> None:
        self.notices.append(("joined", name))

    def cluster_left(self, key: str, name: str, reason: str, at: float) -> None:
        self.notices.append(("left", name, reason))

    def node_lost(self, node: str) -> None:
        pass


def test_a_rejoining_node_tells_its_users_only_the_leaves_of_sessions_not_claimed_again():
    """The node's side of the rule, without Redis: at its own NodeGone the users with a
    session open here are held back (not told left); the SessionOn of a session claimed
    again tells nothing; a session that ends before its name is claimed again (its
    client quit, or the claim failed) lets its user's leave be told, once no other
    session of that user here is left to claim."""
    from server.cluster.node import ClusterNode

    class Session(FakeSession):
        def __init__(self, name: str) -> None:
            self.name = name

    def entry(event: bus.BusEvent) -> list:
        data = bus.encode(event)
        return [b"e", data.encode() if isinstance(data, str) else data]

    async def run() -> list[tuple]:
        node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1", timeout=0.1)
        node.relay = heard = Heard()
        ana, caio1, caio2, duda = Session("Ana"), Session("Caio"), Session("Caio"), Session("Duda")
        for number, (session, key) in enumerate(((ana, "ana"), (caio1, "caio"), (caio2, "caio"), (duda, "duda")), 1):
            node._sids[session] = (f"n1/{number}", key, 1.0)
            node._apply_event(entry(on(key, session.name, f"n1/{number}", shared=True)))
        node._apply_event(entry(on("bia", "Bia", "n2/1")))
        heard.notices.clear()
        node._apply_event(entry(bus.NodeGone("n1")))
        assert heard.notices == []  # every user of n1 still has a session here
        node._sids[ana] = ("n1/5", "ana", 1.0)  # Ana's name claimed again (_claim_again)
        node._reclaimed.add("n1/5")
        node._apply_event(entry(on("ana", "Ana", "n1/5")))
        node.release(caio1, "quit", 2.0)  # one of Caio's two sessions: he is still here
        node.release(duda, "quit", 3.0)
        node.release(caio2, "disconnected", 4.0)
        node.release(ana, "quit", 5.0)  # a reclaimed session: its SessionOff will tell
        node._apply_event(entry(bus.SessionOff("ana", "n1/5", "quit", 5.0)))
        await node._redis.close()
        return heard.notices

    assert asyncio.run(run()) == [("left", "Duda", "quit"), ("left", "Caio", "disconnected"),
                                  ("left", "Ana", "quit")]


def test_the_node_answers_where_a_user_is_with_one_directory_lookup():
    """``elsewhere`` (asked twice per direct message) is true exactly when the directory
    shows the user online with a session on another node, and asks the directory once:
    the all-here test and the online test are one lookup (``_here``), not two. (Since
    round ten the one lookup is of the directory's ``where``, not the registry's: no
    registry lookup at all.)"""
    from server.cluster.node import ClusterNode
    node = ClusterNode("redis://127.0.0.1:1/0", node_id="n1")
    node.users.load([("alice", "Alice", False, [("n1/1", "127.0.0.1", 1, 1.0)]),
                     ("bob", "Bob", True, [("n1/2", "127.0.0.1", 2, 1.0), ("n2/1", "127.0.0.1", 3, 1.0)]),
                     ("carol", "Carol", False, [("n2/5", "127.0.0.1", 4, 1.0)])])
    lookups: list[str] = []

    class Counted:  # the directory as the node asks it, counting the lookups
        def lookup_key(self, key: str):
            lookups.append(key)
            return node.users.registry.lookup_key(key)

    node.directory = Counted()
    assert [node.elsewhere(key) for key in ("alice", "bob", "carol", "dave")] == [False, True, True, False]
    assert lookups == []  # was ["alice", "bob", "carol", "dave"]: one lookup each, now none
    assert [node._here(key) for key in ("alice", "bob", "carol", "dave")] == [True, False, False, None]


def test_the_directorys_where_follows_every_change_of_sessions_as_a_scan_of_the_registry_says():
    """Directory.where (what ClusterNode._here answers from: True if all of a user's
    sessions are on this node, False if one is elsewhere, absent if offline) equals a scan
    of the registry's records after every entry of a random stream of session entries
    (joins, second sessions here and elsewhere, leaves, repeated and unknown leaves, a
    node's end, a reload), seen from a node that holds sessions and from one that holds
    none."""
    import random

    def scanned(directory: Directory, mine: str) -> dict[str, bool]:
        found = {}
        for key in ("ana", "bia", "caio", "duda", "eli"):
            record = directory.registry.lookup_key(key)
            if record is not None:
                found[key] = all(sid.startswith(mine + "/") for sid in record.sessions)
        return found

    rng = random.Random(10)
    for node in ("n1", "n9"):
        directory = Directory(node)
        where = directory.where  # the node holds this one dict for the directory's life
        live: set[tuple[str, str]] = set()
        for step in range(3000):
            roll = rng.random()
            key = rng.choice(("ana", "bia", "caio", "duda", "eli"))
            sid = f"{rng.choice(('n1', 'n2', 'n3'))}/{rng.randrange(4)}"
            if roll < 0.45:
                if all(s != sid for _k, s in live):
                    live.add((key, sid))
                directory.apply(on(key, key.title(), sid, shared=True), now=0)
            elif roll < 0.85:
                held = sorted(live)
                if held and rng.random() < 0.9:
                    key, sid = rng.choice(held)
                live.discard((key, sid))
                directory.apply(bus.SessionOff(key, sid, "quit", 1.0), now=0)
            elif roll < 0.95:
                gone = rng.choice(("n1", "n2", "n3"))
                live = {(k, s) for k, s in live if not s.startswith(gone + "/")}
                directory.apply(bus.NodeGone(gone), now=0)
            else:  # a reload from the snapshot of what is live now
                by_key: dict[str, list] = {}
                for k, s in sorted(live):
                    by_key.setdefault(k, []).append((s, "127.0.0.1", 5000, 1.0))
                directory.load([(k, k.title(), True, sessions) for k, sessions in by_key.items()])
            assert directory.where is where
            assert where == scanned(directory, node), (step, roll, key, sid)
        assert any(where.values()) or node == "n9"
    # Without a node, nobody's sessions are "here".
    directory = Directory()
    directory.apply(on("ana", "Ana", "n1/1"), now=0)
    assert directory.where == {"ana": False}


def test_a_cross_node_messages_entries_are_encoded_decoded_and_cut_without_dataclass_introspection(monkeypatch):
    # Each cross-node message is a Deliver entry (cut around its id for the store's script),
    # a Tell (its outcome) and at times a Settled, encoded by one node and decoded by
    # another: what each kind's fields are is found once, not asked of dataclasses per entry.
    import dataclasses

    unsent = StoredMessage(0, "Ana", "ana", "Bia", "bia", "olá 🌍", 1700000000.25, "r-1", "sent", 1700086400.0)

    def asked(*args, **kwargs):
        raise AssertionError("dataclasses introspected per entry")

    for name in ("fields", "replace"):
        monkeypatch.setattr(dataclasses, name, asked)
        if hasattr(bus, name):
            monkeypatch.setattr(bus, name, asked)
    before, after = bus.deliver_parts(unsent)
    assert bus.decode(before + b"7" + after) == bus.Deliver(MESSAGE)
    for event in (bus.Deliver(MESSAGE), bus.Tell("ana", 7, '{"type":"delivered","id":"r-1","msg_id":7}'),
                  bus.Settled("bia", 7), bus.CarbonCopy("ana", 7, '{"type":"sent","msg_id":7}')):
        assert bus.decode(bus.encode(event)) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_entry_is_the_text_of_the_standard_encoder(event):
    # A node of the version before reads what this one writes, and the store's scripts
    # join a dm entry's parts: the text is JSONEncoder's, compact, to the byte.
    import json
    from dataclasses import asdict

    standard = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
    if type(event) is bus.Deliver:
        expected = {"k": "dm", "m": list(asdict(event.message).values())}
    else:
        expected = {"k": event.KIND, **asdict(event)}
    assert bus.encode(event) == standard(expected).encode("utf-8")


def test_a_cross_node_messages_entries_go_through_the_json_c_scanner_and_encoder_alone(monkeypatch):
    # JSONEncoder.encode and JSONDecoder.decode wrap the C encoder and scanner in two
    # Python calls each (and a new encoder per call): four entries a cross-node message.
    import json

    def wrapped(*args, **kwargs):
        raise AssertionError("through json's Python wrappers")

    monkeypatch.setattr(json.encoder.JSONEncoder, "iterencode", wrapped)
    monkeypatch.setattr(json.decoder.JSONDecoder, "raw_decode", wrapped)
    unsent = StoredMessage(0, "Ana", "ana", "Bia", "bia", "olá 🌍", 1700000000.25, "r-1", "sent", 1700086400.0)
    before, after = bus.deliver_parts(unsent)
    assert bus.decode(before + b"7" + after) == bus.Deliver(MESSAGE)
    for event in (bus.Tell("ana", 7, '{"type":"delivered","id":"r-1","msg_id":7}'), bus.Settled("bia", 7)):
        assert bus.decode(bus.encode(event)) == event


@pytest.mark.parametrize("data", [b' {"k":"gone","node":"n1"}', b'{"k":"gone","node":"n1"}\n', '{"k":"gone","node":"n1"}'])
def test_an_entry_with_spaces_around_it_or_given_as_text_still_decodes(data):
    assert bus.decode(data) == bus.NodeGone("n1")
