"""The asyncio server: listen, keep sessions alive or drop them, shut down cleanly.

``await ChatServer(config).start()`` listens; ``await server.stop(reason)`` says goodbye
to every client, closes every connection, and returns once the port is free again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import const
from protocol import ErrorCode, ErrorReply, Ping, State
from protocol.codec import encode
from shared.plural import counted

from .addresses import endpoint, endpoints
from .admission import Refusal
from .config import ServerConfig
from .listener import AcceptFailures, Listener, bind_sockets, listen_on  # noqa: F401 (AcceptFailures: re-exported)
from .backup import UnfinishedBackup, refuse_unfinished
from .lockfile import DataDirLock
from .outbox import WriteBatcher
from .outofmemory import guard, keep_reserve
from .privatefiles import open_to_others
from .relay import Relay
from .session import ClientSession
from .stores import MemoryStore, MessageStore, RedisStore, SQLiteStore
from .web import start_web_server, stop_web_server

log = logging.getLogger("chat.server")

# How long stop() lets clients read their goodbye before cutting connections.
_GOODBYE_GRACE = 2.0
# Seconds between full garbage collections when the collector is tamed: one is due after
# _FULL_GC_PERIOD and waits for a sweep that finds the server quiet (no connection, login or
# message since the sweep before), or runs anyway at _FULL_GC_LATEST. A full collection
# scans every object: 293 ms with 120,000 messages in the memory store (bench/PROFILE.md),
# a stall that every message arriving meanwhile waits for; in a quiet moment nobody does.
_FULL_GC_PERIOD = 600.0
_FULL_GC_LATEST = 1800.0
# The collector's thresholds when tamed. Python's first one, 700 allocations, runs a young
# collection every 50 or so direct messages under load, each scanning the thousands of
# objects of the messages in flight (alive, so promoted, and scanned again later): 4% of
# the instructions per message at 1,000 clients, measured (bench/PROFILE.md). The price: a
# young collection at saturation scans more at once (up to 20 ms of CPU against 2-4 ms,
# bench/inprocess.py), while the full ones between two freezes (40 ms there) stop. Young
# ones no longer run at all: the freezer (_FREEZE_AT) resets the count first.
_GC_THRESHOLDS = (50_000, 20, 100)
# Between two sweeps, the young objects are frozen as soon as there are this many, looked at
# every _FREEZE_CHECK seconds, so that the first threshold is never reached at a rate up to
# (_GC_THRESHOLDS[0] - _FREEZE_AT) / _FREEZE_CHECK allocations a second. A young collection
# scans every young object: 11 ms for the 50,000 left by a burst of traffic, a stall of the
# loop that set a latency phase's tail (bench/PROFILE.md, round twelve); a freeze is a
# constant-time move of lists. What the young collections would have found, cycles among
# fresh objects, waits for the full collection every _FULL_GC_PERIOD, as frozen objects do.
_FREEZE_AT = 10_000
_FREEZE_CHECK = 0.1
# The sweep looks at this many sessions, then lets the loop run what came meanwhile (reads,
# the store's answers) before it looks at the next ones. One pass over 1,000 sessions in
# one loop turn took 0.5-0.9 ms every 2.5 s, 4-6 ms at 10,000: a stall that every message
# arriving during it waited for (bench/PROFILE.md, "Memory p99, round two"). A slice is
# 0.15-0.4 ms; a pass still looks at every session, over a few more turns.
_SWEEP_SLICE = 200
# Seconds a sweep pass may come late (at the least: the heartbeat interval if longer) before
# the sweep takes it that the process did not run meanwhile (see _sweep_forever): no loop
# turn of a running server takes that long, a busy machine's included.
_STALL = 3.0


def warn_if_open_to_others(data_dir: Path) -> None:
    """Say that the data folder lets other users of the machine in: it holds every message
    and hash (docs/privacy.md). Said, not changed: the operator may have reasons (a
    backup job of another user), and a folder the server made is private already."""
    mode = open_to_others(data_dir)
    if mode is not None:
        log.warning("other users of this machine can read the data folder %s (mode %o): it holds every "
                    "message and account; chmod 700 %s", data_dir, mode, data_dir)


class ListenFailed(OSError):
    """One of the server's listeners could not open its port (in use, not allowed...).

    ``listener`` says which: ``"chat"`` (config.port) or ``"web"`` (config.web_port), so
    that the caller can name the setting that changes it; ``host`` and ``port`` are those
    asked for; ``reason`` is the system's words (``Address already in use``). The
    original OSError is the ``__cause__``; ``errno`` is its errno.
    """

    def __init__(self, listener: str, host: str, port: int, cause: OSError) -> None:
        self.listener, self.host, self.port = listener, host, port
        # asyncio's strerror repeats the address ("error while attempting to bind on ...");
        # a name that does not resolve has its own codes (socket.gaierror), and its strerror.
        if isinstance(cause, socket.gaierror) or not cause.errno:
            self.reason = cause.strerror or str(cause)
        else:
            self.reason = os.strerror(cause.errno)
        super().__init__(cause.errno, f"cannot listen on {endpoint(host, port)} ({listener}): {self.reason}")


def _tame_gc(now: float, last_full: float, quiet: bool = True) -> float:
    """Keep full garbage collections out of the message path; returns the last full time.

    A full collection scans every tracked object, and with a thousand sessions that is a
    pause of several milliseconds, often enough to set the latency p99 (measured: p99 of
    delivered acks 2.6 ms -> 1.6 ms with it out of the way). ``gc.freeze()`` moves what is
    alive now, mostly sessions, out of the collector's sight; objects freed by reference
    counting are still freed. Only cycles among frozen objects would wait, so a real full
    collection runs when ``_full_collection_due`` says so (``quiet``: nothing happened on the
    server since the caller last asked). Young collections would run less often too
    (``_GC_THRESHOLDS``: 50,000 allocations rather than 700), and ``_freeze_young`` keeps
    them from running at all; cycles among young objects wait for the full one.
    """
    if _full_collection_due(now - last_full, quiet):
        gc.unfreeze()
        started = time.perf_counter()
        found = gc.collect()
        log.debug("full garbage collection: %.0f ms, %s", 1000 * (time.perf_counter() - started),
                  counted(found, "unreachable object{s}"))
        last_full = now
    gc.freeze()
    gc.set_threshold(*_GC_THRESHOLDS)
    return last_full


def _full_collection_due(since_last: float, quiet: bool) -> bool:
    """Whether a full collection runs now, ``since_last`` seconds after the last one."""
    return since_last >= _FULL_GC_LATEST or (quiet and since_last >= _FULL_GC_PERIOD)


def _freeze_young(at: int = _FREEZE_AT) -> bool:
    """Freeze the young objects if the collector counts ``at`` or more; says whether it did.

    Between the sweep's passes (``_tame_gc``) this keeps the tamed collector's first
    threshold out of reach, so that no young collection stalls the loop (see _FREEZE_AT).
    """
    if gc.get_count()[0] < at:
        return False
    gc.freeze()
    return True


def open_file_limit() -> int | None:
    """The process's soft limit on open files, or None where there is none to read (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


