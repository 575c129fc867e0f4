"""The browser gateway's sans-I/O cores against hostile bytes: a seeded fuzzer.

The HTTP request-head reader (web/http.py) answers a mutated request with a request or
an ``HttpError`` of a status its docstring lists, never anything else, and holds at most
``max_header_bytes``. The WebSocket connection (web/websocket/) never raises out of
``receive_data`` or ``events``: a broken frame fails the connection with 1002, 1007 or
1009 and a close frame in the outbox; the same bytes in any reads give the same events;
its buffers stay within a control frame's size and the message limit. A failure names its
seed.
"""

from __future__ import annotations

import random
import tracemalloc

import pytest

from mutations import HOSTILE_BYTES, chunks, mutate_bytes
from server.web import WEBCLIENT_ROOT
from web.hosts import HostPolicy
from web.http import HttpError, HttpRequestReader, Request
from web.static import is_not_modified, resolve_static
from web.websocket import (
    BinaryMessage, CloseConnection, ConnectionState, HandshakeError, Ping, Pong, TextMessage, WebSocketConnection,
    accept_handshake,
)
from web.websocket.frames import Opcode, serialize_frame

SEEDS = range(4)
# The statuses web/http.py's docstring lists for its refusals.
HTTP_STATUSES = frozenset({400, 405, 413, 414, 431, 501, 505})
MAX_HEAD = 2048

REQUESTS = (
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: Mozilla/5.0 (Jo\xc3\xa3o)\r\n\r\n",
    b"GET /chat HTTP/1.1\r\nHost: chat.escola.br\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Origin: http://chat.escola.br\r\n\r\n",
    b"HEAD /app.js?v=3 HTTP/1.0\r\nContent-Length: 0\r\nIf-None-Match: W/\"1f-2a\", \"x\"\r\n\r\n",
    b"GET /i18n/pt_BR.json HTTP/1.1\r\nHost: escola:8080\r\n\r\n",
    b"GET /%2e%2e/%c3%a7/style.css HTTP/1.1\r\nHost: 10.0.0.7\r\n\r\n",
    b"GET http://[::1]:8080/index.html HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n",
)


def _read_all(pieces, seed: int) -> tuple[list[Request], HttpError | None]:
    reader = HttpRequestReader(max_header_bytes=MAX_HEAD)
    requests: list[Request] = []
    try:
        for piece in pieces:
            reader.receive_data(piece)
            while (request := reader.next_request()) is not None:
                requests.append(request)
            assert len(reader._buffer) <= MAX_HEAD, f"seed {seed}: the head buffer passed its limit"
        reader.receive_data(b"")
        while (request := reader.next_request()) is not None:
            requests.append(request)
    except HttpError as error:
        assert error.status in HTTP_STATUSES, (seed, error)
        assert error.to_response().startswith(b"HTTP/1.1 %d " % error.status)
        return requests, error
    except Exception as exc:
        raise AssertionError(f"seed {seed}: the reader raised {exc!r} for {b''.join(pieces)[:300]!r}") from exc
    return requests, None


