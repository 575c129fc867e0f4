"""An asyncio shell around :class:`resp.protocol.Connection`: one Redis connection.

Use it like this::

    async with RedisClient("redis://:secret@127.0.0.1:6379/2") as redis:
        await redis.execute("SET", "greeting", "olá")          # "OK"
        await redis.execute("GET", "greeting")                 # b"ol\\xc3\\xa1"
        await redis.execute("INCR", "greeting")                # RedisError("ERR", "value is not ...")

The contract:

- ``await execute(*args)`` returns the reply as a value (see :mod:`resp.protocol`); an
  error reply is returned as a :class:`RedisError`, not raised. It raises only when there
  is no reply to give: :class:`RedisConnectionError` when the connection could not be
  made, was lost while the command was in flight, or the client was closed;
  ``TimeoutError`` when no reply came within ``timeout`` seconds (per client, or per call
  for blocking commands such as ``XREADGROUP ... BLOCK``). A command that was sent and then
  failed either way may or may not have run; one that was never sent says so, in words and
  in :func:`may_have_run` (False only for a command this client never wrote to a socket:
  then Redis cannot have run it). A caller that must tell its own caller the truth (the
  Redis store: "nothing was done" or "it may have been done") asks that, not the words.
- **Pipelining**: commands issued in the same turn of the event loop (for instance by
  ``asyncio.gather``) are written with one ``transport.write`` and their replies read
  as they come, so a thousand commands cost one round trip. ``pipeline(commands)`` does
  the same for a list of commands without a task per command (a third of the CPU).
- **Connecting** is lazy: the first command connects, sends ``AUTH`` and ``SELECT`` from
  the URL, then the commands that waited, in order. A connection that is lost is not
  reopened until the next command; while it cannot be reached, attempts are repeated with
  a growing pause (``backoff``) for as long as some command is still waiting, and a
  waiting command fails at its deadline with the last connection error, and every command
  waiting behind it with it (none is sent while an earlier one failed unsent: callers that
  send again what failed keep their order). ``AUTH`` or
  ``SELECT`` refused fails the waiting commands at once (retrying cannot help). A
  connection that fails says what to change when that can be told (a certificate to
  give for ``rediss://``, the other scheme: :func:`connection_advice`).
- A command that times out after it was sent closes the connection: replies come in
  order, so a server that does not answer one command will not answer the ones behind it
  either. The other commands in flight fail with :class:`RedisConnectionError`; the next
  command reconnects.
- At most ``max_in_flight`` commands wait for a reply at once; more wait their turn
  (within their timeout), so memory stays bounded however fast callers issue commands.
  They are sent in the order they were issued: nothing issued after them overtakes them
  (one that fits, a :meth:`~RedisClient.pipeline_now`), since callers rely on that order
  (the Redis store's pipelines, a node's routes). One that waits in vain fails unsent,
  and so does what waits behind it.
- A blocking read (``XREADGROUP ... BLOCK``) holds up every command behind it on its
  connection: give blocking reads a client of their own.
- A client belongs to the event loop it is first used in, and is not thread-safe.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .protocol import NEED_DATA, Connection, ProtocolError, RedisError, encode_command

log = logging.getLogger("resp")

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_IN_FLIGHT = 10_000
# While Redis stays unreachable, a summary of the failed attempts is logged this often.
FAILURE_LOG_INTERVAL = 60.0


class RedisConnectionError(ConnectionError):
    """No reply: the connection to Redis could not be made, was lost, or was closed.

    ``sent``: whether the command had been written to the connection (then Redis may have
    run it); see :func:`may_have_run`."""

    def __init__(self, reason: str, *, sent: bool = True) -> None:
        super().__init__(reason)
        self.sent = sent


class RedisTimeout(TimeoutError):
    """No reply within the command's timeout; ``sent`` as for :class:`RedisConnectionError`."""

    def __init__(self, reason: str, *, sent: bool = True) -> None:
        super().__init__(reason)
        self.sent = sent


def may_have_run(exc: BaseException) -> bool:
    """Whether the command (or pipeline) that failed with ``exc`` may have run in Redis.

    False only when this client says it never wrote it (``sent`` False): no connection
    came up in time, ``max_in_flight`` left no room, the client was closed first. Any
    other failure, one this module did not make included, counts as "may have run": a
    command written and not answered (timeout, connection lost) ran whole or not at all,
    and nothing here can tell which.
    """
    return getattr(exc, "sent", True) is not False


# The query parameters of a rediss:// URL: redis-py's names, so that a URL written for it
# reads the same here (files in PEM, as Redis's own tls-*-file settings take them).
TLS_PARAMETERS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True, slots=True)
class RedisAddress:
    """Where and how to connect, from a ``redis://`` or ``rediss://`` URL (:func:`parse_url`).
    ``tls``: over TLS, verified against the system's certificate authorities or
    ``ca_file``, with ``cert_file``/``key_file`` as this client's certificate if Redis asks
    for one (``tls-auth-clients``)."""

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __str__(self) -> str:
        # Never the password: this goes into logs and error messages. An IPv6 host in
        # brackets, as in the URL it came from (redis://[::1]:6379/0).
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'rediss' if self.tls else 'redis'}://{host}:{self.port}/{self.db}"


