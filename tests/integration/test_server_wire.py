"""The server against hostile wire input (issue 8, items 5, 10, 11, 12): fields out of
range, floods of bad frames, frames left unfinished, and answers too big for one frame.

A real server on 127.0.0.1 (port 0) in a thread, raw frames from ``tests.wire.WireClient``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

import const
from client.library import ChatClient
from protocol import (
    ErrorCode, ErrorReply, HistoryPage, HistoryRequest, Pong, UserJoined, UserLeft, UserList, WhoRequest,
)
from protocol import codec

NOTICES = (UserJoined, UserLeft)
from server import ServerConfig, ServerThread
from waits import wait_until
from wire import WireClient

TWO_TO_63 = 2 ** 63


def _no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert bad == [], [r.getMessage() for r in bad]
    assert "Traceback" not in caplog.text


# --- Item 5: every field in range -----------------------------------------------------------


def test_integers_of_2_63_get_bad_field_and_log_no_traceback(server: ServerThread, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with WireClient.login(server.host, server.port, "Alice") as alice:
        alice.send_raw(b'{"type":"history","id":"h1","with":"Bob","before":%d}\n' % TWO_TO_63)
        error = alice.expect_error(ErrorCode.BAD_FIELD, skip=NOTICES)
        assert error.request_id == "h1" and "before" in error.message
        alice.send_raw(b'{"type":"receipt","msg_id":%d}\n' % TWO_TO_63)
        error = alice.expect_error(ErrorCode.BAD_FIELD, skip=NOTICES)
        assert error.request_id is None and "msg_id" in error.message
        # The session goes on, and answers the largest value in range.
        alice.send(HistoryRequest("h2", "Bob", 10, 2 ** 53 - 1))
        assert alice.expect(HistoryPage, skip=NOTICES).request_id == "h2"
    _no_tracebacks(caplog)


# --- Item 11: an unfinished frame is bounded in time --------------------------------------------


def _wait_closed(client: WireClient, timeout: float) -> list:
    """Every event until the server closes the stream; AssertionError if it does not."""
    deadline = time.monotonic() + timeout
    while not client.closed:
        assert time.monotonic() < deadline, f"still open after {timeout} s; got {list(client.received)}"
        client._fill(min(deadline, time.monotonic() + 0.1))
    events = list(client.received)
    client.received.clear()
    return events


def test_a_frame_trickled_a_byte_at_a_time_is_cut_off_with_frame_timeout() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, frame_timeout=0.6, heartbeat_interval=5.0,
                          heartbeat_timeout=10.0)
    with ServerThread(config) as srv, WireClient.login(srv.host, srv.port, "Alice") as alice:
        started = time.monotonic()
        alice.send_raw(b'{"type":"say","id":"s1","text":"')
        closed_at = None
        while time.monotonic() - started < 5.0 and not alice.closed:
            try:
                alice.send_raw(b"x")  # any byte is life: the heartbeat alone would never end this
            except OSError:
                break
            alice._fill(time.monotonic() + 0.1)
        events = _wait_closed(alice, 5.0)
        closed_at = time.monotonic()
        errors = [e for e in events if isinstance(e, ErrorReply)]
        assert [e.code for e in errors] == [ErrorCode.FRAME_TIMEOUT], events
        assert "0.6 s" in errors[0].message
        assert 0.6 <= closed_at - started < 3.0


def test_a_slow_client_that_finishes_its_frames_is_not_cut_off() -> None:
    config = ServerConfig(host="127.0.0.1", port=0, frame_timeout=0.6)
    with ServerThread(config) as srv, WireClient.login(srv.host, srv.port, "Alice") as alice:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # one frame each 0.3 s, in two halves
            alice.send_raw(b'{"type":"ping",')
            time.sleep(0.15)
            alice.send_raw(b'"token":"t"}\n')
            alice.expect(Pong, skip=NOTICES)
            time.sleep(0.15)
        assert not alice.closed


# --- Item 10: logs that cannot flood ------------------------------------------------------------


def _flood(client: WireClient, frame: bytes, count: int, batch: int = 250) -> list[str]:
    """Send ``frame`` ``count`` times, each followed by a ping (so the run of malformed
    frames never reaches MAX_BAD_FRAMES), reading the answers batch by batch; returns the
    codes of the error frames that came back."""
    errors: list[str] = []
    sent = 0
    while sent < count:
        n = min(batch, count - sent)
        client.send_raw(b"".join(frame + b'\n{"type":"ping","token":"p%d"}\n' % (sent + i) for i in range(n)))
        sent += n
        last = f"p{sent - 1}"
        while True:
            event = client.next(10.0)
            if isinstance(event, ErrorReply):
                errors.append(event.code)
            elif isinstance(event, Pong) and event.token == last:
                break
    return errors


def test_5000_bad_frames_make_a_bounded_number_of_log_lines(caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="chat")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        with WireClient.login(srv.host, srv.port, "Alice") as alice:
            assert len(_flood(alice, b"{nonsense", 5000)) == 5000  # every one is still answered
            # Refused logins and rate limits are bounded the same way.
            with WireClient(srv.host, srv.port) as mallory:
                told = _flood(mallory, b'{"type":"hello","id":"h","name":"no spaces!","version":1}', 300)
            # Every hello is answered: refused, or, past the connection's own burst, rate
            # limited (after a refused hello a connection's next ones are held to its own
            # rate, not its address's: server/relay.py, _hello_refused).
            refused, held = told.count(ErrorCode.INVALID_NAME), told.count(ErrorCode.RATE_LIMITED)
            assert len(told) == refused + held == 300 and refused >= 60, told
            limited = len(_flood(alice, b'{"type":"who","id":"w"}', 500))
            assert limited >= 300  # past the burst of 60, at 30 per second
        during = [r.getMessage() for r in caplog.records]
    after = [r.getMessage() for r in caplog.records]
    assert sum("bad frame" in line for line in during) == 1
    assert sum("login refused" in line for line in during) == 1
    assert sum("rate limited" in line for line in during) == 1
    assert len(during) < 30, during
    # Stopping the server sums up what was held back: counted, not lost.
    summaries = [line for line in after if " more " in line]
    assert "4999 more malformed frames from 127.0.0.1" in "\n".join(summaries)
    assert f"{refused - 1} more refused logins from 127.0.0.1" in "\n".join(summaries)
    assert f"{held + limited - 1} more rate-limited requests from 127.0.0.1" in "\n".join(summaries)


# --- Item 12: every server frame within the limit -----------------------------------------------


def test_20_messages_of_4000_characters_come_back_in_pages_within_the_limit(server: ServerThread, clients) -> None:
    alice = ChatClient("Alice", server.host, server.port)
    bob = ChatClient("Bob", server.host, server.port)
    clients += [alice, bob]
    alice.connect(timeout=5.0)
    bob.connect(timeout=5.0)
    texts = [f"{n:02d}" + "x" * (const.MAX_TEXT_CHARS - 2) for n in range(20)]
    sent = [alice.send_direct("Bob", text) for text in texts]
    assert all(message.wait(("sent", "queued", "delivered"), 5.0) for message in sent)
    # Page by page: each fits in one frame, and the cursors lead through all of them.
    pages, before = [], None
    while True:
        page = alice.history_page("Bob", 50, before, timeout=5.0)
        assert len(codec.encode(page)) <= const.MAX_FRAME_BYTES
        pages.append(page)
        if page.before is None:
            break
        before = page.before
    assert len(pages) >= 2
    assert [m.text for page in reversed(pages) for m in page.messages] == texts
    # And the library follows the pages by itself.
    assert [m.text for m in alice.history("Bob", 20, timeout=10.0)] == texts


def test_who_with_2000_users_online_is_complete_through_pages(server: ServerThread, clients) -> None:
    # 2,000 users put straight in the registry (stand-ins for sessions: who only reads
    # names and times), with names of the longest kind, so that each page is full.
    names = [f"user{n:04d}" + "x" * (const.MAX_NAME_LENGTH - 8) for n in range(2000)]

    def populate() -> None:
        for n, name in enumerate(names):
            server.server.relay.registry.register(name, "127.0.0.1", 10000 + n, 1763712000.0 + n, object())

    server.call(populate)
    with WireClient.login(server.host, server.port, "Wanda") as wire:
        wire.send(WhoRequest("w1"))
        first = wire.expect(UserList, skip=NOTICES)
        assert first.next is not None and 0 < len(first.users) < 2001
        assert len(codec.encode(first)) <= const.MAX_FRAME_BYTES
        wire.send(WhoRequest("w2", first.next))
        second = wire.expect(UserList, skip=NOTICES)
        assert second.users[0].name > first.users[-1].name  # after the cursor, nothing twice
    alice = ChatClient("Alice", server.host, server.port)
    clients.append(alice)
    alice.connect(timeout=5.0)
    users = alice.who(timeout=10.0)
    assert [u.name for u in users] == sorted(names + ["Alice"], key=str.lower)


def test_a_websocket_message_trickled_a_fragment_at_a_time_is_cut_off_too() -> None:
    """Over WebSocket a chat frame is a whole message, so what a browser could keep open
    is a fragmented message: the same bound applies."""
    from cdp import TEXT, WebSocketClient, WebSocketClosed
    from server.outbox import WriteBatcher
    from server.web import start_web_server, stop_web_server

    config = ServerConfig(host="127.0.0.1", port=0, frame_timeout=0.6, heartbeat_interval=5.0,
                          heartbeat_timeout=10.0)
    with ServerThread(config) as srv:
        async def start():
            return await start_web_server(srv.server.relay, "127.0.0.1", 0,
                                          batcher=WriteBatcher(asyncio.get_running_loop()))
        web = srv.run(start())
        try:
            port = web.sockets[0].getsockname()[1]
            ws = WebSocketClient(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", timeout=5.0)
            try:
                ws.send_text('{"type":"hello","id":"h","name":"Alice","version":1}')
                assert ws.recv_json()["type"] == "welcome"
                started = time.monotonic()
                ws.send_frame(TEXT, b'{"type":"say","id":"s1","text":"', fin=False)
                frames = []
                with pytest.raises((WebSocketClosed, EOFError, OSError)):
                    while time.monotonic() - started < 5.0:
                        ws.send_frame(0x0, b"x", fin=False)  # a continuation frame: any byte is life
                        try:
                            frames.append(json.loads(ws.recv_text(0.1)))
                        except TimeoutError:
                            pass
                errors = [f for f in frames if f["type"] == "error"]
                assert [e["code"] for e in errors] == ["frame_timeout"], frames
                assert 0.6 <= time.monotonic() - started < 3.0
            finally:
                ws.close()
        finally:
            srv.run(stop_web_server(web))


def test_a_websocket_cut_off_with_frame_timeout_is_closed_1008_and_logged_once(caplog) -> None:
    """A frame left unfinished is a rule the client did not keep, as a silence or an
    unread queue is: close code 1008 (policy violation), not 1000 (a normal closure)."""
    from cdp import TEXT, WebSocketClient, WebSocketClosed

    caplog.set_level(logging.INFO, logger="chat.server")
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, frame_timeout=0.3, heartbeat_interval=5.0,
                          heartbeat_timeout=10.0)
    with ServerThread(config) as srv:
        port = srv.server.web_address[1]
        ws = WebSocketClient(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", timeout=5.0)
        try:
            ws.send_text('{"type":"hello","id":"h","name":"Alice","version":1}')
            assert ws.recv_json()["type"] == "welcome"
            ws.send_frame(TEXT, b'{"type":"say","id":"s1","text":"', fin=False)
            frames, code = [], None
            deadline = time.monotonic() + 5.0
            while code is None and time.monotonic() < deadline:
                try:
                    frames.append(json.loads(ws.recv_text(0.5)))
                except WebSocketClosed as closed:
                    code = closed.code
                except TimeoutError:
                    pass
            assert [f.get("code") for f in frames if f["type"] == "error"] == ["frame_timeout"], frames
            assert code == 1008
        finally:
            ws.close()
        wait_until(lambda: srv.call(lambda: not srv.server.relay.sessions))
        lines = [r.getMessage() for r in caplog.records
                 if r.name == "chat.server" and "Alice" in r.getMessage() and not r.getMessage().startswith("login ")]
        assert len(lines) == 1 and "frame timeout" in lines[0], lines


def test_refused_upgrades_and_bad_http_requests_are_logged_once_then_counted(caplog) -> None:
    import socket

    from server.outbox import WriteBatcher
    from server.web import start_web_server, stop_web_server

    caplog.set_level(logging.DEBUG, logger="chat")
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        async def start():
            return await start_web_server(srv.server.relay, "127.0.0.1", 0,
                                          batcher=WriteBatcher(asyncio.get_running_loop()))
        web = srv.run(start())
        port = web.sockets[0].getsockname()[1]
        requests = [b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Origin: http://evil.example\r\n\r\n", b"NONSENSE\r\n\r\n",
                    b"GET / HTTP/1.1\r\nHost: rebound.example\r\n\r\n"]
        try:
            for request in requests:
                for _ in range(40):
                    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as sock:
                        sock.sendall(request)
                        answer = sock.recv(4096)
                        assert answer.startswith(b"HTTP/1.1 4"), answer
        finally:
            srv.run(stop_web_server(web))
        during = [r.getMessage() for r in caplog.records]
    assert sum("upgrade refused" in line for line in during) == 1
    assert sum(": 400 " in line for line in during) == 1
    assert sum("for Host 'rebound.example'" in line for line in during) == 1
    assert sum(line.endswith("421 for Host 'rebound.example': not one of this server's names (chatserver.py "
                             "--web-host-name NAME adds one)") for line in during) == 1
    after = "\n".join(r.getMessage() for r in caplog.records)
    assert "39 more refused upgrades from 127.0.0.1" in after
    assert "39 more refused HTTP requests from 127.0.0.1" in after
    assert "39 more refused host names from 127.0.0.1" in after