@pytest.mark.parametrize("seed", SEEDS)
def test_a_mutated_request_head_is_a_request_or_a_listed_http_error_in_any_reads(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        data = b"".join(rng.choice(REQUESTS) for _ in range(rng.randint(1, 3)))
        data = mutate_bytes(data, rng, rng.randint(1, 6))
        whole = _read_all([data], seed)
        split = _read_all(list(chunks(data, rng)), seed)
        # (The status may differ: a head that is too long and has a bare LF is refused for
        # whichever the reads show first.)
        assert (whole[0], whole[1] is None) == (split[0], split[1] is None), f"seed {seed}: the reads changed the outcome"
        for request in whole[0]:
            _check_handshake(request, seed)
            _check_serving(request, seed)


def _check_serving(request: Request, seed: int) -> None:
    """What the gateway does with a request for a file never raises: the Host check, the
    file (none, or one inside the web client's folder) and the If-None-Match test."""
    try:
        HostPolicy.for_server(("chat.escola.br",), "0.0.0.0", "escola").allows(request.header("host"))
        path = resolve_static(WEBCLIENT_ROOT, request.target)
        assert path is None or path.is_relative_to(WEBCLIENT_ROOT.resolve()), (seed, request.target, path)
        is_not_modified(request.header("if-none-match"), '"1f-2a"')
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(f"seed {seed}: serving raised {exc!r} for {request!r}") from exc


def _check_handshake(request: Request, seed: int) -> None:
    """A mutated upgrade request is accepted (a 101) or refused with a HandshakeError."""
    for allowed in (None, "*", {"http://chat.escola.br"}):
        try:
            assert accept_handshake(request, allowed_origins=allowed, subprotocols=("chat",)).startswith(b"HTTP/1.1 101 ")
        except HandshakeError as error:
            assert error.status in HTTP_STATUSES | {403, 426}, (seed, error)
        except Exception as exc:
            raise AssertionError(f"seed {seed}: the handshake raised {exc!r} for {request!r}") from exc


# --- Findings, each seen failing before its fix ---------------------------------------------


def test_an_absolute_target_with_a_broken_ipv6_host_is_a_400() -> None:
    # Found by the fuzzer: urlsplit() raised ValueError ("Invalid IPv6 URL") out of the
    # reader, which the gateway logged as a crash and closed without an answer.
    reader = HttpRequestReader()
    reader.receive_data(b"GET http://[::1/ HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(HttpError) as caught:
        reader.next_request()
    assert caught.value.status == 400


def test_a_content_length_of_thousands_of_digits_is_a_400() -> None:
    # Found by the fuzzer: int() of more than 4,300 digits raises ValueError (CPython's
    # limit on integer strings), out of the reader.
    reader = HttpRequestReader()
    reader.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
    with pytest.raises(HttpError) as caught:
        reader.next_request()
    assert caught.value.status in (400, 413)


# --- WebSocket ----------------------------------------------------------------------------------

MASK = b"\x0f\xa1\x33\x7e"
MAX_MESSAGE = 4096
TEXT = "olá João, ação 🌍"


def _client_frames(rng: random.Random) -> bytes:
    """A browser's frames: texts (some fragmented), a binary, pings, pongs, maybe a close."""
    frames = []
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(5)
        if kind == 0:
            data = (TEXT * rng.randint(1, 30)).encode()[:MAX_MESSAGE]
            cut = rng.randint(0, len(data))
            frames.append(serialize_frame(Opcode.TEXT, data[:cut], fin=False, mask=MASK))
            frames.append(serialize_frame(Opcode.CONTINUATION, data[cut:], fin=True, mask=MASK))
        elif kind == 1:
            frames.append(serialize_frame(Opcode.TEXT, b'{"type":"ping","token":"t"}', mask=MASK))
        elif kind == 2:
            frames.append(serialize_frame(Opcode.BINARY, bytes(range(256)), mask=MASK))
        elif kind == 3:
            frames.append(serialize_frame(Opcode.PING, b"p" * rng.randint(0, 125), mask=MASK))
        else:
            frames.append(serialize_frame(Opcode.PONG, b"", mask=MASK))
    if rng.random() < 0.3:
        frames.append(serialize_frame(Opcode.CLOSE, b"\x03\xe8bye", mask=MASK))
    return b"".join(frames)


def _events(pieces, seed: int) -> tuple[list, WebSocketConnection]:
    conn = WebSocketConnection(max_message_bytes=MAX_MESSAGE)
    events: list = []
    try:
        for piece in pieces:
            conn.receive_data(piece)
            events += conn.events()
            if conn.state is not ConnectionState.CLOSED:
                # Between reads: at most a frame header and a control frame's payload.
                assert len(conn._parser._buffer) <= 14 + 125, seed
                assert conn._message_size <= MAX_MESSAGE and len(conn._data) <= MAX_MESSAGE, seed
        conn.receive_data(b"")
        events += conn.events()
    except Exception as exc:
        raise AssertionError(f"seed {seed}: the connection raised {exc!r}") from exc
    return events, conn


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_websocket_frames_give_events_or_a_close_with_the_right_code_in_any_reads(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(300):
        data = mutate_bytes(_client_frames(rng), rng, rng.randint(1, 4))
        if rng.random() < 0.1:
            data += rng.choice(HOSTILE_BYTES)
        whole, conn = _events([data], seed)
        split, _ = _events(list(chunks(data, rng)), seed)
        assert split == whole, f"seed {seed}: the reads changed the events"
        assert conn.state is ConnectionState.CLOSED
        assert all(isinstance(e, (TextMessage, BinaryMessage, Ping, Pong, CloseConnection)) for e in whole), seed
        assert [type(e) for e in whole].count(CloseConnection) == 1 and type(whole[-1]) is CloseConnection, seed
        close = whole[-1]
        if conn.failed:
            assert close.code in (1002, 1007, 1009), (seed, close)
            # The close frame we sent carries that code.
            out = conn.data_to_send()
            assert out[-(len(close.reason.encode()) + 4):][:1] == b"\x88", seed
            assert int.from_bytes(out[-(len(close.reason.encode()) + 2):][:2], "big") == close.code, seed
        for event in whole:
            if type(event) is TextMessage:
                event.text.encode("utf-8")  # no surrogate got through


@pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY], ids=["text", "binary"])
def test_a_message_in_one_byte_fragments_holds_about_its_size_not_an_object_a_byte(opcode: Opcode) -> None:
    # Found while fuzzing: each fragment's payload was kept as an object of its own until
    # the message ended, about 43 bytes of memory for each byte of a binary message sent a
    # byte a frame (2.8 MB held for the gateway's 64 KB limit, per connection), 9 for text.
    size = 1 << 13
    conn = WebSocketConnection(max_message_bytes=size)
    frames = [serialize_frame(opcode, b"a", fin=False, mask=MASK)]
    frames += [serialize_frame(Opcode.CONTINUATION, b"b", fin=False, mask=MASK) for _ in range(size - 2)]
    data = b"".join(frames)
    tracemalloc.start()
    try:
        for start in range(0, len(data), 1 << 14):
            conn.receive_data(data[start:start + (1 << 14)])
            assert list(conn.events()) == []
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 2 * size, f"{held} bytes held for a message of {size - 1} bytes so far"
    conn.receive_data(serialize_frame(Opcode.CONTINUATION, b"c", fin=True, mask=MASK))
    message = list(conn.events())[0]
    assert (message.text if opcode is Opcode.TEXT else message.data.decode()) == "a" + "b" * (size - 2) + "c"
