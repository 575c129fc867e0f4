"""The chat client's session rules, with no socket, thread or clock (sans-I/O).

:class:`ClientCore` is to :class:`~client.library.ChatClient` what websockets'
``Protocol`` is to its threaded ``ClientConnection``: the shell moves bytes and time in,
and takes events, bytes and deadlines out. Every rule about a session that outlives its
connections lives here, once: request matching, resending with the same ids, duplicate
suppression, reconciling after a reconnection, outcome acks, throttled retries, heartbeats,
watch lists, and which failures are worth a reconnection. The shell (one lock around
every call) does the rest: sockets, the receiver thread, waiting, and handing events to the
application after releasing the lock.

The contract, for a shell::

    attempt = LoginAttempt(hello, tls)            # one per TCP connection
    write(attempt.data_to_send())
    while (welcome := attempt.step(where)) is None:   # raises LoginRefused/ServerUnreachable
        attempt.receive_data(read())
    resent = core.open(attempt.conn, welcome, now, reconnected)
    write(core.data_to_send())
    loop:
        items = core.next_events()    # None: feed more bytes (core.receive_data(data, now))
        write(core.data_to_send())
        hand items to the application (lock released), then core.handed_on()
        at core.next_deadline(): core.handle_timeout(now)
        when core.broken: drop the connection, core.connection_lost() ...
    ... if core.may_reconnect(): for server, delay in failover(...): log in again, core.open(...)
    ... else core.end() -> MessageUpdates for the application, then ConnectionClosed

Times are seconds on any monotonic clock the shell likes (the same one for every call).
The threaded shell's counts a sleep of the computer (client/clock.py): the heartbeat's
silence then includes the sleep, so a connection that died meanwhile is given up at once.

Exactly once, sending side. Every message the server has not acknowledged yet (state
``sending``) stays in ``outgoing``, in the order it was sent. After a reconnection they
are written again (paced: see "Refused for now"), in that order and with the SAME request ids: the server recognises a
resend and answers with the message's current state, so nothing is stored or delivered
twice. Messages typed while disconnected wait in the same order (at most
``max_waiting``; beyond that ``submit`` fails it with ``queue_full``) and go out right after.
A message the server acknowledged (``sent``, ``queued``) is never written again; its
tracker stays open for ``delivered`` or ``expired``. The server tells that outcome again
at every login until the client acknowledges it (``OutcomeAck``): the client does so once
the outcome is in the tracker and its MessageUpdate was handed to the application (or, for
a message this object never sent, once the event itself was), with the other acks of the
same read, or at the latest in :meth:`ClientCore.close` before its Goodbye; a repeat of an outcome it
already has is acknowledged again but not handed on twice. After
a reconnection the client also asks the conversation history of each peer with such
messages and settles the trackers whose messages it shows ``delivered`` or ``expired``
(a fallback for servers that tell an outcome only once, and what tells this object an
outcome another session of the user acknowledged while it was away: the server tells no
one again). A history refused for now is asked again after the wait (RECONCILE_RETRY).

Refused for now. A message answered ``rate_limited`` or ``unavailable`` stays ``sending``
(no MessageUpdate) and is written again, with the same request id and in order, or right
after a reconnection: one mechanism (``_throttled``, :meth:`ClientCore._pace`) for both.
The answer holds back ALL the session's sends: those refused, and those sent meanwhile
(``_held``: after them, in order), until its ``retry_after`` (bounded to
:data:`THROTTLE_WAIT`) has passed. The first hold after sends went through is that wait;
each one more that follows without a message taken in between doubles it, times a
random factor in :data:`JITTER` (never below the server's wait), up to
:data:`THROTTLE_MAX_DELAY`. Then they go out paced, not in one burst: at most
``window`` written and not answered yet, one after a hold, one more for each taken
(up to :data:`PACE_WINDOW`), so a server that refuses every one of them sees at most one
frame per hold. (All at once, the server's answers to a full disk's 150 queued messages
were ~590 refusals a second.) A reconnection's resends go by the same rule, without a
hold and with a first window of :data:`RESEND_WINDOW` (the usual one or three at once,
150 after a full disk's episode no longer in one burst). Answers to frames of the same burst lengthen the hold to
their own wait, not the backoff. ``unavailable`` may carry ``uncertain`` (PROTOCOL.md): the server could not tell
whether it stored the message; the resend, under the same id, settles it (``accepted`` or
``queued`` with the original msg_id if it had been stored; stored now otherwise), so it is
never stored twice. Rate limits are retried while the session lasts (the server's bucket
refills); ``unavailable`` at most :data:`UNAVAILABLE_ATTEMPTS` answers per message, across
reconnections: the last fails the message, as ``unavailable`` (the server said nothing
was done: true of every attempt, since a stored earlier attempt would have been
recognised) or, if any answer was ``uncertain``, as ``unconfirmed`` (LocalError: it may
or may not have been stored). The messages waiting so are those of ``outgoing``, bounded
as ever. What the front ends' status says of it comes from these answers alone: a
:class:`~client.events.ServerUnavailable` with the wait at each new hold an ``unavailable``
answer starts (or the first such answer in a hold), and ``ServerUnavailable(None)`` once a
message is taken again or no message refused ``unavailable`` is left to write again (the
last given up); a new connection starts afresh (the shells say reconnecting meanwhile).

Request ids. Each object draws 128 random bits once and numbers its requests after them,
so ids never repeat across objects, runs or machines in practice: the server refuses a
different message under a used id (``id_reused``) and would take a repeat for a resend.

Exactly once, receiving side. The msg_ids of the last ``seen_limit`` direct messages
handed to the application are remembered: a message the server sends again (because our
receipt was lost with a connection) is confirmed again but not handed on a second time.

Changes (feature ``edits``). An ``edited`` or ``deleted`` older than the change handed on
last for its message (by ``at``, which grows with each change: PROTOCOL.md, "`edited`,
`deleted`, `edit_receipt`"), or an edit of a message handed on as deleted, is confirmed
but not handed on: a cluster may tell a change late, after a newer one (a route tried
again), and the reader must keep reading the latest. The ``ok`` of our own edit or delete
counts as its change (it says when it was stamped). The last ``seen_limit`` messages'
changes are remembered.

Receipts. A ``DirectMessage`` is acknowledged with a ``Receipt`` only after it was handed
to the application (the shell calls :meth:`ClientCore.handed_on`): a client that crashes
before that leaves the message unconfirmed, as it should.
With the feature ``batch_acks`` (asked in the shell's hello, turned on by the welcome) the
receipts of one read's messages are gathered as each is handed on and go at the end of
that read, before its acks, as one ``receipt`` and one ``ack`` with ``msg_ids`` (one id
alone: the single form); never later than the end of handling that read.

Read marks (feature ``read``, :meth:`ClientCore.mark_read`). A mark is cumulative per
conversation (PROTOCOL.md), so only the newest one matters and the core writes at most
one ``read`` per conversation (a peer, or a named room) each :data:`READ_INTERVAL`
seconds, carrying the newest id asked for: the marks asked while the events of one read
are handed on go together at its end, and a mark asked within the interval of the last
one written waits for the interval's end (:meth:`ClientCore.next_deadline` names it). So
a backlog of 80 messages shown one by one costs a few frames, not 80 against the
server's request rate, and a later message still gets its mark within the interval.
A ``rate_limited`` error without a request id answers a frame sent without expecting an
answer (a ``read`` or ``typing``; PROTOCOL.md): it is never handed on (the user asked
for nothing). The marks written in the last :data:`READ_RETRY_WINDOW` seconds are written
again after its ``retry_after`` (a newer mark of the same conversation supersedes one);
a refused ``typing`` is not (the next one comes within ``TYPING_INTERVAL`` anyway). Marks
not written when a connection ends go on the next one.

Liveness. The server pings a silent client, and the protocol core answers by itself. In the other
direction, if nothing arrives for ``heartbeat_interval`` seconds the client pings the
server, and after ``heartbeat_timeout`` seconds of silence it declares the connection lost
(``broken``; a server host that vanished without closing the connection would otherwise
leave the shell's read blocked forever); the shell then reconnects if allowed.

Versions and rooms. The hello offers the newest protocol version this client speaks
(``const.PROTOCOL_VERSION``; 2 has named rooms). A server that does not speak it answers
``unsupported_version`` and closes: :meth:`ClientCore.fall_back` then lowers the offer by
one and the shell logs in again on a new connection (the lowered offer is kept for the
reconnections of this object, so a version-1 server costs one extra round trip per
``connect``, not per reconnection). The welcome's ``version`` is what the session speaks
(``ClientCore.version``); a session at version 1 has no rooms, and a message to a named
room fails locally with ``unsupported_version`` rather than being written. Room messages
(``OutgoingMessage.room``) are tracked, resent with their ids and deduplicated like the
default room's; a ``RoomPost`` seen before (same ``msg_id``) is not handed on twice.

Events (what ``next_events`` returns for the application) are those of the protocol, minus
the answers matched to a request of this client: answers about a tracked message become one
:class:`~client.outgoing.MessageUpdate`; answers to requests go to their :class:`Pending`.
An answer that comes after its caller stopped waiting (:meth:`ClientCore.stop_waiting`) is
late, not unmatched: it is never handed on as the server's word (a late ``ok`` or error
is no news to an application that was told the request timed out), and what it says of
the client's own state is applied (the shell's ``late``: a ``register`` made, a password
changed, which it tells as an ``AnsweredLate``; the core's own: an edit's or a delete's
``ok``, the latest change of that message). Any event type this module does not know is
handed on as it is.
"""

from __future__ import annotations

