"""web.hosts: which Host headers the web gateway answers (the DNS-rebinding defence)."""

from __future__ import annotations

import pytest

import chatserver
from web.hosts import HostPolicy, check_host, host_name, is_host_name, is_ip_literal
from web.http import HttpError, HttpRequestReader, Request

SERVER = HostPolicy.for_server(["chat.example.org"], "127.0.0.1", "box")


@pytest.mark.parametrize("header, name", [
    ("localhost", "localhost"),
    ("localhost:8080", "localhost"),
    ("Chat.Example.ORG.:443", "chat.example.org"),
    ("127.0.0.1:8080", "127.0.0.1"),
    ("[::1]:8080", "::1"),
    ("[::1]", "::1"),
    ("example.org:", "example.org"),
])
def test_host_name_drops_port_brackets_case_and_trailing_dot(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize("header", [
    "localhost", "LOCALHOST:8080", "localhost.", "box", "box:8080", "chat.example.org", "Chat.Example.Org.:8080",
    # IP literals: rebinding needs a name, and a page loaded by address is really ours.
    "127.0.0.1", "127.0.0.1:8080", "192.168.1.20:8080", "10.0.0.7", "[::1]:8080", "[fe80::1]",
])
def test_the_servers_names_and_any_address_are_allowed(header):
    assert SERVER.allows(header)


@pytest.mark.parametrize("header", [
    "evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.evil.example",
    "chat.example.org.evil.example", "box.evil.example", "example.org", "", "x", "evil%2eexample",
    "2130706433",  # 127.0.0.1 in decimal is a name here: browsers send the dotted form
])
def test_other_names_are_refused(header):
    assert not SERVER.allows(header)


def test_a_request_without_host_is_allowed():
    # HTTP/1.0 may omit Host; browsers always send it, so a rebinding page cannot.
    assert SERVER.allows(None)


def test_star_allows_any_host():
    assert HostPolicy.for_server(["*"], "127.0.0.1", "box").allows("evil.example")


@pytest.mark.parametrize("bound, allowed", [
    ("chat.internal", True),   # listening on a name: that name is ours
    ("0.0.0.0", False), ("::", False), ("", False), ("192.168.1.20", False),
])
def test_the_listening_host_counts_when_it_is_a_name(bound, allowed):
    policy = HostPolicy.for_server((), bound, None)
    assert policy.allows("chat.internal") is allowed
    assert policy.allows("localhost") and policy.allows("192.168.1.20")
    assert not policy.allows("0.0.0.0.evil.example")


def test_the_machines_host_name_counts():
    assert HostPolicy.for_server((), "0.0.0.0", "Box.LAN").allows("box.lan:8080")
    assert not HostPolicy.for_server((), "0.0.0.0", None).allows("box.lan")


def test_the_machines_mdns_name_counts():
    """A classroom without a DNS server reaches the teacher's machine 'sala-prof' as
    sala-prof.local (Avahi, Bonjour): the page got '421 Misdirected Request'."""
    assert HostPolicy.for_server((), "0.0.0.0", "sala-prof").allows("sala-prof.local:8080")
    assert HostPolicy.for_server((), "0.0.0.0", "Sala-Prof.local").allows("sala-prof.local")
    assert HostPolicy.for_server((), "0.0.0.0", "sala-prof.escola.br").allows("sala-prof.local")
    assert not HostPolicy.for_server((), "0.0.0.0", "sala-prof").allows("outra.local")
    assert not HostPolicy.for_server((), "0.0.0.0", None).allows("sala-prof.local")


def test_is_ip_literal():
    assert is_ip_literal("127.0.0.1") and is_ip_literal("::1")
    assert not is_ip_literal("localhost") and not is_ip_literal("1.2.3")


def request_with_host(host: str | None) -> Request:
    headers = () if host is None else (("host", host),)
    return Request("GET", "/", "", "HTTP/1.1", headers)


def test_check_host_refuses_with_421():
    check_host(request_with_host("localhost:8080"), SERVER)
    with pytest.raises(HttpError) as refused:
        check_host(request_with_host("evil.example:8080"), SERVER)
    assert refused.value.status == 421
    assert refused.value.to_response().startswith(b"HTTP/1.1 421 Misdirected Request")


def test_check_host_judges_an_absolute_form_request_by_its_targets_host():
    reader = HttpRequestReader()
    reader.receive_data(b"GET http://evil.example/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    with pytest.raises(HttpError) as refused:
        check_host(reader.next_request(), SERVER)
    assert refused.value.status == 421


def test_chatserver_flag_feeds_the_config():
    args = chatserver.parse_args(["--web-host-name", "chat.example.org", "--web-host-name", "chat.example.net"])
    assert chatserver.config_from(args).web_hosts == ("chat.example.org", "chat.example.net")
    assert chatserver.config_from(chatserver.parse_args([])).web_hosts == ()


@pytest.mark.parametrize(("text", "ok"), [
    ("chat.example.org", True), ("sala", True), ("sala.escola.br.", True), ("my_host.lan", True),
    ("10.0.0.1", True), ("[::1]", True),
    ("http://sala.escola.br/", False), ("sala.escola.br:21071", False), ("sala.escola.br/", False),
    ("-sala.br", False), ("escoła.br", False), ("", False), ("a..b", False),
])
def test_is_host_name_takes_a_name_alone(text, ok):
    """What --web-host-name takes: what a Host header can carry, without a port."""
    assert is_host_name(text) is ok


def test_the_chatserver_flags_take_names_and_origins_that_can_match():
    args = chatserver.parse_args(["--web-host-name", "sala.escola.br", "--web-host-name", "*",
                                  "--web-origin", "https://sala.escola.br", "--web-origin", "http://10.0.0.5:8080/",
                                  "--web-origin", "*"])
    assert chatserver.config_from(args).web_hosts == ("sala.escola.br", "*")
    with pytest.raises(SystemExit):
        chatserver.parse_args(["--web-host-name", "sala.escola.br:21071"])