def parse_url(url: str) -> RedisAddress:
    """``redis://[[user]:password@]host[:port][/db]`` as a :class:`RedisAddress`; the same
    with ``rediss://`` over TLS, which may end in ``?ssl_ca_certs=FILE`` (the certificate
    authority that signed Redis's certificate, when it is not one the system trusts) and
    ``&ssl_certfile=FILE&ssl_keyfile=FILE`` (this client's, for a Redis that asks).

    User and password are percent-decoded; a password without a user (``:pw@``) is sent
    as ``AUTH pw``, with a user as ``AUTH user pw`` (Redis 6 ACLs). Raises ``ValueError``
    for another scheme (unix sockets are not supported), another query string, or a
    database that is not a number. The files are read by :func:`tls_context`.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError(f"not a redis:// or rediss:// URL: {parts.scheme or url!r} (unix sockets are not "
                         "supported)")
    tls = parts.scheme == "rediss"
    if parts.fragment:
        raise ValueError(f"a {parts.scheme}:// URL here takes no fragment")
    try:
        query = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
    except ValueError:
        raise ValueError(f"not a query string of a {parts.scheme}:// URL: {parts.query!r}") from None
    if query and not tls:
        raise ValueError("a redis:// URL here takes no query string (the TLS files go after a rediss:// URL: "
                         "?ssl_ca_certs=FILE)")
    unknown = sorted(set(query) - set(TLS_PARAMETERS))
    if unknown:
        raise ValueError(f"a rediss:// URL here takes {', '.join(TLS_PARAMETERS)}, not {', '.join(unknown)}")
    if any(not query[name] for name in query):
        raise ValueError("a TLS file in a rediss:// URL needs its path (ssl_ca_certs=/path/to/ca.pem)")
    if ("ssl_certfile" in query) != ("ssl_keyfile" in query):
        raise ValueError("ssl_certfile and ssl_keyfile go together (this client's certificate and its key)")
    path = parts.path.strip("/")
    if path and not path.isdigit():
        raise ValueError(f"the database in a redis:// URL is a number, not {path!r}")
    try:
        port = parts.port or 6379
    except ValueError as exc:  # urllib's message names the bad port
        raise ValueError(f"bad port in redis URL: {exc}") from None
    return RedisAddress(
        host=parts.hostname or "127.0.0.1",
        port=port,
        db=int(path) if path else 0,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        ca_file=query.get("ssl_ca_certs"),
        cert_file=query.get("ssl_certfile"),
        key_file=query.get("ssl_keyfile"),
    )


def tls_context(address: RedisAddress) -> ssl.SSLContext | None:
    """The TLS context to connect to ``address`` with (None without TLS): the server's
    certificate verified, and its name (or IP address) checked, against the system's
    authorities or ``address.ca_file``; this client's certificate loaded if given. One
    per set of files, made once (reconnections reuse it). Raises ``ValueError`` saying
    which file could not be used and why."""
    if not address.tls:
        return None
    return _context(address.ca_file, address.cert_file, address.key_file)


@functools.lru_cache(maxsize=8)
def _context(ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot use ssl_ca_certs {ca_file!r} (a PEM file of certificate authorities): "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if cert_file is not None:
        try:
            # A key under a passphrase would have OpenSSL ask for it on the terminal, and a
            # node started by a service manager wait there for ever: refused instead.
            context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
        except _Encrypted:
            raise ValueError(f"ssl_keyfile {key_file!r} is encrypted (it wants a passphrase, which a node cannot "
                             "type): give it without one (openssl pkey -in KEY -out PLAIN-KEY)") from None
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"cannot use ssl_certfile {cert_file!r} with ssl_keyfile {key_file!r} (PEM files: "
                             f"a certificate and its key): {getattr(exc, 'strerror', None) or exc}") from None
    return context


class _Encrypted(Exception):
    """A key file wanted a passphrase (:func:`_no_passphrase`)."""


def _no_passphrase() -> bytes:
    raise _Encrypted


def connection_advice(address: RedisAddress, exc: BaseException, *, handshake: bool = False) -> str:
    """What to change when an exchange with ``address`` failed for ``exc`` once its TCP
    connection was up (the TLS handshake, AUTH, SELECT, a first command), as words to end
    a one-line error with; "" when there is nothing to say. ``handshake``: ``exc`` came
    before the TLS handshake ended (a timeout then is a hint of a plain port).

    Redis tells, in a TLS alert, that it wants this client's certificate or does not
    accept it; a certificate of Redis's that cannot be checked is this side's finding. A
    TLS port spoken to in plain text, or a plain one in TLS, only closes or stays silent:
    then the advice is an "if". A missing certificate can also look like that (TLS 1.3
    sends the alert after the handshake, and the connection may be reset before it is
    read)."""
    reason = getattr(exc, "reason", None) or ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "give the authority that signed Redis's certificate as ?ssl_ca_certs=FILE in the rediss:// URL"
    if "CERTIFICATE_REQUIRED" in reason:
        return ("Redis wants this client's certificate (tls-auth-clients): give it in the rediss:// URL, "
                "?ssl_certfile=FILE&ssl_keyfile=FILE")
    if "ALERT" in reason and ("UNKNOWN_CA" in reason or "CERTIFICATE" in reason):
        return ("Redis does not accept this client's certificate (ssl_certfile): it must be signed by an authority "
                "in Redis's tls-ca-cert-file")
    cut = isinstance(exc, (ConnectionError, ssl.SSLEOFError)) and not isinstance(exc, ConnectionRefusedError)
    if not address.tls:
        return "if that port takes TLS, the URL is rediss://" if cut else ""
    if (handshake and isinstance(exc, TimeoutError)) or reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"):
        return "if that port takes no TLS, the URL is redis://"
    if cut and address.cert_file is None:
        return ("if Redis wants clients' certificates (tls-auth-clients), give this client's in the rediss:// URL, "
                "?ssl_certfile=FILE&ssl_keyfile=FILE")
    return ""


def backoff(initial: float = 0.05, maximum: float = 2.0, factor: float = 2.0,
            rng: Callable[[], float] = random.random) -> Iterator[float]:
    """Pauses between connection attempts: growing by ``factor`` up to ``maximum``.

    Each is drawn from the upper half of its step (``rng`` in [0, 1)), so that cluster
    nodes that lost Redis together do not all come back in the same millisecond.
    """
    delay = initial
    while True:
        yield delay * (0.5 + rng() / 2)
        delay = min(delay * factor, maximum)


class _Refused(Exception):
    """AUTH or SELECT was answered with an error: retrying will not help."""


# Bytes of the buffer a thread's connections read into (_ReadBuffer).
READ_BUFFER_BYTES = 256 * 1024


class _ReadBuffer(threading.local):
    """The buffer every connection of this thread's event loop reads into.

    asyncio's plain ``Protocol`` path allocates 256 KiB for each ``recv``, which the kernel
    maps and unmaps for every small read (bench/PROFILE.md, round twenty-three; the chat
    sessions stopped it the same way: server/session.py). asyncio calls ``get_buffer``,
    reads and calls ``buffer_updated`` in one go in the loop's thread, and the link copies
    the bytes out first, so one buffer serves every connection of the thread."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(READ_BUFFER_BYTES))


