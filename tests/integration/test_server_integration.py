"""Integration tests: the real server on 127.0.0.1 (port 0), real sockets, wire clients."""

from __future__ import annotations

import logging
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import const
from protocol import (
    Accepted,
    Delivered,
    DirectMessage,
    ErrorCode,
    ErrorReply,
    Goodbye,
    Hello,
    LookupRequest,
    LookupResult,
    Ping,
    Queued,
    Receipt,
    RoomMessage,
    SendDirect,
    SendRoom,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    WhoRequest,
)
from logins import login
from server import ServerConfig, ServerThread
from processes import stop_process
from servers import start_server_process, wait_for_listening
from wire import WireClient

ROOT = Path(__file__).resolve().parents[2]
NOTICES = (UserJoined, UserLeft)


def next_join(client: WireClient, skip_own: str, timeout: float = 10.0) -> UserJoined:
    """The next join notice, passing over the client's own (which it may receive), within
    ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    while True:
        joined = client.expect(UserJoined, timeout=max(0.001, deadline - time.monotonic()))
        if joined.name != skip_own:
            return joined


def test_two_users_chat_with_delivered_ack(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send(SendDirect("m1", "bob", "olá Bob 🌍"))
        accepted = alice.expect(Accepted, skip=NOTICES)
        dm = bob.expect(DirectMessage, skip=NOTICES)
        assert (dm.sender, dm.to, dm.text, dm.msg_id) == ("Alice", "Bob", "olá Bob 🌍", accepted.msg_id)
        bob.send(Receipt(dm.msg_id))
        delivered = alice.expect(Delivered, skip=NOTICES)
        assert (delivered.request_id, delivered.msg_id) == ("m1", accepted.msg_id)


def test_no_delivered_ack_without_the_recipients_receipt(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send(SendDirect("m1", "Bob", "are you there?"))
        alice.expect(Accepted, skip=NOTICES)
        bob.expect(DirectMessage, skip=NOTICES)  # read, but no receipt
        with pytest.raises(AssertionError, match="no event"):
            alice.expect(Delivered, timeout=0.3, skip=NOTICES)


def test_unknown_recipient_gets_an_error_ack_never_a_false_ack(server):
    with login(server, "Alice") as alice:
        alice.send(SendDirect("m1", "Zed", "hello?"))
        error = alice.expect_error(ErrorCode.UNKNOWN_RECIPIENT, skip=NOTICES)
        assert error.request_id == "m1" and "Zed" in error.message


def test_taken_name_is_refused_case_insensitively_and_first_user_undisturbed(server):
    with login(server, "Alice") as alice, WireClient(server.host, server.port) as impostor:
        impostor.send(Hello("h", "ALICE", const.PROTOCOL_VERSION))
        error = impostor.expect_error(ErrorCode.NAME_TAKEN)
        assert "in use" in error.message
        # The impostor may try another name on the same connection.
        impostor.send(Hello("h2", "Mallory", const.PROTOCOL_VERSION))
        impostor.expect(Welcome)
        impostor.send(SendDirect("m", "alice", "still there?"))
        assert alice.expect(DirectMessage, skip=NOTICES).sender == "Mallory"


@pytest.mark.parametrize("name", ["", "server", "with space", "a" * 33, "bell\x07", "Аlice"])
def test_invalid_names_are_refused(server, name):
    with WireClient(server.host, server.port) as client:
        client.send(Hello("h", name, const.PROTOCOL_VERSION))
        client.expect_error(ErrorCode.INVALID_NAME)


def test_unsupported_version_is_refused_and_closed(server):
    with WireClient(server.host, server.port) as client:
        client.send(Hello("h", "Alice", 99))
        client.expect_error(ErrorCode.UNSUPPORTED_VERSION)
        client.wait_closed()


def test_requests_before_login_are_refused(server):
    with WireClient(server.host, server.port) as client:
        client.send_raw(b'{"type":"send","id":"x","to":"Bob","text":"hi"}\n')
        assert client.expect_error(ErrorCode.NOT_LOGGED_IN).request_id == "x"


def test_garbage_gets_clear_errors_and_the_server_keeps_serving(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        garbage = [
            (b"\xff\xfe\x00garbage\n", ErrorCode.BAD_ENCODING),
            (b"this is not json\n", ErrorCode.BAD_JSON),
            (b"[1, 2, 3]\n", ErrorCode.BAD_JSON),
            (b'{"type":"teleport","id":"t"}\n', ErrorCode.UNKNOWN_TYPE),
            (b'{"type":"send","id":"b","to":"Bob"}\n', ErrorCode.BAD_FIELD),
            (b'{"type":"receipt","msg_id":true}\n', ErrorCode.BAD_FIELD),
        ]
        for data, code in garbage:
            alice.send_raw(data)
            alice.expect_error(code, skip=NOTICES)
        # Bob was served all along, and so is Alice after her garbage.
        alice.send(SendDirect("ok", "Bob", "still working"))
        alice.expect(Accepted, skip=NOTICES)
        assert bob.expect(DirectMessage, skip=NOTICES).text == "still working"


def test_oversized_message_and_frame_are_refused_and_the_connection_goes_on(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send_raw(b'{"type":"send","id":"big","to":"Bob","text":"' + b"x" * (const.MAX_TEXT_CHARS + 1) + b'"}\n')
        assert alice.expect_error(ErrorCode.MESSAGE_TOO_LARGE, skip=NOTICES).request_id == "big"
        alice.send_raw(b'{"type":"say","id":"huge","text":"' + b"y" * (2 * const.MAX_FRAME_BYTES) + b'"}\n')
        alice.expect_error(ErrorCode.FRAME_TOO_LARGE, skip=NOTICES)
        alice.send(SendDirect("small", "Bob", "x" * const.MAX_TEXT_CHARS))
        alice.expect(Accepted, skip=NOTICES)
        assert len(bob.expect(DirectMessage, skip=NOTICES).text) == const.MAX_TEXT_CHARS


def test_too_many_bad_frames_in_a_row_close_the_connection(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob:
        alice.send_raw(b"nonsense\n" * const.MAX_BAD_FRAMES)
        events = alice.wait_closed()
        assert [e.code for e in events if hasattr(e, "code")][-1] == ErrorCode.TOO_MANY_ERRORS
        # The others' notice: the reason in the words of the other reasons (PROTOCOL.md).
        left = bob.expect(UserLeft, skip=(UserJoined,))
        assert (left.name, left.reason) == ("Alice", "too many errors")


def test_nobody_can_send_as_someone_else_or_fake_notices(server):
    with login(server, "Alice") as alice, login(server, "Bob") as bob, login(server, "Carol") as carol:
        # A "from" key in a request is ignored: the server stamps the real sender.
        alice.send_raw(b'{"type":"send","id":"s","to":"Bob","text":"hi","from":"Carol"}\n')
        assert bob.expect(DirectMessage, skip=NOTICES).sender == "Alice"
        alice.send_raw(b'{"type":"say","id":"r","text":"hi all","from":"server"}\n')
        assert carol.expect(RoomMessage, skip=NOTICES).sender == "Alice"
        # Server-only frames from a client are unknown types, never relayed.
        for kind in (b"joined", b"left", b"dm", b"room", b"delivered", b"welcome"):
            alice.send_raw(b'{"type":"' + kind + b'","id":"f","name":"Bob","at":1,"reason":"quit"}\n')
            alice.expect_error(ErrorCode.UNKNOWN_TYPE, skip=NOTICES + (Accepted, RoomMessage))
        # Carol cannot confirm a message that was sent to Bob.
        alice.send(SendDirect("m", "Bob", "for Bob only"))
        msg_id = alice.expect(Accepted, skip=NOTICES + (RoomMessage,)).msg_id
        carol.send(Receipt(msg_id))
        carol.expect_error(ErrorCode.UNKNOWN_MESSAGE, skip=NOTICES + (RoomMessage,))
        with pytest.raises(AssertionError):
            alice.expect(Delivered, timeout=0.3, skip=NOTICES + (RoomMessage,))


def test_room_messages_and_presence_notices(server):
    with login(server, "Alice") as alice:
        with login(server, "Bob") as bob:
            assert next_join(alice, skip_own="Alice").name == "Bob"
            bob.send(SendRoom("r1", "hello room"))
            bob.expect(Accepted, skip=NOTICES)
            for client in (alice, bob):  # the sender gets the room message too
                message = client.expect(RoomMessage, skip=NOTICES)
                assert (message.sender, message.text) == ("Bob", "hello room")
            bob.send(Goodbye())
            bob.wait_closed()
        left = alice.expect(UserLeft, skip=(RoomMessage,))
        assert (left.name, left.reason) == ("Bob", "quit")


def test_who_and_whois_answer_from_the_registry(server):
    with login(server, "Alice") as alice, login(server, "bob") as bob:
        alice.send(WhoRequest("w"))
        users = alice.expect(UserList, skip=NOTICES)
        assert [u.name for u in users.users] == ["Alice", "bob"] and users.request_id == "w"
        alice.send(LookupRequest("l1", "BOB"))
        found = alice.expect(LookupResult, skip=NOTICES)
        assert (found.name, found.status, found.address) == ("bob", "online", "127.0.0.1")
        assert found.port == bob.sock.getsockname()[1]
        assert found.since <= time.time()
        alice.send(LookupRequest("l2", "nobody-here"))
        assert alice.expect(LookupResult, skip=NOTICES).status == "unknown"


def test_abrupt_disconnect_requeues_unconfirmed_messages_and_others_keep_chatting(server):
    with login(server, "Alice") as alice, login(server, "Carol") as carol:
        bob = login(server, "Bob")
        alice.send(SendDirect("m1", "Bob", "you will not confirm this yet"))
        accepted = alice.expect(Accepted, skip=NOTICES)
        bob.expect(DirectMessage, skip=NOTICES)
        bob.reset()  # vanishes with a TCP reset, mid-conversation
        queued = alice.expect(Queued, skip=NOTICES)
        assert (queued.request_id, queued.msg_id) == ("m1", accepted.msg_id)
        left = alice.expect(UserLeft, skip=(UserJoined,))
        assert left.name == "Bob"
        carol.send(SendDirect("m2", "Alice", "still here"))
        assert alice.expect(DirectMessage, skip=NOTICES).text == "still here"
        # The name is free again at once, and the message waited for Bob.
        with login(server, "Bob") as bob_again:
            again = bob_again.expect(DirectMessage, skip=NOTICES)
            assert (again.msg_id, again.text) == (accepted.msg_id, "you will not confirm this yet")
            bob_again.send(Receipt(again.msg_id))
            assert alice.expect(Delivered, skip=NOTICES).request_id == "m1"


def test_the_sender_hears_queued_for_a_vanished_recipients_messages_in_their_order(server):
    """A recipient that vanished with several messages unconfirmed: each sender is told
    ``queued`` for them in the order they were sent (the relay walked a set of ids: a
    tester saw "2, 3, 1"; ids past a multiple of the set's table size come first)."""
    with login(server, "Alice") as alice, login(server, "Carol"):
        bob = login(server, "Bob")
        for i in range(28):  # ids to spend, so that Bob's straddle a multiple of 32
            alice.send(SendDirect(f"c{i}", "Carol", f"to Carol {i}"))
            alice.expect(Accepted, skip=NOTICES)
        ids = []
        for i in range(8):
            alice.send(SendDirect(f"b{i}", "Bob", f"to Bob {i}"))
            ids.append(alice.expect(Accepted, skip=NOTICES).msg_id)
        for _ in ids:
            bob.expect(DirectMessage, skip=NOTICES)
        assert ids == sorted(ids) and ids[0] % 32 > ids[-1] % 32  # the test's premise
        bob.reset()  # vanishes with all eight unconfirmed
        told = [alice.expect(Queued, skip=NOTICES).msg_id for _ in ids]
        assert told == ids


def test_fifty_clients_each_message_reaches_exactly_its_recipients_once_in_order(server):
    names = [f"user{i:02d}" for i in range(50)]
    clients = {name: login(server, name) for name in names}
    rng = random.Random(7)
    plans = {name: [] for name in names}  # what each sender sends, in order
    for name in names:
        for k in range(6):
            if k % 3 == 2:
                plans[name].append(("room", None, f"{name} room {k}"))
            else:
                to = rng.choice([n for n in names if n != name])
                plans[name].append(("dm", to, f"{name} to {to} #{k}"))
    expected_dms = {name: {} for name in names}  # recipient -> sender -> [texts]
    for sender, plan in plans.items():
        for kind, to, text in plan:
            if kind == "dm":
                expected_dms[to].setdefault(sender, []).append(text)
    room_texts = {s: [t for kind, _, t in plan if kind == "room"] for s, plan in plans.items()}
    total_room = sum(len(v) for v in room_texts.values())
    results: dict[str, dict] = {}
    errors: list[str] = []

    def run(name: str) -> None:
        client = clients[name]
        try:
            for i, (kind, to, text) in enumerate(plans[name]):
                client.send(SendDirect(f"{name}-{i}", to, text) if kind == "dm" else SendRoom(f"{name}-{i}", text))
            dms: dict[str, list[str]] = {}
            rooms: dict[str, list[str]] = {}
            delivered: set[str] = set()
            want_delivered = {f"{name}-{i}" for i, p in enumerate(plans[name]) if p[0] == "dm"}
            want_dms = sum(len(v) for v in expected_dms[name].values())
            deadline = time.monotonic() + 30
            while (delivered != want_delivered or sum(map(len, dms.values())) < want_dms
                   or sum(map(len, rooms.values())) < total_room):
                event = client.next(max(0.01, deadline - time.monotonic()))
                if isinstance(event, DirectMessage):
                    dms.setdefault(event.sender, []).append(event.text)
                    client.send(Receipt(event.msg_id))
                elif isinstance(event, RoomMessage):
                    rooms.setdefault(event.sender, []).append(event.text)
                elif isinstance(event, Delivered):
                    assert event.request_id not in delivered, "delivered twice"
                    delivered.add(event.request_id)
                elif not isinstance(event, (Accepted, UserJoined, UserLeft)):
                    raise AssertionError(f"{name}: unexpected {event!r}")
            # Anything extra would be a duplicate: give it a moment to show up.
            try:
                extra = client.next(0.2)
                if isinstance(extra, (DirectMessage, RoomMessage, Delivered)):
                    raise AssertionError(f"{name}: unexpected extra {extra!r}")
            except AssertionError as exc:
                if "no event" not in str(exc):
                    raise
            results[name] = {"dms": dms, "rooms": rooms}
        except Exception as exc:  # collected and reported by the main thread
            errors.append(f"{name}: {exc!r}")

    threads = [threading.Thread(target=run, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for client in clients.values():
        client.close()
    assert not errors, errors[:5]
    for name in names:
        assert results[name]["dms"] == expected_dms[name]  # exactly these, once, in order
        assert results[name]["rooms"] == {s: t for s, t in room_texts.items() if t}


# Below and above asyncio's default high-water mark (64 KiB), so that only the configured
# limit can explain where the client is dropped.
@pytest.mark.parametrize("limit", [16 * 1024, 256 * 1024])
def test_a_client_that_stops_reading_is_disconnected_at_the_configured_limit(limit, caplog):
    caplog.set_level(logging.INFO, logger="chat.server")
    config = ServerConfig(host="127.0.0.1", port=0, max_outgoing_bytes=limit,
                          rate_per_connection=1e6, burst_per_connection=1e6,
                          rate_per_address=1e6, burst_per_address=1e6)
    with ServerThread(config) as server, login(server, "Alice") as alice:
        sleeper = socket.socket()
        sleeper.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sleeper.connect((server.host, server.port))
        sleeper.sendall(b'{"type":"hello","id":"h","name":"Sleepy","version":1}\n')
        next_join(alice, skip_own="Alice")
        # It keeps asking and never reads: the answers, which cannot be skipped like room
        # messages, pile up until its queue passes the limit. (Messages to nobody, each
        # refused unknown_recipient at once: a whois or a who page waits for the queue
        # to drain, and the server stops reading; see server/intake.py.)
        requests = b'{"type":"send","id":"s","to":"Nobody","text":"?"}\n' * 40
        pattern = re.compile(r"Sleepy@\S+: slow consumer \((\d+) bytes waiting, over the limit of (\d+)\)")
        deadline = time.monotonic() + 30
        found = None
        try:
            while found is None and time.monotonic() < deadline:
                sleeper.sendall(requests)
                found = pattern.search(caplog.text)
                time.sleep(0.001)  # pace the requests: each turn of the server adds little
        except OSError:  # dropped: the reset may reach us before the log line is read
            pass
        finally:
            sleeper.close()
        left = alice.expect(UserLeft, skip=(UserJoined,))
        assert (left.name, left.reason) == ("Sleepy", "slow consumer")
        found = found or pattern.search(caplog.text)
        assert found is not None, caplog.text[-2000:]
        waiting, logged_limit = int(found[1]), int(found[2])
        assert logged_limit == limit
        # Dropped just past the configured limit: not at asyncio's 64 KiB, not later.
        assert limit < waiting <= limit + 16 * 1024, waiting
        assert "Sleepy" not in server.call(lambda: server.server.relay.registry)
        # Its leaving is one line, the one above (no logout line to say it again): logged
        # before the "left" notice Alice got, so all there is.
        leaving = [r.getMessage() for r in caplog.records
                   if "Sleepy" in r.getMessage() and not r.getMessage().startswith("login ")]
        assert len(leaving) == 1 and pattern.search(leaving[0]), leaving


def test_silent_client_is_dropped_by_the_heartbeat():
    config = ServerConfig(host="127.0.0.1", port=0, heartbeat_interval=0.2, heartbeat_timeout=0.6)
    with ServerThread(config) as server, login(server, "Alice") as alice:
        ghost = socket.create_connection((server.host, server.port))
        ghost.sendall(b'{"type":"hello","id":"h","name":"Ghost","version":1}\n')
        assert next_join(alice, skip_own="Alice").name == "Ghost"
        # Alice answers pings (the wire client reads); the ghost never does.
        left = alice.expect(UserLeft, timeout=5, skip=(Ping,))
        assert (left.name, left.reason) == ("Ghost", "timeout")
        ghost.close()


def test_a_connection_that_never_logs_in_is_closed():
    config = ServerConfig(host="127.0.0.1", port=0, login_timeout=0.3)
    with ServerThread(config) as server, WireClient(server.host, server.port) as lurker:
        # Told why, then closed (it was a bare end of stream before).
        assert [(type(e), e.code) for e in lurker.wait_closed(timeout=5)] == [(ErrorReply, ErrorCode.LOGIN_TIMEOUT)]


def test_shutdown_tells_clients_and_the_port_is_free_again_at_once():
    server = ServerThread(ServerConfig(host="127.0.0.1", port=0))
    with server:
        port = server.port
        alice = login(server, "Alice")
        server.stop()
        assert alice.expect(Goodbye, skip=NOTICES).reason == "server shutting down"
        alice.wait_closed()
    with ServerThread(ServerConfig(host="127.0.0.1", port=port)) as again:
        with login(again, "Alice"):
            pass


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "SIGHUP", "/quit", "/sair"])
def test_chatserver_stops_cleanly_and_tells_clients(how):
    """SIGHUP is what a terminal sends when its window is closed: it killed the server at
    once (clients not told, the next start checking the database as after a crash)."""
    proc, port = start_server_process()
    try:
        with WireClient.login("127.0.0.1", port, "Alice") as alice:
            if how.startswith("/"):
                proc.stdin.write(how + "\n")
                proc.stdin.flush()
            else:
                proc.send_signal(getattr(signal, how))
            assert alice.expect(Goodbye, skip=NOTICES).reason == "server shutting down"
            alice.wait_closed()
        assert proc.wait(10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_chatserver_started_with_nohup_outlives_its_terminal():
    """A SIGHUP ignored when the server starts (``nohup``) stays ignored: the server is
    meant to outlive its terminal."""
    proc = subprocess.Popen([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", "0", "--memory",
                             "--web-port", "0"], cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    try:
        port = wait_for_listening(proc)
        with WireClient.login("127.0.0.1", port, "Alice") as alice:
            proc.send_signal(signal.SIGHUP)
            alice.send(WhoRequest("who-1"))
            assert "Alice" in [user.name for user in alice.expect(UserList, skip=NOTICES).users]
        assert proc.poll() is None
    finally:
        stop_process(proc)


def test_chatserver_reports_a_port_in_use_in_one_line():
    proc, port = start_server_process()
    try:
        clash = subprocess.run([sys.executable, "chatserver.py", "--host", "127.0.0.1", "--port", str(port),
                                "--memory", "--web-port", "0"],
                               cwd=ROOT, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert clash.returncode == 1
        assert "cannot start" in clash.stderr and "Traceback" not in clash.stderr
    finally:
        proc.terminate()
        proc.wait(10)


def test_chatserver_serves_the_web_client_on_its_web_port():
    with socket.socket() as probe:  # a free port for the web client
        probe.bind(("127.0.0.1", 0))
        web_port = probe.getsockname()[1]
    proc, port = start_server_process("--web-port", str(web_port))
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", web_port), timeout=2) as http:
                    http.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    response = b""
                    while chunk := http.recv(65536):
                        response += chunk
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the web port never opened"
                time.sleep(0.05)
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and b"Content-Security-Policy" in head
        assert b"<html" in body.lower()
    finally:
        proc.terminate()
        proc.wait(10)
