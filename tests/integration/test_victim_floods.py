"""No one user can flood another off the server with what the server sends on its behalf.

A victim that reads slowly (here: not at all while the attack lasts, then everything) must
never be dropped as a slow consumer for frames that OTHER users' acts make the server send
it: edits of messages sent to it, typing notices, changes of room posts. While its
outgoing queue is over the soft mark (it is ``lagging``), those are held back (an edit
waits in the store and is fetched once it drains), dropped (typing: ephemeral) or counted
(a room post's change, told in ``skipped``), as direct messages and room posts already
were. A real server on 127.0.0.1 port 0, with a small kernel send buffer and outgoing
queue standing for a slow link; every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import time

from servers import in_thread

HARD_MARK = 64 * 1024
# The kernel's buffers stand for a slow link: small, so that the server's queue shows the lag.
SLOW_LINK = dict(max_outgoing_bytes=HARD_MARK, socket_send_buffer=8192)


class Raw:
    """A client of JSON lines on a real socket: exactly the frames a test wants."""

    def __init__(self, port: int, name: str, features: tuple[str, ...] = ("edits", "typing", "read"),
                 version: int = 1, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.send({"type": "hello", "id": "h", "name": name, "version": version, "features": list(features)})
        self.until(lambda frame: frame["type"] == "welcome")

    def send(self, frame: dict) -> None:
        self.sock.sendall(json.dumps(frame, ensure_ascii=False).encode() + b"\n")

    def next(self, timeout: float = 10) -> dict | None:
        """The next frame, or None once the server closed the connection."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def until(self, found, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next(max(0.01, deadline - time.monotonic()))
            assert frame is not None, "closed by the server"
            assert frame["type"] != "error" or frame.get("code") != "slow_consumer", frame
            if found(frame):
                return frame

    def close(self) -> None:
        self.sock.close()


def _queue_of(server, name: str) -> int | None:
    """The bytes the server's transport holds for ``name``'s session (None: not online)."""
    def probe():
        return [s.transport.get_write_buffer_size() for s in server.server.relay.sessions if s.name == name]
    sizes = server.call(probe)
    return sizes[0] if sizes else None


def _edit_for_seconds(server, senders: list[Raw], msg_ids: list[int], seconds: float) -> dict[int, str]:
    """Each sender edits its message, 8 KB a time, within its own byte budget (16 KiB/s),
    for ``seconds``, while the victim reads nothing: six of them make far more than the
    hard mark. Asserts the victim is online throughout; returns the latest text of each."""
    last_text = {}
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        for sender, msg_id in zip(senders, msg_ids):
            text = str(n) + ("ç" if n % 2 else "ã") * 3990
            sender.send({"type": "edit", "id": f"e{n}", "msg_id": msg_id, "text": text})
            answer = sender.until(lambda f: f.get("id") == f"e{n}")
            if answer["type"] == "ok":
                last_text[msg_id] = text
        assert _queue_of(server, "Conceição") is not None, "the victim was dropped"
        time.sleep(0.3)
    assert len(last_text) == len(msg_ids)
    return last_text


def test_edits_of_many_senders_do_not_drop_a_slow_reader_and_it_gets_the_latest_text_once_it_drains():
    with in_thread(**SLOW_LINK) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)
        senders, msg_ids = [], []
        for n in range(6):
            sender = Raw(server.port, f"João{n}")
            sender.send({"type": "send", "id": "m", "to": "Conceição", "text": "olá"})
            msg_ids.append(sender.until(lambda f: f["type"] in ("accepted", "queued"))["msg_id"])
            senders.append(sender)
        last_text = _edit_for_seconds(server, senders, msg_ids, 6)
        # Now it reads: everything, its messages and the latest text of each, no error.
        latest: dict[int, str] = {}
        got = set()

        def seen(frame: dict) -> bool:
            if frame["type"] == "dm":
                got.add(frame["msg_id"])
                victim.send({"type": "receipt", "msg_id": frame["msg_id"]})
            if frame["type"] == "edited":
                latest[frame["msg_id"]] = frame["text"]
            return got == set(msg_ids) and latest == last_text

        victim.until(seen, timeout=20)
        for sender in senders:
            sender.close()
        victim.close()


