"""A bare relay through Redis: the cluster benchmark's reference for what the cluster path's
hops alone cost (issue 10), as bench/relay.py is issue 9's for forwarding alone.

Run from the repository root, one process per node, all given the same Redis::

    python3 -m bench.redis_relay --redis redis://127.0.0.1:6379/0 --port 0   # "listening on ..." on stderr

It takes the cluster's path and nothing else: the same wire protocol subset as
bench/relay.py (``hello``, ``send``, ``receipt``, ``ack``, ``ping``, ``bye``, ``batch_acks``),
the project's RESP client (resp/aio.py), and per message the Redis steps a node's message
cannot do without:

- ``hello`` → the name's node written to one hash (``HSET``), then ``welcome``;
- ``send`` → one ``XADD``: into the recipient's node's inbox stream when the recipient is on
  another node (the message is then in Redis: stored and routed in one step), into one
  capped log stream when it is here; ``accepted`` once Redis has answered, then the ``dm``
  to a recipient here. A recipient whose node this process does not know yet is looked up
  once (``HGET``) and remembered;
- each node reads its inbox with one blocking ``XREADGROUP`` at a time (a consumer group),
  acknowledging and deleting what it read (``XACK``, ``XDEL``) in the next read's pipeline;
- ``receipt`` → ``delivered`` to the sender: written to it when it is here, else one
  ``XADD`` into its node's inbox.

A turn's Redis commands go in one pipeline at the end of the turn (as the chat node's store
sends its batch), and so do a turn's frames to each client (as the chat server's sessions
write theirs); nothing else is deferred.

What it does not do, and the cluster does: no Lua (no id check, no routing by session, no
atomic step beyond one command), no offline queue (a message for someone who is not
connected is dropped where it arrives), no retries, receipts or outcomes kept, no history,
accounts, rate limits, byte budgets, presence or heartbeats, no ``unavailable`` when Redis
is away (it exits), and no validation beyond "is it a JSON object with the fields I need".
It is a yardstick for the benchmark, not a server to expose.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import time
from typing import Any, Callable

from resp import RedisClient, RedisError, encode_command

from . import relay

log = logging.getLogger("bench.redis_relay")


def line(frame: dict) -> bytes:
    """``frame`` as its line on the wire, in bench/relay.py's encoding."""
    return relay._encode(frame).encode() + b"\n"


PREFIX = "bench-relay:"
WHERE = PREFIX + "where"  # hash: name -> node number
LOG = PREFIX + "log"  # the messages between two users of one node, capped
LOG_LENGTH = 100_000
READ_COUNT = 1000
BLOCK_MS = 1000


def inbox(node: int) -> str:
    return f"{PREFIX}inbox:{node}"


