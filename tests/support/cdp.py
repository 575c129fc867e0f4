"""Test helpers: a minimal blocking WebSocket client, and the Chrome DevTools Protocol on it.

:class:`WebSocketClient` speaks the client side of RFC 6455 over a plain socket (masked
frames, ping answered, fragments joined) with a deadline on every read; the gateway tests
use it as a browser would, and :class:`CDP` uses it to drive headless Chromium, whose
DevTools endpoint is itself a WebSocket. :class:`Chromium` starts and stops the browser.

Standard library only; every wait has a deadline.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit
from processes import stop_process

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class WebSocketClosed(Exception):
    """The server closed the WebSocket; ``code`` and ``reason`` are from its close frame."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"WebSocket closed: {code} {reason}")
        self.code = code
        self.reason = reason


class HandshakeRefused(Exception):
    """The server answered the upgrade with something other than 101."""

    def __init__(self, status: int, head: bytes) -> None:
        super().__init__(f"upgrade refused with {status}")
        self.status = status
        self.head = head


class WebSocketClient:
    """Client end of one WebSocket. ``recv`` returns (opcode, payload) of whole messages."""

    def __init__(self, url: str, *, origin: str | None = None, timeout: float = 10.0,
                 extra_headers: tuple[tuple[str, str], ...] = (), tls: ssl.SSLContext | None = None) -> None:
        """``wss://`` URLs need ``tls``, the context that checks the server's certificate."""
        self.timeout = timeout
        parts = urlsplit(url)
        assert parts.scheme in ("ws", "wss"), "only ws:// and wss:// are supported"
        assert (parts.scheme == "wss") == (tls is not None), "wss:// goes with a TLS context"
        host, port = parts.hostname, parts.port or (443 if tls else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self._buffer = bytearray()
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin is not None:
            lines.append(f"Origin: {origin}")
        lines += [f"{name}: {value}" for name, value in extra_headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._buffer:
            self._fill(deadline)
        end = self._buffer.index(b"\r\n\r\n") + 4
        head = bytes(self._buffer[:end])
        del self._buffer[:end]
        self.response_head = head
        status = int(head.split(b" ", 2)[1])
        if status != 101:
            self.sock.close()
            raise HandshakeRefused(status, head)
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
        if self.headers.get("sec-websocket-accept") != expected:
            raise AssertionError(f"bad Sec-WebSocket-Accept in {head!r}")

    # --- Sending --------------------------------------------------------------------

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        """Send one frame, masked as a client must."""
        header = bytearray([(0x80 if fin else 0) | opcode])
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 1 << 16:
            header.append(0x80 | 126)
            header += struct.pack("!H", length)
        else:
            header.append(0x80 | 127)
            header += struct.pack("!Q", length)
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + _apply_mask(payload, mask))

    def send_text(self, text: str) -> None:
        self.send_frame(TEXT, text.encode("utf-8"))

    def send_json(self, obj: dict) -> None:
        self.send_text(json.dumps(obj))

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        self.send_frame(CLOSE, struct.pack("!H", code) + reason.encode())

    # --- Receiving ------------------------------------------------------------------

    def _fill(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no data from the WebSocket server in time")
        self.sock.settimeout(remaining)
        data = self.sock.recv(1 << 20)
        if not data:
            raise EOFError("the server closed the TCP connection")
        self._buffer += data

    def _read(self, count: int, deadline: float) -> bytes:
        while len(self._buffer) < count:
            self._fill(deadline)
        out = bytes(self._buffer[:count])
        del self._buffer[:count]
        return out

    def recv_frame(self, timeout: float | None = None) -> tuple[bool, int, bytes]:
        """The next frame as (fin, opcode, payload); raises TimeoutError, EOFError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        first, second = self._read(2, deadline)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2, deadline))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8, deadline))
        assert not second & 0x80, "server frames must not be masked"
        return bool(first & 0x80), first & 0x0F, self._read(length, deadline)

    def recv(self, timeout: float | None = None) -> tuple[int, bytes]:
        """The next whole data message as (opcode, payload).

        Answers pings; raises :class:`WebSocketClosed` on a close frame (after echoing
        it), TimeoutError when nothing arrives in time, EOFError when TCP ends.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        parts: list[bytes] = []
        opcode = None
        while True:
            fin, op, payload = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if op == PING:
                self.send_frame(PONG, payload)
                continue
            if op == PONG:
                continue
            if op == CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    self.send_frame(CLOSE, payload[:2])
                except OSError:
                    pass
                raise WebSocketClosed(code, payload[2:].decode("utf-8", "replace"))
            if op != 0:
                opcode = op
            parts.append(payload)
            if fin:
                return opcode, b"".join(parts)

    def recv_text(self, timeout: float | None = None) -> str:
        opcode, payload = self.recv(timeout)
        assert opcode == TEXT, f"expected a text message, got opcode {opcode}"
        return payload.decode("utf-8")

    def recv_json(self, timeout: float | None = None) -> dict:
        return json.loads(self.recv_text(timeout))

    def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait until the server ends the TCP connection (EOF or reset)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except (EOFError, ConnectionError):
                return
            self._buffer.clear()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def _apply_mask(payload: bytes, mask: bytes) -> bytes:
    if not payload:
        return b""
    # XOR with the repeated mask, as one big integer: fast enough for screenshots.
    repeated = (mask * (len(payload) // 4 + 1))[: len(payload)]
    value = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(len(payload), "big")


# --- Chrome DevTools Protocol ------------------------------------------------------------


class CDPError(Exception):
    """A DevTools command returned an error."""


class CDP:
    """Commands and events of one DevTools target (a page) over its WebSocket.

    ``send(method, params)`` returns the command's result, collecting the events that
    arrive meanwhile; ``wait_event(method, predicate, timeout)`` waits for one of them.
    """

    def __init__(self, ws_url: str, timeout: float = 15.0) -> None:
        self.ws = WebSocketClient(ws_url, timeout=timeout)
        self.timeout = timeout
        self._ids = itertools.count(1)
        self.events: list[dict] = []

    def _next_message(self, deadline: float) -> dict:
        return json.loads(self.ws.recv_text(max(0.0, deadline - time.monotonic())))

    def send(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        request_id = next(self._ids)
        self.ws.send_json({"id": request_id, "method": method, "params": params or {}})
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self._next_message(deadline)
            if message.get("id") == request_id:
                if "error" in message:
                    raise CDPError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method: str, predicate=lambda params: True, timeout: float | None = None) -> dict:
        """Return the params of the first event ``method`` (already seen or new) for which
        ``predicate(params)`` is true; removes it from ``events``. Raises TimeoutError."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method and predicate(event.get("params", {})):
                    del self.events[index]
                    return event.get("params", {})
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {method} event within the deadline")
            try:
                message = self._next_message(deadline)
            except TimeoutError:
                continue
            if "method" in message:
                self.events.append(message)

    def pump(self, timeout: float = 0.05) -> None:
        """Collect the events that arrive within ``timeout`` seconds."""
        try:
            self.wait_event("-none-", timeout=timeout)
        except TimeoutError:
            pass

    def evaluate(self, expression: str, timeout: float | None = None):
        """Evaluate JavaScript in the page and return its value (JSON-serialisable)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, timeout)
        if "exceptionDetails" in result:
            raise CDPError(f"exception in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0, interval: float = 0.05):
        """Poll ``expression`` until it returns something truthy; return that value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{expression!r} still false after {timeout} s")
            self.pump(interval)

    def close(self) -> None:
        self.ws.close()


class Chromium:
    """Headless Chromium with remote debugging, started and stopped by its PID.

    ``with Chromium(user_data_dir) as browser: cdp = browser.page()``.
    """

    def __init__(self, user_data_dir: Path, binary: str | None = None, startup_timeout: float = 30.0,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.binary = binary or shutil.which("chromium")
        self.extra_args = extra_args
        self.user_data_dir = Path(user_data_dir)
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> Chromium:
        self.user_data_dir.mkdir(parents=True, exist_ok=True)
        # A port file left by an earlier run would name a port nobody listens on.
        (self.user_data_dir / "DevToolsActivePort").unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={self.user_data_dir}",
             "--remote-debugging-port=0", *self.extra_args, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.port = self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self) -> int:
        port_file = self.user_data_dir / "DevToolsActivePort"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with status {self.process.returncode}")
            try:
                first_line = port_file.read_text().splitlines()[0]
                return int(first_line)
            except (OSError, IndexError, ValueError):
                time.sleep(0.05)  # polling a file Chromium writes once; bounded by deadline
        raise TimeoutError("Chromium did not write DevToolsActivePort in time")

    def page(self) -> CDP:
        """A CDP connection to the browser's first page target."""
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as response:
                    targets = json.load(response)
            except OSError:
                targets = []  # not answering yet; retried until the deadline
            pages = [t for t in targets if t.get("type") == "page" and "webSocketDebuggerUrl" in t]
            if pages:
                return CDP(pages[0]["webSocketDebuggerUrl"])
            if time.monotonic() >= deadline:
                raise TimeoutError("Chromium has no page target")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)

    def __exit__(self, *exc_info) -> None:
        self.stop()
