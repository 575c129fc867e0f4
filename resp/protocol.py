"""Redis's wire protocol (RESP2) as an object that never touches a socket.

Use it like this::

    conn = Connection()
    conn.send_command(("SET", "k", "v"), token_a)    # queued in conn's outbox
    conn.send_command(("GET", "k"), token_b)
    sock.sendall(conn.data_to_send())                 # both commands, one write
    while conn.pending:
        conn.receive_data(sock.recv(65536))           # b"" when the server closed
        while (item := conn.next_reply()) is not NEED_DATA:
            token, reply = item                       # (token_a, "OK"), (token_b, b"v")

The contract:

- **Commands** are arrays of bulk strings (:func:`encode_command`): ``str`` is sent as
  UTF-8, ``int`` and ``float`` as their decimal text, ``bytes``/``bytearray``/``memoryview``
  as they are. Anything else (``None``, ``bool``, a list...) raises ``TypeError`` before
  anything is queued: a local mistake, never bytes the server would misread.
- **Replies** are plain values. RESP2 type by type: a simple string is a ``str``; an error
  is a :class:`RedisError` *value* (never raised, so one failed command in a pipeline does
  not hide the replies of the others); an integer is an ``int``; a bulk string is
  ``bytes``, exactly as stored (decode it yourself: a value may be binary); the null bulk
  string and the null array are ``None``; an array is a ``list`` of replies, nested to any
  depth up to ``max_depth``. Simple strings and error messages are text meant for people
  and are decoded from UTF-8 with U+FFFD for invalid bytes.
- **Matching**: Redis answers a connection's commands in the order it received them, so
  the core keeps the callers' tokens in a FIFO (:attr:`Connection.pending`) and pairs each
  complete reply with the oldest one. A reply with no command waiting for it is a protocol
  error.
- **Bounds**: a bulk string longer than ``max_bulk_bytes``, an array with more than
  ``max_array_length`` elements, arrays nested deeper than ``max_depth`` and a header or
  simple line longer than ``max_line_bytes`` are refused with :class:`ProtocolError` as
  soon as their header is read, so the receive buffer never holds more than one bulk
  string plus one line beyond the replies already complete.
- **Remote errors**: bytes that are not RESP2 (an unknown type byte, a malformed length, a
  missing CRLF after a bulk string, a RESP3 type) and a stream that ends in the middle of a
  reply make :meth:`Connection.next_reply` raise :class:`ProtocolError`. The stream cannot
  be resynchronised after that, so the connection is done: the shell closes it and fails
  the commands still pending (:meth:`Connection.fail_pending`). It keeps raising the same
  error if called again.
- This client speaks RESP2 only and never sends ``HELLO 3``; RESP3 type bytes are refused.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

# Defaults for the bounds. Redis itself refuses bulk strings over 512 MB
# (proto-max-bulk-len); a chat cluster stores messages of at most 64 KiB, so a much
# smaller cap catches a desynchronised stream long before it costs memory.
MAX_BULK_BYTES = 64 * 1024 * 1024
MAX_ARRAY_LENGTH = 16 * 1024 * 1024
MAX_DEPTH = 32
MAX_LINE_BYTES = 64 * 1024


class ProtocolError(Exception):
    """The server sent bytes that are not a RESP2 reply, or more than a bound allows.

    A *remote* error: the connection cannot go on and must be closed.
    """


@dataclass(frozen=True, slots=True)
class RedisError:
    """An error reply, as a value: ``-WRONGTYPE Operation against a key ...``.

    ``code`` is the first word (``ERR``, ``WRONGTYPE``, ``NOSCRIPT``, ``NOAUTH``,
    ``WRONGPASS``, ``BUSYGROUP``...), ``message`` the rest of the line.
    """

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} {self.message}" if self.message else self.code


class _NeedData:
    """The type of :data:`NEED_DATA`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`Connection.next_reply` when no complete reply is buffered.
NEED_DATA = _NeedData()

_CRLF = b"\r\n"
_RESP3_TYPES = frozenset(b"_,#%~>=(!|")


def _arg_bytes(arg: Any) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        # True is an int in Python; "True", "1" and "true" are all plausible on the wire,
        # so say which you mean.
        raise TypeError("a bool is not a Redis argument: pass 1/0 or a string")
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        # repr is the shortest text that reads back as the same float; Redis parses it.
        return repr(float(arg)).encode()
    if isinstance(arg, (bytearray, memoryview)):
        return bytes(arg)
    raise TypeError(f"a Redis argument must be str, bytes, int or float, not {type(arg).__name__}")


