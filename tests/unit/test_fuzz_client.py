"""The client's session core (client/core.py) against a hostile server: a seeded fuzzer.

A logged-in :class:`ClientCore`, with messages and requests waiting for their answers, is
fed mutated frames of everything a server sends (helpers.SAMPLES), and events built field
by field from values each field's checker accepts or from hostile ones, with the request
ids and message ids the core is waiting on among them. Its public calls never raise, and
whatever it writes back is valid protocol for the server (a hostile server gets no garbage
in return). A failure names its seed.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from client.core import ClientCore, LoginAttempt
from client.outgoing import OutgoingMessage
from helpers import SAMPLES
from mutations import HOSTILE_VALUES, chunks, frame_text, mutate_bytes
from protocol import (
    LATEST_VERSION, Connection, FrameRejected, HistoryRequest, Hello, Role, Welcome, WhoRequest, codec,
)
from protocol.codec import FieldError

SEEDS = range(4)
SERVER_SAMPLES = [e for e in SAMPLES if e.SENDER in ("server", "both")]
FEATURES = ("batch_acks", "rooms", "since", "edits", "read", "typing", "blocks", "resume")

# Values tried for every field: those its checker accepts are that field's valid pool.
CANDIDATES: tuple[object, ...] = (
    "Bob", "Alice", "João", "Conceição", "", "#ação", "general", "delivered", "queued", "sent", "expired",
    "owner", "member", "moderator", "mute", "kick", "online", "timeout", "unknown_recipient", "rate_limited",
    "unavailable", "bad_field", "x" * 64, 0, 1, 2, 7, 41, 45, 1000, 2 ** 53 - 1, 0.5, 1.5, 15.0, 1700000000.25,
    True, False, None, [], ["Bob"], ["Bob", "João"], [7, 8], [41], list(FEATURES),
    [{"name": "Bob", "since": 1.5}], [{"msg_id": 41, "from": "Bob", "to": "Alice", "text": "oi", "sent_at": 1.0,
                                       "state": "delivered"}],
    [{"room": "#ação", "count": 3, "topic": "aula"}], [{"name": "Bob", "role": "member", "online": True}],
)


def _pools(extra_ids: list[str]) -> dict[str, list[object]]:
    """Each field's valid values among CANDIDATES (and the core's request ids)."""
    pools: dict[str, list[object]] = {}
    for attr, (key, check) in codec.FIELDS.items():
        pool = []
        for value in CANDIDATES + tuple(extra_ids):
            try:
                check(key, value, 4000)
            except FieldError:
                continue
            pool.append(value)
        pools[attr] = pool
    return pools


def _built_frame(rng: random.Random, pools: dict[str, list[object]]) -> bytes:
    """A server event of a random kind, each field valid (mostly) or hostile."""
    cls = rng.choice([type(e) for e in SERVER_SAMPLES])
    obj: dict[str, object] = {"type": cls.TYPE}
    for field in dataclasses.fields(cls):
        key = codec.FIELDS[field.name][0]
        if field.default is not dataclasses.MISSING and rng.random() < 0.4:
            continue
        pool = pools[field.name]
        obj[key] = rng.choice(pool) if pool and rng.random() < 0.9 else rng.choice(HOSTILE_VALUES)
    return frame_text(obj).encode() + b"\n"


class _Session:
    """A ClientCore logged in as Alice, with sends and requests waiting for answers."""

    def __init__(self, rng: random.Random) -> None:
        self.core = ClientCore()
        self.now = 100.0
        attempt = LoginAttempt(self.core.hello("Alice", None, False, None))
        self.server = Connection(Role.SERVER)
        self.server.receive_data(attempt.data_to_send())
        hello = next(self.server.events())
        assert isinstance(hello, Hello)
        features = tuple(f for f in FEATURES if rng.random() < 0.7)
        attempt.receive_data(self.server.send(Welcome(hello.request_id, "Alice", LATEST_VERSION, "fuzz", 10.0,
                                                      features=features, read_receipts=rng.random() < 0.5)))
        welcome = attempt.step("fuzz")
        assert welcome is not None
        self.core.open(attempt.conn, welcome, self.now, False)
        self.ids: list[str] = []
        for text in ("oi", "olá João"):
            message = OutgoingMessage(self.core.new_request_id(), "Bob", text)
            self.core.submit(message)
            self.ids.append(message.request_id)
        for event in (WhoRequest(self.core.new_request_id()), HistoryRequest(self.core.new_request_id(), "Bob", 20)):
            self.core.request(event, type(event))
            self.ids.append(event.request_id)
        self.written()

    def written(self) -> None:
        """What the client wrote is valid protocol for the server: no rejection."""
        data = self.core.data_to_send()
        if data:
            self.server.receive_data(data)
            rejected = [e for e in self.server.events() if type(e) is FrameRejected]
            assert not rejected, rejected

    def feed(self, piece: bytes) -> None:
        self.now += 0.5
        self.core.receive_data(piece, self.now)
        while (items := self.core.next_events()) is not None:
            assert isinstance(items, list)
            self.core.handed_on()
        deadline = self.core.next_deadline()
        if deadline is not None and deadline <= self.now:
            self.core.handle_timeout(self.now)
        self.written()


def _run(seed: int, frames: bytes, rng: random.Random, session: _Session) -> None:
    try:
        for piece in chunks(frames, rng):
            session.feed(piece)
            if session.core.broken:
                break
        session.core.close("fuzz")
        session.core.end()
    except Exception as exc:
        raise AssertionError(f"seed {seed}: the client core raised {exc!r} for {frames[:400]!r}") from exc


@pytest.mark.parametrize("seed", SEEDS)
def test_mutated_server_frames_never_break_the_client_core(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(40):
        session = _Session(rng)
        frames = b"".join(codec.encode(rng.choice(SERVER_SAMPLES)) for _ in range(rng.randint(1, 8)))
        _run(seed, mutate_bytes(frames, rng, rng.randint(1, 6)), rng, session)


@pytest.mark.parametrize("seed", SEEDS)
def test_server_events_built_field_by_field_never_break_the_client_core(seed: int) -> None:
    rng = random.Random(100 + seed)
    for _ in range(40):
        session = _Session(rng)
        pools = _pools(session.ids)
        frames = b"".join(_built_frame(rng, pools) for _ in range(rng.randint(5, 30)))
        _run(seed, frames, rng, session)
