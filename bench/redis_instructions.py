"""Redis's own work per delivered direct message, counted in instructions (valgrind).

Run from the repository root::

    python3 -m bench.redis_instructions                 # 1,000 and 3,000 messages
    python3 -m bench.redis_instructions --small 500 --large 1500
    python3 -m bench.redis_instructions --mixed --node-times   # times as a node gives them
    python3 -m bench.redis_instructions --mixed --node-times --random-pairs   # bench.benchmark's pairs

Starts ``redis-server`` under ``valgrind --tool=callgrind`` (``appendonly yes``,
``appendfsync always``, as the cluster benchmark runs it), then drives the Redis store
(server/stores/redis.py) as a node does on the benchmark's path: each loop turn stores
``--batch`` direct messages (in one BATCH call), then records their receipts (with the
sender's key, as the relay gives it) and their acks, each in the turn's batch. Redis's
instruction count of a run of ``--large`` messages minus one of ``--small``, divided by
the difference, is its work per message: start-up, loading the scripts and the
connection's first calls cancel. Unlike the CPU time the cluster benchmark reads from
/proc, the count does not depend on the machine's load (so it needs no lock), and it
separates Redis from the node and the generator. The fsync itself is the kernel's and
is not counted (valgrind counts user-space instructions).

With ``--node`` it counts the other side instead: Redis runs plainly and the driver (the
store's client half, as a node runs it: encoding the operations, the RESP client, parsing
the replies, answering each operation) runs under valgrind. The driver's own part (making
the messages) is the same in every tree, so the difference between two trees is the
store path's.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import re
import os
import shutil
import socket
import subprocess
import sys
import tempfile

from bench.resp_bench import answers_ping, free_port
from const import QUEUE_TTL
from server.mailbox import StoredMessage
from server.stores.redis import RedisStore


# ``--node-times``: each message sent at a time with a fraction, as a node's clock gives it,
# and expiring at that time plus the queue's TTL, as the relay sets it (else one whole
# second, the same for every message: a sorted set's listpack holds a whole number as an
# integer, a fraction as a string its walks convert).
NODE_TIMES = False
# ``--random-pairs``: 1,000 users, each message to another picked at random (by a hash of
# its number), as bench.benchmark's throughput phase sends: nearly every message opens a
# conversation (else 97 users, each writing to one other: 97 conversations, every message
# one more in its conversation).
RANDOM_PAIRS = False


def _fields(n: int) -> tuple:
    if RANDOM_PAIRS:
        sender, recipient = f"user{n % 1000}", f"user{(n % 1000 + 1 + (n * 2654435761 >> 7) % 999) % 1000}"
    else:
        sender, recipient = f"user{n % 97}", f"user{(n * 7 + 1) % 97}"
    if NODE_TIMES:
        sent_at = 1_764_000_000.123457 + n / 7919
        return (sender, sender, recipient, recipient, f"benchmark message {n}", sent_at, str(n), "sent",
                sent_at + QUEUE_TTL)
    return (sender, sender, recipient, recipient, f"benchmark message {n}", 1_700_000_000.0 + n, str(n), "sent",
            1_700_000_000.0 + 86400 * 30)


async def _drive_mixed(store: RedisStore, messages: int, batch: int, with_sender: bool) -> None:
    """``--mixed``: turn t stores its messages and, after every second one, records two
    receipts of turn t-1's messages and two acks of turn t-2's; then two turns more end
    the last ones' receipts and acks."""
    stored: list[list] = []
    done = turn = 0
    while done < messages or turn < len(stored) + 2:
        count = min(batch, messages - done)
        now: list = []
        received = stored[turn - 1] if 1 <= turn <= len(stored) else []
        acked = stored[turn - 2] if 2 <= turn <= len(stored) + 1 else []
        for i in range(max(count, len(received), len(acked))):
            if i < count:
                store.store_fields(_fields(done + i), now.append)
            if i % 2 == 1 or i == max(count, len(received), len(acked)) - 1:
                for message, _status in received[i - i % 2:i + 1]:
                    if with_sender:
                        store.record_receipt(message.msg_id, message.recipient_key, sender_key=message.sender_key)
                    else:
                        store.record_receipt(message.msg_id, message.recipient_key)
                for message, _status in acked[i - i % 2:i + 1]:
                    store.record_ack(message.msg_id, message.sender_key)
        await store.drain(timeout=120)
        if count:
            stored.append(now)
        done += count
        turn += 1


