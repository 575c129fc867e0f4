"""A user's list of their rooms (``rooms`` with ``mine``: the web page asks it after each
welcome and again on a live connection, and drops every room it lacks) never lacks a room
they are still in, also while a change of their rooms is being stored and the store fails
(server/roomdesk.py, RoomDesk._save, list_rooms). The desk changes its rooms at once and
puts them back if the store fails: a list read meanwhile said the undone change. And a
room whose change failed is put back as last stored, not over a later change of it that
the store kept. No sockets: test_room_replay's fakes, with a store whose room saves answer
in submission order when told to, the first ``fail_saves`` of them failing."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from test_room_replay import DeferredStore, FakeSession, setting

from protocol import Done, ErrorCode, ErrorReply, Invite, JoinRoom, LeaveRoom, Mute, RoomList, RoomsRequest, SetTopic
from server.rooms import Person, record_members, room_key
from server.store import StoreUnavailable


class RoomStore(DeferredStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail_saves = 0
        self.saved: dict[str, str | None] = {}

    def save_room(self, key: str, record: str | None, callback: Callable[[Any], None],
                  on_error: Callable[[Any], None]) -> None:
        fails = self.fail_saves > 0
        self.fail_saves -= fails

        def do() -> None:
            if fails:
                on_error(StoreUnavailable("the disk failed"))
            else:
                self.saved[key] = record
                callback(None)
        self.pending.append(do)

    def last_msg_id(self) -> int:
        return 0

    def room_joined(self, *args: object) -> None:
        pass


class Told(FakeSession):
    """A session that keeps the events sent to it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.sent: list[Any] = []
        self.registered, self.address = True, "10.0.0.7"

    def send(self, event: object) -> None:
        self.sent.append(event)

    def crowded(self) -> bool:
        return False


def stored_setting():
    desk, relay, _laptop = setting()  # Olga and Bob in #redes and #lab (in the desk's rooms)
    relay.store = RoomStore()
    relay.intake = SimpleNamespace(admit=lambda session, again, request: True)
    relay.after.room_reads = SimpleNamespace(joined=lambda session, room: None)
    desk._save([], lambda: None, lambda _maybe_done: None)  # stored as they are
    relay.store.run()
    page, phone = Told("Bob"), Told("Bob")
    relay.registry.by_key["bob"] = [page, phone]
    return desk, relay, page, phone


def stored_members(store: RoomStore, room: str) -> list[str]:
    """The members' keys of ``room`` as the store has it."""
    return record_members(store.saved[room_key(room)])[1]  # type: ignore[arg-type]


def my_rooms(session: Told) -> list[str]:
    lists = [event for event in session.sent if type(event) is RoomList]
    return [entry.room_name for entry in lists[-1].rooms] if lists else []


def test_a_list_asked_while_a_leave_is_stored_waits_and_a_failed_leave_is_answered_unavailable() -> None:
    desk, relay, page, phone = stored_setting()
    relay.store.fail_saves = 1
    desk.leave(phone, LeaveRoom("l1", "#redes"))  # type: ignore[arg-type]
    desk.list_rooms(page, RoomsRequest("r1", mine=True))  # type: ignore[arg-type]
    relay.store.run()  # the leave is not stored
    assert "#redes" in desk.rooms.rooms_of("bob")
    assert [e.code for e in phone.sent] == [ErrorCode.UNAVAILABLE]
    # The page is never told a list of Bob's rooms without #redes: it would drop it.
    for event in page.sent:
        assert type(event) is not RoomList or {"#redes", "#lab"} <= {e.room_name for e in event.rooms}, page.sent
    assert [(type(e), getattr(e, "code", None), e.request_id) for e in page.sent] == \
        [(ErrorReply, ErrorCode.UNAVAILABLE, "r1")]


def test_a_list_asked_while_a_leave_is_stored_comes_once_it_is_stored() -> None:
    desk, relay, page, phone = stored_setting()
    desk.leave(phone, LeaveRoom("l1", "#redes"))  # type: ignore[arg-type]
    desk.list_rooms(page, RoomsRequest("r1", mine=True))  # type: ignore[arg-type]
    assert page.sent == []  # not before the store said
    relay.store.run()
    assert my_rooms(page) == ["#lab"]
    desk.list_rooms(page, RoomsRequest("r2", mine=True))  # type: ignore[arg-type]
    assert my_rooms(page) == ["#lab"]  # nothing being stored: at once


