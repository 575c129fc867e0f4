"""The chat server's own work per direct message, in one process: no sockets, no generator.

Run from the repository root::

    python3 -m bench.inprocess                       # 1,000 clients, 20,000 messages
    python3 -m bench.inprocess --clients 200 --messages 4000
    python3 -m bench.inprocess --batch-acks          # the feature batch_acks, as the benchmark
    python3 -m bench.inprocess --redis redis://127.0.0.1:6379/15   # the Redis store (it FLUSHDBs it)
    python3 -m bench.inprocess --relay --batch-acks  # the bare relay (bench/relay.py), same driver

Real sessions (server/session.py), the relay and the memory store, on a real event loop;
only the transports are fakes that keep what is written. The clients are this loop: each
keeps ``--window`` messages in flight, answers every ``dm`` with a ``receipt`` and every
``delivered`` with an ``ack`` and its next message, all of one turn's frames to a session
in one read, as the benchmark's generator does (with ``--batch-acks``, one ``receipt`` and
one ``ack`` frame with ``msg_ids`` per read, as it does with servers that welcome it). Prints the process's CPU time per message
(the server's work plus this small driver's).

With ``--relay`` the sessions are the bare relay's connections (bench/relay.py) instead, fed
by the same driver with the same frames: under valgrind, the instructions per message of
both, whose ratio the machine's load cannot move (``python3 -m bench.benchmark
--instructions`` counts both and prints it).

With ``--redis URL`` the store is the cluster's Redis store (server/stores/redis.py) on a
real ``redis-server`` (whose database it empties first): the node's share of the cluster
path's store work (RESP encoding and parsing, the scripts' calls and answers), without the
routing between nodes. Redis runs in its own process, so its CPU is not counted here.

With ``--durable DIR`` the store is the durable server's (server/stores/sqlite.py) on a new
database in DIR (emptied first): ``synchronous=FULL``, the committer thread, the
checkpoints, as the server runs it. The driver waits for the committer's answers as it
does for Redis's; the process's CPU time and valgrind's count take in both threads, the
loop's and the committer's (the fsyncs' kernel time is in the CPU time, not in the count).

On a machine shared with other work, CPU time per message moves by tens of percent from run
to run. A steady figure for comparing two versions of the code is the number of
instructions, counted by valgrind (the difference of two runs cancels start-up)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 -m bench.inprocess --messages 8000
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 -m bench.inprocess --messages 24000

("Collected" of the second minus the first, divided by 16,000; valgrind must be given the
Python binary itself, not a wrapper script such as pyenv's shim.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from typing import Any

import const
from server import app
from server.config import ServerConfig
from server.outbox import WriteBatcher
from server.relay import Relay
from server.session import ClientSession
from server.stores import MemoryStore

_DM = b'{"type":"dm","msg_id":'
_DELIVERED = b'{"type":"delivered","id":"'
_MSG_ID = b'"msg_id":'
_ERROR = b'{"type":"error"'


class FakeTransport:
    """Keeps what the session writes; never full, never closing."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    # Set by any transport's write: what the driver waits for when the store answers from
    # another process (--redis), instead of polling every transport.
    wrote: asyncio.Event | None = None

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if FakeTransport.wrote is not None:
            FakeTransport.wrote.set()

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default=None):
        return ("127.0.0.1", 1) if name == "peername" else default

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def in_process_relay(loop: asyncio.AbstractEventLoop, store: Any = None) -> tuple[Relay, WriteBatcher]:
    """A relay on ``store`` (a new memory store if None), on ``loop``, and its write
    batcher. As the benchmark runs the server: capacity, not abuse, so the limits are
    lifted (but still computed for every request), the bytes a second too: the benchmark's
    1,000 clients each stay under them, but two clients here carry thousands of messages a
    second each. Shared by this module, bench/turns.py and bench/logins.py."""
    if store is None:
        store = MemoryStore()
    store.open()
    store.start(loop)
    config = ServerConfig(rate_per_connection=1e9, burst_per_connection=1e9, rate_per_address=1e9,
                          burst_per_address=1e9, max_connections_per_address=1_000_000,
                          bytes_per_connection=1e12, bytes_burst_per_connection=1e12)
    relay = Relay(config, store, lambda delay, callback: loop.call_later(delay, callback))  # hashing inline
    batcher = WriteBatcher(loop)
    batcher.follow(store)  # as server/app.py does
    return relay, batcher


