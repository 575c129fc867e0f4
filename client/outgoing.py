"""Trackers for messages this client sends, and the event that reports their progress.

An :class:`OutgoingMessage` follows one message from ``send_direct``/``send_room`` to its
final state::

    direct message:  sending -> sent (Accepted) -> delivered (Delivered)
    room message:    sending -> sent (Accepted)
    either:          sending or sent -> failed (ErrorReply, or the connection ended)

``delivered`` and ``failed`` (and ``sent`` for a room message, which gets no receipt) are
final: nothing moves a tracker out of them. A direct message may skip ``sent`` if the
server's Delivered is the first answer the client sees.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

from protocol import Event

SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
FAILED = "failed"

# state -> states it may move to, for each kind of message.
_NEXT_DIRECT = {SENDING: {SENT, DELIVERED, FAILED}, SENT: {DELIVERED, FAILED}, DELIVERED: set(), FAILED: set()}
_NEXT_ROOM = {SENDING: {SENT, FAILED}, SENT: set(), FAILED: set()}


class OutgoingMessage:
    """One message sent by this client, and what became of it so far.

    Attributes (read them from any thread; only the client library changes them):

    - ``request_id``: the id the request went out with; unique per client object, across
      reconnections.
    - ``to``: the recipient's name, or None for a room message (see ``kind``).
    - ``text``: what was sent.
    - ``state``: ``"sending"``, ``"sent"``, ``"delivered"`` or ``"failed"``.
    - ``msg_id``: the server's id for the message once Accepted (else None).
    - ``error``: ``(code, message)`` once failed (else None). ``code`` is a protocol
      ``ErrorCode`` value or a :class:`~client.errors.LocalError` value.
    - ``submitted``: True once the request was written to the server. A message that
      failed while ``submitted`` is False failed inside ``send_*`` (no connection, text too
      long...): the library reports that only through the returned tracker, never with a
      :class:`MessageUpdate`.
    """

    __slots__ = ("request_id", "to", "text", "state", "msg_id", "error", "submitted", "created",
                 "_changed")

    def __init__(self, request_id: str, to: str | None, text: str) -> None:
        self.request_id = request_id
        self.to = to
        self.text = text
        self.state = SENDING
        self.msg_id: int | None = None
        self.error: tuple[str, str] | None = None
        self.submitted = False
        self.created = time.time()
        # Waiters sleep on this; every state change notifies them all.
        self._changed = threading.Condition()

    @property
    def kind(self) -> str:
        """``"direct"`` or ``"room"``."""
        return "room" if self.to is None else "direct"

    @property
    def final_states(self) -> frozenset[str]:
        """The states this message cannot leave."""
        return frozenset({SENT, FAILED}) if self.to is None else frozenset({DELIVERED, FAILED})

    @property
    def done(self) -> bool:
        """True once the message reached a final state."""
        return self.state in self.final_states

    def wait(self, states: Iterable[str] | str, timeout: float | None) -> bool:
        """Block until the state is one of ``states`` or final; return whether it is in ``states``.

        Returns False at once if the message reached a different final state (it can
        never get there), or after ``timeout`` seconds (None: no limit).
        """
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
        where = "room" if self.to is None else f"to={self.to!r}"
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
