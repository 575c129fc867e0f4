"""The answer to a ``watch`` says which names nobody has (``unknown``), by the one rule
``whois`` answers ``unknown`` by (RegistryDesk.known_names), so that a client's kept
contact list can say "nobody by that name has logged in here" of a forgotten name, not
"offline" forever. A single server decides from what it knows; a cluster node asks the
shared store once per watch for all the names it does not know (not once a name), holds
the client's later frames meanwhile (an unwatch behind the watch is done after it), and
when Redis does not answer counts those names offline, never unknown. Sans-I/O:
RegistryDesk with a fake relay, session, peers and clock."""

from __future__ import annotations

import json
from types import SimpleNamespace

import const
from protocol import LookupRequest, LookupResult, Presence, Unwatch, Watch, Watching
from protocol import codec
from registry import canonical
from server.accountdesk import AccountDesk
from server.peers import UNANSWERED
from server.presence import Watchlists
from server.registrydesk import RegistryDesk

SINCE = 1763712000.5


class FakeClock:
    """The time a session's reading is held from (ClientSession.hold_reading); moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0


class FakeSession:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list = []
        self.closing = False
        self.reading_held_since: float | None = None

    def send(self, event: object) -> None:
        self.sent.append(event)

    def hold_reading(self) -> None:
        self.reading_held_since = self.clock.now

    def release_reading(self, first=None) -> None:
        self.reading_held_since = None
        if first is not None:
            first()


class FakeClusterPeers:
    """A cluster node's seam: known_names is answered when the test says (one round trip)."""

    def __init__(self, store: dict[str, str]) -> None:
        self.store = store
        self.asked: list[tuple[str, ...]] = []
        self.waiting: list = []

    def known_names(self, keys, callback) -> None:
        self.asked.append(tuple(keys))
        self.waiting.append((tuple(keys), callback))

    def answer(self, unanswered: bool = False) -> None:
        waiting, self.waiting = self.waiting, []
        for keys, callback in waiting:
            callback(UNANSWERED if unanswered else {key: self.store.get(key) for key in keys})

    def node_of(self, session) -> None:
        return None


def _desk(online: list[str], known: list[str], peers: object = None) -> tuple[RegistryDesk, SimpleNamespace]:
    """A desk whose relay has ``online`` users and knows ``known`` ones (accounts, guests who
    logged in and are not forgotten: relay.known)."""
    records = {canonical(name): SimpleNamespace(name=name, since=SINCE, endpoints=[SimpleNamespace(
        since=SINCE, address="10.0.0.1", port=5000, session=None)]) for name in online}
    relay = SimpleNamespace(intake=SimpleNamespace(admit=lambda session, handler, request: True),
                            watchlists=Watchlists(const.MAX_WATCHED),
                            directory=SimpleNamespace(lookup=lambda name: records.get(canonical(name)),
                                                      lookalikes=lambda name: []),
                            known={canonical(name): name for name in known + online},
                            peers=peers or SimpleNamespace(node_of=lambda session: None),
                            presence=SimpleNamespace(flush=lambda: None), config=SimpleNamespace())
    relay.account_desk = AccountDesk(relay)  # (its in_order: the frames behind a watch wait)
    return RegistryDesk(relay), relay  # type: ignore[arg-type]


def test_a_name_nobody_has_is_unknown_and_the_others_as_before() -> None:
    desk, relay = _desk(online=["Ana"], known=["Bob"])
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w1", ("ana", "BOB", "Zed", "zed")))
    assert session.sent == [Watching("w1", (Presence("Ana", SINCE),), ("BOB",), ("zed",))]  # (spelled as last)
    assert relay.watchlists.watched_by(session) == {"ana", "bob", "zed"}  # watched all the same


def test_unknown_is_what_whois_says_of_each_name() -> None:
    desk, _relay = _desk(online=["Ana"], known=["Bob"])
    session = FakeSession(FakeClock())
    names = ("Ana", "Bob", "Zed")
    for name in names:
        desk._lookup(session, LookupRequest(name, name))
    desk._watch(session, Watch("w", names))
    *whois, watching = session.sent
    said = {answer.request_id: answer.status for answer in whois if isinstance(answer, LookupResult)}
    assert said == {"Ana": "online", "Bob": "offline", "Zed": "unknown"}
    assert watching.unknown == tuple(name for name in names if said[name] == "unknown")


def test_the_frame_lists_unknown_only_when_there_are_some() -> None:
    both = codec.encode(Watching("w", (), ("Bob",), ("Zed",)))
    assert json.loads(both) == {"type": "watching", "id": "w", "users": [], "offline": ["Bob"], "unknown": ["Zed"]}
    none = codec.encode(Watching("w", (), ("Bob",)))
    assert json.loads(none) == {"type": "watching", "id": "w", "users": [], "offline": ["Bob"]}
    assert codec.decode(both, codec.TYPES, 4000) == Watching("w", (), ("Bob",), ("Zed",))
    assert codec.decode(none, codec.TYPES, 4000).unknown is None  # (an older server's)
    desk, _relay = _desk(online=[], known=["Bob"])
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w", ("Bob",)))
    assert b"unknown" not in codec.encode(session.sent[0])


