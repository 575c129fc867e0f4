"""Which servers a client may use: ``host:port`` text, and the list from the command line.

A client may list several servers (``SERVERS`` in const.py; repeated ``--host``/``--port``;
or ``HOST:PORT`` arguments). It logs in to the first that answers and, when its connection
is lost, goes round the list (:func:`client.core.failover`). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import const
from i18n import _


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
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(_("not a server address: {text} (a port is a number from 1 to 65535)").format(
            text=repr(text)))
    return host, int(port_text)


def server_list(hosts: Sequence[str], ports: Sequence[int], pairs: Sequence[str] = ()) -> list[tuple[str, int]]:
    """The servers a command line names, in order: ``HOST:PORT`` ``pairs``, or ``hosts``
    and ``ports`` paired (one host with several ports, several hosts with one port, or as
    many of each); with none of them, ``const.SERVERS``. Raises ValueError for a mix that
    pairs nothing clearly."""
    if pairs:
        if hosts or ports:
            raise ValueError(_("give servers either as HOST:PORT arguments or with --host/--port, not both"))
        return [parse_server(pair) for pair in pairs]
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
