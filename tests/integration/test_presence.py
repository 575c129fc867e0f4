"""Presence that scales (issue 9): a small room hears every join and leave; above
``presence_room_limit`` the room is quiet and only the watchers of a user hear of them.

Unit tests drive the relay with fake sessions and a hand-run timer (the notice batch);
the integration tests run a real server with the client library.
"""

from __future__ import annotations

import time

import pytest

from protocol import (
    Block,
    Done,
    ErrorCode,
    ErrorReply,
    LookupRequest,
    LookupResult,
    Presence,
    SendDirect,
    UserJoined,
    UserLeft,
    Unwatch,
    Watch,
    Watching,
    WhoRequest,
)
from protocol.codec import TYPES, decode, encode
from server import ServerConfig
from server.mailbox import StoredMessage
from server.presence import Watchlists
from server.relay import Relay
from waits import wait_until
from test_store import FakeSession, RelayBench, loop  # noqa: F401  (loop is a fixture)

NOTICES = (UserJoined, UserLeft)


class Timers:
    """The relay's ``schedule``: callbacks run when the test says (the batch's delay)."""

    def __init__(self) -> None:
        self.due: list = []

    def schedule(self, delay: float, callback) -> None:
        self.due.append(callback)

    def run(self) -> None:
        due, self.due = self.due, []
        for callback in due:
            callback()


def bench_with(loop, timers: Timers, **config) -> RelayBench:
    bench = RelayBench(loop)
    settings = dict(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=1e6,
                    burst_per_address=1e6, max_connections_per_address=100_000)
    settings.update(config)
    bench.relay = Relay(ServerConfig(**settings), bench.store, schedule=timers.schedule)
    return bench


def notices(session: FakeSession) -> list:
    """The join and leave notices ``session`` was written so far, in order (taken out)."""
    found, rest = [], []
    for item in session.sent:
        if isinstance(item, bytes):
            found += [decode(line, TYPES, 4000) for line in item.splitlines()]
        else:
            rest.append(item)
    session.sent = rest
    assert all(isinstance(event, NOTICES) for event in found), found
    return [(type(event).__name__, event.name) for event in found]


def told(bench: RelayBench, timers: Timers, session: FakeSession, request) -> list:
    """What ``session`` is written once ``request`` is handled and the batch's timer ran, in
    the order written: a notice as (its type, its name), an answer as its type (taken out)."""
    bench.relay.handle(session, request)
    bench.settle()
    timers.run()
    written: list = []
    for item in session.sent:
        if isinstance(item, bytes):
            written += [(type(e).__name__, e.name) for e in (decode(line, TYPES, 4000) for line in item.splitlines())]
        else:
            written.append(type(item).__name__)
    session.sent = []
    return written


def leave(bench: RelayBench, session: FakeSession) -> None:
    session.closing = True
    bench.relay.disconnected(session, None)


# --- A small room: everyone hears everything, as before ------------------------------------


def test_a_room_at_the_limit_announces_every_join_and_leave_to_everyone(loop):
    timers = Timers()
    bench = bench_with(loop, timers, presence_room_limit=3)
    alice = bench.login("Alice")
    bob = bench.login("Bob")
    carol = bench.login("Carol")  # three online: at the limit, still announced
    timers.run()
    assert notices(alice) == [("UserJoined", "Alice"), ("UserJoined", "Bob"), ("UserJoined", "Carol")]
    assert notices(bob) == [("UserJoined", "Alice"), ("UserJoined", "Bob"), ("UserJoined", "Carol")]
    leave(bench, carol)
    timers.run()
    assert notices(alice) == notices(bob) == [("UserLeft", "Carol")]
    bench.store.close()


def test_a_watcher_in_a_small_room_hears_each_notice_once(loop):
    timers = Timers()
    bench = bench_with(loop, timers, presence_room_limit=10)
    alice = bench.login("Alice")
    bench.relay.handle(alice, Watch("w", ("Bob",)))
    assert alice.take(Watching) == [Watching("w", (), (), ("Bob",))]  # never logged in: nobody's yet
    bob = bench.login("Bob")
    leave(bench, bob)
    timers.run()
    assert notices(alice) == [("UserJoined", "Alice"), ("UserJoined", "Bob"), ("UserLeft", "Bob")]
    bench.store.close()


