"""Byte-driven tests for web.http (request-head reader and response renderer)."""

from __future__ import annotations

import pytest

from web.http import HttpError, HttpRequestReader, Request, render_response

SIMPLE = b"GET /index.html?a=1&b=2 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"


def read_one(data: bytes, **kwargs) -> Request | None:
    reader = HttpRequestReader(**kwargs)
    reader.receive_data(data)
    return reader.next_request()


def error_for(data: bytes, **kwargs) -> HttpError:
    with pytest.raises(HttpError) as info:
        read_one(data, **kwargs)
    return info.value


def test_simple_request():
    request = read_one(SIMPLE)
    assert request == Request(
        method="GET",
        target="/index.html",
        query="a=1&b=2",
        version="HTTP/1.1",
        headers=(("host", "example.com"), ("accept", "*/*")),
    )


def test_request_is_frozen():
    request = read_one(SIMPLE)
    with pytest.raises(AttributeError):
        request.method = "POST"  # type: ignore[misc]


def test_header_lookup_is_case_insensitive_and_joins_repeats():
    request = read_one(
        b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing:  a \r\nx-thing:b\r\nCookie: c=1\r\nX-THING: \t c\t\r\n\r\n"
    )
    assert request.header("X-Thing") == "a, b, c"
    assert request.header("cookie") == "c=1"
    assert request.header("missing") is None
    assert request.header_tokens("x-thing") == ["a", "b", "c"]


def test_empty_header_value_is_kept():
    request = read_one(b"GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n\r\n")
    assert request.header("x-empty") == ""


def test_one_byte_at_a_time_returns_none_until_complete():
    reader = HttpRequestReader()
    for byte in SIMPLE[:-1]:
        reader.receive_data(bytes([byte]))
        assert reader.next_request() is None
    reader.receive_data(SIMPLE[-1:])
    assert reader.next_request().target == "/index.html"
    assert reader.next_request() is None


@pytest.mark.parametrize("cut", range(1, len(SIMPLE)))
def test_every_two_part_split(cut):
    reader = HttpRequestReader()
    reader.receive_data(SIMPLE[:cut])
    assert reader.next_request() is None
    reader.receive_data(SIMPLE[cut:])
    assert reader.next_request() == read_one(SIMPLE)


def test_pipelined_requests():
    reader = HttpRequestReader()
    reader.receive_data(SIMPLE + b"HEAD /b HTTP/1.1\r\nHost: example.com\r\n\r\nGET /c")
    assert reader.next_request().target == "/index.html"
    second = reader.next_request()
    assert (second.method, second.target, second.query) == ("HEAD", "/b", "")
    assert reader.next_request() is None
    assert reader.trailing_data == b"GET /c"


def test_trailing_data_after_upgrade_head():
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58\n\r\n"
    reader = HttpRequestReader()
    reader.receive_data(SIMPLE + frame)
    assert reader.next_request() is not None
    assert reader.trailing_data == frame


def test_leading_empty_lines_are_ignored():
    assert read_one(b"\r\n\r\n" + SIMPLE).target == "/index.html"


def test_http_1_0_needs_no_host():
    request = read_one(b"GET / HTTP/1.0\r\n\r\n")
    assert (request.version, request.headers) == ("HTTP/1.0", ())


