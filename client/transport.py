"""Opening the connection to the server: TCP, optionally TLS, with errors in words.

Plain functions the client library calls for every (re)connection, and the asyncio client
for its TLS handshake's errors; they raise (or make) the client's own exceptions, whose
messages are shown to users as they are.
"""

from __future__ import annotations

import socket
import ssl
from contextlib import suppress
from typing import NamedTuple

from i18n import _

from .errors import CertificateError, LoginInterrupted, ServerUnreachable
from .servers import format_address
from .tlsbio import MemoryTLS


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A client context that verifies the chain and the host name (TLS 1.2 or later),
    trusting ``cafile`` if given, else the system's store. Raises CertificateError if
    the CA file cannot be used."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(_("cannot verify the server's certificate: cannot use the CA file {file}: {why}").format(
            file=repr(cafile), why=getattr(exc, "strerror", None) or exc)) from None


# A server's "listen on every address" names no machine to connect to: "" (the
# coursework's const.py idiom, which getaddrinfo cannot resolve), "0.0.0.0" (which Windows
# refuses to connect to) or "::". A client given one (SERVER_HOST in const_local.py, shared
# by the server and the clients) connects to this machine, where that server is: for "::",
# ::1 and then 127.0.0.1, as a server on "::" takes both but one on 0.0.0.0 only the second.
_EVERY_ADDRESS = {"": ("127.0.0.1",), "0.0.0.0": ("127.0.0.1",), "::": ("::1", "127.0.0.1")}


def connect_hosts(host: str) -> "tuple[str, ...]":
    """The hosts a client tries, in turn, for ``host``: this machine's loopback addresses for a
    listen-on-every-address one (:data:`_EVERY_ADDRESS`), else ``host`` itself."""
    return _EVERY_ADDRESS.get(host.strip(), (host,))


def connect_host(host: str) -> str:
    """The host a client connects to first for ``host`` (:func:`connect_hosts`)."""
    return connect_hosts(host)[0]


def reached_host(host: str, sock: socket.socket) -> str:
    """The host ``sock``, opened by :func:`open_socket` for ``host``, reached: ``host`` itself,
    or for a listen-on-every-address one the loopback address that answered (for the user's
    "connected to", and for the TLS host name)."""
    if len(connect_hosts(host)) > 1:
        with suppress(OSError):
            return sock.getpeername()[0]
    return connect_host(host)


class Link(NamedTuple):
    """An open connection: its plain socket, and its TLS in memory (client/tlsbio.py), or
    None over plain TCP. :meth:`sendall` and :meth:`recv` are for one thread (the login);
    after it the client's writer and receiver use ``sock`` and ``tls`` as MemoryTLS says."""

    sock: socket.socket
    tls: MemoryTLS | None = None

    def sendall(self, data: bytes) -> None:
        if self.tls is None:
            self.sock.sendall(data)
        else:
            self.tls.sendall(self.sock, data)

    def recv(self, size: int) -> bytes:
        """Bytes read (plaintext over TLS), ``b""`` at the end of the stream."""
        return self.sock.recv(size) if self.tls is None else self.tls.recv(self.sock, size)

    def close(self) -> None:
        self.sock.close()


def open_socket(host: str, port: int, timeout: float) -> socket.socket:
    """Connect to ``host:port`` over TCP within ``timeout``; the socket has that timeout.

    Raises :class:`ServerUnreachable` saying what went wrong in words, or
    :class:`LoginInterrupted` (a kind of ServerUnreachable) when the connection was reset
    on the way, which a new attempt may not meet.
    """
    *first, last = connect_hosts(host)
    failed: list[ServerUnreachable] = []
    for tried in first:  # (this machine's other loopback address follows)
        try:
            return _open_one(tried, port, timeout)
        except ServerUnreachable as exc:
            failed.append(exc)
    try:
        return _open_one(last, port, timeout)
    except ServerUnreachable as exc:
        if not failed:
            raise
        raise _all_failed([*first, last], port, [*failed, exc]) from exc


def _all_failed(hosts: list[str], port: int, errors: list[ServerUnreachable]) -> ServerUnreachable:
    """The error, of the last one's class, for ``errors``, one for each of ``hosts`` tried in
    turn: every one refused (nothing listens: the common case) in one sentence, else each
    one's words."""
    if all(isinstance(error.__cause__, ConnectionRefusedError) for error in errors):
        return ServerUnreachable(_("connection to {first} and to {second} refused: is the chat server running?").format(
            first=", ".join(format_address(host, port) for host in hosts[:-1]), second=format_address(hosts[-1], port)))
    return type(errors[-1])("; ".join(str(error) for error in errors))