import itertools
import logging
import random
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import const
from protocol import (
    CARBONS,
    EDITS,
    READ,
    RESUME,
    SINCE_FEATURE,
    BLOCKS_FEATURE,
    CATCH_UP,
    TYPING,
    Accepted,
    CatchUp,
    Connection,
    ConnectionClosed,
    Delete,
    Deleted,
    Delivered,
    DirectMessage,
    Done,
    Edit,
    Edited,
    EditReceipt,
    ErrorCode,
    ErrorReply,
    Event,
    Revoke,
    FrameRejected,
    Goodbye,
    Hello,
    HistoryPage,
    HistoryRequest,
    OutcomeAck,
    Ping,
    Pong,
    Queued,
    Receipt,
    Role,
    RoomPost,
    SendDirect,
    SendRoom,
    SendToRoom,
    Settings,
    State,
    Watch,
    Watching,
    Welcome,
)
from protocol import BATCH_ACKS, OutcomeAcks, Receipts  # feature batch_acks (issue 9)
from protocol import Read, RoomRead  # read marks (feature read), coalesced here
from protocol import LeaveRoom, RoomNotice  # a room left: its mark waiting is moot (ClientCore.request)
from protocol import RoomDeleted, RoomEdited  # changes of room posts, ordered here as a dm's
from protocol.codec import MAX_HISTORY_PAGE, MAX_IDS_PER_FRAME, MAX_INTEGER, WATCH_PART, encode
from i18n import _
from registry import canonical
from shared.plural import counted

from .credential import AccountCredential
from .display import WRITE_FAILED, explain_error, explain_refusal, login_refused_words
from .events import ServerUnavailable
from .errors import CertificateError, LocalError, LoginInterrupted, LoginRefused, ServerUnreachable
from .outgoing import DELIVERED, FAILED, QUEUED, SENDING, SENT, Failure, MessageUpdate, OutgoingMessage
from .serverclock import SERVER_CLOCK
from .serverwindow import SERVER_WINDOW
from .servers import told_apart

_log = logging.getLogger(__name__)

# Reconnection backoff: the first wait, and the longest (seconds).
RECONNECT_DELAY = 0.5
RECONNECT_MAX_DELAY = 30.0
# A session that ended sooner than this after its login is a short one: after two or more in
# a row, each reconnection's backoff begins one wait longer than the last one began with
# (ClientCore.backoff_start), rather than at the first. Otherwise a server (or a network
# path) that accepts a login and then fails had every client log in again twice a second,
# for as long as it kept failing. (One short session alone changes nothing: a blip.)
STABLE_SESSION = 10.0
# Each wait is the nominal one times a random factor in this range, so that many clients
# cut off together do not come back in lockstep.
JITTER = (0.8, 1.2)
# Messages that may wait in the client for the connection to come back.
MAX_WAITING = 1000
# Incoming direct messages whose msg_id is remembered, to show each one only once.
SEEN_LIMIT = 10_000
# Request ids of finished messages remembered, so late or repeated answers stay quiet.
FINISHED_LIMIT = 10_000
# History asked per peer when settling trackers after a reconnection: this many full
# pages worth of messages (a page of long messages holds fewer).
RECONCILE_PAGES = 4
# Such a history refused for now (``unavailable``, ``rate_limited``) is asked again after
# the server's wait, and at least this many seconds, doubled each time in a row, up to
# THROTTLE_MAX_DELAY, while the session lasts: another session of ours may have
# acknowledged the outcome, and then nothing else will ever tell it.
RECONCILE_RETRY = 1.0
# ``unavailable`` answers to one message before it fails (the first send and this many
# minus one resends): with the server's usual retry_after of 5 s, doubled by the backoff
# while the store keeps failing (5, 10, 20, 30, 30 s), about a minute and a half of trying.
UNAVAILABLE_ATTEMPTS = 6
# Bounds of the server's wait before throttled messages are written again (seconds): at
# least a tenth of a second (what the server says at least: server/limits.py), at most a
# minute of an absurd value from the wire.
THROTTLE_WAIT = (0.1, 60.0)
# The longest hold the backoff makes of repeated rate_limited / unavailable answers.
THROTTLE_MAX_DELAY = 30.0
# Resends after a hold, written and not answered yet, at most (see the module docstring).
PACE_WINDOW = 8
# The same after a reconnection, at first: a typical one has 1-3 messages to write again,
# which go at once; more go paced (one more for each taken, up to PACE_WINDOW).
RESEND_WINDOW = 4
# Read marks: at most one per conversation this often (seconds; see the module docstring).
# The server's request rate is 30 a second (const.RATE_PER_CONNECTION) for everything.
READ_INTERVAL = 1.0
# The acts of a room notice that take us out of the room when they name us: a mark of the
# room still waiting is dropped then (ClientCore.next_events).
_OUT_OF_ROOM = ("kick", "ban", "left")
# After a rate_limited without request id, the marks written this recently (seconds) are
# written again: the refusal may be of any of them, and one written again at or below the
# server's mark changes nothing there. Long enough for a slow link's round trip.
READ_RETRY_WINDOW = 10.0


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """What a refused login means, for every front end: ``field`` is what the user should
    change (``"name"``, ``"password"``, or None: neither, wait or ask the operator);
    ``retry`` whether a reconnection tries again (waiting may cure it); ``account``
    whether it is about the password or the account (the terminal's exit status 6,
    ``AUTH_FAILED``, rather than 4)."""

    field: str | None
    retry: bool
    account: bool


# The one table of login refusals (the window focuses `field`, the terminal picks its exit
# status from `account`, the reconnect loop reads `retry`). A code not listed: none of them.
LOGIN_OUTCOMES: dict[str, LoginOutcome] = {
    ErrorCode.NAME_TAKEN: LoginOutcome("name", retry=True, account=False),
    ErrorCode.INVALID_NAME: LoginOutcome("name", retry=False, account=False),
    ErrorCode.CONFUSABLE_NAME: LoginOutcome("name", retry=False, account=False),
    ErrorCode.ACCOUNT_EXISTS: LoginOutcome("name", retry=False, account=True),
    ErrorCode.AUTH_REQUIRED: LoginOutcome("password", retry=False, account=True),
    ErrorCode.BAD_PASSWORD: LoginOutcome("password", retry=False, account=True),
    ErrorCode.WEAK_PASSWORD: LoginOutcome("password", retry=False, account=True),
    ErrorCode.ACCOUNTS_REQUIRED: LoginOutcome(None, retry=False, account=True),
    ErrorCode.RATE_LIMITED: LoginOutcome(None, retry=True, account=True),
    ErrorCode.SERVER_FULL: LoginOutcome(None, retry=True, account=False),
    ErrorCode.TOO_MANY_CONNECTIONS: LoginOutcome(None, retry=True, account=False),
    ErrorCode.UNSUPPORTED_VERSION: LoginOutcome(None, retry=False, account=False),
    # The server's store (its disk, or a cluster's Redis) failed: it serves again by itself.
    ErrorCode.UNAVAILABLE: LoginOutcome(None, retry=True, account=False),
}
_NO_OUTCOME = LoginOutcome(None, retry=False, account=False)

# A refused password change: the dialog's field to fix, where the cursor goes ("old": the
# current password was wrong; "new": the server's rule refused the new one). The page reads
# it from its catalogue (python3 -m i18n web). A code not listed: neither.
PASSWORD_CHANGE_FIELDS: dict[str, str] = {
    ErrorCode.BAD_PASSWORD: "old",
    ErrorCode.WEAK_PASSWORD: "new",
}


def login_outcome(code: str) -> LoginOutcome:
    """The :class:`LoginOutcome` of refusal ``code`` (unknown codes: nothing to change, no
    retry, not about the account)."""
    return LOGIN_OUTCOMES.get(code, _NO_OUTCOME)


# Login refusals that waiting may cure: tried again with backoff while reconnecting.
RETRY_LOGIN = frozenset(code for code, outcome in LOGIN_OUTCOMES.items() if outcome.retry)
# The server checks reason fields against this many characters (codec._MAX_SHORT_TEXT).
MAX_REASON_CHARS = 256
# Errors without id with which the server signs a session out (PROTOCOL.md "password"): the
# password it logged in with no longer holds, so no reconnection tries it again; the front
# ends ask for the new one (ClientCore.signed_out).
SIGNED_OUT = frozenset({ErrorCode.PASSWORD_RESET, ErrorCode.PASSWORD_CHANGED})
# Refusals that say "not now": a message after one is written again (see the module
# docstring), and a request nobody waits for (reconciling, a catch-up) is asked again
# after the wait.
REFUSED_FOR_NOW = frozenset({ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE})


# --- Reconnecting: pure generators and one verdict --------------------------------------


def backoff(initial: float = RECONNECT_DELAY, maximum: float = RECONNECT_MAX_DELAY, factor: float = 2.0,
            jitter: tuple[float, float] = JITTER,
            uniform: Callable[[float, float], float] = random.uniform, start: int = 0) -> Iterator[float]:
    """The waits before reconnection attempts 1, 2, 3...: ``initial`` times ``factor`` per
    attempt, capped at ``maximum``, each times a random factor in ``jitter`` (and capped
    again); ``start``: as if that many attempts had been made already
    (:meth:`ClientCore.backoff_start`). Endless; pass ``uniform`` to make it deterministic."""
    maximum = max(initial, maximum)
    for attempt in itertools.count(start):
        nominal = min(maximum, initial * factor ** min(attempt, 32))
        yield min(maximum, nominal * uniform(*jitter))


def failover(servers: Sequence[tuple[str, int]], current: int, delays: Iterator[float],
             leaving: bool = False, spread: int = 0) -> Iterator[tuple[int, float]]:
    """(index of the server to try, wait before trying) for each reconnection attempt.

    The servers are tried in turn, starting with ``current`` (the one just lost: a
    restart is the commonest cause), then the others round the list, from the one
    ``spread`` places after ``current``'s next (modulo their number: each user's own,
    :func:`client.servers.spread_start`, so that the users of a lost server do not all
    go to the same one); the wait grows once per round, not per server, so that a client
    whose server is gone reaches the next one after the first wait. With one server this
    is ``delays`` itself.

    ``leaving``: ``current`` said goodbye (it stops: a node of a cluster restarted in
    turn, PROTOCOL.md "Shutdown"), so the others come first, in the same order, without a
    wait, each once; then the rounds as above.
    """
    count = max(1, len(servers))
    others = [(current + 1 + (spread + step) % (count - 1)) % count for step in range(count - 1)]
    if leaving:
        for index in others:
            yield index, 0.0
    for round_delay in delays:
        yield current % count, round_delay
        for index in others:
            yield index, round_delay