def test_absolute_form_target():
    request = read_one(b"GET http://example.com/a/b?x=y HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert (request.target, request.query) == ("/a/b", "x=y")


def test_the_host_of_an_absolute_form_target_overrides_the_host_header():
    # RFC 9112 3.2.2: the server MUST ignore Host and use the target's host information.
    request = read_one(b"GET http://evil.example:81/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (request.host, request.target) == ("evil.example:81", "/a")
    assert read_one(b"GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").host == "127.0.0.1"
    assert read_one(b"GET / HTTP/1.0\r\n\r\n").host is None
    for target in (b"http://user@127.0.0.1/", b"http:///a", b"http://a b/"):
        assert error_for(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status == 400, target


def test_target_stays_percent_encoded():
    assert read_one(b"GET /a%20b/%2e%2e HTTP/1.1\r\nHost: h\r\n\r\n").target == "/a%20b/%2e%2e"


@pytest.mark.parametrize(
    "head,keep_alive",
    [
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", True),
    ],
)
def test_keep_alive(head, keep_alive):
    assert read_one(head).keep_alive is keep_alive


@pytest.mark.parametrize(
    "data,status",
    [
        pytest.param(b"GET /\r\nHost: h\r\n\r\n", 400, id="no version"),
        pytest.param(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, id="double space"),
        pytest.param(b"GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, id="trailing space"),
        pytest.param(b"GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400, id="junk version"),
        pytest.param(b"GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400, id="bad protocol"),
        pytest.param(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, id="http/2.0"),
        pytest.param(b"GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505, id="http/0.9"),
        pytest.param(b"GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", 400, id="relative target"),
        pytest.param(b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, id="asterisk target"),
        pytest.param(b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, id="fragment"),
        pytest.param(b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n", 400, id="control char in target"),
        pytest.param(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400, id="non-ascii target"),
        pytest.param(b"GET / HTTP/1.1\r\nHost h\r\n\r\n", 400, id="header without colon"),
        pytest.param(b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, id="space before colon"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  folded\r\n\r\n", 400, id="obs-fold"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nX(A): 1\r\n\r\n", 400, id="bad header name"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", 400, id="NUL in value"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400, id="lone CR in value"),
        pytest.param(b"GET / HTTP/1.1\nHost: h\n\n", 400, id="bare LF"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400, id="bare LF in header"),
        pytest.param(b"GET / HTTP/1.1\r\n\r\n", 400, id="missing Host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, id="two Host headers"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, id="space in Host"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, id="slash in Host"),
        pytest.param(b"POST / HTTP/1.1\r\nHost: h\r\n\r\n", 405, id="POST"),
        pytest.param(b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", 405, id="DELETE"),
        pytest.param(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", 501, id="unknown method"),
        pytest.param(b"get / HTTP/1.1\r\nHost: h\r\n\r\n", 501, id="methods are case-sensitive"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", 413, id="body"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n", 400, id="bad length"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: -0\r\n\r\n", 400, id="signed length"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n", 400, id="two lengths"
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="chunked"),
    ],
)
def test_malformed_requests(data, status):
    assert error_for(data).status == status


def test_zero_content_length_is_accepted():
    assert read_one(b"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").header("content-length") == "0"


def test_method_not_allowed_lists_allowed_methods():
    error = error_for(b"PUT / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert ("Allow", "GET, HEAD") in error.headers
    assert b"\r\nAllow: GET, HEAD\r\n" in error.to_response()


def test_oversized_head_is_431_before_it_completes():
    reader = HttpRequestReader(max_header_bytes=64)
    reader.receive_data(b"GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + b"a" * 64)  # no end of head yet
    with pytest.raises(HttpError) as info:
        reader.next_request()
    assert info.value.status == 431


@pytest.mark.parametrize("complete", [False, True])
def test_a_request_line_past_the_limit_is_414_uri_too_long(complete):
    # RFC 9110 15.5.15: a target longer than the server will read is 414, not 431.
    line = b"GET /" + b"a" * 64 + b" HTTP/1.1\r\n"
    reader = HttpRequestReader(max_header_bytes=64)
    reader.receive_data(line + b"Host: h\r\n\r\n" if complete else line[:-2])
    with pytest.raises(HttpError) as info:
        reader.next_request()
    assert (info.value.status, info.value.reason) == (414, "URI Too Long")


def test_head_exactly_at_the_limit_is_accepted():
    head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    assert read_one(head, max_header_bytes=len(head)) is not None
    assert error_for(head, max_header_bytes=len(head) - 1).status == 431


def test_too_many_headers_is_431():
    head = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: y\r\n" * 10 + b"\r\n"
    assert error_for(head, max_headers=10).status == 431
    assert read_one(head, max_headers=11) is not None


@pytest.mark.timeout_seconds(10)  # a bound on the work, not a measure of speed: before, 40 s and more
def test_a_header_value_with_inner_whitespace_is_read_in_linear_time():
    # "X: a \t \t ... a": a regex of the header line with a lazy value then optional
    # whitespace tried every split of the whitespace run, O(n**2): 1.3 s of the event loop
    # (every user's) for one 16 KB head, and a keep-alive connection may send 100 of them.
    # Read in linear time, 32 such heads take milliseconds.
    value = b"a" + b" \t" * 8000 + b"a"
    head = b"GET / HTTP/1.1\r\nHost: h\r\nX: " + value + b" \r\n\r\n"
    for _ in range(32):
        request = read_one(head, max_header_bytes=len(head))
        assert request.header("x") == value.decode()


def test_errors_are_sticky():
    reader = HttpRequestReader()
    reader.receive_data(b"BAD\r\n\r\n")
    with pytest.raises(HttpError):
        reader.next_request()
    reader.receive_data(SIMPLE)
    with pytest.raises(HttpError):
        reader.next_request()


def test_eof_mid_head_is_400_and_clean_eof_is_none():
    reader = HttpRequestReader()
    reader.receive_data(b"GET / HTTP/1.1\r\nHo")
    reader.receive_data(b"")
    with pytest.raises(HttpError) as info:
        reader.next_request()
    assert info.value.status == 400
    clean = HttpRequestReader()
    clean.receive_data(SIMPLE)
    clean.receive_data(b"")
    assert clean.next_request() is not None
    assert clean.next_request() is None


@pytest.mark.parametrize("data, method", [
    pytest.param(b"G", None, id="a byte"),
    pytest.param(b"GET / HTTP/1.1\r\nHo", "GET", id="headers"),
    pytest.param(b"\r\nHEAD / HTTP/1.1\r\n", "HEAD", id="HEAD after an empty line"),
    pytest.param(SIMPLE + b"GET /app.js HTTP/1.1\r\n", "GET", id="the next of keep-alive"),
])
def test_a_request_head_not_finished_in_time_is_refused_408(data, method):
    # A slow client (or a slowloris) that began a request is told why the connection
    # closes, as one that ends its stream inside a head is (400), not met with silence.
    reader = HttpRequestReader()
    reader.receive_data(data)
    while reader.next_request() is not None:
        pass
    error = reader.time_out()
    assert (error.status, error.reason, error.method) == (408, "Request Timeout", method)
    with pytest.raises(HttpError) as sticky:
        reader.next_request()
    assert sticky.value is error


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", SIMPLE], ids=["nothing", "empty lines", "after a request"])
def test_a_connection_idle_between_requests_has_no_request_to_time_out(data):
    reader = HttpRequestReader()
    reader.receive_data(data)
    while reader.next_request() is not None:
        pass
    assert reader.time_out() is None


@pytest.mark.parametrize(
    "data, status, kwargs",
    [
        pytest.param(b"HEAD /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}, id="bad target"),
        pytest.param(b"HEAD / HTTP/1.1\r\nHost: h\r\nbad header\r\n\r\n", 400, {}, id="bad header line"),
        pytest.param(b"HEAD  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}, id="malformed request line"),
        pytest.param(b"HEAD /\r\nHost: h\r\n\r\n", 400, {}, id="no version"),
        pytest.param(b"HEAD / HTTP/2.0\r\nHost: h\r\n\r\n", 505, {}, id="version"),
        pytest.param(b"HEAD / HTTP/1.1\nHost: h\n\n", 400, {}, id="bare LF"),
        pytest.param(b"\r\nHEAD / HTTP/1.1\r\n\r\n", 400, {}, id="after an empty line, no Host"),
        pytest.param(b"HEAD / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", 413, {}, id="body"),
        pytest.param(b"HEAD /" + b"a" * 64 + b" HTTP/1.1\r\n", 414, {"max_header_bytes": 64}, id="long target"),
        pytest.param(b"HEAD / HTTP/1.1\r\nHost: h\r\nX: " + b"a" * 64, 431, {"max_header_bytes": 64}, id="long head"),
        pytest.param(SIMPLE + b"HEAD /\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, {}, id="pipelined"),
    ],
)
def test_a_refused_head_request_is_known_by_its_method_token_and_answered_without_a_body(data, status, kwargs):
    # RFC 9110 9.3.2: no content in a response to HEAD. A HEAD request that could not be
    # parsed was answered with a body: its method was not known.
    reader = HttpRequestReader(**kwargs)
    reader.receive_data(data)
    with pytest.raises(HttpError) as info:
        while reader.next_request() is not None:
            pass
    error = info.value
    assert (error.status, error.method) == (status, "HEAD")
    head, _, body = error.to_response().partition(b"\r\n\r\n")
    assert body == b"" and b"\r\nContent-Length: %d\r\n" % len(f"{status} {error.reason}\n") in head + b"\r\n"


def test_a_refused_head_request_cut_short_by_the_end_of_the_stream_is_known_too():
    reader = HttpRequestReader()
    reader.receive_data(b"HEAD / HTTP/1.1\r\nHo")
    reader.receive_data(b"")
    with pytest.raises(HttpError) as info:
        reader.next_request()
    assert (info.value.status, info.value.method) == (400, "HEAD")


@pytest.mark.parametrize("data, method", [
    pytest.param(b"\x01\x02 / HTTP/1.1\r\n\r\n", None, id="no token"),
    pytest.param(b"HEAD\r\nHost: h\r\n\r\n", None, id="no space after it"),
    pytest.param(b" HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", None, id="a space before it"),
    pytest.param(b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", "GET", id="GET"),
    pytest.param(b"BREW / HTTP/1.1\r\nHost: h\r\n\r\n", "BREW", id="unknown method"),
])
def test_a_refusal_has_its_body_unless_the_method_read_is_head(data, method):
    error = error_for(data)
    assert error.method == method
    assert error.to_response().endswith(b"\r\n\r\n%d %s\n" % (error.status, error.reason.encode()))


def test_error_response_rendering():
    response = HttpError(400, "Bad Request").to_response()
    assert response == (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Connection: close\r\nContent-Length: 16\r\n\r\n400 Bad Request\n"
    )


def test_render_response_adds_content_length():
    assert render_response(200, "OK", [("Content-Type", "text/plain")], b"hi") == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    )


def test_render_response_keeps_explicit_content_length_for_head():
    assert render_response(200, "OK", [("Content-Length", "10")], b"") == (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
    )


@pytest.mark.parametrize("status", [101, 204, 304])
def test_bodyless_statuses_get_no_content_length(status):
    assert b"Content-Length" not in render_response(status, "X", [], b"")
    with pytest.raises(ValueError):
        render_response(status, "X", [], b"body")


@pytest.mark.parametrize(
    "status,reason,headers",
    [
        (200, "OK\r\nSet-Cookie: x=1", []),
        (200, "OK", [("X-A", "a\r\nSet-Cookie: x=1")]),
        (200, "OK", [("X-A", "a\nb")]),
        (200, "OK", [("X-A", "a\x00b")]),
        (200, "OK", [("Bad Name", "v")]),
        (200, "OK", [("X-A:", "v")]),
        (200, "OK", [("X-A", "snowman \u2603")]),
        (99, "Low", []),
        (600, "High", []),
    ],
)
def test_render_response_rejects_response_splitting(status, reason, headers):
    with pytest.raises(ValueError):
        render_response(status, reason, headers, b"")


# -- Date (RFC 9110 6.6.1) -------------------------------------------------------------------

RFC_EXAMPLE_TIME = 784111777.0  # RFC 9110 5.6.7's example: Sun, 06 Nov 1994 08:49:37 GMT


def test_render_response_dates_the_response_with_the_time_given():
    assert render_response(200, "OK", [("Content-Type", "text/plain")], b"hi", now=RFC_EXAMPLE_TIME) == (
        b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 2\r\n\r\nhi"
    )


def test_date_is_imf_fixdate_whatever_the_time():
    # Two-digit day, English names, GMT: never the local zone or locale.
    assert render_response(304, "Not Modified", [], now=1767225599.9).split(b"\r\n")[1] == (
        b"Date: Wed, 31 Dec 2025 23:59:59 GMT")
    assert render_response(204, "No Content", [], now=0).split(b"\r\n")[1] == b"Date: Thu, 01 Jan 1970 00:00:00 GMT"


def test_error_responses_are_dated_too():
    response = HttpError(400, "Bad Request").to_response(now=RFC_EXAMPLE_TIME)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n")


@pytest.mark.parametrize("status", [100, 599])
def test_render_response_takes_every_status_from_100_to_599(status):
    assert render_response(status, "X", []).startswith(f"HTTP/1.1 {status} X\r\n".encode())


@pytest.mark.parametrize("status", [99, 600])
def test_render_response_refuses_a_status_outside_100_to_599(status):
    with pytest.raises(ValueError):
        render_response(status, "X", [])
