"""A disk that fails and recovers every few milliseconds while a sender pipelines messages
and writes the refused ones again, in order, as PROTOCOL.md asks ("Order after a refusal
for now"): every message is stored once, in the sender's order, and its recipient is shown
each once, in that order.

The disk fails for real as SQLite sees it (``PRAGMA max_page_count`` on the server's own
connection, as test_storage_failures.py fills it), flipped by a thread every 1 to 2 ms, so
refusals land between a batch's submission, its commit and its answer in every order the
timing allows. Session 35 found two ways a later message overtook an earlier refused one
this way (the SQLite store's hand-over; the conversation's hold letting a later one through
while an earlier one was refused again): each shows up here as messages stored out of
order. Loopback only; every wait has a deadline.
"""

from __future__ import annotations

import threading
import time

from logins import login
from protocol import Accepted, DirectMessage, ErrorReply, Ping, Queued, SendDirect, UserJoined, UserLeft
from server import ServerThread
from test_durability import config

NOTICES = (UserJoined, UserLeft, Ping)
COUNT = 150
# About a quarter of a page each, so that a full disk refuses one in a few; 150 KB in all,
# which the byte budget (64 KiB at once, then 16 KiB/s) spreads over about 6 s: its
# refusals (rate_limited) mix with the disk's (unavailable), as in session 35's runs.
TEXT = "x" * 990
FLAPPING_SECONDS = 8.0  # then the disk stays free, and what is left goes through


def flap(server: ServerThread, stop: threading.Event) -> None:
    """Fill the disk (no page beyond those in use) and free it, over and over."""
    db = server.server.store.db

    def fill() -> None:
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")

    def free() -> None:
        db.execute("PRAGMA max_page_count = 1073741823")
    while not stop.is_set():
        server.call(fill)
        time.sleep(0.001)
        server.call(free)
        time.sleep(0.002)


def test_messages_refused_by_a_flapping_disk_and_written_again_are_stored_and_shown_in_order(tmp_path):
    with ServerThread(config(tmp_path / "data")) as server, login(server, "Bob") as bob, \
            login(server, "Alice") as alice:
        shown: list[int] = []

        def read_bob() -> None:
            deadline = time.monotonic() + FLAPPING_SECONDS + 30
            while len(shown) < COUNT and time.monotonic() < deadline:
                try:
                    message = bob.expect(DirectMessage, skip=NOTICES, timeout=1)
                except AssertionError:  # none within the second: ask again until the deadline
                    continue
                shown.append(int(message.text[:4]))
        reader = threading.Thread(target=read_bob, daemon=True)
        reader.start()
        stop = threading.Event()
        flapper = threading.Thread(target=flap, args=(server, stop), daemon=True)
        flapper.start()
        stored: dict[int, int] = {}  # message number -> msg_id
        refused: dict[str, int] = {}  # by error code
        history: dict[int, list] = {}  # every answer to each message, with its round
        rounds = 0
        to_send = list(range(COUNT))
        started = time.monotonic()
        try:
            while to_send:
                assert time.monotonic() < started + FLAPPING_SECONDS + 20, f"still refused: {to_send[:10]}"
                if time.monotonic() > started + FLAPPING_SECONDS:
                    stop.set()
                for number in to_send:
                    alice.send(SendDirect(f"m{number:04d}", "Bob", f"{number:04d} {TEXT}"))
                rounds += 1
                answers = {}
                while len(answers) < len(to_send):
                    answer = alice.expect((Accepted, Queued, ErrorReply), skip=NOTICES, timeout=30)
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
        assert refused.get("unavailable"), f"the disk never refused: {refused}"  # the test tested something
        in_order = sorted(stored, key=stored.get)
        assert in_order == list(range(COUNT)), (f"stored out of order after {refused} refusals in {rounds} rounds",
                                                [(a, b) for a, b in zip(in_order, in_order[1:]) if b < a][:10])
        reader.join(FLAPPING_SECONDS + 30)
        assert shown == list(range(COUNT)), [(a, b) for a, b in zip(shown, shown[1:]) if b <= a][:10]
