"""The asyncio chat client: a thin shell over the sans-I/O :class:`client.core.ClientCore`.

What websockets' ``asyncio`` connection is to its ``Protocol``, :class:`AioChatClient` is
to the core, beside the threaded :class:`client.library.ChatClient` over the very same
core. It only moves bytes and time: a reader task feeds what the server sends to the
core (``receive_data``), writes what the core has to send, sleeps until the core's next
deadline (``handle_timeout``), and on a lost connection logs in again over the core's
pure ``failover``/``backoff`` generators, as long as the core says it may. Every rule
(request matching, resending with the same ids, reconciling, receipts only after
hand-off, outcome acks, throttled retries, heartbeats, which refusals end the session)
is the core's, described once in :mod:`client.core`::

    async with AioChatClient("Alice", "127.0.0.1", port) as client:   # connect() ... close()
        message, done = client.send_direct("Bob", "hi")   # the core's OutgoingMessage tracker
        state = await done                                # its final state: "delivered"/"failed"
        users = await client.who()
        async for event in client:                        # ends after ConnectionClosed
            ...

Events, in order, are those :class:`~client.library.ChatClient` hands on (the core's, plus
:class:`~client.events.Reconnecting` and :class:`~client.events.Reconnected`; exactly one
``ConnectionClosed`` at the end of the session): to ``on_event(event)`` (a plain function,
called on the reader task; it must not block, and may start tasks) or, without it, through
``async for event in client``. The iterator's queue holds ``EVENT_QUEUE_SIZE`` events; when
it is full the reader waits for room, which stops it reading the socket (back-pressure).

The coroutines that wait for an answer (``who``, ``lookup``, ``history``) may be awaited
from any task except the reader's own (an ``on_event`` cannot await anyway): the answer is
read by the reader task, which never waits for the application. A tracker's blocking
``OutgoingMessage.wait()`` on the loop raises ``CalledFromReceiver`` at once (it would
block the reader too): await the future ``send_direct`` returns.

Time as :class:`~client.library.ChatClient`'s: the core's deadlines are on the clock of
waits (client/clock.py), which counts a sleep of the computer, and no wait (the reader's,
a backoff's) lasts longer than ``WAKE_CHECK`` without reading it, so a connection that died
while the lid was closed is given up within that of waking.

TLS as :class:`~client.library.ChatClient`'s: ``tls=True`` (the system's trusted CAs),
``cafile=PATH`` or ``ssl_context=CONTEXT``; the handshake is asyncio's, its failures said in
the same words (client/transport.py, ``tls_failure``).
One object, one event loop; not thread-safe (like every asyncio object).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import NamedTuple, TypeVar

import const
from i18n import _
from protocol import (
    ConnectionClosed,
    ErrorCode,
    ErrorReply,
    Event,
    HistoryEntry,
    HistoryPage,
    HistoryRequest,
    LookupRequest,
    LookupResult,
    Presence,
    UserList,
    Welcome,
    WhoRequest,
)
from protocol.codec import MAX_HISTORY_PAGE
from shared.plural import counted

from .core import (
    FIRST_LOGIN_NEXT,
    LOGIN_PATIENCE,
    MAX_WAITING,
    RECONNECT_DELAY,
    RECONNECT_MAX_DELAY,
    SEEN_LIMIT,
    ClientCore,
    LoginAttempt,
    backoff,
    failover,
    first_login_verdict,
    login_wait,
    reconnection_failed,
)
from .errors import (
    AnswerLost,
    CalledFromReceiver,
    LoginRefused,
    NotConnected,
    RequestFailed,
    RequestTimeout,
    ServerUnreachable,
)
from .clock import WaitsClock, next_wait
from .display import CONNECTION_ERROR
from .events import Reconnected, Reconnecting
from .onevent import on_event_errors, on_event_raised
from .outgoing import MessageUpdate, OutgoingMessage
from .resume import ResumeTokens
from .servers import addresses_from, format_address, spread_start
from .transport import connect_host, login_failure, open_socket, reached_host, tls_context, tls_failure
from .writer import not_read

_log = logging.getLogger(__name__)

T = TypeVar("T")

# Events the iterator's queue holds before the reader waits for the application.
EVENT_QUEUE_SIZE = 10_000
# How often a reader waiting for room in a full queue looks whether the client is closing.
_QUEUE_POLL = 0.1
# Bytes asked of one read; the core reassembles frames across reads of any size.
RECV_BYTES = 64 * 1024
# After its Goodbye, close() waits this long for the server to end the stream, then cuts it.
CLOSE_TIMEOUT = 2.0


def _close_result(future: asyncio.Future) -> None:
    """Close the socket an abandoned connect opened after all (see ``_unless_closed``)."""
    if not future.cancelled() and future.exception() is None:
        future.result().close()


class Sending(NamedTuple):
    """What ``send_direct``/``send_room`` return: the core's tracker, and a future that
    resolves to its final state (``delivered``/``failed`` for a direct message,
    ``sent``/``failed`` for a room message; the tracker's ``error`` says why it failed)."""

    message: OutgoingMessage
    done: asyncio.Future[str]


class AioChatClient:
    """A chat session as user ``name`` with the server at ``host``:``port`` (or the first
    of ``servers`` that answers), on the running event loop.

    The options mean what :class:`~client.library.ChatClient`'s do: ``password`` and
    ``register`` (accounts), ``resume_tokens`` (guests; default: the user's file),
    ``reconnect``, ``reconnect_delay``, ``reconnect_max_delay``,
    ``max_reconnect_attempts`` (None: until :meth:`close`), ``connect_timeout`` (each
    attempt), ``reconnect_on_goodbye``, ``heartbeat_interval``, ``heartbeat_timeout``,
    ``max_waiting``, ``seen_limit``, ``tls``, ``cafile``, ``ssl_context``.

    Public attributes: ``name``, ``servers``, ``host``/``port`` (the server in use),
    ``core`` (the :class:`~client.core.ClientCore`), ``welcome``, ``reconnects``,
    ``closed`` (an ``asyncio.Event`` set once the session ended and ConnectionClosed was
    handed on), ``login_error`` (the refusal that stopped the reconnections, if one did).
    """

    def __init__(self, name: str, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT,
                 on_event: Callable[[Event], object] | None = None, *,
                 password: str | None = None, register: bool = False,
                 resume_tokens: ResumeTokens | None = None,
                 servers: Sequence[tuple[str, int]] | None = None,
                 reconnect: bool = True, reconnect_delay: float = RECONNECT_DELAY,
                 reconnect_max_delay: float = RECONNECT_MAX_DELAY, max_reconnect_attempts: int | None = None,
                 connect_timeout: float = const.CONNECT_TIMEOUT, reconnect_on_goodbye: bool = False,
                 heartbeat_interval: float | None = None, heartbeat_timeout: float = const.HEARTBEAT_TIMEOUT,
                 max_waiting: int = MAX_WAITING, seen_limit: int = SEEN_LIMIT,
                 tls: bool = False, cafile: str | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.servers: list[tuple[str, int]] = [(h, int(p)) for h, p in servers] if servers else [(host, port)]
        self.host, self.port = self.servers[0]
        self._reached: tuple[str, str] | None = None  # (a host given, the address it reached), once connected
        self.password = password
        self.register_on_login = register
        self.registered = False
        self.resume_tokens = resume_tokens if resume_tokens is not None else ResumeTokens.default()
        self.core = ClientCore(reconnect=reconnect, reconnect_on_goodbye=reconnect_on_goodbye,
                               heartbeat_interval=heartbeat_interval, heartbeat_timeout=heartbeat_timeout,
                               max_waiting=max_waiting, seen_limit=seen_limit)
        # The core's times, on the clock of waits (client/clock.py): a sleep of the computer
        # counts, which the loop's monotonic clock does not see.
        self._clock = WaitsClock()
        self.welcome: Welcome | None = None
        self.reconnects = 0
        self.login_error: LoginRefused | None = None
        self.closed = asyncio.Event()
        self._on_event = on_event
        self._events: asyncio.Queue[Event] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._iterated_to_end = False
        self._reconnect_delay = reconnect_delay
        self._reconnect_max_delay = max(reconnect_delay, reconnect_max_delay)
        self._max_reconnect_attempts = max_reconnect_attempts
        self._connect_timeout = connect_timeout
        self._server_index = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._connecting = False
        self._wake = asyncio.Event()  # set by close(): ends a backoff wait at once
        # request_id -> (tracker, the future of its final state): see Sending.
        self._finals: dict[str, tuple[OutgoingMessage, asyncio.Future[str]]] = {}
        # Events dropped because the queue was full while closing (_deliver), said once.
        self._dropped = 0
        # What on_event raised: each kind's first traceback, then a count (client/onevent.py).
        self._event_errors = on_event_errors(_log)
        self._tls = tls or cafile is not None or ssl_context is not None
        self._cafile = cafile
        self._ssl_context = ssl_context

    @property
    def address(self) -> str:
        """``host:port`` of the server in use, for messages: for a listen-on-every-address host
        ("", "::"), this machine's address it reached (client/transport.py)."""
        given, reached = self._reached or (None, None)
        return format_address(reached if given == self.host and reached else connect_host(self.host), self.port)

    @property
    def connected(self) -> bool:
        """True while the session is open and the client is not closing it."""
        return self._writer is not None and self.core.usable() is None

    @property
    def close_reason(self) -> str:
        """Why the last connection ended, in words ("" while it is open)."""
        return self.core.close_reason

    # --- Connecting ---------------------------------------------------------------------

    async def connect(self, timeout: float = const.CONNECT_TIMEOUT) -> Welcome:
        """Connect and log in (each server of the list in turn, until one answers), start
        the reader task; return the Welcome. ``timeout`` bounds the connect and the wait
        for the answer to the hello, each. A short ``rate_limited`` is waited out as
        :meth:`ChatClient.connect <client.library.ChatClient.connect>` does without a
        deadline (within ``LOGIN_PATIENCE`` s). Raises :class:`LoginRefused`,
        :class:`ServerUnreachable`, or RuntimeError if already connected."""
        if self.core.alive or self._writer is not None or self._connecting:
            raise RuntimeError("this client is already connected (or connecting)")
        self._connecting = True
        self.core.closing = False
        self._wake.clear()
        try:
            unanswered = 0
            index = 0
            patience = time.monotonic() + LOGIN_PATIENCE
            while True:
                try:
                    reader, writer, conn, welcome = await self._open_session(timeout, index)
                    break
                except (LoginRefused, ServerUnreachable) as exc:
                    wait = login_wait(exc, time.monotonic(), patience)
                    if wait is not None:  # an answer: "a moment", from this server
                        unanswered = 0
                        with suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), wait)
                        if self._wake.is_set():
                            raise ServerUnreachable("the client was closed while connecting") from exc
                        continue
                    unanswered += 1
                    # "retry" (a cut during the login) is for a caller that asked for it,
                    # as ChatClient.connect(retry_until=...): here it fails like the rest.
                    if first_login_verdict(exc, len(self.servers) - unanswered) != FIRST_LOGIN_NEXT \
                            or self._wake.is_set():
                        raise
                    index = (index + 1) % len(self.servers)
            if self.core.closing:  # close() came while we were logging in
                writer.transport.abort()
                raise ServerUnreachable("the client was closed while connecting")
            self._use(reader, writer, index)
            self.core.open(conn, welcome, self._now(), reconnected=False)
            self.welcome, self.login_error = welcome, None
            self.closed.clear()
            self._iterated_to_end = False
            self._flush()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"chat-reader-{self.name}")
            return welcome
        finally:
            self._connecting = False

    async def _open_session(self, timeout: float, index: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter,
                                                                        object, Welcome]:
        """Connect to server ``index`` and log in; return the streams, the protocol state and
        the Welcome. A server that refuses the version offered is asked again, on a new
        connection, with the next older one, and a refused resume credential is followed by
        the password at once (:meth:`ClientCore.fall_back`), as the threaded client does.
        Raises like :meth:`connect`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        left = timeout  # the first attempt's, as its words say it; a second one has what is left
        while True:
            try:
                return await self._open_session_once(left, index)
            except LoginRefused as exc:
                if not self.core.fall_back(exc.code):
                    raise
            left = max(0.05, deadline - loop.time())

    async def _open_session_once(self, timeout: float, index: int) -> tuple[
            asyncio.StreamReader, asyncio.StreamWriter, object, Welcome]:
        """One connection and one hello for :meth:`_open_session` (its refusal raised)."""
        self.host, self.port = self.servers[index]
        where = self.address
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The connect itself, with its errors in words, is transport.open_socket's (in a
        # worker thread, as asyncio's own getaddrinfo is); the stream takes the socket over.
        # With TLS, the handshake is asyncio's (a stream cannot take a socket wrapped already).
        if self._tls and self._ssl_context is None:
            self._ssl_context = tls_context(self._cafile)  # once: CertificateError if the file is bad
        context = self._ssl_context if self._tls else None
        opening = loop.run_in_executor(None, open_socket, self.host, self.port, timeout)
        sock = await self._unless_closed(opening)
        self._reached = (self.host, reached_host(self.host, sock))
        where = self.address
        try:
            sock.setblocking(False)
            if context is None:
                reader, writer = await asyncio.open_connection(sock=sock, limit=RECV_BYTES)
            else:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    sock=sock, limit=RECV_BYTES, ssl=context, server_hostname=self._reached[1],
                    ssl_handshake_timeout=timeout + 1), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            sock.close()
            if context is None:
                raise
            failure = TimeoutError() if isinstance(exc, asyncio.TimeoutError) else exc
            raise tls_failure(failure, where, timeout) from None
        except BaseException:
            sock.close()
            raise

        async def log_in(attempt: LoginAttempt) -> Welcome:
            writer.write(attempt.data_to_send())
            while (welcome := attempt.step(where)) is None:
                pongs = attempt.data_to_send()
                if pongs:
                    writer.write(pongs)
                attempt.receive_data(await reader.read(RECV_BYTES))
            return welcome

        # A guest's token: looked for and kept under every server of the list, the one in use
        # first (client.servers.addresses_from): they serve one chat.
        servers = addresses_from((self.host, self.port), self.servers)
        try:
            token = self.resume_tokens.for_hello(servers, self.name, self.password)
            attempt = LoginAttempt(self.core.hello(self.name, self.password, self.register_on_login, token,
                                                   self._now()),
                                   context is not None)
            welcome = await self._unless_closed(asyncio.wait_for(log_in(attempt), max(0.0, deadline - loop.time())))
        except BaseException as exc:
            writer.transport.abort()
            if isinstance(exc, (LoginRefused, ServerUnreachable)):  # the core's verdict, in words already
                raise
            if isinstance(exc, ValueError):  # a password with lone surrogates cannot be encoded
                raise LoginRefused(ErrorCode.BAD_FIELD, "the password contains characters that cannot be sent") \
                    from None
            if isinstance(exc, asyncio.TimeoutError):  # not TimeoutError (an OSError) before Python 3.11
                raise login_failure(TimeoutError(), where, timeout) from exc
            if isinstance(exc, OSError):
                raise login_failure(exc, where, timeout) from exc
            raise
        self.registered = welcome.registered
        if not welcome.registered:  # a guest's, the one that took the name or proved it: ours next time
            self.resume_tokens.proven(servers, welcome.name, welcome.resume or token)
        if welcome.registered:
            self.register_on_login = False
        return reader, writer, attempt.conn, welcome

    async def _unless_closed(self, step: Awaitable[T]) -> T:
        """``await step`` (a connect or a login), unless close() comes first: then
        ServerUnreachable at once, as the threaded client's close() cuts a login under way
        (a silent server would hold close() for the whole connect_timeout, and the session
        would end after it returned). A socket the abandoned connect still opens is closed."""
        work = asyncio.ensure_future(step)
        closing = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({work, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if isinstance(work, asyncio.Task):
                work.cancel()  # the login: its clean-up aborts the connection
            elif not work.done():
                work.add_done_callback(_close_result)  # a connect goes on in its worker thread
        if not work.done():
            raise ServerUnreachable("the client was closed while connecting")
        return work.result()

    def _use(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        self._reader, self._writer, self._server_index = reader, writer, index

    def _now(self) -> float:
        return self._clock()

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds on the clock of waits (a sleep of the computer counts:
        a backoff wait begun before the lid closed ends within WAKE_CHECK of waking), or
        until close() sets ``_wake``."""
        until = self._now() + delay
        while (wait := next_wait(until, self._now())) and not self._wake.is_set():
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    # --- Sending ------------------------------------------------------------------------

    def send_direct(self, to: str, text: str) -> Sending:
        """Send ``text`` to ``to``: the tracker at once (as ChatClient.send_direct: never
        raises for connection problems; waits in the core while reconnecting) and a
        future of its final state."""
        return self._submit(OutgoingMessage(self.core.new_request_id(), to, text))

    def send_room(self, text: str) -> Sending:
        """Send ``text`` to the room; like :meth:`send_direct` (final at ``sent``)."""
        return self._submit(OutgoingMessage(self.core.new_request_id(), None, text))

    def _submit(self, message: OutgoingMessage) -> Sending:
        loop = asyncio.get_running_loop()
        message._guard = lambda what: self._refuse_on_loop(loop, what)
        done: asyncio.Future[str] = loop.create_future()
        self._finals[message.request_id] = (message, done)
        self.core.submit(message)
        if message.submitted and not self._flush() and not self.core.may_reconnect():
            self.core.withdraw(message)
        self._settle_final(message)  # refused inside submit/withdraw: final without an update
        return Sending(message, done)

    def _settle_final(self, message: OutgoingMessage) -> None:
        if message.done:
            _, done = self._finals.pop(message.request_id, (None, None))
            if done is not None and not done.done():
                done.set_result(message.state)

    # --- Requests -----------------------------------------------------------------------

    async def who(self, timeout: float = const.SEND_TIMEOUT) -> list[Presence]:
        """Who is online (every page, within ``timeout`` in all). Raises
        :class:`NotConnected`, :class:`RequestTimeout` or :class:`RequestFailed`, as every
        request below."""
        async def pages() -> list[Presence]:
            users: list[Presence] = []
            after: str | None = None
            while True:
                answer = await self._request(WhoRequest(self.core.new_request_id(), after), UserList)
                assert isinstance(answer, UserList)
                users += answer.users
                if answer.next is None or not answer.users:
                    return users
                after = answer.next
        return await self._within(pages(), timeout, "the list of users")

    async def lookup(self, name: str, timeout: float = const.SEND_TIMEOUT) -> LookupResult:
        """Where ``name`` is: ``online``, ``offline`` or ``unknown``."""
        answer = await self._within(self._request(LookupRequest(self.core.new_request_id(), name), LookupResult),
                                    timeout, "the lookup")
        assert isinstance(answer, LookupResult)
        return answer

    async def history(self, peer: str, limit: int = 20, timeout: float = const.SEND_TIMEOUT) -> list[HistoryEntry]:
        """The last ``limit`` messages with ``peer``, oldest first (pages of at most
        MAX_HISTORY_PAGE, all within ``timeout``)."""
        async def pages() -> list[HistoryEntry]:
            entries: list[HistoryEntry] = []
            before: int | None = None
            while len(entries) < limit:
                size = min(MAX_HISTORY_PAGE, limit - len(entries))
                page = await self._request(HistoryRequest(self.core.new_request_id(), peer, size, before), HistoryPage)
                assert isinstance(page, HistoryPage)
                entries[:0] = page.messages
                if page.before is None or not page.messages:
                    break
                before = page.before
            return entries[-limit:] if limit > 0 else []
        return await self._within(pages(), timeout, "the history")

    @staticmethod
    def _refuse_on_loop(loop: asyncio.AbstractEventLoop, what: str) -> None:
        """Raise CalledFromReceiver if called on ``loop``'s thread: ``what`` blocks waiting
        for an answer that only the reader task, on that very loop, can read (a tracker's
        wait(); await the future send_direct returned instead)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:  # another thread, without a loop: waiting there is fine
            return
        if running is loop:
            raise CalledFromReceiver(f"{what} would block the event loop, whose reader task alone can read the "
                                     "answer: await the future send_direct() returned instead")

    async def _within(self, request: Awaitable[T], timeout: float, what: str) -> T:
        """``await request`` within ``timeout`` seconds, else RequestTimeout saying what
        did not arrive (the request's own clean-up forgets the pending answer). Refused on
        the reader task, which alone reads the answer."""
        if self._task is not None and asyncio.current_task() is self._task:
            close = getattr(request, "close", None)
            if close is not None:
                close()  # never awaited
            raise CalledFromReceiver(f"{what} would wait for an answer only the reader task can read")
        try:
            return await asyncio.wait_for(request, timeout)
        except asyncio.TimeoutError:  # not TimeoutError before Python 3.11
            raise RequestTimeout(f"{what} did not arrive within {timeout:g} s") from None

    async def _request(self, event: Event, expect: type[Event]) -> Event:
        """Send request ``event`` and wait for its answer (the caller bounds the wait)."""
        problem = self.core.usable()
        if problem is not None:
            raise NotConnected(problem)
        try:
            pending = self.core.request(event, expect)
        except ValueError:  # a name with lone surrogates cannot be encoded
            raise RequestFailed(ErrorCode.BAD_FIELD, "the request contains characters that cannot be sent") from None
        answered = asyncio.get_running_loop().create_future()
        pending.wake = lambda: answered.done() or answered.set_result(None)
        if not self._flush():
            self.core.forget(pending)
            raise NotConnected(f"could not send: {self.core.close_reason}")
        try:
            await answered
        finally:
            if not pending.answered:  # cancelled or timed out: a late answer is recognised, not handed on
                self.core.stop_waiting(pending)
        if pending.error is not None:  # written, and the connection ended before the answer
            raise AnswerLost(pending.error)
        if isinstance(pending.answer, ErrorReply):
            raise RequestFailed.of(pending.answer)
        assert pending.answer is not None
        return pending.answer

    # --- Events -------------------------------------------------------------------------

    def __aiter__(self) -> AioChatClient:
        return self

    async def __anext__(self) -> Event:
        """The next event; the iteration ends after ConnectionClosed."""
        if self._iterated_to_end:
            raise StopAsyncIteration
        event = await self._events.get()
        if isinstance(event, ConnectionClosed):
            self._iterated_to_end = True
        return event

    async def _deliver(self, event: Event) -> None:
        """Hand one event to the application (a tracker's final state to its future first)."""
        if isinstance(event, MessageUpdate):
            self._settle_final(event.message)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                on_event_raised(self._event_errors, self.name, event)
            return
        try:
            self._events.put_nowait(event)
            return
        except asyncio.QueueFull:
            pass
        if self._dropped:  # closing, and nobody takes events: no wait for each of the rest
            self._dropped += 1
            return
        while True:
            try:
                await asyncio.wait_for(self._events.put(event), _QUEUE_POLL)
                return
            except asyncio.TimeoutError:  # the application is not draining the iterator
                if self.core.closing:
                    self._dropped += 1  # said once, at the end (_finish)
                    return

    # --- Closing ------------------------------------------------------------------------

    async def close(self, reason: str = "") -> None:
        """End the session: the core's acks and Goodbye, then the end of our stream; wait
        (at most about 2 * CLOSE_TIMEOUT) for the reader task, which hands on the failed
        trackers and ConnectionClosed. Idempotent."""
        if (self.core.alive or self._connecting) and not self.core.closing:
            self.core.close(reason)
            self._wake.set()
            if self._writer is not None:
                self._flush()
                with suppress(OSError, RuntimeError):
                    if self._writer.can_write_eof():
                        self._writer.write_eof()  # the server ends its side after the Goodbye
        task = self._task
        if task is None or task is asyncio.current_task():
            return
        done, _ = await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)
        if not done:
            if self._writer is not None:
                self._writer.transport.abort()  # the server did not close its side: cut it
            await asyncio.wait({task}, timeout=CLOSE_TIMEOUT)

    async def __aenter__(self) -> AioChatClient:
        await self.connect(self._connect_timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- The reader task ----------------------------------------------------------------

    def _flush(self) -> bool:
        """Write what the core has to send; on a dead transport mark the connection broken
        and cut it, so the reader's wait returns. False if nothing can be written."""
        data = self.core.data_to_send()
        writer = self._writer
        if not data:
            return not self.core.broken
        if writer is None:
            return False
        if writer.transport.is_closing():
            self.core.write_failed(_("the connection is closed"))
            writer.transport.abort()
            return False
        # Bounded as the threaded client's writer (client/writer.py): the transport keeps
        # what the server does not read, without a limit of its own.
        why = not_read(writer.transport.get_write_buffer_size(), len(data))
        if why is not None:
            self.core.write_failed(why)
            writer.transport.abort()
            return False
        try:
            writer.write(data)
        except RuntimeError:  # after our own end of stream (close()): nothing more can go out
            _log.debug("%s not written after the end of our stream", counted(len(data), "byte{s}"))
            return False
        return True

    async def _run(self) -> None:
        try:
            while True:
                await self._pump()
                if not await self._recover():
                    break
        except asyncio.CancelledError:
            self.core.set_reason(_("the client's reader task was cancelled"))
            raise
        except Exception:  # a bug here must still end the session properly
            _log.exception("asyncio chat client reader failed")
            self.core.set_reason(_("internal error in the client (see the log)"))
        finally:
            await self._finish()

    async def _pump(self) -> None:
        """Turn bytes into events and hand them on until the connection ends."""
        reader = self._reader
        assert reader is not None
        at_eof = False
        while True:
            items = self.core.next_events()
            self._flush()
            if items is None:
                if self.core.broken or at_eof:
                    return
                # Never longer than WAKE_CHECK: the loop sleeps on the monotonic clock, which
                # stood still if the computer slept; reading the clock again sees the sleep.
                wait = next_wait(self.core.next_deadline(), self._now())
                try:
                    data = await asyncio.wait_for(reader.read(RECV_BYTES), wait)
                except asyncio.TimeoutError:  # the core's deadline (not TimeoutError before 3.11)
                    self.core.handle_timeout(self._now())
                    self._flush()
                    continue
                except OSError as exc:
                    self.core.set_reason(_(CONNECTION_ERROR).format(why=exc.strerror or exc or type(exc).__name__))
                    return
                self.core.receive_data(data, self._now())  # b"" lets the core report a cut frame
                at_eof = not data
                continue
            for item in items:
                await self._deliver(item)
            self.core.handed_on()  # the receipt of a direct message, owed acks
            self._flush()

    async def _recover(self) -> bool:
        """The connection ended: log in again if the core allows it, over its failover and
        backoff generators. True once a session is open again."""
        self._drop()
        self.core.connection_lost()  # wakes the callers waiting for an answer
        if not self.core.may_reconnect():
            return False
        reason = self.core.close_reason or _("the connection ended")
        floor = 0.0
        start = self.core.backoff_start(self._now())  # after a short session, from further on
        attempts = failover(self.servers, self._server_index,
                            backoff(self._reconnect_delay, self._reconnect_max_delay, start=start),
                            self.core.goodbye is not None, spread_start(self.name))
        for attempt, (index, nominal) in enumerate(attempts, 1):
            if self.core.closing:
                return False
            if self._max_reconnect_attempts is not None and attempt > self._max_reconnect_attempts:
                self.core.give_up(f"gave up reconnecting after {attempt - 1} attempts ({reason})")
                return False
            delay = max(floor, nominal)
            await self._deliver(Reconnecting(attempt, round(delay, 2), reason))
            await self._pause(delay)
            if self._wake.is_set():
                return False  # close()
            try:
                reader, writer, conn, welcome = await self._open_session(self._connect_timeout, index)
            except (LoginRefused, ServerUnreachable) as exc:
                again, floor, said = reconnection_failed(exc, self.name, self.servers, index)
                if again:
                    reason = said
                    continue
                if isinstance(exc, LoginRefused):
                    self.login_error = exc
                self.core.give_up(said)
                return False
            if self.core.closing:
                writer.transport.abort()
                return False
            moved = index != self._server_index
            self._use(reader, writer, index)
            resent = self.core.open(conn, welcome, self._now(), reconnected=True)
            self.welcome = welcome
            self._flush()
            self.reconnects += 1
            host, port = self.servers[index]
            await self._deliver(Reconnected(welcome, resent, format_address(host, port) if moved else ""))
            return True
        return False  # not reached: the attempts are endless

    def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.transport.abort()

    async def _finish(self) -> None:
        """The one end-of-session path: drop the connection, fail what is unfinished, hand
        on ConnectionClosed once, set ``closed``."""
        self._drop()
        updates, _waiting = self.core.end()  # wakes the callers waiting for an answer
        for update in updates:
            await self._deliver(update)
        for message, done in self._finals.values():  # cannot happen: every tracker ended above
            if not done.done():
                _log.error("tracker %r not final at the end of the session", message)
                done.set_result(message.state)
        self._finals.clear()
        before = self._dropped
        await self._deliver(ConnectionClosed())
        if self._dropped:
            _log.warning("%d events dropped while closing%s: the event queue was full, nobody took them",
                         self._dropped, ", ConnectionClosed too" if self._dropped > before else "")
            self._dropped = 0
        self._event_errors.flush()  # how many more on_event raised, if it did
        self.closed.set()
