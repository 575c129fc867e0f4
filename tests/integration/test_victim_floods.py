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
import threading
import time

from servers import in_thread
from waits import wait_until

HARD_MARK = 64 * 1024
# The kernel's buffers stand for a slow link: small, so that the server's queue shows the lag.
SLOW_LINK = dict(max_outgoing_bytes=HARD_MARK, socket_send_buffer=8192)


class Raw:
    """A client of JSON lines on a real socket: exactly the frames a test wants."""

    def __init__(self, port: int, name: str, features: tuple[str, ...] = ("edits", "typing", "read"),
                 version: int = 1, rcvbuf: int | None = None, **hello: object) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.send({"type": "hello", "id": "h", "name": name, "version": version, "features": list(features), **hello})
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


def _six_messages_to_the_victim(port: int) -> tuple[list[Raw], list[int]]:
    """Six senders, each of whom sent the victim a message: them, and its msg_ids."""
    senders, msg_ids = [], []
    for n in range(6):
        sender = Raw(port, f"João{n}")
        sender.send({"type": "send", "id": "m", "to": "Conceição", "text": "olá"})
        msg_ids.append(sender.until(lambda f: f["type"] in ("accepted", "queued"))["msg_id"])
        senders.append(sender)
    return senders, msg_ids


def test_edits_of_many_senders_do_not_drop_a_slow_reader_and_it_gets_the_latest_text_once_it_drains():
    with in_thread(**SLOW_LINK) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)
        senders, msg_ids = _six_messages_to_the_victim(server.port)
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


def test_the_changes_a_device_missed_do_not_drop_it_when_they_are_more_than_its_queue_takes():
    # PROTOCOL.md "Changes a device missed": the laptop took in twenty edits of 4,000
    # characters while the phone was away; the phone, on a slow link, is told them all at
    # its login, a part at a time as it reads (80 KB against a hard mark of 64 KB), not dropped.
    with in_thread(**SLOW_LINK, bytes_burst_per_connection=1e9) as server:
        laptop = Raw(server.port, "Conceição", password="correct horse", register=True)
        sender = Raw(server.port, "João")
        heard = None
        msg_ids, last_text = [], {}
        for n in range(20):
            sender.send({"type": "send", "id": f"m{n}", "to": "Conceição", "text": "olá"})
            msg_ids.append(sender.until(lambda f: f.get("id") == f"m{n}")["msg_id"])
            laptop.until(lambda f: f["type"] == "dm")
            laptop.send({"type": "receipt", "msg_id": msg_ids[-1]})
        laptop.send({"type": "ping", "token": "heard"})
        heard = laptop.until(lambda f: f["type"] == "pong")["now"]
        for n, msg_id in enumerate(msg_ids):
            last_text[msg_id] = f"{n}" + "a" * 3990
            sender.send({"type": "edit", "id": f"e{n}", "msg_id": msg_id, "text": last_text[msg_id]})
            sender.until(lambda f: f.get("id") == f"e{n}" and f["type"] == "ok")
            edited = laptop.until(lambda f: f["type"] == "edited")
            laptop.send({"type": "edit_receipt", "msg_id": edited["msg_id"], "at": edited["at"]})
        laptop.send({"type": "ping", "token": "confirmed"})
        laptop.until(lambda f: f.get("token") == "confirmed")
        phone = Raw(server.port, "Conceição", rcvbuf=4096, password="correct horse", last_heard=heard)
        told: dict[int, str] = {}

        def queued() -> int:  # what the server holds for Conceição's fullest session
            return max(server.call(lambda: [s.transport.get_write_buffer_size() for s in server.server.relay.sessions
                                            if s.name == "Conceição"]))
        wait_until(lambda: queued() > 0, 10, "the phone's queue filling")  # it reads nothing yet

        def seen(frame: dict) -> bool:
            if frame["type"] == "edited":
                told[frame["msg_id"]] = frame["text"]
            return told == last_text

        phone.until(seen, timeout=20)
        phone.send({"type": "ping", "token": "still"})
        phone.until(lambda f: f.get("token") == "still")
        for client in (laptop, sender, phone):
            client.close()


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