def retry_verdict(error: Exception) -> tuple[bool, float]:
    """Whether a failed reconnection attempt is worth another one, and the least wait the
    server asked for. Refusals that waiting cannot cure (``bad_password``, ``invalid_name``,
    an unverifiable certificate...) are final; an unreachable server and a busy name are
    not."""
    if isinstance(error, LoginRefused):
        return error.code in RETRY_LOGIN, error.retry_after or 0.0
    if isinstance(error, CertificateError):
        return False, 0.0
    return isinstance(error, ServerUnreachable), 0.0


def reconnection_failed(error: LoginRefused | ServerUnreachable, name: str, servers: Sequence[tuple[str, int]],
                        index: int) -> tuple[bool, float, str]:
    """After a reconnection attempt on ``servers[index]`` failed with ``error``: whether to
    try again and the least wait (:func:`retry_verdict`), and what to say, one rule for the
    threaded and the asyncio client: if again, the reason the next Reconnecting line gives
    (a refusal in the user's words, naming the server where the list holds look-alikes);
    if not, the reason the session ends with (ClientCore.give_up)."""
    again, floor = retry_verdict(error)
    refused = isinstance(error, LoginRefused)
    if again:
        return True, floor, (login_refused_words(error, name, told_apart(servers, index), retrying=True) if refused
                             else str(error))
    return False, floor, f"could not log in again: {error.message} ({error.code})" if refused else str(error)


FIRST_LOGIN_RETRY, FIRST_LOGIN_NEXT, FIRST_LOGIN_FAIL = "retry", "next", "fail"
# Longest rate_limited wait a first login sits through before raising it (seconds): the
# server's password-check budget when a class logs in at once behind one address (a
# school's NAT), or its throttle after a wrong password. A longer wait is said at once.
MAX_LOGIN_WAIT = 10.0
# How long in all a first connect() given no deadline of its own sits through such waits:
# a bot started with its classmates logs in a moment later instead of dying at once.
LOGIN_PATIENCE = 30.0


def login_wait(error: Exception, now: float, until: float) -> float | None:
    """The seconds a first login waits before asking the same server again after
    ``error``: a ``rate_limited`` refusal's ``retry_after``, if it is at most
    MAX_LOGIN_WAIT and over before ``until`` (a ``time.monotonic()`` deadline, as
    ``now``); else None, and the error is the answer. Every front end (the library's
    connect, the asyncio client's, :func:`client.auth.log_in`) waits by this one rule."""
    if isinstance(error, LoginRefused) and error.code == ErrorCode.RATE_LIMITED \
            and error.retry_after is not None and error.retry_after <= MAX_LOGIN_WAIT \
            and now + error.retry_after < until:
        return error.retry_after
    return None


def first_login_verdict(error: Exception, untried: int) -> str:
    """What a first login (``connect()``) does after ``error``, ``untried`` servers of the
    list not tried yet in this round: ``"retry"`` (the connection was cut during the login,
    a fault on the way: again with backoff, if the caller allows it), ``"next"`` (this
    server cannot be reached: the next one at once) or ``"fail"`` (an answer, not a fault:
    refusals, a certificate, every server tried)."""
    if isinstance(error, LoginInterrupted):
        return FIRST_LOGIN_RETRY
    if isinstance(error, ServerUnreachable) and not isinstance(error, CertificateError) and untried > 0:
        return FIRST_LOGIN_NEXT
    return FIRST_LOGIN_FAIL


# --- Logging in ---------------------------------------------------------------------------


class LoginAttempt:
    """One hello on one fresh connection, up to the Welcome (sans-I/O).

    ``data_to_send()`` has the hello at first; feed what the server sends with
    ``receive_data`` and call ``step`` until it returns the Welcome. ``conn`` (the
    protocol state) then goes to :meth:`ClientCore.open`, with whatever the server sent
    after the Welcome still in it. ``tls``: the connection is wrapped in TLS.
    """

    def __init__(self, hello: Hello, tls: bool = False) -> None:
        self.conn = Connection(Role.CLIENT)
        self.hello = hello
        self.tls = tls
        self._outbox = self.conn.send(hello)  # ValueError: a field that cannot be encoded
        self._at_eof = False
        self._heard = False  # a frame came from the server

    def receive_data(self, data: bytes) -> None:
        """Bytes from the server; ``b""`` when it closed the stream."""
        self._at_eof = not data
        self.conn.receive_data(data)

    def data_to_send(self) -> bytes:
        """Bytes for the server (the hello, pongs), and forget them."""
        data, self._outbox = self._outbox + self.conn.data_to_send(), b""
        return data

    def step(self, where: str) -> Welcome | None:
        """The Welcome once it came; None while more bytes are needed. Raises
        :class:`LoginRefused` (the server's refusal: the server's time it says, a kept
        name's, goes to client/serverclock.py, as no welcome will say it) or
        :class:`ServerUnreachable` (the session ended, or the peer does not speak this
        protocol)."""
        while True:
            event = self.conn.next_event()
            if event is None:
                if self._at_eof:  # decided here, whether or not the core reports the end
                    raise ServerUnreachable(self._closed(where))
                return None
            if isinstance(event, ConnectionClosed):
                raise ServerUnreachable(self._closed(where))
            self._heard = True
            if isinstance(event, Welcome):
                return event
            if isinstance(event, ErrorReply):
                SERVER_CLOCK.heard(event.now)
                raise LoginRefused(event.code, event.message, event.retry_after, event.like, bool(event.uncertain),
                                   until=event.until, field=event.field, max_chars=event.max_chars,
                                   max_bytes=event.max_bytes, reserved=bool(event.reserved))
            if isinstance(event, Goodbye):
                raise ServerUnreachable(_("{where} ended the session during the login: {why}").format(
                    where=where, why=event.reason or _("no reason given")))
            if isinstance(event, FrameRejected):  # (the codec's words are a developer's: not said)
                raise ServerUnreachable(_("{where} does not speak this chat protocol: what it answered is not the "
                                          "chat's (is it the web client's port, or another program's? the chat uses "
                                          "port {port} unless the server says another)").format(
                    where=where, port=const.SERVER_PORT))
            # A Ping was answered by the protocol core (data_to_send); a Pong needs nothing.

    def _closed(self, where: str) -> str:
        """The words for a connection the server closed during the login. Closed before
        any frame, without TLS, it may be a TLS server: one closes so on plain text."""
        if self._heard or self.tls:
            return _("{where} closed the connection during the login").format(where=where)
        return _("{where} closed the connection during the login, before answering (if it is a TLS server, "
                 "connect with --tls)").format(where=where)


# --- Requests -----------------------------------------------------------------------------


class Pending:
    """A request waiting for the answer with its request id: a caller of the shell (who,
    lookup, history...) or, with ``callback``, the core itself (the callback returns the
    events to hand on). ``wake`` (set by the shell) is called once the answer or the error
    is in; it must not block."""

    __slots__ = ("request_id", "expect", "answered", "answer", "error", "callback", "wake", "change", "late")

    def __init__(self, request_id: str, expect: type[Event],
                 callback: Callable[[Event], list[Event]] | None = None) -> None:
        self.request_id = request_id
        self.expect = expect
        self.answered = False
        self.answer: Event | None = None
        self.error: str | None = None  # why no answer will come (the connection ended)
        self.callback = callback
        self.wake: Callable[[], None] | None = None
        # An edit's or a delete's (msg_id, deleted): its ok says when the change was
        # stamped, which a change told later is held to (ClientCore._is_latest_change).
        self.change: tuple[int, bool] | None = None
        # What an answer that comes after the caller stopped waiting does (ClientCore.stop_waiting).
        self.late: Callable[[Event], list[Event]] | None = None

    def _settle(self, answer: Event | None, error: str | None = None) -> None:
        self.answer, self.error, self.answered = answer, error, True
        if self.wake is not None:
            self.wake()


def late_change(shown_at: float | None, shown_deleted: bool, at: float | None, deleted: bool) -> bool:
    """Whether a change (a delete, or an edit) stamped ``at`` comes after a newer one of a
    message shown as changed at ``shown_at`` (deleted or not): an edit of a deleted
    message, or an ``at`` before the shown one (PROTOCOL.md, "`edited`, `deleted`,
    `edit_receipt`"; None: a time not known, which orders nothing). The page's
    ``lateChange`` states the same rule."""
    if shown_deleted:
        return not deleted
    return at is not None and shown_at is not None and at < shown_at


def outcome_of(event: Event | None) -> int | None:
    """The msg_id whose outcome ``event`` tells (``delivered``, or the ``expired`` error),
    else None."""
    if isinstance(event, Delivered):
        return event.msg_id
    if isinstance(event, ErrorReply) and event.code == ErrorCode.EXPIRED:
        return event.msg_id
    return None


def _send_event(message: OutgoingMessage) -> SendDirect | SendRoom | SendToRoom:
    """The frame that sends ``message`` (again: always with its first request id)."""
    if message.to is not None:
        return SendDirect(message.request_id, message.to, message.text)
    if message.room is not None:
        return SendToRoom(message.request_id, message.room, message.text)
    return SendRoom(message.request_id, message.text)


# The first protocol version with named rooms (protocol.events.JoinRoom.SINCE).
ROOMS_VERSION = 2


def is_default_room(room: str) -> bool:
    """True if ``room`` names the default room (``const.DEFAULT_ROOM``, any case): a
    message there is a plain ``say``, which every version speaks."""
    return canonical(room.removeprefix("#")) == canonical(const.DEFAULT_ROOM.removeprefix("#"))


# --- The session --------------------------------------------------------------------------


