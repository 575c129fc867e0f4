"""Which servers a client may use: ``host:port`` text, and the list from the command line.

A client may list several servers (``SERVERS`` in const.py; repeated ``--host``/``--port``;
or ``HOST:PORT`` arguments). It logs in to the first that answers and, when its connection
is lost, goes round the list (:func:`client.core.failover`), trying the others from a
place of its own (:func:`spread_start`). Pure functions, no I/O.

The command line also takes the host and port as two words, as the original assignments'
clients did (README, "Coming from the original assignments"): ``NAME HOST PORT``, ``HOST
PORT NAME``, and ``HOST PORT`` with no name when HOST is an IP address or ``localhost``.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Sequence

import const
from i18n import _
from registry import canonical


def _is_port(word: str) -> bool:
    """True if ``word`` is a port number alone (no host name is all digits)."""
    return word.isascii() and word.isdigit()


def _has_port(text: str) -> bool:
    """True if server address ``text`` names its port (``host:port``, ``[v6]:port``)."""
    text = text.strip()
    return "]:" in text if text.startswith("[") else text.count(":") == 1


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets (``[::1]:5000``), as a URL and
    :func:`parse_server` write it."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def told_apart(servers: Sequence[tuple[str, int]], index: int) -> str | None:
    """The address of ``servers[index]`` for a line about its answer when the client has
    several servers (failing over, a refusal of the live one read as the dead one's); None
    with one, where "the server" is clear."""
    return format_address(*servers[index]) if len(servers) > 1 else None


def positionals(name: str, words: Sequence[str]) -> tuple[str, list[str]]:
    """The NAME and HOST:PORT arguments as argparse split them -> (the user's name, the
    server words), the orders of the original assignments understood: ``HOST PORT NAME``
    (a port alone in the middle, a name last), and ``HOST PORT`` with no name ("" then)
    when HOST is an IP address or ``localhost``. Anything else is returned as it came;
    :func:`server_list` joins a HOST and the PORT after it."""
    if len(words) == 2 and _is_port(words[0]) and not _is_port(words[1]) and ":" not in words[1]:
        return words[1], [name, words[0]]
    if len(words) == 1 and _is_port(words[0]) and _is_host_address(name):
        return "", [name, words[0]]
    return name, list(words)


def _is_host_address(word: str) -> bool:
    """True if ``word`` is ``localhost`` or an IP address: a host, though it is a valid name too."""
    try:
        ipaddress.ip_address(word)
    except ValueError:
        return word.lower() == "localhost"
    return True


def _joined(words: Sequence[str]) -> list[tuple[str, int]]:
    """Server words -> (host, port) pairs, a port alone joined to the host before it when
    that host has none (``127.0.0.1 5000``). Raises ValueError for a port with no host."""
    servers: list[tuple[str, int]] = []
    open_host = False  # the last word was a host without its port
    for word in words:
        if not _is_port(word):
            servers.append(parse_server(word))
            open_host = not _has_port(word)
        elif not open_host:
            raise ValueError(_("not a server address: {text} (a port alone; did you mean {host}:{port}?)").format(
                text=repr(word), host=const.SERVER_HOST, port=word))
        else:
            servers[-1] = (servers[-1][0], _port_number(word, word))
            open_host = False
    return servers


def addresses_from(current: tuple[str, int], servers: Sequence[tuple[str, int]]) -> list[str]:
    """The ``host:port`` of ``current``, then of the rest of ``servers`` (each once): where a
    guest's resume token is looked for and kept (client/resume.py, ``for_hello`` and
    ``proven``). The servers of one list serve one chat (a cluster's nodes share guest
    names through Redis), so the token one of them gave proves the guest to all: a client
    that fails over to another node gets its name and waiting messages back there, instead
    of ``name_taken`` for ``GUEST_HOLD``. Every client shell keeps its tokens by this rule."""
    found = [format_address(*current)]
    for host, port in servers:
        address = format_address(host, port)
        if address not in found:
            found.append(address)
    return found


def spread_start(name: str) -> int:
    """Where user ``name``'s client starts its turn of the other servers of its list once
    it lost one (:func:`client.core.failover`'s ``spread``): a stable hash of the name
    (CRC-32 of its canonical form), the same for that user every time and on every
    machine, and spread evenly over names. Every client lists the servers in the same
    order; started from the same place, all the users of a lost node of a cluster would
    go to the same next node and load it twice as much as the others. So the users of a
    stopped node of three split about half and half between the other two, and a user's
    sessions (several programs, one name) go to the same node."""
    return zlib.crc32(canonical(name).encode("utf-8", "surrogatepass"))


def parse_server(text: str, default_port: int = const.SERVER_PORT) -> tuple[str, int]:
    """``"host:port"``, ``"[v6]:port"``, or a bare host (the default port) -> (host, port).
    Raises ValueError, saying why, for a bad port or an empty host."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:5000
        host, _sep, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(_("not a server address: {text} (use [IPv6]:PORT)").format(text=repr(text)))
    elif text.count(":") == 1:
        host, _sep, port_text = text.partition(":")
    else:  # a bare host name, or a bare IPv6 address
        host, port_text = text, ""
    if not host:
        raise ValueError(_("not a server address: {text} (no host)").format(text=repr(text)))
    if not port_text:
        return host, default_port
    return host, _port_number(port_text, text)


def _port_number(port_text: str, text: str) -> int:
    """The port ``port_text`` of server address ``text``; ValueError if it is none."""
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(_("not a server address: {text} (a port is a number from 1 to 65535)").format(
            text=repr(text)))
    return int(port_text)


def server_list(hosts: Sequence[str], ports: Sequence[int], pairs: Sequence[str] = ()) -> list[tuple[str, int]]:
    """The servers a command line names, in order: ``HOST:PORT`` ``pairs`` (``HOST PORT``,
    two words, too), or ``hosts`` and ``ports`` paired (one host with several ports, several
    hosts with one port, or as many of each); with none of them, ``const.SERVERS``. Raises
    ValueError for a mix that pairs nothing clearly."""
    if pairs:
        if hosts or ports:
            raise ValueError(_("give servers either as HOST:PORT arguments or with --host/--port, not both"))
        return _joined(pairs)
    if not hosts and not ports:
        return list(const.SERVERS)
    hosts = list(hosts) or [const.SERVER_HOST]
    ports = list(ports) or [const.SERVER_PORT]
    if len(hosts) == 1:
        return [(hosts[0], port) for port in ports]
    if len(ports) == 1:
        return [(host, ports[0]) for host in hosts]
    if len(hosts) != len(ports):
        raise ValueError(_("{hosts} --host and {ports} --port do not pair up: give one of them once, "
                           "or as many of each").format(hosts=len(hosts), ports=len(ports)))
    return list(zip(hosts, ports))
