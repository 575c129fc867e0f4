"""An honest client's burst of history requests (server/intake.py): 25 pages of a long
conversation, about 54 KB each, asked in one write, are all answered to a client that reads
them as they come, and it stays connected. Before the gate, the store's answers came back
in one loop turn, 1.3 MB queued at once, past the 1 MiB hard mark: one page, then EOF."""

from __future__ import annotations

import json
import socket
import time

from cdp import WebSocketClient
from protocol import (Accepted, Hello, HistoryPage, HistoryRequest, JoinRoom, SincePage, SinceRequest, Welcome, LookupRequest, LookupResult, Ping, Queued,
                      RoomInfo, RoomNotice, RoomPost, SendDirect, SendToRoom, UserJoined, UserLeft)
from server import ServerThread
from servers import server_config
from web.websocket.frames import Opcode, serialize_frame
from wire import WireClient

LIMIT = 20.0
PAGES = 25
TEXT_CHARS = 3_900
MESSAGES = 14  # a page of about 55 KB, under the 64 KiB frame


def _config(**overrides: object):
    # The text Alice sends to fill the conversation would pass the byte rate limit.
    return server_config(bytes_per_connection=1e9, bytes_burst_per_connection=1e9, **overrides)


def _fill_conversation(sender: WireClient, to: str) -> None:
    for i in range(MESSAGES):
        sender.send(SendDirect(f"m{i}", to, f"{i:04d}" + "x" * (TEXT_CHARS - 4)))
    accepted = 0
    while accepted < MESSAGES:
        accepted += isinstance(sender.next(LIMIT), (Accepted, Queued))


def _ask_in_one_write_and_read_every_page(client: WireClient, peer: str, skip: tuple = ()) -> None:
    """Send PAGES history requests for ``peer`` in one write (one read on the server), read
    the answers as they come: every page, whole, in order; then the client is still
    connected and answered."""
    client.send_raw(b"".join(client.conn.send(HistoryRequest(f"h{i}", peer)) for i in range(PAGES)))
    pages: list[HistoryPage] = []
    deadline = time.monotonic() + LIMIT
    while len(pages) < PAGES:
        event = client.next(max(0.001, deadline - time.monotonic()))
        if isinstance(event, skip):
            continue
        assert isinstance(event, HistoryPage), f"after {len(pages)} pages: {event!r}"
        pages.append(event)
    assert [p.request_id for p in pages] == [f"h{i}" for i in range(PAGES)]
    assert all(len(p.messages) == MESSAGES for p in pages)
    assert len(pages[0].messages[0].text) * MESSAGES > 50_000  # pages that big
    # A person's name (a room's in a whois is invalid_name: PROTOCOL.md "Names").
    client.send(LookupRequest("w", peer.lstrip("#")))
    assert client.expect(LookupResult, LIMIT, skip=skip).request_id == "w"


def test_a_burst_of_history_requests_is_all_answered_to_a_client_that_reads():
    with ServerThread(_config()) as server:
        with WireClient.login(server.host, server.port, "Bob"), \
                WireClient.login(server.host, server.port, "Alice") as alice:
            _fill_conversation(alice, "Bob")
            _ask_in_one_write_and_read_every_page(alice, "Bob")
            assert server.call(lambda: server.server.relay.intake.in_flight(
                next(s for s in server.server.relay.sessions if s.name == "Alice"))) == 0


def test_a_burst_of_history_requests_over_websocket_is_all_answered():
    with ServerThread(_config(web_port=0)) as server:
        port = server.server.web_address[1]
        ws = WebSocketClient(f"ws://127.0.0.1:{port}/ws", origin=f"http://127.0.0.1:{port}", timeout=LIMIT)
        try:
            ws.send_json({"type": "hello", "id": "h", "name": "Wendy", "version": 1})
            assert json.loads(ws.recv_text(LIMIT))["type"] == "welcome"
            with WireClient.login(server.host, server.port, "Bob") as bob:
                _fill_conversation(bob, "Wendy")
                dms = 0
                while dms < MESSAGES:
                    dms += json.loads(ws.recv_text(LIMIT))["type"] == "dm"
            frames = [serialize_frame(Opcode.TEXT, json.dumps({"type": "history", "id": f"h{i}", "with": "Bob"})
                                      .encode(), mask=b"\x12\x34\x56\x78") for i in range(PAGES)]
            ws.sock.sendall(b"".join(frames))  # one write: one read on the server
            ids = []
            deadline = time.monotonic() + LIMIT
            while len(ids) < PAGES:
                frame = json.loads(ws.recv_text(max(0.001, deadline - time.monotonic())))
                if frame["type"] in ("joined", "left", "ping", "delivered", "read"):
                    continue  # not answers (Bob's leaving, the heartbeat)
                assert frame["type"] == "history_page", f"after {len(ids)} pages: {str(frame)[:300]}"
                assert len(frame["messages"]) == MESSAGES
                ids.append(frame["id"])
            assert ids == [f"h{i}" for i in range(PAGES)]
            ws.send_json({"type": "whois", "id": "w", "name": "Wendy"})
            while (frame := json.loads(ws.recv_text(LIMIT)))["type"] != "user":
                assert frame["type"] in ("joined", "left", "ping"), frame
            assert frame["status"] == "online"
        finally:
            ws.sock.close()