async def logged_in_clients(relay: Relay, batcher: WriteBatcher, clients: int,
                            batch_acks: bool) -> list[tuple[ClientSession, FakeTransport]]:
    """``clients`` sessions user0, user1... logged in, with the feature batch_acks if
    asked: their welcomes and the "joined" notices of them all written (those go out in a
    batch, a timer's delay on: server/presence.py), so that what follows starts clean."""
    sessions = []
    for i in range(clients):
        session, transport = ClientSession(relay, batcher), FakeTransport()
        session.connection_made(transport)
        session.data_received(b'{"type":"hello","id":"h","name":"user%d","version":%d%b}\n'
                              % (i, const.PROTOCOL_VERSION, b',"features":["batch_acks"]' if batch_acks else b""))
        sessions.append((session, transport))
    deadline = time.monotonic() + 10.0 + clients / 1000
    while any(session.name is None for session, _ in sessions) or relay.presence.pending_keys:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{clients} in-process logins not done in time")
        await asyncio.sleep(0.0005)
    for _ in range(2):
        await asyncio.sleep(0)  # the batcher's writes of the last of them
    return sessions


def bare_relay_clients(clients: int, batch_acks: bool) -> list[tuple[Any, FakeTransport]]:
    """``clients`` connections user0, user1... to one bare relay (bench/relay.py), welcomed."""
    from bench.relay import Relay as BareRelay, RelayConnection

    relay, sessions = BareRelay(), []
    for i in range(clients):
        session, transport = RelayConnection(relay), FakeTransport()
        session.connection_made(transport)
        session.data_received(b'{"type":"hello","id":"h","name":"user%d","version":%d%b}\n'
                              % (i, const.PROTOCOL_VERSION, b',"features":["batch_acks"]' if batch_acks else b""))
        sessions.append((session, transport))
    return sessions


def durable_store(directory: str) -> Any:
    """The durable server's store on a new database in ``directory`` (its old files removed)."""
    from pathlib import Path

    from server.stores import SQLiteStore

    path = Path(directory) / "inprocess.db"
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return SQLiteStore(path)


async def run(clients: int, messages: int, window: int, seed: int, batch_acks: bool = False,
              redis: str | None = None, bare: bool = False, durable: str | None = None) -> float:
    """Relay ``messages`` direct messages end to end; returns CPU seconds per message.
    ``bare``: through the bare relay (bench/relay.py) instead of the chat server;
    ``durable``: on the SQLite store in that directory."""
    store = durable_store(durable) if durable else None
    FakeTransport.wrote = None  # an asyncio.Event belongs to one loop: a new one for this run's
    if redis:
        from resp import RedisClient
        from server.stores.redis import RedisStore

        async with RedisClient(redis) as client:
            await client.execute("FLUSHDB")
        store = RedisStore(redis)
    if bare:
        sessions = bare_relay_clients(clients, batch_acks)
    else:
        relay, batcher = in_process_relay(asyncio.get_running_loop(), store)
        sessions = await logged_in_clients(relay, batcher, clients, batch_acks)
    rng = random.Random(seed)
    counter = 0

    def send(i: int) -> bytes:
        nonlocal counter
        counter += 1
        to = rng.randrange(clients - 1)
        to += to >= i
        return b'{"type":"send","id":"%d","to":"user%d","text":"benchmark message %d"}\n' % (counter, to, counter)

    for session, transport in sessions:
        transport.written.clear()
    inbox: list[list[bytes]] = [[send(i) for _ in range(window)] for i in range(clients)]
    sent = clients * window
    gc.collect()
    # As the real server's tamed collector does (server/app.py), with its thresholds, and
    # its freezer at every turn below (see _relay_all).
    gc.freeze()
    before = gc.get_threshold()
    thresholds = getattr(app, "_GC_THRESHOLDS", None)  # (none before issue 9's round three)
    if thresholds is not None:
        gc.set_threshold(*thresholds)
    try:
        return await _relay_all(sessions, inbox, send, sent, messages, batch_acks, bool(redis or durable))
    finally:  # the collector is process-wide: leave it as it was
        gc.unfreeze()
        gc.set_threshold(*before)
        if durable:
            store.close()  # commits the last lazy receipts and acks, stops the committer thread


