"""Redis's own work per delivered direct message, counted in instructions (valgrind).

Run from the repository root::

    python3 -m bench.redis_instructions                 # 1,000 and 3,000 messages
    python3 -m bench.redis_instructions --small 500 --large 1500

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
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import re
import shutil
import socket
import subprocess
import tempfile
import time

from server.mailbox import StoredMessage
from server.stores.redis import RedisStore


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("redis-server under valgrind did not start")
        time.sleep(0.1)


async def _drive(url: str, messages: int, batch: int) -> None:
    loop = asyncio.get_running_loop()
    store = RedisStore(url, timeout=120)
    store.open()
    store.start(loop)
    with_sender = "sender_key" in inspect.signature(store.record_receipt).parameters
    try:
        done = 0
        while done < messages:
            count = min(batch, messages - done)
            stored: list = []
            for i in range(count):
                n = done + i
                sender, recipient = f"user{n % 97}", f"user{(n * 7 + 1) % 97}"
                message = StoredMessage(0, sender, sender, recipient, recipient, f"benchmark message {n}",
                                        1_700_000_000.0 + n, str(n), "sent", 1_700_000_000.0 + 86400 * 30)
                store.store_message(message, stored.append)
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


def count(messages: int, batch: int) -> int:
    """Redis's instructions for start-up plus ``messages`` delivered messages."""
    valgrind, redis = shutil.which("valgrind"), shutil.which("redis-server")
    if valgrind is None or redis is None:
        raise RuntimeError("needs valgrind and redis-server on PATH")
    port = _free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen([valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", redis,
                                 "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                                 "--appendfsync", "always", "--dir", workdir, "--logfile", ""],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        try:
            _wait_for(port, proc, 60)
            asyncio.run(_drive(f"redis://127.0.0.1:{port}/0", messages, batch))
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
                sock.recv(16)
            _out, err = proc.communicate(timeout=120)
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
    args = parser.parse_args(argv)
    small, large = count(args.small, args.batch), count(args.large, args.batch)
    per = (large - small) / (args.large - args.small)
    print(f"Redis: {per:,.0f} instructions per delivered direct message (stored, received, acknowledged; "
          f"{args.large} - {args.small} messages, {args.batch} per turn)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
