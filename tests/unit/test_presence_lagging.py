"""Join and leave notices to a session that lags (server/presence.py): never written past
its soft mark, coalesced to what changed, told once it drains. Sans-I/O: fake sessions."""

from __future__ import annotations

from protocol import UserJoined, UserLeft
from protocol.codec import encode
from server.presence import PresenceNotices


class FakeSession:
    def __init__(self) -> None:
        self.lagging = False
        self.held = False
        self.written: list[bytes] = []

    def write_frame(self, frame: bytes) -> None:
        self.written.append(frame)

    def crowded(self) -> bool:
        return self.lagging


def _notices(sessions, room_limit=100, watchers=()):
    return PresenceNotices(lambda delay, callback: None, lambda: sessions, lambda key: watchers, room_limit)


def test_a_lagging_session_is_told_only_what_changed_once_it_drains():
    slow, quick = FakeSession(), FakeSession()
    notices = _notices([slow, quick])
    slow.lagging = True
    # A storm of guests coming and going, one who stays, and one who was there and went.
    for n in range(50):
        notices.announce(UserJoined(f"p{n}", 1.0), 2, f"p{n}", 3)
        notices.announce(UserLeft(f"p{n}", "bye", 2.0), 2, f"p{n}", 3)
    notices.announce(UserJoined("João", 3.0), 2, "joão", 3)
    notices.announce(UserLeft("Conceição", "bye", 4.0), 2, "conceição", 3)
    notices.announce(UserJoined("Conceição", 5.0), 2, "conceição", 3)
    notices.announce(UserLeft("Ana", "bye", 6.0), 2, "ana", 3)
    notices.flush()
    assert slow.written == [] and slow.held  # held: the relay calls drained() for it
    assert len(quick.written) == 1 and quick.written[0].count(b"\n") == 104
    slow.lagging = False
    notices.drained(slow)
    assert b"".join(slow.written) == encode(UserJoined("João", 3.0)) + encode(UserLeft("Ana", "bye", 6.0))
    notices.drained(slow)  # told once
    assert len(b"".join(slow.written).splitlines()) == 2


def test_a_lagging_watcher_is_told_once_it_drains_and_a_gone_session_is_forgotten():
    watcher = FakeSession()
    notices = _notices([], room_limit=0, watchers=[watcher])
    watcher.lagging = True
    notices.announce(UserJoined("João", 3.0), 1, "joão", 1)
    assert watcher.written == []
    watcher.lagging = False
    notices.drained(watcher)
    assert watcher.written == [encode(UserJoined("João", 3.0))]
    watcher.lagging = True
    notices.announce(UserLeft("João", "bye", 4.0), 1, "joão", 1)
    notices.forget(watcher)
    notices.drained(watcher)
    assert watcher.written == [encode(UserJoined("João", 3.0))]
