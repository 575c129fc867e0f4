"""Run the chat server: ``python3 chatserver.py [--host H] [--port P] [--data DIR] [--verbose]``;
``--backup FOLDER`` copies the database of ``--data`` (its server may be running) and exits.

Defaults come from const.py. Stop it with Ctrl-C, SIGTERM, or by typing /quit (or /sair)
at its terminal; connected clients are told the server is shutting down. /help there lists
the console's commands (server.console.help_lines). A port that cannot be opened ends it with
one line naming the flag that changes it (LISTEN_FAILED).
"""

# Before anything an old Python cannot import; hence no `from __future__ import annotations`
# (a SyntaxError on 3.6), and only syntax 3.6 parses in this file (pythoncheck.py says why).
import sys

import pythoncheck

pythoncheck.interrupt_quietly()  # before anything slow: a Ctrl-C now shows no traceback
pythoncheck.require("chatserver.py")

import argparse  # noqa: E402
import asyncio
import errno
import itertools
import logging
import os
import select
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import const
import i18n
import overrides
from i18n import _, decimal, ngettext
from registry import InvalidName, canonical, validate_name
from registry.names import not_a_name
from resp import parse_url
from resp.aio import tls_context
from server import ChatServer, ServerConfig, backup
from server.addresses import bracketed, endpoint
from server.app import KeyUnderPassphrase, ListenFailed
from server.console import (QUIT_COMMANDS, Confirmation, background_reads_not_stopping, console_hint, console_lines,
                            registry_lines, say_to_operator, unregister_question, watch_console)
from server.lan import lan_lines, listens_everywhere, local_addresses
from server.listener import bind_sockets
from server import logformat
from server.lockfile import DataDirInUse, DataDirUnusable
from server.accountdesk import NoAccount
from server.store import StoreUnavailable
from server.metrics import parse_allow_list
from server.outofmemory import give_up
from shared.plural import counted
from web.hosts import ANY_HOST, is_host_name
from web.websocket.handshake import normalise_origin

log = logging.getLogger("chat.server")