# A phone on a slow link: the victim reads this many bytes a second, in ten bites.
SLOW_READ = 20 * 1024
# Seconds the friend's direct message may take from its send to its "delivered", under
# attack, at SLOW_READ: behind the others' mark (1/64 of the hard mark) and the kernel's
# small buffers it takes under a second; behind the soft mark (half the hard mark) it took
# 6 to 11 s with the hard mark below.
DELIVERED_WITHIN = 3.0


class SlowReader(threading.Thread):
    """``victim``'s reading, in a thread: SLOW_READ bytes a second, each ``dm`` confirmed
    with a receipt; what it read is in ``frames``."""

    def __init__(self, victim: Raw) -> None:
        super().__init__(daemon=True)
        self.victim, self.frames, self.closed, self.done = victim, [], False, threading.Event()

    def run(self) -> None:
        victim = self.victim
        victim.sock.settimeout(0.1)
        while not self.done.is_set():
            started = time.monotonic()
            try:
                data = victim.sock.recv(SLOW_READ // 10)
            except (socket.timeout, BlockingIOError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self.closed = True
                return
            victim.buf += data or b""
            while b"\n" in victim.buf:
                line, victim.buf = victim.buf.split(b"\n", 1)
                frame = json.loads(line)
                self.frames.append(frame)
                if frame["type"] == "dm":
                    victim.send({"type": "receipt", "msg_id": frame["msg_id"]})
            self.done.wait(max(0.0, 0.1 - (time.monotonic() - started)))


def _friend_latencies(port: int, seconds: float) -> list[float]:
    """A friend of the victim's sends it a direct message every half second for ``seconds``:
    the seconds each took from its send to its ``delivered`` (all of them, within 30 s)."""
    friend = Raw(port, "Amigo")
    sent: dict[str, float] = {}
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        sent[f"d{n}"] = time.monotonic()
        friend.send({"type": "send", "id": f"d{n}", "to": "Conceição", "text": f"oi {n}"})
        until = time.monotonic() + 0.5
        while time.monotonic() < until:
            try:
                frame = friend.next(max(0.01, until - time.monotonic()))
            except TimeoutError:
                break
            if frame is not None and frame["type"] == "delivered":
                latencies.append(time.monotonic() - sent[frame["id"]])
    if len(latencies) < n:
        friend.until(lambda f: f["type"] == "delivered" and latencies.append(time.monotonic() - sent[f["id"]])
                     or len(latencies) == n, timeout=30)
    friend.close()
    return latencies


# The hard mark of these tests: a soft mark of 128 KiB (6 s at SLOW_READ), others' 4 KiB.
PHONE = dict(max_outgoing_bytes=256 * 1024, socket_send_buffer=8192)


def _latencies_under(server, victim: Raw, attack) -> tuple[list[float], SlowReader]:
    """The friend's latencies (_friend_latencies, for 5 s) while ``attack(stop)`` runs in a
    thread (from its tenth round on: ``stop`` an Event it ends at, ``rounds`` a list it
    appends to each round) and the victim reads slowly; the attack has ended on return,
    the victim's reading goes on."""
    reader = SlowReader(victim)
    reader.start()
    stop, rounds = threading.Event(), []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            attack(stop, rounds)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread)
            failed.append(exc)
            raise
    attacker = threading.Thread(target=run, daemon=True)
    attacker.start()
    deadline = time.monotonic() + 20
    while len(rounds) < 10 and not failed and time.monotonic() < deadline:
        stop.wait(0.05)
    try:
        assert len(rounds) >= 10, failed
        latencies = _friend_latencies(server.port, 5)
    finally:
        stop.set()
        attacker.join(20)
    assert not failed, failed
    assert not reader.closed and _queue_of(server, "Conceição") is not None, "the victim was dropped"
    return latencies, reader


def _until_read(reader: SlowReader, found, what: str) -> None:
    """Wait until ``found(frames)`` of what the victim read, or fail (it was dropped)."""
    wait_until(lambda: found(reader.frames) or reader.closed, timeout=30, what=what)
    assert not reader.closed, "the victim was dropped"


def test_a_slow_readers_direct_message_does_not_wait_behind_the_edits_of_others():
    with in_thread(**PHONE) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)
        senders, msg_ids = _six_messages_to_the_victim(server.port)
        last_text: dict[int, str] = {}

        def edit(stop: threading.Event, rounds: list) -> None:
            while not stop.is_set():
                last_text.update(_edit_for_seconds(server, senders, msg_ids, 0.5))
                rounds.append(1)
        latencies, reader = _latencies_under(server, victim, edit)
        assert max(latencies) < DELIVERED_WITHIN, sorted(latencies)
        # What it is owed still comes: the latest text of each message.
        _until_read(reader, lambda frames: {f["msg_id"]: f["text"] for f in frames if f["type"] == "edited"}
                    .items() >= last_text.items(), "the latest texts")
        reader.done.set()
        for sender in senders:
            sender.close()
        victim.close()