_reads = _ReadBuffer()


class _Link(asyncio.BufferedProtocol):
    """One TCP connection: feeds the core and settles each reply's future.

    The futures are the core's tokens. A future already done (its caller timed out or was
    cancelled) still takes its reply off the FIFO, so later replies stay matched.
    """

    def __init__(self, client: RedisClient, core: Connection) -> None:
        self.client = client
        self.core = core
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()
        # Why the connection was lost (connection_lost's exception), once it was.
        self.lost_to: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def get_buffer(self, sizehint: int) -> memoryview:
        return _reads.view

    def buffer_updated(self, nbytes: int) -> None:
        # Copied before anything else runs (the buffer is the thread's, not this link's).
        self.data_received(_reads.view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        self.core.receive_data(data)
        self._settle()

    def eof_received(self) -> bool:
        # The core tells a clean end from one in the middle of a reply; connection_lost,
        # which follows, fails whatever is still pending.
        self.core.receive_data(b"")
        self._settle()
        return False

    def _settle(self) -> None:
        """Hand every complete reply to its future; on bad bytes, give up the connection."""
        core = self.core
        try:
            while (item := core.next_reply()) is not NEED_DATA:
                future, reply = item
                if not future.done():
                    future.set_result(reply)
        except ProtocolError as exc:
            # Once per connection: the stream is dead after this, nothing more is parsed.
            log.error("closing the connection to %s: %s", self.client.address, exc)
            self.abort(f"the connection to {self.client.address} broke ({exc}); the "
                       f"command may or may not have run")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_to = exc
        failed = self.fail_pending(self.client._lost_reason(exc))
        self.client._link_lost(self, exc, failed)
        if not self.closed.done():
            self.closed.set_result(None)

    def fail_pending(self, reason: str) -> int:
        failed = 0
        for future in self.core.fail_pending():
            if not future.done():
                _fail(future, RedisConnectionError(reason))
                failed += 1
        return failed

    def abort(self, reason: str) -> None:
        """Give up on this connection now: fail what is pending, stop new commands coming."""
        self.fail_pending(reason)
        self.client._detach(self)
        self.transport.abort()

    def send(self, command: bytes, future: asyncio.Future[Any]) -> None:
        self.core.send_encoded(command, future)

    def flush(self) -> None:
        data = self.core.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _fail(future: asyncio.Future[Any], exc: BaseException) -> None:
    """Fail a command's ``future`` with ``exc``, read at once: a pipeline_now whose caller
    was cancelled before it awaited leaves it unread, which asyncio logs when the future is
    collected. Whoever awaits it still gets it. (A done callback per future that read it
    cost every reply a callback: tests/integration/test_resp_aio.py.)"""
    future.set_exception(exc)
    future.exception()


class _Replies:
    """The replies of a pipeline :meth:`RedisClient.pipeline_now` sent, or queued for room
    under ``max_in_flight`` (``waiting``, sent when its turn comes): await it once. Its
    coroutine is made only when awaited, so one never awaited (its caller was cancelled
    first: the client is closing) leaves no warning behind."""

    __slots__ = ("_client", "_sent", "_waiting")

    def __init__(self, client: RedisClient, sent: tuple | None, waiting: _Waiting | None = None) -> None:
        self._client, self._sent, self._waiting = client, sent, waiting

    def __await__(self) -> Any:
        if self._waiting is not None:
            return self._client._replies_when_sent(self._waiting).__await__()
        return self._client._replies(*self._sent).__await__()

    def failed(self) -> bool:
        """Whether the pipeline failed already (its connection lost, its deadline passed,
        not sent): known as it happens, a loop turn or two before whoever awaits it wakes
        (a pipeline's commands fail together, so its last one says it). One still waiting
        for room has not, unless its wait ended in vain."""
        sent = self._sent
        if self._waiting is not None:
            place = self._waiting.place
            if not place.done() or place.cancelled():
                return False
            if place.exception() is not None:
                return True
            sent = place.result()
        last = sent[0][-1]
        return last.done() and not last.cancelled() and last.exception() is not None


class _Waiting:
    """Commands waiting for room under ``max_in_flight``, in the client's queue: sent,
    in the queue's order, as soon as they fit (``place`` then holds what
    :meth:`RedisClient._replies` needs), or failed unsent at ``deadline``."""

    __slots__ = ("encoded", "deadline", "timeout", "place", "timer")

    def __init__(self, encoded: list[bytes], deadline: float, timeout: float, place: asyncio.Future[tuple]) -> None:
        self.encoded, self.deadline, self.timeout, self.place = encoded, deadline, timeout, place
        self.timer: asyncio.TimerHandle | None = None


class _Deadline:
    """One timer for the commands of one loop turn: fires ``expire(futures, timeout)``
    unless every one of them is done first (``done()`` is called once per command)."""

    __slots__ = ("timeout", "futures", "open", "_timer")

    timeout: float | None

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float,
                 expire: Callable[[list[asyncio.Future[Any]], float], None]) -> None:
        self.timeout = timeout
        self.futures: list[asyncio.Future[Any]] = []
        self.open = 0
        self._timer = loop.call_later(timeout, expire, self.futures, timeout)

    def done(self) -> None:
        self.open -= 1
        if not self.open:
            self._timer.cancel()
            self.futures.clear()
            self.timeout = None  # spent: a later command of the same turn takes a new one


