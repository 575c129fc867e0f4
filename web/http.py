"""Sans-I/O HTTP/1.1 request-head reader and response renderer.

Just enough HTTP for a static-file server and the WebSocket upgrade: only
GET and HEAD are served and request bodies are refused, so a request is
complete once its head (request line + headers + empty line) has arrived.

Usage::

    reader = HttpRequestReader()
    reader.receive_data(chunk)          # b"" on EOF
    request = reader.next_request()     # None: need more bytes
    leftover = reader.trailing_data     # bytes after the head (e.g. WS frames)

Errors raise ``HttpError(status, reason)``; the caller should send
``error.to_response()`` and close the connection, because the stream position
is unknown after a bad request (the reader re-raises the same error forever).
Its ``method`` is the request's method token where the request line began with
one (a token and a space), even if nothing else of it could be read: a refusal
of a HEAD request has no body (RFC 9110 9.3.2).

Status codes chosen for refusals:
  400  malformed request line/headers, bare LF, missing/duplicate Host,
       invalid Content-Length, any Transfer-Encoding (we cannot frame a
       chunked body and TE+CL is the classic smuggling vector), truncated head
  405  a method we know but do not serve (POST, PUT, ...)
  413  Content-Length > 0: bodies are not supported
  408  a request head begun and not finished in the time the caller allows (time_out)
  414  a request line longer than ``max_header_bytes`` (its target, surely)
  431  request head larger than ``max_header_bytes`` or too many headers
  501  a method token we do not know
  505  an HTTP version other than 1.0/1.1
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit

SUPPORTED_METHODS = frozenset({"GET", "HEAD"})
_KNOWN_METHODS = frozenset({"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"})

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") (\S+) HTTP/([0-9])\.([0-9])")
# The value is taken whole and stripped after: a lazy value followed by optional whitespace
# tries every split of a whitespace run inside the value, O(n**2) on "a \t \t ... a".
_HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"):(.*)")
_FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(r"[\x21-\x7e]+")  # visible ASCII; '#' is rejected separately
_HOST = re.compile(r"[A-Za-z0-9.\-_~!$&'()*+,;=%:\[\]]*")
_METHOD = re.compile(rb"(" + _TOKEN + rb") ")  # what a request line begins with (RFC 9112 3)
_BARE_LF = re.compile(rb"(?<!\r)\n")
_STR_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_TEXT = re.compile(r"[\t\x20-\x7e\x80-\xff]*")  # no CR/LF/NUL: no response splitting


class HttpError(Exception):
    """A request that must be refused with ``status``; see the module docstring."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = tuple(headers)
        # The refused request's method token, where it was read (set by HttpRequestReader).
        self.method: str | None = None

    def to_response(self, *, now: float | None = None) -> bytes:
        """Render a small plain-text error response that closes the connection (to
        HEAD without its body, see ``render_answer``); ``now`` (seconds since the
        epoch) dates it, as in ``render_response``."""
        headers = [*self.headers, ("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")]
        return render_answer(self.method, self.status, self.reason, headers,
                             f"{self.status} {self.reason}\n".encode(), now=now)


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request head.

    ``target`` is the path exactly as received (still percent-encoded, never
    empty, always starting with "/"); ``query`` is the part after "?" without
    it ("" if absent); ``version`` is "HTTP/1.1" or "HTTP/1.0"; ``headers``
    keeps order and repeats, names lowercased, values stripped of OWS;
    ``authority`` is the host[:port] of an absolute-form target, else None
    (see ``host``).
    """

    method: str
    target: str
    query: str
    version: str
    headers: tuple[tuple[str, str], ...]
    authority: str | None = None

    @property
    def host(self) -> str | None:
        """The host[:port] the request is for: an absolute-form target's, which overrides
        the Host header (RFC 9112 3.2.2), else the Host header's (None: neither)."""
        return self.authority if self.authority is not None else self.header("host")

    def header(self, name: str) -> str | None:
        """Value of header ``name`` (case-insensitive); repeats joined by ", "; None if absent."""
        name = name.lower()
        values = [value for key, value in self.headers if key == name]
        return ", ".join(values) if values else None

    def header_tokens(self, name: str) -> list[str]:
        """Comma-separated tokens of header ``name``, stripped and lowercased."""
        value = self.header(name) or ""
        return [token.strip().lower() for token in value.split(",") if token.strip()]

    @property
    def keep_alive(self) -> bool:
        """Whether the connection may carry another request (RFC 9112 9.3)."""
        tokens = self.header_tokens("connection")
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens


