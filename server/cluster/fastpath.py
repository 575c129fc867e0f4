"""The fast path of ``delivered``: one datagram from the recipient's node to the sender's.

Through Redis, a cross-node message's ``delivered`` takes a second fsync'ed round trip
and a wake of the sender's inbox reader (ROUTES on the recipient's node, XREADGROUP on
the sender's): about 2 ms at the median and 5 ms at p99 of the 5 and 11 a cross-node
message took at an offered 2,000/s on the benchmark's machine (bench/crosstrace.py). A
single server tells the sender ``delivered`` as the recipient's client confirms, before
the receipt is stored (relay._confirm): the promise is that the recipient has it, which
holds whatever becomes of the receipt. So the node that took the receipt also sends the
frame to the nodes that hold the sender's sessions in one UDP datagram, beside the inbox
entry it routes through Redis as before. The datagram is an optimisation only: one lost
(a firewall, a full buffer, a node that just started) costs nothing but the time the
inbox entry takes; the sender's node tells its sessions once, from whichever comes first
(ClusterNode.fast_delivered and its skip of the entry that follows).

The datagram carries an HMAC-SHA256 under the cluster's key, which the first node to join
put in Redis (scripts.JOIN): whoever can send one could read and write Redis already. It
names the node it is for, so one that reaches another node's port (two nodes on one
machine, an address reused) is dropped. A replay tells nothing: a sender's node tells
``delivered`` only for a message it routed and still waits on (relay.tell_fast). Not used
over ``rediss://``: its users chose to keep the cluster's traffic private, and the
datagram is in the clear.

Sans-I/O: :func:`seal` and :func:`unseal` turn a :class:`FastTell` into bytes and back;
:class:`EarlyTells` keeps the ones that came before their message's ``accepted`` was
written; :class:`FastLink` is the asyncio shell (a datagram endpoint).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("chat.cluster")

# A datagram's bound (a delivered frame, a user key and a node id are a few hundred
# bytes); larger ones are not sent, nor read. Within the 1,472 bytes of one Ethernet frame.
MAX_DATAGRAM = 1400
MAC_BYTES = 16  # HMAC-SHA256 truncated to 128 bits (RFC 2104 section 5)
# Datagrams not yet sent when the socket's buffer is full: past this many bytes the next
# ones are not sent (their inbox entries tell the same).
MAX_BUFFERED = 256 * 1024
# How often the log says that datagrams were dropped (with their count), at most.
DROP_LOG_INTERVAL = 60.0
# A datagram that comes before its message's flight (EarlyTells) is kept at most this long
# (its store's answer has come or failed by then: the store's timeout is 5 s), and at most
# this many of them.
EARLY_SECONDS = 5.0
EARLY_MAX = 1_000


@dataclass(frozen=True, slots=True)
class FastTell:
    """A frame for the sessions of user ``key`` on node ``node``, about message ``msg_id``."""

    node: str
    key: str
    msg_id: int
    frame: bytes


def seal(secret: bytes, tell: FastTell) -> bytes | None:
    """The datagram for ``tell`` under ``secret``; None if it would be over MAX_DATAGRAM."""
    body = json.dumps([tell.node, tell.key, tell.msg_id, tell.frame.decode("utf-8")], ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    if MAC_BYTES + len(body) > MAX_DATAGRAM:
        return None
    return hmac.new(secret, body, hashlib.sha256).digest()[:MAC_BYTES] + body


def unseal(secret: bytes, node: str, data: bytes) -> FastTell | str:
    """The FastTell in datagram ``data`` for node ``node``, or why it is not one (a word
    for the log): ``size``, ``mac`` (not sealed under ``secret``), ``form``, ``node``."""
    if not MAC_BYTES < len(data) <= MAX_DATAGRAM:
        return "size"
    body = data[MAC_BYTES:]
    if not hmac.compare_digest(hmac.new(secret, body, hashlib.sha256).digest()[:MAC_BYTES], data[:MAC_BYTES]):
        return "mac"
    try:  # sealed under the key, so by a node: a bad form is a node of another version
        to, key, msg_id, frame = json.loads(body)
        tell = FastTell(to, key, msg_id, frame.encode("utf-8"))
    except (ValueError, TypeError, AttributeError, RecursionError):
        return "form"
    if type(to) is not str or type(key) is not str or type(msg_id) is not int:
        return "form"
    if to != node:
        return "node"
    return tell


class EarlyTells:
    """The datagrams that came before the sender's node wrote their message's ``accepted``,
    until it has (ClusterNode.route). The recipient's node reads the message from Redis in
    the very iteration that answers the sender's node's store, so her client may confirm it
    before the sender's node has read that answer: 6% of the cross-node messages of
    bench.cluster at 2,000/s, each told by its inbox entry 1–5 ms later when the datagram
    was dropped. Held at most :data:`EARLY_SECONDS` and :data:`EARLY_MAX` of them, oldest
    dropped first: a replay, or one whose inbox entry came first, is never asked for.
    Sans-I/O: the caller gives the time."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], tuple[FastTell, float]] = {}  # oldest first, with its expiry

    def __bool__(self) -> bool:
        return bool(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, tell: FastTell, now: float) -> None:
        """Keep ``tell`` until :meth:`take` asks for it, at most EARLY_SECONDS from ``now``;
        the expired, and the oldest past EARLY_MAX, go first. Held again, it counts from now."""
        held = self._held
        while held:
            oldest = next(iter(held))
            if held[oldest][1] > now and len(held) < EARLY_MAX:
                break
            del held[oldest]
        held.pop((tell.key, tell.msg_id), None)  # to the end: the newest
        held[tell.key, tell.msg_id] = (tell, now + EARLY_SECONDS)

    def take(self, key: str, msg_id: int, now: float) -> FastTell | None:
        """The datagram held for ``key``'s message ``msg_id``, if one came and has not
        expired; it is held no more either way."""
        entry = self._held.pop((key, msg_id), None)
        return entry[0] if entry is not None and entry[1] > now else None

    def discard(self, key: str, msg_id: int) -> None:
        """Hold nothing more for ``key``'s message ``msg_id`` (told otherwise, or no flight)."""
        self._held.pop((key, msg_id), None)


