"""The server's figures for Prometheus: ``GET /metrics`` on the web port (issue 10).

:class:`Metrics` owns the counters: plain ints, bumped on paths that run anyway (a
connection accepted, a login, a message answered), so counting costs an integer add and
allocates nothing per message. What the server already knows (connections open, users
online, messages awaiting a receipt, bytes queued, operations waiting for the store) is
not counted twice but read when a scrape asks: the caller passes those gauges to
:meth:`Metrics.render`, which writes Prometheus's text exposition format, version 0.0.4
(``# HELP`` and ``# TYPE`` lines, counters ending in ``_total``, histograms as cumulative
``_bucket`` lines with ``_sum`` and ``_count``).

Latencies are :class:`Histogram` s with fixed buckets: the store's commit time (SQLite; the
memory store commits nothing), and, where a Redis client exists (cluster mode), its round
trip: :meth:`Metrics.track_redis` makes that histogram, and the client feeds it with
``observe(seconds)``; until then it is not shown.

Who may read the figures is the web listener's business (``config.metrics_allow``,
``const.METRICS_ALLOW``; see :func:`metrics_allowed`). No sockets here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# Upper bounds (seconds) of the latency buckets: from a commit without fsync (tens of µs)
# to a disk that stalls for seconds.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

# The media type Prometheus asks for and expects back.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    """Observations counted into buckets with fixed upper bounds (``le``), plus their
    sum and count; each ``observe`` costs a few comparisons and no allocation but the
    float sum."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: Iterable[float] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(sorted(bounds))
        self.counts = [0] * len(self.bounds)  # per bucket, not cumulative; +Inf is count
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.sum += value
        self.count += 1
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                return


# Counters of messages by (kind, outcome), in the order they are shown: each is an
# attribute of Metrics, named kind_outcome. An outcome is what the sender was answered
# (accepted: the recipient is online; queued: offline, stored for them; refused: an error
# such as unknown_recipient or id_reused; unavailable: the store failed, nothing stored,
# or (Redis took it and did not answer in time: uncertain) perhaps stored, which the
# client's resend, counted again, finds out;
# rate_limited) or what became of it later (delivered: the recipient's client confirmed
# it; expired: nobody did within the queue's time to live). Room messages are sent, or
# refused / unavailable / rate_limited as above.
MESSAGE_COUNTERS = (
    ("direct", "accepted"), ("direct", "queued"), ("direct", "delivered"), ("direct", "expired"),
    ("direct", "refused"), ("direct", "unavailable"), ("direct", "rate_limited"),
    ("room", "sent"), ("room", "unavailable"), ("room", "rate_limited"),
)

# The gauges render() takes, with their help text, in the order they are shown.
GAUGES = (
    ("chat_connections", "Connections open now (chat port and WebSocket), logged in or not."),
    ("chat_users_online", "Users online now (an account with several sessions counts once)."),
    ("chat_messages_in_flight", "Direct messages forwarded and awaiting the recipient's receipt."),
    ("chat_outgoing_bytes", "Bytes written to clients and not yet taken by their sockets."),
    ("chat_sessions_lagging", "Sessions whose outgoing queue is over the soft mark (slow readers)."),
    ("chat_store_queue", "Store operations submitted and not yet answered."),
    ("chat_cluster_redis_up", "1 if Redis answered this node's last read of the cluster figures (once a second), else 0."),
    ("chat_cluster_nodes_alive", "Cluster nodes whose heartbeat Redis holds (cluster mode; read once a second; absent while Redis is down)."),
    ("chat_cluster_inbox_entries", "Entries in this node's inbox stream not yet handled and acknowledged."),
    ("chat_cluster_inbox_pending", "Inbox entries this node has read and not yet acknowledged."),
    ("chat_cluster_events_lag_seconds", "Age gap between the events stream's newest entry and the last this node read."),
    ("chat_cluster_clock_offset_seconds", "Redis's clock minus this node's, in seconds (read once a second; over 1 s, the node logs that its clock is off)."),
)

# The counters a cluster node keeps beside the relay's (ClusterNode.counters), with their
# help text: name -> help; each is given as its samples, (labels, value).
PEER_COUNTERS = {
    "chat_cluster_inbox_resyncs_total": "Times this node's sessions fetched from the store what the trim of its full "
                                        "inbox may have taken unread (cluster mode), by reader: caught_up (once it "
                                        "had); behind (it had not, INBOX_CATCH_UP_SECONDS after the trim was found).",
    "chat_cluster_fast_path_total": "Datagrams of the fast path of delivered (cluster mode), by outcome: sent; "
                                    "told (the sender's node told delivered from one, ahead of its inbox entry); "
                                    "dropped (not sent, or not taken: the inbox entry tells the same).",
}


