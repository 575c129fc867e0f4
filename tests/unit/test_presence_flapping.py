"""One user's presence changing fast (a client logging in and out in a loop) is damped
(server/presence.py): after const.PRESENCE_FLAP_CHANGES changes within
const.PRESENCE_FLAP_WINDOW seconds, that user's notices are held, and only the state they
settle in is told, once no change came for const.PRESENCE_SETTLE seconds. Sans-I/O: fake
sessions, a fake clock and a fake scheduler."""

from __future__ import annotations

import const
from protocol import UserJoined, UserLeft
from protocol import codec
from server.presence import PresenceNotices

from test_presence_lagging import FakeSession


class Timers:
    """call_later on a fake clock: ``advance(seconds)`` runs what came due, in order."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.due: list[tuple[float, int, object]] = []

    def schedule(self, delay: float, callback) -> None:
        self.due.append((self.now + delay, len(self.due), callback))

    def advance(self, seconds: float) -> None:
        until = self.now + seconds
        while True:
            ready = sorted(entry for entry in self.due if entry[0] <= until)
            if not ready:
                break
            self.due.remove(ready[0])
            self.now = max(self.now, ready[0][0])
            ready[0][2]()
        self.now = until


def told(session: FakeSession) -> list[tuple[str, str]]:
    """What ``session`` was told, as (type, name) pairs."""
    frames = [line for chunk in session.written for line in chunk.splitlines()]
    server_types = {cls.TYPE: cls for cls in codec.TYPES.values() if cls.SENDER in ("server", "both")}
    events = [codec.decode(frame, server_types, const.MAX_TEXT_CHARS) for frame in frames]
    return [(type(event).__name__, event.name) for event in events]


def flapping(room_limit: int = 100):
    timers, olga = Timers(), FakeSession()
    notices = PresenceNotices(timers.schedule, lambda: [olga], lambda key: [olga], room_limit, clock=lambda: timers.now)
    return timers, olga, notices


def flap(timers: Timers, notices: PresenceNotices, times: int, key: str = "flap", online: int = 3) -> None:
    """``times`` logins, each with its logout, 4 ms apart (about 230 logins a second)."""
    for _ in range(times):
        notices.announce(UserJoined("Flap", timers.now), 2, key, online)
        timers.advance(0.002)
        notices.announce(UserLeft("Flap", "bye", timers.now), 2, key, online)
        timers.advance(0.002)


def test_a_user_flapping_is_told_a_bounded_number_of_times_then_its_final_state() -> None:
    timers, olga, notices = flapping()
    flap(timers, notices, 230)  # a second of churn: 460 changes
    notices.announce(UserJoined("Flap", timers.now), 2, "flap", 3)  # and it stays
    notices.flush()
    assert len(told(olga)) == const.PRESENCE_FLAP_CHANGES
    timers.advance(const.PRESENCE_SETTLE + 1)
    notices.flush()
    # Settled online: told so, once (the last notice told was a leave: PRESENCE_FLAP_CHANGES is even).
    assert told(olga)[-1] == ("UserJoined", "Flap") and len(told(olga)) == const.PRESENCE_FLAP_CHANGES + 1
    timers.advance(3 * const.PRESENCE_SETTLE)
    notices.flush()
    assert len(told(olga)) == const.PRESENCE_FLAP_CHANGES + 1


def test_a_user_who_settles_as_told_is_told_nothing_more_and_is_told_again_later() -> None:
    timers, olga, notices = flapping(room_limit=1)  # above the limit: watchers are told at once
    flap(timers, notices, 10)
    notices.announce(UserJoined("Flap", timers.now), 2, "flap", 3)  # the last change: online
    assert len(told(olga)) == const.PRESENCE_FLAP_CHANGES
    timers.advance(const.PRESENCE_SETTLE + 1)
    assert told(olga)[-1] == ("UserJoined", "Flap")
    # Long after, a change is news again, at once.
    timers.advance(const.PRESENCE_FLAP_WINDOW)
    notices.announce(UserLeft("Flap", "bye", timers.now), 2, "flap", 3)
    assert told(olga)[-1] == ("UserLeft", "Flap")


def test_a_held_user_who_acts_is_told_first_and_others_are_not_held() -> None:
    timers, olga, notices = flapping(room_limit=1)
    flap(timers, notices, 10)
    notices.announce(UserJoined("Flap", timers.now), 2, "flap", 3)
    assert "flap" in notices.pending_keys  # the relay asks acts() before anything of theirs goes out
    notices.acts("flap")
    assert told(olga)[-1] == ("UserJoined", "Flap")
    notices.announce(UserJoined("Ana", timers.now), 2, "ana", 3)  # someone else: told at once
    assert told(olga)[-1] == ("UserJoined", "Ana")


def test_what_is_kept_per_user_is_forgotten_after_the_window() -> None:
    timers, olga, notices = flapping()
    for n in range(1000):
        notices.announce(UserJoined(f"p{n}", timers.now), 2, f"p{n}", 3)
    timers.advance(const.PRESENCE_FLAP_WINDOW + 1)
    notices.announce(UserJoined("Ana", timers.now), 2, "ana", 3)
    assert notices.tracked() <= 1