def encode_command(args: tuple[Any, ...] | list[Any]) -> bytes:
    """The RESP bytes of one command: an array of bulk strings, one per argument.

    Raises ``ValueError`` for an empty command and ``TypeError`` for an argument that is
    not ``str``, ``bytes``-like, ``int`` or ``float``.
    """
    if not args:
        raise ValueError("a Redis command needs at least its name")
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = _arg_bytes(arg)
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class CommandHead:
    """The first arguments of a command, the same at every call, encoded once:
    ``CommandHead(first).encode(rest)`` is ``encode_command((*first, *rest))``, byte for
    byte, encoding only ``rest`` (for a call sent again and again with a long constant
    head, such as a script's source; raises as :func:`encode_command` does)."""

    __slots__ = ("_count", "_bulks")

    def __init__(self, first: tuple[Any, ...] | list[Any]) -> None:
        self._count = len(first)
        self._bulks = encode_command(first).partition(_CRLF)[2]  # its bulks, without the array's length

    def encode(self, rest: tuple[Any, ...] | list[Any]) -> bytes:
        parts = [b"*%d\r\n" % (self._count + len(rest)), self._bulks]
        for arg in rest:
            data = _arg_bytes(arg)
            parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
        return b"".join(parts)


def _parse_int(line: bytes | bytearray, what: str) -> int:
    # int() alone would also take " 5", "+5" and "1_000": the wire format is stricter.
    digits = line[1:] if line[:1] == b"-" else line
    if not digits.isdigit():
        raise ProtocolError(f"{what} is not an integer: {bytes(line[:40])!r}")
    return int(line)