class HttpRequestReader:
    """Incremental request-head reader for one connection.

    ``max_header_bytes`` bounds the head (request line + headers + CRLFs);
    ``max_headers`` bounds the number of header lines.
    """

    def __init__(self, max_header_bytes: int = 16384, max_headers: int = 100) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers
        self._buffer = bytearray()
        self._scanned = 0  # bytes already searched for the end of the head
        self._eof = False
        self._error: HttpError | None = None

    def receive_data(self, data: bytes) -> None:
        """Append bytes from the socket; ``b""`` signals EOF."""
        if data:
            self._buffer += data
        else:
            self._eof = True

    @property
    def trailing_data(self) -> bytes:
        """Bytes received after the last request head returned (not consumed)."""
        return bytes(self._buffer)

    def next_request(self) -> Request | None:
        """Return the next complete request head, or None if more bytes are needed.

        After EOF, None means "no further request". Raises ``HttpError``.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._next_request()
        except HttpError as error:
            self._refuse(error)
            raise

    def time_out(self) -> HttpError | None:
        """The refusal (408) of a request whose head has begun and not ended, which the
        caller says took too long: sticky as any error (``next_request`` raises it). None
        when no request has begun (nothing, or only the empty lines allowed before one):
        an idle keep-alive connection, closed without a word. Call ``next_request`` first:
        a head complete but not yet returned counts as begun."""
        if self._error is not None or not self._buffer.lstrip(b"\r\n"):
            return None
        return self._refuse(HttpError(408, "Request Timeout"))

    def _refuse(self, error: HttpError) -> HttpError:
        """Make ``error`` this reader's last word, knowing the refused request's method."""
        # The buffer begins where the refused request does (see _next_request), past the
        # empty lines before it (RFC 9112 2.2).
        method = _METHOD.match(self._buffer.lstrip(b"\r\n"))
        error.method = None if method is None else method.group(1).decode("ascii")
        self._error = error
        return error

    def _next_request(self) -> Request | None:
        buf = self._buffer
        # RFC 9112 2.2: ignore empty lines before the request line.
        while buf[:2] == b"\r\n":
            del buf[:2]
            self._scanned = 0
        start = max(0, self._scanned - 3)
        end = buf.find(b"\r\n\r\n", start)
        head_end = len(buf) if end < 0 else end + 4
        # Lookbehind sees bytes before ``pos``, so only new bytes need scanning.
        if _BARE_LF.search(buf, min(self._scanned, head_end), head_end):
            raise HttpError(400, "Bad Request: bare LF")
        if head_end > self.max_header_bytes:
            if buf.find(b"\r\n", 0, self.max_header_bytes) < 0:
                # The limit passed within the request line: its target is what is too long.
                raise HttpError(414, "URI Too Long")
            raise HttpError(431, "Request Header Fields Too Large")
        if end < 0:
            self._scanned = len(buf)
            if self._eof and buf:
                raise HttpError(400, "Bad Request: incomplete request head")
            return None
        request = _parse_head(bytes(buf[:end]), self.max_headers)  # (a refused head stays: next_request)
        del buf[:head_end]
        self._scanned = 0
        return request


def _parse_head(head: bytes, max_headers: int) -> Request:
    lines = head.split(b"\r\n")
    if len(lines) - 1 > max_headers:
        raise HttpError(431, "Request Header Fields Too Large")
    if any(b"\r" in line for line in lines):
        raise HttpError(400, "Bad Request: stray CR")
    method, target, query, version, authority = _parse_request_line(lines[0])
    headers = tuple(_parse_header_line(line) for line in lines[1:])
    request = Request(method, target, query, version, headers, authority)
    _check_framing(request)
    return request


def _parse_request_line(line: bytes) -> tuple[str, str, str, str, str | None]:
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise HttpError(400, "Bad Request: malformed request line")
    method = match.group(1).decode("ascii")
    if (match.group(3), match.group(4)) not in ((b"1", b"1"), (b"1", b"0")):
        raise HttpError(505, "HTTP Version Not Supported")
    version = f"HTTP/{match.group(3).decode()}.{match.group(4).decode()}"
    if method not in SUPPORTED_METHODS:
        if method in _KNOWN_METHODS:
            raise HttpError(405, "Method Not Allowed", (("Allow", "GET, HEAD"),))
        raise HttpError(501, "Not Implemented")
    raw_target = match.group(2).decode("latin-1")
    if not _TARGET.fullmatch(raw_target) or "#" in raw_target:
        raise HttpError(400, "Bad Request: invalid request target")
    authority = None
    if raw_target.startswith("/"):
        path, _, query = raw_target.partition("?")
    elif raw_target[:7].lower() == "http://" or raw_target[:8].lower() == "https://":
        # absolute-form (RFC 9112 3.2.2) must be accepted by servers; its host is the one
        # the request is for. No userinfo: RFC 9110 4.2.4 deprecates it, a disguise.
        try:
            parts = urlsplit(raw_target)
        except ValueError:  # a broken host, "http://[::1/": urllib refuses it so
            raise HttpError(400, "Bad Request: invalid request target") from None
        authority = parts.netloc
        if not authority or "@" in authority or not _HOST.fullmatch(authority):
            raise HttpError(400, "Bad Request: invalid request target")
        path, query = parts.path or "/", parts.query
    else:
        raise HttpError(400, "Bad Request: invalid request target")
    return method, path, query, version, authority


def _parse_header_line(line: bytes) -> tuple[str, str]:
    if line[:1] in (b" ", b"\t"):
        # obs-fold is deprecated and a smuggling vector (RFC 9112 5.2).
        raise HttpError(400, "Bad Request: folded header line")
    match = _HEADER_LINE.fullmatch(line)
    if match is None:
        raise HttpError(400, "Bad Request: malformed header line")
    value = match.group(2).strip(b" \t")  # OWS around the value (RFC 9112 5)
    if not _FIELD_VALUE.fullmatch(value):
        raise HttpError(400, "Bad Request: control character in header value")
    return match.group(1).decode("ascii").lower(), value.decode("latin-1")


def _check_framing(request: Request) -> None:
    hosts = [value for name, value in request.headers if name == "host"]
    if len(hosts) > 1 or (request.version == "HTTP/1.1" and not hosts):
        raise HttpError(400, "Bad Request: exactly one Host header required")
    if hosts and not _HOST.fullmatch(hosts[0]):
        raise HttpError(400, "Bad Request: invalid Host header")
    if request.header("transfer-encoding") is not None:
        raise HttpError(400, "Bad Request: request bodies are not supported")
    lengths = [value for name, value in request.headers if name == "content-length"]
    if lengths:
        if any(not value.isascii() or not value.isdigit() for value in lengths) or len(set(lengths)) > 1:
            raise HttpError(400, "Bad Request: invalid Content-Length")
        # Any digit but a zero: a body. (Not int(): past 4,300 digits it raises ValueError.)
        if lengths[0].strip("0"):
            raise HttpError(413, "Content Too Large: request bodies are not supported")


def http_date(now: float) -> str:
    """``now`` (seconds since the epoch) in IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT"."""
    return formatdate(now, usegmt=True)


