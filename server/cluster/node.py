"""One node of a cluster: its identity and heartbeat, the registry in Redis, its inbox,
and the events stream every node reads. The relay's peers when ``--cluster`` is given.

A node is an asyncio shell over the scripts (scripts.py) and the bus encoding (bus.py);
the relay keeps the policy and calls the node at its seams (server/peers.py lists them):

- **Registry**: a login claims its name with :data:`~scripts.CLAIM` (unique across the
  cluster; accounts may have sessions on several nodes); a logout releases it. Each
  claim and release writes an entry to the events stream, from which every node keeps
  :attr:`directory`, a :class:`registry.Registry` of everyone online in the cluster
  (``/who``, ``/whois``, ``watch``), and tells join and leave notices, so every node
  tells them in the stream's one order.
- **Liveness**: the node moves its deadline (``ttl`` seconds on) every ``beat`` seconds
  and reaps the nodes whose deadline passed (:data:`~scripts.REAP`): their sessions
  leave the registry with one NodeGone entry, which every node turns into ``left``
  notices. A time in which no node beat at all (Redis down or paused; scripts.py's
  _LIVENESS) counts against nobody, so an outage of Redis itself reaps no node. A node
  whose last renewal is older than ``ttl`` (cut off from Redis) answers logins
  ``unavailable``; one that finds itself reaped joins again and claims its
  sessions' names anew (:meth:`ClusterNode._rejoin`): a session whose name was taken
  meanwhile is closed (its client logs in again, here or elsewhere), the others stay, and
  this node's users are not told that they left (directory.py's module docstring).
- **Routing**: a direct message for a user with sessions on other nodes goes to those
  nodes' inboxes (:data:`~scripts.ROUTES`), read through a consumer group and acknowledged
  (XACK) once handled, so a short disconnect from Redis loses nothing.
- **After "delivered"**: read marks, typing, edits and deletes go the same way to the
  nodes holding the sessions they are for (:meth:`ClusterNode.conversation`), and a
  change of the receipts switch to every node through the events stream.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import const
from protocol import TYPING, Carbon, Delivered, ErrorCode
from protocol.codec import encode
from registry import lookalike_key
from resp import RedisClient, RedisError
from resp.aio import RedisConnectionError
from resp.protocol import encode_command
from shared.plural import counted

from ..accounts import Account
from ..afterdelivered import ROOM_TYPING
from ..guests import Holding
from ..mailbox import CHANGED, NEW, StoredMessage, new_stored_message
from ..peers import FORGOTTEN, REGISTERED, UNANSWERED, Confusable
from ..store import LAZY_SECONDS, StoreUnavailable
from ..stores.base import GuestHeld
from . import bus, checks, scripts, trace
from .clock import ClockSkew
from .directory import Directory, Joined, node_of
from .failures import FailureLog
from .fastpath import EarlyTells, FastLink, FastTell
from .sayorder import SayOrder

log = logging.getLogger("chat.cluster")

# Seconds between heartbeats, and how long a node lives without one. Reaping runs with
# every heartbeat, so a dead node's sessions leave within TTL + BEAT (+ a stream read).
BEAT = 1.0
TTL = 5.0
# The version of what nodes share in Redis (keys, entries, records, scripts' arguments):
# every node of a cluster runs the same (scripts.VERSION checks it at start), since a node
# may not read what a newer one writes. Raised whenever that changes so that a node of the
# version before would misread it. 2: a room's muted entries hold the name kept at the
# mute's end (3 elements), guest names are forgotten ('forgot' entries), CLAIM checks a
# resumed guest's holding. 3: an inbox entry may hold several events, one a line
# (scripts.HELD_FUNCTIONS), which a node of version 2 would take for one unreadable entry
# (as it takes a 'probe' entry, whose kind it does not know).
# (1: the nodes before this key, which do not check it.)
CLUSTER_VERSION = 3


class VersionRefused(StoreUnavailable):
    """This node may not join the cluster: its nodes or its data are of another version."""


class ConfigRefused(StoreUnavailable):
    """This node may not run on this Redis: it would delete keys by itself (checks.py)."""


# Seconds the node that forgot guest names last stays the one to forget them (renewed at
# each of its passes, every expiry_interval): another node takes over once it has passed.
FORGET_LEASE = 120.0


def silence(beat: float, ttl: float) -> float:
    """Seconds without any node's heartbeat script that Redis takes for an outage, not
    for slow nodes (scripts._LIVENESS): two beats, well above a live cluster's gaps (one
    beat at most, every node beating), and at most half the TTL, so that an outage too
    short to be one still leaves a node time to beat before its deadline."""
    return min(2 * beat, ttl / 2)


# How long a blocking stream read waits in Redis before asking again.
BLOCK_MS = 1000
READ_COUNT = 1000
# At most this many routed entries per ROUTES script call (Redis runs nothing else meanwhile).
ROUTE_BATCH = 256
# At most this many routed outcomes and changes whose ROUTES call failed wait to be routed
# again (_unrouted); past it the oldest are dropped, told again at their user's next login.
UNROUTED_MAX = 10_000
# At most this many events wait to be put on the events stream (_publish: Redis failing
# after the change they tell was stored); past it the oldest are dropped (logged); and
# this many go in one round trip.
PUBLISH_MAX = 10_000
PUBLISH_BATCH = 256
# A message stored without a route is waited for (_to_route) this long at most: its store
# answered or failed within its timeout (5 s) long before.
ROUTE_PENDING_FORGET = 30.0
# While operations fail (Redis out of reach), a line with their count this often (failures.py).
FAILURE_LOG_INTERVAL = 60.0
# A read of the inbox holding a direct message from someone this node does not know to be
# online waits at most this long for the events reader to read their ``on`` (_catch_up).
CATCH_UP_SECONDS = 0.5
# A node whose inbox was trimmed (_inbox_trimmed) has its sessions fetch what they may have
# missed once its reader has caught up; if it has not within this long, they fetch it all
# the same (and again each time this long passes while the inbox is still trimmed): a
# reader that never catches up left them without those messages till their next login.
INBOX_CATCH_UP_SECONDS = 30.0
# A rejoining node claims its sessions' names this many in one round trip (_claim_again,
# and _release_again the releases left to run): well within the client's max_in_flight.
CLAIM_CHUNK = 256
# Why a session ends whose name could not be claimed again after a rejoin (PROTOCOL.md,
# the reasons of ``left``): its close and its leave notice here.
LOST_CLUSTER = "server lost the cluster"
# How a "delivered" frame begins: the one outcome the fast path carries (fastpath.py).
_DELIVERED_HEAD = encode(Delivered("", 0))[:len(b'{"type":"delivered"')]
_DELIVERED_TEXT_HEAD = _DELIVERED_HEAD.decode("ascii")


# The entries the directory follows.
_SESSION_ENTRIES = frozenset({bus.SessionOn, bus.SessionOff, bus.NodeGone, bus.Registered})


def version_mark_line(address: str, theirs: int, mine: int) -> str:
    """The start-up line of a node that marked the cluster's data at ``address`` with its
    version ``mine`` (scripts.VERSION), where it had ``theirs`` (0: no mark), in plain words:
    what the mark is, and what it changes (nodes of an earlier version refuse to start)."""
    before = (f"was marked version {theirs}, and no node of that version runs" if theirs else
              "had no version mark (a new cluster, or one from before version marks)")
    return (f"cluster: the data in Redis at {address} {before}: it is marked version {mine} now, this node's; "
            f"nodes of an earlier version will refuse to start on it")


def new_node_id() -> str:
    """A node id unique across restarts: host, process id and random bits."""
    return f"{socket.gethostname()[:20]}-{os.getpid()}-{os.urandom(3).hex()}"


def _lag(newest: str, read: str) -> float:
    """Seconds between the newest entry id of a stream and the last one read (ids start
    with their milliseconds): 0 when every entry was read."""
    if newest == read:
        return 0.0
    return max(0.0, (int(newest.split("-")[0]) - int(read.split("-")[0])) / 1000)


def _stream_id(value: bytes | str) -> tuple[int, int]:
    """A stream entry id (``ms-seq``) as numbers, in the stream's order."""
    ms, _, seq = _text(value).partition("-")
    return int(ms), int(seq or 0)


def _missed_events(info: Any, position: str) -> str:
    """Why the events stream that XINFO STREAM described (``info``; an error if there is no
    stream) no longer holds the entries after ``position``, or "" if it does. Behind it:
    Redis restarted without its data. Trimmed past it: by the heartbeat's trim
    (scripts.EVENTS_KEPT_MS) or the stream's length (EVENTS_MAXLEN) while this node was
    away; a trim takes the oldest entries, so the stream's first entry after ``position``
    says so (a reload when none came between is only a reload). The stream's last id, not
    its newest entry's: the trim empties a stream an hour quiet."""
    newest, first = "0-0", None
    if isinstance(info, list):
        fields = dict(zip(map(_text, info[::2]), info[1::2]))
        newest = _text(fields.get("last-generated-id", newest))
        entry = fields.get("first-entry")
        first = _text(entry[0]) if entry else None
    at, last = _stream_id(position), _stream_id(newest)
    if last < at:
        return "the events stream is behind this node"
    if last > at and (first is None or _stream_id(first) > at):
        return "the events stream was trimmed past what this node had read"
    return ""


def _entry_kind(fields: list | bus.BusEvent) -> str:
    """A stream entry's kind (``room``, ``on``...), or a decoded event's class, for the
    log: never the entry, which holds room texts, login addresses and token hashes
    (docs/privacy.md)."""
    if not isinstance(fields, list):
        return type(fields).__name__
    try:
        data = fields[fields.index(b"e") + 1]
    except (ValueError, IndexError):
        return "unknown: no e field"
    match = _KIND.match(data) if isinstance(data, bytes) else None
    return match.group(1).decode() if match else "unknown"


_KIND = re.compile(rb'\{"k":"([a-z_]{1,20})"')


# A verdict's level (checks.Verdict) as the log's.
_LOG_LEVELS = {"error": logging.ERROR, "warn": logging.WARNING, "info": logging.INFO}


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class HeartbeatRefused(RedisConnectionError):
    """Redis answered the heartbeat with an error: it is there and refuses (``OOM`` at its
    maxmemory, ``LOADING`` after a restart, ``READONLY`` if made a replica). Said so, not as
    a link cut: the operator looks at Redis, not at the network."""


def _route_again(nodes: list[str] | None) -> None:
    """The mark an entry of ClusterNode._route_surely carries in place of a callback: never
    called; _send_route_batch keeps such an entry to route again when its call fails."""


