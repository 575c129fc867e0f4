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

A resend (same sender, same request id, same recipient and text, for instance after a
reconnect) is recognised by the store and answered with the message's current state; it is
never stored or shown twice. Another request under a used id is refused (``id_reused``).
If the recipient disconnects before confirming, the message waits for their next login
and the sender is told ``queued``.

When the store fails (a full or failing disk), every request that needed it is answered
``unavailable`` with ``retry_after``: nothing is acknowledged that is not on disk, and
nothing is left unanswered. When the store cannot tell whether it did the work (Redis
took it and did not answer in time: ``StoreUnavailable.maybe_done``) the answer says so
(``uncertain``; server/login.py ``unavailable_error``), never "nothing was done". Receipts that could not be recorded are recorded again, and
waiting messages fetched again, as soon as the store works again.

An outcome (``delivered``, ``expired``) is a promise to the sender, so it is not "told" when
written to a connection that may be dying: it goes to every online session of the sender,
and again to each session at its login, until the sender's client acknowledges it
(``ack``). At login the unacknowledged outcomes go a page at a time (``OutcomePages``), the
next page once half of one is acknowledged, so a client that never acknowledges gets at
most a page per login.

Who is where lives in the registry; which messages each online session still has to
confirm lives in ``self.inflight`` and ``session.inflight``; everything else in the store.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from functools import partial
from types import MethodType
from typing import Any

import const
from protocol import (
    CARBONS,
    FEATURES,
    Accepted,
    Block,
    BLOCKS_FEATURE,
    Carbon,
    ConnectionClosed,
    Delete,
    Delivered,
    DirectMessage,
    Edit,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    Goodbye,
    Hello,
    HistoryRequest,
    LookupRequest,
    OutcomeAck,
    Ping,
    Pong,
    Queued,
    Read,
    Receipt,
    Register,
    Revoke,
    ChangePassword,
    Unregister,
    RoomMessage,
    Settings,
    RoomSkipped,
    SendDirect,
    SendRoom,
    Typing,
    Unblock,
    BlockList,
    Unwatch,
    UserJoined,
    UserLeft,
    Watch,
    Welcome,
    WhoRequest,
)
from protocol import (  # rooms and moderation: protocol version 2
    Appoint, Ban, Invite, JoinRoom, Kick, LeaveRoom, MembersRequest, Mute, RoomsRequest, SendToRoom, SetTopic,
    SetRoomMode,
    Unban, Unmute,
)
from protocol import BATCH_ACKS, OutcomeAcks, Receipts  # feature batch_acks (issue 9)
from protocol import RoomTyping  # typing in rooms (issue 13)
from protocol import RoomRead  # read marks in rooms (issue 13)
from protocol import EDITS  # its welcome says the edit window
from protocol import SINCE_FEATURE, SinceRequest  # feature since: catching up after a reconnection
from protocol import CATCH_UP, CatchUp  # feature catch_up: a cluster node back from a break
from protocol.codec import encode
from protocol.frozen import fast_new
from registry import OFFLINE, InvalidName, NameTaken, Registry, canonical, lookalike_key
from shared.plural import counted

from . import mailbox, sendorder
from .accountdesk import AccountDesk
from .afterdelivered import AfterDelivered
from .blockdesk import BlockDesk
from .historydesk import HistoryDesk
from .config import ServerConfig
from .guests import NO_HOLDING, Claim, Holding, earlier_holding
from .intake import Intake
from .limits import SharedBudget, TokenBucket, retry_seconds, wait_words
from .login import LoginDesk, LoginResult, Offload, held_error, lookalike_error, unavailable_error
from .addresses import address_group, bracketed, endpoint
from .admission import Admission
from .awaiting import Awaiting
from .logsummary import LogBudget, LogSummary
from .metrics import Metrics
from .peers import FORGOTTEN, REGISTERED, UNANSWERED, Confusable, LocalPeers
from .presence import PresenceNotices, Watchlists
from .registrydesk import RegistryDesk
from .roomdesk import ROOM_REQUESTS, RoomDesk
from .rooms import Refused, room_key
from .session import SLOW_CONSUMER, ClientSession, slim_reader
from .stores.base import ErrorCallback, GuestHeld, MessageStore, StoreUnavailable

# The store-and-node rounds a cluster's closing session waits for (_cluster_answered): a
# send to a name this node has not heard of takes the node (the lookup), the store, then
# the node again (the route); each round is the store's read, then the node's.
ANSWER_STEPS = 2

log = logging.getLogger("chat.server")

Schedule = Callable[[float, Callable[[], None]], object]

# Direct messages answered "unavailable, uncertain" remembered for their resend
# (Relay._was_unsure), the oldest forgotten first.
_UNSURE_KEPT = 10_000
# Guest holdings the store failed to save, kept to save again (Relay._holding_unsaved), the
# oldest forgotten first: at most one a guest name, and few, as logins fail while it fails.
_UNSAVED_HOLDINGS_KEPT = 10_000

# Requests that cost the server work and so count against the rate limits.
_RATED = frozenset({SendDirect, SendRoom, WhoRequest, LookupRequest, HistoryRequest, Register, Block, Unblock,
                    BlockList, Watch, Unwatch, Revoke, ChangePassword, Unregister, Read, Typing, Edit, Delete, Settings})
_RATED |= frozenset(ROOM_REQUESTS)  # rooms (protocol version 2): server/roomdesk.py
_RATED |= {RoomTyping}  # typing in rooms (issue 13): server/afterdelivered.py
_RATED |= {RoomRead}  # read marks in rooms (issue 13): server/roomreads.py
_RATED |= {SinceRequest}  # feature since: a page walks up to const.SINCE_SCAN stored ids

# The messages of a conversation, which keep their sender's order (server/sendorder.py).
_ORDERED = frozenset({SendDirect, SendRoom, SendToRoom})

# The ends of a session: nothing of the user goes to others (presence.acts is not asked).
_ENDS = frozenset({Goodbye, ConnectionClosed})

# Requests whose text also counts against the connection's byte budget (_rate_limited): a
# tuple made once, not at every request.
_BYTE_RATED = (SendDirect, SendRoom, SendToRoom, Edit)

# The events each direct message makes, built as Accepted(...) and so on would build them,
# at a part of the cost (protocol/frozen.py's fast_new; issue 9, round fourteen).
_new_accepted, _new_direct_message, _new_delivered = fast_new(Accepted), fast_new(DirectMessage), fast_new(Delivered)

# Relay._send_direct's ``named`` when the recipient's name is to be looked up (None is an
# answer of the cluster's: nobody has it).
_ASK = object()


def _too_many(request_id: str | None, wait: float, kind: str = "") -> ErrorReply:
    """The answer to a request over a rate limit: ``wait`` said in words and in
    ``retry_after`` alike (server/limits.py: never too early, never less than a tenth of a
    second). A frame without id (``kind``: a ``read`` or ``typing``, the only rated ones)
    is named in the words, since no id can tell its sender which frame was not done."""
    what = f"too many requests ('{kind}' not done)" if request_id is None and kind else "too many requests"
    return ErrorReply(ErrorCode.RATE_LIMITED, f"{what}; try again in {wait_words(wait)}", request_id,
                      retry_seconds(wait))


@dataclass(slots=True)
class RoutedFlight:
    """A direct message this node sent to other nodes (a cluster), its outcome not back yet."""

    nodes: set[str]  # the nodes it was routed to that are still alive
    client_id: str


@dataclass(slots=True)
class OutcomePages:
    """The outcomes told to one session from the store since its login, a page at a time."""

    unacknowledged: set[int]  # msg_ids told from the store and not acknowledged yet
    cursor: int = 0  # the last msg_id fetched
    more: bool = False  # the store may hold more after the cursor
    loading: bool = False  # a fetch is under way


def _run_now(func: Callable, args: tuple, callback: Callable, on_error: Callable[[Exception], None]) -> None:
    try:
        result = func(*args)
    except Exception as exc:
        on_error(exc)
        return
    callback(result)


# How an encoded ``queued`` frame begins (the codec writes "type" first): a routed "tell"
# that is not an outcome yet (relay.tell_routed).
_QUEUED_HEAD = encode(Queued("", 0))[:len(b'{"type":"queued"')]


def _ignore_error(_error: object) -> None:
    """A store call whose failure needs no answer: the next resync asks again (_awaited)."""


def _outcome(message: mailbox.StoredMessage) -> Event:
    """What a sender is told of a message in a final state (delivered or expired)."""
    if message.state == "delivered":
        return Delivered(message.client_id, message.msg_id, message.recipient)  # (whom: its run may be over)
    # waited: its lifetime on this server (its operator's QUEUE_TTL when it was stored), for
    # the clients to say rather than their own const.QUEUE_TTL.
    waited = None if message.expires_at is None else message.expires_at - message.sent_at
    return ErrorReply(ErrorCode.EXPIRED, f"your message {message.msg_id} to {message.recipient} expired before "
                      "it was delivered", message.client_id, msg_id=message.msg_id, waited=waited)



def _still_kept(buckets: dict[str, TokenBucket], connected: Collection[str], clock: float) -> dict[str, TokenBucket]:
    """The per-address buckets of ``buckets`` still worth keeping at ``clock``: those of
    addresses (groups) still known (in ``connected``), and those not refilled yet
    (forgotten, one would be full again at the address's next use)."""
    return {address: bucket for address, bucket in buckets.items()
            if address in connected or bucket.updated + bucket.burst / bucket.rate > clock}