def render_answer(method: str | None, status: int, reason: str, headers: list[tuple[str, str]], body: bytes, *,
                  now: float | None = None) -> bytes:
    """The response to a ``method`` request (None: one whose method was not read), as
    ``render_response`` renders it; to HEAD without its body, whose size Content-Length
    still says (RFC 9110 9.3.2; a 304's headers say the GET's already)."""
    if method == "HEAD" and status != 304:
        headers = [*headers, ("Content-Length", str(len(body)))]
        body = b""
    return render_response(status, reason, headers, body, now=now)


def render_response(status: int, reason: str, headers: list[tuple[str, str]], body: bytes = b"", *,
                    now: float | None = None) -> bytes:
    """Return an HTTP/1.1 response as bytes.

    With ``now`` (seconds since the epoch: the caller reads the clock), the first
    header is ``Date`` (RFC 9110 6.6.1: an origin server with a clock MUST send it).
    Adds ``Content-Length: len(body)`` unless a Content-Length header is given
    or the status forbids a body (1xx, 204, 304). For HEAD responses pass the
    real Content-Length header and an empty body. Raises ``ValueError`` for a
    status outside 100-599, a body with a body-less status, or a reason/header
    containing characters that could split the response (CR, LF, NUL, ...).
    """
    if not 100 <= status <= 599:
        raise ValueError(f"invalid status {status}")
    if not _FIELD_TEXT.fullmatch(reason):
        raise ValueError("invalid reason phrase")
    bodyless = status < 200 or status in (204, 304)
    if bodyless and body:
        raise ValueError(f"status {status} cannot have a body")
    lines = [f"HTTP/1.1 {status} {reason}"]
    if now is not None:
        lines.append(f"Date: {http_date(now)}")
    has_length = False
    for name, value in headers:
        if not _STR_TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if not _FIELD_TEXT.fullmatch(value):
            raise ValueError(f"invalid value for header {name}")
        has_length = has_length or name.lower() == "content-length"
        lines.append(f"{name}: {value}")
    if not has_length and not bodyless:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + bytes(body)
