"""How long a history page takes in a long conversation: the store's ``mailbox.history``.

Run from the repository root, on a quiet machine (it is a timing)::

    python3 -m bench.historypage /var/tmp/pages.db
    python3 -m bench.historypage /var/tmp/pages.db --conversation 100000 --others 100000

Makes (once; an existing file is reused) a database on disk holding one conversation of
``--conversation`` direct messages between two users, both directions, one in 50 of them
blocked, interleaved with ``--others`` messages between random pairs of 1,000 other users
and one named-room post in 10 (room posts are stored with the room as recipient). Then
times pages of ``--limit`` messages at three places (the newest, a cursor in the middle,
a cursor near the oldest), each ``--repeat`` times after one warm-up read (the pages are in
the page cache: SQLite's work, not the disk's), and prints the median and the best per
place, and the rows the page returned. Nothing in it depends on the schema version: run
the same script against two trees to compare them (each builds its own file).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from server import mailbox
from server.mailbox import StoredMessage
from server.store import open_database


def build(path: Path, conversation: int, others: int) -> None:
    """The database described in the module docstring, msg_ids 1.. in time order."""
    randomness = random.Random(17)
    db = open_database(path)
    try:
        total = conversation + others
        pick = randomness.sample(range(1, total + 1), conversation)
        ours = set(pick)
        batch = []
        for msg_id in range(1, total + 1):
            if msg_id in ours:
                sender, to = ("Alice", "Bob") if randomness.random() < 0.5 else ("Bob", "Alice")
                state = "blocked" if randomness.random() < 0.02 else "delivered"
                batch.append(StoredMessage(msg_id, sender, sender.lower(), to, to.lower(), f"text {msg_id}",
                                           1000.0 + msg_id, f"c{msg_id}", state, None))
            elif randomness.random() < 0.1:
                sender = f"user{randomness.randrange(1000):04d}"
                batch.append(StoredMessage(msg_id, sender, sender, "#Lounge", "#lounge", f"post {msg_id}",
                                           1000.0 + msg_id, f"c{msg_id}", "room", None))
            else:
                sender, to = (f"user{randomness.randrange(1000):04d}" for _ in range(2))
                batch.append(StoredMessage(msg_id, sender, sender, to, to, f"text {msg_id}",
                                           1000.0 + msg_id, f"c{msg_id}", "delivered", None))
            if len(batch) == 10_000:
                mailbox.store_messages(db, batch)
                db.commit()
                batch = []
        mailbox.store_messages(db, batch)
        db.commit()
    finally:
        db.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--conversation", type=int, default=100_000, help="messages of alice and bob")
    parser.add_argument("--others", type=int, default=100_000, help="other messages (default 100,000)")
    parser.add_argument("--limit", type=int, default=50, help="messages a page (default 50)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.db.exists():
        build(args.db, args.conversation, args.others)
    db = open_database(args.db)
    try:
        newest = mailbox.last_msg_id(db)
        for label, before in (("newest", None), ("middle", newest // 2), ("oldest", newest // 50)):
            entries, _ = mailbox.history(db, "alice", "bob", before, args.limit)  # warm-up
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                entries, _ = mailbox.history(db, "alice", "bob", before, args.limit)
                times.append(time.perf_counter() - start)
            print(f"{label:6} page (before {before}): {len(entries)} messages, median "
                  f"{statistics.median(times) * 1000:.3f} ms, best {min(times) * 1000:.3f} ms")
    finally:
        db.close()


if __name__ == "__main__":
    main()
