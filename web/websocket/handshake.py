"""RFC 6455 section 4.2: validate an upgrade request, build the 101 response.

``accept_handshake(request, allowed_origins=..., subprotocols=...)`` returns
the response bytes or raises ``HandshakeError``, whose ``to_response()``
renders the refusal. No extensions are negotiated (Sec-WebSocket-Extensions
is ignored), which is what lets the frame layer reject every RSV bit.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Collection, Sequence
from urllib.parse import urlsplit

from web.http import HttpError, Request, render_response

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HandshakeError(HttpError):
    """The upgrade must be refused with ``status``/``reason`` and ``headers``.

    400 malformed upgrade request, 403 Origin not allowed, 405 not GET,
    426 unsupported Sec-WebSocket-Version (with ``Sec-WebSocket-Version: 13``,
    ``Upgrade: websocket`` and ``Connection: Upgrade``).
    ``to_response()`` (from ``HttpError``) renders a plain-text refusal that
    closes the connection.
    """


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID))."""
    digest = hashlib.sha1((key + WEBSOCKET_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def select_subprotocol(request: Request, supported: Sequence[str]) -> str | None:
    """First subprotocol the client offered that the server supports, else None.

    The client's order is its preference, so it wins; names compare exactly
    (subprotocol names are case-sensitive tokens).
    """
    offered = [token.strip() for token in (request.header("sec-websocket-protocol") or "").split(",")]
    for name in offered:
        if name and name in supported:
            return name
    return None


def normalise_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialized http(s) origin, or None if malformed (what an
    allowed origin must be, ``chatserver.py --web-origin``)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def _same_origin(origin: str, host: str | None) -> bool:
    """True if ``origin`` names the host:port the request was sent to.

    The Host header lacks a scheme; without a port it means the default port
    of whichever scheme the client used, so the origin must then use its own
    scheme's default port.
    """
    parsed = normalise_origin(origin)
    if parsed is None or not host:
        return False
    try:
        target = urlsplit("//" + host)
        host_port = target.port
    except ValueError:
        return False
    if not target.hostname or target.hostname.lower() != parsed[1]:
        return False
    scheme, _, port = parsed
    return port == (host_port if host_port is not None else _DEFAULT_PORTS[scheme])


def _origin_allowed(request: Request, allowed_origins: str | Collection[str] | None, same_origin_too: bool) -> bool:
    origin = request.header("origin")
    if origin is None:
        # Browsers always send Origin on WebSocket requests; its absence means
        # a non-browser client, which could forge any Origin anyway.
        return True
    if allowed_origins == "*":
        return True
    if (allowed_origins is None or same_origin_too) and _same_origin(origin, request.host):
        return True
    if allowed_origins is None:
        return False
    parsed = normalise_origin(origin)
    return parsed is not None and parsed in {normalise_origin(o) for o in allowed_origins}


def accept_handshake(
    request: Request,
    *,
    allowed_origins: str | Collection[str] | None = None,
    same_origin_too: bool = False,
    subprotocols: Sequence[str] = (),
    now: float | None = None,
) -> bytes:
    """Validate a WebSocket upgrade request and return the 101 response bytes.

    ``allowed_origins``: None = same origin only (Origin host:port equals the
    Host header), a collection of origins such as {"https://chat.example"},
    or "*" for any. ``same_origin_too``: a collection allows the same origin
    as well (else only those it holds). A request without Origin is always
    allowed (see ``_origin_allowed``). ``subprotocols``: the server's supported list; the
    chosen one (``select_subprotocol``) is echoed. ``now`` (seconds since the
    epoch) dates the response (``render_response``). Raises ``HandshakeError``.
    """
    if isinstance(allowed_origins, str) and allowed_origins != "*":
        # A bare string is a Collection[str] of characters: almost surely a bug.
        raise ValueError('allowed_origins must be None, "*" or a collection of origins')
    if request.method != "GET":
        raise HandshakeError(405, "Method Not Allowed", (("Allow", "GET"),))
    if request.version != "HTTP/1.1":
        raise HandshakeError(400, "Bad Request: WebSocket requires HTTP/1.1")
    if "websocket" not in request.header_tokens("upgrade"):
        raise HandshakeError(400, "Bad Request: missing Upgrade: websocket")
    if "upgrade" not in request.header_tokens("connection"):
        raise HandshakeError(400, "Bad Request: missing Connection: Upgrade")
    version = request.header("sec-websocket-version")
    if version is None:
        raise HandshakeError(400, "Bad Request: missing Sec-WebSocket-Version")
    if version.strip() != "13":
        # RFC 9110 15.5.22: a 426 names the protocol to upgrade to, with Connection: Upgrade (7.8).
        raise HandshakeError(426, "Upgrade Required",
                             (("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket"), ("Connection", "Upgrade")))
    key = request.header("sec-websocket-key")
    if key is None or not _valid_key(key):
        raise HandshakeError(400, "Bad Request: invalid Sec-WebSocket-Key")
    if not _origin_allowed(request, allowed_origins, same_origin_too):
        raise HandshakeError(403, "Forbidden: Origin not allowed")
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(key.strip())),
    ]
    subprotocol = select_subprotocol(request, subprotocols)
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    return render_response(101, "Switching Protocols", headers, b"", now=now)


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key.strip(), validate=True)) == 16
    except (binascii.Error, ValueError):
        return False
