"""The durable store's message path in fixed transactions: a count the disk cannot move.

Run from the repository root::

    python3 -m bench.transactions build /var/tmp/history.db            # 100,000 messages, 1,000 users
    python3 -m bench.transactions run /var/tmp/history.db --per 64 --transactions 10
    python3 -m bench.transactions run /var/tmp/history.db --per 512 --transactions 40 --disk /var/tmp
    python3 -m bench.transactions run /var/tmp/history.db --per 64 --transactions 10 --drop messages_room
    python3 -m bench.transactions run /var/tmp/history.db --per 64 --transactions 10 --room '#Lounge'

``build`` makes a database holding a history: direct messages between random pairs of
users, delivered and acknowledged, each sender's request ids as the reference clients make
them (32 random hex digits, a dash, a counter). ``run`` copies it and stores ``--per`` new
direct messages a transaction from random senders to random recipients, each transaction
with the previous one's receipts and acks (all paired, as ``bench/inprocess.py``'s are
not always), through ``Store._execute`` and COMMIT: what the committer thread does, with
no timing in it, so the transactions are the same whatever the machine's load (the
in-process driver's are not: how many messages a commit takes follows the disk;
bench/PROFILE.md "Round fifteen (durable)"). ``--drop INDEX`` drops an index of the copy
first (to price it). ``--confirmations-first`` puts the receipts and acks before the new
messages in each transaction, as the server's lazy confirmations often are (they wait for the
transaction a message starts: bench/PROFILE.md "Round sixteen (durable)"). ``--room '#NAME'``
stores posts to that named room instead (state ``room``, the room as recipient, no
confirmations): a room post's cost. ``--acks-later`` sends each message's ack one
transaction after its receipt (transaction N carries the receipts of N-1's messages and the
acks of N-2's), as the throughput phase does: there a lazy receipt rides the next
transaction and its ack comes a round trip later, so they almost never meet, and every
message costs the receipt's UPDATE and the ack's apart; without it every receipt meets its
ack and both take the paired UPDATE (mailbox._deliver_and_acknowledge), the latency phase's
case (bench/PROFILE.md "Round eighteen (durable)").

Without ``--disk`` the copy is in memory: count its instructions with valgrind, two runs
of N and 3N transactions, the difference divided by 2N x ``--per`` (start-up and the copy
cancel)::

    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 -m bench.transactions run DB --per 64 --transactions 10
    valgrind --tool=callgrind --callgrind-out-file=/dev/null python3 -m bench.transactions run DB --per 64 --transactions 30

With ``--disk DIR`` the copy is a file in DIR in WAL mode, as the server has it, but with no
checkpoint: the log's growth gives the frames (pages) each commit wrote, printed.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
from pathlib import Path

from server import lookups, mailbox
from server.store import Store, open_database

_TTL = 86400.0
_FRAME = 24 + 4096  # a log frame: its header and one page (the store's page size)


def _users(count: int) -> list[str]:
    return [f"user{i:04d}" for i in range(count)]


def _remove(path: Path) -> None:
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)
    lookups.remove_files(path, marker=True)


class _Traffic:
    """Direct messages between random pairs of ``users``, reproducible from ``seed``: each
    sender's request ids as one run of a reference client makes them."""

    def __init__(self, users: list[str], seed: int) -> None:
        self.rnd = random.Random(seed)
        self.users = users
        self.prefixes = {user: "%032x" % self.rnd.getrandbits(128) for user in users}
        self.counters = dict.fromkeys(users, 0)

    def messages(self, first_id: int, count: int, now: float, step: float,
                 room: str | None = None) -> list[mailbox.StoredMessage]:
        """``count`` new messages (state ``sent``), ids from ``first_id``, ``step`` seconds apart;
        with ``room`` (a named room's name, ``#...``), posts to it (state ``room``) instead."""
        rnd, users, messages = self.rnd, self.users, []
        for msg_id in range(first_id, first_id + count):
            sender = rnd.choice(users)
            recipient = rnd.choice(users)
            while recipient == sender:
                recipient = rnd.choice(users)
            self.counters[sender] += 1
            now += step
            if room is not None:  # stored as the server stores a named room's post
                messages.append(mailbox.StoredMessage(msg_id, sender, sender, room, room.lower(),
                                                      "x" * rnd.randint(10, 60), now,
                                                      f"{self.prefixes[sender]}-{self.counters[sender]}", "room"))
                continue
            messages.append(mailbox.StoredMessage(msg_id, sender, sender, recipient, recipient,
                                                  "x" * rnd.randint(10, 60), now,
                                                  f"{self.prefixes[sender]}-{self.counters[sender]}", "sent",
                                                  now + _TTL))
        return messages