class ClientCore:
    """The rules of one chat session across its connections (see the module docstring).

    Not thread-safe: the shell calls it under one lock. Nothing here blocks, reads a
    clock or touches a socket; every method that may produce bytes leaves them in the
    outbox (:meth:`data_to_send`).

    Lifecycle flags: ``alive`` (from the first Welcome to the final end), ``closing``
    (the application asked to close), ``ending`` (the session may not be restored: a
    login refused for good, the server signing the session out (``signed_out``: its password
    was reset or changed elsewhere) or, unless ``reconnect_on_goodbye``, the server's goodbye),
    ``broken`` (the current connection is unusable and the shell must drop it: heartbeat
    silence, a write that failed, the end of the stream). ``close_reason`` says in words
    why the last connection ended; the first cause found is kept.
    """

    def __init__(self, *, reconnect: bool = True, reconnect_on_goodbye: bool = False,
                 heartbeat_interval: float | None = None, heartbeat_timeout: float = const.HEARTBEAT_TIMEOUT,
                 max_waiting: int = MAX_WAITING, seen_limit: int = SEEN_LIMIT,
                 uniform: Callable[[float, float], float] = random.uniform) -> None:
        self.reconnect = reconnect
        self.reconnect_on_goodbye = reconnect_on_goodbye
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.max_waiting = max_waiting
        self.seen_limit = seen_limit
        self.conn: Connection | None = None
        self.name: str | None = None  # the name of the last hello (whose edits we confirm)
        self.alive = False
        self.closing = False
        self.ending = False
        self.broken = False
        self.goodbye: Goodbye | None = None  # the server's, on the current connection
        # The code of the error with which the server signed this session out (SIGNED_OUT:
        # the password was reset or changed elsewhere), or None.
        self.signed_out: str | None = None
        # The account's resume credential: reconnections log in with it, not the password.
        self.credential = AccountCredential()
        self.close_reason = ""
        self.ping_after = const.HEARTBEAT_INTERVAL
        self._outbox: list[bytes] = []
        # request_id -> tracker, for messages not yet in a final state, in sending order.
        self.outgoing: dict[str, OutgoingMessage] = {}
        # request_id -> pending request (a waiting caller, or the core's own).
        self._replies: dict[str, Pending] = {}
        # request_id -> request whose caller stopped waiting, on the current connection (the
        # server answers on the connection a request came on), oldest first: its answer,
        # if it comes, is late (stop_waiting), not unmatched.
        self._given_up: dict[str, Pending] = {}
        # Request ids of recently finished messages (a dict used as an ordered set).
        self._finished: dict[str, None] = {}
        # msg_ids of direct messages handed to the application, oldest first.
        self.seen: dict[int, None] = {}
        # msg_id -> (at, deleted) of the latest change handed on (see _is_latest_change).
        self._changed: dict[int, tuple[float, bool]] = {}
        # msg_ids of outcomes to acknowledge (see _acknowledge).
        self._acks_due: list[int] = []
        # With the feature batch_acks (the welcome said so): receipts are gathered here as
        # the direct messages are handed on, and go with the acks in one frame each way
        # at the end of the read (see _acknowledge); without it each goes at once.
        self._batch_acks = False
        # With the feature since (the welcome said so): after a reconnection the shells ask
        # for every conversation's messages after the last id had (library.since_page).
        self.since = False
        self._receipts_due: list[int] = []
        # msg_ids of outcomes handed on for messages this object did not send, oldest first.
        self._outcomes_seen: dict[int, None] = {}
        # The protocol version the next hello offers (lowered by fall_back), and the one the
        # current (or last) session speaks, from its welcome.
        self.offer = const.PROTOCOL_VERSION
        self.version = 1
        # msg_ids of room posts (named rooms) handed on, oldest first: a post the server
        # sends again (missed messages at login overlapping live ones) is shown once.
        self.seen_posts: dict[int, None] = {}
        # The highest msg_id of a named room's message handed on (None: none yet), told in
        # every later hello (room_seen): the server sends what came after it first, so posts
        # lost with a connection come back (TCP delivers a session's posts in id order).
        self.room_seen: int | None = None
        # The last session's welcome: the server's clock then (ms) and ours (None: no session
        # yet, or a server that does not say its time). With _last_received it tells until
        # when, on the server's clock, that session was heard (the hello's last_heard).
        self._welcomed_at: tuple[int, float] | None = None
        # This user's read receipts switch as the server keeps it (None: the session has no
        # read receipts): the welcome's, then what this client set (the library's
        # set_read_receipts) or the server told (see _switch). While False no read or typing
        # is sent: the server would refuse it.
        self.read_receipts: bool | None = None
        # MessageUpdates decided while opening a session, handed on by next_events first.
        self._early: list[Event] = []
        # Names watched (canonical -> as given): watched again on every new session, since
        # the server ends a session's subscriptions with it.
        self.watched: dict[str, str] = {}
        # 128 random bits keep ids apart between client objects and runs (the server keeps
        # ids for months, and a --send script makes a new object every run); the counter
        # keeps them apart within this object.
        self._id_prefix = secrets.token_hex(16)
        self._ids = itertools.count(1)
        self._now = 0.0
        self._last_received = 0.0
        self._last_ping = 0.0
        # Throttling (see the module docstring): until when every send is held back (None:
        # no hold); holds in a row without a message taken (the backoff's exponent);
        # whether held messages remain to be written, paced; how many may be written and
        # unanswered; the request ids of those written so and not answered yet.
        self._retry_at: float | None = None
        self._holds = 0
        # When the current session's login succeeded (None: none yet), and how many sessions
        # in a row ended sooner than STABLE_SESSION after theirs, the last included (backoff_start).
        self._opened_at: float | None = None
        self._flaps = 0
        self._pacing = False
        self._window = 1
        self._paced: set[str] = set()
        # A ServerUnavailable with a wait was handed on, and no ServerUnavailable(None) since.
        self._unavailable_told = False
        self._uniform = uniform  # the jitter's random factor (tests pass a fixed one)
        # What to do once the application has the events of the last wire event.
        self._after: tuple[Connection, Event, bool] | None = None
        # Read marks (see the module docstring), per conversation key (("dm", peer) or
        # ("room", room), canonical): the newest asked for and not written yet; the last
        # written on this connection and when; and until when none is written (a refusal).
        self._reads_due: dict[tuple[str, str], Read | RoomRead] = {}
        self._reads_sent: dict[tuple[str, str], tuple[float, Read | RoomRead]] = {}
        self._reads_hold: float | None = None
        # Reconciling refused for now (see RECONCILE_RETRY): the peers to ask again
        # (canonical -> as given), when, and the refusals in a row.
        self._reconcile_again: dict[str, str] = {}
        self._reconcile_at: float | None = None
        self._reconcile_refusals = 0

    # --- Ids, bytes, time -------------------------------------------------------------------

    def new_request_id(self) -> str:
        """A request id never used by this object (nor, in practice, by any other).
        next() on itertools.count is atomic under the GIL, so a shell may call this
        without its lock."""
        return f"{self._id_prefix}-{next(self._ids)}"

    def data_to_send(self) -> bytes:
        """The bytes to write to the current connection, and forget them."""
        if not self._outbox:
            return b""
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    def tell(self, event: Event) -> bool:
        """Queue ``event``, a frame without an answer (read, typing), for the current
        connection; False if there is none open, or its session's version has no such
        frame (a room's, at version 1): it is not kept for later."""
        if self.conn is not None and not self.conn.may_send(type(event)):
            return False
        return self._send(event)

    def _send(self, event: Event) -> bool:
        """Queue ``event`` for the current connection; False if there is none open."""
        if self.conn is None or self.conn.state is not State.OPEN or self.broken:
            return False
        self._outbox.append(self.conn.send(event))
        return True

    def receive_data(self, data: bytes, now: float) -> None:
        """Bytes read from the current connection at time ``now``; ``b""`` when the
        server closed the stream (the events still buffered come out first)."""
        self._now = now
        if data:
            self._last_received = now
        else:
            self.set_reason(_("the server closed the connection"))
        if self.conn is not None:
            self.conn.receive_data(data)

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` is due next (None: nothing timed is pending)."""
        if self.conn is None or self.broken:
            return None
        due = [self._last_received + self.heartbeat_timeout]
        if self.conn.state is State.OPEN and not self.closing:
            due.append(max(self._last_received, self._last_ping) + self.ping_after)
        if self._retry_at is not None:
            due.append(self._retry_at)
        if self._reconcile_at is not None:
            due.append(self._reconcile_at)
        reads = self._reads_deadline()
        if reads is not None:
            due.append(reads)
        return min(due)

    def handle_timeout(self, now: float) -> None:
        """Time passed: write throttled messages again when their wait is over, ping a
        silent server, and after ``heartbeat_timeout`` seconds of silence declare the
        connection ``broken`` (a host that vanished without closing would otherwise leave
        the shell's read blocked forever)."""
        self._now = now
        if self.conn is None or self.broken:
            return
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._pace()
        if self._reconcile_at is not None and now >= self._reconcile_at:
            self._reconcile(self._reconcile_again)
        self._write_reads()
        # Compared as next_deadline() adds them up: "now - then >= interval" can be false to
        # the last bit at the very deadline it named, and a shell would call again and again.
        silent = now - self._last_received
        if now >= self._last_received + self.heartbeat_timeout:
            self.set_reason(_("no data from the server for {seconds} s").format(seconds=f"{silent:.0f}"))
            self.broken = True
            return
        if (now >= max(self._last_received, self._last_ping) + self.ping_after
                and self.conn.state is State.OPEN and not self.closing):
            self._last_ping = now
            self._send(Ping(f"c{int(now)}"))

    def write_failed(self, reason: str) -> None:
        """The shell could not write to the current connection: it is unusable (a
        timeout may have left half a frame on the wire)."""
        self.set_reason(_(WRITE_FAILED).format(why=reason))
        self.broken = True

    def set_reason(self, reason: str) -> None:
        """Record why the connection ends; the first cause found is the one kept."""
        if not self.close_reason:
            self.close_reason = reason

    # --- Sessions ---------------------------------------------------------------------------

    def hello(self, name: str, password: str | None, register: bool, resume: str | None,
              now: float | None = None) -> Hello:
        """The hello for a new login, with a fresh request id, offering ``self.offer`` (the
        newest version, lowered by :meth:`fall_back`). It asks for carbons (copies of what
        our other sessions send come as Carbon events, handed on like any other, their
        outcomes like those of an earlier run's messages), for read receipts, typing and
        edits (their events are handed on; an edit or delete of a message to us is
        confirmed once handed on: :meth:`handed_on`), for batch_acks (the receipts and
        acks of one read go as one frame each way), and for since (after a reconnection,
        every conversation's messages after the last id had, :attr:`since`), and for blocks (a
        block or unblock made on another device comes as a Blocked or Unblocked event,
        handed on). At version 2 it tells ``room_seen``,
        the highest named room post handed on (none yet: left out), so that the server
        sends first what a broken connection lost (PROTOCOL.md, "Room messages cut
        mid-stream"). After a session it tells ``last_heard``, until when that session was
        heard on the server's clock, so that the server tells the edits and deletes made
        since of those posts and of the user's direct messages, which another session of
        the user may have taken in meanwhile (PROTOCOL.md, "Changes a device missed"). And it asks for an account's resume credential, which it sends in
        place of ``password`` once it holds one (client/credential.py has the rule; ``now``,
        default the core's last time, tells whether it is still young enough)."""
        if password is not None and len(password) > const.MAX_PASSWORD_CHARS:
            # Not sent: the server would refuse it bad_field (in words the page and the
            # terminal would say the same way); said here, in the user's language.
            raise LoginRefused(ErrorCode.BAD_FIELD, explain_error(ErrorCode.BAD_FIELD, "", field="password",
                                                                  max_chars=const.MAX_PASSWORD_CHARS), local=True)
        self.name = name
        password, resume = self.credential.for_hello(name, password, register, resume,
                                                     self._now if now is None else now)
        room_seen = self.room_seen if self.offer >= ROOMS_VERSION else None
        return Hello(self.new_request_id(), name, self.offer, password, bool(register), resume,
                     (CARBONS, READ, TYPING, EDITS, BATCH_ACKS, SINCE_FEATURE, BLOCKS_FEATURE, RESUME, CATCH_UP),
                     room_seen, self._heard_until())

    def _heard_until(self) -> int | None:
        """When the server sent the last bytes this client read of its last session, on
        the server's clock (ms) as its welcome said it, moved on by our clock since (the
        shell's, which does not step): off by as much as the network's delay varies,
        which the server allows for (const.LAST_HEARD_MARGIN). None if no welcome said
        the time. (Within the wire's integers: a server's absurd clock must not make the
        next hello one that servers refuse.)"""
        if self._welcomed_at is None:
            return None
        server_ms, at = self._welcomed_at
        return min(MAX_INTEGER, max(0, server_ms + int((self._last_received - at) * 1000)))

    def fall_back(self, code: str) -> bool:
        """A login was refused with ``code``. If it is ``unsupported_version`` and an older
        version is left to offer, lower the offer by one and return True: the shell logs
        in again on a new connection (the server closed this one). Otherwise False: the
        refusal stands. So too if the hello carried the account's resume credential and
        was told ``auth_required``: it is forgotten, and the next hello has the password."""
        if self.credential.refused(code):
            return True
        if code != ErrorCode.UNSUPPORTED_VERSION or self.offer <= 1:
            return False
        self.offer -= 1
        _log.info("the server does not speak protocol version %d; offering %d", self.offer + 1, self.offer)
        return True

    @property
    def rooms(self) -> bool:
        """True if the session speaks a version with named rooms."""
        return self.version >= ROOMS_VERSION

    def rooms_problem(self) -> str | None:
        """Why a room request cannot be made in this session, in words, or None."""
        if self.rooms:
            return None
        return (f"this server speaks chat protocol version {self.version}, which has no rooms "
                "(only the default room)")

    def open(self, conn: Connection, welcome: Welcome, now: float, reconnected: bool) -> int:
        """A login succeeded on ``conn``: make it the current connection. After a
        reconnection also write again (same ids, same order) every message the server has
        not acknowledged, ask the history that settles trackers whose outcome may have been
        lost, and watch again what was watched. Returns how many messages were written
        again."""
        self.conn = conn
        self._now = self._last_received = self._last_ping = self._opened_at = now
        SERVER_CLOCK.heard(welcome.now)  # the server's time, for the waits it gives
        self._welcomed_at = None if welcome.now is None else (welcome.now, now)
        SERVER_WINDOW.heard(welcome.edit_window)  # and how long it lets a message be changed
        self.alive = True
        self.ending = self.broken = False
        self.goodbye = None
        self.signed_out = None
        self.close_reason = ""
        self._end_hold()
        self._unavailable_told = False  # a new session: its answers will tell
        self._after = None
        self.version = welcome.version
        self.credential.welcomed(welcome, now)
        self.read_receipts = welcome.read_receipts
        self._batch_acks = BATCH_ACKS in (welcome.features or ())
        self.since = SINCE_FEATURE in (welcome.features or ())
        self._receipts_due = []  # of the last connection: its server sends them again
        # A new connection has a new request budget; marks not written yet go on it.
        self._reads_sent.clear()
        self._reads_hold = None
        # The server's interval unless the shell chose one; never an absurd value from the wire.
        self.ping_after = self.heartbeat_interval or (welcome.heartbeat if 0 < welcome.heartbeat < 86400 else 0) \
            or const.HEARTBEAT_INTERVAL
        self._write_reads()
        if not reconnected:
            return 0
        resent = self._resend()
        self._reconcile()
        self._ask_watch(tuple(self.watched.values()))
        return resent

    def usable(self) -> str | None:
        """Why nothing can be sent now, in words, or None if it can."""
        if self.conn is None or self.broken:
            if self.may_reconnect():
                return f"not connected to the server (reconnecting: {self.close_reason or 'connection lost'})"
            return f"not connected to the server ({self.close_reason})" if self.close_reason else \
                "not connected to the server"
        if self.closing:
            return "the client is closing the connection"
        if self.conn.state is not State.OPEN:
            return f"the session has ended ({self.close_reason or 'the server said goodbye'})"
        return None

    def backoff_start(self, now: float) -> int:
        """Where the backoff of the reconnection starting ``now`` begins (:func:`backoff`'s
        ``start``): the sessions shorter than STABLE_SESSION in a row before the one that
        just ended, if it was short too, else 0; so logins to a server that fails soon after
        each are spaced as its failed attempts are. Call once per reconnection."""
        lasted = None if self._opened_at is None else now - self._opened_at
        self._flaps = self._flaps + 1 if lasted is not None and lasted < STABLE_SESSION else 0
        return min(max(self._flaps - 1, 0), 32)

    def may_reconnect(self) -> bool:
        """True if a lost connection is (or would be) restored."""
        return self.reconnect and self.alive and not self.closing and not self.ending

    def connection_lost(self) -> list[Pending]:
        """The current connection is gone. Returns the requests of waiting callers, which
        cannot get their answer from another connection: the shell wakes them (their
        ``error`` says why)."""
        self.conn = None
        self.broken = False
        self._outbox.clear()
        self._after = None
        self._end_hold()  # a reconnection resends throttled and held messages anyway
        self._reconcile_again, self._reconcile_at = {}, None  # and reconciles every peer
        for message in self.outgoing.values():
            message._held = False  # waiting for the connection now, like those typed meanwhile
        reason = self.close_reason or _("the connection ended")
        waiting = [p for p in self._replies.values() if p.callback is None]
        self._replies.clear()
        self._given_up.clear()  # no answer comes on another connection
        for pending in waiting:
            pending._settle(None, _("the connection was lost before the answer came ({why})").format(why=reason))
        return waiting

    def give_up(self, reason: str) -> None:
        """No more reconnection attempts (a final refusal, or too many attempts)."""
        self.ending = True
        self.close_reason = reason

    def close(self, reason: str) -> bool:
        """The application ends the session: acknowledge the outcomes due and queue the
        Goodbye if the connection is open, after a ``revoke`` of the account's resume
        credential (it lives in memory only, so nobody can use it again: the server need
        not keep it for its 30 days). Returns False if it was closing already."""
        if self.closing:
            return False
        self.closing = True
        self.set_reason(_("closed by this client"))
        if self.conn is not None and self.conn.state is State.OPEN and not self.broken:
            self._acknowledge()  # outcomes a waiter may have read from a tracker
            if self.credential.secret is not None:
                self._send(Revoke(self.new_request_id(), self.credential.secret))
            self._send(Goodbye(reason[:MAX_REASON_CHARS]))
        self.credential.forget()
        return True

    def end(self) -> tuple[list[Event], list[Pending]]:
        """The session is over for good: fail every unfinished message (connection_lost)
        and every waiting request. Returns the MessageUpdates to hand on (then the shell
        delivers ConnectionClosed) and the requests whose callers to wake."""
        self.alive = False
        self.set_reason(_("the connection ended"))
        self.conn = None
        self._end_hold()
        reason = self.close_reason
        unfinished = list(self.outgoing.values())
        for message in unfinished:
            self._retire(message)
        waiting = [p for p in self._replies.values() if p.callback is None]
        self._replies.clear()
        self._given_up.clear()
        for pending in waiting:
            pending._settle(None, _("the connection ended before the answer came ({why})").format(why=reason))
        updates, self._early = self._early, []
        for message in unfinished:
            if message.state in (SENT, QUEUED):
                what = _("the connection ended before delivery was confirmed (the server has it as message {id} "
                         "and will still deliver it) ({why})").format(id=message.msg_id, why=reason)
            elif message.submitted:
                what = _("the connection ended before the server acknowledged the message ({why})").format(why=reason)
            else:
                what = _("the connection ended before the message could be sent ({why})").format(why=reason)
            if message._fail(LocalError.CONNECTION_LOST, what):
                updates.append(MessageUpdate(message, message.state, message.error))
        return updates, waiting

    # --- Sending ----------------------------------------------------------------------------

    def submit(self, message: OutgoingMessage) -> None:
        """Send ``message``, or keep it for the next session while reconnecting, or fail
        it (``message.state`` and ``message.submitted`` say which)."""
        if message.room is not None and self.conn is not None and not self.rooms:
            # A version-1 session would refuse the frame (unknown_type); say why here.
            message._fail(ErrorCode.UNSUPPORTED_VERSION, self.rooms_problem() or "")
            return
        if len(message.text) > const.MAX_TEXT_CHARS:
            # The server would refuse it too; saying so here costs no round trip.
            message._fail(ErrorCode.MESSAGE_TOO_LARGE, f"the text is {len(message.text)} characters long; "
                                                       f"the limit is {const.MAX_TEXT_CHARS}")
            return
        try:
            size = len(encode(_send_event(message)))
        except ValueError:
            # Lone surrogates (e.g. from undecodable input) cannot be encoded as UTF-8.
            message._fail(ErrorCode.BAD_FIELD, "the text contains characters that cannot be sent")
            return
        if size > const.MAX_FRAME_BYTES:
            message._fail(ErrorCode.MESSAGE_TOO_LARGE, f"the message is {size} bytes long encoded; "
                                                       f"the limit is {const.MAX_FRAME_BYTES}")
            return
        problem = self.usable()
        if problem is not None:
            if not self.may_reconnect():
                message._fail(LocalError.NOT_CONNECTED, problem)
                return
            waiting = sum(1 for m in self.outgoing.values() if m.waiting)
            if waiting >= self.max_waiting:
                message._fail(LocalError.QUEUE_FULL, f"{waiting} messages are already waiting for the "
                                                     "connection to come back")
                return
            self.outgoing[message.request_id] = message  # written by _resend(), in this order
            return
        # Registered before writing, so an answer that comes back at once finds it.
        self.outgoing[message.request_id] = message
        if self._pacing:  # held back, behind the messages the server asked to wait
            message._held = True
            self._pace()
            return
        self._send(_send_event(message))
        message.submitted = True

    def withdraw(self, message: OutgoingMessage) -> None:
        """The write of ``message`` failed and no reconnection will resend it: fail it now
        (reported through the tracker only, as for any failure inside ``send_*``)."""
        if self.outgoing.pop(message.request_id, None) is not None:
            message.submitted = False
            message._fail(LocalError.CONNECTION_LOST, f"could not send: {self.close_reason}")

    def request(self, event: Event, expect: type[Event],
                callback: Callable[[Event], list[Event]] | None = None) -> Pending:
        """Queue request ``event``; its answer (``expect``, or an ErrorReply) goes to the
        returned :class:`Pending`. Raises ValueError if the event cannot be encoded. The
        caller checked :meth:`usable` first."""
        request_id = event.request_id  # type: ignore[attr-defined]
        pending = Pending(request_id, expect, callback)
        if isinstance(event, (Edit, Delete)):
            pending.change = (event.msg_id, isinstance(event, Delete))
        elif isinstance(event, LeaveRoom):
            # A mark of the room waiting for its interval would follow the leave, and be
            # refused (not_member, with no request id to match): the user is gone from it.
            self._reads_due.pop(("room", canonical(event.room_name)), None)
        assert self.conn is not None
        data = self.conn.send(event)
        self._replies[request_id] = pending
        self._outbox.append(data)
        return pending

    def forget(self, pending: Pending) -> None:
        """``pending``'s request could not be written (the connection broke): no answer comes."""
        self._replies.pop(pending.request_id, None)

    def stop_waiting(self, pending: Pending, late: Callable[[Event], list[Event]] | None = None) -> None:
        """The caller of ``pending``'s request, written, stopped waiting (its time was up):
        the server may still answer, late. Such an answer is recognised, and never handed
        on as an unmatched one: ``late(answer)`` (called under the shell's lock, on the
        thread that reads, like every core call) applies what it says to the shell's own
        state (a name registered after all) and returns the events to hand on; without
        ``late`` it is dropped (logged). Remembered while the connection lasts (the answer
        cannot come on another), the last :data:`FINISHED_LIMIT`. Nothing if it was
        answered meanwhile, or the connection ended."""
        if self._replies.pop(pending.request_id, None) is None:
            return
        pending.late = late
        self._given_up[pending.request_id] = pending
        if len(self._given_up) > FINISHED_LIMIT:
            del self._given_up[next(iter(self._given_up))]

    # --- Watching ---------------------------------------------------------------------------

    def watch_soon(self, names: Iterable[str]) -> None:
        """Watch the names not watched yet, without a waiting caller: each answer is handed
        on as an event. While disconnected they are kept and watched once back."""
        new = {canonical(name): name for name in names if canonical(name) not in self.watched}
        if not new:
            return
        self.watched.update(new)
        if self.usable() is None:
            self._ask_watch(tuple(new.values()))

    def _ask_watch(self, names: tuple[str, ...]) -> None:
        for start in range(0, len(names), WATCH_PART):  # (parts whose answer always fits)
            part = names[start:start + WATCH_PART]
            self._ask(Watch(self.new_request_id(), part), Watching,
                      lambda answer, part=part: self._watch_answered(answer, part))

    def _watch_answered(self, answer: Event, names: tuple[str, ...]) -> list[Event]:
        """The answer to a watch nobody waits for: hand it on, or if it was refused (too
        many watched, rate limited) log it and forget those names."""
        if isinstance(answer, Watching):
            return [answer]
        _log.warning("could not watch %s: %s", counted(len(names), "name{s}"), getattr(answer, "message", answer))
        for name in names:
            self.watched.pop(canonical(name), None)
        return []

    def _ask(self, event: Event, expect: type[Event], callback: Callable[[Event], list[Event]]) -> None:
        """Send a request whose answer goes to ``callback`` (best effort)."""
        if self.conn is None or self.conn.state is not State.OPEN or self.broken:
            return
        self.request(event, expect, callback)

    # --- Resending, throttling, reconciling -------------------------------------------------

    def _resend(self) -> int:
        """Write again every message the server has not acknowledged, in order, with its
        original request id (on a fresh connection), paced by the rule of a hold's end
        (:meth:`_pace`) but starting with a window of :data:`RESEND_WINDOW`: the first few
        go at once, the rest as answers come (150 queued messages written in one burst were
        answered mostly ``rate_limited``); return how many. A message to a named room fails
        instead if the new session has no rooms (a server of an older version)."""
        count = 0
        for message in list(self.outgoing.values()):
            if message.state != SENDING:
                continue
            if message.room is not None and not self.rooms:
                if message._fail(ErrorCode.UNSUPPORTED_VERSION, self.rooms_problem() or ""):
                    self._early.append(MessageUpdate(message, message.state, message.error))
                self._retire(message)
                continue
            message._throttled, message._held = False, True  # written by _pace, in this order
            count += 1
        if count:
            self._pacing, self._window = True, RESEND_WINDOW
            self._pace()
        return count

    def _throttle(self, retry_after: float | None) -> None:
        """A message was refused for now (``rate_limited``, ``unavailable``) with
        ``retry_after``: hold every send back (see the module docstring). A refusal while a
        hold is on (the rest of the same burst) lengthens it to its own wait; one after it
        starts a new hold, longer by the backoff unless a message was taken in between."""
        wait = min(max(retry_after or 1.0, THROTTLE_WAIT[0]), THROTTLE_WAIT[1])
        self._pacing, self._window = True, 1
        if self._retry_at is not None:
            self._retry_at = max(self._retry_at, self._now + wait)
            return
        self._holds += 1
        if self._holds > 1:
            nominal = min(THROTTLE_MAX_DELAY, wait * 2.0 ** min(self._holds - 1, 32))
            wait = max(wait, min(THROTTLE_MAX_DELAY, nominal * self._uniform(*JITTER)))
        self._retry_at = self._now + wait

    def _pace(self) -> None:
        """Unless a hold is on, write held messages (refused, or sent meanwhile) in order,
        with their ids, up to ``window`` written and not answered; pacing ends once none is
        held."""
        if not self._pacing or self._retry_at is not None or self.usable() is not None:
            return
        for message in list(self.outgoing.values()):
            if message.state != SENDING or not (message._throttled or message._held):
                continue
            if len(self._paced) >= self._window:
                return  # the next goes when an answer comes
            message._throttled = message._held = False
            self._send(_send_event(message))
            message.submitted = True
            self._paced.add(message.request_id)
        self._pacing = False

    def _end_hold(self) -> None:
        """No hold or pacing across connections: a new one starts its own (:meth:`_resend`)."""
        self._retry_at = None
        self._pacing, self._window = False, 1
        self._paced.clear()

    def _reconcile(self, only: dict[str, str] | None = None) -> None:
        """Ask the history of each peer that has acknowledged, unfinished messages from us
        (``only``: of those peers, by canonical name): a ``delivered`` or ``expired`` frame
        may have been lost with the old connection, or gone to another session of ours."""
        self._reconcile_again, self._reconcile_at = {}, None
        oldest: dict[str, tuple[str, int]] = {}  # canonical peer -> (peer, oldest open msg_id)
        for message in self.outgoing.values():
            if message.to is not None and message.state in (SENT, QUEUED) and message.msg_id is not None:
                key = canonical(message.to)
                if only is not None and key not in only:
                    continue
                if key not in oldest or message.msg_id < oldest[key][1]:
                    oldest[key] = (message.to, message.msg_id)
        for peer, first in oldest.values():
            self._ask_history(peer, first, None, RECONCILE_PAGES * MAX_HISTORY_PAGE)

    def _reconcile_refused(self, answer: Event, peer: str) -> None:
        """A history :meth:`_reconcile` asked was refused: for now (``unavailable``,
        ``rate_limited``), asked again after the wait (RECONCILE_RETRY); otherwise the
        live frames will have to do."""
        if not isinstance(answer, ErrorReply) or answer.code not in REFUSED_FOR_NOW:
            return
        asked = min(max(answer.retry_after or 0.0, THROTTLE_WAIT[0]), THROTTLE_WAIT[1])
        wait = max(asked, min(THROTTLE_MAX_DELAY, RECONCILE_RETRY * 2 ** self._reconcile_refusals))
        self._reconcile_refusals += 1
        self._reconcile_again[canonical(peer)] = peer
        at = self._now + wait
        self._reconcile_at = at if self._reconcile_at is None else min(self._reconcile_at, at)

    def _ask_history(self, peer: str, first: int, before: int | None, budget: int) -> None:
        request = HistoryRequest(self.new_request_id(), peer, MAX_HISTORY_PAGE, before)
        self._ask(request, HistoryPage, lambda answer: self._settle(answer, peer, first, budget))

    def _settle(self, answer: Event, peer: str, first: int, budget: int) -> list[Event]:
        """Apply a history page to our open trackers; ask the next page if the oldest open
        message is older than this page and fewer than ``budget`` messages have been looked
        at (counted in messages, not pages: the server cuts a page of long messages short
        to keep it within one frame)."""
        if not isinstance(answer, HistoryPage):
            self._reconcile_refused(answer, peer)
            return []
        self._reconcile_refusals = 0
        by_id = {m.msg_id: m for m in self.outgoing.values() if m.msg_id is not None and m.to is not None}
        updates: list[Event] = []
        for entry in answer.messages:
            message = by_id.get(entry.msg_id)
            if message is None:
                continue
            if entry.state == DELIVERED:
                changed = message._advance(DELIVERED)
            elif entry.state == "expired":
                changed = message._advance(FAILED, error=(ErrorCode.EXPIRED, f"message {entry.msg_id} expired "
                                                                              "before it was delivered"))
            else:
                continue
            if changed:
                updates.append(MessageUpdate(message, message.state, message.error))
            if message.done:
                self._retire(message)
        budget -= len(answer.messages)
        if answer.before is not None and budget > 0 and answer.messages and answer.messages[0].msg_id > first:
            self._ask_history(peer, first, answer.before, budget)
        return updates

    def _retire(self, message: OutgoingMessage) -> None:
        """``message`` is final: forget its tracker, remember its id."""
        self.outgoing.pop(message.request_id, None)
        self._finished[message.request_id] = None
        if len(self._finished) > FINISHED_LIMIT:
            del self._finished[next(iter(self._finished))]

    # --- Read marks -------------------------------------------------------------------------

    def mark_read(self, event: Read | RoomRead, now: float) -> None:
        """This user has seen a conversation up to ``event.msg_id`` (a ``Read`` of a peer's
        messages or a ``RoomRead`` of a room's posts, from the client): write it, coalesced
        (see the module docstring). Asked while the events of a read are handed on (between
        :meth:`next_events` and :meth:`handed_on`), it goes at the end of that read;
        otherwise now, unless the conversation's last mark went less than
        :data:`READ_INTERVAL` ago or a refusal holds marks back: then at
        :meth:`next_deadline`. A mark at or below one asked before changes nothing. Not
        while read receipts are off (the server would refuse it)."""
        if event.msg_id is None or self.read_receipts is False:
            return
        key = ("room", canonical(event.room_name)) if isinstance(event, RoomRead) else ("dm", canonical(event.peer))
        due = self._reads_due.get(key)
        sent = self._reads_sent.get(key)
        if (due is not None and event.msg_id <= due.msg_id) or \
                (due is None and sent is not None and event.msg_id <= (sent[1].msg_id or 0)):
            return
        self._reads_due[key] = event
        self._now = max(self._now, now)
        if self._after is None:
            self._write_reads()

    def reads_deadline(self) -> float | None:
        """When marks asked and not written yet are due (None: none waits). A shell whose
        receiver may be asleep on an older :meth:`next_deadline` arranges to call
        :meth:`handle_timeout` then."""
        return self._reads_deadline()

    def write_reads(self, now: float) -> None:
        """Write the marks due at ``now`` (a shell's timer for :meth:`reads_deadline`)."""
        self._now = max(self._now, now)
        self._write_reads()

    def _reads_deadline(self) -> float | None:
        if not self._reads_due or self.usable() is not None:
            return None
        hold = self._reads_hold or 0.0
        return min(max(hold, self._reads_sent[key][0] + READ_INTERVAL if key in self._reads_sent else 0.0)
                   for key in self._reads_due)

    def _write_reads(self) -> None:
        """Write the marks that are due at ``self._now``: one per conversation, the newest."""
        if not self._reads_due or self.usable() is not None:
            return
        if self.read_receipts is False:
            self._reads_due.clear()
            return
        now = self._now
        if self._reads_hold is not None:
            if now < self._reads_hold:
                return
            self._reads_hold = None
        for key, event in list(self._reads_due.items()):
            sent = self._reads_sent.get(key)
            if sent is not None and now < sent[0] + READ_INTERVAL:
                continue
            del self._reads_due[key]
            if not self.conn.may_send(type(event)):  # type: ignore[union-attr]
                continue  # a room's, left for a session of version 1 (an older server): it has no rooms
            self._send(event)
            self._reads_sent[key] = (now, event)

    def _reads_refused(self, retry_after: float | None) -> None:
        """A ``rate_limited`` without request id: a read or typing of ours was refused.
        Hold marks back for its wait, then write again those written in the last
        :data:`READ_RETRY_WINDOW` seconds (unless a newer one of theirs is due anyway)."""
        wait = min(max(retry_after or 1.0, THROTTLE_WAIT[0]), THROTTLE_WAIT[1])
        self._reads_hold = max(self._reads_hold or 0.0, self._now + wait)
        for key, (at, event) in self._reads_sent.items():
            if at >= self._now - READ_RETRY_WINDOW and key not in self._reads_due:
                self._reads_due[key] = event
        _log.debug("a read or typing was rate limited; %s to write again in %.2f s",
                   counted(len(self._reads_due), "read mark{s}"), wait)

    # --- Receiving --------------------------------------------------------------------------

    def next_events(self) -> list[Event] | None:
        """The events to hand to the application for the next event of the connection
        (perhaps none: an answer consumed here), or None when more bytes are needed (or
        the stream ended: ``broken`` is then set). Before returning None it queues the
        acks of the outcomes handed on so far, in one go. After handing the events on, the
        shell calls :meth:`handed_on`."""
        conn = self.conn
        if conn is None or self.broken:
            return None
        if self._early:
            early, self._early = self._early, []
            self._after = None
            return early
        event = conn.next_event()
        if isinstance(event, ConnectionClosed):
            self.set_reason(_("the server closed the connection"))
            self.broken = True
            return None
        if event is None:
            # Every event read so far was handed on: acknowledge the outcomes among them
            # now, in one go, rather than one write between two events.
            self._acknowledge()
            self._write_reads()  # the marks asked while this read's events were handed on
            self._outbox.append(conn.data_to_send())  # pongs the protocol core queued
            return None
        if type(event) is Pong:  # a server's says its time again (an older server's: nothing)
            SERVER_CLOCK.heard(event.now)
        items = self._absorb(event)
        self._after = (conn, event, items == [event])
        if type(event) is RoomNotice and event.act in _OUT_OF_ROOM and self.name is not None \
                and canonical(event.name) == canonical(self.name):
            # Put out of the room (or gone from it on another device): a mark of it waiting
            # for its interval would be refused (not_member, with no request id to match).
            self._reads_due.pop(("room", canonical(event.room_name)), None)
        return items

    def handed_on(self) -> None:
        """The application has the events of the last :meth:`next_events`: confirm a
        direct message (a client that crashes before that leaves it unconfirmed, as it
        should), and note an outcome of a message this object did not send as owed."""
        if self._after is None:
            return
        conn, event, as_is = self._after
        self._after = None
        if outcome_of(event) is not None and as_is:
            self._acks_due.append(outcome_of(event))  # type: ignore[arg-type]
        if isinstance(event, DirectMessage) and conn is self.conn and conn.state is State.OPEN and not self.broken:
            # Also for a message shown before (our receipt was lost): the server waits for
            # it. After a Goodbye no receipt can be sent; the server then treats the message
            # as not received and sends it again later.
            if self._batch_acks:
                self._receipts_due.append(event.msg_id)  # sent at the end of this read
            else:
                self._outbox.append(conn.send(Receipt(event.msg_id)))
        if isinstance(event, RoomPost) and not is_default_room(event.room_name):
            # Shown: a later hello asks for what came after it (room_seen).
            self.room_seen = max(self.room_seen or 0, event.msg_id)
        if isinstance(event, (Edited, Deleted)) and self.name is not None and canonical(event.to) == canonical(self.name) \
                and conn is self.conn and conn.state is State.OPEN and not self.broken:
            # An edit or delete of a message to us, taken in: the server may stop telling
            # that change (by its at: not a newer one stored while this receipt travels).
            self._outbox.append(conn.send(EditReceipt(event.msg_id, event.at)))

    def _absorb(self, event: Event) -> list[Event]:
        """Apply ``event`` to the trackers and requests; return what to hand on."""
        request_id = getattr(event, "request_id", None)
        if isinstance(event, (Accepted, Queued, Delivered, ErrorReply)) and request_id is not None:
            message = self.outgoing.get(request_id)
            if message is not None:
                return self._track(message, event)
            if request_id in self._finished:
                self._owe_acknowledgement(event)
                return []  # a late or repeated answer about a message already settled
        pending = self._replies.get(request_id) if request_id is not None else None
        if pending is not None and isinstance(event, (pending.expect, ErrorReply)):
            del self._replies[request_id]
            self._own_change(pending, event)
            if pending.callback is not None:
                return pending.callback(event)
            pending._settle(event)
            return []
        given_up = self._given_up.get(request_id) if request_id is not None else None
        if given_up is not None and isinstance(event, (given_up.expect, ErrorReply)):
            del self._given_up[request_id]
            self._own_change(given_up, event)
            if given_up.late is not None:
                return given_up.late(event)
            _log.info("the answer to request %s came after its caller stopped waiting: %s", request_id,
                      getattr(event, "code", None) or event.TYPE)
            return []
        outcome = outcome_of(event)
        if outcome is not None:  # of a message sent by an earlier run, or another client
            if outcome in self._outcomes_seen:
                self._acks_due.append(outcome)
                return []  # told again because our ack was lost: acknowledged, not shown twice
            self._outcomes_seen[outcome] = None
            if len(self._outcomes_seen) > FINISHED_LIMIT:
                del self._outcomes_seen[next(iter(self._outcomes_seen))]
        if isinstance(event, RoomPost):
            if event.msg_id in self.seen_posts:
                return []  # shown already
            self.seen_posts[event.msg_id] = None
            if len(self.seen_posts) > self.seen_limit:
                del self.seen_posts[next(iter(self.seen_posts))]
        if isinstance(event, DirectMessage):
            if event.msg_id in self.seen:
                return []  # shown already; the receipt is sent again all the same
            self.seen[event.msg_id] = None
            if len(self.seen) > self.seen_limit:
                del self.seen[next(iter(self.seen))]
            if event.deleted:
                self._note_change(event.msg_id, 0.0, True)
        if isinstance(event, (Edited, Deleted, RoomEdited, RoomDeleted)) and not self._is_latest_change(
                event.msg_id, event.at, isinstance(event, (Deleted, RoomDeleted))):
            return []  # a late one: its receipt is sent all the same, the latest was taken in
        if isinstance(event, ErrorReply) and request_id is None and event.code in SIGNED_OUT:
            # Not a reconnection's case: the old password would be refused (bad_password).
            self.signed_out = event.code
            self.credential.forget()  # the server revoked it with the password
            self.ending = True
            self.set_reason(explain_refusal(event))
        if isinstance(event, ErrorReply) and request_id is None and event.code == ErrorCode.ACCOUNT_DELETED:
            # The account is gone (unregister): nothing to log in to again, no credential to keep.
            self.credential.forget()
            self.ending = True
            self.set_reason(explain_refusal(event))
        if isinstance(event, Goodbye):
            # A planned stop or restart. An interactive session treats it like a crash
            # (the shell reconnects with backoff); otherwise it ends the session.
            self.goodbye = event
            if not self.reconnect_on_goodbye:
                self.ending = True
            self.set_reason(event.reason or _("the server ended the session"))
        if isinstance(event, FrameRejected) and self.closing:
            return []  # frames that arrive after our own Goodbye: expected, not news
        if isinstance(event, ErrorReply) and request_id is None and event.code == ErrorCode.RATE_LIMITED:
            self._reads_refused(event.retry_after)
            return []  # of a read or typing, sent without expecting an answer: not the user's news
        if isinstance(event, Settings) or (isinstance(event, ErrorReply) and request_id is None
                                           and event.code == ErrorCode.FORBIDDEN):
            return self._switch(event)
        if isinstance(event, CatchUp):
            # The server was cut off from its cluster: an outcome may have been told to,
            # and acknowledged by, another device of ours meanwhile. Handed on: a shell
            # catches up as after a reconnection (the terminal: terminal_catchup.py).
            self._reconcile()
        return [event]

    def _own_change(self, pending: Pending, answer: Event) -> None:
        """An edit's or a delete's ``ok``: our own change, stamped then, unless a later one came."""
        if pending.change is not None and isinstance(answer, Done) and answer.at is not None:
            msg_id, deleted = pending.change
            self._is_latest_change(msg_id, answer.at, deleted)

    def _is_latest_change(self, msg_id: int, at: float, deleted: bool) -> bool:
        """Whether a change of message ``msg_id`` stamped ``at`` (a delete or an edit) is
        the latest this core knows of (a repeat of it too), noting it if so: not when
        ``at`` is before the one handed on (the stores stamp a message's changes later
        each: server/mailbox.change_time), nor an edit of a message handed on as deleted."""
        known = self._changed.get(msg_id)
        if known is not None and late_change(*known, at, deleted):
            return False
        self._note_change(msg_id, at, deleted)
        return True

    def _note_change(self, msg_id: int, at: float, deleted: bool) -> None:
        """Message ``msg_id`` reads as changed at ``at`` (deleted or not); the oldest noted go."""
        self._changed.pop(msg_id, None)
        self._changed[msg_id] = (at, deleted)
        if len(self._changed) > self.seen_limit:
            del self._changed[next(iter(self._changed))]

    def _switch(self, event: Settings | ErrorReply) -> list[Event]:
        """The server's news of the read receipts switch (PROTOCOL.md "The switch"): a
        ``settings`` frame (another session of this user changed it), or a ``forbidden``
        without id, which only a ``read`` or ``typing`` sent before that frame came gets:
        the switch is off. Handed on as a Settings once, when it changes what this client
        knew; never the server's words."""
        if self.read_receipts is None:  # no read receipts in this session: not about them
            return [] if isinstance(event, Settings) else [event]
        on = event.read_receipts if isinstance(event, Settings) else False
        if on is None or on == self.read_receipts:
            return []
        self.read_receipts = on
        if not on:
            # The server would refuse them now; once on again, a mark is news again.
            self._reads_due.clear()
            self._reads_sent.clear()
        return [Settings(None, on)]

    def _track(self, message: OutgoingMessage, event: Event) -> list[Event]:
        """Apply an answer about a tracked message; return its MessageUpdate, if any."""
        paced = message.request_id in self._paced
        self._paced.discard(message.request_id)
        taken = isinstance(event, (Accepted, Queued, Delivered))
        if taken:
            self._holds = 0  # taken: the next refusal starts the backoff again
            if paced:
                self._window = min(PACE_WINDOW, self._window + 1)
        holding = self._retry_at is not None
        updates = self._apply(message, event)
        self._pace()  # an answer frees a place for the next held message
        return self._tell_unavailable(event, taken, holding) + updates

    def _tell_unavailable(self, event: Event, taken: bool, holding: bool) -> list[Event]:
        """The :class:`ServerUnavailable` that answer ``event`` makes news of, if any
        (``holding``: a hold was on before it; see the module docstring)."""
        if isinstance(event, ErrorReply) and event.code == ErrorCode.UNAVAILABLE and self._retry_at is not None \
                and (not holding or not self._unavailable_told):
            self._unavailable_told = True
            return [ServerUnavailable(max(0.0, self._retry_at - self._now))]
        if self._unavailable_told and (taken or not any(m.refused for m in self.outgoing.values())):
            self._unavailable_told = False
            return [ServerUnavailable(None, back=taken)]
        return []

    def _apply(self, message: OutgoingMessage, event: Event) -> list[Event]:
        """:meth:`_track`'s answer, applied to the tracker."""
        if isinstance(event, Accepted):
            changed = message._advance(SENT, msg_id=event.msg_id)
        elif isinstance(event, Queued):
            changed = message._advance(QUEUED, msg_id=event.msg_id)
        elif isinstance(event, Delivered):
            changed = message._advance(DELIVERED, msg_id=event.msg_id)
        elif event.code in REFUSED_FOR_NOW and message.state == SENDING and self._retry(message, event):  # type: ignore[attr-defined]
            # Not stored (or, unavailable with uncertain, perhaps stored): write it again,
            # with the same id, once the server's bucket has refilled or its store may work.
            message._throttled = True
            self._throttle(event.retry_after)  # type: ignore[attr-defined]
            return []
        elif message._uncertain and event.code == ErrorCode.UNAVAILABLE:  # type: ignore[attr-defined]
            # Given up, and it may have been stored: how often and how long it was tried is the news too.
            changed = message._advance(FAILED, error=Failure(
                LocalError.UNCONFIRMED, f"{event.message} (after {message._unavailable} attempts; it may or may "  # type: ignore[attr-defined]
                "not have been stored)", attempts=message._unavailable, tried_for=self._tried_for(message)))
        elif event.code == ErrorCode.UNAVAILABLE and message._unavailable >= UNAVAILABLE_ATTEMPTS:  # type: ignore[attr-defined]
            # Given up: how often and how long it was tried is the news, not the server's last wait.
            changed = message._advance(FAILED, error=Failure.of(event, message._unavailable,
                                                                self._tried_for(message)))
        else:
            changed = message._advance(FAILED, error=Failure.of(event))
        if message.done:
            self._retire(message)
        self._owe_acknowledgement(event)
        return [MessageUpdate(message, message.state, message.error)] if changed else []

    def _tried_for(self, message: OutgoingMessage) -> float:
        """Seconds since ``message``'s first ``unavailable`` answer (see :meth:`_retry`)."""
        return self._now - message._unavailable_since  # type: ignore[attr-defined]

    def _retry(self, message: OutgoingMessage, refusal: ErrorReply) -> bool:
        """Whether a ``rate_limited`` or ``unavailable`` refusal of ``message`` is to be
        tried again (else it fails now: too many ``unavailable`` answers, see the module
        docstring). Notes an ``unavailable`` answer in the tracker."""
        if refusal.code != ErrorCode.UNAVAILABLE:
            return True
        if not message._unavailable:
            message._unavailable_since = self._now
        message._unavailable += 1
        message._uncertain = message._uncertain or bool(refusal.uncertain)
        return message._unavailable < UNAVAILABLE_ATTEMPTS

    def _owe_acknowledgement(self, event: Event) -> None:
        """If ``event`` is the outcome of a message a tracker holds, it is to be
        acknowledged once its MessageUpdate was handed on (or in close())."""
        msg_id = outcome_of(event)
        if msg_id is not None:
            self._acks_due.append(msg_id)

    def _acknowledge(self) -> None:
        """Acknowledge the outcomes due, so the server stops telling them. An ack is about
        a message, not a connection: any open one will do; without one they wait (and the
        server tells them again at the next login anyway)."""
        if self.conn is None or self.conn.state is not State.OPEN or self.broken:
            return
        if self._receipts_due:  # batch_acks: the receipts of this read, before its acks
            due, self._receipts_due = self._receipts_due, []
            self._send_batched(due, Receipt, Receipts)
        if self._acks_due:
            due, self._acks_due = self._acks_due, []
            if self._batch_acks:
                self._send_batched(due, OutcomeAck, OutcomeAcks)
            else:
                for msg_id in due:
                    self._send(OutcomeAck(msg_id))

    def _send_batched(self, msg_ids: list[int], single: type[Event], batched: type[Event]) -> None:
        """``msg_ids`` in as few frames as the limit per frame allows; one id alone in its
        single form (the shorter frame)."""
        if len(msg_ids) == 1:
            self._send(single(msg_ids[0]))
            return
        for start in range(0, len(msg_ids), MAX_IDS_PER_FRAME):
            self._send(batched(tuple(msg_ids[start:start + MAX_IDS_PER_FRAME])))

