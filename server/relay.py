"""The relay: what the server does with each event a client sends. No sockets here.

Sessions hand every event to :meth:`Relay.handle`; the relay answers through
``session.send(event)`` and ``session.close()``. It stamps the real sender on every
message (a client never says who it is after the hello), and it makes the acknowledgements
mean something: a message is on disk before the sender hears ``accepted`` or ``queued``.

A direct message, from the sender's side::

    send ──> [stored durably] ──> accepted   the recipient is online: forwarded now
                             └──> queued     the recipient is offline: waits for their login
         ... recipient's receipt ──> delivered (now, or at the sender's next login)
         ... not confirmed within const.QUEUE_TTL ──> error "expired"

A resend (same sender, same request id, for instance after a reconnect) is recognised by
the store and answered with the message's current state; it is never stored or shown twice.
If the recipient disconnects before confirming, the message waits for their next login
and the sender is told ``queued``.

Who is where lives in the registry; which messages each online session still has to
confirm lives in ``self.inflight`` and ``session.inflight``; everything else in the store.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol import (
    Accepted,
    Block,
    ConnectionClosed,
    Delivered,
    DirectMessage,
    Done,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    HistoryPage,
    HistoryRequest,
    LookupRequest,
    LookupResult,
    Ping,
    Pong,
    Presence,
    Queued,
    Receipt,
    Register,
    RoomMessage,
    RoomSkipped,
    SendDirect,
    SendRoom,
    State,
    Unblock,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    WhoRequest,
)
from protocol.codec import encode
from registry import InvalidName, NameTaken, Registry, canonical, validate_name

from . import mailbox
from .accounts import load_accounts
from .config import ServerConfig
from .limits import TokenBucket
from .login import LoginDesk, LoginResult
from .presence import PresenceNotices
from .session import ClientSession
from .store import Store

log = logging.getLogger("chat.server")

Schedule = Callable[[float, Callable[[], None]], object]
Offload = Callable[[Callable, tuple, Callable], None]

# Requests that cost the server work and so count against the rate limits.
_RATED = frozenset({SendDirect, SendRoom, WhoRequest, LookupRequest, HistoryRequest, Register, Block, Unblock})


@dataclass(slots=True)
class InFlight:
    """A direct message forwarded to the recipient's online sessions, awaiting a receipt."""

    sender_key: str
    client_id: str
    recipient_key: str


def _run_now(func: Callable, args: tuple, callback: Callable) -> None:
    callback(func(*args))