def test_typing_of_many_senders_does_not_drop_a_slow_reader():
    # Rate limits lifted (fast): the typers stand for several addresses. Presence goes
    # only to watchers (room limit 1), so that what the victim is sent is their typing.
    with in_thread(fast=True, presence_room_limit=1, max_outgoing_bytes=8 * 1024, socket_send_buffer=4096) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)
        typers = []
        try:
            for n in range(500):
                typer = Raw(server.port, f"t{n}")
                typer.send({"type": "typing", "to": "Conceição"})
                typers.append(typer)
            # Each typing is answered by nothing: a ping behind the last one says it was handled.
            typers[-1].send({"type": "ping", "token": "done"})
            typers[-1].until(lambda f: f["type"] == "pong")
            assert _queue_of(server, "Conceição") is not None, "the victim was dropped"
            victim.send({"type": "ping", "token": "still"})
            victim.until(lambda f: f["type"] == "pong")
        finally:
            for typer in typers:
                typer.close()
            victim.close()


def test_edits_of_room_posts_do_not_drop_a_slow_member_and_are_counted_skipped():
    with in_thread(**SLOW_LINK) as server:
        victim = Raw(server.port, "Conceição", version=2, rcvbuf=4096)
        victim.send({"type": "join", "id": "j", "room": "#redes", "create": True})
        victim.until(lambda f: f.get("id") == "j")
        senders, msg_ids = [], []
        for n in range(6):
            sender = Raw(server.port, f"João{n}", version=2)
            sender.send({"type": "join", "id": "j", "room": "#redes"})
            sender.until(lambda f: f.get("id") == "j")
            sender.send({"type": "send", "id": "p", "room": "#redes", "text": "olá, turma"})
            msg_ids.append(sender.until(lambda f: f.get("id") == "p")["msg_id"])
            senders.append(sender)
        _edit_for_seconds(server, senders, msg_ids, 6)
        # It reads now: told how much room traffic it missed, and still online.
        skipped = victim.until(lambda f: f["type"] == "skipped", timeout=20)
        assert skipped["room"] > 0
        victim.send({"type": "ping", "token": "still"})
        victim.until(lambda f: f["type"] == "pong")
        for sender in senders:
            sender.close()
        victim.close()


def test_logins_and_logouts_of_many_guests_do_not_drop_a_slow_reader_who_is_told_who_stayed():
    # Rate limits lifted (fast): the guests stand for several addresses.
    with in_thread(fast=True, max_outgoing_bytes=16 * 1024, socket_send_buffer=4096) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)
        for n in range(600):  # guests that come and go, while the victim reads nothing
            Raw(server.port, f"p{n}").close()
            if n % 100 == 99:
                assert _queue_of(server, "Conceição") is not None, "the victim was dropped"
        stayed = Raw(server.port, "João")
        victim.send({"type": "ping", "token": "still"})
        # It reads now: João's join comes (live, or coalesced once it drained), no error.
        victim.until(lambda f: f["type"] == "joined" and f["name"] == "João", timeout=20)
        stayed.close()
        victim.close()


def test_room_joins_and_leaves_of_many_guests_do_not_drop_a_slow_member_and_are_counted_skipped():
    # Rate limits lifted (fast): the guests stand for several addresses.
    with in_thread(fast=True, presence_room_limit=1, max_outgoing_bytes=16 * 1024,
                   socket_send_buffer=4096) as server:
        victim = Raw(server.port, "Conceição", version=2, rcvbuf=4096)
        victim.send({"type": "join", "id": "j", "room": "#redes", "create": True})
        victim.until(lambda f: f.get("id") == "j")
        guests = [Raw(server.port, f"g{n}", version=2) for n in range(20)]
        for round_ in range(15):  # each joins and leaves, and again, while the victim reads nothing
            for guest in guests:
                guest.send({"type": "join", "id": f"j{round_}", "room": "#redes"})
                guest.send({"type": "leave", "id": f"l{round_}", "room": "#redes"})
            for guest in guests:
                guest.until(lambda f: f.get("id") == f"l{round_}")
            assert _queue_of(server, "Conceição") is not None, "the victim was dropped"
        victim.send({"type": "ping", "token": "still"})
        seen: dict[str, dict] = {}
        victim.until(lambda f: seen.setdefault(f["type"], f) and {"skipped", "pong"} <= seen.keys(), timeout=20)
        assert seen["skipped"]["room"] > 0
        for guest in guests:
            guest.close()
        victim.close()