def _open_one(host: str, port: int, timeout: float) -> socket.socket:
    """:func:`open_socket` for one host, an address or a name."""
    where = format_address(host, port)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ServerUnreachable(_("cannot find the server host {host}: {why}").format(
            host=repr(host), why=exc.strerror or exc)) from exc
    except TimeoutError as exc:
        raise ServerUnreachable(_("no answer from {where} within {seconds} s (wrong address, or a firewall?)").format(
            where=where, seconds=f"{timeout:g}")) from exc
    except ConnectionRefusedError as exc:
        raise ServerUnreachable(_("connection to {where} refused: is the chat server running?").format(
            where=where)) from exc
    except (ConnectionResetError, ConnectionAbortedError) as exc:  # something answered, then cut
        raise LoginInterrupted(_("cannot connect to {where}: {why}").format(where=where, why=exc.strerror or exc)) \
            from exc
    except OSError as exc:
        raise ServerUnreachable(_("cannot connect to {where}: {why}").format(where=where, why=exc.strerror or exc)) \
            from exc
    # Chat frames are small and latency matters more than packet count.
    with suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def start_tls(sock: socket.socket, context: ssl.SSLContext, host: str, port: int, timeout: float) -> MemoryTLS:
    """The TLS handshake with ``host:port`` over ``sock`` (from :func:`open_socket`), within
    ``timeout`` s, the certificate and host name checked by ``context``: the connection's TLS,
    in memory (client/tlsbio.py says why not an SSLSocket). ``host`` is the one ``sock``
    reached (:func:`reached_host`: for "::", 127.0.0.1 when ::1 refused), the name the
    certificate must match. Raises :func:`tls_failure`'s error, having closed ``sock``."""
    tls = MemoryTLS(context, host)
    try:
        tls.handshake(sock, timeout)
    except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
        sock.close()
        raise tls_failure(exc, format_address(host, port), timeout) from None
    return tls


def tls_failure(exc: OSError, where: str, timeout: float) -> ServerUnreachable:
    """The client's error, in words, for ``exc`` raised by the TLS handshake with ``where``
    (within ``timeout`` s): :class:`CertificateError` for a certificate that cannot be
    verified, :class:`LoginInterrupted` for a connection reset on the way (a new attempt
    may not meet it), else :class:`ServerUnreachable`. The threaded client's handshake
    (:func:`start_tls`) and the asyncio client's (client/aio.py) both say it so."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return CertificateError(_("cannot verify the server's certificate: {why}").format(why=detail))
    if isinstance(exc, ssl.SSLError):
        return ServerUnreachable(_("the TLS handshake with {where} failed: {why} (is it a TLS server?)").format(
            where=where, why=exc.reason or exc))
    if isinstance(exc, TimeoutError):
        return ServerUnreachable(_("no TLS handshake from {where} within {seconds} s (is it a TLS server?)").format(
            where=where, seconds=f"{timeout:g}"))
    failed = _("the connection to {where} failed during the TLS handshake: {why}")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError)):
        return LoginInterrupted(failed.format(where=where, why=exc.strerror or exc))
    return ServerUnreachable(failed.format(where=where, why=exc.strerror or exc or type(exc).__name__))


def login_failure(exc: OSError, where: str, timeout: float) -> ServerUnreachable:
    """The client's error, in words, for ``exc`` raised while logging in to ``where`` (the
    answer awaited ``timeout`` s): :class:`LoginInterrupted` for a connection reset on the way
    (a new attempt may not meet it), else :class:`ServerUnreachable`. The threaded client
    (client/library.py) and the asyncio client (client/aio.py) both say it so."""
    if isinstance(exc, TimeoutError):
        return ServerUnreachable(_("{where} did not answer the login within {seconds} s").format(
            where=where, seconds=f"{timeout:g}"))
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return LoginInterrupted(_("the connection to {where} was cut during the login: {why}").format(
            where=where, why=exc.strerror or exc))
    return ServerUnreachable(_("the connection to {where} failed during the login: {why}").format(
        where=where, why=exc.strerror or exc))
