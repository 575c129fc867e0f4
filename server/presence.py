"""Join and leave notices, fanned out to everyone in coalesced batches.

Announcing every join to everyone costs N writes per join, so N logins cost N² writes: with
thousands of users a login storm (everyone reconnecting after a network blip) would stall
the server. Notices are therefore queued, already encoded, and written to every client
together after a delay that grows with the room: about 0.1 ms per online user, at most
``MAX_DELAY`` seconds. Two people chatting see a notice at once; ten thousand users see
them at most once a second, in one write each. Nothing is dropped, and every client sees
the notices in the order they happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from protocol import Event
from protocol.codec import encode

MAX_DELAY = 1.0
DELAY_PER_USER = 0.0001


class PresenceNotices:
    """Queue of encoded notices, flushed to the open sessions by a scheduled callback.

    ``schedule(delay, callback)`` is the event loop's ``call_later`` (tests pass their own);
    ``recipients()`` returns the sessions to write to when the batch goes out.
    """

    def __init__(self, schedule: Callable[[float, Callable[[], None]], object],
                 recipients: Callable[[], Iterable]) -> None:
        self._schedule = schedule
        self._recipients = recipients
        self._pending: list[bytes] = []

    def announce(self, event: Event, room_size: int) -> None:
        """Queue ``event`` (UserJoined, UserLeft) for everyone online."""
        if not self._pending:
            self._schedule(min(MAX_DELAY, room_size * DELAY_PER_USER), self.flush)
        self._pending.append(encode(event))

    def flush(self) -> None:
        """Write every queued notice to every open session now."""
        if not self._pending:
            return
        batch = b"".join(self._pending)
        self._pending.clear()
        for session in self._recipients():
            session.write_frame(batch)
