"""The chat protocol's codec and Connection against hostile bytes: a seeded fuzzer.

Every valid frame of every event (helpers.SAMPLES), mutated as bytes and as JSON (each
field given every wrong type: tests/support/mutations.py), must decode to an event or to
a FrameRejected with a code of PROTOCOL.md, never raise; whatever is accepted must encode
again to the same event (else the server would fail later, writing it). A stream of such
frames fed in random reads yields what it yields fed whole, keeps the receive buffer under
its limit, and a valid frame after the garbage still works. Iterations are fixed by the
seeds: a failure names its seed.
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from helpers import HELLO, SAMPLES
from mutations import HOSTILE_VALUES, chunks, frame_text, mutate_bytes, mutate_json
from protocol import (
    LATEST_VERSION, Connection, ConnectionClosed, ErrorCode, Event, FrameRejected, Goodbye, Hello, Ping, Role, State,
    Welcome, codec,
)
from protocol.connection import _PEER_TYPES

SEEDS = range(4)
CODES = frozenset(code.value for code in ErrorCode)
# Every type either side may send: the codec is asked to read anything a peer could name.
ANY_TYPE = {**_PEER_TYPES[Role.CLIENT], **_PEER_TYPES[Role.SERVER]}
MAX_FRAME = 4096  # small, so that mutations cross it


def _check_decoded(frame: bytes, seed: int) -> Event:
    try:
        event = codec.decode(frame, ANY_TYPE, 4000)
    except Exception as exc:  # the contract: never raises for bad input
        raise AssertionError(f"seed {seed}: decode raised {exc!r} for {frame[:300]!r}") from exc
    if type(event) is FrameRejected:
        assert event.code in CODES, (seed, frame[:300], event)
        assert event.message and len(event.message) <= 1000, (seed, frame[:300], event)
        return event
    try:
        again = codec.decode(codec.encode(event)[:-1], ANY_TYPE, 4000)
    except Exception as exc:
        raise AssertionError(f"seed {seed}: {event!r}, accepted from {frame[:300]!r}, cannot be "
                             f"encoded again: {exc!r}") from exc
    assert again == event, (seed, frame[:300], event, again)
    return event


@pytest.mark.parametrize("seed", SEEDS)
def test_every_sample_frame_mutated_as_json_decodes_or_is_rejected_clearly(seed: int) -> None:
    rng = random.Random(seed)
    for sample in SAMPLES:
        obj = codec.to_dict(sample)
        for _ in range(25):
            _check_decoded(mutate_json(obj, rng), seed)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_sample_frame_mutated_as_bytes_decodes_or_is_rejected_clearly(seed: int) -> None:
    rng = random.Random(1000 + seed)
    for sample in SAMPLES:
        frame = codec.encode(sample)[:-1]
        for _ in range(25):
            _check_decoded(mutate_bytes(frame, rng).replace(b"\n", b""), seed)


def test_every_field_of_every_event_given_every_wrong_type_is_rejected_or_kept_exactly() -> None:
    for sample in SAMPLES:
        obj = codec.to_dict(sample)
        for key in obj:
            for value in HOSTILE_VALUES:
                _check_decoded(frame_text({**obj, key: value}).encode(), -1)


def _client_stream() -> bytes:
    """Every frame a client may send after its login, one per line."""
    return b"".join(codec.encode(e) for e in SAMPLES
                    if e.SENDER in ("client", "both") and type(e) not in (Hello, Goodbye))


def _feed(data_pieces) -> tuple[list[Event], Connection]:
    """What a server's core, logged in at the latest version, yields for the reads
    ``data_pieces``; checks the bound of its receive buffer after each."""
    conn = Connection(Role.SERVER, max_frame_bytes=MAX_FRAME)
    conn.receive_data(codec.encode(HELLO))
    assert list(conn.events()) == [HELLO]
    conn.send(Welcome(HELLO.request_id, HELLO.name, LATEST_VERSION, "fuzz", 15.0))
    events: list[Event] = []
    for piece in data_pieces:
        if not piece:
            continue  # (b"" would be the end of the stream)
        conn.receive_data(piece, 1.0)
        assert len(conn._buffer) < MAX_FRAME, "the receive buffer passed its limit"
        events += conn.events()
    return events, conn


@pytest.mark.parametrize("seed", SEEDS)
def test_a_mutated_stream_yields_the_same_events_in_any_reads_within_its_bound_and_recovers(seed: int) -> None:
    rng = random.Random(2000 + seed)
    stream = _client_stream()
    for _ in range(60):
        data = mutate_bytes(stream, rng, rng.randint(1, 12))
        if rng.random() < 0.2:  # a frame far over the limit, with or without its newline
            data = data[:rng.randrange(len(data))] + b"x" * (MAX_FRAME * rng.randint(1, 3)) + data[-50:]
        whole, _ = _feed([data])
        pieces = list(chunks(data, rng))
        split, conn = _feed(pieces)
        assert split == whole, f"seed {seed}: the reads changed the events"
        for event in whole:
            assert isinstance(event, Event), (seed, event)
            if type(event) is FrameRejected:
                assert event.code in CODES, (seed, event)
        # Recovery: after a newline ends whatever was open, a valid frame still works
        # (where the session's state lets the client send it).
        if conn.state in (State.HANDSHAKE, State.OPEN):
            conn.receive_data(b"\n" + codec.encode(Ping("after")))
            # (The newline may also end a frame cut short, now whole: its event comes first.)
            assert list(conn.events())[-1:] == [Ping("after")], seed
        conn.receive_data(b"")
        assert list(conn.events())[-1:] == [ConnectionClosed()], seed


def test_a_valid_stream_cut_at_every_byte_and_split_at_every_point_loses_nothing() -> None:
    stream = b"".join(_client_stream().splitlines(keepends=True)[:16])  # (every cut is one run: quadratic)
    whole, _ = _feed([stream])
    assert not [e for e in whole if type(e) is FrameRejected]
    for cut in range(1, len(stream)):
        assert _feed([stream[:cut], stream[cut:]])[0] == whole, cut
        truncated, conn = _feed([stream[:cut]])
        conn.receive_data(b"")
        ended = truncated + list(conn.events())
        assert ended[-1] == ConnectionClosed()
        if stream[cut - 1:cut] != b"\n":
            assert ended[-2].code == ErrorCode.TRUNCATED_FRAME, cut


# --- Findings, each seen failing before its fix ---------------------------------------------


def test_a_required_field_sent_as_null_is_a_bad_field_unless_its_event_takes_none() -> None:
    # Found by the fuzzer: {"type":"register","id":"r","password":null} decoded to a
    # Register with no password (the checker of "password" is a hello's, where it is
    # optional), and the server's relay took len() of None.
    assert codec.decode(b'{"type":"register","id":"r","password":null}', ANY_TYPE, 4000) == FrameRejected(
        ErrorCode.BAD_FIELD, "'password' must be a string", "r")
    for sample in SAMPLES:
        obj = codec.to_dict(sample)
        for field in dataclasses.fields(sample):
            key = codec.FIELDS[field.name][0]
            if field.default is dataclasses.MISSING and "None" not in str(field.type) and key in obj:
                event = codec.decode(frame_text({**obj, key: None}).encode(), ANY_TYPE, 4000)
                assert type(event) is FrameRejected and event.code == ErrorCode.BAD_FIELD, (sample, key, event)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_message_paths_quick_decoders_agree_with_the_generic_one_on_mutated_frames(seed: int) -> None:
    # Sends, receipts and acks are read straight from their bytes when written as every
    # client writes them (codec._by_bytes, _send_by_bytes, the _QUICK decoders): whatever
    # they accept, the generic path must accept as the same event. A space after the
    # opening brace sends a frame the generic way, with the same meaning.
    rng = random.Random(3000 + seed)
    heads = [b'{"type":"send","id":"r1","to":"Bob","text":"oi"}', b'{"type":"receipt","msg_id":41}',
             b'{"type":"ack","msg_id":41}', b'{"type":"receipt","msg_ids":[41,42,0]}', b'{"type":"ack","msg_ids":[7]}',
             codec.encode(SAMPLES[0])[:-1]]
    for _ in range(1500):
        frame = mutate_bytes(rng.choice(heads), rng, rng.randint(1, 2)).replace(b"\n", b"")
        if frame[:1] != b"{":
            continue
        fast = _check_decoded(frame, seed)
        generic = codec.decode(b"{ " + frame[1:], ANY_TYPE, 4000)
        if type(fast) is FrameRejected:
            assert type(generic) is FrameRejected, (seed, frame, generic)
        else:
            assert generic == fast, (seed, frame, fast, generic)