def _confirmations(receipts: list[bytes], acks: list[bytes]) -> list[bytes]:
    """One receipt and one ack frame for the ids (digits) of one read; one id alone in the
    single form, as the generator writes them."""
    frames = []
    if receipts:
        frames.append(b'{"type":"receipt","msg_id":%b}\n' % receipts[0] if len(receipts) == 1
                      else b'{"type":"receipt","msg_ids":[%b]}\n' % b",".join(receipts))
    if acks:
        frames.append(b'{"type":"ack","msg_id":%b}\n' % acks[0] if len(acks) == 1
                      else b'{"type":"ack","msg_ids":[%b]}\n' % b",".join(acks))
    return frames


async def _relay_all(sessions: list, inbox: list[list[bytes]], send, sent: int, messages: int,
                     batch_acks: bool = False, remote: bool = False) -> float:
    """Feed each session its inbox, answer what it wrote, until ``messages`` are delivered."""
    done = 0
    # The server's freezer (server/app.py, _freeze_forever: every 0.1 s) keeps the tamed
    # collector's first threshold out of reach, so the server makes no young collection at
    # this rate. Without it here, the store's rows, kept for good, passed that threshold
    # once in a 12,000-message run and not in a 4,000 one, and valgrind's difference of the
    # two counted that collection as 5,000 instructions a message that the server does not
    # spend (issue 9, round fifteen). Once a turn: the driver's turn, natively, is about as
    # long as the freezer's period, and a count of turns, unlike a clock, is the same under
    # valgrind. (A tree from before the freezer has none.)
    freeze_young = getattr(app, "_freeze_young", None)
    started = time.process_time()
    while done < messages:
        if freeze_young is not None:
            freeze_young()
        for i, (session, _transport) in enumerate(sessions):
            if inbox[i]:
                session.data_received(b"".join(inbox[i]))
                inbox[i] = []
        await asyncio.sleep(0)  # the store's answers
        await asyncio.sleep(0)  # the batched writes
        if remote:  # a store in another process or thread: wait for its answers to write something
            wrote = FakeTransport.wrote
            if wrote is None:
                wrote = FakeTransport.wrote = asyncio.Event()
            if not any(transport.written for _session, transport in sessions):
                await asyncio.wait_for(wrote.wait(), 30)
            wrote.clear()
            await asyncio.sleep(0)  # the rest of the answers of that pipeline
            await asyncio.sleep(0)  # their batched writes
        for i, (_session, transport) in enumerate(sessions):
            if not transport.written:
                continue
            frames = b"".join(transport.written).split(b"\n")
            transport.written.clear()
            receipts, acks, sends = [], [], []
            for line in frames[:-1]:
                if line.startswith(_DM):
                    receipts.append(line[len(_DM):line.index(b",", len(_DM))])
                elif line.startswith(_DELIVERED):
                    acks.append(line[line.index(_MSG_ID) + 9:-1])
                    done += 1
                    if sent < messages:
                        sends.append(send(i))
                        sent += 1
                elif line.startswith(_ERROR):  # a message refused is never delivered: stop, not spin
                    raise RuntimeError(f"the server refused a request: {line.decode()}")
            if batch_acks:
                inbox[i] += _confirmations(receipts, acks)
            else:
                inbox[i] += [b'{"type":"receipt","msg_id":%b}\n' % msg_id for msg_id in receipts]
                inbox[i] += [b'{"type":"ack","msg_id":%b}\n' % msg_id for msg_id in acks]
            inbox[i] += sends
    return (time.process_time() - started) / done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=4, help="messages each client keeps in flight")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-acks", action="store_true", help="ask for batch_acks; confirm in batches")
    parser.add_argument("--redis", metavar="URL", help="the Redis store on this redis:// URL (emptied first)")
    parser.add_argument("--durable", metavar="DIR", help="the durable SQLite store, on a new database in DIR")
    parser.add_argument("--relay", action="store_true", help="the bare relay (bench/relay.py), not the chat server")
    args = parser.parse_args(argv)
    per_message = asyncio.run(run(args.clients, args.messages, args.window, args.seed, args.batch_acks,
                                  args.redis, args.relay, args.durable))
    print(f"{per_message * 1e6:.1f} µs of CPU per direct message ({'bare relay' if args.relay else 'server'} "
          f"and driver), {args.clients} clients, "
          f"{args.messages} messages")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
