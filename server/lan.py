"""What the log tells the operator about reaching the server from other machines: the
address to give a class on the LAN when it listens on every address, or, on the loopback,
that nobody else can connect (README.md, "Run it": ``--host 0.0.0.0``, or ``--host ::`` for
IPv6 and IPv4 both).

:func:`lan_lines` is pure (the lines, from the listening address and the machine's
addresses); :func:`local_addresses` asks the system, without sending anything (call it
only when :func:`listens_everywhere`), through :func:`network_probes` and
:func:`ipv6_addresses` (pure too) on Linux.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from pathlib import PurePath

from .addresses import endpoint

# Listening on these is listening on every address of the machine.
_EVERYWHERE = frozenset({"", "0.0.0.0", "::"})
# Where a UDP socket is "connected" to learn which local address would reach a network
# (TEST-NET-1, RFC 5737): a UDP connect sends nothing; it only picks the route.
_PROBE = ("192.0.2.1", 9)
# Linux's routing table: each directly connected network is probed as well, since a
# classroom's LAN may have no router (no default route: the probe above finds nothing) or
# be the second network card of a machine whose default route is its Wi-Fi.
_ROUTES = "/proc/net/route"
# Linux's IPv6 addresses, one a line: address, interface, prefix length, scope, flags, name.
_IF_INET6 = "/proc/net/if_inet6"
# Of those: the scope of a global address (unique-local ones included), and the flags of an
# address not to give a class: temporary (a privacy address, gone by tomorrow's class),
# deprecated, tentative (duplicate address detection not over).
_GLOBAL_SCOPE = 0x00
_UNSTABLE = 0x01 | 0x20 | 0x40
# Listening on these takes IPv4 clients only.
_IPV4_ONLY = frozenset({"0.0.0.0"})


def listens_everywhere(host: str) -> bool:
    """True if a server listening on ``host`` listens on every address of the machine."""
    return host in _EVERYWHERE


def here(host: str) -> str:
    """The address this machine opens a server listening on ``host`` at: the loopback of
    its family for every address ("0.0.0.0" is where a server listens, not an address a
    browser opens: the log's "web client on" URL is clicked), else ``host`` itself."""
    if not listens_everywhere(host):
        return host
    return "::1" if host == "::" else "127.0.0.1"


def lan_lines(host: str, port: int, web_port: int | None, tls_cert: str | None,
              addresses: Sequence[str]) -> list[str]:
    """The log's lines for a server listening on ``host``:``port`` (its page on
    ``web_port``, None if off) whose machine has the LAN ``addresses`` (the first is named
    in full, the others after it): how the clients reach it, or that only this machine
    can (a loopback ``host``); none for a particular address, which says it itself.
    ``tls_cert``: the certificate file of a TLS server, None without TLS. The client's
    command then names it for ``--cafile``: README's certificate is self-signed, and
    ``--tls`` alone (what the line said) is refused by every client ("cannot verify the
    server's certificate")."""
    tls = tls_cert is not None
    if not listens_everywhere(host):
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False  # a host name: it says itself where it is
        everywhere = "::" if ":" in host else "0.0.0.0"  # an IPv6 loopback: IPv6 (and IPv4) clients
        return [f"only this machine can connect ({host}): for the LAN, start the server with --host {everywhere}"] \
            if loopback else []
    if not addresses:
        page = f", or the page on port {web_port}" if web_port is not None else ""
        if host in _IPV4_ONLY:
            return ["from the LAN: give the clients this machine's address (ip -4 addr on Linux, ipconfig on Windows, "
                    f"ipconfig getifaddr en0 on macOS) and port {port}{page}"]
        # It takes IPv6 clients too: the commands that list IPv6 addresses as well, and how
        # one is written before a port (a URL's way).
        return ["from the LAN: give the clients this machine's address (ip addr on Linux, ipconfig on Windows, "
                f"ifconfig en0 on macOS) and port {port} (an IPv6 address in brackets: "
                f"{endpoint('2001:db8::5', port)}){page}"]
    first, *others = addresses
    cafile = PurePath(tls_cert).name if tls_cert is not None else ""
    line = f"from the LAN: python3 chatclient.py NAME {endpoint(first, port)}" + (
        f" --tls --cafile {cafile}" if tls else "")
    if web_port is not None:
        line += f", or the page at {'https' if tls else 'http'}://{endpoint(first, web_port)}/"
    if others:
        line += " (or " + ", ".join(endpoint(other, port) for other in others) + ")"
    if tls:
        line += f"; copy {cafile} (not the key) to the clients' machines, unless they trust its issuer already"
    return [line]


def network_probes(routes: str) -> list[str]:
    """An address in each network that ``routes`` (the text of Linux's /proc/net/route)
    reaches directly (no gateway), the loopback's aside: connecting a UDP socket to it
    picks this machine's address on that network."""
    probes = []
    for line in routes.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[0] == "lo" or int(fields[2], 16):
            continue  # a heading's remains, the loopback, or a route through a gateway
        # The kernel writes the addresses in its own (little-endian) byte order.
        network = ipaddress.ip_network((int.from_bytes(bytes.fromhex(fields[1]), "little"),
                                        bin(int(fields[7], 16)).count("1")), strict=False)
        if network.prefixlen and network.num_addresses > 2:  # not the default route, nor a host's
            probes.append(str(network.network_address + 1))
    return probes


def ipv6_addresses(table: str) -> list[str]:
    """The stable global (or unique-local) IPv6 addresses in ``table`` (the text of Linux's
    /proc/net/if_inet6), in its order: not the loopback's, not link-local ones (of no use
    without their zone), not temporary, deprecated or tentative ones."""
    found = []
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or int(fields[3], 16) != _GLOBAL_SCOPE or int(fields[4], 16) & _UNSTABLE:
            continue
        found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    return found


def local_addresses(host: str = "0.0.0.0") -> list[str]:
    """This machine's addresses that another machine could reach a server listening on
    ``host`` (one of every address: see :func:`listens_everywhere`) by: IPv4 ones, the one
    of its default route first, then those of the networks it reaches directly (Linux);
    then, unless ``host`` takes IPv4 only, its IPv6 ones (Linux); none if it has no
    network (then the log says how to look)."""
    found = []
    try:
        with open(_ROUTES, encoding="ascii") as table:
            probes = network_probes(table.read())
    except (OSError, ValueError):
        probes = []  # not Linux (or an unexpected table): the default route and the host name
    for target in (_PROBE, *((probe, 9) for probe in probes)):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(target)
                found.append(probe.getsockname()[0])
        except OSError:
            pass  # no route there (a lab LAN without a gateway has no default route)
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    usable = [a for a in found if not ipaddress.ip_address(a).is_loopback and not ipaddress.ip_address(a).is_unspecified]
    if host not in _IPV4_ONLY:
        try:
            with open(_IF_INET6, encoding="ascii") as table:
                usable += ipv6_addresses(table.read())
        except (OSError, ValueError):
            pass  # not Linux, or no IPv6: the IPv4 addresses alone
    return list(dict.fromkeys(usable))
