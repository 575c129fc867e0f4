"""A real server (127.0.0.1, port 0) against a few hundred mutated frames, over TCP and
over the web gateway's WebSocket: a seeded fuzzer.

Each bad frame gets an error (or the connection is closed, saying why: an error, a bye, a
close frame with its code); the server stays up and serves a normal conversation after;
its log says "bad frame" a few times and then counts (server/logsummary.py), never a
line per frame, never a traceback. The mutations are tests/support/mutations.py's; the
unit fuzz tests (tests/unit/test_fuzz_*.py) cover the cores one by one.
"""

from __future__ import annotations

import json
import logging
import random
import re
import struct
import time

import pytest

from cdp import CLOSE, WebSocketClient, WebSocketClosed
from helpers import SAMPLES
from mutations import built_frame, chunks, field_pools, mutate_bytes, mutate_json
from protocol import (
    Accepted, DirectMessage, ErrorReply, FrameRejected, Goodbye, Hello, Ping, Pong, Queued, Role,
    SendDirect, UserJoined, UserLeft, Welcome, codec,
)
from protocol.connection import LATEST_VERSION
from protocol.events import FEATURES

from protocol.connection import _PEER_TYPES
from server import ServerConfig, ServerThread
from server.web import CHAT_MAX_MESSAGE_BYTES
from web.websocket.frames import Opcode, serialize_frame
from wire import WireClient

SEED = 20261202
BATCH = 10  # bad frames between two pings: fewer than MAX_BAD_FRAMES in a row
CLIENT_SAMPLES = [e for e in SAMPLES if e.SENDER in ("client", "both") and type(e) not in (Hello, Goodbye)]
CLIENT_TYPES = _PEER_TYPES[Role.CLIENT]
NOTICES = (UserJoined, UserLeft)


def _mutated_frames(rng: random.Random, count: int) -> list[bytes]:
    """``count`` frames (no newline) of what a client sends, mutated as JSON or as bytes."""
    frames = []
    for _ in range(count):
        sample = rng.choice(CLIENT_SAMPLES)
        if rng.random() < 0.5:
            frame = mutate_json(codec.to_dict(sample), rng)
        else:
            frame = mutate_bytes(codec.encode(sample)[:-1], rng)
        frames.append(frame.replace(b"\n", b"").replace(b"\r", b""))
    return frames


def _rejected_here(frame: bytes) -> bool:
    """True if the protocol core rejects ``frame`` whatever the session's state."""
    return not frame.isspace() and bool(frame) and type(codec.decode(frame, CLIENT_TYPES, 4000)) is FrameRejected


@pytest.fixture
def srv():
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, frame_timeout=1.0, web_hosts=("*",))
    with ServerThread(config) as server:
        yield server


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _served_after(srv: ServerThread) -> None:
    """A normal conversation still works: Zélia's message reaches Ubiratã. (Names no
    mutation pool has: a fuzzed hello that logged in as a guest keeps its name for
    const.GUEST_HOLD, and which one does moves with every field added to a frame.)"""
    with WireClient.login(srv.host, srv.port, "Zélia") as zelia, \
            WireClient.login(srv.host, srv.port, "Ubiratã") as ubirata:
        zelia.send(SendDirect("after-1", "Ubiratã", "olá Ubiratã, ação"))
        assert zelia.expect((Accepted, Queued), skip=(Pong, *NOTICES)).request_id == "after-1"
        assert ubirata.expect(DirectMessage, skip=NOTICES).text == "olá Ubiratã, ação"


def _until_pong(client: WireClient, token: str) -> tuple[list, bool]:
    """The events up to the pong ``token``; (events, True) if the server closed first."""
    events = []
    deadline = time.monotonic() + 10
    while True:
        while client.received:
            event = client.received.popleft()
            events.append(event)
            if type(event) is Pong and event.token == token:  # (its `now` is the server's time)
                return events, False
        if client.closed:
            return events, True
        assert time.monotonic() < deadline, f"no pong {token} and no close; got {events}"
        client._fill(min(deadline, time.monotonic() + 0.2))


def test_a_few_hundred_mutated_frames_over_tcp_get_errors_and_the_server_carries_on(srv, caplog) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED)
    sent_bad = _send_batches(srv, _mutated_frames(rng, 300), rng, "Fuzzer", SEED)
    assert sent_bad > 100, sent_bad
    _served_after(srv)
    assert _tracebacks(caplog) == []
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bad frame from")]
    assert 1 <= len(lines) <= 3, lines
    srv.stop()  # (the fixture's stop then does nothing) the summary of the interval is logged
    summaries = [m for r in caplog.records if (m := re.fullmatch(r"(\d+) more malformed frames from 127\.0\.0\.1 .*",
                                                                  r.getMessage()))]
    assert sum(int(m[1]) for m in summaries) + len(lines) >= sent_bad, ([m[0] for m in summaries], sent_bad)