def test_a_message_from_someone_who_just_joined_comes_after_the_notice_of_their_join(loop):
    """The batch of notices waits its delay (0.1 ms a user online); a message its subject
    sends meanwhile must not overtake it: CI's page once showed "bom dia" from João before
    "João is online" (asyncio runs the read before the due timer in the same turn)."""
    timers = Timers()
    bench = bench_with(loop, timers)
    bob = bench.login("Bob")
    timers.run()
    notices(bob)
    joao = bench.login("João")
    bench.relay.handle(joao, SendDirect("d1", "Bob", "bom dia"))  # before the batch's timer
    bench.settle()
    timers.run()
    order = [("UserJoined", "João") if isinstance(item, bytes) and b"joined" in item else type(item).__name__
             for item in bob.sent]
    assert order == [("UserJoined", "João"), "DirectMessage"], bob.sent
    bench.store.close()


def test_who_and_lookup_answer_after_the_notices_of_the_changes_they_show(loop):
    """A list that shows João online comes after the notice that he joined, and one that
    no longer shows Carol after the notice that she left: a client that asks meanwhile
    (the batch waits its delay) is never told a change by its answer first and by the
    notice after it."""
    timers = Timers()
    bench = bench_with(loop, timers)
    bob = bench.login("Bob")
    carol = bench.login("Carol")
    timers.run()
    notices(bob)

    bench.login("João")
    assert told(bench, timers, bob, WhoRequest("w")) == [("UserJoined", "João"), "UserList"]
    leave(bench, carol)
    assert told(bench, timers, bob, LookupRequest("l", "Carol")) == [("UserLeft", "Carol"), "LookupResult"]
    bench.store.close()


def test_a_watch_answers_after_the_notices_of_the_changes_it_shows(loop):
    """``watching`` that shows João online comes after the notice that he joined, and one
    that shows Carol offline after the notice that she left (PROTOCOL.md, ``watch``: the
    notices that reach the session are of what happens after its answer): the batch waits
    its delay, and a watch read meanwhile must not be answered before it."""
    timers = Timers()
    bench = bench_with(loop, timers)
    bob = bench.login("Bob")
    carol = bench.login("Carol")
    timers.run()
    notices(bob)

    bench.login("João")  # his notice batched, not yet written
    assert told(bench, timers, bob, Watch("w1", ("João",))) == [("UserJoined", "João"), "Watching"]
    leave(bench, carol)
    assert told(bench, timers, bob, Watch("w2", ("Carol",))) == [("UserLeft", "Carol"), "Watching"]
    bench.store.close()


def test_on_a_cluster_node_a_message_read_just_after_its_senders_join_comes_after_the_notice(loop):
    """A node reads João's join from the events stream (batched, as any notice), then his
    room post (the same stream) or his direct message (its inbox): they are written after
    "joined", not before it."""
    timers = Timers()
    bench = bench_with(loop, timers)
    bob = bench.login("Bob")
    timers.run()
    notices(bob)
    for deliver, recipient in ((bench.relay.deliver_room, None), (bench.relay.deliver_routed, "bob")):
        bench.relay.cluster_joined("joão", "João", 1.0)  # from another node
        deliver(StoredMessage(7, "João", "joão", recipient and "Bob", recipient, "oi", 1.0, "c7", "sent"))
        timers.run()
        assert bob.sent[0] == encode(UserJoined("João", 1.0)) and len(bob.sent) == 2, bob.sent
        assert b'"oi"' in bob.sent[1] if isinstance(bob.sent[1], bytes) else bob.sent[1].text == "oi"
        bench.relay.cluster_left("joão", "João", "bye", 2.0)
        timers.run()
        bob.sent.clear()
    bench.store.close()


# --- A large room: quiet, but watchers are told ----------------------------------------------


