"""Back-pressure on the requests whose answers can be large: pages of up to a frame.

Two kinds. A ``history`` request (a conversation's or a room's), or a ``since`` one, is
answered by the store, a page of up to a frame, in a later loop turn, and the answers to
everything a client asked in one write come back together, in one turn. A request for a
list that grows with the users (``who``, ``blocks``, ``watch``; in rooms ``rooms`` and
``members``) is answered at once, a page of up to a frame too, in the turn that read it.
Either way, twenty-five pages of 54 KB asked in one write would be queued at once, past
the hard mark (server/session.py), and a client that reads normally would be dropped as a
slow consumer. A ``whois`` is answered at once too, with one user, but that answer (an
address, a port, a time) is about three times its request: a burst of them in one write,
as many as the rate limits let pass, queued three times its size in the turn that read
it, so it goes through the gate as well. So a connection's large requests go through
this gate, one rule::

    a large request begins only while fewer than MAX_HISTORY_IN_FLIGHT of the
    session's are with the store and its queue is under the soft mark (not lagging)

(``lagging`` counts what this turn wrote too: past a quarter of the hard mark, the next
large request waits for the turn's frames to be taken.) One that may not begin yet is kept
(one per session: it is the last frame handled) and the session stops reading
(:meth:`ClientSession.hold_reading`): the frames after it wait, in order, in the session's
core and in the kernel's buffers, and TCP tells the client to slow down. Once an answer is
back (:meth:`Intake.answered`) or the queue has drained (:meth:`Intake.drained`), the kept
request begins and reading resumes (:meth:`ClientSession.release_reading`). Every request
is answered, in order; the memory a session holds is bounded (one request, what one read
brought, its queue); no other session is touched. The time a session's reading is held is
not counted against its heartbeat or frame timeouts (it could not help it; see
server/app.py's sweeper), but a hold that waits for a client to read what it was sent ends
as a slow consumer after the heartbeat timeout (``ClientSession.stalled``): one that never
reads is still dropped.

Each large request's handler asks :meth:`Intake.admit` first thing; only the store's are
counted in flight (:meth:`Intake.track`). Other requests are not gated: their answers are
small (a frame of their own size or less: an ``ok``, an error) and written as they are
handled, bounded by the rate limit and the hard mark as before. The
direct message path asks nothing here: it costs one test per frame, the session's
(whether reading is held, in ``ClientSession.receive_chat``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .session import ClientSession

Handler = Callable[["ClientSession", Any], None]


class Intake:
    """The gate of one relay; sessions with nothing in flight cost nothing here."""

    __slots__ = ("limit", "_asking", "_kept")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._asking: dict[ClientSession, int] = {}  # history and since requests with the store
        self._kept: dict[ClientSession, tuple[Handler, Any]] = {}  # the one waiting to begin

    def in_flight(self, session: ClientSession) -> int:
        """How many of ``session``'s history and since requests the store is answering."""
        return self._asking.get(session, 0)

    def admit(self, session: ClientSession, handler: Handler, request: Any) -> bool:
        """True if ``request`` may begin now. Else it is kept, ``handler(session, request)``
        runs once it may, and the session's reading is held until then."""
        if self._asking.get(session, 0) < self.limit and not session.lagging:
            return True
        self._kept[session] = (handler, request)
        if session.lagging:
            # drained() is then called as the queue drains (session.flush, resume_writing).
            session.held = True
        session.hold_reading()
        return False

    def track(self, session: ClientSession, callback: Callable[[Any], None],
              on_error: Callable[[Any], None]) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
        """Count a request submitted to the store until it is answered: ``callback`` and
        ``on_error`` as they are, but each first says it is done (exactly one runs)."""
        asking = self._asking
        asking[session] = asking.get(session, 0) + 1

        def answered(result: Any) -> None:
            self.answered(session)
            callback(result)

        def failed(failure: Any) -> None:
            self.answered(session)
            on_error(failure)

        return answered, failed

    def answered(self, session: ClientSession) -> None:
        """One of ``session``'s requests is answered: a kept one may begin."""
        count = self._asking.get(session, 0) - 1
        if count > 0:
            self._asking[session] = count
        else:
            self._asking.pop(session, None)
        self._release(session)

    def drained(self, session: ClientSession) -> None:
        """``session``'s queue is back under the soft mark: a kept request may begin."""
        if self._kept:
            self._release(session)

    def forget(self, session: ClientSession) -> None:
        """``session`` is gone: nothing of it waits (its connection, not a request, ended)."""
        self._asking.pop(session, None)
        self._kept.pop(session, None)

    def _release(self, session: ClientSession) -> None:
        kept = self._kept.get(session)
        if kept is None or self._asking.get(session, 0) >= self.limit:
            return
        if session.lagging:
            session.held = True  # drained() calls again once the queue is under the mark
            return
        del self._kept[session]
        handler, request = kept
        # The kept request first (it is checked again, and may be kept again), then the
        # frames behind it: at the next loop turn, not inside the store's answers.
        session.release_reading(lambda: handler(session, request))
