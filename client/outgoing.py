"""Trackers for messages this client sends, and the event that reports their progress.

An :class:`OutgoingMessage` follows one message from ``send_direct``/``send_room`` to its
final state::

    direct message:  sending -> sent (Accepted: the recipient is online) -> delivered
                     sending -> queued (Queued: stored until the recipient logs in) -> delivered
                     sent -> queued (the recipient left before confirming)
    room message:    sending -> sent (Accepted)
    either:          any non-final state -> failed (ErrorReply such as ``expired``, or the
                     client gave up: closed, or the session ended for good)

``delivered`` and ``failed`` (and ``sent`` for a room message, which gets no receipt) are
final: nothing moves a tracker out of them. ``sent`` and ``queued`` mean the server has the
message on disk: the library never sends it again, but keeps the tracker open, across
reconnections, for ``delivered`` (which may come much later, even after a reconnect) or an
``expired`` error. ``sending`` means the server has not acknowledged it yet: after a
reconnection the library sends it again with the same request id, which the server
recognises, so it is never stored or delivered twice. A message the server refused
``rate_limited`` or ``unavailable`` stays ``sending`` too, and is written again with its
id after the server's ``retry_after`` (client/core.py says how often, and when it gives
up: then ``failed``, with ``unavailable`` if the server said nothing was done, or
``unconfirmed`` if it may have stored it). A direct message may skip ``sent``
if the server's Delivered is the first answer the client sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from protocol import Event

SENDING = "sending"
SENT = "sent"
QUEUED = "queued"
DELIVERED = "delivered"
FAILED = "failed"

# state -> states it may move to, for each kind of message.
_NEXT_DIRECT = {SENDING: {SENT, QUEUED, DELIVERED, FAILED}, SENT: {QUEUED, DELIVERED, FAILED},
                QUEUED: {DELIVERED, FAILED}, DELIVERED: set(), FAILED: set()}
_NEXT_ROOM = {SENDING: {SENT, FAILED}, SENT: set(), FAILED: set()}


class Failure(tuple):
    """Why a message failed: the pair ``(code, message)`` (what ``error`` always was: it
    unpacks, indexes and compares as that pair), with the rest of the server's refusal, for
    its words (client/display.py ``explain_refusal``): ``room``, ``reason`` and ``like``
    (PROTOCOL.md, "error"), and ``retry_after``, the seconds left now of the wait the
    refusal gave (so a line drawn again later says no longer wait than there is). None: the
    refusal had none.
    ``attempts`` and ``tried_for``: the client gave the message up after that many
    ``unavailable`` answers over that many seconds (client/core.py), so the refusal's wait
    is no news; else None. ``waited``: an ``expired`` one's wait as the server said it
    (None: a server that does not say it)."""

    def __new__(cls, code: str, message: str, retry_after: float | None = None, room: str | None = None,
                reason: str | None = None, attempts: int | None = None, tried_for: float | None = None,
                like: str | None = None, waited: float | None = None) -> Failure:
        self = super().__new__(cls, (code, message))
        self._until = None if retry_after is None else time.monotonic() + retry_after
        self.room = room
        self.reason = reason
        self.like = like
        self.attempts = attempts
        self.tried_for = tried_for
        self.waited = waited
        return self

    @classmethod
    def of(cls, reply: Any, attempts: int | None = None, tried_for: float | None = None) -> Failure:
        """The failure an ``error`` from the server (an ErrorReply) says (``attempts`` and
        ``tried_for``: the client's giving up after it, as above)."""
        return cls(reply.code, reply.message, reply.retry_after, reply.room_name, reply.reason, attempts, tried_for,
                   reply.like, reply.waited)

    @property
    def code(self) -> str:
        return self[0]

    @property
    def message(self) -> str:
        return self[1]

    @property
    def retry_after(self) -> float | None:
        return None if self._until is None else max(0.0, self._until - time.monotonic())


class OutgoingMessage:
    """One message sent by this client, and what became of it so far.

    Attributes (read them from any thread; only the client library changes them):

    - ``request_id``: the id the request went out with; unique per client object, across
      reconnections.
    - ``to``: the recipient's name, or None for a room message (see ``kind``).
    - ``room``: for a message to a named room (protocol version 2), its name; None for a
      direct message and for the default room (a ``say``).
    - ``text``: what was sent.
    - ``state``: ``"sending"``, ``"sent"``, ``"queued"``, ``"delivered"`` or ``"failed"``.
    - ``msg_id``: the server's id for the message once Accepted (else None).
    - ``error``: ``(code, message)`` once failed (else None). ``code`` is a protocol
      ``ErrorCode`` value or a :class:`~client.errors.LocalError` value. A refusal from
      the server is a :class:`Failure`, that pair with the refusal's other facts.
    - ``submitted``: True once the request was written to the server. A message that
      failed while ``submitted`` is False failed inside ``send_*`` (no connection, text too
      long...): the library reports that only through the returned tracker, never with a
      :class:`MessageUpdate`. A message typed while the client is reconnecting comes back
      from ``send_*`` with state ``sending`` and ``submitted`` False: it waits in the
      client (see ``waiting``) and is written once the session is back. So test
      ``state == "failed"``, not ``submitted``, to see whether ``send_*`` refused it.
    """

    __slots__ = ("request_id", "to", "room", "text", "state", "msg_id", "error", "submitted", "created",
                 "_changed", "_throttled", "_held", "_unavailable", "_uncertain", "_unavailable_since", "_guard")

    def __init__(self, request_id: str, to: str | None, text: str, room: str | None = None) -> None:
        self.request_id = request_id
        self.to = to
        self.room = room if to is None else None
        self.text = text
        self.state = SENDING
        self.msg_id: int | None = None
        self.error: tuple[str, str] | None = None
        self.submitted = False
        self.created = time.time()
        # Waiters sleep on this; every state change notifies them all.
        self._changed = threading.Condition()
        # Set by the library when the server answered rate_limited or unavailable: sent
        # again later.
        self._throttled = False
        # Set by the library for a message sent while it holds back its sends after such an
        # answer: not written yet, it goes after the refused ones, in its turn.
        self._held = False
        # How many times the server answered unavailable; whether one of those answers
        # said it may have stored the message (uncertain) all the same.
        self._unavailable = 0
        self._uncertain = False
        # When the first unavailable answer came (the library's clock), for how long it was tried.
        self._unavailable_since = 0.0
        # Set by the client that sends it: called with what is about to wait, it raises
        # CalledFromReceiver on the thread that reads the answers (which a wait would stall).
        self._guard: Callable[[str], None] | None = None

    @property
    def kind(self) -> str:
        """``"direct"`` or ``"room"``."""
        return "room" if self.to is None else "direct"

    @property
    def addressee(self) -> str | None:
        """Whom or where the message goes: the recipient, the named room, or None (the
        default room); what a refusal's sentence names."""
        return self.to if self.to is not None else self.room

    @property
    def final_states(self) -> frozenset[str]:
        """The states this message cannot leave."""
        return frozenset({SENT, FAILED}) if self.to is None else frozenset({DELIVERED, FAILED})

    @property
    def refused(self) -> str | None:
        """While ``sending``: why the server has not taken it yet, if it said so:
        ``"unavailable"`` (its storage failed; nothing was done, and the library waits to
        write it again), ``"unconfirmed"`` (its storage did not answer, or a resend is
        written and not answered yet: it may have been stored; the library's resend finds
        out), or None (no such answer: in flight, waiting for the connection, rate-limited)."""
        if self.state != SENDING or not self._unavailable:
            return None
        return "unconfirmed" if self._uncertain or not self._throttled else "unavailable"

    @property
    def waiting(self) -> bool:
        """True while the message waits in the client for the connection to come back (not
        while it is held back, connected, behind messages the server asked to wait)."""
        return self.state == SENDING and not self.submitted and not self._held

    @property
    def settled(self) -> bool:
        """True once the server has it on disk or it is final: ``queued`` counts, since a
        queued message will be delivered when the recipient logs in (or expire)."""
        return self.done or self.state == QUEUED

    @property
    def done(self) -> bool:
        """True once the message reached a final state."""
        return self.state in self.final_states

    def wait(self, states: Iterable[str] | str, timeout: float | None) -> bool:
        """Block until the state is one of ``states`` or final; return whether it is in ``states``.

        Returns False at once if the message reached a different final state (it can
        never get there), or after ``timeout`` seconds (None: no limit).

        Raises :class:`~client.errors.CalledFromReceiver` at once when called, with a
        ``timeout`` other than 0, on the thread that reads the server's answers (the
        threaded client's ``on_event``; the asyncio client's event loop): the answer it
        waits for could only be read by that very thread. ``timeout=0`` only looks.
        """
        if timeout != 0 and self._guard is not None:
            self._guard("OutgoingMessage.wait()")
        wanted = {states} if isinstance(states, str) else set(states)
        with self._changed:
            self._changed.wait_for(lambda: self.state in wanted or self.done, timeout)
            return self.state in wanted

    def wait_done(self, timeout: float | None) -> bool:
        """Block until the message reaches a final state; False if ``timeout`` passed first."""
        return self.wait(self.final_states, timeout)

    # --- Used by the library ------------------------------------------------------------

    def _advance(self, state: str, msg_id: int | None = None, error: tuple[str, str] | None = None) -> bool:
        """Move to ``state`` if the rules allow it; return whether anything changed.

        Late or duplicate answers (a Delivered after a failure, a second Accepted) are
        ignored rather than raised: they come from the network, not from a bug here.
        """
        table = _NEXT_ROOM if self.to is None else _NEXT_DIRECT
        with self._changed:
            if state not in table[self.state]:
                return False
            self.state = state
            if msg_id is not None:
                self.msg_id = msg_id
            if error is not None:
                self.error = error
            self._changed.notify_all()
            return True

    def _fail(self, code: str, message: str) -> bool:
        return self._advance(FAILED, error=(str(code), message))

    def __repr__(self) -> str:
        where = (f"room={self.room!r}" if self.room else "room") if self.to is None else f"to={self.to!r}"
        extra = f" error={self.error!r}" if self.error else ""
        return f"<OutgoingMessage {self.request_id} {where} {self.state} msg_id={self.msg_id}{extra}>"


@dataclass(frozen=True, slots=True)
class MessageUpdate(Event):
    """Local event (never on the wire): an :class:`OutgoingMessage` changed state.

    ``state`` and ``error`` are the values right after the change (the tracker itself
    may have moved on by the time the application looks at it).
    """

    TYPE: ClassVar[str] = ""
    message: OutgoingMessage
    state: str
    error: tuple[str, str] | None = None
