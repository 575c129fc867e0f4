"""The client's session core (client/core.py) against a hostile server: a seeded fuzzer.

A logged-in :class:`ClientCore`, with messages and requests waiting for their answers, is
fed mutated frames of everything a server sends (helpers.SAMPLES), and events built field
by field from values each field's checker accepts or from hostile ones, with the request
ids and message ids the core is waiting on among them. Its public calls never raise, and
whatever it writes back is valid protocol for the server (a hostile server gets no garbage
in return). A failure names its seed.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from client.core import ClientCore, LoginAttempt
from client.display import sanitize
from client.errors import LoginRefused, ServerUnreachable
from client.outgoing import OutgoingMessage
from helpers import SAMPLES
from mutations import built_frame, chunks, field_pools, mutate_bytes
from protocol import (
    LATEST_VERSION, Connection, ErrorReply, FrameRejected, Goodbye, HistoryRequest, Hello, Ping, Role, Welcome,
    WhoRequest, codec,
)

SEEDS = range(4)
SERVER_SAMPLES = [e for e in SAMPLES if e.SENDER in ("server", "both")]
SERVER_CLASSES = [type(e) for e in SERVER_SAMPLES]
FEATURES = ("batch_acks", "rooms", "since", "edits", "read", "typing", "blocks", "resume", "catch_up")

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
        pools = field_pools(session.ids)
        frames = b"".join(built_frame(rng, pools, SERVER_CLASSES) for _ in range(rng.randint(5, 30)))
        _run(seed, frames, rng, session)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_hostile_answer_to_a_login_is_a_welcome_or_a_clear_refusal(seed: int) -> None:
    # The login's answers built field by field (a welcome of any version, heartbeat or
    # features; errors; pings; a bye) and mutated: step() gives the Welcome, asks for more
    # bytes, or raises LoginRefused or ServerUnreachable; the session opens on any Welcome.
    rng = random.Random(200 + seed)
    pools = field_pools(["hello"])
    login_classes = [Welcome, ErrorReply, Ping, Goodbye]
    for _ in range(150):
        core = ClientCore()
        attempt = LoginAttempt(core.hello("Alice", None, False, None))
        frames = b"".join(built_frame(rng, pools, login_classes) for _ in range(rng.randint(1, 3)))
        if rng.random() < 0.5:
            frames = mutate_bytes(frames, rng)
        try:
            welcome = None
            for piece in chunks(frames, rng):
                attempt.receive_data(piece)
                if (welcome := attempt.step("fuzz")) is not None:
                    break
            else:
                attempt.receive_data(b"")
                welcome = attempt.step("fuzz")
        except (LoginRefused, ServerUnreachable) as refused:
            assert str(refused), seed
            continue
        except Exception as exc:
            raise AssertionError(f"seed {seed}: step raised {exc!r} for {frames[:400]!r}") from exc
        assert isinstance(welcome, Welcome), (seed, welcome)
        try:
            core.open(attempt.conn, welcome, 100.0, False)
            core.next_deadline()
            core.handle_timeout(200.0)
            core.data_to_send()
        except Exception as exc:
            raise AssertionError(f"seed {seed}: opening on {welcome!r} raised {exc!r}") from exc


def test_whatever_text_a_server_sends_is_shown_with_no_character_that_drives_a_terminal() -> None:
    # Texts of characters from every category that can drive a terminal or reorder text
    # (C0, DEL, C1, bidi controls, separators, lone surrogates, tags, a flag), mixed with
    # plain, accented and joined text: sanitize() leaves none of them.
    rng = random.Random(7)
    alphabet = ("a", "ç", "ã", "João", "\x1b[2J", "\x1b]0;title\x07", "\r", "\n", "\t", "\x00", "\x7f", "\x9b",
                "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028", "\u2029", "\ud800", "\udfff", "\u00ad",
                "\u200d", "\U0001f3f4", "\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
                "\U000e0041", "👩\u200d💻", "\u0301")
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        shown = sanitize(text)
        unsafe = [c for c in shown if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")
                  or unicodedata.category(c) == "Cf" and c not in "\u200c\u200d"]
        assert not unsafe, (text, shown)
