"""The relay: what the server does with each event a client sends. No sockets here.

Sessions hand every event to :meth:`Relay.handle`; the relay answers through
``session.send(event)`` and ``session.close()``. It owns the registry (who is online and
where), stamps the real sender on every message (a client never says who it is after the
hello), routes direct messages and room messages, and turns the recipient's receipt into
the sender's ``delivered`` acknowledgement.

Acknowledgements of a direct message, in order, to the sender::

    accepted(msg_id)      the server took it and forwarded it to the recipient
    delivered(msg_id)     the recipient's client confirmed it       (final)
    error(code)           refused or not deliverable                (final; may follow accepted)
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

import const
from protocol import (
    Accepted,
    ConnectionClosed,
    Delivered,
    DirectMessage,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    LookupRequest,
    LookupResult,
    Ping,
    Pong,
    Presence,
    State,
    Receipt,
    RoomMessage,
    SendDirect,
    SendRoom,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    WhoRequest,
)
from protocol.codec import encode
from registry import InvalidName, NameTaken, Registry

from .config import ServerConfig
from .presence import PresenceNotices
from .session import ClientSession

log = logging.getLogger("chat.server")


class Relay:
    """Routes events between the sessions of one server."""

    def __init__(self, config: ServerConfig | None = None,
                 schedule: Callable[[float, Callable[[], None]], object] | None = None) -> None:
        """``schedule(delay, callback)`` runs callback later (the loop's call_later); by
        default it runs it at once, which suits tests that drive the relay directly."""
        self.config = config or ServerConfig()
        self.registry = Registry()
        self.sessions: set[ClientSession] = set()
        self.presence = PresenceNotices(schedule or (lambda delay, callback: callback()),
                                        lambda: self.sessions)
        self._msg_ids = itertools.count(1)
        self._handlers: dict[type[Event], Callable[[ClientSession, Any], None]] = {
            Hello: self._hello,
            SendDirect: self._send_direct,
            SendRoom: self._send_room,
            Receipt: self._receipt,
            WhoRequest: self._who,
            LookupRequest: self._lookup,
            Goodbye: self._goodbye,
            FrameRejected: self._rejected,
            ConnectionClosed: self._ignore,
            Ping: self._ignore,  # the core already queued the pong
            Pong: self._ignore,  # liveness is noted by the session on any data
        }

    # --- Session lifecycle --------------------------------------------------------------

    def connected(self, session: ClientSession) -> None:
        """A TCP connection was accepted; it must log in within const.LOGIN_TIMEOUT."""
        self.sessions.add(session)
        log.info("connect %s:%d", session.address, session.port)
        if len(self.sessions) > self.config.max_connections:
            self._refuse(session, ErrorCode.SERVER_FULL, "the server is full; try again later")

    def disconnected(self, session: ClientSession, exc: Exception | None) -> None:
        """The connection is gone: unregister the user, tell the others, fail open deliveries."""
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        reason = session.leave_reason
        if exc is not None and reason == "disconnected":
            reason = f"connection lost ({type(exc).__name__})"
        if session.name is None:
            log.info("disconnect %s:%d before logging in (%s)", session.address, session.port, reason)
            return
        log.info("logout %s from %s:%d (%s)", session.name, session.address, session.port, reason)
        self._fail_unconfirmed(session)
        if self.registry.unregister(session.name, session):
            self.presence.announce(UserLeft(session.name, reason, time.time()), len(self.sessions))

    def handle(self, session: ClientSession, event: Event) -> None:
        """Act on one event from ``session``."""
        self._handlers[type(event)](session, event)
        if type(event) is not FrameRejected:
            session.bad_frames = 0

    # --- Logging in ---------------------------------------------------------------------

    def _hello(self, session: ClientSession, hello: Hello) -> None:
        if hello.version != const.PROTOCOL_VERSION:
            self._refuse(session, ErrorCode.UNSUPPORTED_VERSION,
                         f"this server speaks protocol version {const.PROTOCOL_VERSION}, not {hello.version}",
                         hello.request_id)
            return
        try:
            self.registry.register(hello.name, session.address, session.port, time.time(), session)
        except (InvalidName, NameTaken) as exc:
            code = ErrorCode.NAME_TAKEN if isinstance(exc, NameTaken) else ErrorCode.INVALID_NAME
            log.info("login refused for %r from %s:%d: %s", hello.name, session.address, session.port, exc)
            # The session stays in the handshake: the client may try another name.
            session.send(ErrorReply(code, str(exc), hello.request_id))
            return
        session.name = hello.name
        session.send(Welcome(hello.request_id, hello.name, const.PROTOCOL_VERSION, self.config.server_name,
                             self.config.heartbeat_interval))
        log.info("login %s from %s:%d", hello.name, session.address, session.port)
        self.presence.announce(UserJoined(hello.name, time.time()), len(self.sessions))

    def _refuse(self, session: ClientSession, code: str, message: str, request_id: str | None = None) -> None:
        log.info("refused %s:%d: %s", session.address, session.port, message)
        session.send(ErrorReply(code, message, request_id))
        session.close(code)

    # --- Messages -----------------------------------------------------------------------

    def _send_direct(self, session: ClientSession, request: SendDirect) -> None:
        target = self.registry.lookup(request.to)
        if target is None:
            session.send(ErrorReply(ErrorCode.UNKNOWN_RECIPIENT, f"{request.to} is not online",
                                    request.request_id))
            return
        recipient: ClientSession = target.endpoints[0].session
        awaiting = recipient.awaiting_receipt
        if awaiting is None:
            awaiting = recipient.awaiting_receipt = {}
        elif len(awaiting) >= const.MAX_PENDING_RECEIPTS:
            session.send(ErrorReply(ErrorCode.RECIPIENT_BUSY,
                                    f"{target.name} has too many unconfirmed messages; try again later",
                                    request.request_id))
            return
        msg_id = next(self._msg_ids)
        awaiting[msg_id] = (session, request.request_id)
        # Accepted goes out before the message itself, so the sender always sees
        # "accepted" before "delivered".
        session.send(Accepted(request.request_id, msg_id))
        recipient.send(DirectMessage(msg_id, session.name, target.name, request.text, time.time()))

    def _receipt(self, session: ClientSession, receipt: Receipt) -> None:
        # Only the recipient's own session holds the pending entry, so nobody else can
        # confirm a message on its behalf.
        pending = session.awaiting_receipt.pop(receipt.msg_id, None) if session.awaiting_receipt else None
        if pending is None:
            session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE,
                                    f"no message {receipt.msg_id} is waiting for your receipt"))
            return
        sender, request_id = pending
        sender.send(Delivered(request_id, receipt.msg_id))

    def _fail_unconfirmed(self, session: ClientSession) -> None:
        """Tell the senders of messages ``session`` never confirmed that delivery failed."""
        if not session.awaiting_receipt:
            return
        for msg_id, (sender, request_id) in session.awaiting_receipt.items():
            sender.send(ErrorReply(ErrorCode.RECIPIENT_DISCONNECTED,
                                   f"{session.name} disconnected before confirming message {msg_id}",
                                   request_id))
        session.awaiting_receipt = None

    def _send_room(self, session: ClientSession, request: SendRoom) -> None:
        msg_id = next(self._msg_ids)
        session.send(Accepted(request.request_id, msg_id))
        self._broadcast(RoomMessage(msg_id, session.name, request.text, time.time()))

    def _broadcast(self, event: Event) -> None:
        """Send ``event`` to every logged-in session, encoding it once."""
        frame = encode(event)
        for session in self.sessions:
            session.write_frame(frame)

    # --- The registry, asked by clients -------------------------------------------------

    def _who(self, session: ClientSession, request: WhoRequest) -> None:
        users = tuple(Presence(r.name, r.since) for r in self.registry.online())
        session.send(UserList(request.request_id, users))

    def _lookup(self, session: ClientSession, request: LookupRequest) -> None:
        record = self.registry.lookup(request.name)
        if record is None:
            session.send(LookupResult(request.request_id, request.name, "unknown"))
            return
        first = min(record.endpoints, key=lambda e: e.since)
        session.send(LookupResult(request.request_id, record.name, "online", first.address, first.port,
                                  record.since))

    # --- Leaving and errors -------------------------------------------------------------

    def _goodbye(self, session: ClientSession, goodbye: Goodbye) -> None:
        session.close("quit")

    def _rejected(self, session: ClientSession, rejected: FrameRejected) -> None:
        log.warning("bad frame from %r: %s: %s", session, rejected.code, rejected.message)
        if rejected.code == ErrorCode.TRUNCATED_FRAME:
            return  # the stream has ended: there is nobody left to tell
        session.send(ErrorReply(rejected.code, rejected.message, rejected.request_id))
        session.bad_frames += 1
        if session.bad_frames >= const.MAX_BAD_FRAMES:
            self._refuse(session, ErrorCode.TOO_MANY_ERRORS,
                         f"{session.bad_frames} malformed frames in a row; closing the connection")

    def _ignore(self, session: ClientSession, event: Event) -> None:
        pass

    # --- Shutdown -----------------------------------------------------------------------

    def shut_down(self, reason: str) -> None:
        """Say goodbye to every client and close every connection."""
        self.presence.flush()
        for session in list(self.sessions):
            if session.conn.state is not State.CLOSED:
                session.send(Goodbye(reason))
            session.close("server shutting down")
