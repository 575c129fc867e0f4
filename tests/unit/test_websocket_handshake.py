"""Tests for web.websocket.handshake (RFC 6455 section 4.2)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from web.http import HttpError, HttpRequestReader, Request
from web.websocket.handshake import HandshakeError, accept_handshake, accept_key, select_subprotocol

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# RFC 6455 section 1.3 (and 4.2.2) gives this value for the sample nonce.
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

BASE_HEADERS = {
    "host": "chat.example:8080",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": RFC_KEY,
    "sec-websocket-version": "13",
}


def make_request(method: str = "GET", version: str = "HTTP/1.1", **overrides: str | None) -> Request:
    """An upgrade request; keyword overrides replace (or with None, drop) headers."""
    headers = dict(BASE_HEADERS)
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return Request(method, "/ws", "", version, tuple(headers.items()))


def refusal(request: Request, **kwargs) -> HandshakeError:
    with pytest.raises(HandshakeError) as info:
        accept_handshake(request, **kwargs)
    return info.value


def response_headers(response: bytes) -> dict[str, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert body == b""
    lines = head.decode("latin-1").split("\r\n")
    return {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}


def test_accept_key_matches_rfc_example():
    assert accept_key(RFC_KEY) == RFC_ACCEPT
    # Cross-check with the SHA-1 digest printed in RFC 6455 section 1.3.
    digest = bytes.fromhex("b37a4f2cc0624f1690f64606cf385945b2bec4ea")
    assert base64.b64decode(RFC_ACCEPT) == digest
    assert hashlib.sha1((RFC_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest() == digest
    assert accept_key("AAAAAAAAAAAAAAAAAAAAAA==") != RFC_ACCEPT


def test_valid_upgrade_returns_101():
    response = accept_handshake(make_request())
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    headers = response_headers(response)
    assert headers["upgrade"] == "websocket"
    assert headers["connection"] == "Upgrade"
    assert headers["sec-websocket-accept"] == RFC_ACCEPT
    assert "content-length" not in headers
    assert "sec-websocket-protocol" not in headers


def test_handshake_from_raw_bytes_keeps_pipelined_frame():
    raw = (
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Origin: http://server.example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    reader = HttpRequestReader()
    reader.receive_data(raw + frame)
    request = reader.next_request()
    response = accept_handshake(request, subprotocols=["superchat"])
    assert response_headers(response)["sec-websocket-protocol"] == "superchat"
    assert response_headers(response)["sec-websocket-accept"] == RFC_ACCEPT
    assert reader.trailing_data == frame


def test_extensions_are_never_negotiated():
    response = accept_handshake(make_request(sec_websocket_extensions="permessage-deflate"))
    assert b"extensions" not in response.lower()


@pytest.mark.parametrize(
    "overrides",
    [
        {"upgrade": "WebSocket"},
        {"upgrade": "h2c, WEBSOCKET"},
        {"connection": "keep-alive, Upgrade"},
        {"connection": "UPGRADE"},
        {"sec_websocket_key": " " + RFC_KEY + " "},
    ],
)
def test_header_tokens_are_matched_case_insensitively(overrides):
    assert response_headers(accept_handshake(make_request(**overrides)))["sec-websocket-accept"] == RFC_ACCEPT


@pytest.mark.parametrize(
    "kwargs,status",
    [
        ({"method": "HEAD"}, 405),
        ({"version": "HTTP/1.0"}, 400),
        ({"upgrade": None}, 400),
        ({"upgrade": "websocketx"}, 400),
        ({"upgrade": "h2c"}, 400),
        ({"connection": None}, 400),
        ({"connection": "keep-alive"}, 400),
        ({"connection": "upgraded"}, 400),
        ({"sec_websocket_version": None}, 400),
        ({"sec_websocket_version": "8"}, 426),
        ({"sec_websocket_version": "13, 8"}, 426),
        ({"sec_websocket_key": None}, 400),
        ({"sec_websocket_key": "not base64!"}, 400),
        ({"sec_websocket_key": base64.b64encode(bytes(15)).decode()}, 400),
        ({"sec_websocket_key": base64.b64encode(bytes(17)).decode()}, 400),
        ({"sec_websocket_key": RFC_KEY + ", " + RFC_KEY}, 400),  # two Key headers, joined
    ],
)
def test_invalid_upgrade_requests_are_refused(kwargs, status):
    assert refusal(make_request(**kwargs)).status == status


def test_unsupported_version_response_advertises_13():
    error = refusal(make_request(sec_websocket_version="8"))
    assert isinstance(error, HttpError)  # one except clause serves HTTP and upgrade errors
    assert ("Sec-WebSocket-Version", "13") in error.headers
    response = error.to_response()
    assert response.startswith(b"HTTP/1.1 426 ")
    assert b"\r\nSec-WebSocket-Version: 13\r\n" in response
    assert b"\r\nConnection: close\r\n" in response


def test_unsupported_version_response_names_the_upgrade_it_requires():
    # RFC 9110 15.5.22: a 426 MUST send Upgrade; 7.8: with it, Connection: upgrade.
    error = refusal(make_request(sec_websocket_version="8"))
    assert ("Upgrade", "websocket") in error.headers and ("Connection", "Upgrade") in error.headers
    response = error.to_response()
    assert b"\r\nUpgrade: websocket\r\n" in response and b"\r\nConnection: Upgrade\r\n" in response


def test_duplicate_key_headers_are_refused():
    headers = tuple(BASE_HEADERS.items()) + (("sec-websocket-key", RFC_KEY),)
    assert refusal(Request("GET", "/ws", "", "HTTP/1.1", headers)).status == 400


@pytest.mark.parametrize(
    "origin,host,allowed",
    [
        (None, "chat.example:8080", True),  # non-browser client
        ("http://chat.example:8080", "chat.example:8080", True),
        ("https://chat.example:8080", "chat.example:8080", True),
        ("http://CHAT.example:8080", "chat.EXAMPLE:8080", True),
        ("http://chat.example", "chat.example", True),
        ("https://chat.example", "chat.example", True),
        ("http://chat.example:80", "chat.example", True),
        ("http://chat.example", "chat.example:80", True),
        ("https://chat.example", "chat.example:443", True),
        ("http://[::1]:8080", "[::1]:8080", True),
        ("http://chat.example", "chat.example:8080", False),
        ("http://chat.example:8080", "chat.example", False),
        ("https://chat.example", "chat.example:80", False),
        ("http://chat.example:8081", "chat.example:8080", False),
        ("http://evil.example:8080", "chat.example:8080", False),
        ("http://chat.example.evil:8080", "chat.example:8080", False),
        ("http://evil.example", "chat.example", False),
        ("null", "chat.example", False),
        ("file://chat.example", "chat.example", False),
        ("ftp://chat.example:8080", "chat.example:8080", False),
        ("http://user@chat.example", "chat.example", False),
        ("http://chat.example/path", "chat.example", False),
        ("http://chat.example:notaport", "chat.example", False),
        ("", "chat.example", False),
        ("http://chat.example:8080", "chat.example:notaport", False),  # a Host that names no port
        ("http://chat.example:8080", "chat.example:99999", False),
    ],
)
def test_same_origin_policy_by_default(origin, host, allowed):
    request = make_request(origin=origin, host=host)
    if allowed:
        assert accept_handshake(request).startswith(b"HTTP/1.1 101 ")
    else:
        error = refusal(request)
        assert error.status == 403
        assert error.to_response().startswith(b"HTTP/1.1 403 ")


@pytest.mark.parametrize(
    "origin,allowed",
    [
        ("https://app.example", True),
        ("HTTPS://APP.example:443", True),
        ("https://app.example/", True),
        ("http://app.example", False),
        ("https://app.example:8443", False),
        ("https://other.example", False),
        ("http://localhost:3000", True),
        ("null", False),
        (None, True),
    ],
)
def test_explicit_origin_set(origin, allowed):
    request = make_request(origin=origin, host="gateway.internal")
    origins = {"https://app.example", "http://localhost:3000"}
    if allowed:
        accept_handshake(request, allowed_origins=origins)
    else:
        assert refusal(request, allowed_origins=origins).status == 403


@pytest.mark.parametrize("origin,allowed", [
    ("http://chat.example:8080", True),  # the page's own
    ("https://app.example", True),
    ("http://chat.example:8081", False),
    ("http://evil.example:8080", False),
])
def test_an_origin_set_with_same_origin_too_allows_the_pages_own_as_well(origin, allowed):
    request = make_request(origin=origin, host="chat.example:8080")
    if allowed:
        assert accept_handshake(request, allowed_origins={"https://app.example"}, same_origin_too=True)
    else:
        assert refusal(request, allowed_origins={"https://app.example"}, same_origin_too=True).status == 403
    if origin == "http://chat.example:8080":  # without it, the set alone (see test_explicit_origin_set)
        assert refusal(request, allowed_origins={"https://app.example"}).status == 403


@pytest.mark.parametrize("origin", ["https://anything.example", "null", "http://evil.example:1"])
def test_wildcard_allows_any_origin(origin):
    assert accept_handshake(make_request(origin=origin), allowed_origins="*").startswith(b"HTTP/1.1 101")


def test_bare_string_for_allowed_origins_is_a_usage_error():
    with pytest.raises(ValueError):
        accept_handshake(make_request(), allowed_origins="https://app.example")


@pytest.mark.parametrize(
    "offered,supported,chosen",
    [
        (None, ["chat"], None),
        ("chat", [], None),
        ("chat, superchat", ["superchat", "chat"], "chat"),  # client preference wins
        ("superchat,chat", ["chat"], "chat"),
        ("v2.chat , v1.chat", ["v1.chat"], "v1.chat"),
        ("CHAT", ["chat"], None),  # subprotocol names are case-sensitive
        ("other", ["chat"], None),
    ],
)
def test_subprotocol_selection(offered, supported, chosen):
    request = make_request(sec_websocket_protocol=offered)
    assert select_subprotocol(request, supported) == chosen
    headers = response_headers(accept_handshake(request, subprotocols=supported))
    assert headers.get("sec-websocket-protocol") == chosen


def test_package_exports_the_public_api():
    import web.websocket as ws

    assert ws.accept_handshake is accept_handshake
    assert {"WebSocketConnection", "TextMessage", "CloseConnection", "HandshakeError"} <= set(ws.__all__)
    assert all(hasattr(ws, name) for name in ws.__all__)


def test_the_101_response_is_dated_when_given_the_time():
    response = accept_handshake(make_request(), now=784111777.0)
    assert b"\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n" in response
