"""IPv6 clients, as the server shows them and as its per-address limits count them
(server/addresses.py), and what its log says of IPv6 addresses (server/lan.py, resp)."""

from __future__ import annotations

from registry.registry import Endpoint, UserRecord
from resp.aio import parse_url
from server.addresses import address_group, endpoint, endpoints, peer_address
from server.admission import Admission
from server.console import registry_lines
from server.lan import ipv6_addresses, lan_lines


def test_an_ipv4_client_of_a_dual_stack_socket_is_its_ipv4_address() -> None:
    assert peer_address("::ffff:192.168.1.31") == "192.168.1.31"
    assert peer_address("2001:db8::1") == "2001:db8::1"
    assert peer_address("fe80::1%eth0") == "fe80::1%eth0"
    assert peer_address("10.0.0.5") == "10.0.0.5"


def test_limits_count_a_global_ipv6_address_by_its_64_and_the_rest_by_itself() -> None:
    assert address_group("2001:db8:1:2:a:b:c:d") == address_group("2001:db8:1:2::99") == "2001:db8:1:2::/64"
    assert address_group("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert address_group("fd00::2") == "fd00::/64"  # a campus's unique-local network
    assert address_group("::ffff:10.0.0.5") == "10.0.0.5"
    assert address_group("10.0.0.5") == "10.0.0.5"
    # Every machine of a LAN has a link-local address in fe80::/64: each one is itself.
    assert address_group("fe80::1%eth0") == "fe80::1%eth0"
    assert address_group("::1") == "::1"
    assert address_group("?") == "?"


def test_one_phone_cannot_take_more_connections_by_changing_its_ipv6_address() -> None:
    """With the exact 128-bit address as the key, one machine could hold 2^64 times the
    per-address limit: a /64 is one home, phone or LAN, as one IPv4 address behind a NAT."""
    admission = Admission(capacity=100, per_address=2)
    assert admission.admit("2001:db8:1:2::1") is None
    assert admission.admit("2001:db8:1:2::2") is None
    refusal = admission.admit("2001:db8:1:2:ffff::3")
    assert refusal is not None and refusal.status == 429
    assert admission.admit("2001:db8:1:3::1") is None  # another network
    admission.release("2001:db8:1:2::1")
    assert admission.admit("2001:db8:1:2::4") is None
    assert admission.count("2001:db8:1:2::abcd") == 2


def test_an_ipv4_mapped_address_counts_as_the_ipv4_address() -> None:
    admission = Admission(capacity=100, per_address=1)
    assert admission.admit("192.168.1.31") is None
    assert admission.admit("::ffff:192.168.1.31") is not None
    admission.release("::ffff:192.168.1.31")
    assert admission.count("192.168.1.31") == 0 and admission.total == 0


def test_link_local_neighbours_are_counted_apart() -> None:
    admission = Admission(capacity=100, per_address=1)
    assert admission.admit("fe80::1%eth0") is None
    assert admission.admit("fe80::2%eth0") is None


def test_an_ipv6_host_is_written_in_brackets_before_its_port() -> None:
    assert endpoint("::1", 5000) == "[::1]:5000"
    assert endpoint("fe80::1%eth0", 5000) == "[fe80::1%eth0]:5000"
    assert endpoint("192.168.1.20", 5000) == "192.168.1.20:5000"
    assert endpoint("sala.escola.pt", 5000) == "sala.escola.pt:5000"


def test_a_redis_url_on_ipv6_is_logged_as_a_url() -> None:
    """The log said "data in Redis at redis://::1:6379/0", which no parser takes back."""
    assert str(parse_url("redis://:senha@[::1]:6380/2")) == "redis://[::1]:6380/2"
    assert str(parse_url("redis://[::1]/0")) == "redis://[::1]:6379/0"
    assert str(parse_url(str(parse_url("redis://[::1]:6380/2")))) == "redis://[::1]:6380/2"


def test_the_lan_hint_writes_ipv6_addresses_in_brackets() -> None:
    assert lan_lines("::", 5000, 8080, None, ["192.168.1.20", "2001:db8:1:2::20"]) == [
        "from the LAN: python3 chatclient.py NAME 192.168.1.20:5000, or the page at http://192.168.1.20:8080/ "
        "(or [2001:db8:1:2::20]:5000)"]
    # An IPv6-only campus: the machine has no IPv4 address on the LAN.
    assert lan_lines("::", 5000, 8080, "cert.pem", ["2001:db8:1:2::20"]) == [
        "from the LAN: python3 chatclient.py NAME [2001:db8:1:2::20]:5000 --tls --cafile cert.pem, "
        "or the page at https://[2001:db8:1:2::20]:8080/; copy cert.pem (not the key) to the clients' machines, "
        "unless they trust its issuer already"]


def test_on_the_ipv6_loopback_it_suggests_listening_on_every_address_of_both_kinds() -> None:
    assert lan_lines("::1", 5000, 8080, None, []) == [
        "only this machine can connect (::1): for the LAN, start the server with --host ::"]


# /proc/net/if_inet6 of a dual-stack campus machine: address, interface index, prefix
# length, scope (00 global, 10 host, 20 link), flags (01 temporary, 20 deprecated,
# 40 tentative, 80 permanent), interface.
_IF_INET6 = """\
fd000000000000000000000000000002 04 40 00 82     eth0
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
20010db8000100020000000000000020 04 40 00 80     eth0
20010db80001000255aa66bb77cc88dd 04 40 00 01     eth0
20010db8000100020000000000000099 04 40 00 20     eth0
"""


def test_the_machines_ipv6_addresses_are_its_stable_global_ones() -> None:
    """Not the loopback, not link-local (useless without a zone), not a temporary
    (privacy) address that changes by tomorrow's class, nor a deprecated one."""
    assert ipv6_addresses(_IF_INET6) == ["fd00::2", "2001:db8:1:2::20"]


def test_the_servers_who_writes_an_ipv6_client_in_brackets() -> None:
    online = [UserRecord("João", (Endpoint("2001:db8:1:2::31", 50412, 0.0, None),)),
              UserRecord("Ana", (Endpoint("192.168.1.31", 50413, 0.0, None),))]
    lines = registry_lines(online)
    assert "[2001:db8:1:2::31]:50412" in lines[2] and "192.168.1.31:50413" in lines[1]


def test_where_a_server_listens_is_every_socket_s_address_in_one_line() -> None:
    """With SERVER_HOST = "" the server listens on 0.0.0.0 and :: both; the log said only
    "listening on 0.0.0.0:5000", and a teacher thought IPv6 clients could not connect."""
    assert endpoints([("127.0.0.1", 5000)]) == "127.0.0.1:5000"
    assert endpoints([("0.0.0.0", 5000), ("::", 5000, 0, 0)]) == "0.0.0.0:5000 and [::]:5000"
    assert endpoints([("10.0.0.5", 5000), ("::1", 5000, 0, 0), ("fe80::1%eth0", 5000, 0, 2)]) == \
        "10.0.0.5:5000, [::1]:5000 and [fe80::1%eth0]:5000"
    assert endpoints([("0.0.0.0", 5000), ("0.0.0.0", 5000)]) == "0.0.0.0:5000"  # said once
