"""Bench only: the memory an idle connection that has not logged in costs the server.

``python3 -m bench.idle_before_login [COUNT]`` (default 2,000) runs a server in a thread of
this process, opens COUNT connections of each kind that send nothing more, one kind after
the other, and prints per connection what tracemalloc saw allocated (the server's
packages, asyncio's, everything) and the growth of the process's resident memory:

- ``chat``: connected to the chat port, no hello;
- ``websocket``: upgraded on the web port (GET /ws), no hello;
- ``http``: connected to the web port, no request;
- ``keep-alive``: one ``GET /favicon.svg`` answered, the connection kept open;
- ``chat, frame unfinished``, ``websocket, message unfinished``: as the first two, with
  UNFINISHED bytes of a hello begun and never ended (what a connection may pin in).

The clients are raw sockets of this process (their own objects are counted in "all" and in
the resident memory; the kernel's socket buffers are in neither). Timeouts are raised so that
nothing is closed while the figures are taken; the HTTP kinds are taken within the HTTP idle
timeout (server/web.py). Not a test: it prints figures, and asserts only that the connections
stayed open.
"""

from __future__ import annotations

import gc
import socket
import sys
import time
import tracemalloc
from pathlib import Path

import const
from server import ServerConfig, ServerThread
from web.websocket.frames import Opcode, serialize_frame

ROOT = str(Path(__file__).resolve().parent.parent)
# Bytes of the frame (or message) the "unfinished" kinds begin: under the frame limit before
# the welcome (const.MAX_LOGIN_FRAME_BYTES), so the server keeps them until the login (or
# frame) timeout: the most a connection not logged in can pin in.
UNFINISHED = const.MAX_LOGIN_FRAME_BYTES - 100


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _wait(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def _share(stats, count: int) -> dict[str, float]:
    """Bytes per connection by where they were allocated: the project's packages, asyncio, all."""
    parts: dict[str, float] = {"all": 0.0}
    for stat in stats:
        path = stat.traceback[0].filename
        if path.startswith(ROOT):
            part = Path(path).relative_to(ROOT).parts[0]
        elif "/asyncio/" in path:
            part = "asyncio"
        else:
            part = "other"
        parts[part] = parts.get(part, 0.0) + stat.size_diff / count
        parts["all"] += stat.size_diff / count
    return parts


def main(count: int) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, web_port=0, login_timeout=3600, heartbeat_timeout=3600,
                          frame_timeout=3600, heartbeat_interval=3600, max_connections_per_address=count + 100)
    kept: list[socket.socket] = []
    with ServerThread(config) as server:
        web_port = server.server.web_address[1]

        def sessions() -> int:
            return server.call(lambda: len(server.server.relay.sessions))

        def web_sessions() -> int:
            from server.web import _sites
            return server.call(lambda: len(_sites[server.server._web].sessions))

        def connect(port: int) -> socket.socket:
            sock = socket.create_connection(("127.0.0.1", port))
            kept.append(sock)
            return sock

        def upgraded(sock: socket.socket) -> None:
            sock.sendall(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{web_port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{web_port}\r\n\r\n".encode())

        def page(sock: socket.socket) -> None:
            sock.sendall(f"GET /favicon.svg HTTP/1.1\r\nHost: 127.0.0.1:{web_port}\r\n\r\n".encode())

        def unfinished_frame(sock: socket.socket) -> None:
            sock.sendall(b'{"type":"hello","name":"' + b"x" * UNFINISHED)

        def unfinished_message(sock: socket.socket) -> None:
            upgraded(sock)
            sock.sendall(serialize_frame(Opcode.TEXT, b'{"type":"hello","name":"' + b"x" * UNFINISHED, fin=False,
                                         mask=b"\x12\x34\x56\x78"))

        kinds = [
            ("chat", server.port, None, sessions),
            ("websocket", web_port, upgraded, sessions),
            ("chat, frame unfinished", server.port, unfinished_frame, sessions),
            ("websocket, message unfinished", web_port, unfinished_message, sessions),
            ("http", web_port, None, web_sessions),
            ("keep-alive", web_port, page, web_sessions),
        ]
        print(f"{count} idle connections of each kind, bytes per connection:")
        for kind, port, then, open_now in kinds:
            gc.collect()
            tracemalloc.start()
            rss = _rss()
            before = tracemalloc.take_snapshot()
            for _ in range(count):
                sock = connect(port)
                if then is not None:
                    then(sock)
            _wait(lambda: open_now() == count, f"{count} {kind} connections")
            time.sleep(0.5)  # answers written, reads settled
            gc.collect()
            after = tracemalloc.take_snapshot()
            grown = _rss() - rss
            tracemalloc.stop()
            parts = _share(after.compare_to(before, "filename"), count)
            shown = ", ".join(f"{name} {value:,.0f}" for name, value in sorted(parts.items(), key=lambda p: -p[1])
                              if abs(value) >= 8)
            assert open_now() == count, f"{kind} connections were closed while measured"
            print(f"  {kind:30} traced {shown}; resident +{grown / count:,.0f}")
            for sock in kept:  # (the next kind's figures start from none open)
                sock.close()
            kept.clear()
            _wait(lambda: sessions() == 0 and web_sessions() == 0, f"{kind} connections closed")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
