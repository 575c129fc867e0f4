"""A bare relay: the benchmark's reference for what forwarding alone costs (issue 9).

Run from the repository root::

    python3 -m bench.relay --port 0        # prints "listening on 127.0.0.1:PORT" on stderr

One asyncio ``Protocol`` per connection, ``json`` for the frames, one dictionary from name to
connection. It speaks just enough of the chat wire protocol (PROTOCOL.md) for the
benchmark's load generator to drive it unchanged:

- ``hello`` → ``welcome`` (any name; a second hello for a name takes it over);
- ``send`` → the text forwarded as a ``dm`` to the recipient, and ``accepted`` to the sender
  at once: the one-hop ack, "the relay has read it", nothing more;
- ``receipt`` from the recipient → ``delivered`` forwarded to the sender, so that a client
  waiting for the delivered ack still works;
- ``ping`` → ``pong``; ``ack`` is read and dropped; ``bye`` or EOF closes;
- the feature ``batch_acks`` (welcomed when the hello asks for it): a ``receipt`` or ``ack``
  with ``msg_ids`` is taken as one such frame per id, so the load generator sends both
  servers the same frames.

What it does not do, and the chat server does: no store (a message to someone offline is
refused with ``unknown_recipient``, and a message whose recipient leaves before its receipt
is forgotten), no retries, no history, no ids remembered across connections, no rate limits,
byte budgets or bounded queues, no heartbeat of its own, no presence notices, no accounts,
no validation beyond "is it a JSON object with the fields I need". A frame it cannot use is
answered with one ``error`` (``bad_frame``) and the connection goes on. It is a yardstick
for the benchmark, not a server to expose.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import sys
import time

log = logging.getLogger("bench.relay")

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def welcome(hello: dict, name: str, server: str) -> dict:
    """The ``welcome`` that answers ``hello`` for ``name``: ``batch_acks`` if it asked."""
    frame = {"type": "welcome", "id": hello.get("id", ""), "name": name, "version": 1,
             "server": server, "heartbeat": 3600.0, "registered": False}
    if "batch_acks" in hello.get("features", ()):
        frame["features"] = ["batch_acks"]
    return frame


class Relay:
    """What the connections share: who is connected, and whose receipt goes to whom."""

    def __init__(self) -> None:
        self.by_name: dict[str, RelayConnection] = {}
        # msg_id -> (sender's connection, the sender's request id): popped by the receipt.
        self.awaiting_receipt: dict[int, tuple[RelayConnection, str]] = {}
        self.msg_ids = itertools.count(1)


class RelayConnection(asyncio.Protocol):
    """One client: split lines, decode JSON, forward; no core, no state machine."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.name: str | None = None
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                frame = json.loads(line)
                self.handle(frame)
            except (ValueError, TypeError, KeyError, AttributeError):
                self.write({"type": "error", "code": "bad_frame", "message": "the relay cannot use this frame"})

    def handle(self, frame: dict) -> None:
        kind = frame["type"]
        relay = self.relay
        if kind == "send":
            target = relay.by_name.get(frame["to"])
            if target is None:
                self.write({"type": "error", "code": "unknown_recipient", "message": "not connected here",
                            "id": frame["id"]})
                return
            msg_id = next(relay.msg_ids)
            target.write({"type": "dm", "msg_id": msg_id, "from": self.name, "to": target.name,
                          "text": frame["text"], "sent_at": time.time()})
            relay.awaiting_receipt[msg_id] = (self, frame["id"])
            self.write({"type": "accepted", "id": frame["id"], "msg_id": msg_id})
        elif kind == "receipt":
            for msg_id in frame["msg_ids"] if "msg_ids" in frame else (frame["msg_id"],):
                sender = relay.awaiting_receipt.pop(msg_id, None)
                if sender is not None and sender[0].name is not None:
                    sender[0].write({"type": "delivered", "id": sender[1], "msg_id": msg_id})
        elif kind == "ack":
            pass  # the chat server forgets the outcome here; the relay kept nothing to forget
        elif kind == "hello":
            self.name = str(frame["name"])
            relay.by_name[self.name] = self
            self.write(welcome(frame, self.name, "relay"))
        elif kind == "ping":
            self.write({"type": "pong", "token": frame.get("token", "")})
        elif kind == "bye":
            self.transport.close()
        else:
            raise ValueError(kind)

    def write(self, frame: dict) -> None:
        if not self.transport.is_closing():
            self.transport.write(_encode(frame).encode() + b"\n")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.name is not None and self.relay.by_name.get(self.name) is self:
            del self.relay.by_name[self.name]
        self.name = None  # a receipt for this sender's messages now finds no one to tell


async def serve(host: str, port: int) -> None:
    relay = Relay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RelayConnection(relay), host, port, backlog=4096)  # as the chat server
    bound = server.sockets[0].getsockname()
    log.info("listening on %s:%d", bound[0], bound[1])
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on stderr)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
