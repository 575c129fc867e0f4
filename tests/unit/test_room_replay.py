"""The room desk's replay of what a client missed (server/roomdesk.py, ``room_seen`` in the
hello; PROTOCOL.md "Room messages cut mid-stream"), without sockets: a store that answers
in submission order when told to, and sessions that record their frames. What matters is
the interleaving: a post stored before the desk asked the store comes in the replay and not
live; one stored after comes live and not in the replay; each once, in id order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import const
from protocol import Connection, HistoryEntry, Role, Welcome
from server import mailbox
from server.metrics import Metrics
from server.roomdesk import RoomDesk
from server.store import StoreUnavailable
from server.rooms import Person, room_key


class DeferredStore:
    """Answers in submission order, each when :meth:`run` is called (as the SQLite
    thread does, only later); the first ``fail_history`` room pages fail."""

    def __init__(self) -> None:
        self.fail_history = 0
        self.fail_backlog = 0
        self.fail_changes = 0
        self.changed: list[mailbox.StoredMessage] = []  # what room_changes answers
        self.pending: list[Callable[[], None]] = []
        self.posts: dict[str, list[mailbox.StoredMessage]] = {}
        self.cursors: dict[str, dict[str, int]] = {}
        self.changes_asked: list[mailbox.SeenMark | None] = []  # each room_changes' seen

    def rooms(self) -> dict[str, str]:
        return {}

    def _fails(self, counter: str, on_error: Callable[[Any], None]) -> bool:
        """True if this read is one of the next ``counter`` to fail: its failure is queued."""
        if not getattr(self, counter):
            return False
        setattr(self, counter, getattr(self, counter) - 1)
        self.pending.append(lambda: on_error(StoreUnavailable("the disk failed")))
        return True

    def store_post(self, message: mailbox.StoredMessage, callback: Callable[[Any], None]) -> None:
        def do() -> None:
            self.posts.setdefault(message.recipient_key, []).append(message)
            callback((message, mailbox.NEW))
        self.pending.append(do)

    def room_history(self, room: str, before: int | None, limit: int, callback: Callable[[Any], None],
                     on_error: Callable[[Any], None]) -> None:
        if self._fails("fail_history", on_error):
            return

        def do() -> None:
            posts = [m for m in self.posts.get(room, []) if before is None or m.msg_id < before][-limit:]
            callback(([HistoryEntry(m.msg_id, m.sender, m.recipient, m.text, m.sent_at, "accepted") for m in posts],
                      None))
        self.pending.append(do)

    def room_backlog(self, name_key: str, rooms: list[str], limit: int, callback: Callable[[Any], None],
                     on_error: Callable[[Any], None]) -> None:
        if self._fails("fail_backlog", on_error):
            return

        def do() -> None:
            cursors = {room: last for room, last in self.cursors.get(name_key, {}).items() if room in rooms}
            missed = [m for room in rooms for m in self.posts.get(room, []) if m.msg_id > cursors.get(room, 0)]
            callback((sorted(missed, key=lambda m: m.msg_id), cursors))
        self.pending.append(do)

    def set_room_cursors(self, name_key: str, cursors: dict[str, int], *args: object) -> None:
        self.cursors[name_key] = dict(cursors)

    def room_changes(self, name_key: str, rooms: list[str], limit: int, callback: Callable[[Any], None],
                     on_error: Callable[[Any], None], *, seen: mailbox.SeenMark | None = None) -> None:
        self.changes_asked.append(seen)
        if self._fails("fail_changes", on_error):
            return
        self.pending.append(lambda: callback(list(self.changed)))

    def run(self) -> None:
        while self.pending:
            self.pending.pop(0)()


class FakeSession:
    def __init__(self, name: str) -> None:
        self.name, self.key = name, name.lower()
        self.closing = self.lagging = self.registered = False
        self.is_open = True
        self.skipped = 0
        self.conn = Connection(Role.SERVER)
        self.conn.send(Welcome("h", name, 2, "test", 30.0))  # open, at version 2
        self.frames: list[dict] = []
        self.last_seen = time.monotonic()  # the last bytes had from it (ClientSession.last_seen)

    def write_frame(self, frame: bytes) -> None:
        self.frames += [json.loads(line) for line in frame.splitlines()]

    def send(self, event: object) -> None:
        pass

    def posts(self) -> list[int]:
        """The msg_ids of the named rooms' posts written so far, and forget them."""
        posts = [f["msg_id"] for f in self.frames if f["type"] == "room" and isinstance(f.get("room"), str)]
        self.frames = []
        return posts