def test_a_cluster_node_asks_once_for_all_the_names_it_does_not_know_and_holds_the_rest() -> None:
    clock = FakeClock()
    names = [f"n{i}" for i in range(codec.MAX_NAMES_PER_REQUEST)]
    # Redis knows n1 (a first login on another node, not here yet); the node knows n2.
    peers = FakeClusterPeers({"n1": "N1"})
    desk, relay = _desk(online=["n0"], known=["n2"], peers=peers)
    session = FakeSession(clock)
    desk._watch(session, Watch("w", tuple(names)))
    # One round trip, for the names the node does not know (not n0 online, nor n2).
    assert peers.asked == [(names[1], *names[3:])]
    assert session.sent == [] and session.reading_held_since == clock.now  # the frames behind it wait
    clock.now += 0.002
    peers.answer()
    [answer] = session.sent
    assert session.reading_held_since is None
    assert answer.users == (Presence("n0", SINCE),)
    assert answer.offline == ("n1", "n2") and answer.unknown == tuple(names[3:])
    assert len(relay.watchlists.watched_by(session)) == len(names)


def test_a_cluster_node_asks_nothing_when_it_knows_every_name() -> None:
    peers = FakeClusterPeers({})
    desk, _relay = _desk(online=["Ana"], known=["Bob"], peers=peers)
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w", ("Ana", "Bob")))
    assert peers.asked == [] and session.sent == [Watching("w", (Presence("Ana", SINCE),), ("Bob",))]


def test_when_redis_does_not_answer_the_names_it_was_asked_about_are_offline_not_unknown() -> None:
    peers = FakeClusterPeers({})
    desk, relay = _desk(online=[], known=["Bob"], peers=peers)
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w", ("Bob", "Zed")))
    peers.answer(unanswered=True)
    assert session.sent == [Watching("w", (), ("Bob", "Zed"))]
    assert relay.watchlists.watched_by(session) == {"bob", "zed"}


def test_a_session_gone_while_the_cluster_was_asked_watches_nothing() -> None:
    peers = FakeClusterPeers({})
    desk, relay = _desk(online=[], known=[], peers=peers)
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w", ("Zed",)))
    session.closing = True
    peers.answer()
    assert session.sent == [] and relay.watchlists.watched_by(session) == set()  # nothing left behind


def test_a_name_that_logged_in_while_the_cluster_was_asked_is_online() -> None:
    peers = FakeClusterPeers({})
    desk, _relay = _desk(online=[], known=[], peers=peers)
    records = {}
    desk.relay.directory = SimpleNamespace(lookup=lambda name: records.get(canonical(name)))
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w", ("Zed",)))
    records["zed"] = SimpleNamespace(name="Zed", since=SINCE)
    peers.answer()
    assert session.sent == [Watching("w", (Presence("Zed", SINCE),), ())]


def test_an_unwatch_behind_a_watch_the_cluster_is_asked_about_is_done_after_it() -> None:
    peers = FakeClusterPeers({})
    desk, relay = _desk(online=[], known=[], peers=peers)
    session = FakeSession(FakeClock())
    desk._watch(session, Watch("w", ("Zed",)))
    assert session.reading_held_since is not None  # the unwatch is not read until the watch is answered
    peers.answer()
    desk._unwatch(session, Unwatch("u", ("Zed",)))
    assert relay.watchlists.watched_by(session) == set()


def test_the_run_that_answers_writes_the_queued_notices_first() -> None:
    """The join and leave notices waiting their batch's delay go out before ``watching``,
    which shows those changes (PROTOCOL.md, ``watch``): on a cluster node, in the run that
    reads the directory once the store answered, not only in the one that asked it (a
    login meanwhile is batched, and shown by the answer)."""
    peers = FakeClusterPeers({})
    desk, relay = _desk(online=[], known=[], peers=peers)
    records = {}
    desk.relay.directory = SimpleNamespace(lookup=lambda name: records.get(canonical(name)))
    session = FakeSession(FakeClock())
    relay.presence = SimpleNamespace(flush=lambda: session.sent.append("flushed"))
    desk._watch(session, Watch("w", ("Zed",)))
    records["zed"] = SimpleNamespace(name="Zed", since=SINCE)  # his "joined" batched meanwhile
    session.sent.clear()
    peers.answer()
    assert session.sent == ["flushed", Watching("w", (Presence("Zed", SINCE),), ())]