def test_a_slow_readers_direct_message_does_not_wait_behind_others_comings_and_goings_in_its_room():
    # Rate limits lifted (fast): the guests stand for several addresses.
    with in_thread(fast=True, **PHONE) as server:
        victim = Raw(server.port, "Conceição", version=2, rcvbuf=4096)
        victim.send({"type": "join", "id": "j", "room": "#redes", "create": True})
        victim.until(lambda f: f.get("id") == "j")
        guests = [Raw(server.port, f"g{n}", version=2) for n in range(20)]

        def churn(stop: threading.Event, rounds: list) -> None:
            while not stop.is_set():
                n = len(rounds)
                for guest in guests:
                    guest.send({"type": "join", "id": f"j{n}", "room": "#redes"})
                    guest.send({"type": "leave", "id": f"l{n}", "room": "#redes"})
                for guest in guests:
                    guest.until(lambda f: f.get("id") == f"l{n}")
                rounds.append(1)
        latencies, reader = _latencies_under(server, victim, churn)
        assert max(latencies) < DELIVERED_WITHIN, sorted(latencies)
        # What it missed is counted, and told.
        _until_read(reader, lambda frames: any(f["type"] == "skipped" and f["room"] > 0 for f in frames), "skipped")
        reader.done.set()
        for guest in guests:
            guest.close()
        victim.close()


def test_a_slow_readers_direct_message_does_not_wait_behind_logins_and_logouts_of_others():
    # Rate limits lifted (fast): the guests stand for several addresses.
    with in_thread(fast=True, **PHONE) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)

        def come_and_go(stop: threading.Event, rounds: list) -> None:
            while not stop.is_set():
                for n in range(10):
                    Raw(server.port, f"p{len(rounds)}x{n}").close()
                rounds.append(1)
        latencies, reader = _latencies_under(server, victim, come_and_go)
        assert max(latencies) < DELIVERED_WITHIN, sorted(latencies)
        # Who stayed is told (live, or coalesced once the queue is short again).
        stayed = Raw(server.port, "João")
        _until_read(reader, lambda frames: any(f["type"] == "joined" and f["name"] == "João" for f in frames),
                    "João's join")
        reader.done.set()
        stayed.close()
        victim.close()


def test_a_change_written_before_a_slow_reader_was_crowded_is_not_written_again_when_it_drains():
    with in_thread(max_outgoing_bytes=64 * 1024, socket_send_buffer=8192) as server:
        victim = Raw(server.port, "Conceição", rcvbuf=4096)
        sender = Raw(server.port, "João")
        msg_ids = []
        for n in range(2):
            sender.send({"type": "send", "id": f"m{n}", "to": "Conceição", "text": "olá"})
            msg_ids.append(sender.until(lambda f: f["type"] in ("accepted", "queued"))["msg_id"])
            victim.until(lambda f: f["type"] == "dm" and f["msg_id"] == msg_ids[-1])
        first, second = msg_ids
        # The first message's change is written at once; the victim reads nothing now,
        # confirms nothing, while the second is changed until some of its changes are held.
        sender.send({"type": "edit", "id": "e", "msg_id": first, "text": "olá, turma"})
        sender.until(lambda f: f.get("id") == "e")
        text = ""
        for n in range(12):  # within the sender's byte budget, or refused
            sent = str(n) + "ç" * 3990
            sender.send({"type": "edit", "id": f"e{n}", "msg_id": second, "text": sent})
            if sender.until(lambda f: f.get("id") == f"e{n}")["type"] == "ok":
                text = sent
        assert text
        # It reads now: up to the second's latest text, which was held (fetched once it drained).
        changes: list[dict] = []
        victim.until(lambda f: f["type"] == "edited" and (changes.append(f) or f["text"] == text), timeout=20)
        assert [f["text"] for f in changes if f["msg_id"] == first] == ["olá, turma"]
        sender.close()
        victim.close()