class ClusterNode:
    """The peers of a relay in a cluster (see the module docstring).

    ``await start()`` before the relay takes connections (it joins, loads the directory,
    and starts the heartbeat and the two readers); ``attach(relay)`` before that;
    ``await stop()`` releases this node's sessions' names (the relay's shut_down closes
    them) and leaves.
    """

    routes = True  # the relay routes direct messages and outcomes through the node
    tells_presence = True  # joins and leaves are told from the events stream
    shares_room = True  # room messages go through the events stream
    # Named rooms are one across the nodes (their changes and messages through the events
    # stream, decided on versions in Redis) when the store is Redis's: see attach().
    shares_rooms = False

    def __init__(self, url: str, prefix: str = "{chat}:", node_id: str | None = None, beat: float = BEAT,
                 ttl: float = TTL, timeout: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.url = url
        self.prefix = prefix
        self.node_id = node_id or new_node_id()
        self.beat, self.ttl, self.timeout = beat, ttl, timeout
        self._liveness_ms = (int(ttl * 1000), int(silence(beat, ttl) * 1000))  # the scripts' ttl, silence
        self.users = Directory(self.node_id)  # everyone online in the cluster, as the events stream says
        self._where = self.users.where  # see _here
        self.directory = self.users.registry  # the same, as the relay asks it
        self.relay: Any = None
        self._redis = RedisClient(url, timeout=timeout)
        # The ROUTES call's head, its 1.7 KB source included, encoded once (_send_routes).
        self._routes_head = scripts.ROUTES.eval_head(args=(self.prefix, self.node_id))
        self._events_reader = RedisClient(url, timeout=timeout + BLOCK_MS / 1000)
        self._inbox_reader = RedisClient(url, timeout=timeout + BLOCK_MS / 1000)
        # Local session -> (sid, user key, since): what its claim said, to claim it again.
        self._sids: dict[Any, tuple[str, str, float]] = {}
        self._unclaimed: set = set()  # sessions whose names must be claimed again (after a rejoin)
        # Releases Redis did not run, by session id: run again at each beat (_release_again).
        self._unreleased: dict[str, tuple[str, tuple]] = {}
        # Sessions whose claim again after a rejoin got no answer: (sid, since, key), the
        # claim tried again under that sid (_claim_again).
        self._unsure_claims: dict[Any, tuple[str, float, str]] = {}
        # The sids the last rejoin claimed again: their SessionOn ends a held leave, so the
        # end of such a session is told by its SessionOff, not by Directory.let_go.
        self._reclaimed: set[str] = set()
        self._sid_count = 0
        # Claims sent and not answered yet, by sid: the stream may bring their SessionOn
        # before the reply does, and the joiner, not welcomed yet, would miss its own
        # join notice (on one server it hears it). Such a notice waits for the reply.
        self._claiming: dict[str, list] = {}
        self._last_event = "0-0"
        # Waiting for the events reader to reach an id (_catch_up): (id, future), in order.
        self._event_waiters: list[tuple[tuple[int, int], asyncio.Future]] = []
        # Inbox entries applied here whose acknowledgement Redis has not confirmed (by id);
        # bounded by the inbox's own pending entries.
        self._inbox_unacked: set = set()
        # The ids Redis acknowledged while the reader's read was under way (None between
        # reads): that read, from "0", may have run before the acknowledgement and bring
        # them back, no longer in _inbox_unacked (see _read_inbox).
        self._inbox_acked: set | None = None
        # Of those, the ones whose acknowledgement failed (it may have run or not), and
        # whether the reader is to pass over its pending entries at its next read, which
        # asks again for those it finds (see _read_inbox).
        self._inbox_unsure: set = set()
        self._inbox_recheck = False
        # Set when the inbox was found trimmed, full (_inbox_trimmed): since when its node's
        # sessions may have missed what was routed to them, till the reader catches up.
        self._inbox_missed: float | None = None
        # And when (self.clock) the first trim since the last resync was found, and the
        # resyncs so far by whether the reader had caught up (/metrics: counters).
        self._inbox_missed_found: float | None = None
        self._inbox_resyncs = {"caught_up": 0, "behind": 0}
        # Set by a rejoin: the events reader checks that the stream still holds what it
        # has not read (_check_events_position) before it reads on.
        self._events_recheck = False
        # Of those, the ones whose acknowledgement waits to go with the next reads' (see
        # _take_inbox_later), and the timer that sends them.
        self._inbox_taken: list = []
        self._take_timer: asyncio.TimerHandle | None = None
        self.clock = clock
        self.wall = wall  # this node's wall clock, measured against Redis's (clock.py)
        self.skew = ClockSkew()
        self._last_beat = float("-inf")  # clock time of the last renewal Redis confirmed
        # Wall-clock time of that renewal: what this node may have missed after a break was
        # decided from then on (relay.resync tells the changes made since).
        self._last_beat_at = time.time()
        self._tasks: list[asyncio.Task] = []
        # Redis's settings as last read (at start, then every CLUSTER_SETTINGS_RECHECK).
        self._settings = checks.SettingsWatch(str(self._redis.address))
        self._bad_entries = 0
        self._apply_errors = 0
        self._bug_logged = False  # see _bug
        self._failure_log = FailureLog(log, FAILURE_LOG_INTERVAL, clock)  # see _failed
        self._stopping = False
        # Entries to route, gathered over one loop turn: (key, entry, callback or None, what).
        self._routes: list[tuple[str, bytes | str, Callable[[list[str] | None], None] | None, str]] = []
        # Outcomes and changes (read marks, edits, deletes) whose ROUTES call failed, in their
        # order: sent again before anything newer (_send_routes), once Redis answers.
        # Events that wait for Redis to take them, in order: (entry, kind), see _publish.
        self._to_publish: list[tuple[bytes, str]] = []
        self._publisher: asyncio.Future | None = None  # the task that sends them, while some wait
        self._unrouted: list[tuple[str, bytes | str, Callable[[list[str] | None], None] | None, str]] = []
        # The changes of room posts this node told its sessions of, (msg_id, the change's
        # stamp), oldest first: each one's entry on the events stream, which the store's
        # script put there, is not told here again (post_change_told); at most UNROUTED_MAX.
        self._told_changes: dict[tuple[int, float], None] = {}
        # Room posts whose change this node asked the store for, not answered yet (msg_id ->
        # how many asks), and their entries the events stream brought meanwhile, held until
        # the answer (change_message).
        self._changing: dict[int, int] = {}
        self._held_changes: dict[int, list[bus.RoomPostChangeStored]] = {}
        # The ROUTES calls under way (their callbacks not all answered): awaited by answered().
        self._route_batches: set[asyncio.Future] = set()
        # Those of them that carry entries of _unrouted, sent again: until Redis has them,
        # nothing is routed by the store's script either (_route_with_store).
        self._rerouting: set[asyncio.Future] = set()
        # The store, if it can route a direct message in its own script call (RedisStore),
        # and by sender key the direct messages routed here and not answered yet (see
        # _route_with_store).
        self._store: Any = None
        self._deliveries: dict[str, int] = {}
        # By recipient key, the ``seen`` entries routed and not answered yet (_seen): until
        # then a message to that user is not routed by the store either (its inbox entry,
        # written on the store's connection, could come before the ``seen``).
        self._seeing: dict[str, int] = {}
        # Direct messages the store was told to store without a route (_route_with_store
        # answered None, and their recipient is not all here): route() comes for each once
        # the store answers. Per sender, the request ids and when: until then the sender's
        # later messages are not routed by the store either (order per conversation).
        # Dropped by route(), or after ROUTE_PENDING_FORGET (a store that failed: never routed).
        self._to_route: dict[str, dict[str, float]] = {}
        # The cluster's figures for /metrics (server/metrics.py GAUGES), read once per beat.
        self.gauges: dict[str, float] = {}
        self._says = SayOrder()  # the default room's messages wait for this node's says' answers
        # The fast path of "delivered" (fastpath.py): None over rediss://, or when no endpoint
        # could be opened. And the (sender key, msg_id) whose "delivered" it told here, oldest
        # first, at most UNROUTED_MAX: their inbox entries tell nothing more (fast_delivered).
        self._fast: FastLink | None = None
        self._fast_told: dict[tuple[str, int], None] = {}
        self._fast_told_count = 0  # since start (/metrics)
        # Fast "delivered"s that came before their message's "accepted" was written here:
        # route() tells each once its flight exists (_tell_early).
        self._fast_early = EarlyTells()

    # --- The peers interface (server/peers.py) -----------------------------------------

    def attach(self, relay: Any) -> None:
        self.relay = relay
        store = getattr(relay, "store", None)
        # The room scripts live with the messages and rooms they store (stores/redis_scripts.py):
        # a node on another store (the in-process tests' shared memory) keeps its named
        # rooms to itself, as before.
        self.shares_rooms = hasattr(store, "store_room_post")
        if hasattr(store, "router"):
            self._store = store
            store.router = self._route_with_store

    def _route_with_store(self, fields: tuple) -> tuple[str, str, bytes, bytes] | None:
        """The store's router (RedisStore.router): route the new direct message of
        ``fields`` (a StoredMessage's fields after its id; the message itself is built only
        if it is routed, by its entry's text) in
        the script call that stores it, one round trip (and one fsync) less before its
        ``accepted`` and its delivery on another node. Not when its recipient's sessions
        are all here (nothing to route: :meth:`route` answers at once), nor when its
        sender has sessions elsewhere (their carbon copy must be routed before the
        message, after the store gave it its id), nor while a message of the same sender
        routed by :meth:`route` is unanswered (it must reach the inboxes first: order per
        conversation). Nor while one of its earlier messages waits for the store's answer to
        be routed by :meth:`route` (``_to_route``): the directory may have changed between
        the two (a ghost session of the sender reaped), and this one's inbox entry, written
        with it, would come before the earlier one's (the chaos run's seed 3). Nor while a
        ``seen`` for its recipient is unanswered (:meth:`_seen`): the recipient's node must
        read it first, and fetch the older messages before this one comes. Nor while entries
        whose ROUTES call failed wait to be routed again (``_unrouted``): among them may be
        the ``MessagesWaiting`` of an earlier message of this conversation, which must reach
        the recipient's node first (route() sends them ahead of this one's entry); nor until
        Redis answered their call, sent again (``_rerouting``): this one's store script goes
        on the store's own link to Redis, and could be run first."""
        where = self._where.get  # _here's answers, without its call (asked per message)
        if where(fields[3]):
            return None  # all here: route() answers at once, and the relay forwarded it
        sender_key = fields[1]
        if not where(sender_key) or self._deliveries.get(sender_key) or self._to_route.get(sender_key) \
                or self._unrouted or self._rerouting or (self._seeing and self._seeing.get(fields[3])):
            self._to_route.setdefault(sender_key, {})[fields[6]] = time.monotonic()
            return None
        before, after = bus.deliver_parts(new_stored_message(0, *fields))
        return self.prefix, self.node_id, before, after

    def redis_clients(self) -> tuple:
        """The clients whose round trips /metrics shows (not the readers: they block)."""
        return (self._redis,)

    def directory_for(self, local: Any) -> Any:
        return self.directory

    def node_of(self, session: Any) -> str | None:
        return node_of(session) if isinstance(session, str) else self.node_id

    @property
    def release_retry(self) -> float:
        """See LocalPeers.release_retry: a dead node's sessions go with a reap, once a beat."""
        return self.beat

    @property
    def available(self) -> bool:
        """True while this node's heartbeat is known to Redis (renewed within the TTL)."""
        return self.clock() - self._last_beat < self.ttl

    def claim(self, session: Any, key: str, name: str, shared: bool, since: float,
              callback: Callable[[str | Confusable | None], None], epoch: int | None = None,
              lookalike: str | None = None) -> None:
        """Claim ``name`` for ``session`` across the cluster; ``callback(None)`` once it is
        the session's, else ``callback("name_taken")``, or ``callback(GuestHeld(until))`` for
        a guest name taken anew that is held offline in Redis (its holder left less than the
        hold ago; until then, by this node's clock), ``callback("unavailable")`` or, if
        ``epoch`` (a guest's resumed holding) is no longer the holding in Redis (forgotten
        meanwhile: scripts.CLAIM), ``callback(peers.FORGOTTEN)``, or if a guest's name is an
        account in Redis (registered on another node after the login looked),
        ``callback(peers.REGISTERED)``, or if ``lookalike`` (a guest name's look-alike key)
        of a guest taking the name anew (no ``epoch``) is an account's there or a guest
        name's online or held on any node, ``callback(peers.Confusable(its name))``; a resumed
        guest's is filed for the claims of others (scripts.CLAIM), never refused.
        A session closed meanwhile is released again; its callback is still called."""
        if self._stopping or not self.available:
            asyncio.get_running_loop().call_soon(callback, "unavailable")
            return
        sid, args = self._claim_args(session, key, name, shared, since)
        store = self._store
        if store is not None and store.prefix == self.prefix:  # its holdings and accounts are CLAIM's to read
            if lookalike is not None and epoch is not None:
                args += (epoch, lookalike, "1")
            elif lookalike is not None:  # taken anew: not while held offline (its hold, by this node's clock)
                args += ("", lookalike) if self.relay is None else \
                    ("", lookalike, "", repr(since), repr(self.relay.logins.guests.hold))
            elif epoch is not None:
                args += (epoch,)

        async def run() -> None:
            self._claiming[sid] = []
            try:
                reply = self._claimed(await scripts.CLAIM(self._redis, args=args))
            except Exception as exc:  # answered, and the entry released, whatever it was
                self._not_done(f"claim of {name!r}", exc)
                self._claiming.pop(sid, None)
                self._release_unsure(sid, key)
                callback("unavailable")
                return
            held = self._claiming.pop(sid, [])
            if reply == "ok":
                self._sids[session] = (sid, key, since)
                if session.closing:
                    self.release(session, "disconnected", time.time())
                callback(None)  # the welcome
                self._notify(held)
            elif reply == "taken":
                callback("name_taken")
            elif reply in (FORGOTTEN, REGISTERED) or isinstance(reply, (Confusable, GuestHeld)):
                callback(reply)
            else:
                if isinstance(reply, RedisError):
                    self._failed("claim", reply, logging.ERROR)
                callback("unavailable")

        asyncio.ensure_future(run())

    def _claimed(self, reply: Any) -> Any:
        """CLAIM's ``reply`` as its status (text; a RedisError as it is; 'confusable' as a
        peers.Confusable; 'held' as a GuestHeld). On 'ok' the store
        that numbers messages under this node's prefix learns the last id given out then:
        the epoch of a guest name this login takes (everything up to it was an earlier
        holder's, also what other nodes stored a moment ago) and the welcome's last_id."""
        if isinstance(reply, RedisError):
            return reply
        if isinstance(reply, list) and reply[0] == b"confusable":
            return Confusable(_text(reply[1]))
        if isinstance(reply, list) and reply[0] == b"held":
            return GuestHeld(float(reply[1]))
        if isinstance(reply, list):
            store = self._store
            if store is not None and store.prefix == self.prefix:
                store.note_last_id(int(reply[1]))
            reply = reply[0]
        return _text(reply)

    def _claim_args(self, session: Any, key: str, name: str, shared: bool, since: float,
                    sid: str | None = None) -> tuple[str, tuple]:
        """A new session id for ``session`` (or ``sid``: a claim tried again) and the CLAIM
        script's arguments."""
        if sid is None:
            self._sid_count += 1
            sid = f"{self.node_id}/{self._sid_count}"
        where = f"{self.node_id}\t{session.address}\t{session.port}\t{since!r}"
        entry = bus.encode(bus.SessionOn(key, name, shared, sid, self.node_id, session.address, session.port, since))
        return sid, (self.prefix, self.node_id, sid, key, name, "1" if shared else "0", where, entry)

    def _lookalike_args(self, session: Any) -> tuple:
        """CLAIM's last arguments for the name of ``session`` claimed again at a rejoin: a
        guest name's look-alike key, filed again (Redis may have lost it) and refusing nothing
        (the name is the session's); none for an account, or a store under another prefix."""
        store = self._store
        if session.registered or store is None or store.prefix != self.prefix:
            return ()
        return ("", lookalike_key(session.name), "1")

    def release(self, session: Any, reason: str, at: float) -> None:
        """``session`` logged out: its name is released once no session holds it."""
        releasing = self._release(session, reason, at)
        if releasing is not None:
            asyncio.ensure_future(self._release_or_keep(*releasing))

    async def _release_or_keep(self, key: str, args: tuple) -> bool:
        """Run the RELEASE script of ``args``; if Redis did not, keep it for the next
        beats to run again (:meth:`_release_again`): a logout during an outage (or behind
        a command that failed waiting for the connection: resp/aio.py) left the name
        claimed by a session gone, ``name_taken`` to its user until this node died."""
        try:
            reply = await scripts.RELEASE(self._redis, args=args)
        except (RedisConnectionError, TimeoutError) as exc:
            reply = exc
        if isinstance(reply, (RedisError, RedisConnectionError, TimeoutError)):
            self._failed(f"release of {key!r} (tried again at the next beat)", reply)
            self._unreleased[args[2]] = (key, args)
            return False
        self._unreleased.pop(args[2], None)
        return True

    def _release_unsure(self, sid: str, key: str) -> None:
        """A CLAIM of ``sid`` for ``key`` got no answer (Redis out of reach or too slow),
        and the session will not hold the name: it may have run all the same, so release
        it, now and at the next beats until Redis answers (a RELEASE of an entry that is
        not there does nothing). Else a guest's name stayed taken by a session that never
        was, ``name_taken`` to its own user until this node died (the chaos run with 20
        clients, seed 419)."""
        entry = bus.encode(bus.SessionOff(key, sid, "disconnected", time.time()))
        self._spawn(self._release_or_keep(key, (self.prefix, self.node_id, sid, key, entry)),
                    f"release of an unanswered claim of {key!r}")

    async def _release_again(self) -> None:
        """The releases Redis did not run (:meth:`_release_or_keep`), run again, CLAIM_CHUNK
        in one round trip (one after another, thousands of them outlasted the node's
        deadline); those Redis does not run again wait for the next beat."""
        waiting = list(self._unreleased.values())
        for first in range(0, len(waiting), CLAIM_CHUNK):
            done = await asyncio.gather(*(self._release_or_keep(key, args)
                                          for key, args in waiting[first:first + CLAIM_CHUNK]))
            if not all(done):
                return  # Redis failing again: the rest waits for the next beat

    def _release(self, session: Any, reason: str, at: float, left: bool = True) -> tuple[str, tuple] | None:
        """Forget ``session`` here: its user's key and the RELEASE script's arguments that
        release it in Redis, or None if it held no name here. With ``left``, a guest's
        session that was welcomed (its ``name`` set) gives ``at`` as its leaving time, which
        RELEASE writes to the name's holding if it was the name's last session: in the step
        the name leaves ``who``, and again at every beat until Redis runs it (the store's own
        write of it, refused while Redis was away, was never made again: the holding stayed
        online in Redis for good). A session never welcomed (its login ended, or was
        refused, once claimed) gives none: the holding is an earlier one's, whose leaving
        time every node's cache holds."""
        held = self._sids.pop(session, None)
        if held is None:
            return None
        sid, key, _since = held
        entry = bus.encode(bus.SessionOff(key, sid, reason, at))
        if sid in self._reclaimed:
            self._reclaimed.discard(sid)
        elif self.users.held:  # it ended before a rejoin claimed its name again
            self._let_go(key, reason, at)
        store = self._store
        if left and store is not None and store.prefix == self.prefix and session.name is not None \
                and not session.registered:
            return key, (self.prefix, self.node_id, sid, key, entry, repr(at))
        return key, (self.prefix, self.node_id, sid, key, entry)

    async def hand_off(self) -> None:
        """The node stops (ChatServer.stop, before its goodbyes): release every session's
        name in Redis now, and return once Redis has, so that its users, whose clients
        log in on the next node of their list at once, find their names free there (not
        ``name_taken`` for as long as a release of the closing sessions takes). The leave
        reason is const.SHUTDOWN_REASON: the other nodes hold those leaves back for the
        grace of a move (Directory's module docstring). No name is claimed here after it
        (a hello under way is answered ``unavailable``: its client tries the next node)."""
        self._stopping = True
        at = time.time()
        releasing = [scripts.RELEASE(self._redis, args=r[1])
                     for r in (self._release(s, const.SHUTDOWN_REASON, at, left=False) for s in list(self._sids))
                     if r is not None]
        replies = await asyncio.gather(*releasing, return_exceptions=True)
        failed = [r for r in replies if isinstance(r, BaseException | RedisError)]
        if failed:  # the sessions' names are released when the others reap this node
            self._failed("the hand-off of the sessions", failed[0])

    def _let_go(self, key: str, reason: str, at: float) -> None:
        """A session of ``key`` here ended without its name claimed again after a rejoin:
        if no other session of ``key`` here is left to be claimed (or was claimed), tell
        this node's users the leave their directory held back (Directory.let_go)."""
        if key in self.users.held and all(other != key for _sid, other, _since in self._sids.values()):
            self._notify(self.users.let_go(key, reason, at))

    def registered(self, key: str) -> None:
        self._spawn(self._registered(key), f"registration of {key!r}")

    async def _registered(self, key: str) -> Any:
        reply = await scripts.REGISTERED(self._redis, args=(self.prefix, key))
        if not isinstance(reply, RedisError):
            self._publish(bus.Registered(key))
        return reply

    def login_failures(self, op: str, keys: tuple[str, ...], base: float, cap: float,
                       callback: Callable[[float | None], None]) -> None:
        """The login throttle shared by the cluster (scripts.LOGIN_FAILURES): ``op`` is
        'check', 'fail' or 'ok' for the throttle ``keys``; ``callback(seconds)`` with the
        wait a 'check' found (0 otherwise), or ``callback(None)`` if Redis did not answer
        (within the client's timeout)."""
        async def run() -> None:
            try:
                reply = await scripts.LOGIN_FAILURES(self._redis, args=(
                    self.prefix, op, round(base * 1000), round(cap * 1000), *keys))
                wait = None if isinstance(reply, RedisError) else int(reply) / 1000
            except Exception as exc:  # answered, whatever it was
                self._not_done(f"login throttle {op}", exc)
                return callback(None)
            if wait is None:
                self._failed(f"login throttle {op}", reply, logging.ERROR)
            callback(wait)

        asyncio.ensure_future(run())

    def known_name(self, key: str, callback: Callable[[str | None], None]) -> None:
        """``callback(name)`` if Redis's store knows user ``key``, ``callback(None)`` if it
        does not, ``callback(peers.UNANSWERED)`` if Redis did not answer (the asker then
        answers ``unavailable``: "nobody" would be false for a user who has an account):
        :meth:`known_names` of one key. Asked before a recipient is called unknown, since a
        first login on another node reaches this node's registry a moment later."""
        self.known_names((key,), lambda names: callback(names if names is UNANSWERED else names[key]))

    def known_names(self, keys: Sequence[str], callback: Callable[[Any], None]) -> None:
        """``callback({key: name or None})``: which of users ``keys`` Redis's store knows (the
        store's ``users`` hash, stores/redis.py, under the same default prefix), in one round
        trip whatever their number (a watch asks up to 500); ``callback(peers.UNANSWERED)``
        if Redis did not answer."""
        async def run() -> None:
            try:
                reply = await self._redis.execute("HMGET", self.prefix + "users", *keys)
            except Exception as exc:  # answered, whatever it was
                self._not_done("lookup of a user's name", exc)
                return callback(UNANSWERED)
            if isinstance(reply, RedisError) or not isinstance(reply, list) or len(reply) != len(keys):
                self._failed("lookup of a user's name", reply)
                return callback(UNANSWERED)
            callback({key: None if name is None else _text(name) for key, name in zip(keys, reply)})

        asyncio.ensure_future(run())

    def route(self, message: StoredMessage, callback: Callable[[list[str] | None], None]) -> None:
        """Put ``message`` in the inboxes of the other nodes holding sessions of its
        recipient; ``callback(those nodes' ids)``, or ``callback(None)`` if Redis could
        not be asked (the message is stored: it waits for the recipient's next fetch)."""
        store = self._store
        if store is not None and store.routed is not None and store.routed[0] == message.msg_id:
            if trace.ON:
                trace.mark("a_accept", message.msg_id)
            callback(store.routed[1])  # the store's script routed it (_route_with_store)
            if self._fast_early:
                self._tell_early(message.sender_key, message.msg_id)
            return
        if self._where.get(message.recipient_key):  # _here, without its call (per message)
            if self._to_route:
                self._routing(message.sender_key, message.client_id)
            # Its sessions are all here (the relay forwarded it): no other node to ask. One
            # that logged in elsewhere an instant ago, before this node heard of it, is
            # given it from the store once this node reads its "on" (_seen), before
            # anything routed to it after that.
            callback([])
            if self._fast_early:
                self._fast_early.discard(message.sender_key, message.msg_id)  # no flight: its entry tells
            return
        sender = message.sender_key
        self._routing(sender, message.client_id)
        self._deliveries[sender] = self._deliveries.get(sender, 0) + 1

        def routed(nodes: list[str] | None) -> None:
            left = self._deliveries.pop(sender) - 1
            if left:
                self._deliveries[sender] = left
            if nodes is None:
                # Stored and routed to nobody: a recipient who stays connected to another
                # node would see it only at their next login (the chaos run, cluster seed
                # 943 with 20 clients). That node fetches it once Redis answers here again.
                key = message.recipient_key
                self._route_later((key, bus.encode(bus.MessagesWaiting(key)), _route_again,
                                   f"messages waiting for {key!r}"), "no answer from Redis", logging.WARNING)
            callback(nodes)
            if self._fast_early:
                self._tell_early(sender, message.msg_id)

        self._route(message.recipient_key, bus.encode(bus.Deliver(message)), routed, "routing")

    def never_routed(self, message: StoredMessage) -> None:
        """New direct ``message`` was stored ``blocked``, perhaps by the store's script though
        :meth:`_route_with_store` was asked for it as one to route (the block lists' truth
        is Redis's: docs/cluster.md, "Blocks"): nothing routes it, so nothing waits for that
        (else its sender's next messages were routed by :meth:`route`, a round trip more
        each, until ROUTE_PENDING_FORGET)."""
        if self._to_route:
            self._routing(message.sender_key, message.client_id)

    def _routing(self, sender: str, client_id: str) -> None:
        """The message ``client_id`` of ``sender`` is routed now: no longer waited for (and
        the entries older than ROUTE_PENDING_FORGET go: their store failed, nothing to route)."""
        pending = self._to_route.get(sender)
        if pending is None:
            return
        pending.pop(client_id, None)
        oldest = time.monotonic() - ROUTE_PENDING_FORGET
        for stale in [request for request, when in pending.items() if when < oldest]:
            del pending[stale]
        if not pending:
            del self._to_route[sender]

    def tell(self, key: str, msg_id: int, frame: bytes) -> None:
        """Write ``frame`` (about message ``msg_id``) to the sessions of ``key`` on other
        nodes. Never skipped, whatever the directory shows: it follows the events stream, a
        read behind Redis (more after this node was paused or restarted), so a sender it
        shows nowhere, or with every session here, may have one on another node all along
        (logged in there an instant ago, the device that sent the message), never to hear
        its message's outcome (told again only at a login): ROUTES asks Redis itself, where
        that costs one entry of a batched call (the chaos run: a message shown, its sender
        never told "delivered"; with 20 clients, seeds 407 and 408, the sender's other
        device here)."""
        if trace.ON:
            trace.mark("b_tell", msg_id)
        fast = self._fast
        if fast is not None and fast.peers and self._where.get(key) is False and frame.startswith(_DELIVERED_HEAD):
            for node in self.users.nodes_of(key):
                if node != self.node_id:
                    fast.send(FastTell(node, key, msg_id, frame))
        self._route_surely(key, bus.encode(bus.Tell(key, msg_id, frame.decode("utf-8"))), f"outcome for {key!r}")

    def elsewhere(self, key: str) -> bool:
        """True if the directory shows ``key`` online with a session on another node:
        exactly when :meth:`carbon` for ``key`` has work to do."""
        return self._where.get(key) is False  # _here, without its call (asked twice per message)

    def probe_elsewhere(self, key: str) -> None:
        """Ask the other nodes holding sessions of ``key`` to probe them (bus.Probe): a
        ghost there (a connection dead without a close) lets the name go within its
        node's ``release_probe``, not its heartbeat timeout. Repeated asks are harmless:
        a node probes a session once until it answers or ends."""
        if self._where.get(key) is False:  # a session on another node
            self._route(key, bus.encode(bus.Probe(key)), None, f"probe for {key!r}")

    def carbon(self, key: str, copy: Carbon) -> None:
        """Put the ``sent`` event ``copy`` in the inbox of every other node holding a
        session of ``key`` (each gives it to its sessions that asked for carbons). Skipped
        when the directory shows every session of ``key`` here: the common case. In the
        same inboxes as the message's outcomes, and before them, so no session hears
        ``delivered`` before its copy."""
        if self._here(key) is not False:
            return
        entry = bus.encode(bus.CarbonCopy(key, copy.msg_id, encode(copy).decode("utf-8")))
        # In the turn's ordered batch (_route), so it is written before whatever is routed
        # after it, the message itself first of all.
        self._route(key, entry, None, f"carbon for {key!r}")

    def settled(self, key: str, msg_id: int) -> None:
        """Tell the other nodes holding sessions of ``key`` that ``msg_id`` is settled.
        Skipped when the directory shows every session of ``key`` here (the common case:
        one script call less per receipt). A device of ``key`` on another node it does not
        show yet may then keep the message in flight until it leaves: its node asks the
        store before it tells the sender "queued" (relay._requeue)."""
        if self._where.get(key):  # _here, without its call (asked per message)
            return
        self._route(key, bus.encode(bus.Settled(key, msg_id)), None, f"settled for {key!r}")

    def _route(self, key: str, entry: bytes | str, callback: Callable[[list[str] | None], None] | None,
               what: str) -> None:
        """Route ``entry`` to the other nodes holding sessions of ``key`` (scripts.ROUTES):
        the entries of one loop turn go to Redis together, in the order given, as one script
        call (per ROUTE_BATCH), not one each. ``callback(node ids)`` once Redis answered,
        ``callback(None)`` if it could not be asked; without a callback a failure is logged."""
        if not self._routes:
            asyncio.get_running_loop().call_soon(self._send_routes)
        self._routes.append((key, entry, callback, what))

    def _route_surely(self, key: str, entry: bytes | str, what: str) -> None:
        """:meth:`_route`, for an outcome or a change: its user, online on another node, is
        told it only by this entry until their next login, or until that node's own link to
        Redis breaks (relay.resync). So when the ROUTES call fails (this node's link broke,
        or no answer came in time), the entry is routed again once Redis answers, before
        anything newer, rather than dropped (the chaos run: an edit stored, its sender told
        "ok", its recipient on another node left reading the old text). It may have been
        routed after all (no answer is not no effect): told twice, which every client takes
        as a no-op, as it does what a login tells again. (A mark in place of a callback, not
        a closure: one per outcome would cost each cross-node message.)"""
        self._route(key, entry, _route_again, what)

    def _route_later(self, routed: tuple, why: object, level: int) -> None:
        """Keep ``routed`` (an entry of :meth:`_route_surely` whose call failed) to route
        again, after those kept before it; past UNROUTED_MAX the oldest is dropped."""
        self._failed(f"{routed[3]} (routed again once Redis answers)", why, level)
        if len(self._unrouted) >= UNROUTED_MAX:
            self._failed(self._unrouted.pop(0)[3], "too many routes failed: told again at its user's next login")
        self._unrouted.append(routed)

    def _send_routes(self) -> None:
        """The end of the turn's routes: written now, in their order (a task would write
        them two loop turns later: one to start, one for the client's flush), after those
        whose route failed (:meth:`_route_surely`), which are older."""
        again = len(self._unrouted)
        batch, self._routes, self._unrouted = self._unrouted + self._routes, [], []
        for start in range(0, len(batch), ROUTE_BATCH):
            part = batch[start:start + ROUTE_BATCH]
            args: list[Any] = []
            for key, entry, _callback, _what in part:
                args += (key, entry)
            if trace.ON:
                for _key, entry, _callback, what in part:
                    if what.startswith("outcome"):
                        trace.mark("b_rwrite", bus.decode(entry).msg_id)
            try:
                # In order (resp.Script.in_order: EVAL, never answered NOSCRIPT): else a conversation's
                # messages reached an inbox out of order (tests/integration/test_cluster_routes_order.py).
                # Its head, the 1.7 KB source included, is encoded once (_routes_head; bench/PROFILE.md,
                # round twenty-three).
                sent: Any = self._redis.pipeline_now([self._routes_head.encode(args)])
            except RedisConnectionError as exc:  # closed (stopping)
                sent = exc
            batch_task = asyncio.ensure_future(self._send_route_batch(part, args, sent))
            self._route_batches.add(batch_task)
            batch_task.add_done_callback(self._route_batches.discard)
            if start < again:
                self._rerouting.add(batch_task)
                batch_task.add_done_callback(self._rerouting.discard)

    async def _send_route_batch(self, batch: list, args: list, sent: Any) -> None:
        """Answer every callback of ``batch`` once Redis answered the ROUTES call ``sent``
        (its replies; or the error that kept it from being sent): with its entry's reply,
        or None for an entry without one (not asked, the script failed, or answered fewer
        entries than it was given); a callback that raises is logged (:meth:`_bug`)."""
        traced = [bus.decode(entry).msg_id for _key, entry, _callback, what in batch
                  if what.startswith("outcome")] if trace.ON else ()
        try:
            if isinstance(sent, Exception):
                raise sent
            replies: Any = (await sent)[0]
            for msg_id in traced:
                trace.mark("b_rback", msg_id)
        except (RedisConnectionError, TimeoutError) as exc:
            replies, level = exc, logging.WARNING
        else:
            level = logging.ERROR
        if isinstance(replies, list):
            why: object = f"the script answered {len(replies)} of {len(batch)} routes"
        else:  # not asked (or the script failed): nothing routed
            why, replies = replies, ()
        # Every callback is answered, each once: one left out waits for ever, and so does
        # its sender's count in _deliveries. One iterator each, so that after a callback
        # that raised the loops go on with the next (the try costs nothing per entry in
        # 3.11); the replies' first, so that zip takes no entry it has no reply for.
        answers, entries = iter(replies), iter(batch)
        while True:
            try:
                for nodes, (_key, _entry, callback, _what) in zip(answers, entries):
                    if callback is not None and callback is not _route_again:
                        callback([_text(node) for node in nodes])
                for routed in entries:  # no reply: not routed
                    callback = routed[2]
                    if callback is None:
                        self._failed(routed[3], why, level)
                    elif callback is _route_again:
                        self._route_later(routed, why, level)
                    else:
                        callback(None)
                return
            except Exception:
                self._bug("answering a route")

    def _here(self, key: str) -> bool | None:
        """Where the directory shows ``key``: True if online with every session on this
        node, False if online with a session on another node, None if offline. (So
        truthy exactly when all its sessions are here, and ``is False`` exactly when
        another node has work to do for it: one lookup for either question.)"""
        # Asked about five times per direct message (the router, route, twice elsewhere,
        # settled): the directory keeps the answer of every user online (Directory.where,
        # set whenever a session comes or goes), so those five read it without a call,
        # not by a lookup and a scan of the user's sessions each (nearly all of their
        # cost was the Python calls: this one and the registry's lookup_key).
        return self._where.get(key)

    def store_say(self, store: Any, message: StoredMessage, callback: Callable[[tuple], None],
                  on_error: Callable[[Any], None]) -> None:
        """Store ``say`` ``message`` and put it on the events stream in one step
        (stores/redis_scripts.py ROOM_SAY): every node, this one too, writes it to its sessions
        when it reads it, once, in the stream's order. So a say Redis stored is on the
        stream even if its answer was lost (``unavailable``, uncertain): the client's resend
        finds it stored and adds nothing, and nobody misses it. On another store (the
        in-process tests' shared memory, which has no such script) it is stored, then put
        on the stream (:meth:`_post_room`): a failure between the two loses it live.
        Either way the sender hears ``accepted`` before the ``room`` frame (sayorder.py)."""
        order = self._says
        order.asked()

        def stored(result: tuple) -> None:
            try:
                callback(result)
                if not one_step and result[1] == NEW:
                    self._post_room(result[0])
            finally:
                self._write_held_says(order.answered(result[0].msg_id))

        def failed(failure: Any) -> None:
            try:
                on_error(failure)
            finally:
                self._write_held_says(order.answered(0))

        one_step = hasattr(store, "store_room_say")
        if one_step:
            head = bus.room_say_head(message.sender, message.sender_key, message.text, message.sent_at)
            store.store_room_say(message, self.prefix + "events", head, scripts.EVENTS_MAXLEN, stored, failed)
        else:
            store.store_message(message, stored, failed)

    def _write_held_says(self, messages: list[StoredMessage]) -> None:
        """Write the default room's ``messages`` that waited for answers (sayorder.py)."""
        for message in messages:
            self.relay.deliver_room(message)

    def _post_room(self, message: StoredMessage) -> None:
        """Send a stored room message to every node (this one included) in the stream's order.
        The entry holds its text, so it is noted with the message (scripts.ROOM_TEXT_ENTRY):
        a delete of the message takes the text out of the stream too. In order, as the
        routes (resp.Script.in_order): else a say Redis answered NOSCRIPT came after the next
        (tests/integration/test_cluster_says_order.py)."""
        entry = bus.RoomPost(message.msg_id, message.sender, message.sender_key, message.text, message.sent_at)
        self._spawn(scripts.ROOM_TEXT_ENTRY.in_order(self._redis, args=(
            self.prefix, self.prefix + "events", message.msg_id, bus.encode(entry), scripts.EVENTS_MAXLEN)),
            entry.KIND)

    def save_room(self, key: str, version: int, record: str | None, notices: list[tuple[str, str]],
                  callback: Callable[[tuple | None], None], lookalike: str = "") -> None:
        """Store named room ``key``'s change (``record``; None: it ended) if the room is
        still at ``version`` in Redis, and put it with its ``notices`` ([name key, frame
        text]) on the events stream in the same step (stores/redis_scripts.py
        SAVE_ROOM_VERSIONED). ``callback(("ok", new version))``, ``callback(("changed",
        record, version))`` if another node changed it first, ``callback(("rival", key,
        record, version))`` if it is new and another room's name looks like its own
        (``lookalike``: the look-alike key of its name), or ``callback(None)`` if Redis did
        not answer (``callback(("unsure",))`` if it did not answer a command it was sent:
        it may have stored the change, which then comes on the events stream)."""
        entry = bus.encode(bus.RoomChanged(key, version + 1, record, bus._dumps(notices)))
        self.relay.store.save_room_versioned(key, version, record, self.prefix + "events", entry,
                                             scripts.EVENTS_MAXLEN, callback,
                                             lambda failure: callback(("unsure",) if failure.maybe_done else None),
                                             lookalike)

    def store_room_post(self, message: StoredMessage, version: int, callback: Callable[[tuple], None],
                        on_error: Callable[[Any], None]) -> None:
        """Store named room message ``message`` and put it on the events stream in one
        step, if its room is still at ``version`` (stores/redis_scripts.py ROOM_POST): every node,
        this one too, writes it to its sessions in the room when it reads it."""
        head = bus.room_post_head(message.sender, message.sender_key, message.recipient_key, message.text,
                                  message.sent_at)
        self.relay.store.store_room_post(message, version, self.prefix + "events", head, scripts.EVENTS_MAXLEN,
                                         callback, on_error)

    def change_message(self, store: Any, msg_id: int, sender_key: str | None, text: str | None, now: float,
                       window: float, quiet_for: frozenset[str], callback: Callable[[Any], None],
                       on_error: Callable[[Any], None], *, may_post_in: frozenset[str] | None, by: str | None,
                       notices: list[tuple[str, str]], versions: dict[str, int] | None = None) -> None:
        """On Redis, a room post's change and its entry on the events stream are one step
        (the store's CHANGE script; bus.RoomPostChangeStored): stored is told, whatever
        becomes of this node then; made only at the ``versions`` of the rooms it was decided
        on (else mailbox.STALE: decided again). On another store (the in-process tests' shared memory,
        whose named rooms are each node's own), the default room's changes are published
        once stored."""
        head = bus.room_post_change_head(self.node_id, by, bus._dumps(notices))
        if store is self._store:
            # The entry may come on the events stream before the script's answer does: it
            # waits for it (_changing), so that the one who asked hears ``ok`` first and its
            # session is not told its own change (the answer's callback tells the others).
            self._changing[msg_id] = self._changing.get(msg_id, 0) + 1

            def then(answer: Callable[[Any], None]) -> Callable[[Any], None]:
                def answered(result: Any) -> None:
                    try:
                        answer(result)
                    finally:
                        left = self._changing.pop(msg_id) - 1
                        if left:
                            self._changing[msg_id] = left
                        else:
                            for event in self._held_changes.pop(msg_id, ()):
                                self._post_change_stored(event)
                return answered
            store.change_message_announced(msg_id, sender_key, text, now, window, quiet_for, self.prefix + "events",
                                           scripts.EVENTS_MAXLEN, head, then(callback), then(on_error),
                                           may_post_in=may_post_in, versions=versions,
                                           default_room=self.relay.room_desk.default_key if versions else "")
            return

        def stored(result: tuple[str, StoredMessage | None]) -> None:
            callback(result)
            status, message = result
            if status == CHANGED and message.state == "room" and message.recipient_key is None:
                self._publish(bus.RoomPostChangeStored(self.node_id, by, bus._dumps(notices), "", message.msg_id,
                                                       message.sender, message.sender_key, message.text,
                                                       message.edited_at, message.deleted))
        store.change_message(msg_id, sender_key, text, now, window, quiet_for, stored, on_error,
                             may_post_in=may_post_in)

    def _post_change_stored(self, event: bus.RoomPostChangeStored) -> None:
        """Tell the sessions here of a room post's change from the events stream: all but
        this node's own changes that it told when the store answered (not if the answer
        never came: its link broke just then)."""
        if event.node == self.node_id and self._told_changes.pop((event.msg_id, event.at), False) is None:
            return
        message = new_stored_message(event.msg_id, event.sender, event.sender_key, None, event.room or None,
                                     event.text, 0.0, "", "room", None, event.at, event.deleted)
        self.relay.room_desk.post_change_stored(message, event.by, event.notices)

    def post_change_told(self, msg_id: int, at: float) -> None:
        if len(self._told_changes) >= UNROUTED_MAX:  # entries never read (Redis lost them): told twice at worst
            del self._told_changes[next(iter(self._told_changes))]
        self._told_changes[msg_id, at] = None

    def admin_added(self, key: str) -> None:
        """A console here made account ``key`` an administrator: so do the other nodes,
        and the nodes that join later (the set ``admins``)."""
        async def run() -> Any:
            reply = await self._redis.execute("SADD", self.prefix + "admins", key)
            if not isinstance(reply, RedisError):
                self._publish(bus.AdminAdded(key))
            return reply
        self._spawn(run(), f"administrator {key!r}")

    def block_changed(self, owner: str, target: str, blocking: bool) -> None:
        self._publish(bus.BlockChange(owner, target, blocking))

    def account_saved(self, key: str, account: Any, keep: str | None = None) -> None:
        self._publish(bus.AccountSaved(key, account.name, account.pw_hash.hex(), account.salt.hex(), account.kdf,
                                       keep))

    def password_reset(self, key: str, changed: bool = False) -> None:
        self._publish(bus.PasswordReset(key, ErrorCode.PASSWORD_CHANGED, self.node_id) if changed
                      else bus.PasswordReset(key))

    def account_deleted(self, key: str) -> None:
        self._publish(bus.AccountDeleted(key))

    def holding_changed(self, key: str, holding: Any) -> None:
        self._publish(bus.HoldingSaved(key, holding.name, holding.token_hash.hex(), holding.epoch, holding.left_at))

    def answered(self, done: Callable[[], None]) -> None:
        """As peers.py says: a PING behind what this node sent Redis before (its lookups,
        and this turn's routes, written at the turn's end: _send_routes, scheduled before
        this), whose reply comes after theirs on the one connection, and whose task runs
        after their callbacks; also when Redis does not answer (the caller's wait is bounded).
        The routes' calls themselves are awaited first, callbacks and all: the answers the
        caller waits for are theirs, whatever comes on the connection meanwhile (when a call
        answered NOSCRIPT was sent again, after this PING, the message it routed was answered
        after its sender's bye had closed the connection: tests/integration/test_cluster_truth.py,
        one run in ten alone; routes go as EVAL since, never answered NOSCRIPT)."""
        async def ping() -> None:
            try:
                if self._route_batches:
                    await asyncio.wait(list(self._route_batches))
                await self._redis.execute("PING")
            except Exception:  # (the answers it waited for failed too: they were sent)
                pass
            done()

        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(ping()))

    def forget_guests(self, store: Any, holdings: dict[str, Any], epoch: int,
                      callback: Callable[[tuple[list[str], list[StoredMessage]] | None], None]) -> None:
        """As peers.py says: one node at a time (a lease in Redis, FORGET_LEASE, renewed at
        each pass), in the store's one step that checks each name against the other nodes'
        logins and tells every node on the events stream (stores/redis_scripts.py
        ``FORGET_GUESTS``). A node on another store (the in-process tests' shared memory)
        forgets nothing: ``callback(None)``."""
        if not hasattr(store, "forget_guests"):
            callback(None)
            return
        store.forget_guests(holdings, epoch, self.node_id, FORGET_LEASE, self.prefix + "events",
                            scripts.EVENTS_MAXLEN, bus.guests_forgotten_head(), callback,
                            lambda error: callback(None))

    def conversation(self, key: str, actor: str, feature: str, frame: bytes) -> None:
        """Put ``frame`` in the inbox of every other node holding a session of ``key``
        (each tells its sessions that asked for ``feature``, if its rules let it pass: see
        bus.Conversation). Whatever the directory shows, but for a ``typing``: a read mark
        or an edit is told again only at the user's next login, and the directory lags
        Redis (after a pause, a restart, a lost heartbeat), so a user it shows offline, or
        with every session here, may have one on another node all along (ROUTES asks Redis
        itself, as for :meth:`tell`: tests/integration/test_cluster_lagging_directory.py).
        A ``typing`` goes only where the directory shows a session of ``key`` on another
        node, and never while this node is away from Redis, rather than queued until it is
        back (it would say something no longer true); once routed it is an inbox entry only
        until that node has handled it (INBOX_TAKEN)."""
        if feature in (TYPING, ROOM_TYPING) and (self._here(key) is not False or not self._redis.connected):
            return
        # Sent when by Redis's clock: the receiving node's may disagree with this one's.
        at = self.skew.to_redis(self.wall())
        entry = bus.encode(bus.Conversation(key, actor, feature, frame.decode("utf-8"), at))
        if feature in (TYPING, ROOM_TYPING):
            self._route(key, entry, None, f"{feature} for {key!r}")
        else:
            self._route_surely(key, entry, f"{feature} for {key!r}")

    def store_receipts_switch(self, store: Any, key: str, on: bool, callback: Any = None,
                              on_error: Any = None) -> None:
        """On Redis, the switch and its entry on the events stream are one step (a switch
        stored but not announced would leave the other nodes on the old one); on another
        store (the in-process tests' shared memory), announced once stored."""
        event = bus.ReceiptsSwitch(key, on)
        if store is self._store:
            store.set_read_receipts_announced(key, on, self.prefix + "events", bus.encode(event), scripts.EVENTS_MAXLEN,
                                              callback, on_error)
            return

        def stored(result: Any) -> None:
            self._publish(event)
            if callback is not None:
                callback(result)
        store.set_read_receipts(key, on, stored, on_error)

    def room_read_moved(self, room: str, member: str, mark: int) -> None:
        if self.shares_rooms:  # else the rooms are this node's alone
            self._publish(bus.RoomReadMoved(room, member, mark))

    def _publish(self, event: bus.BusEvent) -> None:
        """Put ``event`` on the events stream, after what this node published before: a
        change stored a moment ago (a password, an account's end, a block) that the other
        nodes' caches must learn. Kept in order until Redis takes it (:meth:`_publish_waiting`,
        tried again at each beat while Redis fails): one XADD lost with a connection left
        every other node accepting a revoked resume credential, the old password, or a
        blocked sender's messages, until it restarted. At least once: one whose reply was
        lost is sent again (each is a state to set, harmless twice, or ends the sessions of
        a user, who logs in again)."""
        if len(self._to_publish) >= PUBLISH_MAX:
            self._failed(self._to_publish.pop(0)[1], "too many events waiting for Redis: the oldest dropped",
                         logging.ERROR)
        self._to_publish.append((bus.encode(event), event.KIND))
        if self._publisher is None:
            self._publisher = asyncio.ensure_future(self._publish_waiting())

    async def _publish_waiting(self) -> None:
        """Send the events waiting in ``_to_publish``, in order; while Redis fails, wait a
        beat and try again (the heartbeat's own tries say when Redis is back), unless the
        node is stopping (:meth:`stop` tries once more)."""
        try:
            while self._to_publish:
                if not await self._publish_batch():
                    if self._stopping:
                        return
                    await asyncio.sleep(self.beat)
        finally:
            self._publisher = None

    async def _publish_batch(self) -> bool:
        """Put up to PUBLISH_BATCH of the waiting events on the stream in one round trip;
        whether Redis took them all (those it took leave ``_to_publish``)."""
        batch = self._to_publish[:PUBLISH_BATCH]
        stream = self.prefix + "events"
        try:
            replies = await self._redis.pipeline(
                [("XADD", stream, "MAXLEN", "~", scripts.EVENTS_MAXLEN, "*", "e", entry) for entry, _ in batch])
        except (RedisConnectionError, TimeoutError) as exc:
            self._failed(f"{batch[0][1]} (put on the events stream again when Redis answers)", exc)
            return False
        taken = next((n for n, reply in enumerate(replies) if isinstance(reply, RedisError)), len(replies))
        del self._to_publish[:taken]
        if taken < len(replies):  # refused (OOM: Redis full): the rest waits, in order
            self._failed(f"{batch[taken][1]} (put on the events stream again when Redis takes it)", replies[taken],
                         logging.ERROR)
            return False
        return True

    def _spawn(self, coroutine: Any, what: str) -> None:
        async def run() -> None:
            try:
                reply = await coroutine
            except (RedisConnectionError, TimeoutError) as exc:
                self._failed(what, exc)
                return
            if isinstance(reply, RedisError):
                self._failed(what, reply, logging.ERROR)

        asyncio.ensure_future(run())

    def _failed(self, what: str, why: object, level: int = logging.WARNING) -> None:
        """Log a Redis operation that failed: the first of its kind in a window of
        FAILURE_LOG_INTERVAL in full, the others counted in one line at the window's end
        (failures.py: an outage fails every request, and a second problem meanwhile, Redis
        full say, must still be named)."""
        self._failure_log.failed(what, why, level)

    def _not_done(self, what: str, exc: Exception) -> None:
        """Log ``exc``, which kept ``what`` from being done: Redis out of reach or too slow
        as :meth:`_failed` does, anything else as a bug (:meth:`_bug`)."""
        if isinstance(exc, (RedisConnectionError, TimeoutError)):
            self._failed(what, exc)
        else:
            self._bug(what)

    def _bug(self, what: str) -> None:
        """Log the exception being handled, a bug met in ``what``: the node's first with
        its traceback, the later ones summarised as Redis's failures are (:meth:`_failed`)."""
        if not self._bug_logged:
            self._bug_logged = True
            log.exception("cluster: %s failed", what)
        else:
            self._failed(what, sys.exc_info()[1], logging.ERROR)

    # --- Lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Join the cluster and load the directory; raises StoreUnavailable (chatserver.py
        says it in one line) if Redis cannot be reached now."""
        try:
            await self._check_memory()
            await self._check_version()
            await self._open_fast()
            await self._join()
            await self._load()
        except (RedisConnectionError, TimeoutError) as exc:
            if self._fast is not None:
                self._fast.close()
            raise StoreUnavailable(f"cannot join the cluster at {self._redis.address}: {exc or 'timed out'}") from exc
        self._tasks = [asyncio.ensure_future(self._keep_running(what, run)) for what, run in (
            ("heartbeat", self._heartbeat), ("events reader", self._read_events),
            ("inbox reader", self._read_inbox), ("gauges", self._watch_gauges),
            ("settings watch", self._watch_settings))]
        if trace.ON:
            trace.probe_turns(asyncio.get_running_loop())
        log.info("cluster node %s on %s", self.node_id, self._redis.address)

    async def _open_fast(self) -> None:
        """Open the fast path's endpoint (fastpath.py) on the address this machine reaches
        Redis from, where the other nodes, which reach Redis too, can reach it. None over
        ``rediss://`` (its datagrams are in the clear), nor if that fails (a warning: every
        "delivered" then comes through Redis, as it does anyway)."""
        address = self._redis.address
        if address.tls:
            return
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(address.host, address.port, type=socket.SOCK_DGRAM)
            family, _type, _proto, _name, where = infos[0]
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect(where)  # sends nothing: picks the route's source address
                host = probe.getsockname()[0]
            self._fast = await FastLink.open(host, self.node_id, self.fast_delivered, self.clock)
        except OSError as exc:
            log.warning("cluster: no fast path for \"delivered\" (%s); it comes through Redis", exc)

    @property
    def counters(self) -> dict[str, list[tuple[str, float]]]:
        """The node's counters for /metrics (server/metrics.py PEER_COUNTERS): the resyncs
        after an inbox trim; the fast path's, if it is on."""
        counters = {"chat_cluster_inbox_resyncs_total": [(f'{{reader="{reader}"}}', count)
                                                         for reader, count in self._inbox_resyncs.items()]}
        fast = self._fast
        if fast is not None:
            counters["chat_cluster_fast_path_total"] = [('{outcome="sent"}', fast.sent),
                                                        ('{outcome="told"}', self._fast_told_count),
                                                        ('{outcome="dropped"}', fast.dropped)]
        return counters

    def fast_delivered(self, tell: FastTell) -> None:
        """A node sent the "delivered" of a message a session here sent (fastpath.py):
        told now, once, if this node routed that message and still waits on its outcome
        (relay.tell_fast); its inbox entry, a moment later, then tells nothing more. One
        that comes before this node wrote the message's ``accepted`` is held until then
        (fastpath.EarlyTells, :meth:`_tell_early`)."""
        try:
            if self.relay is None or (tell.key, tell.msg_id) in self._fast_told \
                    or not tell.frame.startswith(_DELIVERED_HEAD):
                return
            if not self._told_fast(tell):
                self._fast_early.hold(tell, time.monotonic())
        except Exception:
            self._bug("telling a fast \"delivered\"")

    def _told_fast(self, tell: FastTell) -> bool:
        """Tell ``tell`` if its message's flight is here (relay.tell_fast); True if told."""
        if not self.relay.tell_fast(tell.key, tell.msg_id, tell.frame):
            return False
        self._fast_told_count += 1
        if trace.ON:
            trace.mark("a_fast", tell.msg_id)
        told = self._fast_told
        if len(told) >= UNROUTED_MAX:  # entries never read (Redis lost them): nothing more to skip
            del told[next(iter(told))]
        told[tell.key, tell.msg_id] = None
        return True

    def _tell_early(self, key: str, msg_id: int) -> None:
        """route() made the flight of ``key``'s message ``msg_id`` (after its ``accepted``):
        tell the fast "delivered" that came before, if one did."""
        tell = self._fast_early.take(key, msg_id, time.monotonic())
        if tell is not None:
            self._told_fast(tell)

    async def _keep_running(self, what: str, run: Callable[[], Any]) -> None:
        """``await run()`` for as long as the node runs. Each task catches what Redis can do
        to it; anything else (a bug) would end it for good, and silently (the task is kept,
        so its exception is never reported): a node without its heartbeat is reaped, its
        users told they left, and every login here answered unavailable. So it is logged
        (the first with its traceback, then summarised as failures are) and the task
        starts again a beat later, from its start (the readers from their positions)."""
        failed = False
        while True:
            try:
                await run()
                return
            except Exception as exc:
                if not failed:
                    log.exception("cluster: the %s failed; starting it again", what)
                    failed = True
                else:
                    self._failed(f"the {what}", exc, logging.ERROR)
            await asyncio.sleep(self.beat)

    async def stop(self) -> None:
        """Leave: release every session's name, drop the heartbeat, close the connections."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for session in list(self._sids):
            self.release(session, const.SHUTDOWN_REASON, time.time())
        taken = self._held_acknowledgements()
        if taken:  # what was applied is acknowledged before leaving
            await self._take_inbox(taken)
        if self._publisher is not None:  # the changes they tell were stored: the other nodes must learn them
            await self._publisher  # (one more try, now that the node stops: _publish_waiting)
        if self._last_beat > float("-inf"):  # it joined (a failed start did not: nothing to undo)
            try:
                await self._redis.execute("HDEL", f"{self.prefix}beats", self.node_id)  # no deadline: reaped now
                await self._reap()
            except (RedisConnectionError, TimeoutError):
                pass  # the others reap this node when its heartbeat expires
        for client in (self._redis, self._events_reader, self._inbox_reader):
            await client.close()
        if self._fast is not None:
            self._fast.close()
        self._failure_log.flush()

    async def _check_memory(self) -> None:
        """Refuse (ConfigRefused, in one sentence chatserver.py prints) a Redis that evicts
        any key when full, warn about one that evicts keys with a time to live, and say
        once if ``CONFIG`` cannot be read (renamed away, or an ACL user without it): then
        the node runs, unable to tell (checks.py says why each)."""
        values, why = await self._read_settings()
        self._settings.read(values)  # what the watch compares its readings with (_watch_settings)
        verdict = checks.eviction_verdict(str(self._redis.address), values["maxmemory"], values["maxmemory-policy"],
                                          why=why)
        if verdict.level == "refuse":
            raise ConfigRefused(verdict.text, storage=False)
        log.log(_LOG_LEVELS[verdict.level], "%s", verdict.text)

    async def _check_version(self) -> None:
        """Refuse (VersionRefused, in one sentence chatserver.py prints) to join a cluster
        whose nodes or data are of another version (scripts.VERSION, CLUSTER_VERSION)."""
        reply = await scripts.VERSION(self._redis, args=(self.prefix, CLUSTER_VERSION, self.node_id))
        if isinstance(reply, RedisError):
            raise RedisConnectionError(f"cannot check the cluster's version: {reply}")
        verdict, theirs, live = _text(reply[0]), int(reply[1]), int(reply[2])
        if verdict == "newer":
            raise VersionRefused(f"this cluster's data at {self._redis.address} was written by nodes of a newer "
                                 f"version ({theirs}) than this node's ({CLUSTER_VERSION}), which cannot read it: "
                                 f"start this node from that version's code")
        if verdict == "older":
            before = f"version {theirs}" if theirs else "a version from before version checks"
            nodes = "1 node" if live == 1 else f"{live} nodes"
            runs = "runs" if live == 1 else "run"
            raise VersionRefused(f"{nodes} of {before} still {runs} in the cluster at {self._redis.address}, and "
                                 f"this node is version {CLUSTER_VERSION}: the nodes of one cluster must run the "
                                 f"same version; stop them all, then start the nodes of the new version")
        if theirs != CLUSTER_VERSION:
            log.info("%s", version_mark_line(str(self._redis.address), theirs, CLUSTER_VERSION))

    async def _join(self) -> None:
        info = f"{socket.gethostname()} pid {os.getpid()}"
        ttl, quiet = self._liveness_ms
        fast = self._fast
        endpoint = "" if fast is None or fast.address is None else f"{fast.address[0]} {fast.address[1]}"
        reply = await scripts.JOIN(self._redis, args=(self.prefix, self.node_id, ttl, info, quiet, endpoint,
                                                      secrets.token_hex(32)))
        if isinstance(reply, RedisError):
            raise RedisConnectionError(f"cannot join the cluster: {reply}")
        if fast is not None and isinstance(reply, bytes):
            fast.secret = reply
        self._last_beat, self._last_beat_at = self.clock(), time.time()

    async def _load(self) -> None:
        """Fill the directory from the registry in Redis, and read the events after it."""
        reply = await scripts.SNAPSHOT(self._redis, args=(self.prefix,))
        if isinstance(reply, RedisError):
            raise RedisConnectionError(f"cannot read the registry: {reply}")
        users = []
        for key, who, where in reply[1:]:
            who = _text(who)
            sessions = []
            for i in range(0, len(where), 2):
                _node, address, port, since = _text(where[i + 1]).split("\t")
                sessions.append((_text(where[i]), address, int(port), float(since)))
            users.append((_text(key), who[2:], who[0] == "1", sessions))
        self.users.load(users)
        self.directory = self.users.registry
        if self.relay is not None:
            self.relay.directory = self.directory
        self._last_event = _text(reply[0])
        if self.shares_rooms and self.relay is not None:
            # Read after the stream position: a change read here whose entry comes after it
            # is skipped then (its version is known), and none is missed.
            await self._load_rooms()

    async def _load_rooms(self) -> None:
        """Give the room desk every named room as Redis has it now, and the administrators
        made at any node's console."""
        loaded = asyncio.get_running_loop().create_future()
        self.relay.store.rooms_versioned(loaded.set_result, lambda failure: loaded.set_exception(
            RedisConnectionError(f"cannot read the rooms: {failure}")))
        records, versions = await loaded
        admins = await self._redis.execute("SMEMBERS", self.prefix + "admins")
        if isinstance(admins, RedisError):
            raise RedisConnectionError(f"cannot read the administrators: {admins}")
        desk = self.relay.room_desk
        # Each was an account when a console added it; one gone since administers nothing.
        for key in desk.accounts_only((_text(key) for key in admins), "the cluster's administrators"):
            desk.rooms.add_admin(key)
        desk.load_shared(records, versions)

    # --- Figures for /metrics ----------------------------------------------------------

    async def _read_settings(self) -> tuple[dict[str, str | None], str]:
        """Redis's settings of checks.WATCHED (None for one it did not give), and the first
        refusal's words if it refused (CONFIG renamed away, an ACL user without it)."""
        replies = await self._redis.pipeline([("CONFIG", "GET", name) for name in checks.WATCHED])
        values = {name: None if isinstance(reply, RedisError) or not reply else _text(reply[1])
                  for name, reply in zip(checks.WATCHED, replies)}
        refused = [str(reply) for reply in replies if isinstance(reply, RedisError)]
        return values, refused[0] if refused else ""

    async def _watch_settings(self) -> None:
        """Read Redis's settings again every const.CLUSTER_SETTINGS_RECHECK seconds and log
        what changed since the start's reading (_check_memory) or the last (checks.
        SettingsWatch). A reading Redis does not answer is skipped (the heartbeat says
        that Redis is away)."""
        while True:
            await asyncio.sleep(const.CLUSTER_SETTINGS_RECHECK)
            try:
                values, _why = await self._read_settings()
            except (RedisConnectionError, TimeoutError):
                continue
            for verdict in self._settings.read(values):
                log.log(_LOG_LEVELS[verdict.level], "%s", verdict.text)

    async def _watch_gauges(self) -> None:
        """Keep :attr:`gauges` current: one script call per beat, so that a scrape costs
        Redis nothing and a scraper cannot load it. ``chat_cluster_redis_up`` says whether
        the last call was answered; while it is 0 the figures read from Redis are left out
        rather than shown stale (two nodes alive when no heartbeat can be read)."""
        while True:
            before = self.wall()
            try:
                reply = await scripts.GAUGES(self._redis, args=(self.prefix, self.node_id))
            except (RedisConnectionError, TimeoutError):
                reply = None
            if isinstance(reply, list) and len(reply) == 6:
                alive, backlog, pending, last, now, trimmed = reply
                if trimmed is not None:
                    self._inbox_trimmed(int(trimmed) / 1000)
                self._resync_if_behind()
                told = self.skew.measured(before, now / 1000, self.wall())
                if told is not None:
                    log.warning("cluster: %s", told)
                self.gauges = {"chat_cluster_redis_up": 1, "chat_cluster_nodes_alive": alive,
                               "chat_cluster_inbox_entries": backlog, "chat_cluster_inbox_pending": pending,
                               "chat_cluster_events_lag_seconds": _lag(_text(last), self._last_event),
                               "chat_cluster_clock_offset_seconds": self.skew.offset}
            else:  # not answered, or refused (LOADING after a restart): nothing known fresh
                self.gauges = {"chat_cluster_redis_up": 0}
            await asyncio.sleep(self.beat)

    def _inbox_trimmed(self, oldest: float) -> None:
        """This node's inbox was full (GAUGES found the routing scripts' mark, scripts.py
        inbox_add): its reader is far behind, and the trim of each new entry took the
        oldest, perhaps before they were read; the oldest then was routed at ``oldest``
        (Redis's time). What they carried is in the store (a message told ``accepted``,
        waiting for its receipt; an outcome not acknowledged, an edit not confirmed): once
        the reader has caught up (_read_inbox; not at every beat the inbox stays full, on a
        node already overloaded), or INBOX_CATCH_UP_SECONDS later if it has not
        (:meth:`_resync_if_behind`), every session here fetches what waits for it and is
        told the rest again, from then on (relay.resync). Before, it waited for their next
        login (tests/integration/test_cluster_inbox_full.py)."""
        self._failed("delivery of what other nodes routed here",
                     "this node's inbox was full (its reader far behind) and its oldest entries were trimmed, "
                     "perhaps unread: its sessions fetch what waits for them from the store", logging.ERROR)
        since = self.skew.from_redis(oldest)
        self._inbox_missed = since if self._inbox_missed is None else min(since, self._inbox_missed)
        if self._inbox_missed_found is None:
            self._inbox_missed_found = self.clock()

    def _resync_if_behind(self) -> None:
        """The reader has not caught up INBOX_CATCH_UP_SECONDS after a trim was found: this
        node's sessions fetch what they may have missed all the same (relay.resync), rather
        than wait for a catch-up that may never come (a node overloaded for good). What the
        reader reads later of it is told twice at worst, which the relay and the clients
        take as they take a resync's after an outage."""
        found = self._inbox_missed_found
        if found is None or self.clock() - found < INBOX_CATCH_UP_SECONDS or self.relay is None:
            return
        self._resync_after_trim("behind")

    def _resync_after_trim(self, reader: str) -> None:
        since, self._inbox_missed, self._inbox_missed_found = self._inbox_missed, None, None
        self._inbox_resyncs[reader] += 1
        if reader == "behind":
            self._failed("delivery of what other nodes routed here",
                         f"this node's inbox reader has not caught up {INBOX_CATCH_UP_SECONDS:g} s after a trim: "
                         "its sessions fetch what waits for them from the store now", logging.ERROR)
        self.relay.resync(since)

    # --- Heartbeat and reaping ---------------------------------------------------------

    async def _heartbeat(self) -> None:
        cut_off: Exception | None = None  # why the node became unavailable, once said
        while True:
            await asyncio.sleep(self.beat)
            self._failure_log.sweep()  # the count of a window of failures that has ended
            self._notify(self.users.overdue(time.time()))  # who did not move within the grace
            for sender in list(self._to_route):  # a store that failed never routes: forget it
                self._routing(sender, "")
            try:
                alive = await scripts.BEAT(self._redis, args=(self.prefix, self.node_id, *self._liveness_ms))
                if isinstance(alive, RedisError):  # LOADING after a restart, OOM when full: not alive yet
                    raise HeartbeatRefused(str(alive))
                if alive == 0:
                    await self._rejoin()
                else:
                    self._last_beat, self._last_beat_at = self.clock(), time.time()
                    if self._unrouted and not self._routes:  # Redis answers: route them again
                        asyncio.get_running_loop().call_soon(self._send_routes)
                    if self._unclaimed:  # a rejoin that Redis interrupted
                        await self._claim_again()
                    if self._unreleased:
                        await self._release_again()
                    if self._fast is not None:
                        await self._read_fast_peers()
                reaped = await self._reap()
                if isinstance(reaped, RedisError):
                    raise HeartbeatRefused(str(reaped))
                if reaped:
                    log.warning("cluster: node(s) %s stopped beating; their users left", ", ".join(map(_text, reaped)))
                if cut_off is not None:
                    log.warning("cluster: Redis takes this node's heartbeat again"
                                if isinstance(cut_off, HeartbeatRefused) else "cluster: Redis answers again")
                    cut_off = None
            except (RedisConnectionError, TimeoutError) as exc:
                if cut_off is None and not self.available:
                    log.error("cluster: Redis refuses this node's heartbeat (%s): logins are answered unavailable"
                              if isinstance(exc, HeartbeatRefused) else
                              "cluster: cut off from Redis (%s): logins are answered unavailable", exc)
                    cut_off = exc

    async def _read_fast_peers(self) -> None:
        """Read the other nodes' fast path endpoints (at every beat: a node that joined
        since is reached from then on; until then its "delivered" comes through Redis)."""
        reply = await self._redis.execute("HGETALL", self.prefix + "fast")
        if isinstance(reply, list) and self._fast is not None:
            self._fast.set_peers({_text(reply[i]): _text(reply[i + 1]) for i in range(0, len(reply) - 1, 2)})

    def _reap(self) -> Any:
        """Run REAP (an awaitable of its reply)."""
        return scripts.REAP(self._redis, args=(self.prefix, self._liveness_ms[1]))

    async def _rejoin(self) -> None:
        """This node was reaped, or its deadline passed (its own link to Redis was down
        longer than the TTL while other nodes beat: an outage of Redis itself moves every
        deadline on, scripts._LIVENESS): the registry no longer lists its sessions, or
        soon will not. Reap it now (its users leave, for the other nodes: this node's own
        users are not told, see _apply_event), join anew, and claim each session's name
        again: a session whose name someone else took meanwhile, or that cannot be claimed
        now, ends (its client logs in again, and its leave is told here: _let_go)."""
        log.error("cluster: this node's heartbeat expired; joining again and claiming its %s anew",
                  counted(len(self._sids), "{session's name|sessions' names}"))
        self._unclaimed.update(self._sids)
        self._reclaimed.clear()
        reaped = await self._reap()  # this node too, if nobody did
        if isinstance(reaped, RedisError):
            raise HeartbeatRefused(str(reaped))
        # Said again in case nobody could say it (a Redis restarted without its data does
        # not know this node): every directory drops this node's earlier sessions.
        await self._redis.execute("XADD", self.prefix + "events", "MAXLEN", "~", scripts.EVENTS_MAXLEN, "*",
                                  "e", bus.encode(bus.NodeGone(self.node_id)))
        await self._join()
        self._events_recheck = True
        await self._keep_ids_growing()
        await self._write_version_again()
        await self._claim_again()

    async def _write_version_again(self) -> None:
        """After a rejoin: write the cluster's version if Redis has none (it lost its data).
        Every node alive checked it at its start (_check_version), so they all run this
        one; left unwritten while they beat, it reads as nodes of a version from before
        version checks, and every node started later would be refused. Found otherwise (a
        node of another version started while this one was away): said, since this node
        may misread that data."""
        key = self.prefix + "version"
        written = await self._redis.execute("SET", key, CLUSTER_VERSION, "NX")
        if isinstance(written, RedisError):
            raise RedisConnectionError(str(written))
        if written is not None:
            log.info("cluster: version %d written again (Redis had lost it)", CLUSTER_VERSION)
            return
        found = await self._redis.execute("GET", key)
        if isinstance(found, RedisError):
            raise RedisConnectionError(str(found))
        if found is not None and _text(found) != str(CLUSTER_VERSION):
            log.error("cluster: the cluster's data is now version %s, and this node is version %d: stop it and "
                      "start it from that version's code", _text(found), CLUSTER_VERSION)

    async def _keep_ids_growing(self) -> None:
        """After a rejoin: make Redis give out ids above every one this node has seen
        (scripts.NEXT_AT_LEAST), in case it lost its data; say so if it had."""
        if self.relay is None:
            return
        seen = self.relay.store.last_msg_id()
        was = await scripts.NEXT_AT_LEAST(self._redis, args=(self.prefix, seen))
        if isinstance(was, RedisError):
            raise RedisConnectionError(str(was))
        if was >= 0:
            log.error("cluster: Redis gives out message ids from %d, below %d, which this node has seen: it lost "
                      "its data (run it with --appendonly yes --appendfsync always); ids go on from %d",
                      was + 1, seen, seen + 1)

    async def _claim_again(self) -> None:
        """Claim anew the names of the sessions in ``_unclaimed`` (after a rejoin), then
        have the sessions fetch what waits for them. The claims go CLAIM_CHUNK at a time in
        one round trip (one after another, a node of thousands of sessions one Redis hop
        away outlasted its own deadline while it claimed: reaped again, it rejoined without
        end). Raises if Redis fails meanwhile: the next heartbeat goes on where this stopped."""
        lost = 0
        try:
            while self._unclaimed:
                chunk = []  # (session, sid, key, since, the claim under way)
                for session in list(self._unclaimed)[:CLAIM_CHUNK]:
                    held = self._sids.get(session)
                    unsure = self._unsure_claims.pop(session, None)
                    if held is None or session.closing:  # it logged out meanwhile
                        self._unclaimed.discard(session)
                        if unsure is not None:
                            self._release_unsure(unsure[0], unsure[2])
                        continue
                    _old_sid, key, _since = held
                    if unsure is not None:  # the same id again: CLAIM says 'ok' if the first one ran
                        sid, since, _key = unsure
                        sid, args = self._claim_args(session, key, session.name, session.registered, since, sid)
                    else:
                        # Online since now, for everyone: the other nodes told the leave (at the time
                        # they read it) and tell this as a join; with the session's first time, a
                        # client sorting by time would list the join before the leave.
                        since = time.time()
                        sid, args = self._claim_args(session, key, session.name, session.registered, since)
                    args += self._lookalike_args(session)
                    chunk.append((session, sid, key, since, scripts.CLAIM(self._redis, args=args)))
                replies = await asyncio.gather(*(claim for *_, claim in chunk), return_exceptions=True)
                failure: BaseException | None = None
                for (session, sid, key, since, _claim), reply in zip(chunk, replies):
                    if isinstance(reply, (RedisConnectionError, TimeoutError)):
                        # It may have run, its reply lost: under a new id it would find the name
                        # taken by this very session, a ghost that keeps a guest out for good.
                        self._unsure_claims[session] = (sid, since, key)
                        failure = failure or reply
                        continue
                    if isinstance(reply, BaseException):
                        raise reply
                    reply = self._claimed(reply)
                    if isinstance(reply, RedisError):
                        failure = failure or RedisConnectionError(str(reply))
                        continue
                    self._unclaimed.discard(session)
                    if reply == "ok":
                        self._sids[session] = (sid, key, since)
                        self._reclaimed.add(sid)
                        if session.closing:
                            self.release(session, "disconnected", time.time())
                    else:  # taken meanwhile (or this node is gone again: then the next beat rejoins)
                        lost += 1
                        self._sids.pop(session, None)
                        session.close(LOST_CLUSTER)
                        self._let_go(key, LOST_CLUSTER, time.time())
                if failure is not None:
                    raise failure
        finally:  # (also when Redis failed meanwhile: the next beat goes on with the rest)
            if lost:
                log.error("cluster: %s", counted(lost, "session{s} could not claim {its name|their names} again and "
                                                       "{was|were} closed"))
        if self.relay is not None:
            # What was sent to these users while nobody held their names was stored queued
            # and routed nowhere, after the fetch of the reconnection (_check_events_position)
            # if it came first: fetch again, or it waits for their next login.
            self.relay.resync(self._last_beat_at)

    # --- Readers -------------------------------------------------------------------------

    async def _read_events(self) -> None:
        stream = self.prefix + "events"
        failed_at: float | None = None  # wall-clock time the reader lost Redis
        while True:
            try:
                if failed_at is not None or self._events_recheck:
                    self._events_recheck = False
                    await self._check_events_position(failed_at)
                    failed_at = None
                reply = await self._events_reader.execute("XREAD", "COUNT", READ_COUNT, "BLOCK", BLOCK_MS,
                                                          "STREAMS", stream, self._last_event)
            except (RedisConnectionError, TimeoutError):
                failed_at = time.time() if failed_at is None else failed_at
                await asyncio.sleep(min(self.beat, 0.5))
                continue
            if isinstance(reply, RedisError):  # LOADING after a restart, for instance
                await asyncio.sleep(min(self.beat, 0.5))
                continue
            if not reply:
                continue
            for entry_id, fields in reply[0][1]:
                self._last_event = _text(entry_id)
                self._guarded(self._apply_event, fields)
            if self._event_waiters:
                self._wake_event_waiters()

    def _wake_event_waiters(self) -> None:
        """Resolve the waits of _catch_up that the events reader's position now meets."""
        reached = _stream_id(self._last_event)
        waiting = []
        for target, future in self._event_waiters:
            if target <= reached:
                if not future.done():
                    future.set_result(None)
            else:
                waiting.append((target, future))
        self._event_waiters = waiting

    async def _catch_up(self) -> None:
        """Return once the events reader has read every entry the events stream held when
        this was called, or after CATCH_UP_SECONDS (a reader cut off, or Redis slow: nothing
        waits on it for longer). The inbox reader calls it before applying a read that
        carries a direct message from someone not online in this node's directory: their
        ``on``, written before the message (the claim comes before the welcome), may be on
        its way by the other connection, and their ``joined`` must come to the recipient
        first (PROTOCOL.md, "joined, left"). One round trip, in the rare case only."""
        loop = asyncio.get_running_loop()
        # The bound: one future, resolved by a timer or by the events reader reaching the
        # target (no asyncio.wait_for: Python 3.10's raises another TimeoutError,
        # tests/integration/test_pyversion.py).
        bound = loop.create_future()
        timer = loop.call_later(CATCH_UP_SECONDS, lambda: bound.done() or bound.set_result(None))
        try:
            # With the client's own timeout, not the bound: a command that times out closes
            # the connection it was sent on (resp/aio.py, _expire), and this one is shared
            # with every claim, route and beat of the node, which a stall shorter than their
            # timeout must not fail. Past the bound the reply is left to come (or fail) alone.
            query = asyncio.ensure_future(self._redis.execute("XREVRANGE", self.prefix + "events", "+", "-",
                                                              "COUNT", 1))
            query.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved
            await asyncio.wait((query, bound), return_when=asyncio.FIRST_COMPLETED)
            if bound.done():
                return
            try:
                newest = query.result()
            except (RedisConnectionError, TimeoutError):
                return
            if isinstance(newest, RedisError) or not newest:
                return
            target = _stream_id(newest[0][0])
            if target <= _stream_id(self._last_event):
                return
            self._event_waiters.append((target, bound))
            await bound
        finally:
            timer.cancel()
            self._event_waiters = [(t, f) for t, f in self._event_waiters if f is not bound]

    async def _check_events_position(self, failed_at: float | None) -> None:
        """After a lost connection (since ``failed_at``, wall-clock time), or a rejoin (None:
        the node may have been away an hour with its connections up, a laptop asleep): load
        the registry again if the events stream no longer holds what this node has not read,
        :func:`_missed_events`; then, after a lost connection, the relay's resync."""
        info = await self._redis.execute("XINFO", "STREAM", self.prefix + "events")
        why = _missed_events(info, self._last_event)
        if why:
            log.warning("cluster: %s; loading the registry again", why)
            await self._load()
        if failed_at is not None and self.relay is not None:
            self.relay.resync(failed_at)

    def _guarded(self, apply: Callable[[Any], None], fields: list | bus.BusEvent) -> None:
        """Apply one entry (or one event of an inbox entry); a bug in doing so is logged
        (the first with its traceback, then a count) and the reader goes on with the next
        entry, never stops."""
        try:
            apply(fields)
        except Exception:
            self._apply_errors += 1
            if self._apply_errors == 1:
                log.exception("cluster: an entry could not be applied (kind %s)", _entry_kind(fields))
            elif self._apply_errors % 1000 == 0:
                log.error("cluster: %s could not be applied so far", counted(self._apply_errors, "entr{y|ies}"))

    def _decode(self, fields: list) -> bus.BusEvent | None:
        try:
            return bus.decode(fields[fields.index(b"e") + 1])
        except (bus.BadEntry, ValueError, IndexError) as exc:
            self._bad_entries += 1
            if self._bad_entries == 1 or self._bad_entries % 1000 == 0:
                log.error("cluster: %s so far (latest: %s)",
                          counted(self._bad_entries, "unreadable stream entr{y|ies}"), exc)
            return None

    def _apply_event(self, fields: list) -> None:
        event = self._decode(fields)
        if event is None or self.relay is None:
            return
        kind = type(event)
        relay = self.relay
        if kind in _SESSION_ENTRIES:
            unseen = False
            if kind is bus.SessionOn:
                relay.known[event.key] = event.name
                unseen = event.node != self.node_id and self._where.get(event.key) is True
            if kind is bus.NodeGone and event.node == self.node_id:
                # This node rejoins (_rejoin): the users whose sessions it claims again
                # are not told here that they left (Directory's module docstring).
                notices = self.users.apply(event, time.time(), {key for _sid, key, _since in self._sids.values()})
            else:
                notices = self.users.apply(event, time.time())
            if kind is bus.SessionOn and event.sid in self._claiming:
                self._claiming[event.sid].extend(notices)  # told after the welcome
            else:
                self._notify(notices)
            if kind is bus.NodeGone:
                relay.node_lost(event.node)
            if unseen:
                self._seen(event.key, event.sid)
        elif kind is bus.RoomPost:
            message = StoredMessage(event.msg_id, event.sender, event.sender_key, None, None, event.text,
                                    event.sent_at, "", "room")
            if self._says.arrived(message):  # else after the answers to this node's says (sayorder.py)
                relay.deliver_room(message)
        elif kind is bus.RoomChanged:
            relay.room_desk.changed(event.key, event.version, event.record, event.notices)
        elif kind is bus.RoomPosted:
            relay.room_desk.fan_out(StoredMessage(event.msg_id, event.sender, event.sender_key, None, event.room,
                                                  event.text, event.sent_at, "", "room"))
        elif kind is bus.RoomPostChangeStored:
            if event.node == self.node_id and event.msg_id in self._changing:
                self._held_changes.setdefault(event.msg_id, []).append(event)  # until its answer
            else:
                self._post_change_stored(event)
        elif kind is bus.AdminAdded:
            relay.room_desk.rooms.add_admin(event.key)
        elif kind is bus.BlockChange:
            relay.block_desk.changed(event.owner, event.target, event.blocking)
        elif kind is bus.AccountSaved:
            logins = relay.logins
            logins.learn(event.key, Account(event.name, bytes.fromhex(event.pw_hash), bytes.fromhex(event.salt),
                                            event.kdf))
            if event.keep is not None:  # its password changed (Redis already forgot the credentials)
                logins.credentials.revoke_account(event.key, keep=bytes.fromhex(event.keep) or None)
        elif kind is bus.PasswordReset:
            if event.node != self.node_id:  # this node's own change: done as it was answered
                relay.account_desk.end_sessions(event.key, changed=event.code == ErrorCode.PASSWORD_CHANGED)
        elif kind is bus.AccountDeleted:
            relay.account_desk.forget_account(event.key)  # (the deleting node's own: done already, again harmless)
            relay.account_desk.end_sessions(event.key, deleted=True)
        elif kind is bus.HoldingSaved:
            guests = relay.logins.guests
            if event.key not in guests.holdings:
                guests.lookalikes.add(event.name)
            left_at = event.left_at
            if left_at is not None and relay.registry.sessions_by_key(event.key):
                # Its guest is online here: the reap of this node, judged gone while cut off
                # (scripts.REAP), noted that it left, but its session stayed and claims it again.
                left_at = None
            token_hash = guests.echoed(event.key, bytes.fromhex(event.token_hash))  # (a give-up here stands)
            guests.holdings[event.key] = Holding(event.name, token_hash, event.epoch, left_at)
            if left_at is not None:  # every node knows when each name may be forgotten
                guests.left(event.key, left_at)
        elif kind is bus.GuestsForgotten:
            guests = relay.logins.guests
            for key in event.keys.split("\n"):
                guests.forget(key)
                relay.known.pop(key, None)
        elif kind is bus.ReceiptsSwitch:
            relay.after.switched(event.key, event.on)
        elif kind is bus.RoomReadMoved:
            relay.after.room_reads.moved(event.room, event.member, event.mark)

    def _seen(self, key: str, sid: str) -> None:
        """The directory showed every session of ``key`` here until it read session
        ``sid``'s ``on`` just now (it follows the events stream, behind Redis by a read or,
        after a pause, by more): so the messages stored here for ``key`` meanwhile went to
        its sessions here alone (:meth:`route`), and what ``key`` sent from here was copied
        to nobody on ``sid``'s node (:meth:`carbon`). That node fetches for ``sid`` what
        waits for it, and tells it to catch up (bus.SessionSeen, Relay.seen_elsewhere),
        before anything this node routes to it after this entry. A message stored before
        is in the store when they ask; one stored after is routed or copied to it."""
        entry, what = bus.encode(bus.SessionSeen(key, sid)), f"seen for {key!r}"
        self._seeing[key] = self._seeing.get(key, 0) + 1

        def answered(nodes: list[str] | None) -> None:
            left = self._seeing.pop(key) - 1
            if left:
                self._seeing[key] = left
            if nodes is None:  # routed again once Redis answers, before anything newer (_route_surely)
                self._route_later((key, entry, _route_again, what), "no answer from Redis", logging.WARNING)

        self._route(key, entry, answered, what)

    def _notify(self, notices: list) -> None:
        for notice in notices:
            if type(notice) is Joined:
                self.relay.cluster_joined(notice.key, notice.name, notice.since)
            else:
                self.relay.cluster_left(notice.key, notice.name, notice.reason, notice.at)

    async def _read_inbox(self) -> None:
        """Read the inbox: new entries (``>``), and passes over this consumer's pending
        entries (:meth:`_pending_page`), page by page from "0", each read once: at the
        start, after a lost connection (what Redis gave to a read whose answer was lost),
        and after an acknowledgement failed while this connection held (its entries stayed
        pending, a message's text with them, until the next lost connection, an unrelated
        event: tests/integration/test_cluster_inbox_acks.py)."""
        stream, group = f"{self.prefix}inbox:{self.node_id}", "node"

        def read_from(position: str | bytes) -> bytes:
            return encode_command(("XREADGROUP", "GROUP", group, self.node_id, "COUNT", READ_COUNT, "BLOCK", BLOCK_MS,
                                   "STREAMS", stream, position))

        # The read of new entries, nearly every read, encoded once: its eleven arguments through
        # the encoder were about fifty Python calls a read (bench/PROFILE.md, round twenty-three).
        read_new = read_from(">")
        position: str | bytes = "0"
        seen: set = set()  # the pending ids the pass under way found
        while True:
            if trace.ON:
                trace.mark("xcall", 0)
            if position == ">" and self._inbox_recheck:
                position = "0"
            if position == "0":
                self._inbox_recheck = False  # (one failing during this pass asks for another)
                seen = set()
            if position != ">":
                # Those acknowledged before this read is sent cannot come back in it (Redis
                # ran their acknowledgement first); those acknowledged while it is under way can.
                self._inbox_acked = set()
            try:
                # Written now, not at the end of the turn: entries that come while no read
                # waits in Redis wait for this one.
                read = read_new if position == ">" else read_from(position)
                reply = (await self._inbox_reader.pipeline_now([read]))[0]
                if position != ">" and reply and not isinstance(reply, RedisError):
                    # A pass applies what it finds not applied as a new read does, after
                    # the join of a sender it does not know. (Still collecting the ids
                    # acknowledged meanwhile: one of them must not be applied again.)
                    unacked = self._inbox_unacked
                    if self._from_strangers(self._events_of(
                            [entry for entry in reply[0][1] if entry[0] not in unacked])):
                        await self._catch_up()
            except (RedisConnectionError, TimeoutError):
                position = "0"
                await asyncio.sleep(min(self.beat, 0.5))
                continue
            finally:
                acked, self._inbox_acked = self._inbox_acked, None
            if isinstance(reply, RedisError):  # NOGROUP: the heartbeat joins again
                await asyncio.sleep(min(self.beat, 0.5))
                position = "0"
                continue
            entries = reply[0][1] if reply else []
            if trace.ON:
                trace.mark("xread", len(entries))
            if position != ">":
                self._pending_page(entries, acked, seen)
                if len(entries) < READ_COUNT:  # the pass is over
                    position = ">"
                    # What it did not find, Redis no longer holds: an acknowledgement that
                    # ran though its answer was lost, or one under way.
                    self._inbox_unacked &= seen
                    self._inbox_unsure &= seen
                else:  # the next page: the pending entries after this one's last
                    position = entries[-1][0]
                continue
            # New entries: never read before, so none is in _inbox_unacked or acked.
            events = self._events_of(entries)
            if self._from_strangers(events):
                await self._catch_up()
            for event in events:
                self._guarded(self._apply_routed, event)
            if entries:
                ids = [entry_id for entry_id, _fields in entries]
                self._inbox_unacked.update(ids)
                self._take_inbox_later(ids)
            if self._inbox_missed is not None and len(entries) < READ_COUNT and self.relay is not None:
                self._resync_after_trim("caught_up")

    def _pending_page(self, entries: list, acked: set, seen: set) -> None:
        """A page of a pass over the pending entries: apply those this node has not
        applied, and acknowledge them and those whose acknowledgement failed; the others
        (applied, their acknowledgement held or under way) are left to it. Applying one a
        second time would send a confirmed message, an outcome or a copy again."""
        again = []
        for entry_id, fields in entries:
            if entry_id in acked:
                # Applied, and acknowledged after Redis ran this read: a second time
                # sent its recipient the message again (tests/unit/test_cluster_inbox_reader.py).
                continue
            seen.add(entry_id)
            if entry_id in self._inbox_unacked:
                if entry_id in self._inbox_unsure:
                    again.append(entry_id)
                continue
            if fields is not None:  # (a pending entry trimmed away has no fields)
                self._guarded(self._apply_inbox, fields)
            again.append(entry_id)
        if again:
            self._inbox_unacked.update(again)
            self._inbox_unsure.difference_update(again)  # asked again
            self._take_inbox_later(again)

    def _take_inbox_later(self, ids: list) -> None:
        """Acknowledge the applied entries ``ids`` within LAZY_SECONDS, together with those
        of the reads until then, in one call (up to READ_COUNT ids: then at once). Nothing
        waits for it (``_inbox_unacked`` keeps them from being applied twice meanwhile), and
        a call of its own per read woke Redis, with its fsync, and this node once more for
        every entry at a few hundred messages a second (bench/PROFILE.md, round
        twenty-one)."""
        self._inbox_taken += ids
        if len(self._inbox_taken) >= READ_COUNT:
            self._take_inbox_now()
        elif self._take_timer is None:
            self._take_timer = asyncio.get_running_loop().call_later(LAZY_SECONDS, self._take_inbox_now)

    def _take_inbox_now(self) -> None:
        taken = self._held_acknowledgements()
        if taken:
            asyncio.ensure_future(self._take_inbox(taken))

    def _held_acknowledgements(self) -> list:
        """The ids _take_inbox_later holds, handed over (and its timer stopped)."""
        if self._take_timer is not None:
            self._take_timer.cancel()
            self._take_timer = None
        taken, self._inbox_taken = self._inbox_taken, []
        return taken

    async def _take_inbox(self, ids: list) -> None:
        """Acknowledge (and delete) inbox entries this node applied; once Redis has done
        it, they cannot come back, so they leave ``_inbox_unacked``. If it fails they stay
        there, and in ``_inbox_unsure``: the reader passes over the pending entries at its
        next read (within a BLOCK_MS), acknowledges those it finds and forgets the others."""
        try:
            reply = await scripts.INBOX_TAKEN(self._redis, args=(self.prefix, self.node_id, *ids))
        except (RedisConnectionError, TimeoutError) as exc:
            self._failed("inbox acknowledgement", exc)
            self._ask_again(ids)
            return
        if isinstance(reply, RedisError):
            self._failed("inbox acknowledgement", reply, logging.ERROR)
            self._ask_again(ids)
            return
        self._inbox_unacked.difference_update(ids)
        if self._inbox_acked is not None:  # a read under way may still bring them back
            self._inbox_acked.update(ids)

    def _ask_again(self, ids: list) -> None:
        """The acknowledgement of ``ids`` failed: the reader's next read is a pass over the
        pending entries, which asks again for those Redis still holds."""
        self._inbox_unsure.update(ids)
        self._inbox_recheck = True

    def _events_of(self, entries: list) -> list[bus.BusEvent]:
        """The events of an inbox read's ``entries``, in order. Each entry is read guarded,
        as it was applied before the catch-up: a bug in decoding one is logged, and the
        others are still read. (A pending entry trimmed away has no fields: none.)"""
        events: list = []
        collect = lambda fields: events.extend(self._routed_events(fields))  # noqa: E731
        for _entry_id, fields in entries:
            if fields is not None:
                self._guarded(collect, fields)
        return events

    def _from_strangers(self, events: list[bus.BusEvent]) -> bool:
        """True if ``events`` hold a direct message from someone not online in this node's
        directory: their join may still be on its way (:meth:`_catch_up`)."""
        where = self.users.where
        return any(type(event) is bus.Deliver and event.message.sender_key not in where for event in events)

    def _routed_events(self, fields: list) -> list[bus.BusEvent]:
        """The events of an inbox entry: one, or those one script call routed to this node,
        one a line (scripts.HELD_FUNCTIONS), in their order; one that cannot be read is
        logged (_decode) and left out."""
        if len(fields) == 2 and type(data := fields[1]) is bytes and b"\n" in data:
            events = [self._decode([b"e", line]) for line in data.split(b"\n")]
        else:
            events = [self._decode(fields)]
        return [event for event in events if event is not None]

    def _apply_inbox(self, fields: list) -> None:
        """Apply an inbox entry's events in their order, each guarded: a bug in applying one
        is logged and the others after it are still applied."""
        for event in self._routed_events(fields):
            self._guarded(self._apply_routed, event)

    def _apply_routed(self, event: bus.BusEvent) -> None:
        if self.relay is None:
            return
        if type(event) is bus.Deliver:
            if trace.ON:
                trace.mark("b_read", event.message.msg_id)
            self.relay.deliver_routed(event.message)
        elif type(event) is bus.Tell:
            if trace.ON:
                trace.mark("a_tell", event.msg_id)
            if self._fast_told and (event.key, event.msg_id) in self._fast_told:
                # Its "delivered" came first on the fast path, and is final: an entry before
                # it (a "queued" of a recipient's node that lost her) would now be untrue.
                if event.frame.startswith(_DELIVERED_TEXT_HEAD):
                    del self._fast_told[event.key, event.msg_id]
                return
            if self._fast_early:  # told by its entry: a datagram held for it tells nothing more
                self._fast_early.discard(event.key, event.msg_id)
            self.relay.tell_routed(event.key, event.msg_id, event.frame.encode("utf-8"))
        elif type(event) is bus.Settled:
            self.relay.settled_elsewhere(event.key, event.msg_id)
        elif type(event) is bus.Probe:
            self.relay.probe_holders(event.key)
        elif type(event) is bus.CarbonCopy:
            self.relay.carbon_routed(event.key, event.msg_id, event.frame.encode("utf-8"))
        elif type(event) is bus.MessagesWaiting:
            self.relay.fetch_waiting(event.key)
        elif type(event) is bus.SessionSeen:
            for session in self.relay.registry.sessions_by_key(event.key):
                if self._sids.get(session, ("",))[0] == event.sid:
                    self.relay.seen_elsewhere(session)
        elif type(event) is bus.Conversation:
            self.relay.after.routed(event.key, event.actor, event.feature, event.frame.encode("utf-8"),
                                    self.skew.from_redis(event.at))