class Metrics:
    """The counters of one server; the relay and the store bump them, ``render`` shows them."""

    __slots__ = ("connections", "logins", "logins_refused", "store_errors", "store_commit", "redis_round_trip",
                 *(f"{kind}_{outcome}" for kind, outcome in MESSAGE_COUNTERS))

    def __init__(self) -> None:
        self.connections = 0  # accepted since start
        self.logins = 0  # welcomes sent
        self.logins_refused = 0  # hellos answered with an error
        self.store_errors = 0  # operations the store failed (answered unavailable, or retried)
        for kind, outcome in MESSAGE_COUNTERS:
            setattr(self, f"{kind}_{outcome}", 0)
        self.store_commit = Histogram()  # seconds per COMMIT (its fsync), durable store only
        self.redis_round_trip: Histogram | None = None  # see track_redis

    def activity(self) -> int:
        """A number that grows with every connection, login and message the server handles:
        two equal readings mean the server was quiet in between."""
        return self.connections + self.logins + self.logins_refused + sum(
            getattr(self, f"{kind}_{outcome}") for kind, outcome in MESSAGE_COUNTERS)

    def track_redis(self) -> Histogram:
        """The histogram of Redis round trips (seconds), made on first call: a Redis client
        calls ``observe`` on it for each reply it times. Shown from then on."""
        if self.redis_round_trip is None:
            self.redis_round_trip = Histogram()
        return self.redis_round_trip

    def render(self, gauges: dict[str, float], peer_counters: dict[str, list[tuple[str, float]]] | None = None) -> str:
        """The text exposition (format 0.0.4) of every counter and histogram, of
        ``gauges`` (name -> value, the names of ``GAUGES``; missing ones are left out) and
        of ``peer_counters`` (name -> samples, the names of ``PEER_COUNTERS``)."""
        out: list[str] = []

        def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)

        metric("chat_connections_total", "counter", "Connections accepted since the server started.",
               [("", self.connections)])
        metric("chat_logins_total", "counter", "Logins accepted (welcome sent).", [("", self.logins)])
        metric("chat_logins_refused_total", "counter", "Logins refused (hello answered with an error).",
               [("", self.logins_refused)])
        metric("chat_messages_total", "counter", "Messages by kind (direct, room) and outcome.",
               [(f'{{kind="{kind}",outcome="{outcome}"}}', getattr(self, f"{kind}_{outcome}"))
                for kind, outcome in MESSAGE_COUNTERS])
        metric("chat_store_errors_total", "counter", "Store operations that failed (nothing of them was done).",
               [("", self.store_errors)])
        for name, help_text in GAUGES:
            if name in gauges:
                metric(name, "gauge", help_text, [("", gauges[name])])
        for name, samples in (peer_counters or {}).items():
            metric(name, "counter", PEER_COUNTERS[name], samples)
        _histogram(out, "chat_store_commit_seconds", "Time to commit a transaction to disk (durable store).",
                   self.store_commit)
        if self.redis_round_trip is not None:
            _histogram(out, "chat_redis_round_trip_seconds", "Round trip of a Redis request (cluster mode).",
                       self.redis_round_trip)
        return "\n".join(out) + "\n"


def _histogram(out: list[str], name: str, help_text: str, histogram: Histogram) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} histogram")
    cumulative = 0
    for bound, count in zip(histogram.bounds, histogram.counts):
        cumulative += count
        out.append(f'{name}_bucket{{le="{_number(bound)}"}} {cumulative}')
    out.append(f'{name}_bucket{{le="+Inf"}} {histogram.count}')
    out.append(f"{name}_sum {_number(histogram.sum)}")
    out.append(f"{name}_count {histogram.count}")


def _number(value: float) -> str:
    """A sample value as Prometheus reads it: an int as digits, a float by repr
    (``0.005``, ``1e-05``), infinities and NaN as ``+Inf``, ``-Inf``, ``NaN``."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(entries: Iterable[str]) -> tuple[Network, ...]:
    """Networks from addresses or CIDR blocks (``127.0.0.1``, ``10.0.0.0/8``, ``::1``).

    Raises ValueError naming the entry that is neither.
    """
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or a CIDR block (such as 10.0.0.0/8)") from None
    return tuple(networks)


def metrics_allowed(address: str, allowed: tuple[Network, ...]) -> bool:
    """True if a peer at ``address`` may read /metrics: it is in one of ``allowed``. An
    IPv4 peer seen by a dual-stack listener (``::ffff:10.0.0.5``) is matched as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in allowed)
