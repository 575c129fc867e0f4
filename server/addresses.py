"""A client's IP address as the server shows it, and as its per-address limits count it.

Pure, no I/O. Three rules, for an IPv6 campus and dual-stack LANs (README.md, "IPv6"):

- :func:`peer_address`: on a dual-stack socket (``--host ::``) an IPv4 client arrives as
  an IPv4-mapped address, ``::ffff:192.168.1.31``; it is the IPv4 address
  ``192.168.1.31``, shown, logged and counted as such, as if it had come on an IPv4
  socket (``--host 0.0.0.0``).
- :func:`address_group`: what a per-address limit counts (connections, requests,
  password guesses, accounts created: const.py's ``*_PER_ADDRESS``). An IPv4 address is
  itself. A global (or unique-local) IPv6 address counts as its /64: a /64 is the
  smallest network a provider hands out (RFC 6177; SLAAC needs it), so one home, one
  phone, one campus LAN; a machine in it may take any of its 2^64 addresses (privacy
  addresses change daily; a program can bind a new one per connection), so limits by
  the exact address would hold nobody. A /64 is then what one IPv4 address behind a NAT
  is: the school's or the family's, and const.py's per-address limits are sized for a
  whole school behind one address (tests/integration/test_shared_address.py). A
  link-local (``fe80::…%eth0``) or loopback address is itself: every machine of a LAN
  shares fe80::/64, and counting them as one would make the LAN one client.
- :func:`endpoint` (and :func:`bracketed`): ``host:port`` in words, an IPv6 host in
  brackets (``[::1]:5000``), as a URL writes it, so that the port is not read as the
  address's last group; :func:`endpoints`, several of them in one line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# The text an IPv4-mapped address starts with as the system writes it (inet_ntop).
_MAPPED = "::ffff:"
# The length of the network that a global IPv6 address is counted by (see the docstring).
IPV6_GROUP_PREFIX = 64


def peer_address(host: str) -> str:
    """The address of a peer that the socket says is ``host``: an IPv4-mapped IPv6
    address as its IPv4 address, anything else as it came (a zone included)."""
    if host.startswith(_MAPPED) and "." in host:
        return host[len(_MAPPED):]
    return host


def address_group(address: str) -> str:
    """What per-address limits count a client at ``address`` by: its /64 for a global or
    unique-local IPv6 address (``"2001:db8:1:2::/64"``), else the address itself (IPv4,
    mapped IPv4 as IPv4, link-local, loopback, or text that is no address)."""
    if ":" not in address:
        return address  # IPv4 (or a session made by hand: "?")
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.is_link_local or ip.is_loopback:
        return address
    return str(ipaddress.IPv6Network((ip, IPV6_GROUP_PREFIX), strict=False))


def bracketed(host: str) -> str:
    """``host`` as it stands before a port: an IPv6 address in brackets (``[::1]``)."""
    return f"[{host}]" if ":" in host else host


def endpoint(host: str, port: int) -> str:
    """``host:port``, an IPv6 ``host`` in brackets (``[::1]:5000``)."""
    return f"{bracketed(host)}:{port}"


def endpoints(places: Iterable[tuple]) -> str:
    """The socket addresses ``places`` (``getsockname()``'s, IPv4 or IPv6; one at least) in
    one line, each once, in order: ``"0.0.0.0:5000 and [::]:5000"`` (a server listening on
    every address listens on both)."""
    said = list(dict.fromkeys(endpoint(place[0], place[1]) for place in places))
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