class FakeRegistry:
    def __init__(self) -> None:
        self.by_key: dict[str, list[FakeSession]] = {}

    def __len__(self) -> int:
        return sum(map(len, self.by_key.values()))

    def sessions_by_key(self, key: str) -> list[FakeSession]:
        return self.by_key.get(key, [])


class FakeRelay:
    def __init__(self) -> None:
        self.store = DeferredStore()
        self.registry = FakeRegistry()
        self.blocked: dict[str, set[str]] = {}
        self.config = SimpleNamespace(presence_room_limit=200, log_summary_interval=60.0, unavailable_retry_after=5.0,
                                      require_accounts=False)
        self.after = SimpleNamespace(message_sent=lambda sender_key, room_key: None,  # typing is not this test's
                                     wants_edits=lambda session: True)
        self.peers = SimpleNamespace(shares_rooms=False, tells_presence=False)  # one server
        self.metrics = Metrics()  # a new post counts in it


def setting(schedule: Callable[[float, Callable[[], None]], object] | None = None) -> tuple[RoomDesk, FakeRelay,
                                                                                           FakeSession]:
    relay = FakeRelay()
    desk = RoomDesk(relay, schedule)  # type: ignore[arg-type]
    now = time.time()
    desk.rooms.join(Person("Olga", True), "#redes", now)
    desk.rooms.join(Person("Olga", True), "#lab", now)
    desk.rooms.join(Person("Bob", True), "#redes", now)
    desk.rooms.join(Person("Bob", True), "#lab", now)
    laptop = FakeSession("Bob")
    relay.registry.by_key["bob"] = [laptop]
    return desk, relay, laptop


def post(desk: RoomDesk, relay: FakeRelay, msg_id: int, room: str) -> None:
    message = mailbox.StoredMessage(msg_id, "Olga", "olga", room, room_key(room), f"#{msg_id}", time.time(),
                                    f"p{msg_id}", "room")
    relay.store.store_post(message, lambda result: desk._posted(FakeSession("Olga"), result))


def test_posts_above_room_seen_come_once_in_order_around_the_question() -> None:
    desk, relay, laptop = setting()
    for msg_id, room in ((1, "#redes"), (2, "#lab"), (3, "#redes")):
        post(desk, relay, msg_id, room)
    relay.store.run()
    assert laptop.posts() == [1, 2, 3]  # the laptop stays online throughout
    # Bob's phone lost 2 and 3 with its connection; its hello says it showed 1.
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"].append(phone)
    post(desk, relay, 4, "#lab")             # submitted before the question: in the replay
    desk.replay(phone, 1)                    # another session stayed online: not the first
    post(desk, relay, 5, "#redes")           # submitted after it: live
    relay.store.run()
    post(desk, relay, 6, "#lab")
    relay.store.run()
    assert phone.posts() == [2, 3, 4, 5, 6]
    assert laptop.posts() == [4, 5, 6]
    assert relay.store.cursors == {}  # another session's replay moves no cursor


def test_the_first_session_s_replay_moves_the_cursors_and_a_version_1_session_gets_none() -> None:
    desk, relay, laptop = setting()
    relay.registry.by_key["bob"] = []
    for msg_id, room in ((1, "#redes"), (2, "#lab")):
        post(desk, relay, msg_id, room)
    relay.store.run()
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"] = [phone]
    desk.logged_in(phone, room_seen=0)  # type: ignore[arg-type]
    relay.store.run()
    assert phone.posts() == [1, 2]
    # The rooms' cursors moved, and the time they were written goes with them (the edits
    # and deletes told at the next login are those since then: mailbox.LEFT_AT).
    written = dict(relay.store.cursors["bob"])
    assert written.pop(mailbox.LEFT_AT) >= 0 and written == {room_key("#redes"): 1, room_key("#lab"): 2}
    old = FakeSession("Bob")
    old.conn = Connection(Role.SERVER)
    old.conn.send(Welcome("h", "Bob", 1, "test", 30.0))
    desk.replay(old, 0)  # type: ignore[arg-type]
    relay.store.run()
    assert old.posts() == []