def test_above_the_limit_only_the_watchers_of_a_user_hear_of_it(loop):
    timers = Timers()
    bench = bench_with(loop, timers, presence_room_limit=2)
    alice, bob = bench.login("Alice"), bench.login("Bob")
    timers.run()
    notices(alice), notices(bob)
    bench.relay.handle(alice, Watch("w", ("dave",)))
    assert alice.take(Watching) == [Watching("w", (), (), ("dave",))]  # never logged in yet
    carol = bench.login("Carol")  # three online: quiet
    dave = bench.login("Dave")
    # Told at once (no batch), to Alice only.
    assert notices(alice) == [("UserJoined", "Dave")]
    assert notices(bob) == notices(carol) == notices(dave) == []
    leave(bench, dave)  # counted with Dave: four, still quiet
    leave(bench, carol)  # three: still quiet
    timers.run()
    assert notices(alice) == [("UserLeft", "Dave")]
    assert notices(bob) == []
    bench.store.close()


def test_the_watch_answer_tells_who_of_the_names_is_online_now(loop):
    timers = Timers()
    bench = bench_with(loop, timers, presence_room_limit=1)
    bob = bench.login("Bob")  # alone: announced (to Bob)
    bench.login("Carol")
    alice = bench.login("Alice")
    timers.run()
    notices(alice)
    # Any spelling; a name twice counts once; Zed never logged in (unknown, as whois says:
    # the answer says no more than who and whois do).
    bench.relay.handle(alice, Watch("w", ("BOB", "zed", "carol", "bob")))
    [answer] = alice.take(Watching)
    since = {r.name: r.since for r in bench.relay.registry.online()}
    assert answer == Watching("w", (Presence("Bob", since["Bob"]), Presence("Carol", since["Carol"])), (), ("zed",))
    assert sorted(bench.relay.watchlists.watched_by(alice)) == ["bob", "carol", "zed"]
    leave(bench, bob)
    assert notices(alice) == [("UserLeft", "Bob")]
    bench.store.close()


def test_the_watch_answer_says_which_names_nobody_has_as_whois_does(loop):
    """``unknown``: the names nobody has, by whois's rule. An account offline and a guest
    whose name is held are someone's (offline); once the guest's name is forgotten (its
    hold over, on the test's clock), nobody's. Blocking plays no part: it tells no more."""
    bench = bench_with(loop, Timers())
    bench.relay.logins.guests.clock = None  # the hold runs on the times the test gives
    leave(bench, bench.login("Bob", "correct horse", register=True))
    carol = bench.login("Carol")
    bench.relay.handle(carol, Block("b", "Alice"))  # Carol blocks Alice: whois tells Alice no less
    bench.settle()
    leave(bench, carol)
    alice = bench.login("Alice")
    names = ("bob", "CAROL", "Zed")

    def asked() -> tuple[Watching, dict[str, str]]:
        for name in names:
            bench.relay.handle(alice, LookupRequest(name, name))
        bench.relay.handle(alice, Watch("w", names))
        bench.settle()
        whois = {answer.request_id: answer.status for answer in alice.take(LookupResult)}
        [answer] = alice.take(Watching)
        return answer, whois

    answer, whois = asked()
    assert answer == Watching("w", (), ("bob", "CAROL"), ("Zed",))
    assert whois == {"bob": "offline", "CAROL": "offline", "Zed": "unknown"}
    bench.relay.forget_guests(time.time() + 400 * 86400)  # long after Carol's hold and memory
    bench.settle()
    assert "carol" not in bench.relay.known
    answer, whois = asked()
    assert answer == Watching("w", (), ("bob",), ("CAROL", "Zed"))
    assert whois == {"bob": "offline", "CAROL": "unknown", "Zed": "unknown"}
    bench.store.close()


def test_unwatch_ends_the_notices(loop):
    bench = bench_with(loop, Timers(), presence_room_limit=0)  # always quiet
    alice = bench.login("Alice")
    bench.relay.handle(alice, Watch("w", ("Bob", "Carol")))
    bench.relay.handle(alice, Unwatch("u", ("bob", "nobody-watched-this")))
    assert alice.take(Done) == [Done("u")]
    bob, carol = bench.login("Bob"), bench.login("Carol")
    assert notices(alice) == [("UserJoined", "Carol")]
    bench.relay.handle(alice, Unwatch("u2", ("Carol",)))
    leave(bench, bob), leave(bench, carol)
    assert notices(alice) == []
    assert not bench.relay.watchlists._watching and not bench.relay.watchlists._watchers  # nothing left behind
    bench.store.close()