def _port(text: str) -> int:
    """A port number for argparse: 0 to 65535 (0: any free port, or no web client)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("not a port number: {text!r}").format(text=text)) from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(_("a port is between 0 and 65535, not {port}").format(port=port))
    return port


# What to say when a listener cannot open its port, naming the flag that changes it.
LISTEN_FAILED = {
    "chat": "cannot start: cannot listen on {host} port {port} ({reason}); "
            "choose another port with --port PORT, or another address with --host",
    "web": "cannot start: the web client cannot listen on {host} port {port} ({reason}); "
           "choose another port with --web-port PORT, or turn the web client off with --web-port 0",
}


def listen_failed(exc: ListenFailed) -> str:
    """LISTEN_FAILED's line for ``exc``, naming the settings file when the address or the
    port it could not listen on is one it sets: the server stops before its log says which
    file applied, and an address left there from another network (a lab's old IP address)
    was otherwise looked for on the command line, where it is not."""
    line = LISTEN_FAILED[exc.listener].format(port=exc.port, host=exc.host, reason=exc.reason)
    if exc.errno in (errno.EADDRINUSE, errno.EACCES):  # the port's fault (taken, or below 1024)
        name, value = ("SERVER_PORT" if exc.listener == "chat" else "WEB_PORT"), exc.port
    else:  # the address's: not this machine's, or no such name
        name, value = "SERVER_HOST", exc.host
    if name in const.LOCAL_SETTINGS.names and getattr(const, name) == value:
        line += f"; {value} is {const.LOCAL_SETTINGS.where(name)}"
    return line


# What to say when the data directory (--data DIR, absolute) cannot be used, by the
# cause's errno; {dir}, {file} (the file in the way), {reason} (the system's words), {free}
# (what the disk has left).
DATA_DIR_FAILED = {
    errno.EEXIST: "cannot start: --data {dir} must be a folder, but {file} is a file; give --data "
                  "a folder, or move the file",
    errno.EROFS: "cannot start: --data {dir} is on a read-only file system; give --data a folder "
                 "the server may write in, or mount it read-write",
    errno.EACCES: "cannot start: no permission to write in --data {dir} ({reason}); give --data a folder "
                  "this user may write in",
    errno.ENOSPC: "cannot start: the disk holding --data {dir} is full ({free} free); free some space, "
                  "or give --data a folder on another disk",
}
DATA_DIR_FAILED[errno.ENOTDIR] = DATA_DIR_FAILED[errno.EEXIST]
DATA_DIR_FAILED[errno.EPERM] = DATA_DIR_FAILED[errno.EACCES]
DATA_DIR_FAILED_OTHERWISE = ("cannot start: cannot use --data {dir} ({reason}); give --data a folder the server "
                             "may create and write in")
# SQLite's primary result codes that can mean a full disk (SQLITE_IOERR, SQLITE_FULL): a
# database that cannot grow, or its journal that cannot be made, says "disk I/O error".
_SQLITE_DISK_CODES = frozenset({10, 13})
_SQLITE_FULL = 13


def _free_space(folder: Path) -> str:
    """What the disk holding ``folder`` (or its nearest existing parent) has left, for people."""
    for place in (folder, *folder.parents):
        try:
            free = shutil.disk_usage(place).free
        except OSError:
            continue
        return backup.human_size(free)
    return "unknown space"


def data_dir_failed(data_dir: Path, exc: OSError) -> str:
    """The one log line for a data directory the server cannot use (``exc``: why)."""
    template = DATA_DIR_FAILED.get(exc.errno, DATA_DIR_FAILED_OTHERWISE)
    in_the_way = next((place for place in (data_dir, *data_dir.parents) if place.exists() and not place.is_dir()),
                      data_dir)
    return template.format(dir=data_dir, file=in_the_way, reason=exc.strerror or exc, free=_free_space(data_dir))


def database_failed(database: Path, exc: sqlite3.Error) -> str:
    """The one log line for a database the server cannot open or use (``exc``: SQLite's words)."""
    line = f"cannot use the database {database}: {exc}"
    if getattr(exc, "sqlite_errorcode", 0) & 0xFF == _SQLITE_FULL:
        line += (f"; the disk holding it is full ({_free_space(database.parent)} free): free some space, "
                 "or move --data to another disk")
    elif getattr(exc, "sqlite_errorcode", 0) & 0xFF in _SQLITE_DISK_CODES:
        line += (f"; the disk holding it may be full ({_free_space(database.parent)} free): free some space, "
                 "or move --data to another disk; else the disk may be failing")
    return line


def backup_line(database: Path, folder: Path) -> "tuple[bool, str]":
    """Back ``database`` up into ``folder`` (server/backup.py; blocks: a thread's work in a
    running server); whether it was made, and the one line that says where and how big,
    or why not, for the operator: also for what backup.py does not expect (a NUL in the
    folder's name: ValueError; a bug), in one line, not a traceback."""
    try:
        made = backup.back_up(database, folder)
    except Exception as exc:
        reason = exc if isinstance(exc, backup.BackupRefused) else f"{type(exc).__name__}: {exc}"
        return False, _("no backup made: {reason}").format(reason=reason)
    log.info("backup of the database made: %s (%s, %s, %.1f s)", made.database, counted(made.size, "byte{s}"),
             counted(made.messages, "message{s}"), made.seconds)
    return True, ngettext("backup made: {file} ({size}, {messages} message, in {seconds} s); to use it, start "
                          "a server with --data {folder}",
                          "backup made: {file} ({size}, {messages} messages, in {seconds} s); to use it, start "
                          "a server with --data {folder}", made.messages).format(
        file=made.database, size=backup.human_size(made.size, said=True), messages=made.messages,
        seconds=decimal(made.seconds), folder=made.database.parent)


def _host_in(text: str) -> str | None:
    """The host name in what someone gave for one (a URL, name:port), if it has one."""
    try:
        host = urlsplit(text if "//" in text else "//" + text.strip()).hostname
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")  # what browsers send in Host
    except (ValueError, UnicodeError):
        return None
    return host if host and is_host_name(host) else None


def _web_names_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--web-host-name`` and ``--web-origin`` (or their settings, from
    const.py or the operator's settings file), which else would be taken and never match a browser's request (421, 403)."""
    for name in args.web_host_name:
        if name != ANY_HOST and not is_host_name(name):
            return _("{option}: {name!r} is not a host name: give the name alone, as in {example} "
                     "(no http://, no port, no /)").format(
                option=(const.LOCAL_SETTINGS.where("WEB_ALLOWED_HOSTS") if name in const.WEB_ALLOWED_HOSTS
                        else "--web-host-name"),
                name=name, example=_host_in(name) or "chat.example.org")
    for origin in args.web_origin:
        if origin != "*" and normalise_origin(origin) is None:
            host = _host_in(origin) or "chat.example.org"
            return _("{option}: {origin!r} is not an origin: give the scheme and the name, and the port if it is "
                     "not the scheme's, as in {example} or {other}").format(
                option=(const.LOCAL_SETTINGS.where("WEB_ALLOWED_ORIGINS") if origin in const.WEB_ALLOWED_ORIGINS
                        else "--web-origin"),
                origin=origin, example=f"https://{bracketed(host)}", other=f"http://{endpoint(host, const.WEB_PORT)}")
    return None


def setting_data_dir() -> Path:
    """The folder DATA_DIR names (const.py, or the operator's settings file): a relative one
    is in the program's folder, where const.py is, wherever the server is started from
    (``data`` was the folder the command was typed in: started from another, the server made
    a new, empty database there, and the class's accounts and history seemed gone). A
    relative ``--data DIR`` is from the current folder, as the shell means it."""
    return Path(const.__file__).resolve().parent / Path(const.DATA_DIR).expanduser()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; its help and usage errors in the language of ``--lang`` (else the
    environment's), which is in use when it returns (``args.lang``). The log stays English."""
    i18n.use(i18n.early_choice(argv))
    i18n.speak_argparse()
    parser = argparse.ArgumentParser(description=_("Chat server: user registry and message relay."))
    parser.add_argument("--host", default=const.SERVER_HOST, metavar=_("HOST"),
                        help=_("address to listen on (default {host}; 0.0.0.0 for the LAN, :: for the LAN on IPv6 "
                               "and IPv4)").format(
                            host=const.SERVER_HOST))
    parser.add_argument("--port", type=_port, default=const.SERVER_PORT, metavar=_("PORT"),
                        help=_("TCP port (default {port}; 0 picks a free one)").format(port=const.SERVER_PORT))
    parser.add_argument("--web-port", type=_port, default=const.WEB_PORT, metavar=_("PORT"),
                        help=_("port of the web client (default {port}; 0 turns it off)").format(port=const.WEB_PORT))
    parser.add_argument("--web-origin", action="append", default=list(const.WEB_ALLOWED_ORIGINS), metavar="URL",
                        help=_("another origin allowed to open the WebSocket (repeatable; '*' allows any)"))
    parser.add_argument("--web-host-name", action="append", default=list(const.WEB_ALLOWED_HOSTS), metavar=_("NAME"),
                        help=_("a DNS name browsers reach this server by, besides localhost and this machine's "
                               "name (repeatable; '*' allows any): other names are refused"))
    parser.add_argument("--metrics-allow", metavar=_("LIST"), default=",".join(const.METRICS_ALLOW),
                        help=_("addresses and CIDR blocks, comma-separated, that may read /metrics on the web port "
                               "(default {addresses}); others get 403").format(addresses=",".join(const.METRICS_ALLOW)))
    parser.add_argument("--web-echo", action="store_true",
                        help=_("serve a WebSocket echo at /echo, for conformance test suites"))
    parser.add_argument("--data", metavar=_("DIR"),  # None: not given (DATA_DIR below)
                        help=_("folder of the database: accounts, queued messages, history (default {folder})").format(
                            folder=setting_data_dir()))
    parser.add_argument("--backup", metavar=_("FOLDER"),
                        help=_("copy the database of --data (its server may be running) into FOLDER, new or empty, "
                               "and exit: FOLDER is then a data folder of its own"))
    parser.add_argument("--memory", action="store_true",
                        help=_("keep everything in memory instead: nothing survives a restart"))
    parser.add_argument("--cluster", metavar="URL", default=const.CLUSTER_URL,
                        help=_("keep everything in the Redis at URL instead (redis://[[user]:password@]host:port/db; rediss:// "
                               "over TLS), "
                               "shared by every node of a cluster; run Redis with --appendonly yes "
                               "--appendfsync always"))
    parser.add_argument("--tls-cert", metavar="PEM", default=const.TLS_CERT,
                        help=_("certificate chain file: turns TLS on (with --tls-key)"))
    parser.add_argument("--tls-key", metavar="PEM", default=const.TLS_KEY,
                        help=_("private key file for --tls-cert"))
    parser.add_argument("--require-accounts", action="store_true", default=const.REQUIRE_ACCOUNTS,
                        help=_("admit registered names only (no guests)"))
    parser.add_argument("--max-connections-per-address", type=int, metavar="N",
                        default=const.MAX_CONNECTIONS_PER_ADDRESS,
                        help=_("connections one IP address may hold (default {n})").format(
                            n=const.MAX_CONNECTIONS_PER_ADDRESS))
    parser.add_argument("--rate-per-address", type=float, metavar="N", default=const.RATE_PER_ADDRESS,
                        help=_("requests per second from one IP address (default {n})").format(
                            n=f"{const.RATE_PER_ADDRESS:g}"))
    parser.add_argument("--rate-per-connection", type=float, metavar="N", default=const.RATE_PER_CONNECTION,
                        help=_("requests per second from one connection (default {n})").format(
                            n=f"{const.RATE_PER_CONNECTION:g}"))
    parser.add_argument("--lang", metavar=_("LANG"),
                        help=_("language of the console and of this help: {languages} (default: from LANGUAGE, "
                               "LC_ALL, LC_MESSAGES or LANG, else {default}); the log stays English").format(
                            languages=", ".join(i18n.available()), default=const.LANGUAGE_DEFAULT))
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help=_("start N nodes of the cluster on these ports (SO_REUSEPORT), each its own process, "
                               "so that all cores are used; needs --cluster"))
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # set for each worker
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("--verbose", "-v", action="store_true", help=_("log every frame-level detail"))
    noise.add_argument("--quiet", "-q", action="store_true", help=_("log only warnings and errors"))
    args = parser.parse_args(argv)
    try:  # first, so that the errors below are said in it
        args.lang = i18n.use(i18n.choose(args.lang))
    except ValueError as exc:
        parser.error(str(exc))
    if args.data is not None and (args.memory or args.cluster):  # else --data would be ignored
        parser.error(_("--data and --memory exclude each other: --memory keeps nothing on disk") if args.memory
                     else _("--data and --cluster exclude each other: a cluster keeps everything in Redis "
                            "(--cluster, or CLUSTER_URL in const.py)"))
    if args.backup is not None and (args.memory or args.cluster):
        parser.error(_("--backup copies the database of --data: --memory keeps nothing on disk, and a cluster "
                       "keeps everything in Redis (back Redis up instead)"))
    if args.data is None:
        args.data = str(setting_data_dir())
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error(_("--tls-cert and --tls-key go together"))
    if args.port and args.port == args.web_port:  # else the chat port listens, and then the web one fails
        parser.error(_("--port and --web-port are both {port}: the web client needs a port of its own (or "
                       "--web-port 0: no web client)").format(port=args.port))
    if args.cluster:
        if args.memory:
            parser.error(_("--memory and --cluster exclude each other: a cluster keeps everything in Redis"))
        try:
            tls_context(parse_url(args.cluster))  # a rediss:// URL's files read now, not at the first connection
        except ValueError as exc:
            parser.error(_("--cluster: {error}").format(error=exc))
    if args.max_connections_per_address < 1:  # else everyone is refused
        parser.error(_("--max-connections-per-address is a number of connections, at least 1, not {n}").format(
            n=args.max_connections_per_address))
    if args.workers < 1:
        parser.error(_("--workers is a number of nodes, at least 1, not {n}").format(n=args.workers))
    if args.workers > 1 and not args.cluster:
        parser.error(_("--workers N starts N nodes of one cluster: it needs --cluster redis://HOST:PORT/DB "
                       "(or CLUSTER_URL in const.py)"))
    if (args.workers > 1 or args.reuse_port) and not hasattr(socket, "SO_REUSEPORT"):
        parser.error(_("--workers needs SO_REUSEPORT (several processes on one port), which this system does not "
                       "have (Windows): start each node with its own --port and --cluster instead"))
    problem = _web_names_problem(args)
    if problem:
        parser.error(problem)
    args.metrics_allow = tuple(entry.strip() for entry in args.metrics_allow.split(",") if entry.strip())
    try:
        parse_allow_list(args.metrics_allow)
    except ValueError as exc:
        parser.error(_("--metrics-allow: {error}").format(error=exc))
    return args


def request_burst(given_rate: float, rate_setting: str, burst_setting: str) -> float:
    """The request burst for a rate of ``given_rate`` (the command line's, or its default,
    the setting ``rate_setting`` of const.py): the setting ``burst_setting`` as const.py or
    the settings file has it, unless the command line changed the rate and the operator set
    no burst of their own; then twice that rate, the burst const.py ships with. A burst is
    the operator's own when the settings file names it, or when it is not twice const.py's
    rate (const.py itself edited: the shipped burst is twice the rate)."""
    rate, burst = getattr(const, rate_setting), getattr(const, burst_setting)
    if given_rate == rate or burst_setting in const.LOCAL_SETTINGS.names or burst != 2 * rate:
        return burst
    return 2 * given_rate


def config_from(args: argparse.Namespace) -> ServerConfig:
    return ServerConfig(
        host=args.host, port=args.port, tame_gc=True,
        web_port=args.web_port or None, web_echo=args.web_echo, web_hosts=tuple(args.web_host_name),
        metrics_allow=args.metrics_allow,
        web_origins=("*" if "*" in args.web_origin else tuple(args.web_origin)) if args.web_origin else None,
        data_dir=None if args.memory or args.cluster else Path(args.data).absolute(),
        cluster_url=args.cluster or None,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
        require_accounts=args.require_accounts,
        max_connections_per_address=args.max_connections_per_address,
        rate_per_address=args.rate_per_address,
        burst_per_address=request_burst(args.rate_per_address, "RATE_PER_ADDRESS", "BURST_PER_ADDRESS"),
        rate_per_connection=args.rate_per_connection,
        burst_per_connection=request_burst(args.rate_per_connection, "RATE_PER_CONNECTION", "BURST_PER_CONNECTION"),
        reuse_port=args.reuse_port)


# The soft limit on open files asked for when the first ask is refused: macOS's OPEN_MAX,
# the most it takes where its kern.maxfilesperproc is lower than the connections need.
FALLBACK_FILE_LIMIT = 10240


def raise_file_limit() -> None:
    """Allow as many open files as the system lets this process have: each client is one.

    An unlimited hard limit (macOS) cannot be the soft one: then ask for what the
    connections need, with room to spare; macOS refuses more than its per-process maximum
    (often 10240; a Mac starts a process with 256), so that is asked next. The server
    admits fewer if it stays lower.
    """
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except ImportError:  # Windows: no such limit
        return
    target = const.MAX_CONNECTIONS + 1024 if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY:
        return
    for ask in (target, min(target, FALLBACK_FILE_LIMIT)):
        if soft >= ask:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ask, hard))
            return
        except (ValueError, OSError):  # more than the system allows, or not allowed
            pass


def _stop_signals() -> tuple[signal.Signals, ...]:
    """The signals that stop the server as /quit does: Ctrl-C, SIGTERM, and SIGHUP, which
    the terminal sends when its window is closed (else the server died at once: its clients
    not told, and its next start checking the database as after a crash), unless it is
    ignored (``nohup``: the server is meant to outlive its terminal). Windows has no SIGHUP."""
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is None or signal.getsignal(hangup) is signal.SIG_IGN:
        return (signal.SIGINT, signal.SIGTERM)
    return (signal.SIGINT, signal.SIGTERM, hangup)


async def serve(config: ServerConfig, say_settings: bool = True) -> None:
    """Run the server until a signal or the console stops it; ``say_settings``: log which
    settings file applied once it listens (not before: a server that cannot start says
    why in one line; a worker of --workers N does not, the command that started it does)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    server = ChatServer(config)
    await server.start()
    if say_settings:
        log_settings()
        host, port = server.address
        if listens_everywhere(config.host):  # ("": 0.0.0.0 and ::, a socket each; the first is but one)
            host = config.host
        web_port = server.web_address[1] if config.web_port is not None else None
        for line in lan_lines(host, port, web_port, None if config.tls_cert is None else str(config.tls_cert),
                              local_addresses(host) if listens_everywhere(host) else []):
            log.info("%s", line)
        hint = console_hint()
        if hint is not None:
            log.info("%s", hint)

    def on_signal(signum: int, frame: object) -> None:
        if not loop.is_closed():  # (a second Ctrl-C once the server has stopped: nothing to do)
            loop.call_soon_threadsafe(stop.set)

    handled: list[signal.Signals] = []  # the stop signals this server took
    for sig in _stop_signals():
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except NotImplementedError:
            # Windows' loop takes no handler: Ctrl-C would reach asyncio.run's, which
            # cancels this task (the clients would lose their connection, not be told).
            # Python's own handler runs between two bytecodes of this thread, and the
            # loop's wakeup descriptor makes it look. (Windows' SIGTERM ends the process
            # without running any handler.)
            signal.signal(sig, on_signal)
            handled.append(sig)
        except RuntimeError:  # not the main thread: the signals are someone else's
            pass
    _tell_parent_listening()  # (once a stop signal stops it gracefully: --workers passes them on)

    def who(say) -> None:
        say("\n".join(registry_lines(server.relay.registry.online())))

    def knowing(name: str, then, say) -> None:
        """``then()`` once this node knows whether ``name`` has an account: in a cluster its
        cache of accounts follows the events stream, so one registered on another node a
        moment ago is read from Redis first (LoginDesk.account_now). At once for a name no
        account can have (``then`` says why). If Redis does not answer, the cache has no
        account of that name, and saying so would be taking it for the truth: the operator
        is told it is not known (``say``), and ``then`` is not called."""
        try:
            validate_name(name)
        except InvalidName:
            return then()

        def unknown(_failure: StoreUnavailable) -> None:
            say(_("whether {name} has an account is not known: Redis did not answer; try again "
                  "shortly").format(name=name))

        server.relay.logins.account_now(canonical(name), lambda _account: then(), unknown)

    def admin(name: str, say) -> None:
        if name:
            knowing(name, lambda: admin_now(name, say), say)
        else:
            admin_now(name, say)

    def admin_now(name: str, say) -> None:
        try:
            admins = ", ".join(server.relay.room_desk.add_admin(name)) or _("none")
        except InvalidName as exc:
            say(not_a_name(name[:40], exc, _))
            return
        except NoAccount:
            say(_("{name} has no account: a server administrator must be a registered account. Let "
                  "them register the name first (/register in the client), then type /admin {name} "
                  "again").format(name=name))
            return
        say(_("server administrators: {names}").format(names=admins))

    def password(name: str, say) -> None:
        if not name:
            say(_("type /password NAME: the account NAME gets a new password"))
            return
        knowing(name, lambda: password_now(name, say), say)

    def password_now(name: str, say) -> None:
        # Every answer of /password where its new password goes (say: say_to_operator, in the
        # commands' order): on the console, not in the log, so that the operator sees the command's
        # outcome there.
        def done(new: str | None, failure: StoreUnavailable | None) -> None:
            if new is not None:  # shown here once, never logged: the operator passes it on
                say(_("new password of {name}: {password}  (shown only now; their sessions were "
                      "ended)").format(name=name, password=new))
            elif failure is not None and failure.maybe_done:
                say(_("the password of {name} may or may not have been changed (the storage did not "
                      "answer in time): type /password {name} again").format(name=name))
            else:
                say(_("the password of {name} was not changed: the server cannot save anything right "
                      "now; try again shortly").format(name=name))

        try:
            name = server.relay.account_desk.account_name(name)  # as registered, not as typed: done says it
            server.relay.account_desk.reset_password(name, done)
        except InvalidName as exc:
            say(not_a_name(name[:40], exc, _))
        except NoAccount:
            say(_("{name} has no account: there is no password to reset").format(name=name))

    def unregister(name: str, say) -> None:
        if not name:
            say(_("type /unregister NAME: the account NAME is deleted"))
            return
        knowing(name, lambda: unregister_now(name, say), say)

    def unregister_now(name: str, say) -> None:
        def done(failure: StoreUnavailable | None) -> None:
            if failure is None:
                say(_("the account {name} was deleted; its sessions were ended").format(name=name))
            elif failure.maybe_done:
                say(_("the account {name} may or may not have been deleted (the storage did not "
                      "answer in time): type /unregister {name} again").format(name=name))
            else:
                say(_("the account {name} was not deleted: the server cannot save anything right "
                      "now; try again shortly").format(name=name))

        try:
            name = server.relay.account_desk.account_name(name)  # as registered, not as typed: the answers say it
            if not deleting.confirmed(server.relay.account_desk.account_key(name), time.monotonic()):
                say(unregister_question(name))  # asked the first time: no slip deletes anyone
                return
            server.relay.account_desk.unregister(name, done)
        except InvalidName as exc:
            say(not_a_name(name[:40], exc, _))
        except NoAccount:
            say(_("{name} has no account: there is nothing to delete").format(name=name))

    deleting = Confirmation()

    backing_up = []  # the folder of the backup being made, if one is (one at a time)

    def back_up(folder_given: str, say) -> None:
        if config.database is None:
            say(_("nothing to back up: this server keeps nothing on disk (--memory, or --cluster: back "
                  "Redis up instead)"))
            return
        if backing_up:
            say(_("a backup into {folder} is being made: wait for its line").format(
                folder=backing_up[0]))
            return
        folder = (backup.resolved(Path(folder_given)) if folder_given
                  else backup.default_folder(config.data_dir))
        backing_up.append(folder)
        say(_("backing up the database into {folder}…").format(folder=folder))

        def made(line: str) -> None:
            backing_up.clear()
            say(line)

        def work() -> None:
            line = ""
            try:
                line = backup_line(config.database, folder)[1]
            finally:  # whatever happened: else every later /backup is told to wait, until a restart
                try:
                    loop.call_soon_threadsafe(made, line)
                except RuntimeError:  # the server stopped meanwhile: say it here
                    say(line)

        # A thread of its own: the copy takes seconds for a large database, and SQLite
        # copies it without the GIL (server/backup.py); the loop only prints the result.
        threading.Thread(target=work, name="chat-backup", daemon=True).start()

    watch_console(loop, stop.set, who, admin, password, back_up, unregister)
    await stop.wait()
    log.info("shutting down")
    await server.stop()
    _ignore_stop_signals(loop, handled)


def _ignore_stop_signals(loop: asyncio.AbstractEventLoop, handled: list[signal.Signals]) -> None:
    """The server stopped: a stop signal has nothing left to do, and ``handled`` are
    ignored from now on rather than left to the loop's handlers. asyncio.run closes the
    loop's wake-up pipe before it puts the default actions back: a SIGTERM in between was
    "Exception ignored when trying to write to the signal wakeup fd", then killed the
    process. More than one comes: a terminal's Ctrl-C reaches --workers N's supervisor and
    its workers, and the supervisor passes it on."""
    block = getattr(signal, "pthread_sigmask", None)  # (not on Windows)
    if block is not None and handled:  # held while the handlers are swapped: none meets a default action
        block(signal.SIG_BLOCK, handled)
    for sig in handled:
        try:
            loop.remove_signal_handler(sig)
        except NotImplementedError:  # (Windows' loop: it was Python's own handler, replaced here)
            pass
        signal.signal(sig, signal.SIG_IGN)
    if block is not None and handled:
        block(signal.SIG_UNBLOCK, handled)  # one held meanwhile is dropped: it is ignored


# A worker of ``--workers N`` gets the write end of a pipe in this variable, and writes a
# byte to it once it listens: a worker that ends before it has could not start (Redis not
# reached, a TLS file, a port...), and every worker would fail the same way.
LISTENING_FD = "CHAT_WORKER_LISTENING_FD"


def _tell_parent_listening() -> None:
    descriptor = os.environ.pop(LISTENING_FD, None)
    if descriptor is not None:
        try:
            os.write(int(descriptor), b"1")
            os.close(int(descriptor))
        except (OSError, ValueError):  # not ours to worry about: the parent sees it ended
            pass


def hold_free_port(host: str) -> "tuple[int, list[socket.socket]]":
    """A port free on every address ``host`` listens on, for the workers of ``--workers N``,
    and sockets bound to it there (SO_REUSEPORT, not listening) that hold it until they
    listen: closed at once, it was free for anyone meanwhile (another program's outgoing
    connection could take it: the workers failed "address in use"), and one chosen on
    IPv4 alone could be taken on IPv6 (listener.bind_sockets tries again then). A socket
    that does not listen is given no connections: the workers' get them all."""
    sockets = bind_sockets(host, 0, reuse_port=True)
    return sockets[0].getsockname()[1], sockets


# A worker that dies abnormally (a signal, a non-zero status) after it listened, while
# the workers are not being stopped, is started again, at most this many times per
# worker within RESTART_WINDOW seconds, so that one that keeps dying is given up on
# instead of being started in a loop. One that ends before it listens is never started
# again (see run_workers).
RESTARTS_PER_WINDOW = 3
RESTART_WINDOW = 60.0


def _exit_words(code: int) -> str:
    """A child's return code as the log says it: its status, or the signal that ended it."""
    if code < 0:
        try:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


class Waker:
    """What wakes the workers' supervisor when a child ends (SIGCHLD) or a stop is asked
    (SIGINT, SIGTERM, /quit): a byte down a pipe; and whether a stop was asked. Not a
    ``threading.Event``: a signal handler runs in the main thread between any two bytecodes,
    also inside another handler, and a SIGCHLD handler that ran inside another's
    ``Event.set()`` waited for the lock that ``set()`` held, for ever (the two workers ending
    together after ``/quit``: the command hung over them three times in 149 tries; under a
    burst of SIGCHLD, or of SIGTERM, the handlers nested until a RecursionError)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self.stopping = False  # a stop was asked: no restarts from then on
        self._stops = itertools.count()  # (next() is one step no handler runs inside: the first is told once)
        self._waking = False  # a wake() is writing: one that runs inside it (a handler) has nothing to add

    def stop(self) -> bool:
        """A stop is asked: wakes the supervisor; True for the first ask only, from
        whichever thread or handler, so that it is passed on to the workers once."""
        first = next(self._stops) == 0
        self.stopping = True
        self.wake()
        return first

    def wake(self) -> None:
        """Safe in a signal handler: it takes no lock (a full pipe has a wake-up waiting),
        and a handler run inside its write (PEP 475 runs handlers as a system call returns)
        writes nothing: the outer write wakes the supervisor, which looks at everything once
        the handlers have returned. Else a tight burst of signals nested one frame deeper per
        signal, until a RecursionError ended the supervisor (seen on a loaded machine)."""
        if self._waking or self._write < 0:  # (-1: closed; the handlers outlive the supervisor)
            return
        self._waking = True
        try:
            os.write(self._write, b"\0")
        except BlockingIOError:
            pass
        finally:
            self._waking = False

    def wait(self, timeout: float) -> None:
        """Until woken since the last wait, or ``timeout`` seconds."""
        select.select([self._read], [], [], timeout)
        try:
            while os.read(self._read, 4096):
                pass
        except BlockingIOError:  # drained
            pass

    def close(self) -> None:
        write, self._write = self._write, -1  # first: a handler running now writes nothing
        os.close(write)
        os.close(self._read)


def run_workers(argv: list[str], args: argparse.Namespace) -> int:
    """``--workers N``: start N node processes sharing the chat and web ports, pass SIGINT
    and SIGTERM on (by PID), and supervise them until all have ended. Port 0 is chosen
    here, once, for all.

    The first worker is started alone, and the others once it listens: a start-up failure
    every worker would meet (Redis not reached, a bad TLS file, a port in use) is then
    said once, by that worker, and ends the command at once with its status. A worker
    that ends before it listens is never started again; when it is one of the first N,
    the others are stopped too.

    A worker's death is noticed when it happens (SIGCHLD), whichever worker it is, and
    logged once with its status or signal; one that died abnormally after it listened,
    while nobody asked them to stop, is started again (RESTARTS_PER_WINDOW). Returns 0
    if every worker ended cleanly, else the worst status seen (128 + N for signal N)."""
    held: "list[socket.socket]" = []  # the ports chosen here (port 0), until the first worker listens on them
    port = args.port
    if not port:
        port, sockets = hold_free_port(args.host)
        held.extend(sockets)
    web = []
    if args.web_port != 0:
        web_port = args.web_port
        if not web_port:
            web_port, sockets = hold_free_port(args.host)
            held.extend(sockets)
        web = ["--web-port", str(web_port)]
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--workers", "1", "--reuse-port",
               "--port", str(port), *web]
    children: list[subprocess.Popen] = []  # one slot per worker, its current process
    pipes: list[int] = []  # per slot: the read end of its current process's LISTENING_FD
    woken = Waker()  # a child ended (SIGCHLD), or a stop was asked (SIGINT, SIGTERM, /quit)

    def start() -> tuple[subprocess.Popen, int]:
        listening, told = os.pipe()
        try:
            # The workers' standard input is nothing: /quit typed here stops them all (below).
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, pass_fds=(told,),
                                     env=dict(os.environ, **{LISTENING_FD: str(told)}))
        except BaseException:
            os.close(listening)
            raise
        finally:
            os.close(told)  # the worker's alone now: the pipe ends when the worker does
        return child, listening

    def listened(listening: int) -> bool:
        """Whether the worker of this pipe said it listens; waits until it says so or ends."""
        try:
            return os.read(listening, 1) == b"1"
        finally:
            os.close(listening)

    def forward(signum: int, frame: object) -> None:
        if woken.stopping:  # (passed on already, with no call: a burst of them cannot nest deep)
            return
        if not woken.stop():  # (passed on already: a worker takes one, and ignores any once it stopped)
            return
        for child in list(children):
            if child.returncode is None:
                child.send_signal(signum)

    for sig in _stop_signals():
        signal.signal(sig, forward)
    signal.signal(signal.SIGCHLD, lambda signum, frame: woken.wake())

    def over() -> None:
        """Every worker ended: a stop signal has nothing left to do, and is ignored rather
        than met by Python's finalization, which puts the default action back (a SIGTERM
        then killed the command that had just ended cleanly)."""
        for sig in _stop_signals():
            signal.signal(sig, signal.SIG_IGN)
        woken.close()

    def status(code: int) -> int:
        return code if code > 0 else 128 - code

    def not_started(failed: "subprocess.Popen | None") -> int:
        """A worker ended before it listened (``failed``), or a stop was asked meanwhile:
        stop the others, and return the status to exit with."""
        if failed is not None and not woken.stopping:
            log.error("worker pid %d %s before it listened: the %s not started (each would fail the same way)",
                      failed.pid, _exit_words(failed.wait()), counted(args.workers, "worker{s} {is|are}"))
        for child in children:
            if child.poll() is None:
                child.terminate()
        codes = [child.wait() for child in children]
        worst = max(status(code) if code else 0 for code in codes)
        over()
        return worst or (1 if failed is not None else 0)

    for count in (1, args.workers - 1):  # the first alone, then the others together
        started = [start() for _ in range(count)]
        children.extend(child for child, _ in started)
        pipes.extend(-1 for _ in started)  # each is read here: it listens, or it is over
        failed = None
        for child, listening in started:
            if failed is None and not woken.stopping:
                if not listened(listening):
                    failed = child
            else:
                os.close(listening)
        for sock in held:  # a worker holds the ports now (or none will)
            sock.close()
        if failed is not None or woken.stopping:
            return not_started(failed)
    restarts: list[list[float]] = [[] for _ in children]  # per slot: when it was started again
    log.info("%s on %s%s: %s", counted(args.workers, "worker{s}"), endpoint(args.host, port),
             f" (web {web[1]})" if web else "", ", ".join(f"pid {child.pid}" for child in children))
    log_settings()  # once, for all the workers (each is started with --reuse-port: they do not)

    def console() -> None:
        """/quit; any other command went unanswered (/who, /password typed in vain): each
        worker is a process of its own, with no console, so say where they can be typed."""
        try:
            for line in console_lines(sys.stdin):
                command = line.strip().lower()
                if command in QUIT_COMMANDS:
                    forward(signal.SIGTERM, None)
                    return
                if command:
                    say_to_operator(_("with --workers only /quit is read here, not {command!r}: type the other "
                                      "commands at the terminal of one more node of the cluster, started without "
                                      "--workers (--cluster URL --port OTHER)").format(command=line.strip()))
        except (OSError, ValueError):
            return  # no console

    background_reads_not_stopping()  # (the main thread's to set)
    threading.Thread(target=console, name="workers-console", daemon=True).start()
    worst = 0
    ended: set[int] = set()  # slots given up on (or stopped)
    while len(ended) < len(children):
        woken.wait(1.0)  # the timeout: a poll() that found another thread reaping the child
        for slot, child in enumerate(children):
            if slot in ended or child.poll() is None:
                continue
            code = child.returncode
            if code:
                worst = max(worst, status(code))
            started_up = pipes[slot] < 0 or listened(pipes[slot])  # it ended: this does not wait
            pipes[slot] = -1
            if woken.stopping or not code:
                if code:
                    log.warning("worker pid %d %s while stopping", child.pid, _exit_words(code))
                elif not woken.stopping:
                    log.warning("worker pid %d %s; not restarted (it stopped by itself)", child.pid,
                                _exit_words(code))
                ended.add(slot)
                continue
            if not started_up:
                log.error("worker pid %d %s before it listened; not started again: it would fail the same way",
                          child.pid, _exit_words(code))
                ended.add(slot)
                continue
            now = time.monotonic()
            recent = restarts[slot] = [t for t in restarts[slot] if now - t < RESTART_WINDOW]
            if len(recent) >= RESTARTS_PER_WINDOW:
                log.error("worker pid %d %s; not restarted: started again %s in the last %.0f s",
                          child.pid, _exit_words(code), counted(len(recent), "time{s}"), RESTART_WINDOW)
                ended.add(slot)
                continue
            recent.append(now)
            children[slot], pipes[slot] = start()
            log.warning("worker pid %d %s; started again as pid %d", child.pid, _exit_words(code),
                        children[slot].pid)
            if woken.stopping:  # asked to stop while it was being started
                children[slot].send_signal(signal.SIGTERM)
    for listening in pipes:
        if listening >= 0:
            os.close(listening)
    over()
    return worst


def log_settings() -> None:
    """Say which settings file of the operator's const.py applied (overrides.py), and the
    names it set: not their values, as CLUSTER_URL may hold a password. None: say so, as
    after unpacking a new version without copying the file over, guests are let in again."""
    log.info("%s", settings_line(const.LOCAL_SETTINGS))


def settings_line(applied: overrides.Applied) -> str:
    """The start-up line of log_settings: the file applied and the names it set, or, with
    none, where the operator's own settings would go (a newcomer does not know the file)."""
    if applied.path is None:
        return ("settings: const.py's defaults; to change some, write them in {file} beside const.py "
                "(or in the file that the environment variable {variable} names)").format(
                    file=overrides.FILE_NAME, variable=overrides.ENVIRONMENT_VARIABLE)
    return "settings of {path} applied: {names}".format(path=applied.path, names=", ".join(applied.names) or "none set")


# What each TLS file must hold, as PEM: the line it has (a key's is "-----BEGIN PRIVATE KEY-----",
# "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN ENCRYPTED PRIVATE KEY-----"...).
_PEM_MARKS = {"--tls-cert": ("-----BEGIN CERTIFICATE-----", "certificate"),
              "--tls-key": ("PRIVATE KEY-----", "private key")}
# Bytes of a TLS file looked at: a certificate chain is a few KB.
_PEM_READ = 1 << 20


def tls_files_problem(cert: str, key: str) -> str | None:
    """What is wrong with the TLS files, in words, or None. OpenSSL says "[SSL] PEM lib
    (_ssl.c:3905)" for the README's likeliest slip, the two files given the other way round
    (or one of them twice), and a folder was "not found"."""
    for flag, path in (("--tls-cert", cert), ("--tls-key", key)):
        place = Path(path)
        if not place.exists():
            return f"TLS file not found: {path}"
        if not place.is_file():
            return f"{flag} {path} is not a file"
        try:
            with place.open("rb") as file:
                text = file.read(_PEM_READ).decode("ascii", errors="replace")
        except OSError as exc:
            return f"cannot read the TLS file {path} ({exc.strerror or exc})"
        mark, what = _PEM_MARKS[flag]
        if mark not in text:
            return (f"{flag} {path} holds no {what} (no {mark.strip('-')} in it): --tls-cert takes the "
                    f"certificate (openssl's -out, cert.pem), --tls-key its private key (-keyout, key.pem)")
    return None


def warn_of_a_password_in_argv(argv: list[str], cluster_url: str | None) -> None:
    """A Redis password typed in ``--cluster``: every user of the machine reads a process's
    command line (``ps``), so say where it belongs instead (docs/privacy.md). Never the
    password itself."""
    typed = any(word == "--cluster" or word.startswith("--cluster=") for word in argv)
    if typed and cluster_url and parse_url(cluster_url).password:
        log.warning("the Redis password is on the command line, where every user of this machine can read it "
                    "(ps): put the URL in CLUSTER_URL in %s instead", overrides.FILE_NAME)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    i18n.use(args.lang)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logformat.configure(level)
    if not args.reuse_port:  # (a worker of --workers N has its command's argv: said once, by that)
        warn_of_a_password_in_argv(sys.argv[1:] if argv is None else argv, args.cluster)
    if args.workers > 1:
        return run_workers(list(sys.argv[1:] if argv is None else argv), args)
    # The format shows none of these, and each log line paid to find them (the caller's
    # frame walk most): the logging HOWTO's "Optimization" switches. A login storm logs a
    # line per login.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    # (No ":=" in this file: an old Python must parse it to say which version it needs.)
    problem = tls_files_problem(args.tls_cert, args.tls_key) if args.tls_cert and args.tls_key else None
    if problem:
        log.error("cannot start: %s", problem)
        return 1
    raise_file_limit()
    try:
        config = config_from(args)
    except ValueError as exc:  # a setting no server can run with (ServerConfig says which)
        log.error("cannot start: %s", exc)
        return 2
    if args.backup is not None:  # the server of --data may be running: nothing here takes its lock
        made, line = backup_line(config.database, backup.resolved(Path(args.backup)))
        print(line, file=sys.stderr, flush=True)
        return 0 if made else 1
    try:
        asyncio.run(serve(config, say_settings=not args.reuse_port))
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            log.error("cannot start: the TLS key %s is not the key of the certificate %s: give the key made with "
                      "it (the -keyout of the same openssl command)", args.tls_key, args.tls_cert)
        else:
            log.error("cannot use the TLS certificate %s or key %s: %s", args.tls_cert, args.tls_key,
                      exc.reason or exc)
        return 1
    except KeyUnderPassphrase:
        log.error("cannot use the TLS key %s: it is under a passphrase, which the server does not ask for: "
                  "give it without one (openssl pkey -in %s -out PLAIN-KEY)", args.tls_key, args.tls_key)
        return 1
    except DataDirInUse as exc:
        log.error("cannot start: %s", exc)
        return 1
    except backup.UnfinishedBackup as exc:
        log.error("cannot start: %s", exc)
        return 1
    except DataDirUnusable as exc:
        log.error("%s", data_dir_failed(config.data_dir, exc))
        return 1
    except sqlite3.Error as exc:
        log.error("%s", database_failed(config.database, exc))
        return 1
    except StoreUnavailable as exc:  # only Redis is checked at start: --cluster
        log.error("cannot start: %s", exc)
        return 1
    except ListenFailed as exc:
        log.error("%s", listen_failed(exc))
        return 1
    except MemoryError:  # in the loop itself (its select); a callback's is the loop's exception handler's
        give_up("in the event loop")
    except OSError as exc:
        log.error("cannot start on %s: %s", endpoint(args.host, args.port), exc.strerror or exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
