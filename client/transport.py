"""Opening the connection to the server: TCP, optionally TLS, with errors in words.

Plain functions the client library calls for every (re)connection, and the asyncio client
for its TLS handshake's errors; they raise (or make) the client's own exceptions, whose
messages are shown to users as they are.
"""

from __future__ import annotations

import socket
import ssl
from contextlib import suppress

from .errors import CertificateError, LoginInterrupted, ServerUnreachable


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A client context that verifies the chain and the host name (TLS 1.2 or later),
    trusting ``cafile`` if given, else the system's store. Raises CertificateError if
    the CA file cannot be used."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError(f"cannot verify the server's certificate: cannot use the CA file "
                               f"{cafile!r}: {getattr(exc, 'strerror', None) or exc}") from None


def open_socket(host: str, port: int, timeout: float, context: ssl.SSLContext | None) -> socket.socket:
    """Connect to ``host:port`` (with TLS when ``context`` is given), within ``timeout``.

    Raises :class:`ServerUnreachable` saying what went wrong in words,
    :class:`CertificateError` (a kind of ServerUnreachable) for a certificate that
    cannot be verified, or :class:`LoginInterrupted` (another kind) when the connection
    was reset on the way, which a new attempt may not meet.
    """
    where = f"{host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.gaierror as exc:
        raise ServerUnreachable(f"cannot find the server host {host!r}: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise ServerUnreachable(f"no answer from {where} within {timeout:g} s "
                                "(wrong address, or a firewall?)") from exc
    except ConnectionRefusedError as exc:
        raise ServerUnreachable(f"connection to {where} refused: is the chat server running?") from exc
    except (ConnectionResetError, ConnectionAbortedError) as exc:  # something answered, then cut
        raise LoginInterrupted(f"cannot connect to {where}: {exc.strerror or exc}") from exc
    except OSError as exc:
        raise ServerUnreachable(f"cannot connect to {where}: {exc.strerror or exc}") from exc
    # Chat frames are small and latency matters more than packet count.
    with suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if context is None:
        return sock
    try:
        # The handshake runs here, bounded by the socket's timeout.
        return context.wrap_socket(sock, server_hostname=host)
    except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
        sock.close()
        raise tls_failure(exc, where, timeout) from None


def tls_failure(exc: OSError, where: str, timeout: float) -> ServerUnreachable:
    """The client's error, in words, for ``exc`` raised by the TLS handshake with ``where``
    (within ``timeout`` s): :class:`CertificateError` for a certificate that cannot be
    verified, :class:`LoginInterrupted` for a connection reset on the way (a new attempt
    may not meet it), else :class:`ServerUnreachable`. The threaded client's handshake
    (:func:`open_socket`) and the asyncio client's (client/aio.py) both say it so."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        detail = exc.verify_message or exc.reason or str(exc)
        return CertificateError(f"cannot verify the server's certificate: {detail}")
    if isinstance(exc, ssl.SSLError):
        return ServerUnreachable(f"the TLS handshake with {where} failed: {exc.reason or exc} "
                                 "(is it a TLS server?)")
    if isinstance(exc, TimeoutError):
        return ServerUnreachable(f"no TLS handshake from {where} within {timeout:g} s (is it a TLS server?)")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError)):
        return LoginInterrupted(f"the connection to {where} failed during the TLS handshake: "
                                f"{exc.strerror or exc}")
    return ServerUnreachable(f"the connection to {where} failed during the TLS handshake: "
                             f"{exc.strerror or exc or type(exc).__name__}")