class Relay:
    """Routes events between the sessions of one server."""

    def __init__(self, config: ServerConfig | None = None, store: Store | None = None,
                 schedule: Schedule | None = None, offload: Offload | None = None) -> None:
        """``store`` must be started; ``schedule(delay, callback)`` is the loop's call_later
        and ``offload(func, args, callback)`` runs slow work (password hashing) off the loop."""
        self.config = config or ServerConfig()
        self.store = store
        self.registry = Registry()
        self.sessions: set[ClientSession] = set()
        self.presence = PresenceNotices(schedule or (lambda delay, callback: callback()), lambda: self.sessions)
        self.known: dict[str, str] = store.read(mailbox.known_users)  # everyone who ever logged in
        self.blocked: dict[str, set[str]] = {}  # owner key -> keys of the names they block
        for owner, blocked in store.read(mailbox.blocks):
            self.blocked.setdefault(owner, set()).add(blocked)
        self.logins = LoginDesk(self.config, store, store.read(load_accounts), offload or _run_now,
                                lambda name: name in self.registry)
        self.inflight: dict[int, InFlight] = {}
        # Message ids are chosen here, not by the database, so that inserts can be batched.
        self._last_msg_id: int = store.read(mailbox.last_msg_id)
        self._per_address: dict[str, tuple[int, TokenBucket]] = {}  # address -> (connections, bucket)
        self._handlers: dict[type[Event], Callable[[ClientSession, Any], None]] = {
            Hello: self._hello,
            SendDirect: self._send_direct,
            SendRoom: self._send_room,
            Receipt: self._receipt,
            WhoRequest: self._who,
            LookupRequest: self._lookup,
            HistoryRequest: self._history,
            Register: self._register,
            Block: self._block,
            Unblock: self._block,
            Goodbye: self._goodbye,
            FrameRejected: self._rejected,
            ConnectionClosed: self._ignore,
            Ping: self._ignore,  # the core already queued the pong
            Pong: self._ignore,  # liveness is noted by the session on any data
        }

    # --- Session lifecycle --------------------------------------------------------------

    def connected(self, session: ClientSession) -> None:
        """A connection was accepted; it must log in within the login timeout."""
        self.sessions.add(session)
        count, bucket = self._per_address.get(session.address, (0, None))
        if bucket is None:
            bucket = TokenBucket(self.config.rate_per_address, self.config.burst_per_address)
        self._per_address[session.address] = (count + 1, bucket)
        log.info("connect %s:%d", session.address, session.port)
        if len(self.sessions) > self.config.max_connections:
            self._refuse(session, ErrorCode.SERVER_FULL, "the server is full; try again later")
        elif count + 1 > self.config.max_connections_per_address:
            self._refuse(session, ErrorCode.TOO_MANY_CONNECTIONS,
                         f"at most {self.config.max_connections_per_address} connections per address")

    def disconnected(self, session: ClientSession, exc: Exception | None) -> None:
        """The connection is gone: unregister the user, tell the others, requeue deliveries."""
        if session not in self.sessions:
            return
        self.sessions.discard(session)
        # The address keeps its bucket when its last connection goes, or reconnecting
        # would refill it; expire() forgets buckets that have refilled anyway.
        count, bucket = self._per_address.get(session.address, (1, None))
        self._per_address[session.address] = (count - 1, bucket)
        reason = session.leave_reason
        if exc is not None and reason == "disconnected":
            reason = f"connection lost ({type(exc).__name__})"
        if session.name is None:
            log.info("disconnect %s:%d before logging in (%s)", session.address, session.port, reason)
            return
        log.info("logout %s from %s:%d (%s)", session.name, session.address, session.port, reason)
        gone = self.registry.unregister(session.name, session)
        self._requeue(session)
        if gone:
            self.presence.announce(UserLeft(session.name, reason, time.time()), len(self.sessions))

    def handle(self, session: ClientSession, event: Event) -> None:
        """Act on one event from ``session``."""
        kind = type(event)
        if kind in _RATED and self._rate_limited(session, event):
            return
        self._handlers[kind](session, event)
        if kind is not FrameRejected:
            session.bad_frames = 0

    def _rate_limited(self, session: ClientSession, event: Any) -> bool:
        now = time.monotonic()
        if session.bucket is None:
            session.bucket = TokenBucket(self.config.rate_per_connection, self.config.burst_per_connection)
        wait = session.bucket.take(now)
        if not wait:
            wait = self._per_address[session.address][1].take(now)
        if not wait and type(event) in (SendDirect, SendRoom):
            # Bytes too: at the request rate alone, one sender could fill a slow reader's link.
            if session.byte_bucket is None:
                session.byte_bucket = TokenBucket(self.config.bytes_per_connection,
                                                  self.config.bytes_burst_per_connection)
            wait = session.byte_bucket.take(now, len(event.text.encode("utf-8")))
        if not wait:
            return False
        log.info("rate limited %r: retry after %.2f s", session, wait)
        session.send(ErrorReply(ErrorCode.RATE_LIMITED, f"too many requests; try again in {wait:.2f} s",
                                event.request_id, math.ceil(wait * 1000) / 1000))  # rounded up: never too early
        return True

    # --- Logging in ---------------------------------------------------------------------

    def _hello(self, session: ClientSession, hello: Hello) -> None:
        if session.logging_in:
            session.send(ErrorReply(ErrorCode.ALREADY_LOGGED_IN, "a login is already in progress", hello.request_id))
            return
        session.logging_in = True
        self.logins.login(hello, session.address, lambda result: self._login_decided(session, hello, result))

    def _login_decided(self, session: ClientSession, hello: Hello, result: LoginResult) -> None:
        session.logging_in = False
        if session.closing:
            return
        if result.error is not None:
            log.info("login refused for %r from %s:%d: %s", hello.name, session.address, session.port,
                     result.error.message)
            if result.error.code == ErrorCode.UNSUPPORTED_VERSION:
                self._refuse(session, result.error.code, result.error.message, hello.request_id)
            else:  # the session stays in the handshake: the client may try again
                session.send(result.error)
            return
        try:
            record = self.registry.register(result.name, session.address, session.port, time.time(), session,
                                            shared=result.registered)
        except (InvalidName, NameTaken) as exc:
            code = ErrorCode.NAME_TAKEN if isinstance(exc, NameTaken) else ErrorCode.INVALID_NAME
            log.info("login refused for %r from %s:%d: %s", hello.name, session.address, session.port, exc)
            session.send(ErrorReply(code, str(exc), hello.request_id))
            return
        session.name, session.key, session.registered = result.name, canonical(result.name), result.registered
        session.send(Welcome(hello.request_id, result.name, hello.version, self.config.server_name,
                             self.config.heartbeat_interval, result.registered))
        log.info("login %s from %s:%d%s", result.name, session.address, session.port,
                 " (account)" if result.registered else "")
        if len(record.endpoints) == 1:
            self.presence.announce(UserJoined(result.name, time.time()), len(self.sessions))
        key = session.key
        self.known[key] = result.name
        self.store.submit(lambda db: mailbox.remember_user(db, key, result.name, time.time()))
        # Submitted now, so these run before any message stored after this login: what
        # waited comes first, in order, then what is new.
        self._refill(session)
        self.store.submit(lambda db: mailbox.outcomes_for_sender(db, key),
                          lambda outcomes: self._tell_outcomes(key, outcomes))

    def _refuse(self, session: ClientSession, code: str, message: str, request_id: str | None = None) -> None:
        log.info("refused %s:%d: %s", session.address, session.port, message)
        session.send(ErrorReply(code, message, request_id))
        session.close(code)

    def _register(self, session: ClientSession, request: Register) -> None:
        if session.registered:
            session.send(ErrorReply(ErrorCode.ACCOUNT_EXISTS, f"{session.name!r} is already registered",
                                    request.request_id))
            return

        def claimed(error: ErrorReply | None) -> None:
            if error is not None:
                session.send(ErrorReply(error.code, error.message, request.request_id))
                return
            session.registered = True
            record = self.registry.lookup(session.name)
            # Only while the claimant is still online under the name: if it left during the
            # hashing and a guest took the name meanwhile, that guest proved no password.
            if record is not None and any(e.session is session for e in record.endpoints):
                record.shared = True
            session.send(Done(request.request_id))

        self.logins.claim(session.name, request.password, claimed, by_holder=True)

    # --- Direct messages ----------------------------------------------------------------

    def _send_direct(self, session: ClientSession, request: SendDirect) -> None:
        to_key = canonical(request.to)
        record = self.registry.lookup(request.to)
        recipient = record.name if record else self.known.get(to_key)
        if recipient is None:
            session.send(ErrorReply(ErrorCode.UNKNOWN_RECIPIENT, f"nobody called {request.to} has ever logged in here",
                                    request.request_id))
            return
        state = "blocked" if session.key in self.blocked.get(to_key, ()) else "sent" if record else "queued"
        now = time.time()
        self._last_msg_id += 1
        message = mailbox.StoredMessage(self._last_msg_id, session.name, session.key, recipient, to_key,
                                        request.text, now, request.request_id, state, now + self.config.queue_ttl)
        self.store.submit_many(mailbox.store_messages, message, lambda result: self._direct_stored(session, result))

    def _direct_stored(self, session: ClientSession, result: tuple[mailbox.StoredMessage, bool]) -> None:
        message, new = result
        request_id, msg_id = message.client_id, message.msg_id
        if message.state == "delivered":  # a resend of something already delivered
            session.send(Accepted(request_id, msg_id))
            session.send(Delivered(request_id, msg_id))
            return
        if message.state == "expired":
            session.send(ErrorReply(ErrorCode.EXPIRED, f"message {msg_id} expired before it was delivered",
                                    request_id))
            return
        recipients = self.registry.sessions(message.recipient_key)
        if message.state == "blocked":
            # The sender is not told: answer exactly as for anyone else (accepted while the
            # recipient is online, queued while not), and never deliver.
            session.send(Accepted(request_id, msg_id) if recipients else Queued(request_id, msg_id))
            return
        session.send(Accepted(request_id, msg_id) if recipients else Queued(request_id, msg_id))
        if recipients and msg_id not in self.inflight:
            self._forward(message, recipients)

    def _forward(self, message: mailbox.StoredMessage, recipients: list[ClientSession]) -> None:
        """Send ``message`` to every online session of its recipient that can take it now.

        A session whose in-flight set is full, or whose backlog is being fetched, does not
        get it now: it stays in the store, and the fetch under way (or the next one) sends
        it in its place in the order. Sending it directly while older messages are still
        being fetched would put it before them. Nor does a session that is lagging (its
        outgoing queue is over the soft mark): it is fetched for it once it has drained.
        """
        event = None
        limit = self.config.max_pending_receipts
        for recipient in recipients:
            if recipient.lagging:
                recipient.backlog = recipient.held = True
                continue
            inflight = recipient.inflight
            if recipient.backlog_loading or (inflight is not None and len(inflight) >= limit):
                recipient.backlog = True
                continue
            if inflight is None:
                inflight = recipient.inflight = set()
            if event is None:
                event = DirectMessage(message.msg_id, message.sender, message.recipient, message.text, message.sent_at)
                self.inflight[message.msg_id] = InFlight(message.sender_key, message.client_id, message.recipient_key)
            inflight.add(message.msg_id)
            recipient.send(event)

    def _refill(self, session: ClientSession) -> None:
        """Fetch the messages waiting in the store for ``session``'s user and send them,
        oldest first, as many as its in-flight set has room for."""
        if session.backlog_loading:
            session.backlog = True
            return
        if session.lagging:  # drained() calls again once it has room
            session.backlog = session.held = True
            return
        session.backlog, session.backlog_loading = False, True
        key, after = session.key, session.backlog_cursor
        limit = self.config.max_pending_receipts

        def fetched(messages: list[mailbox.StoredMessage]) -> None:
            session.backlog_loading = False
            if session.closing:
                return
            for message in messages:
                if session.inflight is not None and len(session.inflight) >= limit:
                    session.backlog = True  # the rest waits for receipts; the cursor stays here
                    break
                if session.lagging:
                    session.backlog = session.held = True  # the rest waits until it drains
                    break
                session.backlog_cursor = message.msg_id
                if session.inflight and message.msg_id in session.inflight:
                    continue  # already sent to this session
                self._forward(message, [session])
            if len(messages) == limit:
                session.backlog = True

        self.store.submit(lambda db: mailbox.pending_for(db, key, after, limit), fetched)

    def _receipt(self, session: ClientSession, receipt: Receipt) -> None:
        msg_id = receipt.msg_id
        flight = self.inflight.get(msg_id)
        if flight is None or flight.recipient_key != session.key:
            self._late_receipt(session, msg_id)
            return
        del self.inflight[msg_id]
        for recipient in self.registry.sessions(flight.recipient_key):
            if recipient.inflight:
                recipient.inflight.discard(msg_id)
        senders = self.registry.sessions(flight.sender_key)
        for sender in senders:
            sender.send(Delivered(flight.client_id, msg_id))
        self.store.submit_many(mailbox.record_deliveries, (msg_id, session.key, bool(senders)))
        if session.backlog and len(session.inflight or ()) < self.config.max_pending_receipts // 2:
            self._refill(session)

    def drained(self, session: ClientSession) -> None:
        """``session``'s outgoing queue fell back under the soft mark: tell it how many room
        messages it missed, and send the direct messages that were held back for it."""
        if not session.is_open:
            return
        if session.skipped:
            log.info("%r skipped %d room messages (slow connection)", session, session.skipped)
            session.send(RoomSkipped(session.skipped))
            session.skipped = 0
        if session.held:
            session.held = False
            if session.backlog:
                self._refill(session)

    def _late_receipt(self, session: ClientSession, msg_id: int) -> None:
        """A receipt for a message not in flight here: resent, or from before a restart."""
        key = session.key

        def check(db: Any) -> tuple[mailbox.StoredMessage | None, str | None]:
            return mailbox.mark_delivered(db, msg_id, key, False), mailbox.recipient_of(db, msg_id)

        def checked(result: tuple[mailbox.StoredMessage | None, str | None]) -> None:
            delivered, recipient = result
            if delivered is not None:
                self._tell_outcomes(delivered.sender_key, [delivered])
            elif recipient != key:
                session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {msg_id} was not sent to you"))
            # else: a receipt sent twice; the first one counted.

        self.store.submit(check, checked)

    def _tell_outcomes(self, sender_key: str, outcomes: list[mailbox.StoredMessage]) -> None:
        """Tell a sender, if online, how messages they sent ended; record that they know."""
        senders = self.registry.sessions(sender_key)
        if not senders or not outcomes:
            return
        for message in outcomes:
            event: Event
            if message.state == "delivered":
                event = Delivered(message.client_id, message.msg_id)
            else:
                event = ErrorReply(ErrorCode.EXPIRED, f"your message {message.msg_id} to {message.recipient} "
                                   "expired before it was delivered", message.client_id)
            for sender in senders:
                sender.send(event)
        ids = [m.msg_id for m in outcomes]
        self.store.submit(lambda db: mailbox.mark_notified(db, ids))

    def _requeue(self, session: ClientSession) -> None:
        """``session`` left with messages unconfirmed: they wait in the store for the next
        login (another online session of the same account still has them in flight)."""
        if not session.inflight:
            return
        still_online = self.registry.sessions(session.key)
        for msg_id in session.inflight:
            if any(other.inflight and msg_id in other.inflight for other in still_online):
                continue
            flight = self.inflight.pop(msg_id, None)
            if flight is not None:
                for sender in self.registry.sessions(flight.sender_key):
                    sender.send(Queued(flight.client_id, msg_id))
        session.inflight = None

    def expire(self, now: float) -> None:
        """Expire unconfirmed messages past their time and purge old history (periodic)."""
        def expired(messages: list[mailbox.StoredMessage]) -> None:
            by_sender: dict[str, list[mailbox.StoredMessage]] = {}
            for message in messages:
                flight = self.inflight.pop(message.msg_id, None)
                if flight is not None:
                    for recipient in self.registry.sessions(flight.recipient_key):
                        if recipient.inflight:
                            recipient.inflight.discard(message.msg_id)
                by_sender.setdefault(message.sender_key, []).append(message)
            for sender_key, outcomes in by_sender.items():
                self._tell_outcomes(sender_key, outcomes)

        retention = self.config.history_retention
        self.store.submit(lambda db: mailbox.expire(db, now), expired)
        self.store.submit(lambda db: mailbox.purge(db, now - retention))
        clock = time.monotonic()
        self.logins.throttle.prune(clock)
        self._per_address = {address: (count, bucket) for address, (count, bucket) in self._per_address.items()
                             if count > 0 or (bucket is not None
                                              and bucket.updated + bucket.burst / bucket.rate > clock)}

    # --- The room -----------------------------------------------------------------------

    def _send_room(self, session: ClientSession, request: SendRoom) -> None:
        self._last_msg_id += 1
        message = mailbox.StoredMessage(self._last_msg_id, session.name, session.key, None, None, request.text,
                                        time.time(), request.request_id, "room")
        self.store.submit_many(mailbox.store_messages, message, lambda result: self._room_stored(session, result))

    def _room_stored(self, session: ClientSession, result: tuple[mailbox.StoredMessage, bool]) -> None:
        message, new = result
        session.send(Accepted(message.client_id, message.msg_id))
        if not new:
            return  # a resend: everyone already has it
        frame = encode(RoomMessage(message.msg_id, message.sender, message.text, message.sent_at))
        for recipient in self.sessions:
            blocked = self.blocked.get(recipient.key) if recipient.key else None
            if not blocked or message.sender_key not in blocked:
                if recipient.lagging:
                    # Room traffic is what a slow reader loses, before its connection:
                    # counted here, told by drained().
                    if recipient.is_open:
                        recipient.skipped += 1
                    continue
                recipient.write_frame(frame)

    # --- The registry, asked by clients -------------------------------------------------

    def _who(self, session: ClientSession, request: WhoRequest) -> None:
        users = tuple(Presence(r.name, r.since) for r in self.registry.online())
        session.send(UserList(request.request_id, users))

    def _lookup(self, session: ClientSession, request: LookupRequest) -> None:
        record = self.registry.lookup(request.name)
        if record is None:
            known = self.known.get(canonical(request.name))
            session.send(LookupResult(request.request_id, known or request.name, "offline" if known else "unknown"))
            return
        first = min(record.endpoints, key=lambda e: e.since)
        session.send(LookupResult(request.request_id, record.name, "online", first.address, first.port,
                                  record.since))

    def _history(self, session: ClientSession, request: HistoryRequest) -> None:
        me, peer = session.key, canonical(request.peer)
        name = self.known.get(peer, request.peer)

        def page(result: tuple[list, int | None]) -> None:
            entries, before = result
            session.send(HistoryPage(request.request_id, name, tuple(entries), before))

        self.store.submit(lambda db: mailbox.history(db, me, peer, request.before, request.limit), page)

    def _block(self, session: ClientSession, request: Block | Unblock) -> None:
        try:
            validate_name(request.name)
        except InvalidName as exc:
            session.send(ErrorReply(ErrorCode.INVALID_NAME, str(exc), request.request_id))
            return
        owner, target, blocking = session.key, canonical(request.name), type(request) is Block
        if target == owner:
            session.send(ErrorReply(ErrorCode.BAD_FIELD, "you cannot block yourself", request.request_id))
            return
        if blocking:
            self.blocked.setdefault(owner, set()).add(target)
        elif owner in self.blocked:
            self.blocked[owner].discard(target)
        self.store.submit(lambda db: mailbox.set_block(db, owner, target, blocking),
                          lambda _: session.send(Done(request.request_id)))

    # --- Leaving and errors -------------------------------------------------------------

    def _goodbye(self, session: ClientSession, goodbye: Goodbye) -> None:
        session.close("quit")

    def _rejected(self, session: ClientSession, rejected: FrameRejected) -> None:
        log.warning("bad frame from %r: %s: %s", session, rejected.code, rejected.message)
        if rejected.code == ErrorCode.TRUNCATED_FRAME:
            return  # the stream has ended: there is nobody left to tell
        session.send(ErrorReply(rejected.code, rejected.message, rejected.request_id))
        session.bad_frames += 1
        if session.bad_frames >= self.config.max_bad_frames:
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