class Connection:
    """One connection's RESP state: an outbox of commands, a parser, the pending FIFO.

    ``send_command`` queues a command with a caller's token; ``data_to_send`` drains the
    outbox; ``receive_data`` feeds bytes (``b""`` for end of stream); ``next_reply`` returns
    ``(token, reply)`` for the oldest pending command once its reply is complete, else
    :data:`NEED_DATA`. ``fail_pending`` hands back the tokens still waiting, for a shell
    whose connection is gone. A new connection needs a new object.
    """

    __slots__ = ("pending", "_outbox", "_buffer", "_pos", "_stack", "_eof", "_error",
                 "_max_bulk", "_max_array", "_max_depth", "_max_line", "_later", "_later_bytes", "_wanted")

    def __init__(self, *, max_bulk_bytes: int = MAX_BULK_BYTES,
                 max_array_length: int = MAX_ARRAY_LENGTH, max_depth: int = MAX_DEPTH,
                 max_line_bytes: int = MAX_LINE_BYTES) -> None:
        # Tokens of the commands sent and not yet answered, oldest first.
        self.pending: deque[Any] = deque()
        self._outbox: list[bytes] = []
        # Received bytes; those before _pos are parsed already (dropped on the next feed).
        self._buffer = b""
        self._pos = 0
        # Reads kept apart while a long bulk string arrives (see receive_data), their size,
        # and how many bytes from _pos the parser needs before it can go on (0: any).
        self._later: list[bytes] = []
        self._later_bytes = 0
        self._wanted = 0
        # Arrays being filled, outermost first: [elements so far, length announced].
        self._stack: list[list[Any]] = []
        self._eof = False
        # Once the stream is broken it stays broken: the same error on every call.
        self._error: ProtocolError | None = None
        self._max_bulk = max_bulk_bytes
        self._max_array = max_array_length
        self._max_depth = max_depth
        self._max_line = max_line_bytes

    # --- Sending -----------------------------------------------------------------------

    def send_command(self, args: tuple[Any, ...] | list[Any], token: Any = None) -> None:
        """Queue one command; its reply will come back paired with ``token``."""
        self.send_encoded(encode_command(args), token)

    def send_encoded(self, command: bytes, token: Any = None) -> None:
        """Queue a command already encoded by :func:`encode_command` (exactly one)."""
        self._outbox.append(command)
        self.pending.append(token)

    def data_to_send(self) -> bytes:
        """Everything queued since the last call, as one ``bytes`` to write."""
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    def fail_pending(self) -> list[Any]:
        """Forget every command still waiting for a reply; return their tokens, oldest first.

        For a shell whose connection broke: those commands may or may not have run.
        """
        tokens = list(self.pending)
        self.pending.clear()
        return tokens

    # --- Receiving ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes read from the server; ``b""`` means the server closed the stream."""
        if not data:
            self._eof = True
            return
        # The buffer is immutable bytes: a read that starts after a complete reply (nearly
        # all of them) becomes the buffer as it is, and a bulk string is one slice of it (a
        # bytearray's cost a second copy per item). What is left of the last read is an
        # unfinished item at most (items are parsed whole as soon as they are complete), so
        # the copy that joins it to the next read is small; the reads of a long bulk string
        # wait in a list until it is whole and are joined once (joining each to the rest
        # would copy it again at every read).
        rest = len(self._buffer) - self._pos
        if self._wanted > rest + self._later_bytes + len(data):
            self._later.append(bytes(data))  # (a caller may reuse its buffer)
            self._later_bytes += len(data)
            return
        if self._later:
            data = b"".join([self._buffer[self._pos:], *self._later, data])
            self._later, self._later_bytes = [], 0
        elif rest:
            data = self._buffer[self._pos:] + data
        self._buffer = bytes(data)  # (bytes itself: no copy)
        self._pos = 0

    def next_reply(self) -> tuple[Any, Any] | _NeedData:
        """The next ``(token, reply)``, or :data:`NEED_DATA`.

        Raises :class:`ProtocolError` when the bytes are not RESP2, exceed a bound, answer
        no command, or end (``receive_data(b"")``) in the middle of a reply.
        """
        if self._error is not None:
            raise self._error
        try:
            reply = self._parse()
        except ProtocolError as exc:
            self._error = exc
            raise
        except ValueError as exc:
            # int() of digits past CPython's limit (4,300): a length or an integer no
            # Redis sends. Caught here, not checked per item: the replies' path pays nothing.
            self._error = ProtocolError(f"a number in a reply cannot be read: {exc}")
            raise self._error from None
        if reply is NEED_DATA:
            if self._eof and (self._pos < len(self._buffer) or self._stack):
                self._error = ProtocolError("the server closed the connection in the middle of a reply")
                raise self._error
            return NEED_DATA
        if not self.pending:
            self._error = ProtocolError("the server sent a reply to no command")
            raise self._error
        return self.pending.popleft(), reply

    def _parse(self) -> Any:
        """One complete top-level reply from the buffer, or NEED_DATA.

        Items (a line, or a bulk header and its body) are consumed whole or not at all;
        arrays are built on ``_stack`` as their elements arrive, so a long array that
        arrives in many reads is parsed once, not again on every read. (The position is
        kept in a local and stored where the loop leaves, and the bounds are locals: an
        inbox read of a thousand entries is five thousand items.)
        """
        buf = self._buffer
        stack = self._stack
        max_line = self._max_line
        pos = self._pos
        while True:
            end = buf.find(_CRLF, pos)
            if end < 0:
                self._pos, self._wanted = pos, 0
                if len(buf) - pos > max_line:
                    raise ProtocolError(f"a reply line is longer than {max_line} bytes")
                return NEED_DATA
            if end - pos > max_line:
                raise ProtocolError(f"a reply line is longer than {max_line} bytes")
            kind = buf[pos]
            # Bulk strings first (an inbox read's ids and entries, a store's replies' texts),
            # then integers (new ids, receipts, acks).
            if kind == 36:  # "$" bulk string
                # Plain digits (nearly every reply) are read here; anything else, the
                # sign of -1 included, by _parse_int, which decides (a call per item
                # less: replies of a store's batch are mostly small integers).
                line = buf[pos + 1:end]
                length = int(line) if line.isdigit() else _parse_int(line, "a bulk string length")
                if length < 0:
                    if length != -1:
                        raise ProtocolError(f"bulk string length {length}")
                    value: Any = None
                    pos = end + 2
                else:
                    if length > self._max_bulk:
                        raise ProtocolError(
                            f"a bulk string of {length} bytes is over the limit of {self._max_bulk}")
                    start = end + 2
                    stop = start + length
                    if len(buf) < stop + 2:
                        self._pos, self._wanted = pos, stop + 2 - pos
                        return NEED_DATA
                    if buf[stop:stop + 2] != _CRLF:
                        raise ProtocolError("a bulk string is not followed by CRLF")
                    value = buf[start:stop]
                    pos = stop + 2
            elif kind == 58:  # ":" integer
                line = buf[pos + 1:end]
                value = int(line) if line.isdigit() else _parse_int(line, "an integer reply")
                pos = end + 2
            elif kind == 43:  # "+" simple string
                value = buf[pos + 1:end].decode("utf-8", "replace")
                pos = end + 2
            elif kind == 45:  # "-" error
                code, _, message = buf[pos + 1:end].decode("utf-8", "replace").partition(" ")
                value = RedisError(code, message)
                pos = end + 2
            elif kind == 42:  # "*" array
                line = buf[pos + 1:end]
                length = int(line) if line.isdigit() else _parse_int(line, "an array length")
                pos = end + 2
                if length < 0:
                    if length != -1:
                        raise ProtocolError(f"array length {length}")
                    value = None
                elif length > self._max_array:
                    raise ProtocolError(
                        f"an array of {length} elements is over the limit of {self._max_array}")
                elif length == 0:
                    value = []
                else:
                    if len(stack) >= self._max_depth:
                        raise ProtocolError(f"arrays nested deeper than {self._max_depth}")
                    stack.append([[], length])
                    continue
            elif kind in _RESP3_TYPES:
                raise ProtocolError(f"RESP3 type {chr(kind)!r}: this client speaks RESP2 only")
            else:
                raise ProtocolError(f"unknown reply type byte {bytes([kind])!r}")
            # A complete value: it finishes zero or more arrays, or is a whole reply.
            while stack:
                top = stack[-1]
                top[0].append(value)
                if len(top[0]) < top[1]:
                    break
                stack.pop()
                value = top[0]
            else:
                self._pos, self._wanted = pos, 0
                return value
