"""Byte-level tests for web.websocket.frames (RFC 6455 section 5)."""

from __future__ import annotations

import pytest

from web.websocket.frames import (
    Frame,
    FrameParser,
    Opcode,
    ProtocolError,
    apply_mask,
    build_close_payload,
    is_valid_close_code,
    parse_close_payload,
    serialize_frame,
)

MASK = b"\x37\xfa\x21\x3d"

# RFC 6455 section 5.7 examples: (name, bytes, mask_expected, frames).
RFC_EXAMPLES = [
    ("unmasked Hello", b"\x81\x05\x48\x65\x6c\x6c\x6f", False, [Frame(Opcode.TEXT, b"Hello")]),
    ("masked Hello", b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", True, [Frame(Opcode.TEXT, b"Hello")]),
    (
        "fragmented Hel+lo",
        b"\x01\x03\x48\x65\x6c" + b"\x80\x02\x6c\x6f",
        False,
        [Frame(Opcode.TEXT, b"Hel", fin=False), Frame(Opcode.CONTINUATION, b"lo")],
    ),
    ("unmasked ping", b"\x89\x05\x48\x65\x6c\x6c\x6f", False, [Frame(Opcode.PING, b"Hello")]),
    ("masked pong", b"\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", True, [Frame(Opcode.PONG, b"Hello")]),
    ("256-byte binary", b"\x82\x7e\x01\x00" + bytes(range(256)), False, [Frame(Opcode.BINARY, bytes(range(256)))]),
    (
        "64KiB binary",
        b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00" + bytes(65536),
        False,
        [Frame(Opcode.BINARY, bytes(65536))],
    ),
]
SMALL_EXAMPLES = [example for example in RFC_EXAMPLES if len(example[1]) < 300]


def collect(parser: FrameParser) -> list[Frame]:
    """Drain the parser, merging data-frame chunks into whole frames."""
    frames: list[Frame] = []
    pending: list[Frame] = []
    while (chunk := parser.next_frame()) is not None:
        pending.append(chunk)
        if chunk.frame_complete:
            first = pending[0]
            frames.append(Frame(first.opcode, b"".join(c.payload for c in pending), first.fin))
            pending = []
    assert not pending, "stream ended inside a frame"
    return frames


def parse(data: bytes, *, mask_expected: bool = True, max_payload: int = 1 << 20) -> list[Frame]:
    parser = FrameParser(mask_expected=mask_expected, max_payload=max_payload)
    parser.receive_data(data)
    return collect(parser)


def parse_error(data: bytes, **kwargs) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse(data, **kwargs)
    return info.value


@pytest.mark.parametrize("name,data,mask_expected,frames", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_parse(name, data, mask_expected, frames):
    assert parse(data, mask_expected=mask_expected) == frames


@pytest.mark.parametrize("name,data,mask_expected,frames", RFC_EXAMPLES, ids=[e[0] for e in RFC_EXAMPLES])
def test_rfc_examples_serialize(name, data, mask_expected, frames):
    mask = MASK if mask_expected else None
    built = b"".join(serialize_frame(f.opcode, f.payload, fin=f.fin, mask=mask) for f in frames)
    assert built == data


@pytest.mark.parametrize("name,data,mask_expected,frames", SMALL_EXAMPLES, ids=[e[0] for e in SMALL_EXAMPLES])
def test_one_byte_at_a_time(name, data, mask_expected, frames):
    parser = FrameParser(mask_expected=mask_expected)
    got: list[Frame] = []
    chunks: list[Frame] = []
    for byte in data:
        parser.receive_data(bytes([byte]))
        while (chunk := parser.next_frame()) is not None:
            chunks.append(chunk)
            if chunk.frame_complete:
                got.append(Frame(chunks[0].opcode, b"".join(c.payload for c in chunks), chunks[0].fin))
                chunks = []
    assert got == frames


@pytest.mark.parametrize("name,data,mask_expected,frames", SMALL_EXAMPLES, ids=[e[0] for e in SMALL_EXAMPLES])
def test_every_two_part_split(name, data, mask_expected, frames):
    for cut in range(len(data) + 1):
        parser = FrameParser(mask_expected=mask_expected)
        got: list[Frame] = []
        chunks: list[Frame] = []
        for part in (data[:cut], data[cut:]):
            parser.receive_data(part)
            while (chunk := parser.next_frame()) is not None:
                chunks.append(chunk)
                if chunk.frame_complete:
                    got.append(Frame(chunks[0].opcode, b"".join(c.payload for c in chunks), chunks[0].fin))
                    chunks = []
        assert got == frames, f"split at {cut}"


def test_several_frames_in_one_read():
    data = (
        serialize_frame(Opcode.TEXT, b"a", mask=MASK)
        + serialize_frame(Opcode.PING, b"p", mask=MASK)
        + serialize_frame(Opcode.BINARY, b"\x00\x01", mask=MASK)
    )
    assert parse(data) == [Frame(Opcode.TEXT, b"a"), Frame(Opcode.PING, b"p"), Frame(Opcode.BINARY, b"\x00\x01")]


def test_incomplete_frame_yields_nothing_more():
    parser = FrameParser()
    parser.receive_data(serialize_frame(Opcode.PING, b"abc", mask=MASK)[:-1])
    assert parser.next_frame() is None


def test_data_frame_payload_is_delivered_before_the_frame_ends():
    data = serialize_frame(Opcode.BINARY, b"abcdef", mask=MASK)
    parser = FrameParser()
    parser.receive_data(data[:2])
    assert parser.next_frame() is None  # mask key still missing
    parser.receive_data(data[2:6])
    assert parser.next_frame() == Frame(Opcode.BINARY, b"", fin=True, frame_complete=False)
    assert parser.next_frame() is None
    parser.receive_data(data[6:9])
    assert parser.next_frame() == Frame(Opcode.BINARY, b"abc", fin=True, frame_complete=False)
    parser.receive_data(data[9:])
    assert parser.next_frame() == Frame(Opcode.BINARY, b"def", fin=True, frame_complete=True)
    assert parser.next_frame() is None


def test_control_frame_is_delivered_whole():
    data = serialize_frame(Opcode.PING, b"abcdef", mask=MASK)
    parser = FrameParser()
    parser.receive_data(data[:-1])
    assert parser.next_frame() is None
    parser.receive_data(data[-1:])
    assert parser.next_frame() == Frame(Opcode.PING, b"abcdef")


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
@pytest.mark.parametrize("mask", [None, MASK])
def test_round_trip_lengths(length, mask):
    payload = bytes(i % 251 for i in range(length))
    data = serialize_frame(Opcode.BINARY, payload, mask=mask)
    expected_header = 2 + (0 if length < 126 else 2 if length < 65536 else 8) + (4 if mask else 0)
    assert len(data) == expected_header + length
    assert parse(data, mask_expected=mask is not None) == [Frame(Opcode.BINARY, payload)]


@pytest.mark.parametrize(
    "header",
    [
        b"\x82\x7e\x00\x05",  # 16-bit form for a 5-byte payload
        b"\x82\x7f\x00\x00\x00\x00\x00\x00\x00\x05",  # 64-bit form
    ],
)
def test_non_minimal_length_encoding_is_accepted(header):
    header = bytes([header[0], header[1] | 0x80]) + header[2:]
    data = header + MASK + apply_mask(b"hello", MASK)
    assert parse(data) == [Frame(Opcode.BINARY, b"hello")]


def test_64_bit_length_with_high_bit_is_rejected_from_header_alone():
    error = parse_error(b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x01")
    assert error.code == 1002


def test_unmasked_client_frame_is_rejected():
    assert parse_error(b"\x81\x05Hello", mask_expected=True).code == 1002


def test_masked_server_frame_is_rejected_by_client_parser():
    assert parse_error(serialize_frame(Opcode.TEXT, b"x", mask=MASK), mask_expected=False).code == 1002


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_reserved_bits_are_rejected(rsv):
    data = serialize_frame(Opcode.TEXT, b"x", mask=MASK)
    data = bytes([data[0] | rsv]) + data[1:]
    assert parse_error(data).code == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcodes_are_rejected(opcode):
    assert parse_error(bytes([0x80 | opcode, 0x80]) + MASK).code == 1002


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_control_frame_payload_over_125_is_rejected_on_header(opcode):
    # Only the two header bytes: the error must not wait for 126 bytes.
    assert parse_error(bytes([0x80 | opcode, 0x80 | 126])).code == 1002


@pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
def test_fragmented_control_frame_is_rejected(opcode):
    assert parse_error(bytes([opcode, 0x80]) + MASK).code == 1002


def test_control_frame_of_exactly_125_bytes_is_accepted():
    assert parse(serialize_frame(Opcode.PING, b"x" * 125, mask=MASK)) == [Frame(Opcode.PING, b"x" * 125)]


def test_data_frame_over_max_payload_is_rejected_on_header():
    header = b"\x82\xfe\x00\x0b"  # 11-byte payload announced, nothing sent yet
    assert parse_error(header, max_payload=10).code == 1009
    assert parse(serialize_frame(Opcode.BINARY, b"x" * 10, mask=MASK), max_payload=10) == [
        Frame(Opcode.BINARY, b"x" * 10)
    ]


def test_apply_mask_is_an_involution_at_any_offset():
    payload = bytes(range(37))
    masked = apply_mask(payload, MASK)
    assert masked != payload
    assert apply_mask(masked, MASK) == payload
    # Unmasking in pieces must continue the mask phase.
    assert apply_mask(masked[:5], MASK) + apply_mask(masked[5:], MASK, 5) == payload


@pytest.mark.parametrize(
    "kwargs",
    [
        {"opcode": Opcode.PING, "payload": b"x" * 126},
        {"opcode": Opcode.CLOSE, "payload": b"", "fin": False},
        {"opcode": Opcode.TEXT, "payload": b"x", "mask": b"abc"},
    ],
)
def test_serialize_rejects_invalid_frames(kwargs):
    with pytest.raises(ValueError):
        serialize_frame(**kwargs)


def test_serialized_server_frames_are_unmasked():
    assert serialize_frame(Opcode.TEXT, b"Hi")[1] & 0x80 == 0


@pytest.mark.parametrize(
    "code,valid",
    [
        (0, False), (999, False), (1000, True), (1001, True), (1002, True), (1003, True),
        (1004, False), (1005, False), (1006, False), (1007, True), (1008, True), (1009, True),
        (1010, True), (1011, True), (1012, True), (1013, True), (1014, True), (1015, False),
        (1016, False), (1100, False), (2000, False), (2999, False), (3000, True), (3999, True),
        (4000, True), (4999, True), (5000, False), (65535, False),
    ],
)  # fmt: skip
def test_close_code_validity(code, valid):
    assert is_valid_close_code(code) is valid
    payload = code.to_bytes(2, "big")
    if valid:
        assert parse_close_payload(payload) == (code, "")
    else:
        with pytest.raises(ProtocolError) as info:
            parse_close_payload(payload)
        assert info.value.code == 1002


def test_close_payload_rules():
    assert parse_close_payload(b"") == (1005, "")
    assert parse_close_payload(b"\x03\xe8bye \xe2\x82\xac") == (1000, "bye €")
    with pytest.raises(ProtocolError) as info:
        parse_close_payload(b"\x03")
    assert info.value.code == 1002
    with pytest.raises(ProtocolError) as info:
        parse_close_payload(b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80")
    assert info.value.code == 1007


def test_build_close_payload():
    assert build_close_payload(1000, "bye") == b"\x03\xe8bye"
    assert build_close_payload(1005) == b""
    for code, reason in [(1006, ""), (1005, "x"), (999, ""), (1000, "x" * 124)]:
        with pytest.raises(ValueError):
            build_close_payload(code, reason)
    assert len(build_close_payload(1000, "x" * 123)) == 125
