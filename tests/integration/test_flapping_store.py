"""A store that fails and recovers every few milliseconds while a sender pipelines
messages and writes the refused ones again, in order, as PROTOCOL.md asks ("Order after a
refusal for now"): every message is stored once, in the sender's order, and its recipient
is shown each once, in that order.

SQLite's disk fails for real as SQLite sees it (``PRAGMA max_page_count`` on the server's
own connection, as test_storage_failures.py fills it); a cluster node's Redis refuses
writes while its memory is full (``maxmemory`` under ``noeviction``: OOM). A thread flips
either every 1 to 2 ms, so refusals land between a message's submission, its run and its
answer in every order the timing allows. Session 35 found two ways a later message
overtook an earlier refused one with the disk (the SQLite store's hand-over; the
conversation's hold letting a later one through while an earlier one was refused again),
session 36 one with Redis (a later message already on its way as the earlier one was
refused: RedisStore._behind): each shows up here as messages stored out of order.
Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from logins import login
from redisserver import RedisServer
import pytest

from protocol import (Accepted, DirectMessage, ErrorReply, Ping, Queued, RoomMessage, SendDirect, SendRoom, UserJoined,
                      UserLeft)
from server import ServerThread
from test_durability import config

NOTICES = (UserJoined, UserLeft, Ping)
COUNT = 150
# About a quarter of a page each, so that a full disk refuses one in a few; 150 KB in all,
# which the byte budget (64 KiB at once, then 16 KiB/s) spreads over about 6 s: its
# refusals (rate_limited) mix with the disk's (unavailable), as in session 35's runs.
TEXT = "x" * 990
FLAPPING_SECONDS = 8.0  # then the disk stays free, and what is left goes through
# A room takes a post a second from each poster, by default: lifted, as FAST lifts the
# request rates (the byte budget stays).
ROOM_RATE_LIFTED = dict(room_posts_per_second=1e6, room_post_burst=1e6)


def flap(fail: Callable[[], None], recover: Callable[[], None], stop: threading.Event) -> None:
    """Fail the store and let it recover, over and over: 1 ms failing, 2 ms not."""
    while not stop.is_set():
        fail()
        time.sleep(0.001)
        recover()
        time.sleep(0.002)


def send_while_flapping(server: ServerThread, fail: Callable[[], None], recover: Callable[[], None],
                        kind: str = "direct") -> None:
    """Alice pipelines COUNT messages to Bob (``kind`` "direct"), or to the room Bob is in
    ("room"), while the store flaps (:func:`flap`) and writes the refused ones again, in
    order, after the wait their answers ask for; then checks that each was stored once, in
    her order, and shown to Bob once, in her order."""
    shown_as = DirectMessage if kind == "direct" else RoomMessage

    def message(number: int) -> SendDirect | SendRoom:
        text = f"{number:04d} {TEXT}"
        return SendDirect(f"m{number:04d}", "Bob", text) if kind == "direct" else SendRoom(f"m{number:04d}", text)
    with login(server, "Bob") as bob, login(server, "Alice") as alice:
        shown: list[int] = []

        def read_bob() -> None:
            deadline = time.monotonic() + FLAPPING_SECONDS + 30
            while len(shown) < COUNT and time.monotonic() < deadline:
                try:
                    got = bob.expect(shown_as, skip=NOTICES, timeout=1)
                except AssertionError:  # none within the second: ask again until the deadline
                    continue
                shown.append(int(got.text[:4]))
        reader = threading.Thread(target=read_bob, daemon=True)
        reader.start()
        stop = threading.Event()
        flapper = threading.Thread(target=flap, args=(fail, recover, stop), daemon=True)
        flapper.start()
        stored: dict[int, int] = {}  # message number -> msg_id
        refused: dict[str, int] = {}  # by error code
        history: dict[int, list] = {}  # every answer to each message, with its round
        rounds = 0
        to_send = list(range(COUNT))
        started = time.monotonic()
        try:
            while to_send:
                assert time.monotonic() < started + FLAPPING_SECONDS + 20, \
                    f"still refused: {to_send[:10]}: {history[to_send[0]][-3:]}"
                if time.monotonic() > started + FLAPPING_SECONDS:
                    stop.set()
                for number in to_send:
                    alice.send(message(number))
                rounds += 1
                answers = {}
                while len(answers) < len(to_send):
                    answer = alice.expect((Accepted, Queued, ErrorReply), skip=(*NOTICES, RoomMessage), timeout=30)
                    assert answer.request_id and answer.request_id.startswith("m"), answer
                    number = int(answer.request_id[1:])
                    history.setdefault(number, []).append((rounds, answer))
                    assert number in to_send and number not in answers, history[number]
                    answers[number] = answer
                for number, answer in answers.items():
                    if isinstance(answer, ErrorReply):
                        refused[answer.code] = refused.get(answer.code, 0) + 1
                    else:
                        stored[number] = answer.msg_id
                to_send = [number for number in to_send if isinstance(answers[number], ErrorReply)]
                waits = [answers[number].retry_after or 0.05 for number in to_send]
                time.sleep(min(max(waits, default=0), 0.5))  # the wait the answers ask for
        finally:
            stop.set()
            flapper.join(5)
        assert refused.get("unavailable"), f"the store never refused: {refused}"  # the test tested something
        in_order = sorted(stored, key=stored.get)
        overtaken = [(a, b) for a, b in zip(in_order, in_order[1:]) if b < a]
        assert not overtaken, (f"stored out of order after {refused} refusals in {rounds} rounds: {overtaken[:5]}",
                               [history[b] for _a, b in overtaken[:2]])
        reader.join(FLAPPING_SECONDS + 30)
        assert shown == list(range(COUNT)), [(a, b) for a, b in zip(shown, shown[1:]) if b <= a][:10]


@pytest.mark.parametrize("kind", ["direct", "room"])
def test_messages_refused_by_a_flapping_disk_and_written_again_are_stored_and_shown_in_order(tmp_path, kind):
    with ServerThread(config(tmp_path / "data", **ROOM_RATE_LIFTED)) as server:
        db = server.server.store.db

        def fill() -> None:  # no page beyond those in use
            db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        send_while_flapping(server, lambda: server.call(fill),
                            lambda: server.call(lambda: db.execute("PRAGMA max_page_count = 1073741823")), kind)


@pytest.mark.parametrize("kind", ["direct", "room"])
def test_messages_refused_by_a_flapping_redis_and_written_again_are_stored_and_shown_in_order(tmp_path, kind):
    """The same on a cluster's node, direct messages and the room's: Redis refuses writes
    while its memory is "full" (``maxmemory`` 1 byte under ``noeviction``: OOM), then takes
    them again. (Each found messages stored out of order before RedisStore._behind.)"""
    with RedisServer(tmp_path / "redis") as redis, \
            ServerThread(config(None, cluster_url=redis.url, **ROOM_RATE_LIFTED)) as server, \
            socket.create_connection(("127.0.0.1", redis.port), timeout=5) as link:
        def set_maxmemory(value: bytes) -> None:
            link.sendall(b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$9\r\nmaxmemory\r\n$%d\r\n%s\r\n" % (len(value), value))
            assert link.recv(64) == b"+OK\r\n"
        try:
            send_while_flapping(server, lambda: set_maxmemory(b"1"), lambda: set_maxmemory(b"0"), kind)
        finally:
            set_maxmemory(b"0")