class Relay:
    """Routes events between the sessions of one server."""

    def __init__(self, config: ServerConfig | None = None, store: MessageStore | None = None,
                 schedule: Schedule | None = None, offload: Offload | None = None, peers: Any = None) -> None:
        """``store`` must be started; ``schedule(delay, callback)`` is the loop's call_later
        and ``offload(func, args, callback, on_error)`` runs slow work (password hashing) off the
        loop (login.Offload);
        ``peers`` are the other nodes of a cluster (server/peers.py; default: none)."""
        self.config = config or ServerConfig()
        self.store = store
        self.registry = Registry()  # this server's sessions
        # Its records by key, read where a direct message asks for a user's sessions:
        # ``_online.get(key, OFFLINE).sessions``, registry.sessions_by_key without its
        # Python call, three times a message (issue 9).
        self._online = self.registry.records
        self.peers = peers if peers is not None else LocalPeers()
        # Who is online wherever (who, whois, watch, recipients): the registry, or in a
        # cluster the node's directory of every node's users.
        self.directory: Registry = self.peers.directory_for(self.registry)
        # Every connection, logged in or not: a dict used as an ordered set (iterate, len,
        # in). At 10,000 a set's table is 32,768 slots of 16 bytes (it grows at 60% full),
        # 52 bytes per connection; a dict's is about 29 (issue 9's idle bytes).
        self.sessions: dict[ClientSession, None] = {}
        # Sessions pinged because their guest logged in again with its token while they
        # held its name (see _holder_refused), and when: the sweep (app.py) ends each one
        # from which nothing came within config.release_probe. Empty but for such logins.
        self.probes: dict[ClientSession, float] = {}
        # Presence subscriptions (watch/unwatch), and the notices routed by them.
        self.watchlists = Watchlists(self.config.max_watched)
        # Without a schedule (tests), a batch of notices waits for a flush (presence.py).
        self.presence = PresenceNotices(schedule or (lambda delay, callback: None), lambda: self.sessions,
                                        self.watchlists.watchers, self.config.presence_room_limit,
                                        flap_changes=self.config.presence_flap_changes,
                                        flap_window=self.config.presence_flap_window,
                                        settle=self.config.presence_settle)
        # Everyone who logged in, but guests forgotten after their hold (forget_guests).
        self.known: dict[str, str] = store.known_users()
        self._schedule = schedule
        # Sessions that others' frames wait for until their queue is under the others'
        # mark (recheck_later), looked at again together every const.OTHERS_RECHECK seconds.
        self._crowded: dict[ClientSession, None] = {}
        self._forgetting = False  # a pass of forget_guests waits for the store
        # Who blocks whom (server/blockdesk.py): its table, and the sessions that asked for
        # the feature blocks, read here on the message path and at login without a call.
        self.block_desk = BlockDesk(self)
        self.blocked, self.block_sessions = self.block_desk.blocked, self.block_desk.sessions
        # The table a new direct message is decided blocked by: that one, or none where the
        # store decides, in the step that stores it (Redis: the block lists' truth, which
        # this table follows a stream read late in a cluster; docs/cluster.md, "Blocks").
        self._blocks_to_store = {} if getattr(self.store, "decides_blocks", False) else self.blocked
        # Past messages (server/historydesk.py), and the sessions that asked for the
        # feature since, added at login without a call.
        self.history_desk = HistoryDesk(self)
        self.since_sessions = self.history_desk.since_sessions
        # The sessions that asked for the feature catch_up: told CatchUp at a resync.
        self.catch_up: set[ClientSession] = set()
        # Log lines a client can cause at will (bad frames, refusals): one in full, then a
        # count per address and interval (see logsummary.py).
        self.log_lines = LogSummary(log, self.config.log_summary_interval)
        # One line per login and per logout, each in full up to a budget; a storm is counted.
        self.login_lines = LogBudget(log, "login{s}", const.LOGIN_LOG_LINES_PER_SECOND, const.LOGIN_LOG_BURST)
        self.logout_lines = LogBudget(log, "logout{s}", const.LOGIN_LOG_LINES_PER_SECOND, const.LOGIN_LOG_BURST)
        self.logins = LoginDesk(self.config, store, store.accounts(), offload or _run_now,
                                lambda name: name in self.directory, self.log_lines,
                                online_lookalikes=lambda name: self.directory.lookalikes(name))
        self.logins.shared_failures = getattr(self.peers, "login_failures", None)
        # In a cluster every password check reads its account afresh (another node may have
        # just changed its password: PROTOCOL.md, "password").
        self.logins.reread = getattr(store, "account", None) if self.peers.routes else None
        self.logins.reread_holding = getattr(store, "holding", None) if self.peers.routes else None
        # A store that keeps a newer guest holding another node wrote (Redis: its writes of
        # a holding answer False then) is heard; another always answers True: no callback,
        # no Python call on a guest's login (tests/integration/test_login_cost.py).
        self._holding_heard = getattr(store, "keeps_newer_holdings", False)
        # The direct messages forwarded to their recipient's sessions and awaiting a receipt,
        # each kept as it was stored: its sender, request id and recipient are what the
        # receipt needs. The message itself, not a record copied from it for each message
        # (issue 9, round eighteen: about 1,300 instructions a message with the receipt's
        # on_error below).
        self.inflight: dict[int, mailbox.StoredMessage] = {}
        # (sender key, request id) of the direct messages answered "unavailable" with
        # "uncertain": the one resend that finds one stored forwards it (_was_unsure).
        self._unsure_sends: dict[tuple[str, str], bool] = {}
        # The msg_ids confirmed (or settled) by each session whose fetch of waiting messages
        # is under way: that fetch may have read the store before their receipts' records,
        # so its answer may still hold them, no longer in flight (_refill skips them). Only
        # while a fetch is under way: nothing is kept for the others.
        self._settled_while_fetching: dict[ClientSession, set[int]] = {}
        # Sessions whose hello asked for carbons (copies of the direct messages their
        # user sends from its other sessions). A set here rather than a slot on every
        # session: few sessions share an account, and idle sessions stay small.
        self.carbons: set[ClientSession] = set()
        # Sessions whose hello asked for batch_acks (receipts and acks with msg_ids).
        self.batch_acks: set[ClientSession] = set()
        self.metrics = Metrics()  # counters for /metrics: an int add on paths that run anyway
        # History requests the store is answering, per session, and the large request (a
        # history or a list page) waiting to begin: a client's burst of them is read as the
        # answers go out (server/intake.py).
        self.intake = Intake(const.MAX_HISTORY_IN_FLIGHT)
        # In a cluster: sender key -> msg_id -> the message routed from here to other nodes.
        self.routed: dict[str, dict[int, RoutedFlight]] = {}
        # In a cluster: the messages sent from here whose outcome this node has not seen,
        # asked of the store after a break (server/awaiting.py).
        self.awaiting = Awaiting()
        self.outcome_pages: dict[ClientSession, OutcomePages] = {}
        # Receipts the store failed to record, (msg_id, recipient key): recorded again when
        # it works again. Few: while it fails no new message is stored to confirm.
        self._unrecorded: list[tuple[int, str]] = []
        # Guest holdings (name key: the holding) the store failed to save after a welcome
        # gave their tokens: saved again when it works again (_store_recovered).
        self._unsaved_holdings: dict[str, Holding] = {}
        # Sessions whose login (or resync) could not fetch their outcomes or the changes of
        # messages to them: told them again once the store works (_store_recovered).
        self._untold: set[ClientSession] = set()
        # The bound methods to which the store's callbacks for one request bind its values
        # (unavailable, _acknowledge, _confirm): made once here, not for every request (see
        # unavailable; issue 9, round fifteen).
        self._bound_unavailable = self._unavailable_answered
        self._bound_ack_recorded = self._ack_recorded
        self._bound_receipt_unrecorded = self._receipt_unrecorded
        store.on_recovered = self._store_recovered
        # Per-address limits count an address's group (server/addresses.py: a global IPv6
        # address's /64, one for all its addresses): each address (a session's, what a
        # request finds its bucket by) -> (its chat sessions, its group's bucket, its
        # group, itself as the log writes it before a port: the last two worked out once
        # per address, not per login), and each group -> that bucket.
        self._per_address: dict[str, tuple[int, TokenBucket | None, str | None, str]] = {}
        self._per_group: dict[str, TokenBucket] = {}
        # The budgets of receipts for messages not in flight (_late_receipt), made at the
        # first one: per session, and per address group (kept as _per_group's buckets are).
        self._late_budgets: dict[ClientSession, TokenBucket] = {}
        self._late_per_address: dict[str, TokenBucket] = {}
        # ... and per session what it may still send while its address's is spent (made at
        # its first refusal by the address's: _late_floor).
        self._late_floors: dict[ClientSession, TokenBucket] = {}
        # While a batched receipt is handled: how many of its ids were over that budget,
        # answered once at its end (_receipts); None between frames.
        self._late_refused: int | None = None
        # The budgets of acks of outcomes (_acks_over_budget), per session and per address
        # group (kept as the late receipts' are), made at the session's first ack.
        self._ack_budgets: dict[ClientSession, SharedBudget] = {}
        # Per session, what it may request while its address's bucket is spent (_floor), and
        # the hellos it may send after the login desk refused one (_hello_refused).
        self._hellos_again: dict[ClientSession, TokenBucket] = {}
        self._floors: dict[ClientSession, TokenBucket] = {}
        self._acks_per_address: dict[str, TokenBucket] = {}
        # Every connection accepted, on every listener, counted from accept() against the
        # capacity and the per-address limit (server/admission.py, server/listener.py).
        self.admission = Admission(self.config.max_connections, self.config.max_connections_per_address)
        self._handlers: dict[type[Event], Callable[[ClientSession, Any], None]] = {
            Hello: self._hello,
            SendDirect: self._send_direct,
            SendRoom: self._send_room,
            Receipt: self._receipt,
            OutcomeAck: self._ack,
            Receipts: self._receipts,
            OutcomeAcks: self._acks,
            Goodbye: self._goodbye,
            FrameRejected: self._rejected,
            ConnectionClosed: self._stream_ended,
            Ping: self._pong,
            Pong: self._ignore,  # liveness is noted by the session on any data
        }
        # Rooms and moderation (protocol version 2): one entry per frame type, all answered
        # by the room desk around the rules of server/rooms.py.
        self.room_desk = desk = RoomDesk(self, schedule)
        # A user's online/offline in their rooms follows their presence as it is told (a
        # churning user's is damped alike: server/presence.py).
        self.presence.told = desk.room_presence
        self._handlers.update({
            JoinRoom: desk.join,
            LeaveRoom: desk.leave,
            RoomsRequest: desk.list_rooms,
            MembersRequest: desk.members,
            SendToRoom: desk.post,
            SetTopic: desk.set_topic,
            SetRoomMode: desk.set_mode,
            Invite: desk.moderate,
            Kick: desk.moderate,
            Ban: desk.moderate,
            Unban: desk.moderate,
            Mute: desk.moderate,
            Unmute: desk.moderate,
            Appoint: desk.moderate,
        })
        # Read, typing, edit and delete of direct messages (issue 13): their own module.
        self.after = AfterDelivered(self)
        self._handlers.update(self.after.handlers())
        # Accounts: a session's register, revoke, password and unregister, the console's
        # commands on accounts, and what a deleted or changed account ends.
        self.account_desk = AccountDesk(self)
        self._handlers.update(self.account_desk.handlers())
        self._handlers.update(self.block_desk.handlers())
        # The registry's questions (who, lookup, watch, unwatch) and past messages
        # (history, since): answered from the directory and the store, nothing changed.
        self.registry_desk = RegistryDesk(self)
        self._handlers.update(self.registry_desk.handlers())
        self._handlers.update(self.history_desk.handlers())

    # --- Session lifecycle --------------------------------------------------------------

    def connected(self, session: ClientSession) -> None:
        """A chat connection is open (on TCP at accept or after its TLS handshake, on the
        web port at the WebSocket upgrade); it must log in within the login timeout. Its
        place was counted when it was accepted (``admission``, see server/admission.py), and
        until it logs in a newcomer from its full address may take it."""
        self.sessions[session] = None
        self.metrics.connections += 1
        count, bucket, group, shown = self._per_address.get(session.address, (0, None, None, ""))
        if group is None:  # the address's first connection (for a while)
            group, shown = address_group(session.address), bracketed(session.address)
            bucket = self._per_group.get(group)
            if bucket is None:
                bucket = self._per_group[group] = TokenBucket(self.config.rate_per_address,
                                                              self.config.burst_per_address)
        self._per_address[session.address] = (count + 1, bucket, group, shown)
        # DEBUG: at INFO, a login storm paid a log line per connection twice over (this and
        # the login line, which names the address too); refusals and errors stay at INFO.
        if log.isEnabledFor(logging.DEBUG):  # one call fewer per connection when it is not
            log.debug("connect %s:%d", shown, session.port)

    def disconnected(self, session: ClientSession, exc: Exception | None) -> None:
        """The connection is gone, or its client said bye or ended its stream (then only its
        last answers still go out: _close_answered): unregister the user, tell the others,
        requeue deliveries. Once per session: a second call does nothing."""
        if session not in self.sessions:
            return
        del self.sessions[session]
        self.carbons.discard(session)
        self.batch_acks.discard(session)
        self.since_sessions.discard(session)
        self.block_sessions.discard(session)
        self.catch_up.discard(session)
        self.after.logged_out(session)
        self.watchlists.forget(session)  # subscriptions are per session
        self.presence.forget(session)  # and the notices it missed while lagging
        self.intake.forget(session)
        self._late_budgets.pop(session, None)
        self._late_floors.pop(session, None)
        self._settled_while_fetching.pop(session, None)
        self._untold.discard(session)
        self._ack_budgets.pop(session, None)
        self._floors.pop(session, None)
        self._hellos_again.pop(session, None)
        self._crowded.pop(session, None)
        session.direct_stored = None  # (see _send_direct) no cycle left for the collector
        # The address keeps its bucket when its last connection goes, or reconnecting
        # would refill it; expire() forgets buckets that have refilled anyway.
        count, bucket, group, shown = self._per_address.get(session.address, (1, None, None, session.address))
        self._per_address[session.address] = (count - 1, bucket, group, shown)
        reason = session.leave_reason
        if exc is not None and reason == "disconnected":
            # The system's timeout (TCP_USER_TIMEOUT, server/listener.py: what was written
            # stayed unacknowledged) is the heartbeat's verdict reached another way.
            reason = "timeout" if isinstance(exc, TimeoutError) else f"connection lost ({type(exc).__name__})"
        # A slow consumer's leaving was logged by its session, with the bytes: one line.
        logged = reason == SLOW_CONSUMER
        if session.name is None:  # any client can cause these at will: summarised per address
            if logged:
                return
            self.log_lines.log("disconnect{s} before logging in", session.address, logging.INFO,
                               "disconnect %s:%d before logging in (%s)", shown, session.port, reason)
            return
        if not logged:
            self.logout_lines.log(logging.INFO, "logout %s from %s:%d (%s)", session.name, shown, session.port,
                                  reason)
        gone = self.registry.unregister(session.name, session)
        now = time.time()  # one time: a cluster's RELEASE writes it as a guest's leaving (ClusterNode._release)
        self.peers.release(session, reason, now)
        if gone and self.peers.routes:
            self.routed.pop(session.key, None)  # nobody here to tell any more
            self.awaiting.forget(session.key)
        self._requeue(session)
        self.outcome_pages.pop(session, None)
        if gone:
            self.room_desk.logged_out(session)  # where they are in their rooms (issue 13)
            # Counted with the one who leaves, as the join was: a room at the limit stays quiet.
            if not self.peers.tells_presence:
                self.presence.announce(UserLeft(session.name, reason, time.time()), len(self.sessions),
                                       session.key, len(self.registry) + 1)
            key = session.key
            if not session.registered and self.logins.guests.left(key, now) is not None:  # the hold starts
                holding = self.logins.guests.holdings[key]
                self.store.set_left_at(key, now, partial(Relay._holding_written, self, "marked left", holding)
                                       if self._holding_heard else None, holding=holding)
                self.peers.holding_changed(key, holding)

    def handle(self, session: ClientSession, event: Event) -> None:
        """Act on one event from ``session``."""
        kind = type(event)
        if session.key in self.presence.pending_keys:  # never their message before their "joined"
            # (A bye, or the end of the stream, tells the others nothing: a churning user's
            # held state waits to settle.)
            self.presence.flush() if kind in _ENDS else self.presence.acts(session.key)
        if session.holds and kind in _ORDERED and self._held(session, event):
            return
        if kind in _RATED and self._rate_limited(session, event):
            return
        self._handlers[kind](session, event)
        if kind is not FrameRejected:
            session.bad_frames = 0

    def counted_group(self, session: ClientSession) -> str:
        """What the per-address limits count ``session``'s address as (its group: a global
        IPv6 address's /64, else the address; server/addresses.py), worked out at connect."""
        return self._per_address[session.address][2]

    def _rate_limited(self, session: ClientSession, event: Any) -> bool:
        now = time.monotonic()
        if session.bucket is None:
            session.bucket = TokenBucket(self.config.rate_per_connection, self.config.burst_per_connection)
        wait = session.bucket.take_one(now)
        if not wait:
            wait = self._per_address[session.address][1].take_one(now)
            if wait and self._floor_lets_pass(session, now):
                wait = 0.0  # (only a refusal looks at the floor)
        if not wait and type(event) in _BYTE_RATED:
            # Bytes too: at the request rate alone, one sender could fill a slow reader's link.
            if session.byte_bucket is None:
                session.byte_bucket = TokenBucket(self.config.bytes_per_connection,
                                                  self.config.bytes_burst_per_connection)
            text = event.text  # its UTF-8 bytes: as many as characters when all are ASCII
            # As a float: the bucket's arithmetic stays float-with-float (see TokenBucket.take).
            wait = session.byte_bucket.take(now, float(len(text) if text.isascii() else len(text.encode("utf-8"))))
        if not wait:
            return False
        wait = self._whole_wait(session, event, now, wait)
        if type(event) is SendDirect:
            self.metrics.direct_rate_limited += 1
        elif type(event) is SendRoom or type(event) is SendToRoom:  # the default room's or a named one's
            self.metrics.room_rate_limited += 1
        self.log_lines.log("rate-limited request{s}", session.address, logging.INFO,
                           "rate limited %r: retry after %.2f s", session, wait)
        request_id = getattr(event, "request_id", None)
        if type(event) in _ORDERED:  # its conversation waits for it (server/sendorder.py)
            session.holds = sendorder.refused(session.holds, self._conversation(event), request_id,
                                              ErrorCode.RATE_LIMITED, wait, now)
        session.send(_too_many(request_id, wait, event.TYPE))
        return True

    def _conversation(self, event: SendDirect | SendRoom | SendToRoom) -> object:
        """The conversation ``event`` is a message of, as server/sendorder.py keys it."""
        if type(event) is SendDirect:
            return canonical(event.to)
        if type(event) is SendRoom or self.room_desk.rooms.get(event.room_name) is self.room_desk.rooms.default:
            return sendorder.DEFAULT_ROOM
        return sendorder.room(room_key(event.room_name))

    def _held(self, session: ClientSession, event: SendDirect | SendRoom | SendToRoom) -> bool:
        """Whether ``event`` waits behind an earlier message of its conversation refused for
        now (server/sendorder.py): then refused so, and counted as that refusal was."""
        refusal = sendorder.held(session.holds, self._conversation(event), event.request_id, time.monotonic())
        if refusal is None:
            return False
        direct = type(event) is SendDirect
        if refusal.code == ErrorCode.RATE_LIMITED:
            counter = "direct_rate_limited" if direct else "room_rate_limited"
        else:
            counter = "direct_unavailable" if direct else "room_unavailable"
        setattr(self.metrics, counter, getattr(self.metrics, counter) + 1)
        session.send(refusal)
        return True

    def _floor_lets_pass(self, session: ClientSession, now: float) -> bool:
        """Whether the floor of ``session`` lets a request that its address's bucket
        refused pass (then spent from it)."""
        floor = self._floor(session)
        return floor is not None and not floor.take_one(now)

    def _floor(self, session: ClientSession) -> TokenBucket | None:
        """The requests ``session`` may make while its address's bucket is spent
        (RATE_FLOOR_PER_CONNECTION): one user's flood from several connections of a shared
        address (a school's NAT) must not leave the others there nothing. None with a
        burst under one (the floor is off). Made at its first refusal by the address's
        bucket; the relay forgets it with the session."""
        if self.config.burst_floor_per_connection < 1.0:
            return None
        floor = self._floors.get(session)
        if floor is None:
            floor = self._floors[session] = TokenBucket(self.config.rate_floor_per_connection,
                                                        self.config.burst_floor_per_connection)
        return floor

    def _whole_wait(self, session: ClientSession, event: Any, now: float, refused: float) -> float:
        """The wait a refused request is told: until EVERY budget it needs lets it pass, not
        only the one that refused it (which stopped the look at the others). A large
        message refused by the request rate was told 0.02 s, came back then, and was
        refused by its byte budget for 0.2 s more: a resend per answer, each told less
        than the truth. Not the message path: only refusals come here."""
        shared = self._per_address[session.address][1].wait(now)
        floor = self._floor(session) if shared else None
        if floor is not None:  # the connection's floor may come first
            shared = min(shared, floor.wait(now))
        wait = max(refused, session.bucket.wait(now), shared)
        if type(event) in _BYTE_RATED:
            if session.byte_bucket is None:
                session.byte_bucket = TokenBucket(self.config.bytes_per_connection,
                                                  self.config.bytes_burst_per_connection)
            text = event.text
            wait = max(wait, session.byte_bucket.wait(now, float(len(text.encode("utf-8")))))
        return wait

    # --- Logging in ---------------------------------------------------------------------

    def _hello(self, session: ClientSession, hello: Hello) -> None:
        if session.logging_in:
            session.send(ErrorReply(ErrorCode.ALREADY_LOGGED_IN, "a login is already in progress", hello.request_id))
            return
        # A hello counts against its address's request rate (not its connection's: each
        # login is a new connection, and this is the only rate a guest's login pays for):
        # else one address could take guest names, or try hellos, as fast as it can connect.
        # One the login desk refuses gives the token back (_login_decided): a script sending
        # hello after refused hello on its connection (a guesser not waiting its
        # retry_after) must not spend the login rate of the school behind its address;
        # those are held to the connection's own rate instead.
        now = time.monotonic()
        again = self._hellos_again.get(session)
        wait = again.take_one(now) if again is not None else 0.0
        if not wait:
            wait = self._per_address[session.address][1].take_one(now)
        if wait:
            self.log_lines.log("rate-limited request{s}", session.address, logging.INFO,
                               "rate limited %r: retry after %.2f s", session, wait)
            refusal = _too_many(hello.request_id, wait)
            self._wait_for_retry(session, refusal.retry_after)
            session.send(refusal)
            return
        session.logging_in = True
        # The login desk's per-address throttles count the group too: guessing passwords
        # from every address of a /64 is guessing from one address.
        group = self._per_address[session.address][2]
        self.logins.login(hello, group, lambda result: self._login_decided(session, hello, result))
        if session.logging_in:
            # Decided off the loop (a password's hash; a cluster's claim): the frames the
            # client sent behind the hello wait for its outcome, unread, so that each is
            # judged in its order, as a logged-in session's after the welcome and as a
            # stranger's after a refusal (_login_over lets them go). Held, not buffered:
            # the bytes stay in what one read brought and in the kernel (ClientSession.hold_reading).
            session.hold_reading()

    def _wait_for_retry(self, session: ClientSession, retry_after: float | None) -> None:
        """A hello was refused with ``retry_after``: the login timeout of ``session`` starts
        again once that has passed, so that a client doing as told may try again on this
        connection (a wait after wrong passwords can be longer than the login timeout).
        Up to the throttle's longest wait: a longer one (registrations an hour) is for a
        later connection."""
        if retry_after and retry_after <= self.logins.throttle.cap and session.connected_at is not None:
            session.connected_at = max(session.connected_at, time.monotonic() + retry_after)

    def _login_decided(self, session: ClientSession, hello: Hello, result: LoginResult) -> None:
        session.logging_in = False
        if session.closing:
            return
        if result.error is not None:
            self.metrics.logins_refused += 1
            self._hello_refused(session)
            self.log_lines.log("refused login{s}", session.address, logging.INFO, "login refused for %r from %s: %s",
                               hello.name, endpoint(session.address, session.port), result.error.message)
            if result.error.code == ErrorCode.UNSUPPORTED_VERSION:
                self._refuse(session, result.error.code, result.error.message, hello.request_id)
            else:  # the session stays in the handshake: the client may try again
                self._wait_for_retry(session, result.error.retry_after)
                session.send(result.error)
        elif self.peers.routes:
            if result.registered:  # perhaps created just now: the other nodes' desks learn it
                self.peers.account_saved(canonical(result.name), self.logins.accounts[canonical(result.name)])
            # Claimed across the cluster first; meanwhile the session is still logging in.
            session.logging_in = True
            key = canonical(result.name)
            # A guest's token proved its holding as this node knows it: claimed only if the
            # cluster has not forgotten that holding meanwhile (peers.FORGOTTEN).
            epoch = self.logins.guests.epoch(key) if result.claim is Claim.RESUME else None
            # A guest taking the name anew: Redis checks it against every account's look-alike
            # key too (the desk checked this node's cache, a moment behind the others). A guest
            # resuming its name files the key for the others' claims, refused by none.
            lookalike = None if result.registered else lookalike_key(result.name)
            self.peers.claim(session, key, result.name, result.registered, time.time(),
                             lambda error: self._claimed(session, hello, result, error), epoch, lookalike)
            return
        else:
            self._admit(session, hello, result)
        if session.reading_held_since is not None:  # (a guest's login, decided at once, never held it)
            self._login_over(session)

    def _hello_refused(self, session: ClientSession) -> None:
        """The login desk refused a hello of ``session``: it took no name, so its address's
        token goes back, and the connection's next hellos are held to its own rate."""
        self._per_address[session.address][1].give_back()
        if session not in self._hellos_again:
            self._hellos_again[session] = TokenBucket(self.config.rate_per_connection, self.config.burst_per_connection)

    def _login_over(self, session: ClientSession) -> None:
        """The hello's outcome has been sent: the frames that waited behind it while it was
        decided (see _hello) are handled now, in their order, and reading resumes."""
        session.release_reading()

    def _claimed(self, session: ClientSession, hello: Hello, result: LoginResult,
                 error: str | Confusable | None) -> None:
        """The cluster's answer to the claim of ``result.name`` for ``session``."""
        session.logging_in = False
        if session.closing:
            return  # the node released the claim
        if error is None:
            self._admit(session, hello, result)
        elif error == FORGOTTEN:
            # Another node forgot the name (its hold was over, nothing referred to it) just
            # before this claim: the token proves nothing now, and the name is free. Taken
            # afresh, as a hello without the token would (the stream tells this node too).
            self.logins.guests.forget(canonical(result.name))
            self._login_decided(session, hello, replace(result, claim=Claim.TAKE))
            return
        elif error == REGISTERED:
            # Another node registered the name after the login desk read Redis, before this
            # guest's claim: decided again, as a hello sent now would be (the desk reads the
            # account: a password is needed, or the one given logs in to it).
            session.logging_in = True
            group = self._per_address[session.address][2]
            self.logins.login(hello, group, lambda again: self._login_decided(session, hello, again))
            return
        elif isinstance(error, Confusable):
            self.metrics.logins_refused += 1
            self.log_lines.log("refused login{s}", session.address, logging.INFO, "login refused for %r from %s: "
                               "it looks like %r", hello.name, endpoint(session.address, session.port), error.like)
            session.send(lookalike_error(result.name, error.like, hello.request_id))
        elif isinstance(error, GuestHeld):  # its guest left on a node this one had not heard from yet
            self.metrics.logins_refused += 1
            self.log_lines.log("refused login{s}", session.address, logging.INFO, "login refused for %r from %s: "
                               "held for the guest who left it", hello.name, endpoint(session.address, session.port))
            session.send(held_error(result.name, error.until, hello.request_id))
        elif error == ErrorCode.NAME_TAKEN:  # marked online in the cluster (who), on some node
            self._name_taken(session, hello, result, f"the name {result.name!r} is already in use")
        else:
            self.metrics.logins_refused += 1
            self.log_lines.log("refused login{s}", session.address, logging.INFO,
                               "login refused for %r from %s: %s", hello.name, endpoint(session.address, session.port),
                               error)
            session.send(unavailable_error(self.config, hello.request_id))
        if session.reading_held_since is not None:
            self._login_over(session)

    def _name_taken(self, session: ClientSession, hello: Hello, result: LoginResult, why: str) -> None:
        """Refuse ``hello`` ``name_taken``: its name is online (in this server's registry, or
        marked online in a cluster's), ``why`` in the registry's words. Counted and logged
        once, with the reason the answer gives: a guest's own earlier session (its resume
        token: :meth:`_holder_refused`), else ``why``."""
        holder = self._holder_refused(hello, result)
        self.metrics.logins_refused += 1
        self.log_lines.log("refused login{s}", session.address, logging.INFO, "login refused for %r from %s: %s",
                           hello.name, endpoint(session.address, session.port),
                           why if holder is None else "the guest's earlier session (or another program with its "
                           "resume token) still holds the name")
        session.send(holder or ErrorReply(ErrorCode.NAME_TAKEN, why, hello.request_id))

    def _holder_refused(self, hello: Hello, result: LoginResult) -> ErrorReply | None:
        """The ``name_taken`` for a guest whose hello proved it holds the name (its resume
        token: RESUME) while a session of its own still holds it: its earlier connection,
        which the server has not found gone yet (a half-open connection here; in a cluster,
        a session on a node that died and is not reaped yet). Not someone else's name: the
        answer says so, with ``retry_after`` (PROTOCOL.md "Guest names: the resume token"),
        so that a reconnecting client waits instead of asking for another name. None for
        any other login.

        Each earlier session of this server under the name is pinged meanwhile (once; see
        ``probes``): a phone that changed network logs in again at once, while its old
        connection, dead without a close, would hold the name for the whole heartbeat
        timeout. A live one (another program with the token) answers and stays."""
        if result.claim is not Claim.RESUME:
            return None
        key = canonical(result.name)
        self.probe_holders(key)
        self.peers.probe_elsewhere(key)  # a cluster: its sessions on the other nodes too
        return ErrorReply(ErrorCode.NAME_TAKEN, f"your earlier session (or another program using your token) still "
                          f"holds the name {result.name!r}: it is released when that session ends", hello.request_id,
                          retry_after=self.peers.release_retry)

    def probe_holders(self, key: str) -> None:
        """Ping each session of this server under ``key`` not pinged for this already (see
        ``probes``): a login with the name's token is waiting for it, here or, in a
        cluster, on another node (ClusterNode.probe_elsewhere). One that answers stays;
        one from which nothing comes within ``release_probe`` is ended (ChatServer)."""
        now = time.monotonic()
        for held in self.registry.sessions_by_key(key):
            if held not in self.probes and not held.closing:
                self.probes[held] = now
                held.pinged = True  # the sweep's own ping would add nothing
                held.send(Ping("release"))

    def _admit(self, session: ClientSession, hello: Hello, result: LoginResult) -> None:
        """Put the session online under ``result.name`` and welcome it."""
        try:
            record = self.registry.register(result.name, session.address, session.port, time.time(), session,
                                            shared=result.registered)
        except (InvalidName, NameTaken) as exc:
            if isinstance(exc, NameTaken):
                self._name_taken(session, hello, result, str(exc))
            else:
                self.metrics.logins_refused += 1
                self.log_lines.log("refused login{s}", session.address, logging.INFO,
                                   "login refused for %r from %s: %s", hello.name,
                                   endpoint(session.address, session.port), exc)
                session.send(Refused.invalid_name(exc, "name").reply(hello.request_id))
            self.peers.release(session, "refused", time.time())
            return
        session.name, session.key, session.registered = result.name, canonical(result.name), result.registered
        # It keeps its place (unless its user has many), counted by its address's group.
        self.admission.logged_in(self._per_address[session.address][2], session)
        # A user the store has never seen has nothing waiting there (no messages, outcomes
        # or earlier holder): their first login skips the three fetches that would say so.
        stored = self._may_have_stored(session.key)
        # A guest's token (taking its name), or an account's new resume credential.
        resume = self._hold_name(session, result, stored) or result.issued
        # The optional features of the hello this server knows, in its own order; the
        # welcome names them, and nothing else turns them on.
        features = tuple(name for name in FEATURES if name in hello.features) if hello.features else ()
        if CARBONS in features:
            self.carbons.add(session)
        if BATCH_ACKS in features:
            self.batch_acks.add(session)
        if SINCE_FEATURE in features:
            self.since_sessions.add(session)
        if BLOCKS_FEATURE in features:
            self.block_sessions.add(session)
        if CATCH_UP in features:
            self.catch_up.add(session)
        read_receipts = self.after.logged_in(session, features) if features else None  # none turned on
        session.send(Welcome(hello.request_id, result.name, hello.version, self.config.server_name,
                             self.config.heartbeat_interval, result.registered, resume, features or None,
                             read_receipts, int(time.time() * 1000),  # now: as wall_ms says it (a call fewer)
                             self.config.edit_window if EDITS in features else None,
                             self.store.last_msg_id() if SINCE_FEATURE in features else None))
        if session.is_open:
            # Only the login timeout reads it, and only before the welcome: let its float go
            # (24 bytes of every idle connection; issue 9). Its reader's spare objects too.
            session.connected_at = None
            slim_reader(session)
        self.metrics.logins += 1
        self.after.room_reads.logged_in(session)  # the read marks of their small rooms (issue 13)
        self.login_lines.log(logging.INFO, "login %s from %s:%d%s", result.name,
                             self._per_address[session.address][3], session.port,
                             " (account)" if result.registered else "")
        if len(record.sessions) == 1:  # (its endpoints, one a session: no Endpoint made)
            if not self.peers.tells_presence:
                self.presence.announce(UserJoined(result.name, time.time()), len(self.sessions), session.key,
                                       len(self.registry))
            # What they missed in their rooms (issue 13), on whichever node they log in.
            self.room_desk.logged_in(session, hello.room_seen, hello.last_heard)
        elif hello.room_seen is not None:  # what this client missed, another session online
            self.room_desk.replay(session, hello.room_seen, last_heard=hello.last_heard)
        key = session.key
        self.known[key] = result.name
        self.store.remember_user(key, result.name, time.time())
        if not stored:
            return
        # Submitted now, so these run before any message stored after this login: what
        # waited comes first, in order, then what is new.
        self._refill(session)
        self._restart_outcome_pages(session)
        self.after.tell_changes(session, hello.last_heard)  # after the waiting messages they change

    def _may_have_stored(self, key: str) -> bool:
        """False only if the store holds nothing for ``key``: a store whose known users are
        exactly the users it holds anything for (``knows_every_user``, the memory store)
        and ``key`` is not one of them. The SQLite store says nothing of the kind: a user
        whose row failed to be written on a failing disk may still have messages there."""
        return key in self.known or not getattr(self.store, "knows_every_user", False)

    def _hold_name(self, session: ClientSession, result: LoginResult, stored: bool = True) -> str | None:
        """Apply the login's claim to the name's guest holding (see guests.py); sets the
        session's epoch; returns the new resume token for the welcome, if one was issued.
        ``stored``: the store may hold something for the name (else nothing to hand over)."""
        key, guests = session.key, self.logins.guests
        token = None
        if result.claim is Claim.TAKE:
            # Every message id given out so far belongs to earlier holders of the name.
            epoch = self.store.last_msg_id()
            earlier_holder = key in guests.holdings
            if earlier_holder:
                log.info("%s changes hands: what waited for its earlier guest expires", result.name)
            token, holding = guests.take(key, result.name, epoch, result.token)
            if result.registered:
                token = None  # a new account logs in with its password, not a token
            # Refused (Redis keeps a newer holding: another node's take, not heard of here yet)
            # after the welcome went: said in the log; the events stream brings that one here.
            self.store.save_holding(key, holding, partial(Relay._holding_written, self, "saved", holding)
                                    if self._holding_heard else None, partial(self._holding_unsaved, key, holding))
            self.peers.holding_changed(key, holding)
            if stored:
                self.store.hand_over(key, epoch, self.announce_expired)
            if earlier_holder or key in self.blocked or key in self.after.receipts_off:  # (a call less a login)
                self.drop_earlier_holder(key, earlier_holder)
        elif result.claim is Claim.RESUME:
            guests.arrived(key)
            holding = guests.holdings[key]
            self.store.set_left_at(key, None, partial(Relay._holding_written, self, "marked online", holding)
                                   if self._holding_heard else None, partial(self._holding_unsaved, key, holding),
                                   holding=holding)
            self.peers.holding_changed(key, holding)
        session.epoch = session.backlog_cursor = guests.epoch(key)
        return token

    def drop_earlier_holder(self, key: str, in_rooms: bool = True) -> None:
        """Nothing of the earlier holder of guest name ``key`` passes on: whom they blocked,
        their receipts switch and (``in_rooms``: they may be in some) their rooms."""
        self.block_desk.name_changed_hands(key)
        self.after.name_changed_hands(key)
        if in_rooms:
            self.room_desk.name_changed_hands(key)

    def forget_guests(self, now: float) -> None:
        """Forget the guest names whose hold is over at ``now`` and that no message refers to
        any more (guests.py): their holding, known-user entry, blocks and rooms, here and in
        the store, as when the name changes hands. At most const.GUEST_FORGET_BATCH names a
        pass, one store round trip to ask which are referenced; while more are due another
        pass follows once it answered. In a cluster one node at a time forgets, in one step
        with checks against the other nodes' logins (peers.forget_guests); the others drop
        the names from their caches as the events stream tells them."""
        guests, accounts = self.logins.guests, self.logins.accounts
        if self._forgetting:
            return
        keys = [key for key in guests.forgettable(now, const.GUEST_FORGET_BATCH) if key not in accounts]
        if not keys:
            return
        self._forgetting = True

        def answered(referenced: list[str]) -> None:
            self._forgetting = False
            kept = set(referenced)
            gone = []
            for key in keys:
                holding = guests.holdings.get(key)
                if holding is None or holding.left_at is None or key in accounts:
                    continue  # back meanwhile (their next leaving offers them again), or registered
                if key in kept:
                    guests.recheck(key, now + const.GUEST_RECHECK)
                elif guests.hold_left(holding, now) <= 0:
                    gone.append(key)
            if gone:
                # Up to the last id given out: a message stored since the question (the
                # name was still known) expires now, its sender told, as at a hand-over.
                self.peers.forget_guests(self.store, {key: guests.holdings[key] for key in gone},
                                         self.store.last_msg_id(), partial(self._guests_forgotten, now, gone))
            if self._schedule is not None and guests.has_due(now):
                self._schedule(0.0, lambda: self.forget_guests(time.time()))

        def failed(error: Exception) -> None:
            self._forgetting = False
            for key in keys:
                guests.recheck(key, now + const.GUEST_RECHECK)

        self.store.referenced(keys, answered, failed)

    def _guests_forgotten(self, now: float, asked: list[str],
                          result: tuple[list[str], list[mailbox.StoredMessage]] | None) -> None:
        """The peers' answer to forgetting the guest names ``asked`` (forget_guests): those
        forgotten go here too, with whom they blocked and their rooms; the others (another
        node forgets now, or one came back meanwhile) are looked at again later."""
        guests = self.logins.guests
        forgotten, told = result if result is not None else ((), ())
        for key in forgotten:
            guests.forget(key)
            self.known.pop(key, None)
            self.drop_earlier_holder(key)
        for key in asked:
            if key in guests.holdings:  # (alone, the answer about what ended comes second)
                guests.recheck(key, now + const.GUEST_RECHECK)
        if told:
            self.announce_expired(told)

    def _refuse(self, session: ClientSession, code: str, message: str, request_id: str | None = None,
                reason: str | None = None) -> None:
        """Send ``error`` ``code`` and close: ``reason`` is the leave reason (else the code:
        before logging in, where only the log says it)."""
        self.log_lines.log("refused connection{s}", session.address, logging.INFO, "refused %s: %s",
                           endpoint(session.address, session.port), message)
        session.send(ErrorReply(code, message, request_id))
        session.close(reason or code, code)

    # --- Direct messages ----------------------------------------------------------------

    def _send_direct(self, session: ClientSession, request: SendDirect, named: Any = _ASK) -> None:
        """Store and answer ``request``; ``named``: the recipient's name as the cluster
        told it once asked (None: nobody; a user who logged in here meanwhile is the
        recipient whatever it says), else looked up here. One method for both ways,
        not a second one that each message called (issue 9: a Python call a message)."""
        # The one normalisation of the recipient's name for this message: from here on,
        # keys (the sender's was computed at login). (A name asked of the cluster comes
        # back here: canonical's cache answers for it then.)
        to_key = canonical(request.to)
        record = self.directory.lookup_key(to_key)
        if named is _ASK:
            recipient = record.name if record else self.known.get(to_key)
            if recipient is None:
                known_name = getattr(self.peers, "known_name", None)
                if known_name is not None:  # a first login on another node may not have reached us yet
                    # A partial, not a lambda: one would make self, session and request
                    # cells, created by every direct message (issue 9, round twelve).
                    return known_name(to_key, partial(self._send_direct, session, request))
        else:  # the cluster's answer, unless the recipient logged in here while it was on its way
            recipient = record.name if record else self.known.get(to_key, named)
        if session.closing:
            return
        if recipient is UNANSWERED:  # Redis could not say whether the recipient exists
            self._direct_unavailable(session, request, StoreUnavailable("Redis did not answer who the recipient is"))
            return
        if recipient is None:
            self.metrics.direct_refused += 1
            desk = self.registry_desk
            session.send(desk.not_a_name(request.to, request.request_id, "to") or desk.nobody(session, request))
            return
        state = "blocked" if session.key in self._blocks_to_store.get(to_key, ()) else "sent" if record else "queued"
        # In whole microseconds (the nearest double to them): the dm frame then writes its
        # sent_at from an int, not by repr()'s shortest-digits search (protocol/codec.py,
        # _number_literal; issue 9, round sixteen). time.time(), its microseconds' fraction
        # dropped.
        now = math.floor(time.time() * 1e6) / 1e6
        # The store's answer goes to _direct_stored for this session, its failure to
        # _direct_unavailable: the two callbacks made once per session, on its first
        # message, not a closure per message (issue 9, round twelve: 3,085 instructions a
        # message); dropped in disconnected (they refer to the session that holds them).
        # Only the request is the message's own: bound to the session's second callback by
        # a method object, neither unavailable's call nor its tuple of values is made per
        # message (round seventeen: about 650 instructions).
        callbacks = session.direct_stored
        if callbacks is None:
            callbacks = session.direct_stored = (partial(self._direct_stored, session),
                                                 partial(self._direct_unavailable, session))
        stored, unavailable = callbacks
        # The store gives the message its id (stores/base.py), and builds it with that id
        # from its other fields: one StoredMessage per message, not two (issue 9).
        self.store.store_fields((session.name, session.key, recipient, to_key, request.text, now,
                                 request.request_id, state, now + self.config.queue_ttl),
                                stored, MethodType(unavailable, request))

    def _direct_stored(self, session: ClientSession, result: tuple[mailbox.StoredMessage, str]) -> None:
        message, status = result
        if status == mailbox.ID_REUSED:
            self.metrics.direct_refused += 1
            self.id_reused(session, message)
            return
        request_id, msg_id = message.client_id, message.msg_id
        if message.state == "delivered":  # a resend of something already delivered
            session.send(Accepted(request_id, msg_id))
            session.send(_outcome(message))
            return
        if message.state == "expired":
            session.send(_outcome(message))
            return
        recipients = self._online.get(message.recipient_key, OFFLINE).sessions
        if self.peers.routes:
            self._route_direct(session, message, recipients, status)  # counts it as it answers
            return
        if status == mailbox.NEW:  # as its sender is answered; a resend was counted the first time
            if recipients:
                self.metrics.direct_accepted += 1
            else:
                self.metrics.direct_queued += 1
            if (message.state == "sent") != bool(recipients) and message.state != "blocked":
                # Stored with the registry's view as the request came, answered with the
                # view now: the recipient left (or came) in between. What the sender is
                # told is what history says (as a cluster node does: _route_direct).
                self.store.restate(msg_id, "sent" if recipients else "queued")
        session.send(_new_accepted(request_id, msg_id) if recipients else Queued(request_id, msg_id))
        if status == mailbox.NEW and self.carbons:
            # Before the forward, so no outcome of it can reach a session before its copy.
            self._carbon(session, message, "sent" if recipients else "queued")
        if message.state == "blocked":
            # The sender is not told: answered exactly as for anyone else (accepted while the
            # recipient is online, queued while not), and never delivered.
            return
        # A resend forwards nothing (PROTOCOL.md, "Resending"): it was forwarded when new,
        # or waits in the store for its recipient's next fetch; out of flight, it may be
        # out because its receipt is on its way to the store, and it would come twice. But
        # one stored under an answer that never came was never forwarded: now it is.
        if recipients and msg_id not in self.inflight and (status == mailbox.NEW or self._was_unsure(message)):
            self._forward(message, recipients)
        if status == mailbox.NEW:
            self.after.message_sent(message.sender_key, message.recipient_key)

    def _carbon(self, session: ClientSession, message: mailbox.StoredMessage, state: str) -> None:
        """Copy the new direct ``message`` that ``session`` sent to the other sessions of its
        user that asked for carbons, with ``state`` as ``session`` was answered. Only for a
        new message: a resend was copied when it was new, and a session that logged in
        since finds it in the history."""
        event = None
        for other in self.registry.sessions_by_key(message.sender_key):
            if other is not session and other in self.carbons:
                if event is None:
                    event = Carbon(message.msg_id, message.recipient, message.text, message.sent_at, state)
                other.send(event)

    def _route_direct(self, session: ClientSession, message: mailbox.StoredMessage, recipients: tuple,
                      status: str) -> None:
        """A cluster's ``_direct_stored``: forward to the recipient's sessions here, route
        to the nodes holding others, then answer ``accepted`` if any session got it (and
        copy a new message to the sender's other sessions that asked for carbons, on this
        node and, through their inboxes, on others). A new message is counted in the
        metrics as the sender is answered (this node's sessions are not all of them)."""
        request_id, msg_id = message.client_id, message.msg_id
        online = bool(recipients) or self.directory.lookup_key(message.recipient_key) is not None
        if status == mailbox.NEW:
            # Before the forward, so no outcome of it can reach a session before its copy;
            # a message to someone who blocks the sender is copied too, as on one node.
            state = "sent" if online else "queued"
            if self.carbons:
                self._carbon(session, message, state)
            if self.peers.elsewhere(message.sender_key):  # the copy is built only for other nodes
                self.peers.carbon(message.sender_key, Carbon(msg_id, message.recipient, message.text,
                                                             message.sent_at, state))
        if message.state == "blocked" or status != mailbox.NEW:
            # Blocked: as on one node, answered as for anyone, never delivered. A resend:
            # forwarded and routed when it was new (the store's script routes a new one),
            # or waiting in the store for its recipient's next fetch; forwarding or routing
            # it again delivered it twice when its receipt was on its way (found by CI:
            # tests/integration/test_cluster_unsure.py). PROTOCOL.md: "forwards nothing twice".
            if status == mailbox.NEW:
                self._count_direct(online)
                if message.state == "blocked":
                    # Perhaps asked as sent and blocked by the store: routed to nobody, ever.
                    self.peers.never_routed(message)
            elif message.state != "blocked" and recipients and msg_id not in self.inflight \
                    and self._was_unsure(message):
                # Stored under an answer that never came: the store's script routed it to
                # the other nodes, but the sessions here were never forwarded it.
                self._forward(message, recipients)
            session.send(Accepted(request_id, msg_id) if online else Queued(request_id, msg_id))
            return
        if recipients and msg_id not in self.inflight:
            self._forward(message, recipients)

        def routed(nodes: list[str] | None) -> None:
            # None: Redis was not reached; the message is stored and waits for a fetch.
            reached = bool(recipients or nodes)
            if status == mailbox.NEW:
                self._count_direct(reached)
            session.send(Accepted(request_id, msg_id) if reached else Queued(request_id, msg_id))
            self.awaiting.sent(message.sender_key, msg_id, request_id)
            if reached != (message.state == "sent"):
                # Stored with the directory's view, answered with Redis's (the routing read
                # `where`), which the directory follows a stream read behind: a login or
                # logout elsewhere came between. What the sender was told is what is so,
                # and what history shows (docs/cluster.md, "What the sender is told").
                self.store.restate(msg_id, "sent" if reached else "queued")
            if nodes:
                # Until its outcome comes back: if those nodes die first, the sender hears "queued".
                self.routed.setdefault(message.sender_key, {})[msg_id] = RoutedFlight(set(nodes), request_id)

        self.peers.route(message, routed)

    def _count_direct(self, accepted: bool) -> None:
        """Count a new direct message as its sender is answered: ``accepted`` or queued."""
        if accepted:
            self.metrics.direct_accepted += 1
        else:
            self.metrics.direct_queued += 1

    def deliver_routed(self, message: mailbox.StoredMessage) -> None:
        """Another node routed ``message`` to this one: forward it to its recipient's
        sessions here (not again if it is already in flight here, nor to a session whose
        fetch of waiting messages read it: it had it from there)."""
        recipients = self.registry.sessions_by_key(message.recipient_key)
        msg_id = message.msg_id
        if message.sender_key in self.presence.pending_keys:  # their "joined" (a cluster's) first
            self.presence.acts(message.sender_key)
        if recipients and msg_id not in self.inflight:
            # An inbox entry can come late (its reader reconnects on its own schedule after
            # a break, or finds it only at its next read from "0"), after a fetch sent the
            # message and the recipient confirmed it: no longer in flight, it went again.
            self._forward(message, [r for r in recipients if r.backlog_cursor < msg_id])

    def tell_routed(self, key: str, msg_id: int, frame: bytes) -> None:
        """Another node tells ``key``'s sessions here about message ``msg_id``."""
        if msg_id > self.logins.guests.epoch(key):  # see _tell_sender
            for session in self.registry.sessions_by_key(key):
                session.write_frame(frame)
        if not frame.startswith(_QUEUED_HEAD):  # an outcome: nothing more to wait for
            self._outcome_told(key, msg_id)
        elif flights := self.routed.get(key):  # still waiting, but no longer on that node
            flights.pop(msg_id, None)

    def tell_fast(self, key: str, msg_id: int, frame: bytes) -> bool:
        """Another node tells ``key``'s sessions here the outcome ``frame`` of message
        ``msg_id`` ahead of its inbox entry (server/cluster/fastpath.py): told, and True, if
        this node routed that message and still waits on its outcome (so after its
        ``accepted``, and not a replay); else False, and the entry tells it."""
        flights = self.routed.get(key)
        if not flights or msg_id not in flights:
            return False
        self.tell_routed(key, msg_id, frame)
        return True

    def _outcome_told(self, sender_key: str, msg_id: int) -> None:
        """In a cluster: the outcome of ``sender_key``'s message ``msg_id`` went to their
        sessions here. Nothing more to wait for: it is not asked of the store after a break
        (:attr:`awaiting`), nor told ``queued`` when a node it was routed to dies (its
        recipient's other device there had it in flight: :meth:`node_lost`)."""
        self.awaiting.told(sender_key, msg_id)
        flights = self.routed.get(sender_key)
        if flights and flights.pop(msg_id, None) is not None and not flights:
            del self.routed[sender_key]

    def carbon_routed(self, key: str, msg_id: int, frame: bytes) -> None:
        """Another node sends the ``sent`` copy of message ``msg_id``, which ``key`` sent
        there, for ``key``'s sessions here that asked for carbons."""
        if msg_id > self.logins.guests.epoch(key):  # sent by the name's current holder
            for session in self.registry.sessions_by_key(key):
                if session in self.carbons:
                    session.write_frame(frame)

    def seen_elsewhere(self, session: ClientSession) -> None:
        """In a cluster: another node just learnt that ``session`` logged in. Until then it
        showed every session of the user on itself, so what it stored for the user it gave
        only to its own sessions (ClusterNode.route), and what the user sent there it copied
        to nobody here (ClusterNode.carbon). The messages waiting for the user are fetched
        for ``session`` now, before anything routed after this (a live one would otherwise
        come before the older one that waits: the chaos run with 20 clients, cluster seed
        474, a user back on another node while their old session there lingered). And a
        session that asked for the feature catch_up is told :class:`CatchUp`: its client
        asks for what another device sent meanwhile, as after a reconnection."""
        if not session.is_open:
            return
        if session in self.catch_up:
            session.send(CatchUp())
        self._refill(session)

    def fetch_waiting(self, key: str) -> None:
        """In a cluster: another node stored messages for ``key`` and could route them to
        nobody (ClusterNode.route): its sessions here fetch what waits for them, in order
        (a fetch sends only what still waits and is not in flight here)."""
        for session in self.registry.sessions_by_key(key):
            if session.is_open:
                self._refill(session)

    def settled_elsewhere(self, key: str, msg_id: int) -> None:
        """Message ``msg_id`` to ``key`` was confirmed or expired on another node: it is
        no longer in flight here (its sessions here leaving must not requeue it)."""
        flight = self.inflight.get(msg_id)
        if flight is None or flight.recipient_key != key:
            return
        del self.inflight[msg_id]
        for recipient in self.registry.sessions_by_key(key):
            if recipient.inflight:
                recipient.inflight.discard(msg_id)
                if recipient.backlog_loading:
                    self._settled_during_fetch(recipient, msg_id)

    def node_lost(self, node: str) -> None:
        """``node`` died: the messages routed to it alone and not confirmed wait in the
        store for their recipients' next login; their senders hear ``queued``, as when a
        recipient on this node disconnects before confirming (see _requeue).

        And it may have died between recording a receipt (or an expiry, an edit) and
        routing it here (two calls to Redis: _confirm), or between storing a message and
        routing it: so every session here is told again what a login tells
        (:meth:`_tell_again`) and fetches what waits for it. Else a sender that stays
        connected heard the outcome only at its next login
        (tests/integration/test_cluster_nodes.py), a recipient the edit
        (test_cluster_changes_told_again.py) or the message
        (test_cluster_unrouted_messages.py; each found by the chaos run)."""
        for sender_key, flights in list(self.routed.items()):
            for msg_id, flight in list(flights.items()):
                flight.nodes.discard(node)
                if flight.nodes:
                    continue
                del flights[msg_id]
                for sender in self.registry.sessions_by_key(sender_key):
                    sender.send(Queued(flight.client_id, msg_id))
                self.peers.tell(sender_key, msg_id, encode(Queued(flight.client_id, msg_id)))
            if not flights:
                del self.routed[sender_key]
        for session in self.sessions:
            if session.key and not session.closing:
                self._tell_again(session)
                if self._may_have_stored(session.key):
                    self._refill(session)

    def _tell_again(self, session: ClientSession, missed_since: float | None = None) -> None:
        """Tell ``session`` again, as its login did, what another node may have stored for
        it and routed to nobody: its outcomes not acknowledged, and the edits and deletes of
        messages to it not confirmed (a client takes what it has as a no-op); with
        ``missed_since`` (wall-clock time), also the changes of its user's direct messages
        made since, confirmed or not, as to a client back from away (PROTOCOL.md, "Changes
        a device missed": another device may have confirmed them meanwhile)."""
        if self._may_have_stored(session.key):
            self._restart_outcome_pages(session)
            self.after.tell_changes(session, None if missed_since is None else int(missed_since * 1000))

    def id_reused(self, session: ClientSession, request: mailbox.StoredMessage) -> None:
        """``request`` came under a request id that this sender used for another message:
        nothing was stored; say so, or the client would take the old answer for this one."""
        log.info("id_reused from %r: request id %r", session, request.client_id)
        session.send(ErrorReply(ErrorCode.ID_REUSED, f"request id {request.client_id!r} was already used for "
                                "another message; send it with a new id", request.client_id))

    def _forward(self, message: mailbox.StoredMessage, recipients: list[ClientSession]) -> None:
        """Send ``message`` to every online session of its recipient that can take it now.

        A session whose in-flight set is full, whose backlog is being fetched, or for which
        older messages wait in the store (``backlog``: they found the set full, and are
        fetched once it is half empty), does not get it now: it stays in the store, and the
        fetch under way (or the next one) sends it in its place in the order. Sending it
        directly while older messages wait would put it before them. Nor does a session
        that is lagging (its outgoing queue is over the soft mark): it is fetched for it
        once it has drained.
        """
        event = None
        limit = self.config.max_pending_receipts
        for recipient in recipients:
            if recipient.lagging:
                recipient.backlog = recipient.held = True
                continue
            inflight = recipient.inflight
            if recipient.backlog or recipient.backlog_loading or (inflight is not None and len(inflight) >= limit):
                recipient.backlog = True
                continue
            if inflight is None:
                inflight = recipient.inflight = set()
            if event is None:
                # A message deleted before it was delivered (waiting in the store) goes with
                # the flag, which the client shows instead of an empty text (PROTOCOL.md "dm").
                event = _new_direct_message(message.msg_id, message.sender, message.recipient, message.text,
                                            message.sent_at) if not message.deleted else \
                    DirectMessage(message.msg_id, message.sender, message.recipient, "", message.sent_at, True)
                self.inflight[message.msg_id] = message
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
            settled = self._settled_while_fetching.pop(session, ())
            if session.closing:
                return
            # A message that came while this fetch was under way (another node routed it,
            # or a refill was asked) waits in the store, perhaps stored after this fetch
            # read it: fetch again now, not at the next receipt, and before anything newer.
            again = session.backlog
            session.backlog = False  # these are the waiting ones: _forward sends them, in order
            for message in messages:
                if session.inflight is not None and len(session.inflight) >= limit:
                    session.backlog = True  # the rest waits for receipts; the cursor stays here
                    again = False
                    break
                if session.lagging:
                    session.backlog = session.held = True  # the rest waits until it drains
                    again = False
                    break
                session.backlog_cursor = message.msg_id
                if session.inflight and message.msg_id in session.inflight:
                    continue  # already sent to this session
                if message.msg_id in settled:
                    continue  # confirmed while this fetch was under way: read before its record
                self._forward(message, [session])
            if len(messages) == limit:
                session.backlog = True
            if again:
                self._refill(session)

        def not_fetched(failure: StoreUnavailable) -> None:
            # They stay in the store: fetched again when it works (_store_recovered), or
            # at the next login. Never left "loading", or nothing would reach this session.
            session.backlog_loading, session.backlog = False, True
            self._settled_while_fetching.pop(session, None)

        self.store.pending_for(key, after, limit, fetched, not_fetched)

    def _settled_during_fetch(self, session: ClientSession, msg_id: int) -> None:
        """``msg_id`` left ``session``'s in-flight set (confirmed, settled elsewhere,
        expired) while its fetch of waiting messages is under way: that fetch's answer may
        have been read before the receipt's record and still hold it; it must not be sent
        again (see _refill)."""
        self._settled_while_fetching.setdefault(session, set()).add(msg_id)

    def _receipt(self, session: ClientSession, receipt: Receipt) -> None:
        self._confirm(session, receipt.msg_id)

    def _receipts(self, session: ClientSession, receipts: Receipts) -> None:
        """Feature batch_acks: exactly what a receipt for each id, in order, would do (an id
        not sent to this user gets its own ``unknown_message``; the others count)."""
        if self._batch_refused(session, receipts):
            return
        self._late_refused = 0  # counted by _late_receipt: one answer for the frame, below
        try:
            for msg_id in receipts.msg_ids:
                self._confirm(session, msg_id)
        finally:  # (never left counting: a single receipt after it is answered on its own)
            refused, self._late_refused = self._late_refused, None
        if refused:
            self._late_over_budget(session, refused)

    def _batch_refused(self, session: ClientSession, event: Receipts | OutcomeAcks) -> bool:
        """True (and answered ``unknown_type``) if ``session`` did not ask for batch_acks."""
        if session in self.batch_acks:
            return False
        session.send(ErrorReply(ErrorCode.UNKNOWN_TYPE, f"'{event.TYPE}' with 'msg_ids' needs the feature "
                                f"'{BATCH_ACKS}' in the hello"))
        return True

    def _confirm(self, session: ClientSession, msg_id: int) -> None:
        """The recipient's client confirmed direct message ``msg_id``."""
        flight = self.inflight.get(msg_id)
        key = session.key
        if flight is None or flight.recipient_key != key:
            self._late_receipt(session, msg_id)
            return
        del self.inflight[msg_id]
        self.metrics.direct_delivered += 1
        # Once per message, so read once (issue 9): the registry's records, the cluster's
        # routes, the sender's key.
        online, routes, sender_key = self._online, self.peers.routes, flight.sender_key
        for recipient in online.get(key, OFFLINE).sessions:  # the recipient's key is the session's: checked above
            inflight = recipient.inflight
            if inflight:
                inflight.discard(msg_id)
                if recipient.backlog_loading:
                    self._settled_during_fetch(recipient, msg_id)
        # A message from an earlier holder of the sender's guest name: nobody is left to tell.
        # (guests.epoch, without its Python call: the holding read here, once a message.)
        if msg_id > self.logins.guests.holdings.get(sender_key, NO_HOLDING).epoch:
            for sender in online.get(sender_key, OFFLINE).sessions:
                sender.send(_new_delivered(flight.client_id, msg_id))
            # Encoded only for other nodes; also when the directory shows the sender nowhere,
            # or all here (it lags Redis after a pause or a restart: she, or the device that
            # sent it, may be online on another node: peers.tell).
            if routes:
                self.peers.tell(sender_key, msg_id, encode(Delivered(flight.client_id, msg_id)))
                self._outcome_told(sender_key, msg_id)
        if routes:  # the recipient's sessions on other nodes have it in flight too
            self.peers.settled(key, msg_id)
        self.store.record_receipt(msg_id, key, on_error=MethodType(self._bound_receipt_unrecorded, flight),
                                  sender_key=sender_key)
        if session.backlog and len(session.inflight or ()) < self.config.max_pending_receipts // 2:
            self._refill(session)

    def drained(self, session: ClientSession) -> None:
        """``session``'s outgoing queue fell back under the soft mark, or something was held
        for it while this turn's frames were over it: send the direct messages held back for
        it and let the large request that waited for it begin (server/intake.py). What
        others caused follows once the queue is under the others' mark too
        (``session.crowded``; else looked at again: :meth:`recheck_later`): how many room
        messages or updates it missed, the edits and deletes held back for it, the joins
        and leaves, coalesced."""
        if not session.is_open:
            return
        if session.held:
            session.held = False
            if session.backlog:
                self._refill(session)
            self.intake.drained(session)  # a large request that waited for it
        if session.crowded():
            return  # drained() is called again once it is not
        if session.skipped:
            log.info("%r skipped %s (slow connection)", session, counted(session.skipped, "room message{s}"))
            session.send(RoomSkipped(session.skipped))
            session.skipped = 0
        self.after.drained(session)  # edits and deletes held back for it
        self.presence.drained(session)  # joins and leaves, coalesced

    def recheck_later(self, session: ClientSession) -> None:
        """Call :meth:`drained` for ``session`` once its queue is under the others' mark
        (server/session.py): every const.OTHERS_RECHECK seconds, one timer for all such
        sessions, until it is (or it has gone)."""
        if session in self._crowded or self._schedule is None:
            return
        self._crowded[session] = None
        if len(self._crowded) == 1:
            self._schedule(const.OTHERS_RECHECK, self._recheck)

    def _recheck(self) -> None:
        crowded, self._crowded = self._crowded, {}
        for session in crowded:
            self.drained(session)  # one still crowded is back in self._crowded, and the timer set

    def _late_receipt(self, session: ClientSession, msg_id: int) -> None:
        """A receipt for a message not in flight here: resent, or from before a restart.
        It costs a store operation, so it has a budget (const.LATE_RECEIPTS_*): over it,
        it is not done, and answered ``rate_limited`` (in a batch, once for the frame)."""
        refused = self._late_refused
        if refused:  # this frame is over the budget already: so is the rest of it, unweighed
            self._late_refused = refused + 1
            return
        if self._late_wait(session):
            if refused is None:
                self._late_over_budget(session, 1)
            else:
                self._late_refused = 1
            return
        key = session.key

        def checked(result: tuple[mailbox.StoredMessage | None, str | None]) -> None:
            delivered, recipient = result
            if delivered is not None:
                self.metrics.direct_delivered += 1
                self._tell_sender(delivered.sender_key, [delivered])
            elif recipient != key:
                session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {msg_id} was not sent to you"))
            # else: a receipt sent twice; the first one counted.

        if earlier_holding(session.epoch, msg_id):  # sent to an earlier holder of this guest name
            checked((None, None))  # (after the budget: answered as any id not sent to this user)
            return
        self.store.confirm_late(msg_id, key, checked)

    def _late_wait(self, session: ClientSession) -> float:
        """Spend a late receipt of ``session``'s budgets: 0.0, or the seconds until both
        would let one pass (nothing of the address's spent if the session's refused)."""
        now = time.monotonic()
        budget = self._late_budgets.get(session)
        if budget is None:  # a connection's burst: a reconnection's whole window at once
            budget = self._late_budgets[session] = TokenBucket(self.config.late_receipts_per_connection,
                                                               self.config.max_pending_receipts)
        wait = budget.take_one(now)
        if wait:
            return wait
        group = self._per_address[session.address][2]
        shared = self._late_per_address.get(group)
        if shared is None:
            shared = self._late_per_address[group] = TokenBucket(
                self.config.late_receipts_per_address, self.config.late_receipts_burst_per_address)
        wait = shared.take_one(now)
        if wait:  # the connection's floor may let it pass (then spent from it)
            floor = self._late_floor(session)
            if floor is not None and not floor.take_one(now):
                return 0.0
        return wait

    def _late_floor(self, session: ClientSession) -> TokenBucket | None:
        """The late receipts ``session`` may still send while its address's budget of them
        is spent (const.LATE_RECEIPTS_FLOOR_PER_CONNECTION), as the request rate's floor
        (:meth:`_floor`): None with a burst under one (no floor). Made at its first refusal
        by the address's budget; forgotten with the session."""
        if self.config.late_receipts_burst_floor_per_connection < 1.0:
            return None
        floor = self._late_floors.get(session)
        if floor is None:
            floor = self._late_floors[session] = TokenBucket(self.config.late_receipts_floor_per_connection,
                                                             self.config.late_receipts_burst_floor_per_connection)
        return floor

    def confirmation_refused(self, session: ClientSession, what: str) -> bool:
        """Spend one of ``session``'s late receipts' budgets (:meth:`_late_wait`, the floor
        included) for another confirmation that costs a store operation, such as an
        ``edit_receipt`` (server/afterdelivered.py): False if it may go on; else True, and it
        was answered ``rate_limited`` as a late receipt is, ``what`` naming it (plural)."""
        if not self._late_wait(session):
            return False
        self._late_over_budget(session, 1, what)
        return True

    def _late_over_budget(self, session: ClientSession, refused: int,
                          what: str = "receipts for messages not in flight") -> None:
        """Answer ``refused`` late receipts (or other confirmations of their budget: ``what``)
        of one frame over their budget: one error, one log line per address and interval.
        Their messages (or changes), if any were sent to this user, stay unconfirmed in the
        store and come again at the next login (PROTOCOL.md "Limits")."""
        now = time.monotonic()
        wait = self._late_budgets[session].wait(now)
        shared = self._late_per_address.get(self._per_address[session.address][2])
        if shared is not None:
            shared_wait = shared.wait(now)
            floor = self._late_floors.get(session) if shared_wait else None
            if floor is not None:  # the connection's floor may come first
                shared_wait = min(shared_wait, floor.wait(now))
            wait = max(wait, shared_wait)
        self.log_lines.log("late receipt{s} over the budget", session.address, logging.INFO,
                           "late receipts of %r over the budget: %d not done", session, refused)
        session.send(ErrorReply(ErrorCode.RATE_LIMITED, f"too many {what} ({refused} not done); try again in "
                                f"{wait_words(wait)}", None, retry_seconds(wait)))

    def _tell_sender(self, sender_key: str, outcomes: list[mailbox.StoredMessage]) -> None:
        """Tell the online sessions of ``sender_key`` how messages they sent ended.

        Messages an earlier holder of the sender's guest name sent are told to nobody (the
        name's new holder did not send them); they stay unacknowledged and are purged after
        twice the retention, like any outcome nobody acknowledged.
        """
        epoch = self.logins.guests.epoch(sender_key)
        outcomes = [m for m in outcomes if m.msg_id > epoch]
        if outcomes:
            self._tell_outcomes(self.registry.sessions(sender_key), outcomes)
            if self.peers.routes:
                for message in outcomes:
                    self.peers.tell(sender_key, message.msg_id, encode(_outcome(message)))

    def _tell_outcomes(self, sessions: list[ClientSession], outcomes: list[mailbox.StoredMessage]) -> None:
        """Tell ``sessions`` of a sender how messages they sent ended. Nothing is recorded:
        an outcome is told again at every login until the sender's client acknowledges it."""
        for message in outcomes:
            event = _outcome(message)
            for sender in sessions:
                sender.send(event)
            if self.peers.routes:
                self._outcome_told(message.sender_key, message.msg_id)

    def _restart_outcome_pages(self, session: ClientSession) -> None:
        """Tell ``session`` every outcome its user has not acknowledged, from the first page
        (at login, and again after a Redis break or a rejoin: relay.resync). Outcomes start
        after the session's epoch: what an earlier holder of a guest name sent is not this
        holder's to hear of. A fetch of earlier pages still under way is dropped
        (_page_outcomes checks that its pages are still the session's)."""
        self.outcome_pages[session] = OutcomePages(set(), cursor=session.epoch)
        self._page_outcomes(session)

    def _page_outcomes(self, session: ClientSession) -> None:
        """Fetch the next page of outcomes that ``session``'s user has not acknowledged
        and tell them to ``session`` (at login; then whenever half a page is acknowledged)."""
        pages = self.outcome_pages[session]
        pages.loading = True
        key, after, limit = session.key, pages.cursor, self.config.max_pending_receipts

        def fetched(outcomes: list[mailbox.StoredMessage]) -> None:
            pages.loading = False
            if session.closing or self.outcome_pages.get(session) is not pages:
                return
            pages.more = len(outcomes) == limit
            if outcomes:
                pages.cursor = outcomes[-1].msg_id
            pages.unacknowledged.update(message.msg_id for message in outcomes)
            self._tell_outcomes([session], outcomes)
            self._pages_done(session, pages)

        def not_fetched(failure: StoreUnavailable) -> None:
            pages.loading = False
            self.tell_when_recovered(session)

        self.store.outcomes_for_sender(key, after, limit, fetched, not_fetched)

    def _pages_done(self, session: ClientSession, pages: OutcomePages) -> None:
        """Fetch the next page if half of the last one was acknowledged; forget ``pages``
        once everything told from the store was."""
        if pages.loading:
            return
        if pages.more and len(pages.unacknowledged) <= self.config.max_pending_receipts // 2:
            self._page_outcomes(session)
        elif not pages.more and not pages.unacknowledged:
            del self.outcome_pages[session]

    def _ack(self, session: ClientSession, ack: OutcomeAck) -> None:
        budget = self._ack_budgets.get(session)  # (the budget's first try: see _acks)
        if budget is None or session in self.outcome_pages or not budget.take_held(1.0):
            if self._acks_over_budget(session, (ack.msg_id,)):
                return
        self._acknowledge(session, ack.msg_id)

    def _acks(self, session: ClientSession, acks: OutcomeAcks) -> None:
        """Feature batch_acks: exactly what an ack for each id, in order, would do (over
        the budget: none of them done, one answer for the frame)."""
        if self._batch_refused(session, acks):
            return
        msg_ids = acks.msg_ids
        # The budget's first try, here on every frame: an honest sender's frame spends the
        # tokens already counted, no call, clock or refill (1,100 instructions a message in
        # bench.inprocess --batch-acks, before); the first ack, the acks of a login's
        # outcome pages and a frame short of tokens are weighed by _acks_over_budget.
        budget = self._ack_budgets.get(session)
        if budget is None or session in self.outcome_pages or not budget.take_held(len(msg_ids)):
            if self._acks_over_budget(session, msg_ids):
                return
        # Each ack is weighed against the login's pages, or the earlier holding's ids refused.
        if session in self.outcome_pages or earlier_holding(session.epoch, min(msg_ids, default=0)):
            for msg_id in msg_ids:
                self._acknowledge(session, msg_id)
            return
        # No pages (nor will an ack make one): each ack is its record alone, submitted
        # here rather than by _acknowledge, a Python call fewer an ack (issue 9, round perfpy).
        record_ack, key, recorded = self.store.record_ack, session.key, self._bound_ack_recorded
        for msg_id in msg_ids:
            record_ack(msg_id, key, MethodType(recorded, (session, msg_id)))

    def _acks_over_budget(self, session: ClientSession, msg_ids: tuple[int, ...]) -> bool:
        """Spend one frame's acks of ``session``'s budget and its address's (const.ACKS_*),
        once for the frame, with the clock (an honest frame's first try, without it, is the caller's:
        _acks): each costs a store operation, and acks are not requests. False, or, over
        it, True: none of them done (their outcomes are told again at the next login),
        answered with one ``rate_limited``, logged once per address and interval."""
        cost = len(msg_ids)
        pages = self.outcome_pages.get(session)
        if pages is not None:  # outcomes told from the store at login: paced by the acks themselves
            cost -= len(pages.unacknowledged.intersection(msg_ids))
            if not cost:
                return False
        budget = self._ack_budgets.get(session)
        if budget is None:  # made by a take (take_held's condition), at the first ack
            group = self._per_address[session.address][2]
            shared = self._acks_per_address.get(group)
            if shared is None:
                shared = self._acks_per_address[group] = TokenBucket(*self.config.ack_address_budget)
            config = self.config  # and what it may still ack while its address's is spent (None: no floor)
            floor = (TokenBucket(config.acks_floor_per_connection, config.acks_burst_floor_per_connection)
                     if config.acks_burst_floor_per_connection >= 1.0 else None)
            budget = self._ack_budgets[session] = SharedBudget(TokenBucket(*config.ack_budget), shared, floor)
        wait = budget.take(time.monotonic(), float(cost))
        if not wait:
            return False
        self.log_lines.log("ack{s} over the budget", session.address, logging.INFO,
                           "acks of %r over the budget: %d not done", session, len(msg_ids))
        session.send(ErrorReply(ErrorCode.RATE_LIMITED, f"too many acks ({len(msg_ids)} not done); "
                                f"try again in {wait_words(wait)}", None, retry_seconds(wait)))
        return True

    def _acknowledge(self, session: ClientSession, msg_id: int) -> None:
        """The sender's client took in the outcome of its message ``msg_id``: stop telling it."""
        if earlier_holding(session.epoch, msg_id):  # sent by an earlier holder of this guest name
            self._ack_recorded((session, msg_id), False)  # as any id not sent by this user
            return
        # Submitted before any next page is fetched, so that page does not tell it again.
        # (A method object binding the pair, not a partial: see unavailable.)
        self.store.record_ack(msg_id, session.key, MethodType(self._bound_ack_recorded, (session, msg_id)))
        pages = self.outcome_pages.get(session)
        if pages is not None and msg_id in pages.unacknowledged:
            pages.unacknowledged.discard(msg_id)
            self._pages_done(session, pages)

    def _ack_recorded(self, ack: tuple[ClientSession, int], theirs: bool) -> None:
        """The store's answer to ``session``'s ack of ``msg_id``, ``ack`` being the pair
        (see _acknowledge)."""
        if not theirs:
            session, msg_id = ack
            session.send(ErrorReply(ErrorCode.UNKNOWN_MESSAGE, f"message {msg_id} was not sent by you"))

    def _requeue(self, session: ClientSession) -> None:
        """``session`` left with messages unconfirmed: they wait in the store for the next
        login (another online session of the same account still has them in flight)."""
        if not session.inflight:
            return
        still_online = self.registry.sessions(session.key)
        for msg_id in sorted(session.inflight):  # told in the order sent (a set's order is not)
            if any(other.inflight and msg_id in other.inflight for other in still_online):
                continue
            flight = self.inflight.pop(msg_id, None)
            if flight is None:
                continue
            if self.peers.routes:
                # A cluster: another device of the recipient, on a node this one's directory
                # does not show yet, may have confirmed it, its "settled" skipped here (it is
                # routed only where the directory shows a session: peers.settled). "queued"
                # only if the store still has it waiting, not after its "delivered".
                self.store.sent_under(flight.sender_key, flight.client_id, partial(self._requeued, flight),
                                      on_error=partial(self._requeued, flight, None))
            else:  # one server: its sessions were all asked above
                self._requeued(flight, None)
        session.inflight = None

    def _requeued(self, flight: mailbox.StoredMessage, stored: mailbox.StoredMessage | None,
                  _error: object = None) -> None:
        """Tell ``flight``'s sender it is queued (its recipient left without confirming
        it), unless ``stored`` (the store's answer, if it could be read) shows it
        delivered, expired, or replaced under its request id meanwhile."""
        if stored is not None and (stored.msg_id != flight.msg_id or stored.state not in mailbox.PENDING):
            return
        msg_id = flight.msg_id
        for sender in self.registry.sessions(flight.sender_key):
            sender.send(Queued(flight.client_id, msg_id))
        if self.peers.routes:
            self.peers.tell(flight.sender_key, msg_id, encode(Queued(flight.client_id, msg_id)))

    def expire(self, now: float) -> None:
        """Expire unconfirmed messages past their time, purge old history, forget guest
        names past their hold (periodic)."""
        retention = self.config.history_retention
        self.store.expire(now, self.announce_expired)
        # An outcome nobody acknowledged is kept a second retention period, then let go.
        self.store.purge(now - retention, now - 2 * retention)
        self.room_desk.expire(now)  # mutes that ended
        self.forget_guests(now)
        clock = time.monotonic()
        self.log_lines.sweep(clock)
        self.login_lines.sweep(clock)
        self.logout_lines.sweep(clock)
        self.logins.prune(clock)
        self.after.expire()
        self._per_address = {address: entry for address, entry in self._per_address.items()
                             if entry[0] > 0 or (entry[1] is not None
                                                 and entry[1].updated + entry[1].burst / entry[1].rate > clock)}
        groups = {entry[2] for entry in self._per_address.values()}
        self._per_group = _still_kept(self._per_group, groups, clock)
        self._late_per_address = _still_kept(self._late_per_address, groups, clock)
        self._acks_per_address = _still_kept(self._acks_per_address, groups, clock)

    def announce_expired(self, messages: list[mailbox.StoredMessage]) -> None:
        """``messages`` were just marked expired: forget them in flight, tell their senders."""
        self.metrics.direct_expired += len(messages)
        by_sender: dict[str, list[mailbox.StoredMessage]] = {}
        for message in messages:
            flight = self.inflight.pop(message.msg_id, None)
            if flight is not None:
                for recipient in self.registry.sessions(flight.recipient_key):
                    if recipient.inflight:
                        recipient.inflight.discard(message.msg_id)
                        if recipient.backlog_loading:
                            self._settled_during_fetch(recipient, message.msg_id)
            by_sender.setdefault(message.sender_key, []).append(message)
            if self.peers.routes and message.recipient_key:  # other nodes may have it in flight
                self.peers.settled(message.recipient_key, message.msg_id)
        for sender_key, outcomes in by_sender.items():
            self._tell_sender(sender_key, outcomes)

    # --- The room -----------------------------------------------------------------------

    def _send_room(self, session: ClientSession, request: SendRoom) -> None:
        if self.room_desk.say_refused(session, request.request_id, request.text):  # muted in the default room
            return
        self.say(session, request.request_id, request.text, time.time())

    def say(self, session: ClientSession, request_id: str, text: str, at: float) -> None:
        """Store ``session``'s message ``text`` to the default room (a ``say``, or a post
        to the default room by its name: roomdesk.py), sent at ``at``, and answer it. The
        store gives it its id; the peers store it (a cluster node puts it on the events
        stream in the same step: peers.py ``store_say``)."""
        message = mailbox.StoredMessage(0, session.name, session.key, None, None, text, at, request_id, "room")
        self.peers.store_say(self.store, message, lambda result: self._room_stored(session, result),
                             self.unavailable(session, request_id, "room_unavailable", sendorder.DEFAULT_ROOM))

    def _room_stored(self, session: ClientSession, result: tuple[mailbox.StoredMessage, str]) -> None:
        message, status = result
        if status == mailbox.ID_REUSED:
            self.id_reused(session, message)
            return
        session.send(Accepted(message.client_id, message.msg_id))
        if status != mailbox.NEW:
            return  # a resend: everyone already has it
        self.metrics.room_sent += 1
        if not self.peers.shares_room:  # else the events stream brings it to every node, this one too
            self.deliver_room(message)

    def deliver_room(self, message: mailbox.StoredMessage) -> None:
        """Write the stored room ``message`` to every session here that takes it."""
        frame = encode(RoomMessage(message.msg_id, message.sender, message.text, message.sent_at))
        if message.sender_key in self.presence.pending_keys:  # their "joined" (a cluster's) first
            self.presence.acts(message.sender_key)
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

    # --- When the store fails -----------------------------------------------------------

    # The store's callbacks that carry a request's own values are not closures: per message,
    # a closure (and the call that made it) cost about 1,900 instructions, a partial of the
    # class's function about 1,300 (issue 9, round twelve). Cheaper still is a method object
    # (types.MethodType) that binds a tuple of those values to a bound method of the relay:
    # about 800 with the tuple, a partial's argument tuple and empty keywords dict not made
    # (round fifteen). A partial stays where the callback is rare (_store_recovered).

    def unavailable(self, session: ClientSession, request_id: str, counter: str | None = None,
                     conversation: object = None) -> ErrorCallback:
        """The ``on_error`` of a request the store could not do: :meth:`_answer_unavailable`
        of these values (by :meth:`_unavailable_answered`). A message's ``conversation``
        (server/sendorder.py) then waits for it."""
        return MethodType(self._bound_unavailable, (session, request_id, counter, conversation))

    def read_unavailable(self, session: ClientSession, request_id: str) -> ErrorCallback:
        """The ``on_error`` of a request that only reads (a history or since page): it
        answers ``unavailable`` in a read's words (login.py unavailable_error)."""
        return partial(self._answer_read_unavailable, session, request_id)

    def _answer_read_unavailable(self, session: ClientSession, request_id: str, failure: StoreUnavailable) -> None:
        session.send(unavailable_error(self.config, request_id, reading=True))

    def _direct_unavailable(self, session: ClientSession, request: SendDirect, failure: StoreUnavailable) -> None:
        """The ``on_error`` of a direct message (see _send_direct): what
        ``unavailable(session, request_id, "direct_unavailable")`` would answer; its
        conversation waits for it (server/sendorder.py). One the store may have stored
        (``maybe_done``) is remembered (:meth:`_was_unsure`)."""
        request_id = request.request_id
        session.holds = sendorder.refused(session.holds, canonical(request.to), request_id, ErrorCode.UNAVAILABLE,
                                          self.config.unavailable_retry_after, time.monotonic())
        if failure.maybe_done and session.key is not None:
            unsure = self._unsure_sends
            unsure[(session.key, request_id)] = True
            if len(unsure) > _UNSURE_KEPT:
                del unsure[next(iter(unsure))]
        self._answer_unavailable(session, request_id, "direct_unavailable", failure)

    def _was_unsure(self, message: mailbox.StoredMessage) -> bool:
        """Whether the resent ``message`` was first answered ``unavailable`` with
        ``uncertain`` and stored after all: then no session here was ever forwarded it (the
        forward follows the store's answer, which never came), and its resend forwards it,
        once. Any other resend forwards nothing."""
        return self._unsure_sends.pop((message.sender_key, message.client_id), False)

    def _unavailable_answered(self, request: tuple[ClientSession, str, str | None, object],
                              failure: StoreUnavailable) -> None:
        """What :meth:`unavailable` binds: ``request`` is ``(session, request_id, counter,
        conversation)``."""
        session, request_id, counter, conversation = request
        if conversation is not None:
            session.holds = sendorder.refused(session.holds, conversation, request_id, ErrorCode.UNAVAILABLE,
                                              self.config.unavailable_retry_after, time.monotonic())
        self._answer_unavailable(session, request_id, counter, failure)

    def _answer_unavailable(self, session: ClientSession, request_id: str, counter: str | None,
                            failure: StoreUnavailable) -> None:
        """Answer the request ``unavailable``. (The store logs the failure once; answering
        is all that is left.) ``counter``: the attribute of ``self.metrics`` that counts
        such answers, if any."""
        if counter is not None:
            setattr(self.metrics, counter, getattr(self.metrics, counter) + 1)
        session.send(unavailable_error(self.config, request_id, failure))

    def _receipt_unrecorded(self, message: mailbox.StoredMessage, failure: StoreUnavailable) -> None:
        """The ``on_error`` of the record of ``message``'s receipt (:meth:`_confirm`, which
        binds the message in flight to it): :meth:`_keep_unrecorded` of its id and recipient."""
        self._keep_unrecorded(message.msg_id, message.recipient_key, failure)

    def _keep_unrecorded(self, msg_id: int, recipient_key: str, failure: StoreUnavailable) -> None:
        """The ``on_error`` of a receipt's record: keep it, to record it when the store
        works again. Meanwhile the message is still pending in the store, so if the
        server stops first it is delivered again at the next login (clients ignore a
        msg_id they have already shown, and confirm it again)."""
        self._unrecorded.append((msg_id, recipient_key))

    def tell_when_recovered(self, session: ClientSession) -> None:
        """The store could not fetch ``session``'s outcomes, or the changes of messages to
        it, for its login (or a resync, a page after acks): fetched again once the store
        works (:meth:`_store_recovered`), not only at its next login, so that a client
        that stays connected hears them."""
        if session in self.sessions:
            self._untold.add(session)

    def _holding_unsaved(self, key: str, holding: Holding, failure: StoreUnavailable) -> None:
        """The ``on_error`` of a guest holding's save (or its ``left_at``'s) after the welcome
        gave its token: unsaved, the token proves nothing to a restarted server or, in a
        cluster, to a node that re-reads Redis (the guest's own name refused, or taken anew
        with its queue). Kept to save again once the store works (_store_recovered)."""
        kept = self._unsaved_holdings
        kept.pop(key, None)
        kept[key] = holding
        if len(kept) > _UNSAVED_HOLDINGS_KEPT:
            del kept[next(iter(kept))]

    def _save_unsaved_holdings(self) -> None:
        """Save again the holdings the store failed to, each as this server has it now
        (its ``left_at`` too); one the name has moved on from here (taken by another
        holder, forgotten) is dropped: saving it would undo the newer one."""
        unsaved, self._unsaved_holdings = self._unsaved_holdings, {}
        holdings = self.logins.guests.holdings
        for key, holding in unsaved.items():
            if holdings.get(key) is holding:
                self.store.save_holding(key, holding, partial(Relay._holding_written, self, "saved again", holding),
                                        partial(self._holding_unsaved, key, holding))

    def _holding_written(self, what: str, holding: Holding, written: bool) -> None:
        """The store's answer to a write of a guest holding (``what``: saved, saved again at
        recovery, marked left or online): False when it kept a newer holding of the name
        (another node's guest took it before this node heard of it; the events stream brings
        that one here), or has none of this one yet (its own save failed: kept for the
        store's recovery, _holding_unsaved, which saves it as it is then). Said once, in
        the log, with which: the guest was already told (welcome, or gone)."""
        if not written:
            unsaved = self._unsaved_holdings.get(canonical(holding.name)) is holding
            log.info("the guest holding of %s was not %s: %s", holding.name, what,
                     "its own save has not reached Redis yet (saved again when the store works again)" if unsaved
                     else "another node's guest took the name since (Redis keeps theirs)")

    def _store_recovered(self) -> None:
        """The store works again: save the guest holdings and record the receipts it failed
        to, fetch the messages waiting for sessions whose fetch failed, and tell again what
        could not be told."""
        if self._unsaved_holdings:
            self._save_unsaved_holdings()
        unrecorded, self._unrecorded = self._unrecorded, []
        for msg_id, recipient_key in unrecorded:
            self.store.record_receipt(msg_id, recipient_key, on_error=partial(Relay._keep_unrecorded, self, msg_id,
                                                                              recipient_key))
        for session in list(self.sessions):
            if session.backlog and not session.backlog_loading and session.key and not session.closing:
                self._refill(session)
        untold, self._untold = self._untold, set()
        for session in untold:
            if session.key and not session.closing:
                self._tell_again(session)

    # --- From the other nodes of a cluster (server/cluster/node.py calls these) ----------

    def cluster_joined(self, key: str, name: str, since: float) -> None:
        """User ``key`` came online on some node (this one included): tell whom presence.py says."""
        # (And to the members here of their rooms: presence.told, below.)
        self.presence.announce(UserJoined(name, since), len(self.sessions), key, len(self.directory))

    def cluster_left(self, key: str, name: str, reason: str, at: float) -> None:
        """User ``key``'s last session, on some node, ended."""
        # Counted with the one who leaves, as the join was: a room at the limit stays quiet.
        self.presence.announce(UserLeft(name, reason, at), len(self.sessions), key, len(self.directory) + 1)

    def resync(self, missed_since: float) -> None:
        """Redis answers again after a break, or this node claimed its users' names again
        after it was judged gone: what was routed meanwhile (from ``missed_since`` on,
        wall-clock time) may not have come (messages to them, the outcomes of theirs and
        the edits of messages to them, routed to nobody while they counted as offline, or
        by a call that failed), so every session fetches what waits for it from the store,
        and is told the rest again (:meth:`_tell_again`). An outcome another device of the
        user acknowledged meanwhile is no longer told at all: a session that asked for the
        feature catch_up is told :class:`CatchUp`, and its client asks the history of the
        conversations it waits in (those its messages sent here wait in are asked below)."""
        catch_up = CatchUp()
        for session in self.sessions:
            if session.key and not session.closing:
                session.backlog = True
                if session in self.catch_up:  # first: a client's catch-up then holds the changes told below
                    session.send(catch_up)
                self._tell_again(session, missed_since)
        for sender_key, msg_id, request_id in self.awaiting.all():
            self.store.sent_under(sender_key, request_id, partial(self._awaited, sender_key, msg_id),
                                  on_error=_ignore_error)
        self._store_recovered()

    def _awaited(self, sender_key: str, msg_id: int, stored: mailbox.StoredMessage | None) -> None:
        """The store's answer for message ``msg_id`` of ``sender_key``, whose outcome this
        node had not seen at a resync (server/awaiting.py): told to the sender's sessions
        here if it ended, kept if it still waits; forgotten if it is gone or its request id
        now names another message (a hand-over)."""
        if stored is None or stored.msg_id != msg_id:
            self.awaiting.told(sender_key, msg_id)
        elif stored.state not in mailbox.PENDING and stored.state not in mailbox.BLOCKED_STATES:
            if msg_id > self.logins.guests.epoch(sender_key):  # see _tell_sender
                self._tell_outcomes(self.registry.sessions(sender_key), [stored])
            self.awaiting.told(sender_key, msg_id)

    # --- Leaving and errors -------------------------------------------------------------

    def _goodbye(self, session: ClientSession, goodbye: Goodbye) -> None:
        self._close_answered(session, "quit")

    def _stream_ended(self, session: ClientSession, closed: ConnectionClosed) -> None:
        self._close_answered(session, session.leave_reason)

    def _close_answered(self, session: ClientSession, reason: str) -> None:
        """The client said bye or closed its writing side: answer what it sent before, then
        close (PROTOCOL.md, "Session"). The answers still to come wait for the store (a
        send's accepted, once stored); a read submitted now is answered after every
        operation submitted before it (stores/base.py: callbacks in submission order), so
        its answer says they are out. Only on this path: nothing is counted per message.
        The user leaves now (the others hear it, a guest's name is held as after any
        leaving, a new login is not refused for it): only the connection waits, carrying
        the answers out. A session not logged in has nothing stored to wait for (a hello
        being decided holds reading, so no bye is read meanwhile)."""
        if session.key is None or session.closing:
            session.close(reason)
            return
        key = session.key
        if self.peers.routes:
            session.close_when_answered(reason, partial(self._cluster_answered, key, ANSWER_STEPS))
        else:
            session.close_when_answered(reason, lambda done: self.store.sent_under(key, "", done, done))
        self.disconnected(session, None)  # (connection_lost's call then finds it gone)

    def _cluster_answered(self, key: str, steps: int, done: Callable[..., None]) -> None:
        """A cluster's wait for a closing session's last answers (_close_answered): a
        request's answer there may wait for Redis through the node as well as through the
        store, one after the other (a send: the name's lookup, the store, its route). So
        the store's read, then the node's (peers.answered: after everything it asked),
        ``steps`` times over, then ``done()``; within the session's bound all the same."""
        def after_store(*_result: object) -> None:
            self.peers.answered(after_node)

        def after_node() -> None:
            if steps > 1:
                self._cluster_answered(key, steps - 1, done)
            else:
                done()

        self.store.sent_under(key, "", after_store, after_store)

    def _rejected(self, session: ClientSession, rejected: FrameRejected) -> None:
        self.log_lines.log("malformed frame{s}", session.address, logging.WARNING, "bad frame from %r: %s: %s",
                           session, rejected.code, rejected.message)
        if rejected.code == ErrorCode.TRUNCATED_FRAME:
            return  # the stream has ended: there is nobody left to tell
        session.send(ErrorReply(rejected.code, rejected.message, rejected.request_id, field=rejected.field,
                                max_chars=rejected.max_chars, max_bytes=rejected.max_bytes))
        session.bad_frames += 1
        if session.bad_frames >= self.config.max_bad_frames:
            self._refuse(session, ErrorCode.TOO_MANY_ERRORS,
                         f"{session.bad_frames} malformed frames in a row; closing the connection",
                         reason=const.TOO_MANY_ERRORS_REASON)

    def _ignore(self, session: ClientSession, event: Event) -> None:
        pass

    def _pong(self, session: ClientSession, ping: Ping) -> None:
        # The core queued the pong as it read the ping: written now, it goes out in its
        # place, before the answers to the frames behind the ping (a bye's too).
        session.write_pongs()

    # --- Shutdown -----------------------------------------------------------------------

    def shut_down(self, reason: str) -> None:
        """Say goodbye to every client and close every connection."""
        self.presence.flush()
        self.log_lines.flush()
        self.room_desk.log_lines.flush()
        self.login_lines.flush()
        self.logout_lines.flush()
        for session in list(self.sessions):
            if session.conn.may_send(Goodbye):  # not after the client's own bye
                session.send(Goodbye(reason))
            session.close(const.SHUTDOWN_REASON)