def test_a_disconnect_ends_the_session_s_subscriptions(loop):
    bench = bench_with(loop, Timers(), presence_room_limit=0)
    alice = bench.login("Alice")
    bench.relay.handle(alice, Watch("w", ("Bob",)))
    leave(bench, alice)
    assert bench.relay.watchlists.watchers("bob") == set() or not bench.relay.watchlists.watchers("bob")
    assert not bench.relay.watchlists._watching and not bench.relay.watchlists._watchers
    # Alice again, in a new session: she watches nothing until she asks again.
    alice = bench.login("Alice")
    bench.login("Bob")
    assert notices(alice) == []
    bench.store.close()


def test_an_account_s_other_session_keeps_its_own_subscriptions(loop):
    bench = bench_with(loop, Timers(), presence_room_limit=0)
    web = bench.login("Alice", "correct horse", register=True)
    terminal = bench.login("Alice", "correct horse")
    bench.relay.handle(web, Watch("w", ("Bob",)))
    leave(bench, terminal)
    bench.login("Bob")
    assert notices(web) == [("UserJoined", "Bob")]
    bench.store.close()


def test_a_notice_for_watchers_comes_after_the_batch_queued_before_it(loop):
    timers = Timers()
    bench = bench_with(loop, timers, presence_room_limit=2)
    alice = bench.login("Alice")
    timers.run()
    notices(alice)
    bench.relay.handle(alice, Watch("w", ("Carol",)))
    bench.login("Bob")  # two online: queued for everyone, the batch not yet written
    bench.login("Carol")  # three: for Carol's watchers, at once
    assert notices(alice) == [("UserJoined", "Bob"), ("UserJoined", "Carol")]
    timers.run()
    assert notices(alice) == []  # the batch went out once
    bench.store.close()


# --- Limits ------------------------------------------------------------------------------------


def test_a_watch_over_the_per_session_limit_is_refused_and_changes_nothing(loop):
    bench = bench_with(loop, Timers(), max_watched=3)
    alice = bench.login("Alice")
    bench.relay.handle(alice, Watch("w1", ("a1", "a2")))
    bench.relay.handle(alice, Watch("w2", ("a2", "a3", "a4")))  # would make four
    [error] = alice.take(ErrorReply)
    assert (error.code, error.request_id) == (ErrorCode.TOO_MANY_WATCHED, "w2")
    assert "at most 3" in error.message
    assert sorted(bench.relay.watchlists.watched_by(alice)) == ["a1", "a2"]
    bench.relay.handle(alice, Watch("w3", ("A1", "a2", "a3")))  # three: fine
    assert [a.request_id for a in alice.take(Watching)] == ["w1", "w3"]
    bench.store.close()


def test_a_watch_with_an_invalid_name_is_refused_whole(loop):
    bench = bench_with(loop, Timers())
    alice = bench.login("Alice")
    for names in (("Bob", "no spaces"), ("Bob", "server"), ("Bob", "x" * 33)):
        bench.relay.handle(alice, Watch("w", names))
        [error] = alice.take(ErrorReply)
        assert (error.code, error.request_id) == (ErrorCode.INVALID_NAME, "w")
    bench.relay.handle(alice, Unwatch("u", ("ok", "not ok")))
    assert [e.code for e in alice.take(ErrorReply)] == [ErrorCode.INVALID_NAME]
    assert not bench.relay.watchlists.watched_by(alice)
    bench.store.close()


def test_watch_requests_count_against_the_rate_limit(loop):
    bench = bench_with(loop, Timers(), rate_per_connection=0.001, burst_per_connection=2)
    alice = bench.login("Alice")
    bench.relay.handle(alice, Watch("w1", ("Bob",)))
    bench.relay.handle(alice, Unwatch("u1", ("Bob",)))
    bench.relay.handle(alice, Watch("w2", ("Carol",)))
    [error] = alice.take(ErrorReply)
    assert (error.code, error.request_id) == (ErrorCode.RATE_LIMITED, "w2") and error.retry_after > 0
    assert list(bench.relay.watchlists.watched_by(alice)) == []  # the refused one did nothing
    bench.store.close()