def _logged_in(srv: ServerThread, name: str) -> WireClient:
    """A raw client logged in as ``name`` with every feature, so that every handler can be
    reached (an edit, a read mark, typing, since...)."""
    client = WireClient(srv.host, srv.port)
    client.send(Hello("hello", name, LATEST_VERSION, features=FEATURES))
    client.expect(Welcome)
    return client


def _send_batches(srv: ServerThread, frames: list[bytes], rng: random.Random, name: str | None, seed: int) -> int:
    """Send ``frames`` as ``name`` (None: before any login) over TCP, BATCH at a time, each
    batch followed by a ping whose pong says the server read it; check that every frame the
    protocol core rejects got an error, and that a close came with a reason (then connect
    again). Returns how many frames the core rejects."""
    connect = (lambda: WireClient(srv.host, srv.port)) if name is None else (lambda: _logged_in(srv, name))
    client = connect()
    sent_bad = 0
    try:
        for start in range(0, len(frames), BATCH):
            batch = frames[start:start + BATCH]
            token = f"p{start}"
            data = b"".join(frame.rstrip(b"\n") + b"\n" for frame in batch) + codec.encode(Ping(token))
            try:
                for piece in chunks(data, rng):
                    client.send_raw(piece)
            except OSError:
                pass  # closed by the server meanwhile (a refused login ends the connection): read why
            events, closed = _until_pong(client, token)
            errors = [e for e in events if isinstance(e, ErrorReply)]
            if closed:
                # Never in silence: an error or a bye says why (a mutated frame may be a
                # valid request that ends the session, a hello's for instance).
                assert errors or any(isinstance(e, Goodbye) for e in events), (f"seed {seed}", batch, events)
                client.close()
                client = connect()
                continue
            bad = sum(_rejected_here(frame.rstrip(b"\n")) for frame in batch)
            sent_bad += bad
            assert len(errors) >= bad, (f"seed {seed}: {bad} bad frames, {len(errors)} errors", batch, events)
    finally:
        client.close()
    return sent_bad


def test_a_few_hundred_requests_built_field_by_field_leave_no_traceback(srv, caplog) -> None:
    # Frames that mostly pass the codec, with values at the edges of what is valid (names
    # of 256 characters, 500 names, 1,000 ids, 2**53 - 1, a mute of 1e15 seconds...): the
    # relay's handlers, not the codec, meet them.
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 3)
    pools = field_pools()
    classes = [type(e) for e in CLIENT_SAMPLES]
    with WireClient.login(srv.host, srv.port, "Bob"):
        _send_batches(srv, [built_frame(rng, pools, classes) for _ in range(400)], rng, "Builder", SEED + 3)
    _served_after(srv)
    assert _tracebacks(caplog) == []


def test_a_few_hundred_mutated_hellos_get_an_error_a_welcome_or_a_close_that_says_why(srv, caplog) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 4)
    pools = field_pools()
    hello = codec.to_dict(Hello("hello", "João", 2, "senha secreta", False, None, ("rooms", "since")))
    frames = [built_frame(rng, pools, [Hello]) if rng.random() < 0.5 else mutate_json(hello, rng)
              for _ in range(200)]
    assert _send_batches(srv, frames, rng, None, SEED + 4) > 30
    _served_after(srv)
    assert _tracebacks(caplog) == []


def _web(srv: ServerThread) -> WebSocketClient:
    host, port = srv.server.web_address
    return WebSocketClient(f"ws://{host}:{port}/ws", timeout=5.0)


def _web_login(srv: ServerThread, name: str) -> WebSocketClient:
    ws = _web(srv)
    ws.send_text(codec.encode(Hello("hello", name, 2))[:-1].decode())
    assert ws.recv_json()["type"] == "welcome"
    return ws


def _web_until_pong(ws: WebSocketClient, token: str) -> tuple[list[dict], int | None]:
    """The chat frames up to the pong ``token``, and the close code if the server closed."""
    frames = []
    try:
        while True:
            frame = json.loads(ws.recv_text(5.0))
            frames.append(frame)
            if frame.get("type") == "pong" and frame.get("token") == token:  # (and `now`: the server's time)
                return frames, None
    except WebSocketClosed as closed:
        return frames, closed.code
    except (EOFError, ConnectionError):
        return frames, -1