def test_a_failed_change_is_not_undone_over_a_later_change_of_the_room_that_was_stored() -> None:
    """Ann's join is stored in the same record as Olga's later topic: if the join's save
    fails and the topic's is kept, Ann is in the room in the store, so she is here too."""
    desk, relay, page, _phone = stored_setting()
    ann, olga = Told("Ann"), Told("Olga")
    relay.registry.by_key.update(ann=[ann], olga=[olga])
    relay.store.fail_saves = 1
    desk.join(ann, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    desk.set_topic(olga, SetTopic("t1", "#redes", "redes de computadores"))  # type: ignore[arg-type]
    relay.store.run()
    assert "ann" in stored_members(relay.store, "#redes")  # the topic's record has her
    assert "#redes" in desk.rooms.rooms_of("ann")
    assert desk.rooms.get("#redes").topic == "redes de computadores"
    # Ann is told it may have been done (not that it was not), and can ask again.
    (answer,) = ann.sent
    assert answer.code == ErrorCode.UNAVAILABLE and answer.uncertain, answer
    desk.list_rooms(ann, RoomsRequest("r1", mine=True))  # type: ignore[arg-type]
    assert my_rooms(ann) == ["#redes"]


def test_a_change_of_the_desk_s_own_that_the_store_fails_is_undone_and_said(caplog) -> None:
    """Not every save answers a request: a guest name's new holder puts the earlier one out
    of their rooms (name_changed_hands), a mute ends (expire). Their failure is undone and
    logged as their callers say, not a TypeError in the store's callback."""
    desk, relay, _page, _phone = stored_setting()
    relay.store.fail_saves = 2  # both of Bob's rooms
    with caplog.at_level("WARNING", logger="chat"):
        desk.name_changed_hands("bob")
        relay.store.run()
    assert desk.rooms.rooms_of("bob") == ["#lab", "#redes"]
    assert [r.getMessage() for r in caplog.records] == [
        "the rooms of the earlier holder of the guest name bob could not be left: the store did not answer "
        "(tried again at the next expiry pass)"]
    desk.expire(time.time())  # the next expiry pass: stored now
    relay.store.run()
    assert desk.rooms.rooms_of("bob") == [] and "bob" not in stored_members(relay.store, "#redes")
    olga, vic = Told("Olga"), Told("Vic")
    relay.registry.by_key.update(olga=[olga], vic=[vic])
    desk.join(vic, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    relay.store.run()
    desk._moderate(olga, Mute("m1", "#redes", "Vic", seconds=60), Person("Vic", True),  # type: ignore[arg-type]
                   ("#redes", 0, lambda: None))  # (the account looked up: moderate's first step)
    relay.store.run()
    assert olga.sent == [Done("m1")]
    relay.store.fail_saves = 1
    desk.expire(time.time() + 120)  # the mute's end, not stored
    relay.store.run()
    assert "vic" in desk.rooms.get("#redes").muted  # as stored: the end is tried again at the next pass


def notices(session: Told) -> list[tuple[str, str, str]]:
    """The room notices written to ``session``: (room, act, name)."""
    return [(f["room"], f["act"], f["name"]) for f in session.frames if f["type"] == "room_notice"]


def test_a_failed_join_that_a_later_stored_save_carries_is_announced_then() -> None:
    """Ann's join is answered unavailable (uncertain) but Olga's topic, stored, has her in
    the room: the members hear "Ann joined" (before the topic), as the store has it."""
    desk, relay, page, _phone = stored_setting()
    ann, olga = Told("Ann"), Told("Olga")
    relay.registry.by_key.update(ann=[ann], olga=[olga])
    relay.store.fail_saves = 1
    desk.join(ann, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    desk.set_topic(olga, SetTopic("t1", "#redes", "redes de computadores"))  # type: ignore[arg-type]
    relay.store.run()
    assert "ann" in stored_members(relay.store, "#redes")
    for member in (page, olga, ann):
        assert notices(member) == [("#redes", "joined", "Ann"), ("#redes", "topic", "Olga")], member.frames


def test_a_failed_join_whose_later_save_fails_too_is_never_announced() -> None:
    desk, relay, page, _phone = stored_setting()
    ann, olga = Told("Ann"), Told("Olga")
    relay.registry.by_key.update(ann=[ann], olga=[olga])
    relay.store.fail_saves = 2
    desk.join(ann, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    desk.set_topic(olga, SetTopic("t1", "#redes", "redes de computadores"))  # type: ignore[arg-type]
    relay.store.run()
    assert "#redes" not in desk.rooms.rooms_of("ann")
    assert notices(page) == notices(olga) == notices(ann) == []
    desk.set_topic(olga, SetTopic("t2", "#redes", "redes"))  # type: ignore[arg-type]
    relay.store.run()  # stored now, without Ann: only the topic is heard
    assert "ann" not in stored_members(relay.store, "#redes")
    assert notices(page) == [("#redes", "topic", "Olga")]


def test_a_guest_name_s_hand_over_stored_for_some_rooms_logs_the_split_and_announces_those(caplog) -> None:
    desk, relay, _page, _phone = stored_setting()
    olga = Told("Olga")
    relay.registry.by_key["olga"] = [olga]
    relay.store.fail_saves = 1  # #lab's save; #redes's is kept
    with caplog.at_level("WARNING", logger="chat"):
        desk.name_changed_hands("bob")
        relay.store.run()
    assert desk.rooms.rooms_of("bob") == ["#lab"]
    assert "bob" not in stored_members(relay.store, "#redes") and "bob" in stored_members(relay.store, "#lab")
    assert [r.getMessage() for r in caplog.records] == [
        "the earlier holder of the guest name bob left #redes; could not leave #lab: the store did not answer "
        "(tried again at the next expiry pass)"]
    assert notices(olga) == [("#redes", "left", "Bob")]


class RaisingStore(RoomStore):
    """A store whose save_room raises at once (a closed committer, a bug): no answer will come."""

    def __init__(self) -> None:
        super().__init__()
        self.raise_saves = 0

    def save_room(self, key: str, record: str | None, callback: Callable[[Any], None],
                  on_error: Callable[[Any], None]) -> None:
        if self.raise_saves:
            self.raise_saves -= 1
            raise RuntimeError("the committer is closed")
        super().save_room(key, record, callback, on_error)


@pytest.mark.logs_tracebacks("the store raises on purpose: its traceback is logged once")
def test_a_save_the_store_raises_on_is_answered_unavailable_undone_and_no_list_waits_for_it(caplog) -> None:
    desk, relay, page, _phone = stored_setting()
    store = RaisingStore()
    store.saved = relay.store.saved
    relay.store = store
    ann, olga = Told("Ann"), Told("Olga")
    relay.registry.by_key.update(ann=[ann], olga=[olga])
    desk.set_topic(olga, SetTopic("t1", "#redes", "redes de computadores"))  # on its way
    store.raise_saves = 1
    with caplog.at_level("ERROR", logger="chat"):
        desk.join(ann, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    (answer,) = ann.sent
    assert answer.code == ErrorCode.UNAVAILABLE and not answer.uncertain, answer
    assert "#redes" not in desk.rooms.rooms_of("ann")  # not in the topic's record either
    assert len(caplog.records) == 1 and "the committer is closed" in caplog.text
    store.run()
    assert olga.sent == [Done("t1")]
    assert "ann" not in stored_members(store, "#redes") and "redes de computadores" in store.saved[room_key("#redes")]
    assert desk._saving == {} and desk._saves_open == {}
    desk.list_rooms(ann, RoomsRequest("r1", mine=True))  # type: ignore[arg-type]
    assert my_rooms(ann) == []  # at once: nothing is awaited
    assert "ann" not in desk.rooms.get("#redes").members
    desk.join(ann, JoinRoom("j2", "#redes"))  # type: ignore[arg-type]
    store.run()
    assert "ann" in stored_members(store, "#redes") and notices(olga) == [("#redes", "topic", "Olga"),
                                                                          ("#redes", "joined", "Ann")]


@pytest.mark.logs_tracebacks("Redis's save raises on purpose: its traceback is logged once")
def test_in_a_cluster_a_save_that_raises_is_answered_and_holds_the_room_for_nobody(caplog) -> None:
    """In a cluster a room's requests take turns (_busy) and a list of one's rooms waits for
    the saves on their way (_saves_open): a save that raised left both for ever."""
    desk, relay, page, _phone = stored_setting()
    raised: list[str] = []

    def save_room(key: str, *args: Any) -> None:
        raised.append(key)
        raise ConnectionError("the link to Redis broke")

    relay.peers.shares_rooms = True
    relay.peers.save_room = save_room
    olga = Told("Olga")
    relay.registry.by_key["olga"] = [olga]
    with caplog.at_level("ERROR", logger="chat"):
        desk.set_topic(olga, SetTopic("t1", "#redes", "redes de computadores"))  # type: ignore[arg-type]
    (answer,) = olga.sent
    assert raised == [room_key("#redes")] and answer.code == ErrorCode.UNAVAILABLE and not answer.uncertain
    assert desk.rooms.get("#redes").topic == ""
    assert desk._busy == {} and desk._saves_open == {}
    desk.list_rooms(page, RoomsRequest("r1", mine=True))  # type: ignore[arg-type]
    assert my_rooms(page) == ["#lab", "#redes"]
    assert len(caplog.records) == 1


class AtOnceStore(RoomStore):
    """A store that answers a room's save at once, inside save_room."""

    def save_room(self, key: str, record: str | None, callback: Callable[[Any], None],
                  on_error: Callable[[Any], None]) -> None:
        super().save_room(key, record, callback, on_error)
        self.run()


def test_a_save_answered_at_once_whose_answer_raises_is_not_taken_for_a_store_that_raised() -> None:
    desk, relay, _page, _phone = stored_setting()
    relay.store = AtOnceStore()
    ann = Told("Ann")
    relay.registry.by_key["ann"] = [ann]
    desk.join(ann, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    assert [type(e).__name__ for e in ann.sent] == ["RoomInfo"] and desk._saving == {} and desk._saves_open == {}

    def broken(event: object) -> None:
        raise ValueError("a bug in the answer")

    vic = Told("Vic")
    vic.send = broken  # type: ignore[method-assign]
    relay.registry.by_key["vic"] = [vic]
    with pytest.raises(ValueError, match="a bug in the answer"):  # the bug itself, to the store (which logs it)
        desk.join(vic, JoinRoom("j2", "#redes"))  # type: ignore[arg-type]
    assert "vic" in desk.rooms.get("#redes").members and "vic" in stored_members(relay.store, "#redes")
    assert desk._saving == {} and desk._saves_open == {}


class FakeRedis:
    """The cluster's peers.save_room: each room's save answered, in order, when told to
    (run); the first ``fail`` of them not answered by Redis."""

    def __init__(self) -> None:
        self.replies: list[Callable[[], None]] = []
        self.saved: dict[str, str | None] = {}
        self.fail = 0

    def save_room(self, key: str, version: int, record: str | None, notices: list, callback: Callable[[Any], None],
                  lookalike: str = "") -> None:
        fails = self.fail > 0
        self.fail -= fails

        def answer() -> None:
            if fails:
                callback(None)
            else:
                self.saved[key] = record
                callback(("ok", version + 1))
        self.replies.append(answer)

    def run(self) -> None:
        while self.replies:
            self.replies.pop(0)()


def cluster_setting() -> tuple[Any, Any, FakeRedis, list[tuple[float, Callable[[], None]]]]:
    """Olga and Bob in #redes and #lab, on a node of a cluster; the timers set, not run."""
    timers: list[tuple[float, Callable[[], None]]] = []
    desk, relay, _laptop = setting(lambda delay, call: timers.append((delay, call)))
    redis = FakeRedis()
    relay.peers.shares_rooms = True
    relay.peers.save_room = redis.save_room
    records = dict(desk.rooms.changes())
    desk.load_shared(records, {key: 1 for key in records})  # as Redis has them
    return desk, relay, redis, timers


def test_in_a_cluster_a_hand_over_waits_for_its_rooms_turns_and_the_newcomer_s_requests_wait_for_it(caplog) -> None:
    """A guest name's hand-over while a request on one of the earlier holder's rooms waits
    for Redis here: it used to be tried 5 times 50 ms apart, then given up, the newcomer
    left in the earlier holder's rooms. It waits for the room's turn now (a bound's timer,
    not fired here), and the newcomer's requests on those rooms come after it."""
    desk, relay, redis, timers = cluster_setting()
    desk._busy[room_key("#lab")] = []  # a request on #lab waits for Redis
    order: list[str] = []
    with caplog.at_level("WARNING", logger="chat"):
        desk.name_changed_hands("bob")
        for delay, call in [t for t in timers if t[0] < 1.0]:  # (the old polls: 50 ms apart)
            call()
        assert desk._waits("#redes", 0, lambda: order.append("newcomer's request on #redes"))  # after it
        assert redis.replies == [] and desk.rooms.rooms_of("bob") == ["#lab", "#redes"]
        desk._done_with("#lab")  # the request on #lab is answered
        assert order == [] and len(redis.replies) == 2
        redis.run()
    assert desk.rooms.rooms_of("bob") == [] and "bob" not in record_members(redis.saved[room_key("#lab")])[1]
    assert order == ["newcomer's request on #redes"] and desk._busy == {}
    assert caplog.records == []


def test_in_a_cluster_a_hand_over_whose_rooms_stay_busy_is_tried_again_in_its_rooms_only(caplog) -> None:
    desk, relay, redis, timers = cluster_setting()
    desk._busy[room_key("#lab")] = []  # a request on #lab waits for Redis, for long
    with caplog.at_level("WARNING", logger="chat"):
        desk.name_changed_hands("bob")
        (bound,) = [call for delay, call in timers if delay >= 1.0]
        bound()  # given up: #redes's turn let go
        assert list(desk._busy) == [room_key("#lab")] and redis.replies == []
    assert [r.getMessage() for r in caplog.records] == [
        "the earlier holder of the guest name bob could not leave #lab, #redes yet: other changes of them waited "
        "for Redis for 10 s (tried again at the next expiry pass)"]
    desk.rooms.join(Person("Bob", False), "#novo", time.time())  # the newcomer joins a room meanwhile
    desk._done_with("#lab")
    assert redis.replies == []  # the hand-over that gave up does not come back
    desk.expire(time.time())  # the next expiry pass
    redis.run()
    assert desk.rooms.rooms_of("bob") == ["#novo"] and desk._busy == {}


def test_in_a_cluster_a_hand_over_redis_did_not_store_is_tried_again_at_the_next_expiry_pass(caplog) -> None:
    desk, relay, redis, _timers = cluster_setting()
    redis.fail = 2
    with caplog.at_level("WARNING", logger="chat"):
        desk.name_changed_hands("bob")
        redis.run()
    assert desk.rooms.rooms_of("bob") == ["#lab", "#redes"] and desk._busy == {}
    assert [r.getMessage() for r in caplog.records] == [
        "the rooms of the earlier holder of the guest name bob could not be left: the store did not answer "
        "(tried again at the next expiry pass)"]
    desk.expire(time.time())
    redis.run()
    assert desk.rooms.rooms_of("bob") == [] and desk._hand_overs_due == {}


def test_the_rooms_a_failed_hand_over_did_store_have_their_log_lines_once(caplog) -> None:
    """A guest name's hand-over whose save failed for one room and was stored for the others:
    the stored rooms' notices are announced, and their log lines (a room that ended, one
    handed on) are logged, once each; the room put back logs nothing."""
    desk, relay, _page, _phone = stored_setting()
    olga, ana = Told("Olga"), Told("Ana")
    relay.registry.by_key.update(olga=[olga], ana=[ana])
    now = time.time()
    desk.rooms.join(Person("Bob", True), "#zona", now)  # Bob alone: it ends when he leaves
    desk.rooms.join(Person("Bob", True), "#sala", now)  # Bob owns it: Ana has it then
    desk.rooms.join(Person("Ana", True), "#sala", now)
    desk._save([], lambda: None, lambda _maybe_done: None)
    relay.store.run()
    relay.store.fail_saves = 1  # #lab's save (the first); #redes's, #sala's and #zona's are kept
    with caplog.at_level("INFO", logger="chat"):
        desk.name_changed_hands("bob")
        relay.store.run()
    assert desk.rooms.rooms_of("bob") == ["#lab"] and desk.rooms.get("#zona") is None
    assert notices(ana) == [("#sala", "left", "Bob"), ("#sala", "owner", "Ana")]
    assert [r.getMessage() for r in caplog.records] == [
        "Ana owns #sala now", "the room #zona ended: its last member left",
        "the earlier holder of the guest name bob left #redes, #sala, #zona; could not leave #lab: "
        "the store did not answer (tried again at the next expiry pass)"]


def test_a_failed_change_that_a_later_stored_save_carries_is_logged_then(caplog) -> None:
    desk, relay, _page, _phone = stored_setting()
    olga = Told("Olga")
    relay.registry.by_key["olga"] = [olga]
    relay.store.fail_saves = 1
    with caplog.at_level("INFO", logger="chat"):
        desk._moderate(olga, Invite("i1", "#redes", "Vic"), Person("Vic", True),  # type: ignore[arg-type]
                       ("#redes", 0, lambda: None))
        desk.set_topic(olga, SetTopic("t1", "#redes", "redes"))  # type: ignore[arg-type]
        relay.store.run()
    assert "vic" in desk.rooms.get("#redes").invited
    assert [r.getMessage() for r in caplog.records] == ["Olga invited Vic to #redes",
                                                        "Olga set the topic of #redes to 'redes'"]


def test_a_failed_join_that_a_later_stored_save_carries_sets_up_the_member_s_read_marks() -> None:
    """Answered unavailable (uncertain), Ann's join is stored with Olga's topic: she is a
    member as the store has it, and her read marks of the room come as after a join's ok."""
    desk, relay, _page, _phone = stored_setting()
    ann, olga = Told("Ann"), Told("Olga")
    relay.registry.by_key.update(ann=[ann], olga=[olga])
    reads: list[tuple[str, str]] = []
    relay.after.room_reads = SimpleNamespace(joined=lambda session, room: reads.append((session.key, room)))
    relay.store.fail_saves = 1
    desk.join(ann, JoinRoom("j1", "#redes"))  # type: ignore[arg-type]
    desk.set_topic(olga, SetTopic("t1", "#redes", "redes"))  # type: ignore[arg-type]
    relay.store.run()
    assert ann.sent[0].uncertain and "ann" in stored_members(relay.store, "#redes")
    assert reads == [("ann", "#redes")]
    desk.join(olga, JoinRoom("j2", "#nova"))  # type: ignore[arg-type]
    relay.store.run()
    relay.store.fail_saves = 2  # carried by a save that fails too: never a member, no marks
    desk.join(ann, JoinRoom("j3", "#nova"))  # type: ignore[arg-type]
    desk.set_topic(olga, SetTopic("t2", "#nova", "nova"))  # type: ignore[arg-type]
    relay.store.run()
    assert "#nova" not in desk.rooms.rooms_of("ann") and reads == [("ann", "#redes"), ("olga", "#nova")]


def test_in_a_cluster_the_rooms_a_failed_hand_over_did_store_have_their_log_lines_once(caplog) -> None:
    """As on one server: Redis stored #sala's part of the hand-over, not #lab's (the first):
    "Ana owns #sala now" is logged (its notices come by the events stream)."""
    desk, relay, redis, _timers = cluster_setting()
    now = time.time()
    desk.rooms.join(Person("Bob", True), "#sala", now)
    desk.rooms.join(Person("Ana", True), "#sala", now)
    records = dict(desk.rooms.changes())
    desk.load_shared({**desk._saved, **records}, {**desk._versions, **{key: 1 for key in records}})
    redis.fail = 1
    with caplog.at_level("INFO", logger="chat"):
        desk.name_changed_hands("bob")
        redis.run()
    assert desk.rooms.rooms_of("bob") == ["#lab"]
    assert [r.getMessage() for r in caplog.records] == [
        "Ana owns #sala now",
        "the earlier holder of the guest name bob left #redes, #sala; could not leave #lab: the store did not answer "
        "(tried again at the next expiry pass)"]