def test_a_watch_before_the_welcome_is_refused_by_the_core():
    from protocol import Connection, FrameRejected, Role
    conn = Connection(Role.SERVER)
    conn.receive_data(b'{"type":"watch","id":"w","names":["Bob"]}\n')
    [event] = list(conn.events())
    assert isinstance(event, FrameRejected) and event.code == ErrorCode.NOT_LOGGED_IN


@pytest.mark.parametrize("names", ["Bob", [], ["Bob", 7], ["b"] * 501])
def test_a_malformed_name_list_is_a_bad_field(names):
    import json
    from protocol import Connection, FrameRejected, Role
    from helpers import open_pair
    pair = open_pair()
    pair.server.receive_data(json.dumps({"type": "watch", "id": "w", "names": names}).encode() + b"\n")
    [event] = list(pair.server.events())
    assert isinstance(event, FrameRejected) and event.code == ErrorCode.BAD_FIELD and event.request_id == "w"


def test_watchlists_cost_nothing_for_sessions_that_do_not_watch():
    lists = Watchlists(max_watched=5)
    a, b = object(), object()
    assert lists.watch(a, ["x", "y"]) and lists.watch(b, ["y"])
    assert lists.watchers("y") == {a, b} and lists.watchers("z") == frozenset()
    lists.unwatch(a, ["x", "y"])
    lists.forget(b)
    lists.forget(object())  # a session that never watched
    assert lists._watching == {} and lists._watchers == {}


def test_watching_again_names_already_watched_is_accepted_even_at_the_bound():
    lists = Watchlists(max_watched=2)
    session = object()
    assert lists.watch(session, ["x", "y"])
    assert lists.watch(session, ["y", "x"]) and lists.watch(session, [])  # nothing new: still fine
    assert not lists.watch(session, ["x", "z"])  # one new name past the bound: all refused
    assert lists.watchers("x") == {session} and lists.watchers("z") == frozenset()


# --- A login storm: the cost follows relationships ---------------------------------------------


def test_a_large_login_storm_writes_notices_only_to_watchers(loop):
    """300 logins with the limit at 50: without watchers, the quiet part costs no
    writes at all; each of ten watchers hears of exactly the three names it watches."""
    timers = Timers()
    bench = bench_with(loop, timers, presence_room_limit=50)
    sessions = [bench.login(f"u{n}") for n in range(300)]
    timers.run()
    watchers = sessions[:10]
    for n, watcher in enumerate(watchers):
        notices(watcher)
        bench.relay.handle(watcher, Watch("w", (f"late{n}", f"late{n + 1}", f"late{n + 2}")))
    for session in sessions[10:]:
        notices(session)
    late = [bench.login(f"late{n}") for n in range(12)]
    for n, watcher in enumerate(watchers):
        assert notices(watcher) == [("UserJoined", f"late{k}") for k in (n, n + 1, n + 2)]
    assert all(notices(session) == [] for session in sessions[10:] + late)
    bench.store.close()


# --- With a real server and the client library -------------------------------------------------


@pytest.fixture
def quiet_server():
    """A real server whose room is always quiet: only watchers hear of joins and leaves."""
    from server import ServerThread
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, presence_room_limit=0)) as srv:
        yield srv
        srv.stop()


def _connect(clients: list, server, name: str):
    from client import ChatClient
    client = ChatClient(name, server.host, server.port, reconnect_delay=0.05)
    clients.append(client)
    client.connect(timeout=10)
    return client


def _next(client, kinds, deadline: float):
    """The next event of one of ``kinds`` (others are skipped), by ``deadline``."""
    import queue
    while True:
        try:
            event = client.events.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {kinds} by the deadline") from None
        if isinstance(event, kinds):
            return event