# The open-file limit's cap on connections is logged as a warning under this share of the
# connections asked for (const.MAX_CONNECTIONS), else as information.
CAPACITY_WARNING_SHARE = 0.9


def connection_capacity(max_connections: int, file_limit: int | None) -> int:
    """How many connections the server may hold: ``max_connections``, or fewer when the
    open-file limit is lower, since each connection is a file descriptor.

    Some descriptors are kept for everything else (the listening sockets, the database and
    its journal, the log, the event loop, and connections that are being refused): 64, or
    a quarter of a small limit (at least 16). Past the limit, ``accept()`` fails with
    EMFILE and nobody new gets an answer; within it, the extra client gets ``server_full``.
    """
    if file_limit is None:
        return max_connections
    reserve = min(64, max(16, file_limit // 4))
    return max(1, min(max_connections, file_limit - reserve))


def capacity_line(capacity: int, wanted: int, file_limit: int) -> str:
    """The start-up line for a ``capacity`` (connection_capacity) below the ``wanted``
    MAX_CONNECTIONS: what limits it, in words an operator who just started the server
    knows, and what to do about it (chatserver.py already raised the soft limit to the hard one)."""
    return (f"accepting at most {capacity} connections at once, not the {wanted} asked for (MAX_CONNECTIONS): "
            f"each connection is an open file, and this system lets the server have {file_limit} open files "
            f"(ulimit -Hn), {file_limit - capacity} of them kept for its own use (database, log, listening sockets); "
            f"to accept {wanted}, raise that limit before starting the server")


def tls_context(config: ServerConfig) -> ssl.SSLContext:
    """A server-side TLS context from the configured certificate chain and key (PEM).
    Raises ``ssl.SSLError`` for files OpenSSL cannot use, :class:`KeyUnderPassphrase` for a
    key that wants a passphrase."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key, password=_refuse_passphrase)
    return context


class KeyUnderPassphrase(Exception):
    """The TLS key file wants a passphrase. Refused rather than asked for: OpenSSL would ask
    on the terminal, where a server started by a service manager waits for ever (and one
    without a terminal failed with an unrelated "Invalid argument")."""


def _refuse_passphrase() -> bytes:
    raise KeyUnderPassphrase


def _error_frame(refusal: Refusal) -> bytes:
    """What a refused chat connection is told before it is closed: the error frame."""
    return encode(ErrorReply(refusal.code, refusal.message))


class ChatServer:
    """One chat server. Not reusable: start it once, stop it once."""

    def __init__(self, config: ServerConfig | None = None, store: MessageStore | None = None,
                 peers: Any = None) -> None:
        """``store`` and ``peers`` (server/peers.py) replace the ones the config says, for
        tests: several nodes in one process on one store."""
        self.config = config or ServerConfig()
        # In memory (no data folder): Python structures, no SQLite on the message path.
        self.store: MessageStore = SQLiteStore(self.config.database) if self.config.database else MemoryStore()
        if self.config.cluster_url:  # cluster mode: everything in Redis, shared with the other nodes
            self.store = RedisStore(self.config.cluster_url)
        if store is not None:
            self.store = store
        # The other nodes of a cluster (server/cluster/), or None: this server alone.
        self.peers = peers
        if peers is None and self.config.cluster_url:
            from .cluster.node import ClusterNode
            self.peers = ClusterNode(self.config.cluster_url)
        self.relay: Relay | None = None  # made by start(), once the store is open
        self._server: Listener | None = None
        self._web: Listener | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._freezer: asyncio.Task[None] | None = None
        self._lock: DataDirLock | None = None  # held from before the database opens until it is closed

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually listened on; the port is real even if 0 was asked."""
        assert self._server is not None, "start() first"
        sockname = self._server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    async def start(self) -> None:
        """Lock the data directory, bind the ports, open the store, then listen on
        config.host:config.port (bound before the store: a taken port makes no database).

        Then, if config.web_port is set, the web client's listener. Raises
        lockfile.DataDirInUse if another server uses the data directory,
        :class:`ListenFailed` (an OSError) saying which listener if its port is in use or
        cannot be opened, ssl.SSLError or OSError for unusable TLS files, sqlite3.Error for
        an unusable database. On failure nothing stays open, listening or locked.
        """
        loop = asyncio.get_running_loop()

        def offload(func, args, callback, on_error) -> None:
            # Slow work (password hashing) on the default thread pool; the result comes
            # back to the loop, where the callback runs. If it raised (scrypt out of
            # memory), on_error: the request it was for is answered all the same.
            def finished(future: asyncio.Future) -> None:
                if future.cancelled():
                    return
                exc = future.exception()
                if exc is None:
                    callback(future.result())
                    return
                # Summarised (one line, then a count): under memory pressure every login fails so.
                name = getattr(func, "__name__", repr(func))
                self.relay.log_lines.log("failure{s} on a worker thread", name, logging.ERROR,
                                         "%s failed on a worker thread: %s: %s", name, type(exc).__name__, exc)
                on_error(exc)

            loop.run_in_executor(None, func, *args).add_done_callback(finished)

        tls = tls_context(self.config) if self.config.tls_cert else None
        file_limit = open_file_limit()
        wanted = self.config.max_connections
        self.config = dataclasses.replace(self.config, max_connections=connection_capacity(wanted, file_limit))
        failures = AcceptFailures(loop, file_limit)
        keep_reserve()
        loop.set_exception_handler(guard(failures))  # out of memory: the process ends (server/outofmemory.py)
        if self.config.data_dir is not None:
            self._lock = DataDirLock.acquire(self.config.data_dir)
            try:
                refuse_unfinished(self.config.database)
            except UnfinishedBackup:
                self._lock.release()
                self._lock = None
                raise
        bound: list[socket.socket] = []  # closed if the start fails (closing twice does no harm)
        try:
            chat_sockets = self._bind("chat", self.config.port, bound)
            web_sockets = None if self.config.web_port is None else self._bind("web", self.config.web_port, bound)
            self.store.open()
            if self.config.cluster_url:
                log.info("data in Redis at %s", self.store.address)
            elif self.config.data_dir is not None:
                log.info("data in %s", self.config.database)
                warn_if_open_to_others(self.config.data_dir)
            self.relay = Relay(self.config, self.store, lambda delay, callback: loop.call_later(delay, callback),
                               offload, self.peers)
            self.store.start(loop)
            if hasattr(self.store, "on_commit"):  # the durable store: time its commits
                self.store.on_commit = self.relay.metrics.store_commit.observe
            for owner in (self.store, self.peers):  # cluster mode: time the Redis round trips
                for client in getattr(owner, "redis_clients", lambda: ())():
                    client.round_trips = self.relay.metrics.track_redis()
            if self.peers is not None:
                self.peers.attach(self.relay)
                await self.peers.start()  # joins the cluster: from now on logins are claimed there
            batcher = WriteBatcher(loop)
            batcher.follow(self.store)  # a store's answers (memory and durable): their frames out at once
            try:
                sockets = listen_on(chat_sockets, 4096)
            except OSError as exc:
                raise ListenFailed("chat", self.config.host, self.config.port, exc) from exc
            # Counted from accept() (server/admission.py); a TLS handshake has the login
            # timeout, being the first part of logging in.
            self._server = Listener(sockets, self._chat_session(batcher), self.relay.admission, self.relay.log_lines,
                                    refusal_bytes=None if tls else _error_frame, tls=tls,
                                    handshake_timeout=self.config.login_timeout, failures=failures, backlog=4096)
            self._server.start()
            if self.config.web_port is not None:  # before anything runs: a failed start leaves nothing behind
                try:
                    self._web = await start_web_server(
                        self.relay, self.config.host, self.config.web_port, batcher=batcher,
                        # The configured origins are allowed besides the page's own
                        # (ServerConfig.web_origins, chatserver.py --web-origin).
                        allowed_origins=self.config.web_origins, same_origin_too=True, echo=self.config.web_echo,
                        allowed_hosts=self.config.web_hosts, tls=tls, metrics=self.metrics_text,
                        metrics_allow=self.config.metrics_allow, reuse_port=self.config.reuse_port,
                        failures=failures, sockets=web_sockets)
                except OSError as exc:
                    raise ListenFailed("web", self.config.host, self.config.web_port, exc) from exc
            # Said once the web port takes connections too: what operators, supervisors and
            # tests wait for before they connect to either (the web port refused them, said
            # before its listen()).
            log.info("listening on %s%s", endpoints(sock.getsockname() for sock in self._server.sockets),
                     " (TLS)" if tls else "")
        except BaseException:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            for sock in bound:
                sock.close()
            if self.peers is not None:
                await self.peers.stop()
            self.store.close()
            await self.store.wait_closed()
            self._release()
            raise
        self._sweeper = asyncio.create_task(self._sweep_forever())
        if self.config.tame_gc:
            # Tamed now, not at the sweep's first pass a period from now: until then Python's
            # thresholds ran young collections every 700 allocations and full ones of 30-40 ms
            # over the sessions, under whatever came first (a restart's logins; in the
            # benchmark, the first second or two of the throughput phase: 9.7% of the memory
            # server's CPU there, bench/PROFILE.md round syscalls). No full collection: none
            # is due yet (the sweep's count starts now too).
            _tame_gc(time.monotonic(), time.monotonic())
            self._freezer = asyncio.create_task(self._freeze_forever())
        if self.config.max_connections < wanted:  # said once the server runs: a failed start says one line
            # A warning only where the limit takes a real share of the connections asked
            # for: one at every start for 19,936 of 20,000 teaches operators to skip warnings.
            shortfall = self.config.max_connections < wanted * CAPACITY_WARNING_SHARE
            log.log(logging.WARNING if shortfall else logging.INFO, "%s",
                    capacity_line(self.config.max_connections, wanted, file_limit))

    def _bind(self, listener: str, port: int, bound: list[socket.socket]) -> list[socket.socket]:
        """The sockets of ``listener`` ("chat" or "web") bound to ``port`` on config.host, also
        added to ``bound``; ListenFailed saying which if the port is taken or not allowed."""
        try:  # SO_REUSEADDR on POSIX, so a restart can bind the port at once
            sockets = bind_sockets(self.config.host, port, reuse_port=self.config.reuse_port,
                                   unacked_timeout=self.config.heartbeat_timeout)
        except OSError as exc:
            raise ListenFailed(listener, self.config.host, port, exc) from exc
        bound.extend(sockets)
        return sockets

    def _chat_session(self, batcher: WriteBatcher):
        """The protocol of one admitted connection to the chat port."""
        relay = self.relay

        def make(address: str, port: int) -> ClientSession:
            session = ClientSession(relay, batcher)
            # The address it was admitted for, which it releases when it closes (the
            # transport may no longer know the peer's, if it reset meanwhile).
            session.address, session.port = address, port
            return session
        return make

    def metrics_text(self) -> str:
        """The server's figures in Prometheus's text format (see server/metrics.py): the
        relay's counters, and gauges read now from the sessions and the store."""
        relay = self.relay
        outgoing = lagging = 0
        for session in relay.sessions:
            transport = session.transport
            if transport is not None and not session.closing:
                outgoing += transport.get_write_buffer_size()
            lagging += session.write_paused
        gauges = {"chat_connections": len(relay.sessions), "chat_users_online": len(relay.registry),
                  "chat_messages_in_flight": len(relay.inflight), "chat_outgoing_bytes": outgoing,
                  "chat_sessions_lagging": lagging}
        depth = getattr(self.store, "queue_depth", None)
        if depth is not None:
            gauges["chat_store_queue"] = depth
        gauges.update(getattr(self.peers, "gauges", {}))  # a cluster node's, read once per beat
        failures = getattr(self.store, "failures", None)
        if failures is not None:  # counted by the store as it logs them: read, not counted twice
            relay.metrics.store_errors = failures.operations_failed
        return relay.metrics.render(gauges, getattr(self.peers, "counters", None))

    @property
    def web_address(self) -> tuple[str, int]:
        """The (host, port) of the web client; start() with config.web_port set first."""
        assert self._web is not None, "no web server"
        sockname = self._web.sockets[0].getsockname()
        return sockname[0], sockname[1]

    async def stop(self, reason: str = const.SHUTDOWN_REASON) -> None:
        """Tell every client ``reason``, close all connections, stop listening."""
        if self._server is None:
            return
        self._server.close()
        if self._web is not None:
            self._web.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._freezer is not None:
            self._freezer.cancel()
        if self.peers is not None:  # a cluster node: its users' names free before they move
            await self.peers.hand_off()
        self.relay.shut_down(reason)
        deadline = time.monotonic() + _GOODBYE_GRACE
        while self.relay.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # closing transports flush, then call connection_lost
        for session in list(self.relay.sessions):
            session.abort(const.SHUTDOWN_REASON)
        await self._server.wait_closed()
        if self._web is not None:
            await stop_web_server(self._web)
        if self.peers is not None:
            await self.peers.stop()
        await self.store.drain()
        self.store.close()
        await self.store.wait_closed()
        self._release()
        log.info("stopped")

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def _freeze_forever(self) -> None:
        """With the tamed collector: freeze a burst's young objects before they are collected."""
        while True:
            await asyncio.sleep(_FREEZE_CHECK)
            _freeze_young()

    def _end_unanswered_probes(self, now: float, listening_since: float) -> None:
        """End each session pinged for a login that claims its name (Relay.probes) from
        which nothing came within ``release_probe`` (counted while the server listened);
        forget those that answered or ended."""
        probes = self.relay.probes
        for session, since in list(probes.items()):
            since = max(since, listening_since)
            if session.closing or session.last_seen >= since:
                del probes[session]
            elif now - since > self.config.release_probe:
                del probes[session]
                # Logged once, by the relay as the connection goes ("logout ... (timeout)").
                session.end(ErrorCode.HEARTBEAT_TIMEOUT,
                            f"nothing received for {now - session.last_seen:.0f} s, nor within "
                            f"{self.config.release_probe:g} s of a ping while its user logged in again; "
                            "closing the connection", "timeout")

    async def _sweep_forever(self) -> None:
        """Ping quiet clients, drop silent ones and ones that never logged in.

        One periodic pass over all sessions instead of a timer per connection keeps an
        idle connection cheap.
        """
        config = self.config
        period = max(0.05, min(config.heartbeat_interval, config.login_timeout, config.frame_timeout,
                               config.expiry_interval) / 4)
        last_full_gc = last_expiry = last_pass = time.monotonic()
        listening_since = float("-inf")  # since the last stall: none yet (see below)
        last_activity = self.relay.metrics.activity()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            if now - last_pass > period + max(_STALL, config.heartbeat_interval):
                # The process did not run (its VM paused by the host, a laptop that serves
                # the class and slept, SIGSTOP) or its loop was held that long. Its clients
                # may have pinged all along into sockets nobody read, and this pass can come
                # before those reads (after SIGCONT the first select may return nothing):
                # a client's silence counts only while the server listened. A shorter
                # stall needs no credit: a live client says something every heartbeat
                # interval, far inside the timeout.
                listening_since = now
                log.warning("the server did not run for %.0f s (was its machine suspended?): "
                            "its clients' silence meanwhile is not held against them", now - last_pass - period)
            # A step of the wall clock is noted against the messages taken before it, at
            # most one pass late: the edit window holds (server/clocksteps.py MessageAges).
            self.relay.after.look_at_clock()
            if now - last_expiry >= config.expiry_interval:
                last_expiry = now
                self.relay.expire(time.time())
            if config.tame_gc:
                activity = self.relay.metrics.activity()
                last_full_gc = _tame_gc(now, last_full_gc, quiet=activity == last_activity)
                last_activity = activity
            if self.relay.probes:
                self._end_unanswered_probes(now, listening_since)
            for i, session in enumerate(list(self.relay.sessions)):
                if i and not i % _SWEEP_SLICE:
                    await asyncio.sleep(0)  # what came meanwhile first (see _SWEEP_SLICE)
                    now = time.monotonic()
                if session.closing:  # also one that closed since the pass began
                    continue
                held = session.reading_held_since
                # A hello being decided holds reading too (Relay._hello), but keeps its login
                # timeout below: a check that never ends must not keep the connection (the
                # other timeouts are longer than the login's).
                if held is not None and session.conn.state is not State.HANDSHAKE:
                    # We stopped reading it (server/intake.py): its silence, or its frame
                    # left unfinished, is ours, not its own. But a hold that waits for it
                    # to read what it was sent is its own: as long as a heartbeat, then
                    # it is a slow consumer.
                    if session.write_paused and now - max(held, listening_since) > config.heartbeat_timeout:
                        session.stalled(now - held)
                    continue
                silent = now - max(session.last_seen, listening_since)
                unfinished = session.unfinished_since
                if (session.conn.state is State.HANDSHAKE
                        and now - max(session.connected_at, listening_since) > config.login_timeout):
                    # Logged once, by the relay as the connection goes ("before logging in").
                    session.end(ErrorCode.LOGIN_TIMEOUT, f"no login within {config.login_timeout:g} s; "
                                "closing the connection", "login timeout")
                elif unfinished is not None and now - max(unfinished, listening_since) > config.frame_timeout:
                    # Bytes keep coming (so the heartbeat is content) but the frame never
                    # ends: the buffer would stay pinned for as long as the client likes.
                    # Logged once, by the relay as the connection goes ("... (frame timeout)");
                    # over WebSocket closed as the other rules a client broke are (1008).
                    session.end(ErrorCode.FRAME_TIMEOUT, f"a frame was not finished within {config.frame_timeout:g} s; "
                                "closing the connection", "frame timeout")
                elif silent > config.heartbeat_timeout:
                    # Logged once, by the relay as the connection goes ("logout ... (timeout)").
                    session.end(ErrorCode.HEARTBEAT_TIMEOUT, f"nothing received for {silent:.0f} s; "
                                "closing the connection", "timeout")
                elif silent > config.heartbeat_interval and not session.pinged and session.is_open:
                    session.pinged = True
                    session.send(Ping("heartbeat"))
            last_pass = now