def test_a_replay_the_store_could_not_read_is_asked_again_and_the_live_posts_wait_for_it() -> None:
    # Sent the live posts after a failed read, the client would show them and ask next
    # time only for what came after them: the posts it missed would never come (the chaos
    # run, seed 193). So the desk asks again, later, holding the live posts meanwhile.
    timers: list[tuple[float, Callable[[], None]]] = []
    desk, relay, laptop = setting(lambda delay, callback: timers.append((delay, callback)))
    for msg_id, room in ((1, "#redes"), (2, "#lab"), (3, "#redes")):
        post(desk, relay, msg_id, room)
    relay.store.run()
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"].append(phone)
    relay.store.fail_history = 1  # #redes's page fails, #lab's comes
    desk.replay(phone, 1)
    relay.store.run()
    assert phone.posts() == [] and [delay for delay, _callback in timers] == [5.0]
    post(desk, relay, 4, "#lab")  # live while it waits: held
    relay.store.run()
    assert phone.posts() == []
    timers.pop()[1]()  # asked again: both pages come
    post(desk, relay, 5, "#redes")  # stored after the question: live, after them
    relay.store.run()
    assert phone.posts() == [2, 3, 4, 5] and timers == []
    assert laptop.posts() == [1, 2, 3, 4, 5]


def test_a_replay_asked_again_stops_when_its_session_ends() -> None:
    timers: list[tuple[float, Callable[[], None]]] = []
    desk, relay, _laptop = setting(lambda delay, callback: timers.append((delay, callback)))
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"].append(phone)
    relay.store.fail_history = 2
    desk.replay(phone, 0)
    relay.store.run()
    assert len(timers) == 1
    phone.closing = True  # it ends before the timer
    timers.pop()[1]()
    assert relay.store.pending == [] and timers == []


def back_after_away(cursors: dict[str, int], missed: tuple[tuple[int, str], ...] = (),
                    changed: tuple[mailbox.StoredMessage, ...] = (), **failing: int) -> tuple[
                        RoomDesk, FakeRelay, FakeSession, list[tuple[float, Callable[[], None]]]]:
    """Bob, away with ``cursors`` while Olga posted ``missed`` ((msg_id, room), ...) and
    edited ``changed``, logs in again on a phone with no room_seen, the store failing its
    first reads as ``failing`` says (fail_backlog, fail_changes: how many). Returns the
    desk, the relay, the phone and the desk's timers (delay, callback)."""
    timers: list[tuple[float, Callable[[], None]]] = []
    desk, relay, _laptop = setting(lambda delay, callback: timers.append((delay, callback)))
    relay.registry.by_key["bob"] = []
    relay.store.cursors["bob"] = cursors
    for msg_id, room in missed:
        post(desk, relay, msg_id, room)
    relay.store.run()
    relay.store.changed = list(changed)
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"] = [phone]
    for name, count in failing.items():
        setattr(relay.store, name, count)
    desk.logged_in(phone)  # type: ignore[arg-type]
    relay.store.run()
    return desk, relay, phone, timers


def test_what_a_first_session_missed_by_its_cursors_is_asked_again_while_the_live_posts_wait() -> None:
    # A client's first hello has no room_seen: the desk reads what its user missed from
    # the cursors. Had it sent the live posts after a failed read, the client would show
    # them and say at its next hello that it had seen the rooms up to them (room_seen),
    # and the posts it missed would never come. So it asks again, holding them, as replay does.
    desk, relay, phone, timers = back_after_away({room_key("#redes"): 0, room_key("#lab"): 0},
                                                 ((1, "#redes"), (2, "#lab")), fail_backlog=1)
    assert phone.posts() == [] and [delay for delay, _callback in timers] == [5.0]
    post(desk, relay, 3, "#lab")  # live while it waits: held
    relay.store.run()
    assert phone.posts() == []
    timers.pop()[1]()  # asked again: what was missed comes, 3 with it (stored before the question)
    post(desk, relay, 4, "#redes")  # stored after the question: live, after them
    relay.store.run()
    assert phone.posts() == [1, 2, 3, 4] and timers == []
    written = dict(relay.store.cursors["bob"])
    assert written.pop(mailbox.LEFT_AT) >= 0 and written == {room_key("#redes"): 1, room_key("#lab"): 3}