async def _drive(url: str, messages: int, batch: int, mixed: bool = False) -> None:
    loop = asyncio.get_running_loop()
    store = RedisStore(url, timeout=120)
    store.open()
    store.start(loop)
    with_sender = "sender_key" in inspect.signature(store.record_receipt).parameters
    from_fields = hasattr(store, "store_fields") and os.environ.get("BENCH_STORE_MESSAGE") != "1"
    try:
        if mixed:
            await _drive_mixed(store, messages, batch, with_sender)
            return
        done = 0
        while done < messages:
            count = min(batch, messages - done)
            stored: list = []
            for i in range(count):
                fields = _fields(done + i)
                # As the relay stores a direct message (store_fields: the store builds it);
                # store_message for a store from before store_fields.
                if from_fields:
                    store.store_fields(fields, stored.append)
                else:
                    store.store_message(StoredMessage(0, *fields), stored.append)
            await store.drain(timeout=120)
            for message, _status in stored:
                if with_sender:
                    store.record_receipt(message.msg_id, message.recipient_key, sender_key=message.sender_key)
                else:  # a store from before the receipt took the sender's key
                    store.record_receipt(message.msg_id, message.recipient_key)
            await store.drain(timeout=120)
            for message, _status in stored:
                store.record_ack(message.msg_id, message.sender_key)
            await store.drain(timeout=120)
            done += count
    finally:
        store.close()


def count(messages: int, batch: int, node: bool = False, mixed: bool = False) -> int:
    """Redis's instructions (``node``: the driver's) for start-up plus ``messages``
    delivered messages."""
    valgrind, redis = shutil.which("valgrind"), shutil.which("redis-server")
    if valgrind is None or redis is None:
        raise RuntimeError("needs valgrind and redis-server on PATH")
    port = free_port()
    measure = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([*([] if node else measure), redis,
                                 "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                 "--appendfsync", "always", "--dir", workdir, "--logfile", ""],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        try:
            if not answers_ping(port, proc, 60):
                raise RuntimeError("redis-server under valgrind did not start")
            url = f"redis://127.0.0.1:{port}/0"
            if node:  # the interpreter itself (valgrind must not be given a wrapper such as pyenv's shim)
                python = os.path.realpath(sys.executable)
                driver = subprocess.run([*measure, python, "-m", "bench.redis_instructions", "--drive", url,
                                         "--large", str(messages), "--batch", str(batch),
                                         *(["--mixed"] if mixed else []),
                                         *(["--node-times"] if NODE_TIMES else []),
                                         *(["--random-pairs"] if RANDOM_PAIRS else [])],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, timeout=600)
                err = driver.stderr
            else:
                asyncio.run(_drive(url, messages, batch, mixed))
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                sock.recv(16)
            _out, redis_err = proc.communicate(timeout=120)
            if not node:
                err = redis_err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    found = re.search(r"Collected : (\d+)", err)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {err[-500:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=64, help="messages stored per loop turn")
    parser.add_argument("--node", action="store_true", help="count the store's client side, not Redis")
    parser.add_argument("--mixed", action="store_true",
                        help="each turn stores, receives and acknowledges, as under the cluster benchmark")
    parser.add_argument("--node-times", action="store_true",
                        help="times with a fraction, expiring after the queue's TTL, as a node gives them")
    parser.add_argument("--random-pairs", action="store_true",
                        help="1,000 users writing to others at random, as bench.benchmark: new conversations")
    parser.add_argument("--drive", metavar="URL", help=argparse.SUPPRESS)  # --node's driver, under valgrind
    args = parser.parse_args(argv)
    global NODE_TIMES, RANDOM_PAIRS
    NODE_TIMES, RANDOM_PAIRS = args.node_times, args.random_pairs
    if args.drive:
        asyncio.run(_drive(args.drive, args.large, args.batch, args.mixed))
        return 0
    small = count(args.small, args.batch, args.node, args.mixed)
    large = count(args.large, args.batch, args.node, args.mixed)
    per = (large - small) / (args.large - args.small)
    print(f"{'Node (the store path and this driver)' if args.node else 'Redis'}: {per:,.0f} instructions per delivered direct message (stored, received, acknowledged; "
          f"{args.large} - {args.small} messages, {args.batch} per turn{', mixed' if args.mixed else ''}"
          f"{', node times' if args.node_times else ''}{', random pairs' if args.random_pairs else ''})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
