"""The server's settings in one value, defaulting to const.py so tests can change them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import const


# The rate limits' rates, and where a user sets each (the command line's flag, if any, and
# the setting): a rate of zero or less would refuse every request forever once its burst
# is spent (and its token bucket divide by zero: server/limits.py), infinity none; neither
# is a limit.
_RATES = {
    "rate_per_connection": ("--rate-per-connection", "RATE_PER_CONNECTION"),
    "rate_per_address": ("--rate-per-address", "RATE_PER_ADDRESS"),
    "rate_floor_per_connection": (None, "RATE_FLOOR_PER_CONNECTION"),
    "room_posts_per_second": (None, "ROOM_POSTS_PER_SECOND"),
    "bytes_per_connection": (None, "BYTES_PER_SECOND_PER_CONNECTION"),
    "late_receipts_per_connection": (None, "LATE_RECEIPTS_PER_CONNECTION"),
    "late_receipts_per_address": (None, "LATE_RECEIPTS_PER_ADDRESS"),
    "acks_per_connection": (None, "ACKS_PER_CONNECTION"),
    "acks_per_address": (None, "ACKS_PER_ADDRESS"),
    "late_receipts_floor_per_connection": (None, "LATE_RECEIPTS_FLOOR_PER_CONNECTION"),
    "acks_floor_per_connection": (None, "ACKS_FLOOR_PER_CONNECTION"),
    "read_bytes_per_connection": (None, "READ_BYTES_PER_SECOND_PER_CONNECTION"),
    "login_checks_per_second": (None, "LOGIN_CHECKS_PER_SECOND"),
}


# The other numbers the server cannot run with at any value, and what each must be:
# (whole number or seconds, the least it may be, whether the least itself is allowed).
# Zero is refused where it means no time or nothing (a heartbeat of 0 s pings in a loop; a
# presence damping of 0 changes holds every notice, of 0 s turns it off in silence), kept
# where it is a choice (a guest hold of 0 holds no name; a presence room limit of 0 tells
# only watchers). NaN compares false with everything, so it would switch a check off.
_SECONDS, _WHOLE, _NUMBER = "a number of seconds", "a whole number", "a number"
_NUMBERS = {
    "heartbeat_interval": (_SECONDS, 0, False), "heartbeat_timeout": (_SECONDS, 0, False),
    "release_probe": (_SECONDS, 0, False), "login_timeout": (_SECONDS, 0, False),
    "frame_timeout": (_SECONDS, 0, False), "max_connections": (_WHOLE, 1, True),
    "max_outgoing_bytes": (_WHOLE, 1, True), "max_pending_receipts": (_WHOLE, 1, True),
    "max_bad_frames": (_WHOLE, 1, True), "presence_room_limit": (_WHOLE, 0, True),
    "presence_flap_changes": (_WHOLE, 1, True), "presence_flap_window": (_SECONDS, 0, False),
    "presence_settle": (_SECONDS, 0, False), "max_watched": (_WHOLE, 0, True), "max_blocked": (_WHOLE, 0, True),
    "queue_ttl": (_SECONDS, 0, False), "history_retention": (_SECONDS, 0, False),
    "login_failure_delay": (_SECONDS, 0, True), "guest_hold": (_SECONDS, 0, True),
    "guest_remembered": (_SECONDS, 0, True), "guest_remembered_most": (_WHOLE, 0, True),
    "account_resume_ttl": (_SECONDS, 0, True), "edit_window": (_SECONDS, 0, True),
    "typing_interval": (_SECONDS, 0, True),
    # A token bucket charges a cost above its burst as the burst (server/limits.py): a burst
    # of 0 (or NaN, or infinity) lets everything through. The floor's burst may be under
    # one, which turns the floor off (const.py); so may the late receipts' and the acks' floors.
    "burst_per_connection": (_NUMBER, 0, False), "burst_per_address": (_NUMBER, 0, False),
    "burst_floor_per_connection": (_NUMBER, 0, True), "login_checks_burst": (_NUMBER, 0, False),
    "room_post_burst": (_NUMBER, 0, False), "late_receipts_burst_per_address": (_NUMBER, 0, False),
    "acks_burst_per_connection": (_NUMBER, 0, False), "acks_burst_per_address": (_NUMBER, 0, False),
    "late_receipts_burst_floor_per_connection": (_NUMBER, 0, True),
    "acks_burst_floor_per_connection": (_NUMBER, 0, True),
    "bytes_burst_per_connection": (_NUMBER, 0, False), "read_bytes_burst_per_connection": (_NUMBER, 0, False),
}


def _number_problem(value: object, kind: str, least: int, inclusive: bool) -> str | None:
    """What ``value`` should be, in words, if it is not ``kind`` (_NUMBERS) from ``least``
    on (``inclusive``), finite; None if it is."""
    whole = kind == _WHOLE
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not math.isfinite(value) \
            or value < least or (value == least and not inclusive):
        return f"{kind}, {'at least 1' if least == 1 else '0 or more' if inclusive else 'more than 0'}"
    return None


# A connection's acks may come this many times as fast as its requests (ack_budget): the
# outcomes of that many sessions of one user, each sending at the request rate's limit.
ACKS_PER_REQUEST = 10
# Bytes a second a connection may send per request a second it may make, where the request
# rate was raised (read_budget): a request with what it brings back (its receipt, its
# outcome's ack) is a few hundred bytes, its text aside (which has a budget of its own).
READ_BYTES_PER_REQUEST = 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    host: str = const.SERVER_HOST
    port: int = const.SERVER_PORT
    server_name: str = const.SERVER_NAME
    heartbeat_interval: float = const.HEARTBEAT_INTERVAL
    heartbeat_timeout: float = const.HEARTBEAT_TIMEOUT
    release_probe: float = const.RELEASE_PROBE
    login_timeout: float = const.LOGIN_TIMEOUT
    frame_timeout: float = const.FRAME_TIMEOUT
    max_connections: int = const.MAX_CONNECTIONS
    max_outgoing_bytes: int = const.MAX_OUTGOING_BYTES
    max_pending_receipts: int = const.MAX_PENDING_RECEIPTS
    max_bad_frames: int = const.MAX_BAD_FRAMES
    presence_room_limit: int = const.PRESENCE_ROOM_LIMIT
    # The damping of one user whose presence churns (server/presence.py): after this many
    # changes within the window (seconds), their notices wait until none came for settle seconds.
    presence_flap_changes: int = const.PRESENCE_FLAP_CHANGES
    presence_flap_window: float = const.PRESENCE_FLAP_WINDOW
    presence_settle: float = const.PRESENCE_SETTLE
    max_watched: int = const.MAX_WATCHED
    max_blocked: int = const.MAX_BLOCKED
    # Log lines a client can cause at will (bad frames, refused logins, rate limits) are
    # logged once, then counted per address and summed up in one line per this many seconds.
    log_summary_interval: float = 60.0
    # Freeze long-lived objects out of the garbage collector's way (see app._tame_gc).
    # Process-wide, so only the real server turns it on, not tests running it in a thread.
    tame_gc: bool = False
    # The database file's folder; None keeps everything in memory (nothing survives).
    data_dir: Path | None = None
    # A redis:// (or rediss://, TLS) URL: the store is that Redis (cluster mode, issue 10), not data_dir.
    cluster_url: str | None = None
    queue_ttl: float = const.QUEUE_TTL
    history_retention: float = const.HISTORY_RETENTION
    # Seconds between passes that expire old queued messages and purge old history.
    expiry_interval: float = 30.0
    require_accounts: bool = const.REQUIRE_ACCOUNTS
    login_failure_delay: float = const.LOGIN_FAILURE_DELAY
    guest_hold: float = const.GUEST_HOLD
    guest_remembered: float = const.GUEST_REMEMBERED
    guest_remembered_most: int = const.GUEST_REMEMBERED_MOST
    account_resume_ttl: float = const.ACCOUNT_RESUME_TTL
    login_checks_per_second: float = const.LOGIN_CHECKS_PER_SECOND
    login_checks_burst: float = const.LOGIN_CHECKS_BURST
    registrations_per_address: float = const.REGISTRATIONS_PER_ADDRESS
    rate_per_connection: float = const.RATE_PER_CONNECTION
    burst_per_connection: float = const.BURST_PER_CONNECTION
    rate_per_address: float = const.RATE_PER_ADDRESS
    burst_per_address: float = const.BURST_PER_ADDRESS
    rate_floor_per_connection: float = const.RATE_FLOOR_PER_CONNECTION
    burst_floor_per_connection: float = const.BURST_FLOOR_PER_CONNECTION
    max_connections_per_address: int = const.MAX_CONNECTIONS_PER_ADDRESS
    bytes_per_connection: float = const.BYTES_PER_SECOND_PER_CONNECTION
    # Posts per member and room (server/roomdesk.py, RoomDesk.over_post_budget).
    room_posts_per_second: float = const.ROOM_POSTS_PER_SECOND
    room_post_burst: float = const.ROOM_POST_BURST
    # Receipts for messages not in flight (server/relay.py, _late_receipt); a connection's
    # burst is max_pending_receipts.
    late_receipts_per_connection: float = const.LATE_RECEIPTS_PER_CONNECTION
    late_receipts_per_address: float = const.LATE_RECEIPTS_PER_ADDRESS
    late_receipts_burst_per_address: float = const.LATE_RECEIPTS_BURST_PER_ADDRESS
    # Acks of outcomes (server/relay.py, _ack_wait), spent once per frame.
    acks_per_connection: float = const.ACKS_PER_CONNECTION
    acks_burst_per_connection: float = const.ACKS_BURST_PER_CONNECTION
    acks_per_address: float = const.ACKS_PER_ADDRESS
    acks_burst_per_address: float = const.ACKS_BURST_PER_ADDRESS
    # What a connection may still spend of each while its address's budget is spent (the
    # floors, as for requests: rate_floor_per_connection); a burst under one: no floor.
    late_receipts_floor_per_connection: float = const.LATE_RECEIPTS_FLOOR_PER_CONNECTION
    late_receipts_burst_floor_per_connection: float = const.LATE_RECEIPTS_BURST_FLOOR_PER_CONNECTION
    acks_floor_per_connection: float = const.ACKS_FLOOR_PER_CONNECTION
    acks_burst_floor_per_connection: float = const.ACKS_BURST_FLOOR_PER_CONNECTION
    # Bytes read from one connection (server/session.py, the read budget), per read.
    read_bytes_per_connection: float = const.READ_BYTES_PER_SECOND_PER_CONNECTION
    read_bytes_burst_per_connection: int = const.READ_BYTES_BURST_PER_CONNECTION
    # ... counted against it once per this many bytes read (or a read more): the read path
    # does a subtraction and a comparison, and looks at the clock once per 64 KiB.
    read_check_bytes: int = 64 * 1024
    # ... and what each frame read counts as at least (a blank line, a WebSocket ping).
    read_bytes_min_per_frame: int = const.READ_BYTES_MIN_PER_FRAME
    # The kernel's send buffer of each client socket (SO_SNDBUF); None leaves the system's
    # own, which grows by itself (up to megabytes on loopback) and hides a slow reader's
    # lag from the outgoing queue. Tests set it small to stand for a slow link.
    socket_send_buffer: int | None = None
    bytes_burst_per_connection: float = const.BYTES_BURST_PER_CONNECTION
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # HTTP + WebSocket for the web client; None (or 0 from the command line) turns it off.
    web_port: int | None = None
    # None: only the page's own origin may open the WebSocket; else these too ("*": any).
    web_origins: tuple[str, ...] | str | None = None
    # Serve the WebSocket echo path /echo (for conformance suites such as Autobahn).
    web_echo: bool = False
    # The retry_after (seconds) of an "unavailable" answer, sent while the disk fails.
    unavailable_retry_after: float = 5.0
    # Host names the web client may be reached by, besides localhost, the machine's host
    # name and IP addresses ("*" in it: any); see web/hosts.py.
    web_hosts: tuple[str, ...] = const.WEB_ALLOWED_HOSTS
    # Addresses and CIDR blocks that may GET /metrics on the web port (others: 403).
    metrics_allow: tuple[str, ...] = const.METRICS_ALLOW
    # Listen with SO_REUSEPORT, so that several nodes on one machine share the ports
    # (--workers N); the kernel spreads new connections over them.
    reuse_port: bool = False
    # After delivered (issue 13): how long a sender may edit or delete a direct message,
    # and how often "typing" passes from one user to another.
    edit_window: float = const.EDIT_WINDOW
    typing_interval: float = const.TYPING_INTERVAL

    def __post_init__(self) -> None:
        """Refuse a rate limit that is no limit (see _RATES), and a number no server can run
        with (_NUMBERS): ValueError, one sentence naming the setting and where it is set."""
        for field, (flag, setting) in _RATES.items():
            rate = getattr(self, field)
            if not 0 < rate < math.inf:
                where = const.LOCAL_SETTINGS.where(setting)
                raise ValueError(f"{field} is a number per second, more than 0, not {rate:g} "
                                 f"({f'{flag} or ' if flag else ''}{where})")
        if not 0 < self.registrations_per_address < math.inf:
            raise ValueError(f"registrations_per_address is a number per hour, more than 0, not "
                             f"{self.registrations_per_address:g} "
                             f"({const.LOCAL_SETTINGS.where('REGISTRATIONS_PER_ADDRESS')})")
        # After the rates: the command line's rate may set its burst too (twice it:
        # chatserver.request_burst), so a bad rate is said as the rate.
        for field, rule in _NUMBERS.items():
            value = getattr(self, field)
            problem = _number_problem(value, *rule)
            if problem is not None:
                raise ValueError(f"{field} is {problem}, not {value!r} ({const.LOCAL_SETTINGS.where(field.upper())})")

    @property
    def ack_budget(self) -> tuple[float, float]:
        """One connection's budget of acks, (rate, burst): the configured rate, or more where
        the request rate was raised (a benchmark's, an operator's): an honest client is told
        outcomes no faster than its user's messages are accepted, so ACKS_PER_REQUEST
        sessions of one user sending at the full request rate stay within it. The burst is
        the configured one (two frames of acks)."""
        return (max(self.acks_per_connection, ACKS_PER_REQUEST * self.rate_per_connection),
                self.acks_burst_per_connection)

    @property
    def ack_address_budget(self) -> tuple[float, float]:
        """One address's budget of acks, all its connections together, (rate, burst): as
        :attr:`ack_budget`, from the address's request rate."""
        return (max(self.acks_per_address, ACKS_PER_REQUEST * self.rate_per_address), self.acks_burst_per_address)

    @property
    def read_budget(self) -> tuple[float, int]:
        """One connection's budget of bytes read, (bytes a second, burst): the configured
        rate, or READ_BYTES_PER_REQUEST for each request a second where the request rate
        was raised past it (a benchmark's clients send thousands of messages a second
        each). The burst is the configured one."""
        return (max(self.read_bytes_per_connection, READ_BYTES_PER_REQUEST * self.rate_per_connection),
                self.read_bytes_burst_per_connection)

    @property
    def database(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / "chat.sqlite3"