def build(path: Path, history: int, users: int) -> None:
    _remove(path)
    db = open_database(path)
    traffic = _Traffic(_users(users), 1)
    db.execute("BEGIN")
    for first in range(1, history + 1, 500):
        mailbox.store_messages(db, traffic.messages(first, min(500, history + 1 - first), 1.7e9 + first / 100, 0.01))
    db.execute("UPDATE messages SET state = 'delivered', sender_notified = 1")
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def run(path: Path, per: int, transactions: int, drop: list[str], disk: Path | None,
        confirmations_first: bool = False, room: str | None = None, acks_later: bool = False) -> None:
    source = sqlite3.connect(path)
    if disk is not None:
        target = disk / "transactions.db"
        _remove(target)
        shutil.copy(path, target)
        store = Store(target)
    else:
        store = Store(None)
    store.open()
    db = store.db
    if disk is None:
        source.backup(db)
        lookups.rebuild(db)  # of the history copied in (on disk, the store's open derives them)
    else:
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the log keeps every frame: its size counts them
    source.close()
    for index in drop:
        db.execute(f"DROP INDEX {index}")
    last = db.execute("SELECT MAX(msg_id) FROM messages").fetchone()[0]
    traffic = _Traffic(_users(db.execute("SELECT COUNT(DISTINCT sender_key) FROM messages").fetchone()[0]), 2)
    log = Path(f"{target}-wal") if disk is not None else None
    logged = log.stat().st_size if log is not None and log.exists() else 0
    previous: list[mailbox.StoredMessage] = []
    received: list[mailbox.StoredMessage] = []  # with acks_later: delivered in the previous transaction
    for number in range(transactions):
        messages = traffic.messages(last + 1, per, 1.8e9 + number, 0.0005, room)
        last += per
        stores = [(mailbox.store_messages, message, None, None) for message in messages]
        confirmations = []
        for message in previous:
            confirmations.append((mailbox.record_confirmations, (mailbox.RECEIPT, message.msg_id,
                                                                 message.recipient_key), None, None))
            if not acks_later:
                confirmations.append((mailbox.record_confirmations, (mailbox.ACK, message.msg_id,
                                                                     message.sender_key), None, None))
        if acks_later:
            confirmations.extend((mailbox.record_confirmations, (mailbox.ACK, message.msg_id, message.sender_key),
                                  None, None) for message in received)
            received = previous
        pending = confirmations + stores if confirmations_first else stores + confirmations
        _, outcomes, _ = store._execute(pending)
        failures = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        if failures:
            raise SystemExit(f"transaction {number} failed: {failures[0]}")
        store._commit()
        previous = messages if room is None else []  # a room post has no receipt or ack
    if log is not None:
        frames = (log.stat().st_size - (logged or 32)) / _FRAME
        print(f"{per} messages a transaction, {transactions} transactions, dropped: {', '.join(drop) or 'none'}:"
              f" {frames / transactions:.2f} log frames a commit, {frames / transactions / per:.3f} a message")
    db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("build", help="a database holding a history")
    make.add_argument("db", type=Path)
    make.add_argument("--history", type=int, default=100_000, help="messages (default 100,000)")
    make.add_argument("--users", type=int, default=1000, help="senders and recipients (default 1,000)")
    drive = commands.add_parser("run", help="fixed transactions on a copy of it")
    drive.add_argument("db", type=Path)
    drive.add_argument("--per", type=int, default=64, help="new messages a transaction (default 64)")
    drive.add_argument("--transactions", type=int, default=10)
    drive.add_argument("--drop", action="append", default=[], metavar="INDEX", help="drop this index first")
    drive.add_argument("--disk", type=Path, help="a directory: the copy on disk, its log frames counted")
    drive.add_argument("--confirmations-first", action="store_true",
                       help="the receipts and acks before the new messages (the server's order when lazy"
                            " confirmations wait for a message's transaction), not after")
    drive.add_argument("--room", metavar="NAME", help="the new messages are posts to this named room (#NAME),"
                                                      " not direct messages")
    drive.add_argument("--acks-later", action="store_true",
                       help="each ack one transaction after its receipt (the throughput phase's case), not"
                            " in the same transaction")
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.db, args.history, args.users)
    else:
        run(args.db, args.per, args.transactions, args.drop, args.disk, args.confirmations_first, args.room,
            args.acks_later)


if __name__ == "__main__":
    main()