def test_a_few_hundred_mutated_chat_frames_over_websocket_get_errors_or_a_close_with_its_code(srv, caplog) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 1)
    frames = _mutated_frames(rng, 200)
    ws = _web_login(srv, "WebFuzzer")
    closes: list[int | None] = []
    answered_bad = 0
    try:
        for index, frame in enumerate(frames):
            token = f"w{index}"
            try:
                ws.send_frame(Opcode.TEXT, frame)  # as it is: not always UTF-8
                ws.send_text(f'{{"type":"ping","token":"{token}"}}')
            except OSError:
                pass  # closed by the server meanwhile: read why
            answers, code = _web_until_pong(ws, token)
            if code is not None:
                # Invalid UTF-8 in a text message is 1007 (RFC 6455), a message over the
                # message limit (the frame limit less its newline) 1009 (PROTOCOL.md, the
                # WebSocket's limits: the "x" * 70000 value); a chat-level end says why in
                # an error or a bye before the close.
                valid_text, too_big = _utf8(frame), len(frame) > CHAT_MAX_MESSAGE_BYTES
                assert (code == 1007 and not valid_text) or (code == 1009 and too_big) \
                    or any(a.get("type") in ("error", "bye") for a in answers), \
                    (f"seed {SEED + 1}", frame[:200], len(frame), answers, code)
                closes.append(code)
                ws.close()
                ws = _web_login(srv, f"WebFuzzer{len(closes)}")  # (a guest's name is kept a while)
                continue
            if _rejected_here(frame):
                assert any(a.get("type") == "error" for a in answers), (f"seed {SEED + 1}", frame, answers)
                answered_bad += 1
    finally:
        ws.close()
    assert answered_bad > 50 and 1007 in closes, (answered_bad, closes)
    _served_after(srv)
    assert _tracebacks(caplog) == []
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("bad frame from")]
    assert 1 <= len(lines) <= 3, lines


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_mutated_websocket_framing_closes_with_the_right_code_and_the_server_carries_on(srv, caplog) -> None:
    caplog.set_level(logging.INFO)
    rng = random.Random(SEED + 2)
    mask = b"\x01\x02\x03\x04"
    hello = codec.encode(Hello("hello", "Framer", 2))[:-1]
    codes = []
    for _ in range(40):
        ws = _web(srv)
        try:
            valid = serialize_frame(Opcode.TEXT, hello, mask=mask) + serialize_frame(Opcode.PING, b"oi", mask=mask)
            try:
                ws.sock.sendall(mutate_bytes(valid, rng, rng.randint(1, 4)))
                # Then a close of ours: a server that took the garbage as a valid start must
                # still end the exchange (its close, or the frame timeout's) within seconds.
                ws.sock.sendall(serialize_frame(Opcode.CLOSE, struct.pack("!H", 1000), mask=mask))
            except OSError:
                pass  # closed by the server meanwhile: read why
            codes.append(_close_code(ws))
        finally:
            ws.close()
    # And a frame that says it is larger than any message the gateway takes.
    ws = _web(srv)
    try:
        ws.sock.sendall(bytes([0x81, 0x80 | 127]) + (1 << 40).to_bytes(8, "big") + mask)
        codes.append(_close_code(ws))
    finally:
        ws.close()
    assert set(codes) <= {1000, 1002, 1007, 1008, 1009, None}, codes
    assert {1002, 1007, 1009} <= set(codes), codes
    _served_after(srv)
    assert _tracebacks(caplog) == []


def _close_code(ws: WebSocketClient) -> int | None:
    """The code of the server's close frame (None: TCP ended without one)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            _fin, opcode, payload = ws.recv_frame(max(0.0, deadline - time.monotonic()))
        except (EOFError, ConnectionError):
            return None
        if opcode == CLOSE:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


# --- Findings, each seen failing before its fix ---------------------------------------------


def test_a_register_with_a_null_password_is_a_bad_field_not_a_crash(srv, caplog) -> None:
    # Found by the fuzzer: the codec let a null password through (a hello's may be null),
    # and the relay's password check took len() of None: a traceback in the log, no answer.
    caplog.set_level(logging.INFO)
    with WireClient.login(srv.host, srv.port, "Zé") as client:
        client.send_raw(b'{"type":"register","id":"r1","password":null}\n')
        error = client.expect_error("bad_field", skip=NOTICES)
        assert error.request_id == "r1" and "password" in error.message
    assert _tracebacks(caplog) == []