def test_a_client_that_asks_for_history_and_never_reads_is_still_dropped_as_a_slow_consumer():
    # Small marks and buffers: the pages fill its queue past the soft mark at once; the
    # history requests behind them wait, and so does the reading, for a heartbeat.
    config = _config(max_outgoing_bytes=64 * 1024, socket_send_buffer=8192, heartbeat_interval=0.2,
                     heartbeat_timeout=1.0)
    with ServerThread(config) as server:
        with WireClient.login(server.host, server.port, "Bob") as bob:
            sleepy = socket.socket()
            sleepy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sleepy.connect((server.host, server.port))
            try:
                sleepy.sendall(b'{"type":"hello","id":"h","name":"Sleepy","version":1}\n')
                while bob.expect(UserJoined, LIMIT, skip=(Ping,)).name != "Sleepy":
                    pass  # Bob's own
                for i in range(10):  # the conversation: its pages are about 10 KB
                    bob.send(SendDirect(f"m{i}", "Sleepy", "y" * 1000))
                accepted = 0
                while accepted < 10:
                    accepted += isinstance(bob.next(LIMIT), Accepted)
                sleepy.sendall(b"".join(b'{"type":"history","id":"h%d","with":"Bob"}\n' % i for i in range(40)))
                started = time.monotonic()
                left = bob.expect(UserLeft, LIMIT, skip=(Ping, Queued))  # its DMs wait again
                assert (left.name, left.reason) == ("Sleepy", "slow consumer")
                assert time.monotonic() - started < LIMIT
            finally:
                sleepy.close()


def test_a_burst_of_room_history_requests_is_all_answered_too():
    with ServerThread(_config()) as server, WireClient.login(server.host, server.port, "Olga") as olga:
        olga.send(JoinRoom("j", "#burst", create=True))
        olga.expect(RoomInfo, LIMIT, skip=(UserJoined, RoomNotice))
        for i in range(MESSAGES):
            olga.send(SendToRoom(f"m{i}", "#burst", f"{i:04d}" + "x" * (TEXT_CHARS - 4)))
        accepted = 0
        while accepted < MESSAGES:
            accepted += isinstance(olga.next(LIMIT), Accepted)
        # Her own posts come too, as to every member.
        _ask_in_one_write_and_read_every_page(olga, "#burst", skip=(RoomPost, RoomNotice, Ping))


def test_a_burst_of_since_requests_is_all_answered_to_a_client_that_reads():
    """Feature since's pages go through the same gate: 25 asked in one write, each up to a
    frame of long messages, all come to a client that reads, and it stays connected."""
    import const
    with ServerThread(_config()) as server:
        with WireClient.login(server.host, server.port, "Bob"), WireClient(server.host, server.port) as alice:
            alice.send(Hello("hello", "Alice", const.PROTOCOL_VERSION, features=("since",)))
            assert alice.expect(Welcome, LIMIT).name == "Alice"
            _fill_conversation(alice, "Bob")
            alice.send_raw(b"".join(alice.conn.send(SinceRequest(f"s{i}", 0, MESSAGES)) for i in range(PAGES)))
            pages: list[SincePage] = []
            deadline = time.monotonic() + LIMIT
            while len(pages) < PAGES:
                event = alice.next(max(0.001, deadline - time.monotonic()))
                assert isinstance(event, SincePage), f"after {len(pages)} pages: {event!r}"
                pages.append(event)
            assert [p.request_id for p in pages] == [f"s{i}" for i in range(PAGES)]
            assert all(len(p.messages) == MESSAGES for p in pages)
            alice.send(LookupRequest("w", "Bob"))
            assert alice.expect(LookupResult, LIMIT).request_id == "w"
