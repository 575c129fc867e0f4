"""bench/transactions.py (issue 9, round sixteen) still runs, so that the fixed-transaction
counts in bench/PROFILE.md can be taken again: it builds a history, drives transactions of
new messages with the previous one's receipts and acks through the real store, and counts
the log's frames. The figures are not judged, only that the work it claims was done."""

from __future__ import annotations

import re
import sqlite3

import pytest

from bench import transactions


@pytest.mark.timeout_seconds(60)
def test_the_fixed_transactions_store_every_message_and_confirm_all_but_the_last_transaction_s(capsys, tmp_path):
    history = tmp_path / "history.db"
    transactions.main(["build", str(history), "--history", "1200", "--users", "40"])
    transactions.main(["run", str(history), "--per", "8", "--transactions", "5", "--disk", str(tmp_path),
                       "--drop", "messages_room", "--confirmations-first"])
    printed = capsys.readouterr().out
    frames = re.search(r"8 messages a transaction, 5 transactions, dropped: messages_room:"
                       r" ([\d.]+) log frames a commit, ([\d.]+) a message", printed)
    assert frames and float(frames.group(1)) > 0, printed
    db = sqlite3.connect(tmp_path / "transactions.db")
    try:
        states = dict(db.execute("SELECT state || sender_notified, COUNT(*) FROM messages GROUP BY 1"))
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        db.close()
    assert states == {"delivered1": 1200 + 4 * 8, "sent0": 8}  # the last transaction's wait for the next
    assert "messages_room" not in indexes and "messages_inbox" in indexes


@pytest.mark.timeout_seconds(60)
def test_the_fixed_transactions_can_be_named_room_posts(capsys, tmp_path):
    history = tmp_path / "history.db"
    transactions.main(["build", str(history), "--history", "600", "--users", "20"])
    transactions.main(["run", str(history), "--per", "8", "--transactions", "3", "--disk", str(tmp_path),
                       "--room", "#Lounge"])
    assert re.search(r"8 messages a transaction, 3 transactions, dropped: none: [\d.]+ log frames",
                     capsys.readouterr().out)
    db = sqlite3.connect(tmp_path / "transactions.db")
    try:
        posts = db.execute("SELECT COUNT(*) FROM messages WHERE state = 'room' AND recipient_key = '#lounge'"
                           " AND recipient = '#Lounge'").fetchone()[0]
        others = db.execute("SELECT COUNT(*) FROM messages WHERE state != 'room'").fetchone()[0]
    finally:
        db.close()
    assert (posts, others) == (24, 600)


@pytest.mark.timeout_seconds(60)
def test_the_fixed_transactions_can_send_each_ack_a_transaction_after_its_receipt(capsys, tmp_path):
    """``--acks-later`` (the throughput phase's case, bench/PROFILE.md "Round eighteen
    (durable)"): transaction N holds the receipts of N-1's messages and the acks of N-2's, so
    no receipt meets its ack and the paired UPDATE never runs; every message of a
    transaction two back is delivered and acknowledged, the previous one's delivered only."""
    history = tmp_path / "history.db"
    transactions.main(["build", str(history), "--history", "1200", "--users", "40"])
    statements = []
    real_execute = transactions.Store._execute

    def execute(store, pending, *args):
        store.db.set_trace_callback(statements.append)
        return real_execute(store, pending, *args)

    transactions.Store._execute = execute
    try:
        transactions.main(["run", str(history), "--per", "8", "--transactions", "5", "--disk", str(tmp_path),
                           "--acks-later"])
    finally:
        transactions.Store._execute = real_execute
    assert re.search(r"8 messages a transaction, 5 transactions, dropped: none: [\d.]+ log frames",
                     capsys.readouterr().out)
    db = sqlite3.connect(tmp_path / "transactions.db")
    try:
        states = dict(db.execute("SELECT state || sender_notified, COUNT(*) FROM messages GROUP BY 1"))
    finally:
        db.close()
    assert states == {"delivered1": 1200 + 3 * 8, "delivered0": 8, "sent0": 8}
    paired = [sql for sql in statements if sql.startswith("UPDATE messages SET state = 'delivered', sender_notified = 1")]
    receipts = [sql for sql in statements if sql.startswith("UPDATE messages SET state = 'delivered'")]
    acks = [sql for sql in statements if sql.startswith("UPDATE messages SET sender_notified = 1")]
    assert not paired and receipts and acks, statements
