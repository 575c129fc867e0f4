"""What the server's log tells a teacher about reaching it from the class's machines
(server/lan.py): the address to give the students, or that only this machine can connect."""

from __future__ import annotations

from server.lan import lan_lines


def test_on_every_address_the_log_names_the_lan_address_to_give_the_students() -> None:
    """The README said "point the clients at the server machine: --host 192.168.1.20"; a
    teacher had to find that address elsewhere, the log saying only "listening on 0.0.0.0"."""
    assert lan_lines("0.0.0.0", 5000, 8080, False, ["192.168.1.20"]) == [
        "from the LAN: python3 chatclient.py NAME 192.168.1.20:5000, or the page at http://192.168.1.20:8080/"]
    assert lan_lines("::", 5001, None, True, ["192.168.1.20", "10.0.0.5"]) == [
        "from the LAN: python3 chatclient.py NAME 192.168.1.20:5001 --tls (or 10.0.0.5:5001)"]


def test_without_an_address_found_it_says_how_to_find_one() -> None:
    assert lan_lines("0.0.0.0", 5000, 8080, False, []) == [
        "from the LAN: give the clients this machine's address (ip -4 addr on Linux, ipconfig on Windows, "
        "ipconfig getifaddr en0 on macOS) and port 5000, or the page on port 8080"]


def test_on_the_loopback_it_says_only_this_machine_can_connect() -> None:
    """The README's default: a class following it without --host got "connection refused"
    on every student's machine, and the log did not say why."""
    assert lan_lines("127.0.0.1", 5000, 8080, False, ["192.168.1.20"]) == [
        "only this machine can connect (127.0.0.1): for the LAN, start the server with --host 0.0.0.0"]
    assert lan_lines("192.168.1.20", 5000, 8080, False, ["192.168.1.20"]) == []