class Node:
    """What the connections of one node share: who is here, where the others are, the
    turn's Redis commands, and whose receipt goes to whom."""

    def __init__(self, redis: RedisClient, reader: RedisClient, number: int) -> None:
        self.redis, self.reader, self.number = redis, reader, number
        self.by_name: dict[str, RelayConnection] = {}
        self.node_of: dict[str, int] = {}  # names on other nodes, as looked up
        # msg_id -> (the sender's node, name and request id): popped by the receipt.
        self.awaiting_receipt: dict[int, tuple[int, str, str]] = {}
        # Node numbers are told apart in the low bits, so two nodes never give one id.
        self.msg_ids = (n << 12 | number for n in itertools.count(1))
        self._commands: list[bytes] = []
        self._answers: list[Callable[[Any], None] | None] = []
        self._flushing = False
        self._written: list[RelayConnection] = []  # the connections with frames to write

    # --- The turn's pipeline ------------------------------------------------------------

    def submit(self, command: tuple, answer: Callable[[Any], None] | None = None) -> None:
        """Queue ``command`` for the end of this turn; ``answer(reply)`` runs on its reply."""
        self._commands.append(encode_command(command))
        self._answers.append(answer)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        commands, answers = self._commands, self._answers
        self._commands, self._answers, self._flushing = [], [], False
        if commands:
            asyncio.ensure_future(self._answer(self.redis.pipeline_now(commands), answers))
        written, self._written = self._written, []
        for connection in written:
            connection.flush()

    def written(self, connection: RelayConnection) -> None:
        """``connection`` has frames to write: at the end of this turn, together."""
        self._written.append(connection)
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    async def _answer(self, replies: Any, answers: list) -> None:
        for reply, answer in zip(await replies, answers):
            if isinstance(reply, RedisError):
                log.error("Redis refused a command: %s", reply)
            elif answer is not None:
                answer(reply)

    # --- Messages -----------------------------------------------------------------------

    def send(self, sender: RelayConnection, request: str, to: str, text: str) -> None:
        local = self.by_name.get(to)
        node = self.number if local is not None else self.node_of.get(to)
        if node is None:
            def found(reply: Any) -> None:
                if reply is None:
                    sender.write({"type": "error", "code": "unknown_recipient", "message": "never logged in",
                                  "id": request})
                else:
                    self.node_of[to] = int(reply)
                    self.send(sender, request, to, text)
            self.submit(("HGET", WHERE, to), found)
            return
        msg_id = next(self.msg_ids)
        dm = line({"type": "dm", "msg_id": msg_id, "from": sender.name, "to": to, "text": text,
                   "sent_at": time.time()})
        accepted = {"type": "accepted", "id": request, "msg_id": msg_id}
        if node == self.number:
            def stored(_: Any) -> None:
                sender.write(accepted)
                target = self.by_name.get(to)
                if target is not None:
                    self.awaiting_receipt[msg_id] = (self.number, sender.name, request)
                    target.write_bytes(dm)
            self.submit(("XADD", LOG, "MAXLEN", "~", LOG_LENGTH, "*", "b", dm), stored)
        else:
            self.submit(("XADD", inbox(node), "*", "k", "d", "t", to, "n", self.number, "s", sender.name,
                         "r", request, "i", msg_id, "b", dm), lambda _: sender.write(accepted))

    def receipt(self, msg_id: int) -> None:
        waiting = self.awaiting_receipt.pop(msg_id, None)
        if waiting is None:
            return
        node, sender, request = waiting
        delivered = {"type": "delivered", "id": request, "msg_id": msg_id}
        if node == self.number:
            target = self.by_name.get(sender)
            if target is not None:
                target.write(delivered)
        else:
            self.submit(("XADD", inbox(node), "*", "k", "a", "t", sender, "b",
                         line(delivered)))

    async def read_inbox(self) -> None:
        stream, taken = inbox(self.number), []
        while True:
            commands = [("XACK", stream, "g", *taken), ("XDEL", stream, *taken)] if taken else []
            commands.append(("XREADGROUP", "GROUP", "g", "c", "COUNT", READ_COUNT, "BLOCK", BLOCK_MS,
                             "STREAMS", stream, ">"))
            replies = await self.reader.pipeline_now([encode_command(c) for c in commands])
            reply = replies[-1]
            if isinstance(reply, RedisError):
                raise RuntimeError(f"the inbox cannot be read: {reply}")
            taken = []
            for entry_id, fields in reply[0][1] if reply else ():
                taken.append(entry_id)
                entry = dict(zip(fields[::2], fields[1::2]))
                target = self.by_name.get(entry[b"t"].decode())
                if target is None:
                    continue
                if entry[b"k"] == b"d":
                    self.awaiting_receipt[int(entry[b"i"])] = (int(entry[b"n"]), entry[b"s"].decode(),
                                                               entry[b"r"].decode())
                target.write_bytes(entry[b"b"])


class RelayConnection(relay.RelayConnection):
    """One client: bench/relay.py's, but what it is sent goes through this node (``relay`` is
    the :class:`Node`) and its frames are written at the end of the turn."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)  # type: ignore[arg-type]  (a Node has the by_name it uses)
        self.node = node
        self.out: list[bytes] = []  # frames written in this turn, sent at its end

    def handle(self, frame: dict) -> None:
        kind = frame["type"]
        node = self.node
        if kind == "send":
            node.send(self, frame["id"], str(frame["to"]), frame["text"])
        elif kind == "receipt":
            for msg_id in frame["msg_ids"] if "msg_ids" in frame else (frame["msg_id"],):
                node.receipt(msg_id)
        elif kind == "hello":
            name = self.name = str(frame["name"])
            node.by_name[name] = self
            answer = relay.welcome(frame, name, "redis-relay")
            node.submit(("HSET", WHERE, name, node.number), lambda _: self.write(answer))
        else:
            super().handle(frame)  # ack, ping, bye: as the bare relay

    def write(self, frame: dict) -> None:
        self.write_bytes(line(frame))

    def write_bytes(self, data: bytes) -> None:
        if not self.out:
            self.node.written(self)
        self.out.append(data)

    def flush(self) -> None:
        out, self.out = self.out, []
        if not self.transport.is_closing():
            self.transport.write(b"".join(out))


async def serve(host: str, port: int, url: str) -> None:
    redis, reader = RedisClient(url), RedisClient(url, timeout=BLOCK_MS / 1000 + 5)
    number = await redis.execute("INCR", PREFIX + "nodes")
    stream = inbox(number)
    created = await redis.execute("XGROUP", "CREATE", stream, "g", "$", "MKSTREAM")
    if isinstance(created, RedisError) and not str(created).startswith("BUSYGROUP"):
        raise RuntimeError(f"cannot create the inbox's group: {created}")
    node = Node(redis, reader, number)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: RelayConnection(node), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()
    log.info("node %d listening on %s:%d", number, bound[0], bound[1])
    async with server:
        await node.read_inbox()  # raises when Redis goes away: the process exits


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on stderr)")
    parser.add_argument("--redis", required=True, help="redis:// URL, the same for every node")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        asyncio.run(serve(args.host, args.port, args.redis))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
