"""What the server's log tells a teacher about reaching it from the class's machines
(server/lan.py): the address to give the students, or that only this machine can connect."""

from __future__ import annotations

from server.lan import here, lan_lines, network_probes


def test_on_every_address_the_log_names_the_lan_address_to_give_the_students() -> None:
    """The README said "point the clients at the server machine: --host 192.168.1.20"; a
    teacher had to find that address elsewhere, the log saying only "listening on 0.0.0.0"."""
    assert lan_lines("0.0.0.0", 5000, 8080, None, ["192.168.1.20"]) == [
        "from the LAN: python3 chatclient.py NAME 192.168.1.20:5000, or the page at http://192.168.1.20:8080/"]


def test_over_tls_the_command_given_names_the_certificate_for_cafile() -> None:
    """README's certificate is self-signed: the command the log gave, '... --tls' alone, was
    refused by every student's client ("cannot verify the server's certificate"). It names
    the certificate's file now, and that the clients need a copy of it (not of the key)."""
    assert lan_lines("::", 5001, None, "/srv/chat/cert.pem", ["192.168.1.20", "10.0.0.5"]) == [
        "from the LAN: python3 chatclient.py NAME 192.168.1.20:5001 --tls --cafile cert.pem (or 10.0.0.5:5001); "
        "copy cert.pem (not the key) to the clients' machines, unless they trust its issuer already"]


def test_without_an_address_found_it_says_how_to_find_one() -> None:
    assert lan_lines("0.0.0.0", 5000, 8080, None, []) == [
        "from the LAN: give the clients this machine's address (ip -4 addr on Linux, ipconfig on Windows, "
        "ipconfig getifaddr en0 on macOS) and port 5000, or the page on port 8080"]
    # Listening on IPv6 too: "ip -4 addr" would hide the very addresses it now takes.
    assert lan_lines("::", 5000, None, None, []) == [
        "from the LAN: give the clients this machine's address (ip addr on Linux, ipconfig on Windows, "
        "ifconfig en0 on macOS) and port 5000 (an IPv6 address in brackets: [2001:db8::5]:5000)"]


def test_on_the_loopback_it_says_only_this_machine_can_connect() -> None:
    """The README's default: a class following it without --host got "connection refused"
    on every student's machine, and the log did not say why."""
    assert lan_lines("127.0.0.1", 5000, 8080, None, ["192.168.1.20"]) == [
        "only this machine can connect (127.0.0.1): for the LAN, start the server with --host 0.0.0.0"]
    assert lan_lines("192.168.1.20", 5000, 8080, None, ["192.168.1.20"]) == []


# /proc/net/route of a classroom's isolated LAN (a switch, no gateway: no default route),
# beside a second network card: the address of each network is only found through its own
# route (10.224.1.0/24 and 192.168.56.0/24 here; little-endian hex, as Linux writes it).
_ISOLATED_ROUTES = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t0001E00A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0
eth1\t0038A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth1\t0138A8C0\t0138A8C0\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0
"""


def test_on_a_lan_without_a_gateway_each_network_is_probed_through_its_own_route() -> None:
    """On a LAN of network namespaces built as a classroom without a router, the log said "give the clients this machine's address (ip -4 addr ...)": the one probe went
    to the default route, which such a LAN has not, and the host name named the loopback.
    Each directly connected network is probed too (a UDP connect sends nothing)."""
    assert network_probes(_ISOLATED_ROUTES) == ["10.224.1.1", "192.168.56.1"]
    assert network_probes("") == []


def test_the_page_s_address_on_every_address_is_one_a_browser_opens() -> None:
    """With --host 0.0.0.0 the log said "web client on http://0.0.0.0:8083/" (server/web.py),
    which the README tells a newcomer to open, and which is no address to open (Windows'
    browsers fail on it): on this machine the page is at the loopback of that family."""
    assert here("0.0.0.0") == "127.0.0.1" and here("") == "127.0.0.1"
    assert here("::") == "::1"
    assert here("127.0.0.1") == "127.0.0.1" and here("192.168.1.20") == "192.168.1.20" and here("::1") == "::1"
