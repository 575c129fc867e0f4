"""A room post's edit or a moderator's delete that a cluster's store answers ``stale`` (the
post's room changed through another node since this one decided: stores/redis_scripts.py
CHANGE) is decided again on the room as the store has it, and answered in bounded time:
after as many attempts as a post gets (roomdesk._ATTEMPTS), ``unavailable``, nothing
changed (server/afterdelivered.py, RoomDesk.decide_again). Sans I/O: the rooms core is the
real one; the store answers at once.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from protocol import EDITS, Delete, Edit, ErrorCode, ErrorReply
from server import mailbox
from server.afterdelivered import AfterDelivered
from server.roomdesk import _ATTEMPTS, RoomDesk
from server.rooms import Person, Role, Rooms


class Session:
    def __init__(self, name: str) -> None:
        self.name, self.key, self.epoch, self.registered, self.address = name, name.lower(), 0, False, None
        self.closing, self.is_open = False, True
        self.sent: list[Any] = []

    def send(self, event: Any) -> None:
        self.sent.append(event)


class Desk:
    """RoomDesk's part the edit path uses, its decide_again the real one."""

    decide_again = RoomDesk.decide_again

    def __init__(self) -> None:
        self.rooms = Rooms(admins=())
        self.schedule = None
        self.reloaded: list[tuple[str, str | None, int]] = []

    @staticmethod
    def person(session: Session) -> Person:
        return Person(session.name)

    def versions_of(self, keys) -> dict[str, int]:
        return {key: 1 for key in keys}

    def _reload(self, key: str, record: str | None, version: int) -> None:
        self.reloaded.append((key, record, version))

    def change_notices(self, moderation: Any) -> list:
        return []


class Relay:
    """A cluster node's relay whose store answers every change ``stale`` (the room changes
    under each decision), or ``forbidden`` to a delete asked as its sender's."""

    def __init__(self) -> None:
        self.room_desk = Desk()
        self.config = SimpleNamespace(typing_interval=5.0, edit_window=600.0)
        self.store = SimpleNamespace(receipts_off=set, last_msg_id=lambda: 10)
        self.blocked: dict[str, set[str]] = {}
        self.asked: list[dict] = []
        self.peers = SimpleNamespace(change_message=self.change_message)

    def change_message(self, store: Any, msg_id: int, sender_key: str | None, text: str | None, now: float,
                       window: float, quiet_for: frozenset[str], callback: Any, on_error: Any, *,
                       may_post_in: frozenset[str] | None, by: str | None, notices: list,
                       versions: dict[str, int] | None = None) -> None:
        self.asked.append({"sender_key": sender_key, "versions": versions})
        if sender_key is not None and text is None:
            callback((mailbox.FORBIDDEN, mailbox.StoredMessage(msg_id, "Vic", "vic", "#sala", "#sala", "hi", now,
                                                               "c", "room")))
            return
        callback((mailbox.STALE, mailbox.StaleRoom("#sala", None, len(self.asked) + 1)))

    def unavailable(self, session: Session, request_id: str) -> Any:
        return lambda failure: session.send(ErrorReply(ErrorCode.UNAVAILABLE, "not done", request_id))


def mia_in_sala() -> tuple[AfterDelivered, Relay, Session]:
    relay = Relay()
    rooms = relay.room_desk.rooms
    rooms.join(Person("Olga"), "#sala", 1000.0)
    rooms.join(Person("Mia"), "#sala", 1000.0)
    rooms.appoint(Person("Olga"), "#sala", Person("Mia"), Role.MODERATOR, 1000.0)
    after = AfterDelivered(relay)  # type: ignore[arg-type]
    mia = Session("Mia")
    after.logged_in(mia, (EDITS,))  # type: ignore[arg-type]
    return after, relay, mia


def test_an_edit_whose_room_keeps_changing_is_decided_again_a_bounded_number_of_times_then_unavailable():
    after, relay, mia = mia_in_sala()
    after.handlers()[Edit](mia, Edit("e1", 5, "new words"))  # type: ignore[arg-type]
    assert len(relay.asked) == _ATTEMPTS
    assert all(asked["versions"] == {"#sala": 1, mailbox.DEFAULT_ROOM_SLOT: 1} for asked in relay.asked)
    assert [version for _key, _record, version in relay.room_desk.reloaded] == list(range(2, _ATTEMPTS + 2))
    assert [(type(e), e.code, e.request_id) for e in mia.sent] == [(ErrorReply, ErrorCode.UNAVAILABLE, "e1")]


def test_a_moderators_delete_whose_room_keeps_changing_is_decided_again_a_bounded_number_of_times():
    after, relay, mia = mia_in_sala()
    after.handlers()[Delete](mia, Delete("d1", 5))  # type: ignore[arg-type]
    # Asked as hers first (forbidden: Vic's), then as a moderator's at the room's version.
    assert relay.asked[0] == {"sender_key": "mia", "versions": None}
    assert relay.asked[1:] == [{"sender_key": None, "versions": {"#sala": 1}}] * _ATTEMPTS
    assert [(type(e), e.code, e.request_id) for e in mia.sent] == [(ErrorReply, ErrorCode.UNAVAILABLE, "d1")]