class FastLink(asyncio.DatagramProtocol):
    """This node's datagram endpoint: :meth:`send` to other nodes, ``received(tell)`` for
    each datagram for this node sealed under the cluster's key (:attr:`secret`, None
    until the node joined: nothing is sent or taken until then)."""

    def __init__(self, node: str, received: Callable[[FastTell], None],
                 clock: Callable[[], float]) -> None:
        self.node = node
        self.secret: bytes | None = None
        self.peers: dict[str, tuple[str, int]] = {}  # node id -> its endpoint (scripts.JOIN's p..'fast')
        self.address: tuple[str, int] | None = None  # this endpoint's, once open
        self._received = received
        self._clock = clock
        self._transport: Any = None
        self._dropped: dict[str, int] = {}  # why -> how many since the last log line
        self.sent = self.dropped = 0  # since start (/metrics)
        self._dropped_logged = float("-inf")

    @classmethod
    async def open(cls, host: str, node: str, received: Callable[[FastTell], None],
                   clock: Callable[[], float]) -> FastLink:
        """A FastLink bound to ``host`` on a free port (OSError if it cannot be)."""
        loop = asyncio.get_running_loop()
        _transport, link = await loop.create_datagram_endpoint(lambda: cls(node, received, clock),
                                                               local_addr=(host, 0))
        return link

    def connection_made(self, transport: Any) -> None:  # the loop's datagram transport
        self._transport = transport
        self.address = transport.get_extra_info("sockname")[:2]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def set_peers(self, endpoints: dict[str, str]) -> None:
        """The other nodes' endpoints, as Redis holds them (node id -> "host port")."""
        peers = {}
        for node, where in endpoints.items():
            host, _, port = where.rpartition(" ")
            if node != self.node and host and port.isdigit():
                peers[node] = (host, int(port))
        self.peers = peers

    def send(self, tell: FastTell) -> None:
        """Send ``tell`` to its node, if that node's endpoint is known (else nothing: the
        inbox entry tells the same, a moment later)."""
        transport, where, secret = self._transport, self.peers.get(tell.node), self.secret
        if transport is None or where is None or secret is None:
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED:
            self._drop("buffer")
            return
        datagram = seal(secret, tell)
        if datagram is None:
            self._drop("size")
            return
        transport.sendto(datagram, where)
        self.sent += 1

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if self.secret is None:
            self._drop("early")
            return
        tell = unseal(self.secret, self.node, data)
        if isinstance(tell, str):
            self._drop(tell)
            return
        self._received(tell)

    def error_received(self, exc: Exception) -> None:
        # An ICMP "port unreachable" for an earlier datagram (a node gone): nothing lost.
        self._drop(type(exc).__name__)

    def _drop(self, why: str) -> None:
        """Count a datagram not sent or not taken; the log says so at most once per
        DROP_LOG_INTERVAL, with the counts (anyone can send datagrams to the port)."""
        self.dropped += 1
        self._dropped[why] = self._dropped.get(why, 0) + 1
        now = self._clock()
        if now - self._dropped_logged >= DROP_LOG_INTERVAL:
            self._dropped_logged = now
            counts = ", ".join(f"{count} {why}" for why, count in sorted(self._dropped.items()))
            self._dropped = {}
            log.info("cluster: fast path datagrams dropped (their inbox entries tell the same): %s", counts)