def _nothing_of(client, kinds, within: float) -> None:
    """No event of ``kinds`` for ``within`` seconds (a round trip ensures earlier ones are in)."""
    import queue
    client.who(timeout=10)  # anything the server sent before its answer has been read by now
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            event = client.events.get(timeout=max(0.0, end - time.monotonic()))
        except queue.Empty:
            return
        assert not isinstance(event, kinds), event


def test_the_library_watches_and_hears_only_whom_it_watches(quiet_server, clients):
    alice = _connect(clients, quiet_server, "Alice")
    bob = _connect(clients, quiet_server, "Bob")
    online = alice.watch(["bob", "Carol"])
    assert [p.name for p in online] == ["Bob"]
    assert sorted(alice.watched) == ["Carol", "bob"]
    _connect(clients, quiet_server, "Dave")  # not watched: quiet
    _connect(clients, quiet_server, "Carol")
    deadline = time.monotonic() + 10
    joined = _next(alice, NOTICES, deadline)
    assert (type(joined), joined.name) == (UserJoined, "Carol")
    bob.close()
    left = _next(alice, NOTICES, deadline)
    assert (type(left), left.name) == (UserLeft, "Bob")
    alice.unwatch(["carol"])
    assert alice.watched == ["bob"]
    assert quiet_server.call(lambda: sorted(quiet_server.server.relay.watchlists._watchers)) == ["bob"]
    clients[3].close()  # Carol leaves, unwatched now
    relay = quiet_server.server.relay
    wait_until(lambda: quiet_server.call(lambda: "carol" not in relay.registry), what="Carol leaving")
    _nothing_of(alice, NOTICES, 0.2)


def test_a_reconnected_library_watches_again_and_learns_who_is_online(quiet_server, clients):
    alice = _connect(clients, quiet_server, "Alice")
    _connect(clients, quiet_server, "Bob")
    assert [p.name for p in alice.watch(["Bob"])] == ["Bob"]
    relay = quiet_server.server.relay

    def drop_alice() -> None:
        for session in list(relay.sessions):
            if session.name == "Alice":
                session.abort("dropped by the test")

    quiet_server.call(drop_alice)
    deadline = time.monotonic() + 10
    from client import Reconnected
    _next(alice, Reconnected, deadline)
    again = _next(alice, Watching, deadline)  # the renewed watch's answer, handed on
    assert [p.name for p in again.users] == ["Bob"]
    _connect(clients, quiet_server, "Bob2")
    clients[1].close()  # Bob leaves: Alice's new session hears it
    left = _next(alice, NOTICES, deadline)
    assert (type(left), left.name) == (UserLeft, "Bob")


def test_a_client_that_never_watches_still_sees_everything_in_a_small_room(server, clients):
    alice = _connect(clients, server, "Alice")
    _connect(clients, server, "Bob")
    joined = _next(alice, UserJoined, time.monotonic() + 10)
    while joined.name != "Bob":
        joined = _next(alice, UserJoined, time.monotonic() + 10)


def test_watch_soon_hands_the_answer_on_and_skips_names_already_watched(quiet_server, clients):
    alice = _connect(clients, quiet_server, "Alice")
    _connect(clients, quiet_server, "Bob")
    alice.watch_soon(["Bob", "Carol"])
    answer = _next(alice, Watching, time.monotonic() + 10)
    assert ([p.name for p in answer.users], answer.offline, answer.unknown) == (["Bob"], (), ("Carol",))
    alice.watch_soon(["bob"])  # watched already: no request
    alice.watch_soon(["Dave"])
    answer = _next(alice, Watching, time.monotonic() + 10)
    assert (answer.users, answer.offline, answer.unknown) == ((), (), ("Dave",))
    assert sorted(alice.watched) == ["Bob", "Carol", "Dave"]


