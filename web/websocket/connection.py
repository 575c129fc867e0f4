"""Server-side RFC 6455 connection state machine (sans-I/O).

Create one ``WebSocketConnection`` per socket after the handshake succeeded.
Drive it with::

    conn.receive_data(chunk)          # b"" when the TCP peer closed its side
    for event in conn.events():       # TextMessage, BinaryMessage, Ping, Pong, CloseConnection
        write(conn.data_to_send())    # the protocol's own replies, up to this event
        write(conn.send(reply))       # then what the application answers to it

Frames are processed as ``events()`` is iterated, one event at a time, so the
outbox holds the protocol's replies (pong, close) to the frames up to and
including the current event's and no further. Writing it before answering the
event gives the peer every answer in the order it sent the frames: the pong for
a ping that came between two fragments goes before the echo of the message, and
a message that came before a close frame can still be answered before our close
(RFC 6455 5.5.1 lets the close wait for the current message). When ``state``
becomes CLOSED, flush ``data_to_send()`` and close the socket.

State transitions (``outbox`` = what ``data_to_send()`` will return):

    state    | trigger                        | outbox               | event                 | next
    ---------+--------------------------------+----------------------+-----------------------+--------
    OPEN     | send(CloseConnection)          | -                    | -                     | CLOSING
    OPEN     | close frame received           | close echoing code   | CloseConnection(peer) | CLOSED
    OPEN     | peer violates the protocol     | close with error code| CloseConnection(ours) | CLOSED
    OPEN     | ping received                  | pong, same payload   | Ping                  | OPEN
    CLOSING  | close frame received           | - (already sent)     | CloseConnection(peer) | CLOSED
    CLOSING  | peer violates the protocol     | - (already sent)     | CloseConnection(ours) | CLOSED
    CLOSING  | ping received                  | - (no frames after close) | Ping             | CLOSING
    OPEN,    | receive_data(b"") (EOF), after | -                    | CloseConnection(1006) | CLOSED
    CLOSING  | the frames that came before it |                      |                       |
    CLOSED   | any bytes received             | ignored              | -                     | CLOSED

With ``latest_ping_only`` a ping's pong is held back while more frames can be
processed, and replaced by the next ping's: it goes into the outbox before the
next message, close or violation is reported, or when ``events()`` runs out of
frames. So a burst of pings processed together (those in one read) gets one
pong, for the latest of them, which RFC 6455 5.5.3 allows; the order of the
answers is kept.

Messages received while CLOSING are still delivered: the peer may have sent
them before it saw our close frame. ``send`` raises ``LocalProtocolError``
in any state but OPEN.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Iterator

from web.websocket.events import BinaryMessage, CloseConnection, Event, Ping, Pong, TextMessage
from web.websocket.frames import (
    MAX_CONTROL_PAYLOAD,
    CloseCode,
    Frame,
    FrameParser,
    Opcode,
    ProtocolError,
    build_close_payload,
    parse_close_payload,
    serialize_frame,
)


class ConnectionState(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # we sent a close frame and wait for the peer's
    CLOSED = "closed"  # closing handshake done or connection failed: close TCP


class LocalProtocolError(Exception):
    """The application asked for something RFC 6455 forbids (e.g. send after close)."""


_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def _decode_utf8(decoder: codecs.IncrementalDecoder, data: bytes, final: bool) -> str:
    """Decode one more piece of a text message; raise ProtocolError(1007) early.

    CPython's incremental decoder reports most bad sequences on the first bad
    byte, but waits for the third byte of ED A0..BF (a UTF-16 surrogate); the
    extra check makes that case fail as soon as its second byte arrives.
    """
    try:
        text = decoder.decode(data, final)
    except UnicodeDecodeError:
        raise ProtocolError(CloseCode.INVALID_DATA, "invalid UTF-8 in text message") from None
    pending = decoder.getstate()[0]
    if len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0:
        raise ProtocolError(CloseCode.INVALID_DATA, "UTF-16 surrogate in text message")
    return text


class WebSocketConnection:
    """One server-side WebSocket connection; see the module docstring.

    ``max_message_bytes`` bounds a reassembled message and ``max_frame_bytes``
    (default: same value) a single data frame; exceeding either fails the
    connection with 1009 as soon as the offending frame header arrives.

    ``latest_ping_only``: one pong for the pings processed together, the
    latest's (see the module docstring); else (the default) a pong for each.
    ``min_frame_bytes``: what each frame received counts as at least, header
    included, for a shell that meters its reads in bytes (see
    ``take_frame_surcharge``); 0, the default: its bytes only.
    """

    def __init__(self, *, max_message_bytes: int = 1 << 20, max_frame_bytes: int | None = None,
                 latest_ping_only: bool = False, min_frame_bytes: int = 0) -> None:
        if max_message_bytes < 0 or (max_frame_bytes is not None and max_frame_bytes < 0):
            raise ValueError("size limits must be non-negative")
        self._max_message = max_message_bytes
        self._max_frame = max_message_bytes if max_frame_bytes is None else max_frame_bytes
        self._frame_follows_message = max_frame_bytes is None
        self._parser = FrameParser(mask_expected=True, min_frame_bytes=min_frame_bytes)
        self._latest_ping_only = latest_ping_only
        self._pong_due: bytes | None = None  # the payload of the pong held back (latest_ping_only)
        self._state = ConnectionState.OPEN
        # The events of the frame handled last: one at most, as each frame is handled when
        # events() reaches it. A list: a deque took 760 bytes of every connection, idle or not.
        self._events: list[Event] = []
        self._outbox = bytearray()
        # Message being reassembled: opcode of its first frame, its payload so far. One
        # bytearray, not a list of the pieces: a peer that sends a byte a frame would
        # otherwise have us hold an object (some 40 bytes) for each byte of the message.
        self._message_opcode: Opcode | None = None
        self._data = bytearray()
        self._message_size = 0
        self._decoder: codecs.IncrementalDecoder | None = None
        self._inside_frame = False  # later chunks of one frame skip the sequencing checks
        self._eof = False  # the peer closed TCP; reported once the bytes before it are processed
        self._failed = False  # we failed the connection: the peer broke the protocol (_fail)

    def set_max_message_bytes(self, max_message_bytes: int) -> None:
        """Bound messages by ``max_message_bytes`` from the next frame header on (and frames
        too, if made without their own limit): a server's chat raises it at its welcome."""
        if max_message_bytes < 0:
            raise ValueError("size limits must be non-negative")
        self._max_message = max_message_bytes
        if self._frame_follows_message:
            self._max_frame = max_message_bytes

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def failed(self) -> bool:
        """True once the connection was failed because the peer broke RFC 6455 (the
        ``CloseConnection`` event's code is then the one we sent), not closed by it."""
        return self._failed

    def take_frame_surcharge(self) -> int:
        """Return (and reset) the bytes owed beyond those received for the frames begun
        since the last call: ``min_frame_bytes`` less the size of each smaller frame.

        Parsing a frame costs about the same whatever its size, so a shell that charges
        what it reads against a budget of bytes charges this too, and a peer pays at
        least ``min_frame_bytes`` for every frame, an empty ping included."""
        owed, self._parser.shortfall = self._parser.shortfall, 0
        return owed

    @property
    def unfinished(self) -> bool:
        """True while a message (or a control frame) has begun and not ended: the
        shell bounds how long that may last, as for chat frames over TCP."""
        return self._message_opcode is not None or self._parser.pending

    # -- input ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes from the peer; ``b""`` means the peer closed TCP.

        Nothing is processed until ``events()`` is iterated. Never raises for bad
        peer input: violations become a close frame in the outbox plus a
        ``CloseConnection`` event, in their place among the events.
        """
        if self._state is ConnectionState.CLOSED or self._eof:
            return  # RFC 6455 5.5.1: nothing after the close frame matters
        if not data:
            self._eof = True
            return
        self._parser.receive_data(data)

    def events(self) -> Iterator[Event]:
        """Yield (and consume) the events the received bytes complete, in order.

        Each frame is processed when the iteration reaches it: ``state`` and
        ``data_to_send()`` reflect the frames up to the event just yielded (see
        the module docstring). Stopping early leaves the rest for the next call.
        """
        while True:
            if self._events:
                event = self._events.pop(0)
                if self._pong_due is not None and isinstance(event, (TextMessage, BinaryMessage)):
                    self._answer_ping()  # the pong goes before the answer to the message after it
                yield event
            elif not self._process_next_frame():
                if self._pong_due is not None:
                    self._answer_ping()
                return

    def _process_next_frame(self) -> bool:
        """Process one frame (or chunk of a data frame); False if none can be now."""
        if self._state is ConnectionState.CLOSED:
            return False
        try:
            # The frame limit shrinks as a fragmented message grows, so an
            # oversize message is refused on the header of the frame that
            # would overflow it, before its payload is buffered.
            self._parser.max_payload = min(self._max_frame, self._max_message - self._message_size)
            frame = self._parser.next_frame()
            if frame is None:
                if not self._eof:
                    return False
                self._state = ConnectionState.CLOSED
                self._events.append(CloseConnection(int(CloseCode.ABNORMAL), ""))
            elif frame.opcode.is_control:
                self._handle_control(frame)
            else:
                self._handle_data(frame)
        except ProtocolError as error:
            self._fail(error.code, error.reason)
        return True

    def data_to_send(self) -> bytes:
        """Return and clear the bytes the protocol queued on its own behalf."""
        data = bytes(self._outbox)
        self._outbox.clear()
        return data

    def _handle_data(self, frame: Frame) -> None:
        if not self._inside_frame:
            if frame.opcode is Opcode.CONTINUATION:
                if self._message_opcode is None:
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation frame without a message")
            else:
                if self._message_opcode is not None:
                    raise ProtocolError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented message")
                self._message_opcode = frame.opcode
                self._decoder = _Utf8Decoder() if frame.opcode is Opcode.TEXT else None
        self._inside_frame = not frame.frame_complete
        self._message_size += len(frame.payload)
        final = frame.fin and frame.frame_complete
        whole = final and not self._data  # the message in this one piece (nearly every one)
        if self._decoder is not None:
            # Checked as it comes (1007 at the first bad byte), kept as bytes until the end.
            text = _decode_utf8(self._decoder, frame.payload, final)
            if whole:
                self._events.append(TextMessage(text))
                self._reset_message()
                return
        elif whole:
            self._events.append(BinaryMessage(frame.payload))
            self._reset_message()
            return
        self._data += frame.payload
        if final:
            if self._message_opcode is Opcode.TEXT:
                self._events.append(TextMessage(self._data.decode("utf-8")))  # (valid: checked above)
            else:
                self._events.append(BinaryMessage(bytes(self._data)))
            self._reset_message()

    def _handle_control(self, frame: Frame) -> None:
        if frame.opcode is Opcode.PING:
            if self._state is ConnectionState.OPEN:
                if self._latest_ping_only:
                    self._pong_due = frame.payload  # (an earlier ping's, unanswered, is dropped)
                else:
                    self._outbox += serialize_frame(Opcode.PONG, frame.payload)
            self._events.append(Ping(frame.payload))
        elif frame.opcode is Opcode.PONG:
            self._events.append(Pong(frame.payload))
        else:
            code, reason = parse_close_payload(frame.payload)
            if self._pong_due is not None:
                self._answer_ping()  # before the close frame: nothing may follow that
            if self._state is ConnectionState.OPEN:
                # Echo the status code (RFC 6455 5.5.1); an empty close is
                # answered with an empty close.
                self._outbox += serialize_frame(Opcode.CLOSE, build_close_payload(code))
            self._state = ConnectionState.CLOSED
            self._reset_message()
            self._events.append(CloseConnection(int(code), reason))

    def _fail(self, code: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): send close once, go CLOSED."""
        self._failed = True
        if self._pong_due is not None:
            self._answer_ping()
        if self._state is ConnectionState.OPEN:
            self._outbox += serialize_frame(Opcode.CLOSE, build_close_payload(code, reason))
        self._state = ConnectionState.CLOSED
        self._reset_message()
        self._events.append(CloseConnection(int(code), reason))

    def _answer_ping(self) -> None:
        """Queue the pong held back (latest_ping_only), unless our close frame went out."""
        if self._state is ConnectionState.OPEN:
            self._outbox += serialize_frame(Opcode.PONG, self._pong_due)
        self._pong_due = None

    def _reset_message(self) -> None:
        self._message_opcode = None
        self._data = bytearray()
        self._message_size = 0
        self._decoder = None
        self._inside_frame = False

    # -- output --------------------------------------------------------------

    def send(self, event: Event, *, fragment_size: int | None = None) -> bytes:
        """Return the bytes that send ``event`` to the peer.

        ``fragment_size`` splits a Text/BinaryMessage into frames of at most
        that many payload bytes (a text message may be split inside a UTF-8
        sequence; RFC 6455 only requires the whole message to be valid).
        Sending ``CloseConnection`` moves OPEN -> CLOSING. Raises
        ``LocalProtocolError`` unless the state is OPEN, for a ping/pong
        payload over 125 bytes, or for a close code/reason that may not be sent;
        ``TypeError`` for an unknown event type.
        """
        if self._state is not ConnectionState.OPEN:
            raise LocalProtocolError(f"cannot send {type(event).__name__} in state {self._state.name}")
        if isinstance(event, TextMessage):
            return self._send_message(Opcode.TEXT, event.text.encode("utf-8"), fragment_size)
        if isinstance(event, BinaryMessage):
            return self._send_message(Opcode.BINARY, bytes(event.data), fragment_size)
        if isinstance(event, (Ping, Pong)):
            if len(event.payload) > MAX_CONTROL_PAYLOAD:
                raise LocalProtocolError("ping/pong payload over 125 bytes")
            return serialize_frame(Opcode.PING if isinstance(event, Ping) else Opcode.PONG, bytes(event.payload))
        if isinstance(event, CloseConnection):
            try:
                payload = build_close_payload(event.code, event.reason)
            except ValueError as error:
                raise LocalProtocolError(str(error)) from None
            self._state = ConnectionState.CLOSING
            return serialize_frame(Opcode.CLOSE, payload)
        raise TypeError(f"not a WebSocket event: {event!r}")

    @staticmethod
    def _send_message(opcode: Opcode, data: bytes, fragment_size: int | None) -> bytes:
        if fragment_size is not None and fragment_size < 1:
            raise ValueError("fragment_size must be positive")
        if fragment_size is None or len(data) <= fragment_size:
            return serialize_frame(opcode, data)
        chunks = [data[i : i + fragment_size] for i in range(0, len(data), fragment_size)]
        frames = []
        for index, chunk in enumerate(chunks):
            frames.append(
                serialize_frame(
                    opcode if index == 0 else Opcode.CONTINUATION,
                    chunk,
                    fin=index == len(chunks) - 1,
                )
            )
        return b"".join(frames)