def test_what_a_first_session_missed_asked_again_stops_when_it_ends_and_its_cursors_stay() -> None:
    cursors = {room_key("#redes"): 0, room_key("#lab"): 0}
    desk, relay, phone, timers = back_after_away(cursors, ((1, "#redes"),), fail_backlog=2)
    assert len(timers) == 1
    phone.closing = True
    desk.logged_out(phone)  # type: ignore[arg-type]
    timers.pop()[1]()
    relay.store.run()
    assert timers == [] and relay.store.cursors["bob"] == cursors  # what was missed comes next time


def test_the_edits_a_first_session_missed_are_asked_again_and_no_cursor_moves_their_mark_meanwhile() -> None:
    # The edits and deletes since the user's LEFT_AT mark are read at their first login.
    # Dropped when that read failed, they were never told: the cursors written later
    # moved the mark past them. Now they are asked again, and the mark stays until told.
    edit = mailbox.StoredMessage(1, "Olga", "olga", "#redes", room_key("#redes"), "#1, fixed", time.time(), "p1",
                                 "room", edited_at=time.time())
    desk, relay, phone, timers = back_after_away({room_key("#redes"): 1, room_key("#lab"): 0, mailbox.LEFT_AT: 5},
                                                 ((1, "#redes"), (2, "#lab")), (edit,), fail_changes=1)
    assert phone.posts() == [2] and [delay for delay, _callback in timers] == [5.0]
    # The missed post moved the cursors; the mark stays (written without one: the store keeps it).
    assert relay.store.cursors["bob"] == {room_key("#redes"): 1, room_key("#lab"): 2}
    timers.pop()[1]()
    relay.store.run()
    assert [(f["type"], f.get("msg_id")) for f in phone.frames] == [("edited", 1)] and timers == []
    desk.logged_out(phone)  # type: ignore[arg-type]
    assert mailbox.LEFT_AT in relay.store.cursors["bob"]  # told: the mark moves


def test_edits_not_told_when_the_session_ends_leave_the_mark_for_the_next_login() -> None:
    desk, relay, phone, timers = back_after_away({room_key("#redes"): 0, room_key("#lab"): 0, mailbox.LEFT_AT: 5},
                                                 fail_changes=2)
    assert len(timers) == 1
    phone.closing = True
    desk.logged_out(phone)  # type: ignore[arg-type]
    assert mailbox.LEFT_AT not in relay.store.cursors["bob"]  # the stored mark stays
    timers.pop()[1]()
    assert relay.store.pending == [] and timers == []


def test_the_mark_a_logout_leaves_is_when_the_last_bytes_came_from_the_session_not_when_it_ended() -> None:
    # A connection that died unnoticed ends at the heartbeat's timeout; what the server
    # wrote into it after the client's last frame was never read. Before, the mark was the
    # session's end, so the edits and deletes written meanwhile were never told again.
    desk, relay, laptop = setting()
    relay.registry.by_key["bob"] = []
    desk.logged_in(laptop, room_seen=0)  # type: ignore[arg-type]
    relay.store.run()
    laptop.last_seen = time.monotonic() - 40.0  # silent for 40 s: given up now
    before = time.time()
    desk.logged_out(laptop)  # type: ignore[arg-type]
    mark = relay.store.cursors["bob"][mailbox.LEFT_AT] / 1000
    assert before - 40.0 - 1.0 <= mark <= time.time() - 40.0


# --- Changes a device missed (the hello's last_heard) ----------------------------------------


def edited(msg_id: int, room: str) -> mailbox.StoredMessage:
    return mailbox.StoredMessage(msg_id, "Olga", "olga", room, room_key(room), f"#{msg_id}, fixed", time.time(),
                                 f"p{msg_id}", "room", edited_at=time.time())