def test_a_real_server_answers_a_watch_of_a_name_never_seen_in_unknown(quiet_server, clients):
    """A name nobody has logged in with is in the answer's ``unknown`` (whois says
    "unknown" of it too), not ``offline``, which a client's kept list showed forever."""
    alice = _connect(clients, quiet_server, "Alice")
    bob = _connect(clients, quiet_server, "Bob")
    bob.close()  # offline now, held for Bob: someone's
    wait_until(lambda: quiet_server.call(lambda: "bob" not in quiet_server.server.relay.registry), what="Bob leaving")
    alice.watch_soon(["BOB", "Zeferino"])
    answer = _next(alice, Watching, time.monotonic() + 10)
    assert (answer.users, answer.offline, answer.unknown) == ((), ("BOB",), ("Zeferino",))
    assert [alice.lookup(name).status for name in ("Bob", "Zeferino")] == ["offline", "unknown"]


# --- The terminal watches whom it talks to -------------------------------------------------------


def test_the_terminal_watches_whom_it_writes_to_and_its_target():
    import io
    from client.terminal import TerminalUI
    from fakeserver import FakeServer
    with FakeServer() as server:
        ui = TerminalUI("Alice", server.host, server.port, timeout=5, stdin=io.StringIO("@Bob hi\n/to Carol\n/to alice\n@bob again\n"),
                        stdout=io.StringIO(), stderr=io.StringIO(), interactive=False)
        ui.run()
        watched = [name for event in server.received(Watch) for name in event.names]
        assert watched == ["Bob", "Carol"]  # not ourselves, and each once


def test_the_terminal_watches_who_writes_to_it():
    import io
    from client.terminal import TerminalUI
    from protocol import DirectMessage

    class Recorder:
        def __init__(self) -> None:
            self.watched: list[str] = []

        def watch_soon(self, names) -> None:
            self.watched += names

    ui = TerminalUI("Alice", stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), interactive=False)
    ui.client = Recorder()
    ui._on_event(DirectMessage(7, "Dave", "Alice", "hi", 1.0))
    ui._on_event(DirectMessage(8, "alice", "Alice", "note to self", 1.0))
    assert ui.client.watched == ["Dave"]


# --- The window watches its conversations ----------------------------------------------------------


def test_the_window_model_asks_to_watch_each_conversation_once_and_takes_the_answer():
    from client.gui.model import ChatModel
    from client.gui.changes import WatchWanted
    from protocol import DirectMessage
    model = ChatModel("Alice")
    model.apply(DirectMessage(1, "Bob", "Alice", "hi", 1.0))
    model.apply(DirectMessage(2, "bob", "Alice", "again", 2.0))
    model.open("carol")
    model.open("#room")
    assert [c.peer for c in model.take_changes() if isinstance(c, WatchWanted)] == ["Bob", "carol"]
    model.apply(Watching("w", (Presence("Carol", 5.0),), ("Bob",)))
    assert (model.contacts["carol"].online, model.contacts["bob"].online) == (True, False)
    model.apply(Watching("w2", (Presence("Bob", 6.0),), ()))
    assert model.contacts["bob"].online
    assert not any(line for c in model.conversations.values() for line in c.lines if "online" in str(line))


# --- The login-storm driver still runs ------------------------------------------------------------


@pytest.mark.timeout_seconds(120)
def test_the_login_storm_driver_reports_its_figures():
    """``python3 -m bench.presence_storm`` with tiny figures: it ran, and what it printed
    makes sense (the watchers got at least their watched users' joins)."""
    import re
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "bench.presence_storm", "--clients", "30", "--watchers", "3",
                           "--watch", "4", "--quiet", "0.3"], cwd=root, capture_output=True, text=True,
                          timeout=100, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
    match = re.search(r"all welcomed in ([\d.]+) s, last notice at ([\d.]+) s, ([\d,]+) bytes", done.stdout)
    assert match, done.stdout
    welcomed, settled, received = (float(group.replace(",", "")) for group in match.groups())
    assert 0 < welcomed and received > 0


def test_a_client_that_never_watches_still_has_who_in_a_quiet_room(quiet_server, clients):
    alice = _connect(clients, quiet_server, "Alice")
    _connect(clients, quiet_server, "Bob")
    _connect(clients, quiet_server, "Carol")
    assert [p.name for p in alice.who()] == ["Alice", "Bob", "Carol"]
    _nothing_of(alice, NOTICES, 0.2)  # nobody announced: she watches nobody
