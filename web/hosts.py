"""The Host names this server answers to: the defence against DNS rebinding.

A hostile page on ``evil.example`` can point that name at our address (DNS
rebinding). For the browser the page is then same-origin with anything it fetches
from ``evil.example``, so it could read the web client and open the chat
WebSocket: the Origin check compares Origin with Host, and both say
``evil.example``. The browser does tell us the name it used, in the Host header,
so the server answers only requests whose Host is one of its own names.

``HostPolicy.allows(host_header)`` decides, by these rules:

- A Host that is an IP literal (``127.0.0.1``, ``[::1]``, ``192.168.1.20``) is
  allowed: rebinding needs a name, and a page loaded by address is ours.
- A name is allowed if it is one of the policy's names, compared without case
  and without a trailing dot. ``for_server`` gives the server's own names:
  ``localhost``, the machine's host name and its mDNS name (``box.local``),
  the listening host when it is a name, and the names configured (``const.WEB_ALLOWED_HOSTS``,
  ``chatserver.py --web-host-name``).
- ``"*"`` among the names allows any Host (for a reverse proxy that checks it).
- No Host header at all (HTTP/1.0) is allowed: browsers always send one.

The port in the Host is not looked at here (the Origin check compares it).
``check_host(request, policy)`` raises ``HttpError(421)`` for a refused Host; for
a request whose target is in absolute form (``GET http://name/``) the target's host
is the one judged, not the Host header (RFC 9112 3.2.2: it overrides Host).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from web.http import HttpError, Request

ANY_HOST = "*"
# Names that always mean this machine; RFC 6761 keeps "localhost" off the DNS.
_LOCAL_NAMES = ("localhost",)
# Listening on every address is no name of ours.
_WILDCARD_ADDRESSES = ("", "0.0.0.0", "::")


# A DNS name as a Host header carries it: dot-separated labels of letters, digits, '-'
# and '_' (no scheme, port or path; a trailing dot allowed).
_LABEL = r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)"
_DNS_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*\.?")


def is_host_name(text: str) -> bool:
    """True if ``text`` can be one of the names a server answers to (``--web-host-name``):
    a DNS name alone, or an IP address (always allowed anyway). Anything else (a URL, a
    name with a port, a name in Unicode rather than its xn-- form) never matches a Host."""
    return bool(_DNS_NAME.fullmatch(text)) or is_ip_literal(text.strip("[]"))


def _normalise(name: str) -> str:
    return name.strip().lower().rstrip(".")


def host_name(host_header: str) -> str:
    """The host part of a Host header value, without the port and brackets, lowercased."""
    value = host_header.strip()
    if value.startswith("["):
        return value[1:].partition("]")[0].lower()
    name, colon, port = value.rpartition(":")
    if colon and (port.isdigit() or not port):
        value = name
    return _normalise(value)


def is_ip_literal(name: str) -> bool:
    """True if ``name`` (from ``host_name``) is an IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The names a server answers to; see the module docstring for the rules."""

    names: frozenset[str]

    @classmethod
    def for_server(cls, configured: Iterable[str], bound_host: str | None, hostname: str | None) -> HostPolicy:
        """The policy of a server listening on ``bound_host`` on a machine called
        ``hostname`` (``socket.gethostname()``; the caller asks, this module does no
        I/O), with the ``configured`` names added."""
        names = {_normalise(name) for name in (*_LOCAL_NAMES, *configured) if name.strip()}
        if hostname and _normalise(hostname):
            names.add(_normalise(hostname))
            # Its mDNS name (Avahi, Bonjour): a classroom without a DNS server reaches the
            # teacher's machine as ``NAME.local``. Safe from rebinding: .local is resolved
            # on the link alone, where no remote page can put a name of its own.
            names.add(f"{_normalise(hostname).split('.')[0]}.local")
        if bound_host and bound_host not in _WILDCARD_ADDRESSES and not is_ip_literal(host_name(bound_host)):
            names.add(_normalise(bound_host))
        return cls(frozenset(names))

    def allows(self, host_header: str | None) -> bool:
        """True if a request with this Host header value (None: none) may be served."""
        if host_header is None or ANY_HOST in self.names:
            return True
        name = host_name(host_header)
        return is_ip_literal(name) or name in self.names


def check_host(request: Request, policy: HostPolicy) -> None:
    """Raise ``HttpError(421)`` unless ``policy`` allows the request's host (``Request.host``:
    an absolute-form target's, else the Host header's)."""
    if not policy.allows(request.host):
        raise HttpError(421, "Misdirected Request: this server does not answer to that host name")
