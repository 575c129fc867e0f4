"""RFC 6455 section 5 framing: a sans-I/O frame parser and a serializer.

``FrameParser`` turns a byte stream into ``Frame`` chunks and raises
``ProtocolError(code, reason)`` as soon as the bytes received so far prove the
stream invalid (a bad header is rejected before its payload arrives).
``serialize_frame`` builds one frame. No extensions are negotiated, so any RSV
bit is an error.

Data-frame payloads are delivered incrementally: one frame may come out as
several ``Frame`` chunks (``frame_complete`` is True only on the last one) so
the connection can validate UTF-8 and enforce size limits without waiting for
the whole frame. A data frame always yields a chunk as soon as its header is
parsed (possibly with an empty payload), so opcode sequencing is checked
early. Control frames (payload <= 125 bytes) always come out whole.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MAX_CONTROL_PAYLOAD = 125


class Opcode(enum.IntEnum):
    """Frame opcodes defined by RFC 6455; every other value is rejected."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        return self >= 0x8


class CloseCode(enum.IntEnum):
    """Close status codes the implementation itself uses (RFC 6455 7.4.1)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005  # never on the wire: "close frame had no payload"
    ABNORMAL = 1006  # never on the wire: "TCP closed without a close frame"
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011


class ProtocolError(Exception):
    """The peer violated RFC 6455; fail the connection with close ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame, or one chunk of a data frame's payload (already unmasked).

    ``fin`` is the frame's FIN bit (last fragment of the message);
    ``frame_complete`` says whether this chunk ends the frame.
    """

    opcode: Opcode
    payload: bytes
    fin: bool = True
    frame_complete: bool = True


@dataclass(slots=True)
class _Header:
    opcode: Opcode
    fin: bool
    mask: bytes | None
    remaining: int
    offset: int = 0  # payload bytes already consumed; selects the mask phase


def apply_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the 4-byte ``mask``, starting at payload ``offset``.

    Masking is an involution, so this both masks and unmasks.
    """
    if len(mask) != 4:
        raise ValueError("mask must be exactly 4 bytes")
    n = len(data)
    if n == 0:
        return b""
    phase = offset % 4
    key = (mask[phase:] + mask[:phase]) * (n // 4 + 1)
    # One big-integer XOR is far faster in CPython than a per-byte loop.
    value = int.from_bytes(data, "big") ^ int.from_bytes(key[:n], "big")
    return value.to_bytes(n, "big")


def serialize_frame(
    opcode: Opcode, payload: bytes = b"", *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """Return the bytes of one frame with the shortest length encoding.

    Servers pass ``mask=None`` (server frames are never masked); tests act as
    a client by passing a 4-byte mask. Raises ``ValueError`` for a control
    frame that is fragmented or has more than 125 payload bytes.
    """
    opcode = Opcode(opcode)
    if opcode.is_control and (not fin or len(payload) > MAX_CONTROL_PAYLOAD):
        raise ValueError("control frames must be final and carry at most 125 bytes")
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        header = bytes((first, mask_bit | n))
    elif n < 1 << 16:
        header = bytes((first, mask_bit | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((first, mask_bit | 127)) + n.to_bytes(8, "big")
    if mask is None:
        return header + bytes(payload)
    return header + bytes(mask) + apply_mask(payload, mask)


class FrameParser:
    """Incremental frame parser.

    Call ``receive_data(bytes)`` then ``next_frame()`` until it returns None
    (more bytes needed). ``next_frame`` raises ``ProtocolError`` for invalid
    input; the parser must not be used after that.

    ``mask_expected``: True for a server (client frames MUST be masked), False
    for a client (server frames MUST NOT be). ``max_payload`` caps the length
    of a data frame (checked on the header, code 1009); it is a public
    attribute so the connection can lower it to what is left of the message
    budget before each call. ``shortfall`` sums, over the frames whose header
    has been parsed, how many bytes each (header and payload) falls short of
    ``min_frame_bytes`` (0: nothing is counted); its reader resets it.
    """

    def __init__(self, *, mask_expected: bool = True, max_payload: int = 1 << 20, min_frame_bytes: int = 0) -> None:
        self.mask_expected = mask_expected
        self.max_payload = max_payload
        self.min_frame_bytes = min_frame_bytes
        self.shortfall = 0
        self._buffer = bytearray()
        self._header: _Header | None = None

    def receive_data(self, data: bytes) -> None:
        """Append bytes read from the stream."""
        self._buffer += data

    @property
    def pending(self) -> bool:
        """True while a frame has begun and not ended (bytes of it are buffered or due)."""
        return bool(self._buffer) or self._header is not None

    def next_frame(self) -> Frame | None:
        """Return the next frame or data-frame chunk, or None if more bytes are needed."""
        started = False
        if self._header is None:
            self._header = self._parse_header()
            if self._header is None:
                return None
            started = True
        header = self._header
        available = len(self._buffer)
        if header.opcode.is_control:
            if available < header.remaining:
                return None
            size = header.remaining
        else:
            size = min(available, header.remaining)
            if size == 0 and header.remaining and not started:
                return None
        chunk = bytes(self._buffer[:size])
        del self._buffer[:size]
        if header.mask is not None:
            chunk = apply_mask(chunk, header.mask, header.offset)
        header.offset += size
        header.remaining -= size
        complete = header.remaining == 0
        if complete:
            self._header = None
        return Frame(header.opcode, chunk, header.fin, complete)

    def _parse_header(self) -> _Header | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        first, second = buf[0], buf[1]
        # Validate the fixed two bytes before waiting for anything else, so a
        # hostile header is rejected without buffering its claimed payload.
        if first & 0x70:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set without an extension")
        try:
            opcode = Opcode(first & 0x0F)
        except ValueError:
            raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {first & 0x0F:#x}") from None
        fin = bool(first & 0x80)
        masked = bool(second & 0x80)
        if masked != self.mask_expected:
            raise ProtocolError(
                CloseCode.PROTOCOL_ERROR,
                "client frames must be masked" if self.mask_expected else "server frames must not be masked",
            )
        length = second & 0x7F
        if opcode.is_control:
            if not fin:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented control frame")
            if length > MAX_CONTROL_PAYLOAD:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "control frame payload over 125 bytes")
        pos = 2
        # Non-minimal length encodings are accepted: RFC 6455 does not require
        # receivers to reject them.
        if length == 126:
            if len(buf) < 4:
                return None
            length = int.from_bytes(buf[2:4], "big")
            pos = 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length = int.from_bytes(buf[2:10], "big")
            pos = 10
            if length >> 63:
                raise ProtocolError(CloseCode.PROTOCOL_ERROR, "64-bit length with the high bit set")
        if not opcode.is_control and length > self.max_payload:
            raise ProtocolError(CloseCode.MESSAGE_TOO_BIG, "frame exceeds the size limit")
        mask = None
        if masked:
            if len(buf) < pos + 4:
                return None
            mask = bytes(buf[pos : pos + 4])
            pos += 4
        del buf[:pos]
        short = self.min_frame_bytes - pos - length
        if short > 0:
            self.shortfall += short
        return _Header(opcode, fin, mask, length)


# Codes a peer may legitimately send (RFC 6455 7.4 plus the IANA registry:
# 1012-1014 are registered). 1004-1006 and 1015 must never be on the wire;
# 3000-3999 are IANA-registered and 4000-4999 private use.
_REGISTERED_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})
MAX_CLOSE_REASON_BYTES = MAX_CONTROL_PAYLOAD - 2


def is_valid_close_code(code: int) -> bool:
    """True if ``code`` may appear in a close frame on the wire."""
    return code in _REGISTERED_CLOSE_CODES or 3000 <= code <= 4999


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Return ``(code, reason)`` from a received close frame's payload.

    An empty payload yields ``(1005, "")``. Raises ``ProtocolError`` with 1002
    for a 1-byte payload or a code not allowed on the wire, 1007 for a reason
    that is not valid UTF-8.
    """
    if not payload:
        return CloseCode.NO_STATUS, ""
    if len(payload) == 1:
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, "close payload of 1 byte")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise ProtocolError(CloseCode.PROTOCOL_ERROR, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_DATA, "close reason is not valid UTF-8") from None
    return code, reason


def build_close_payload(code: int, reason: str = "") -> bytes:
    """Return the payload for a close frame we send.

    ``code`` 1005 means "no status" and yields an empty payload (``reason``
    must then be empty). Raises ``ValueError`` for a code that may not be sent
    or a reason longer than 123 UTF-8 bytes.
    """
    if code == CloseCode.NO_STATUS:
        if reason:
            raise ValueError("a close without a status code cannot carry a reason")
        return b""
    if not is_valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CLOSE_REASON_BYTES:
        raise ValueError("close reason longer than 123 bytes")
    return code.to_bytes(2, "big") + encoded