class _Expiry:
    """The deadline of one pipeline: :meth:`RedisClient._expire` its futures at ``when``
    (the loop's time) unless cancelled first, as a timer would, but watched by the
    client's one timer for all of them (:meth:`RedisClient._watch`)."""

    __slots__ = ("when", "futures", "timeout", "cancelled")

    def __init__(self, when: float, futures: list[asyncio.Future[Any]], timeout: float) -> None:
        self.when, self.futures, self.timeout = when, futures, timeout
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class RedisClient:
    """One connection to one Redis server, reopened as needed (see the module docstring).

    ``url`` is a ``redis://`` or ``rediss://`` URL (:func:`parse_url`); ``timeout`` bounds every command
    (``execute(..., timeout=)`` overrides it for one call); ``connect_timeout`` bounds each
    connection attempt including AUTH and SELECT; ``limits`` are passed to the
    :class:`~resp.protocol.Connection` core (``max_bulk_bytes``, ``max_depth``...).
    """

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = DEFAULT_TIMEOUT,
                 connect_timeout: float | None = None,
                 max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                 backoff_initial: float = 0.05, backoff_max: float = 2.0,
                 **limits: int) -> None:
        self.address = parse_url(url)
        self.timeout = timeout
        self.connect_timeout = timeout if connect_timeout is None else connect_timeout
        self.max_in_flight = max_in_flight
        self._backoff = (backoff_initial, backoff_max)
        self._limits = limits
        # The open, authenticated connection, or None.
        self._link: _Link | None = None
        # Commands issued while there is no link, oldest first, sent once it is up.
        self._waiting: deque[tuple[bytes, asyncio.Future[Any]]] = deque()
        self._connector: asyncio.Task[None] | None = None
        # Why the last connection attempt failed, for the commands that time out waiting.
        self._connect_error: BaseException | None = None
        # Failed attempts since the last success, and when the last was logged.
        self._failures = 0
        self._failure_logged_at = 0.0
        self._flush_scheduled = False
        # The timer shared by the execute() calls of the current loop turn, if any.
        self._deadline: _Deadline | None = None
        self._in_flight = 0
        # Commands waiting for room under max_in_flight, in the order they were issued.
        self._room_waiters: deque[_Waiting] = deque()
        # The pipelines' deadlines, in the order they were sent, and the one timer that
        # watches them, set for the earliest (see _watch).
        self._expiries: deque[_Expiry] = deque()
        self._watchdog: asyncio.TimerHandle | None = None
        self._watchdog_at = 0.0
        self._closed = False
        # Anything with observe(seconds) (server/metrics.py's Histogram), fed the time from
        # sending each command or pipeline to its reply; None: nothing is measured.
        self.round_trips: Any = None

    @property
    def connected(self) -> bool:
        """True while a connection is open and authenticated."""
        return self._link is not None

    async def __aenter__(self) -> RedisClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- Commands ----------------------------------------------------------------------

    async def execute(self, *args: Any, timeout: float | None = None) -> Any:
        """Send one command and return its reply (a :class:`RedisError` is a reply).

        Raises ``TypeError``/``ValueError`` for arguments that cannot be sent (nothing is
        sent), :class:`RedisConnectionError` when there is no connection to get the reply
        from, ``TimeoutError`` when it does not come within ``timeout`` seconds.
        """
        if self._closed:
            raise RedisConnectionError("the Redis client is closed", sent=False)
        command = encode_command(args)
        loop = asyncio.get_running_loop()
        timeout = self.timeout if timeout is None else timeout
        if not self._room_for(1):
            return (await self._replies_when_sent(self._wait_for_room([command], timeout)))[0]
        future = loop.create_future()
        # One timer for all the commands issued in this loop turn with this timeout: a
        # timer per command would cost a fifth of the command (the heap, the cancels).
        deadline = self._deadline
        if deadline is None or deadline.timeout != timeout:
            deadline = self._deadline = _Deadline(loop, timeout, self._expire)
            self._schedule_flush(loop)
        deadline.futures.append(future)
        deadline.open += 1
        self._in_flight += 1
        started = time.perf_counter() if self.round_trips is not None else 0.0
        try:
            self._submit(loop, ((command, future),))
            reply = await future
            if self.round_trips is not None:
                self.round_trips.observe(time.perf_counter() - started)
            return reply
        finally:
            deadline.done()
            self._in_flight -= 1
            self._wake_room()

    async def pipeline(self, commands: Iterable[Sequence[Any]],
                       timeout: float | None = None) -> list[Any]:
        """Send several commands together; return their replies in order.

        The same as ``gather``-ing one :meth:`execute` per command, without a task per
        command: error replies are values in the list, and it raises as :meth:`execute`
        does if any command gets no reply (the others' fate is then unknown too), with
        one deadline for the lot.
        """
        return await self.pipeline_encoded([encode_command(args) for args in commands], timeout)

    async def pipeline_encoded(self, encoded: list[bytes], timeout: float | None = None) -> list[Any]:
        """:meth:`pipeline` for commands already in RESP bytes (each one whole command, as
        :func:`~resp.protocol.encode_command` makes it): for a caller that sends the same
        command shape many times and encodes its constant part once."""
        if self._closed:
            raise RedisConnectionError("the Redis client is closed", sent=False)
        if not encoded:
            return []
        timeout = self.timeout if timeout is None else timeout
        if not self._room_for(len(encoded)):
            return await self._replies_when_sent(self._wait_for_room(encoded, timeout))
        return await self._replies(*self._send_pipeline(encoded, timeout))

    def pipeline_now(self, encoded: list[bytes], timeout: float | None = None) -> Awaitable[list[Any]]:
        """:meth:`pipeline_encoded`, but written to the socket before this returns rather
        than at the end of the loop turn (behind the commands issued earlier in the turn,
        which go with it: order is kept): for a caller that has gathered a turn's work
        itself (the Redis store's batch, the node's routes) and would otherwise wait one
        more turn for its task to start and one for the flush. Await what it returns
        (always: it holds the commands' bookkeeping) for the replies, as
        :meth:`pipeline_encoded`'s; its ``failed()`` says at once whether they failed.
        When ``max_in_flight`` leaves no room (or commands wait for it already), its
        place in the queue for room is taken now: it is sent in its turn, before whatever
        is issued after this call. With nothing to send it is :meth:`pipeline_encoded`'s."""
        if self._closed:
            raise RedisConnectionError("the Redis client is closed", sent=False)
        if not encoded:
            return self.pipeline_encoded(encoded, timeout)
        timeout = self.timeout if timeout is None else timeout
        if not self._room_for(len(encoded)):
            waiting = self._wait_for_room(encoded, timeout)
            waiting.place.add_done_callback(_retrieve)  # (a caller cancelled before it awaits: not logged unread)
            return _Replies(self, None, waiting)
        # (A caller cancelled before it awaits leaves no error unread: the client reads
        # each failure as it sets it, _fail.)
        return _Replies(self, self._send_pipeline(encoded, timeout, now=True))

    def _send_pipeline(self, encoded: list[bytes], timeout: float, now: bool = False) -> tuple:
        """Queue ``encoded`` on the connection, written at the turn's flush, or at once
        with ``now`` (behind whatever the turn queued before it); what :meth:`_replies`
        needs to collect the answers."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in encoded]
        timer = self._watch(loop, _Expiry(loop.time() + timeout, futures, timeout))
        self._in_flight += len(encoded)
        started = time.perf_counter() if self.round_trips is not None else 0.0
        link = self._link
        if now and link is not None:
            # Written here: no flush at the end of the turn for them (it found nothing to
            # write, and cost a callback per pipeline: tests/integration/test_resp_aio.py).
            for command, future in zip(encoded, futures):
                link.send(command, future)
            link.flush()
        else:
            self._submit(loop, zip(encoded, futures))
        return futures, timer, started

    async def _replies(self, futures: list[asyncio.Future[Any]], timer: _Expiry,
                       started: float) -> list[Any]:
        count = len(futures)
        try:
            replies = [await future for future in futures]
            if self.round_trips is not None:  # one round trip per pipeline
                self.round_trips.observe(time.perf_counter() - started)
            return replies
        except BaseException as exc:
            answered = False
            for future in futures:  # all share the fate of the first: retrieve them
                if future.done() and not future.cancelled():
                    answered = answered or future.exception() is None
                else:
                    future.cancel()
            if answered and not may_have_run(exc):
                # Some of the pipeline ran (it was answered): the lot did not "not run".
                raise RedisConnectionError(f"{exc}; but other commands of its pipeline ran") from exc
            raise
        finally:
            timer.cancel()
            self._in_flight -= count
            self._wake_room()

    def _submit(self, loop: asyncio.AbstractEventLoop,
                entries: Iterable[tuple[bytes, asyncio.Future[Any]]]) -> None:
        """Send now if connected (one write per loop turn), else queue and connect."""
        link = self._link
        if link is not None:
            for command, future in entries:
                link.send(command, future)
            self._schedule_flush(loop)
        else:
            self._waiting.extend(entries)
            if self._connector is None:
                self._connector = loop.create_task(self._connect())

    def _room_for(self, count: int) -> bool:
        """Whether ``count`` more commands may be sent now: nothing waits for room before
        them (they would overtake it: callers rely on the order they issue commands in),
        and they fit under ``max_in_flight`` (or none is in flight: a pipeline larger than
        the bound goes alone)."""
        return not self._room_waiters and (not self._in_flight or self._in_flight + count <= self.max_in_flight)

    def _wait_for_room(self, encoded: list[bytes], timeout: float) -> _Waiting:
        """Queue ``encoded`` for room, behind what waits already (its place is taken now,
        whenever it is awaited); :meth:`_wake_room` sends it in its turn, within ``timeout``."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(encoded, loop.time() + timeout, timeout, loop.create_future())
        waiting.timer = loop.call_later(timeout, self._room_expired, waiting)
        # A caller cancelled while it waits leaves the queue (which may let others go).
        waiting.place.add_done_callback(lambda place: place.cancelled() and self._wake_room())
        self._room_waiters.append(waiting)
        return waiting

    async def _replies_when_sent(self, waiting: _Waiting) -> list[Any]:
        """The replies of ``waiting``'s commands, once they were sent in their turn."""
        try:
            sent = await asyncio.shield(waiting.place)
        except asyncio.CancelledError:
            place = waiting.place
            if place.done() and not place.cancelled() and place.exception() is None:
                self._abandon(place.result())  # sent as the caller was cancelled: not awaited
            else:
                place.cancel()
            raise
        return await self._replies(*sent)

    def _abandon(self, sent: tuple) -> None:
        """A pipeline sent whose replies nobody will await: its bookkeeping, as _replies's."""
        futures, timer, _started = sent
        for future in futures:  # (their replies are still taken off in order: _Link)
            future.cancel()
        timer.cancel()
        self._in_flight -= len(futures)
        self._wake_room()

    def _wake_room(self) -> None:
        """Send what waits for room, in its order, while it fits."""
        waiters = self._room_waiters
        while waiters:
            waiting = waiters[0]
            if waiting.place.done():  # its caller was cancelled, or its wait expired
                waiters.popleft()
                continue
            if self._in_flight and self._in_flight + len(waiting.encoded) > self.max_in_flight:
                return
            waiters.popleft()
            waiting.timer.cancel()
            left = max(waiting.deadline - asyncio.get_running_loop().time(), 0.0)
            waiting.place.set_result(self._send_pipeline(waiting.encoded, left))

    def _room_expired(self, waiting: _Waiting) -> None:
        """``waiting`` got no room within its timeout: it fails unsent, and so does what
        waits behind it (issued after it: sent, it would run before this one, which its
        caller sends again later; as _expire does for commands waiting for a connection)."""
        if waiting.place.done():
            return
        waiters = self._room_waiters
        behind = False
        for other in list(waiters):
            if other is waiting:
                behind = True
                other.place.set_exception(RedisTimeout(
                    f"{self.max_in_flight} Redis commands were in flight for {waiting.timeout} s: this one was "
                    f"not sent", sent=False))
            elif behind and not other.place.done():
                other.timer.cancel()
                other.place.set_exception(RedisTimeout(
                    f"{self.max_in_flight} Redis commands were in flight and one issued before this one waited "
                    f"{waiting.timeout} s for room in vain: this one was not sent, so as not to run before it",
                    sent=False))
        self._wake_room()  # (drops them from the queue)

    def _schedule_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._flush_scheduled:
            # Every command issued in this turn goes out in the same write.
            self._flush_scheduled = True
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        """The end of a loop turn's commands: write them, and close their shared deadline."""
        self._flush_scheduled = False
        self._deadline = None
        if self._link is not None:
            self._link.flush()

    def _watch(self, loop: asyncio.AbstractEventLoop, expiry: _Expiry) -> _Expiry:
        """Watch ``expiry`` until it is cancelled (its replies came, or nobody awaits them).

        One timer for every pipeline's deadline, set for the earliest: a timer each (the
        loop's heap, its comparisons, the cancels) cost about fifteen Python calls per
        pipeline, which the store's batches, the node's routes and its inbox reads each
        paid (bench/PROFILE.md, round twenty-three). Deadlines passed are expired in the
        order of their pipelines, when the timer fires; those cancelled before are dropped
        from the front as new ones come, so the queue holds what was sent since the oldest
        pipeline still unanswered (bounded as the commands in flight are)."""
        expiries = self._expiries
        while expiries and expiries[0].cancelled:
            expiries.popleft()
        expiries.append(expiry)
        watchdog = self._watchdog
        if watchdog is None or expiry.when < self._watchdog_at:
            if watchdog is not None:  # (a shorter timeout than those before it)
                watchdog.cancel()
            self._watchdog_at = expiry.when
            self._watchdog = loop.call_at(expiry.when, self._expiries_due)
        return expiry

    def _expiries_due(self) -> None:
        """The watchdog's time came: expire every pipeline whose deadline it was set for
        or before, and set it again for the earliest of the rest."""
        due_at, self._watchdog = self._watchdog_at, None
        due, kept = [], deque()
        for expiry in self._expiries:
            if not expiry.cancelled:
                (due if expiry.when <= due_at else kept).append(expiry)
        self._expiries = kept
        if kept:
            self._watchdog_at = min(expiry.when for expiry in kept)
            self._watchdog = asyncio.get_running_loop().call_at(self._watchdog_at, self._expiries_due)
        for expiry in due:
            expiry.cancelled = True
            self._expire(expiry.futures, expiry.timeout)

    def _expire(self, futures: Sequence[asyncio.Future[Any]], timeout: float) -> None:
        """The deadline of one command (or pipeline) passed without a reply. One that was
        waiting for a connection fails unsent, and so does every command waiting behind
        it: else a later one would run once Redis is back, before the earlier one that its
        caller sends again (a sender's messages stored out of its order: the cluster's
        chaos run)."""
        expired = {id(future) for future in futures if not future.done()}
        behind = False
        for _, future in self._waiting:
            behind = behind or id(future) in expired
            if behind and not future.done():
                expired.discard(id(future))
                if self._connect_error is not None:
                    _fail(future, RedisConnectionError(
                        f"cannot connect to {self.address}: {self._why(self._connect_error)}; "
                        f"the command was not sent", sent=False))
                else:
                    _fail(future, RedisTimeout(
                        f"no connection to {self.address} within {timeout} s; the command was not sent",
                        sent=False))
        sent = False
        for future in futures:  # the rest were sent: no reply in time
            if not future.done() and id(future) in expired:
                sent = True
                _fail(future, RedisTimeout(
                    f"no reply from {self.address} within {timeout} s; the command may or may "
                    f"not have run"))
        link = self._link
        if sent and link is not None:
            log.warning("no reply from %s within %s s: closing the connection", self.address, timeout)
            link.abort(f"the connection to {self.address} was closed after a command timed "
                       f"out; this command may or may not have run")

    # --- The connection ----------------------------------------------------------------

    async def _connect(self) -> None:
        """Connect, retrying with backoff while some command is waiting for a connection."""
        delays = backoff(*self._backoff)
        try:
            while self._still_waiting() and not self._closed:
                try:
                    link = await self._open()
                except _Refused as exc:
                    self._note_failure(str(exc))
                    self._fail_waiting(str(exc))
                    return
                except (OSError, asyncio.TimeoutError, ProtocolError, RedisConnectionError) as exc:
                    self._connect_error = exc
                    self._note_failure(f"cannot connect to {self.address}: {self._why(exc)}; retrying")
                    await asyncio.sleep(next(delays))
                    continue
                if self._failures:
                    log.warning("connected to %s (failed attempts before: %d)", self.address, self._failures)
                self._failures = 0
                self._connect_error = None
                self._link = link
                while self._waiting:
                    command, future = self._waiting.popleft()
                    if not future.done():  # one that timed out waiting is not sent late
                        link.send(command, future)
                link.flush()
                return
        finally:
            self._connector = None

    def _why(self, exc: BaseException) -> str:
        """Why a connection attempt failed, with what to change when that can be told (a
        certificate to give, the other scheme: :func:`connection_advice`)."""
        advice = connection_advice(self.address, exc)
        return f"{exc or type(exc).__name__}; {advice}" if advice else f"{exc or type(exc).__name__}"

    def _still_waiting(self) -> bool:
        """Drop the waiting commands that have failed already; is any left?"""
        if any(future.done() for _, future in self._waiting):
            self._waiting = deque(entry for entry in self._waiting if not entry[1].done())
        return bool(self._waiting)

    def _note_failure(self, message: str) -> None:
        """Log a failed attempt: the first of an outage, then one summary a minute."""
        self._failures += 1
        now = asyncio.get_running_loop().time()
        if self._failures == 1 or now - self._failure_logged_at >= FAILURE_LOG_INTERVAL:
            more = f" ({self._failures} failed attempts so far)" if self._failures > 1 else ""
            log.warning("%s%s", message, more)
            self._failure_logged_at = now

    async def _open(self) -> _Link:
        """A new connection, with AUTH and SELECT done, within ``connect_timeout``."""
        # wait_for, not 3.11's asyncio.timeout: Python 3.10 is supported.
        return await asyncio.wait_for(self._connect_and_greet(), self.connect_timeout)

    async def _connect_and_greet(self) -> _Link:
        loop = asyncio.get_running_loop()
        address = self.address
        core = Connection(**self._limits)
        try:
            context = tls_context(address)  # made once (chatserver.py makes it at start: a usage error there)
        except ValueError as exc:  # retrying will not help: the waiting commands fail now, saying why
            raise _Refused(f"{address}: {exc}") from None
        _, link = await loop.create_connection(lambda: _Link(self, core), address.host, address.port, ssl=context,
                                               server_hostname=address.host if context else None)
        try:
            handshake: list[tuple[Any, ...]] = []
            if address.password is not None:
                handshake.append(("AUTH", address.username, address.password)
                                 if address.username else ("AUTH", address.password))
            if address.db:
                handshake.append(("SELECT", address.db))
            futures = []
            for args in handshake:
                futures.append(loop.create_future())
                link.send(encode_command(args), futures[-1])
            link.flush()
            for args, future in zip(handshake, futures):
                reply = await future
                if isinstance(reply, RedisError):
                    raise _Refused(f"{address} refused {args[0]}: {reply}")
        except RedisConnectionError as exc:
            link.transport.abort()
            # Lost before it was up: why (a TLS alert, a reset) is the news, not that
            # AUTH may have run.
            raise (link.lost_to if isinstance(link.lost_to, OSError) else exc) from None
        except BaseException:
            link.transport.abort()
            raise
        return link

    def _detach(self, link: _Link) -> None:
        """``link`` is going away: the next command opens a new connection."""
        if self._link is link:
            self._link = None

    def _link_lost(self, link: _Link, exc: Exception | None, failed: int) -> None:
        if self._link is link:
            self._link = None
            if not self._closed:
                log.warning("lost the connection to %s (%s); %d command(s) in flight failed",
                            self.address, exc or "closed by the server", failed)

    def _lost_reason(self, exc: Exception | None) -> str:
        if self._closed:
            return "the Redis client was closed; the command may or may not have run"
        why = exc or "closed by the server"
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
            # A TLS alert, such as TLS 1.3's "certificate required" at the first command.
            advice = connection_advice(self.address, exc)
            why = f"{exc}; {advice}" if advice else exc
        return f"lost the connection to {self.address} ({why}); the command may or may not have run"

    def _fail_waiting(self, reason: str) -> None:
        while self._waiting:
            _, future = self._waiting.popleft()
            if not future.done():
                _fail(future, RedisConnectionError(f"{reason}; the command was not sent", sent=False))

    async def close(self) -> None:
        """Close the connection; commands still waiting fail with RedisConnectionError.

        Returns once the connection is closed (bounded by ``connect_timeout``).
        """
        self._closed = True
        self._fail_waiting("the Redis client was closed")
        while self._room_waiters:
            waiting = self._room_waiters.popleft()
            if not waiting.place.done():
                waiting.timer.cancel()
                waiting.place.set_exception(RedisConnectionError(
                    "the Redis client was closed; the command was not sent", sent=False))
        if self._connector is not None:
            self._connector.cancel()
        link = self._link
        if link is not None and link.transport is not None:
            link.transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(link.closed), self.connect_timeout)
            except asyncio.TimeoutError:  # not TimeoutError itself before Python 3.11
                link.transport.abort()