def test_a_device_back_while_another_session_stayed_is_told_the_changes_since_it_last_heard() -> None:
    # Bob's phone was away while his laptop stayed online; Olga edited a post the phone had
    # meanwhile. Before, another session was sent the posts above room_seen only: the
    # phone kept the old text for good (the edit went to the laptop; the user's LEFT_AT
    # mark was never written, the laptop never left).
    desk, relay, laptop = setting()
    post(desk, relay, 1, "#redes")
    relay.store.run()
    heard = int(time.time() * 1000) - 30_000
    relay.store.changed = [edited(1, "#redes")]
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"].append(phone)
    desk.replay(phone, 1, last_heard=heard)  # type: ignore[arg-type]
    post(desk, relay, 2, "#lab")  # live, after what it is told
    relay.store.run()
    margin = int(const.LAST_HEARD_MARGIN * 1000)
    assert relay.store.changes_asked == [mailbox.SeenMark(1, heard - margin)]
    assert [(f["type"], f["msg_id"], f.get("text")) for f in phone.frames] == [
        ("edited", 1, "#1, fixed"), ("room", 2, "#2")]
    assert relay.store.cursors == {} and desk._changes_untold == {}  # the user's mark is the laptop's
    # A client that does not say when it heard (an older one) is told no change, as before.
    relay.store.changes_asked.clear()
    old = FakeSession("Bob")
    relay.registry.by_key["bob"].append(old)
    desk.replay(old, 2)  # type: ignore[arg-type]
    relay.store.run()
    assert relay.store.changes_asked == [] and old.posts() == []
    # Nor is the store asked for a session without the edits feature: it is told none.
    relay.after.wants_edits = lambda session: session is not phone
    desk.replay(phone, 2, last_heard=heard)  # type: ignore[arg-type]
    relay.store.run()
    assert relay.store.changes_asked == []


def test_a_first_session_s_own_mark_is_told_from_and_a_clock_ahead_counts_as_now() -> None:
    # The phone left on Monday, the laptop on Friday (the user's mark); an edit made in
    # between went to the laptop only. The phone's login comes first: told from its own mark.
    desk, relay, _laptop = setting()
    relay.registry.by_key["bob"] = []
    relay.store.cursors["bob"] = {room_key("#redes"): 1, room_key("#lab"): 0, mailbox.LEFT_AT: int(time.time() * 1000)}
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"] = [phone]
    desk.logged_in(phone, room_seen=1, last_heard=10_000_000)  # type: ignore[arg-type]
    relay.store.run()
    margin = int(const.LAST_HEARD_MARGIN * 1000)
    assert relay.store.changes_asked == [mailbox.SeenMark(1, 10_000_000 - margin)]
    desk.logged_out(phone)  # type: ignore[arg-type]
    assert mailbox.LEFT_AT in relay.store.cursors["bob"]  # told: the user's mark moves as before
    # A clock far ahead (a server's absurd one, or a lie) hides nothing made before now.
    relay.store.changes_asked.clear()
    tablet = FakeSession("Bob")
    relay.registry.by_key["bob"] = [tablet]
    before = int(time.time() * 1000)
    desk.logged_in(tablet, room_seen=1, last_heard=2 ** 53 - 1)  # type: ignore[arg-type]
    [seen] = relay.store.changes_asked
    assert seen is not None and before - margin <= seen.since_ms <= int(time.time() * 1000) - margin


def test_the_changes_another_session_could_not_read_are_asked_again_while_it_lasts() -> None:
    timers: list[tuple[float, Callable[[], None]]] = []
    desk, relay, _laptop = setting(lambda delay, callback: timers.append((delay, callback)))
    relay.store.changed = [edited(1, "#redes")]
    relay.store.fail_changes = 1
    phone = FakeSession("Bob")
    relay.registry.by_key["bob"].append(phone)
    desk.replay(phone, 1, last_heard=int(time.time() * 1000))  # type: ignore[arg-type]
    relay.store.run()
    assert phone.frames == [] and [delay for delay, _callback in timers] == [5.0]
    timers.pop()[1]()
    relay.store.run()
    assert [(f["type"], f["msg_id"]) for f in phone.frames] == [("edited", 1)] and timers == []
    assert desk._changes_untold == {}
    # Asked again no more once the session ended.
    relay.store.fail_changes = 1
    tablet = FakeSession("Bob")
    relay.registry.by_key["bob"].append(tablet)
    desk.replay(tablet, 1, last_heard=int(time.time() * 1000))  # type: ignore[arg-type]
    relay.store.run()
    tablet.closing = True
    timers.pop()[1]()
    assert relay.store.pending == [] and timers == []
