"""The message lookups in their unsynced file (server/lookups.py, issue 9): whatever a crash
takes from them is derived again from the messages, and entries nothing backs any more
change no answer.

Each test names the mechanism it holds; each fails with that mechanism taken out (the
catch-up at start and after a failed COMMIT, the marker's boot id, the rebuild of an
unreadable file, the take-over of an entry nothing backs, the check of a row against
its entry, the purge of the entries)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from server import lookups, mailbox
from server.mailbox import StoredMessage
from server.store import Store, open_database
from test_store import dm, loop, open_store, settle  # noqa: F401  (fixtures)


def files(path):
    return {suffix: path.with_name(path.name + suffix) for suffix in ("-lookups", "-lookups-open")}


def a_database(path, count=20):
    """A database at ``path`` with ``count`` direct messages, Alice and Bob in turn, left
    as a killed server leaves it (closed without the lookups' clean close)."""
    db = open_database(path)
    mailbox.store_messages(db, [dm(i, *(("Alice", "Bob") if i % 2 else ("Bob", "Alice")), f"c{i}")
                                for i in range(1, count + 1)])
    db.close()


def insert_rows_only(db, messages):
    """Rows the messages' file holds and the lookups do not: what a server killed between
    the two files' commits (or whose lookups part of a COMMIT failed) leaves."""
    db.executemany("INSERT INTO messages (msg_id, sender, sender_key, recipient, recipient_key, text, sent_at,"
                   " client_id, state, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [(m.msg_id, m.sender, m.sender_key, m.recipient, m.recipient_key, m.text, m.sent_at,
                     m.client_id, m.state, m.expires_at) for m in messages])


def tamper(path, *statements):
    """Change the lookups of the database at ``path`` behind the store's back (what a torn
    file or a lost write leaves)."""
    db = sqlite3.connect(files(path)["-lookups"])
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def conversation_ids(db, me="alice", peer="bob"):
    entries, _ = mailbox.history(db, me, peer, None, 500)
    return [e.msg_id for e in entries]


def test_the_conversation_rule_reads_the_same_in_sql_and_in_python():
    db = sqlite3.connect(":memory:")
    try:
        for key in (None, "", "#", "#lounge", "#a#b", "alice", "joão", "conceição", "$x", "!a", "a#", "0", "\x00"):
            in_sql = db.execute(f"SELECT {lookups.CONVERSATION_SQL} FROM (SELECT ? AS recipient_key)",
                                (key,)).fetchone()[0]
            assert bool(in_sql) == lookups.in_conversation(key), key
    finally:
        db.close()


def test_messages_stored_past_the_lookups_are_found_after_a_restart(tmp_path, caplog):
    """Killed between the two files' commits: the newest rows lack their lookups. At the
    next start they are derived again (catch_up), so a resend is recognised and history
    shows them."""
    path = tmp_path / "chat.sqlite3"
    a_database(path)
    db = open_database(path)
    insert_rows_only(db, [dm(21, "Alice", "Bob", "c21"), dm(22, "Alice", "Carol", "c22"),
                          StoredMessage(23, "Bob", "bob", None, None, "all", 1023.0, "r23", "room")])
    db.close()
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(path)
    try:
        assert "caught up with the 3 newest messages" in caplog.text
        assert mailbox.find_resend(db, "alice", "c21").msg_id == 21
        assert mailbox.find_resend(db, "bob", "r23").msg_id == 23
        resent = mailbox.store_messages(db, [dm(24, "Alice", "Carol", "c22", text="Alice->Carol 22")])
        assert [(m.msg_id, outcome) for m, outcome in resent] == [(22, mailbox.RESEND)]
        assert conversation_ids(db) == list(range(1, 22))
        assert conversation_ids(db, "carol", "alice") == [22]
    finally:
        db.close()


def test_the_log_counts_one_message_in_the_singular(tmp_path, caplog):
    """"derived the message lookups of 1 messages": every count in the log agrees with its
    noun (shared/plural.py)."""
    path = tmp_path / "chat.sqlite3"
    a_database(path, count=1)
    for lookups_file in files(path).values():
        lookups_file.unlink(missing_ok=True)
    caplog.set_level(logging.INFO, logger="chat.store")
    open_database(path).close()
    assert "derived the message lookups of 1 message in " in caplog.text
    db = open_database(path)
    insert_rows_only(db, [dm(2, "Alice", "Bob", "c2")])
    db.close()
    open_database(path).close()
    assert "caught up with the 1 newest message\n" in caplog.text


def test_a_server_killed_while_writing_the_lookups_leaves_them_whole(tmp_path, caplog):
    """A transaction that has written part of its pages into the unsynced file when the
    process dies: its journal (kept in a file, not in memory) puts them back at the next
    open, so the lookups are read as they were, nothing to derive again."""
    path = tmp_path / "chat.sqlite3"
    a_database(path, count=3000)
    script = "\n".join([
        "import os, sys",
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})",
        "from pathlib import Path",
        "from server.store import open_database",
        f"db = open_database(Path({str(path)!r}))",
        "db.execute('PRAGMA lookups.cache_size = 4')  # the transaction's pages spill into the file",
        "db.execute('BEGIN')",
        "db.execute(\"INSERT INTO lookups.by_client_id SELECT sender_key, client_id || '-again', msg_id + 5000"
        " FROM messages\")",
        "os._exit(9)",
    ])
    assert subprocess.run([sys.executable, "-c", script], timeout=60).returncode == 9
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(path)
    try:
        assert db.execute("PRAGMA lookups.integrity_check").fetchall() == [("ok",)]
        assert db.execute("SELECT COUNT(*) FROM lookups.by_client_id").fetchone() == (3000,)
        assert "deriving them again" not in caplog.text and "caught up" not in caplog.text
    finally:
        db.close()


def test_lookups_left_open_by_another_boot_of_the_machine_are_derived_again_whole(tmp_path, caplog):
    """A crash of the machine may tear a file that was never synced, silently: the marker
    of another boot says so, and the file is not read at all."""
    path = tmp_path / "chat.sqlite3"
    a_database(path)
    marker = files(path)["-lookups-open"]
    assert marker.read_text().splitlines()[0] == lookups.boot_id()  # left by the unclean close
    marker.write_text("another boot\n")
    # Torn: an entry that is not a message's.
    tamper(path, "DELETE FROM by_client_id WHERE msg_id = 5", "INSERT INTO by_client_id VALUES ('alice', 'c99', 5)")
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(path)
    try:
        assert "before a restart of the machine" in caplog.text
        assert mailbox.find_resend(db, "alice", "c5").msg_id == 5
        assert db.execute("SELECT COUNT(*) FROM lookups.by_client_id WHERE client_id = 'c99'").fetchone() == (0,)
        assert conversation_ids(db) == list(range(1, 21))
    finally:
        db.close()
    assert marker.read_text().splitlines()[0] == lookups.boot_id()


def test_where_the_boot_cannot_be_told_lookups_not_closed_cleanly_are_derived_again_whole(tmp_path, monkeypatch,
                                                                                         caplog):
    path = tmp_path / "chat.sqlite3"
    monkeypatch.setattr(lookups, "BOOT_ID", tmp_path / "no such file")
    a_database(path)
    tamper(path, "DELETE FROM by_client_id WHERE msg_id = 7")
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(path)
    try:
        assert "cannot tell a crash of the server from one of the machine" in caplog.text
        assert mailbox.find_resend(db, "alice", "c7").msg_id == 7
    finally:
        db.close()


def copy_folder(source: Path, target: Path) -> Path:
    """The data folder's files copied into ``target`` as an operator's ``cp -a`` makes them:
    new files (new inodes), the lookups' marker among them."""
    target.mkdir()
    for name in source.iterdir():
        if name.is_file():
            shutil.copy2(name, target / name.name)
    return target / "chat.sqlite3"


def test_lookups_in_a_copy_of_the_folder_are_derived_again_whole(tmp_path, caplog):
    """A folder copied while the server ran carries the marker of that start, of this boot:
    trusted, a lookups file torn by the copy was only caught up, and messages vanished from
    /history (their conversation entries lost) while a resend of one whose request-id entry
    was lost would be stored twice (the upgrade tester's finding 2). The marker names the
    files it was written for: these are other files."""
    path = tmp_path / "data" / "chat.sqlite3"
    a_database(path)
    copy = copy_folder(path.parent, tmp_path / "restored")
    # Torn by the copy: entries of messages in the middle lost (catch_up only looks at the newest).
    tamper(copy, "DELETE FROM by_client_id WHERE msg_id IN (5, 6)",
           "DELETE FROM conversation WHERE msg_id IN (5, 6, 7)")
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(copy)
    try:
        assert "in a copy of the data folder" in caplog.text
        assert conversation_ids(db) == list(range(1, 21))
        resent = mailbox.store_messages(db, [dm(21, "Alice", "Bob", "c5", text="Alice->Bob 5")])
        assert [(m.msg_id, outcome) for m, outcome in resent] == [(5, mailbox.RESEND)]
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone() == (20,)
    finally:
        db.close()
    # The original, left open by the same start, is still trusted as it is.
    caplog.clear()
    db = open_database(path)
    try:
        assert "deriving them again" not in caplog.text
    finally:
        db.close()


def test_lookups_copied_open_without_their_marker_are_derived_again_whole(tmp_path, caplog):
    """Only some files copied (``cp chat.sqlite3 chat.sqlite3-lookups``): no marker, which
    meant "closed cleanly"; the lookups file's header says it was open."""
    path = tmp_path / "data" / "chat.sqlite3"
    a_database(path)
    copy = copy_folder(path.parent, tmp_path / "restored")
    files(copy)["-lookups-open"].unlink()
    tamper(copy, "DELETE FROM by_client_id WHERE msg_id = 5", "DELETE FROM conversation WHERE msg_id = 5")
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(copy)
    try:
        assert "whose marker is not beside them" in caplog.text
        assert conversation_ids(db) == list(range(1, 21))
        assert mailbox.find_resend(db, "alice", "c5").msg_id == 5
    finally:
        db.close()


def test_lookups_put_back_from_a_copy_over_the_same_files_are_derived_again_whole(tmp_path, caplog):
    """Copied back over the files of the same folder (same inodes) after the server started
    again: the marker is of an earlier start, whose marker file was another."""
    path = tmp_path / "chat.sqlite3"
    a_database(path)
    saved = {suffix: file.read_bytes() for suffix, file in files(path).items()}
    open_database(path).close()  # a later start, left open too
    for suffix, content in saved.items():
        with open(files(path)[suffix], "r+b") as file:  # in place, as cp over an existing file
            file.write(content)
            file.truncate()
    tamper(path, "DELETE FROM by_client_id WHERE msg_id = 5", "DELETE FROM conversation WHERE msg_id = 5")
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(path)
    try:
        assert "deriving them again" in caplog.text
        assert conversation_ids(db) == list(range(1, 21))
        assert mailbox.find_resend(db, "alice", "c5").msg_id == 5
    finally:
        db.close()


@pytest.mark.parametrize("damage", ["garbage", "missing", "another layout"])
def test_a_lookups_file_that_cannot_be_used_is_derived_again(tmp_path, damage, caplog):
    path = tmp_path / "chat.sqlite3"
    a_database(path)
    lookups_file = files(path)["-lookups"]
    if damage == "garbage":
        lookups_file.write_bytes(b"not a database at all " * 300)
    elif damage == "missing":
        lookups_file.unlink()
    else:
        tamper(path, f"PRAGMA user_version = {lookups.VERSION + 1}", "DELETE FROM by_client_id")
    caplog.set_level(logging.INFO, logger="chat.store")
    db = open_database(path)
    try:
        assert [m.msg_id for m in (mailbox.find_resend(db, "alice", f"c{i}") for i in (1, 19))] == [1, 19]
        assert conversation_ids(db) == list(range(1, 21))
        if damage != "missing":
            assert "deriving them again" in caplog.text
    finally:
        db.close()


def test_a_clean_close_leaves_no_marker_and_the_next_start_derives_nothing(loop, tmp_path, monkeypatch):
    path = tmp_path / "chat.sqlite3"
    store = open_store(loop, path)
    answers = []
    for i in range(1, 6):
        store.submit_many(mailbox.store_messages, dm(i, "Alice", "Bob", f"c{i}"), answers.append)
    settle(loop, store)
    assert files(path)["-lookups-open"].exists()
    store.close()
    assert [outcome for _, outcome in answers] == [mailbox.NEW] * 5
    assert not files(path)["-lookups-open"].exists()
    monkeypatch.setattr(lookups, "rebuild", lambda db: pytest.fail("derived again whole"))
    db = open_database(path)
    try:
        assert conversation_ids(db) == [1, 2, 3, 4, 5]
        assert files(path)["-lookups-open"].exists()  # open again
    finally:
        db.close()


def test_an_entry_nothing_backs_is_taken_over_by_a_new_message_under_its_request_id():
    db = open_database(None)
    try:
        mailbox.store_messages(db, [dm(1, "Alice", "Bob", "c1")])
        # Left by a purge whose lookups part was lost, and by a request id change (hand_over) likewise.
        db.execute("INSERT INTO lookups.by_client_id VALUES ('alice', 'c7', 7)")
        db.execute("INSERT INTO lookups.by_client_id VALUES ('alice', 'c8', 1)")
        stored = mailbox.store_messages(db, [dm(10, "Alice", "Bob", "c7"), dm(11, "Alice", "Bob", "c8"),
                                             dm(12, "Alice", "Bob", "c8", text="Alice->Bob 11")])
        assert [(m.msg_id, outcome) for m, outcome in stored] == [(10, mailbox.NEW), (11, mailbox.NEW),
                                                                  (11, mailbox.RESEND)]
        assert mailbox.find_resend(db, "alice", "c7").msg_id == 10
        again = mailbox.store_messages(db, [dm(13, "Alice", "Bob", "c7", text="another text")])
        assert [(m.msg_id, outcome) for m, outcome in again] == [(13, mailbox.ID_REUSED)]
        assert conversation_ids(db) == [1, 10, 11]
        # An entry nothing backs whose id a new message of another sender gets (lookups
        # left ahead of a database put back from a copy).
        db.execute("INSERT INTO lookups.by_client_id VALUES ('alice', 'c20', 21)")
        stored = mailbox.store_messages(db, [dm(21, "Bob", "Alice", "b21"), dm(22, "Alice", "Bob", "c20")])
        assert [(m.msg_id, outcome) for m, outcome in stored] == [(21, mailbox.NEW), (22, mailbox.NEW)]
        assert mailbox.find_resend(db, "alice", "c20").msg_id == 22
    finally:
        db.close()


def test_conversation_entries_nothing_backs_are_passed_over_and_pages_stay_full():
    db = open_database(None)
    try:
        mailbox.store_messages(db, [dm(i, *(("Alice", "Bob") if i % 3 else ("Bob", "Alice")), f"c{i}")
                                    for i in range(1, 101)]
                               + [dm(i, "Alice", "Carol", f"c{i}") for i in range(101, 121)])
        pages = _all_pages(db)
        # Entries of ids nothing has, and of rows of another conversation (Alice -> Carol).
        db.executemany("INSERT INTO lookups.conversation VALUES (?, ?, ?)",
                       [("alice", "bob", i) for i in (1000, 1001, *range(101, 121))]
                       + [("bob", "alice", i) for i in range(102, 120, 2)])
        assert _all_pages(db) == pages and len(pages) == 10
    finally:
        db.close()


def _all_pages(db):
    pages, before = [], None
    while True:
        entries, before = mailbox.history(db, "alice", "bob", before, 10)
        pages.append([e.msg_id for e in entries])
        if before is None:
            return pages


def test_a_purge_takes_the_messages_lookups_with_them():
    db = open_database(None)
    try:
        mailbox.store_messages(db, [dm(i, "Alice", "Bob", f"c{i}", state="sent", sent_at=0.0) for i in range(1, 11)]
                               + [dm(11, "Alice", "Bob", "c11", sent_at=10_000.0)])
        mailbox.record_confirmations(db, [(mailbox.RECEIPT, i, "bob") for i in range(1, 11)]
                                     + [(mailbox.ACK, i, "alice") for i in range(1, 11)])
        assert mailbox.purge(db, 5_000.0) == 10
        assert db.execute("SELECT msg_id FROM lookups.by_client_id").fetchall() == [(11,)]
        assert db.execute("SELECT msg_id FROM lookups.conversation").fetchall() == [(11,)]
    finally:
        db.close()


def test_a_name_handed_over_frees_its_request_ids_in_the_lookups_too():
    db = open_database(None)
    try:
        mailbox.store_messages(db, [dm(1, "Alice", "Bob", "c1"), dm(2, "Alice", "Bob", "c2")])
        mailbox.hand_over(db, "alice", 2)
        stored = mailbox.store_messages(db, [dm(3, "Alice", "Bob", "c1", text="a new holder's")])
        assert [(m.msg_id, outcome) for m, outcome in stored] == [(3, mailbox.NEW)]
        assert mailbox.find_resend(db, "alice", mailbox.superseded_client_id(2)).msg_id == 2
    finally:
        db.close()


def test_after_a_commit_whose_lookups_part_failed_a_resend_is_still_recognised(loop, tmp_path, monkeypatch):
    """SQLite commits the lookups' log after the messages' (atomic per file only): a COMMIT
    whose lookups part fails leaves the message stored, the sender told 'unavailable'. Its
    resend must find it, not store it twice: the store catches the lookups up first."""
    store = open_store(loop, tmp_path / "chat.sqlite3")
    real_commit, failing = Store._commit, [True]

    def commit(self):
        if failing and failing.pop():
            self.db.execute("DELETE FROM lookups.by_client_id")  # what the lost lookups part had
            self.db.execute("DELETE FROM lookups.conversation")
            real_commit(self)
            raise sqlite3.OperationalError("disk I/O error")
        real_commit(self)

    monkeypatch.setattr(Store, "_commit", commit)
    answers, errors = [], []
    try:
        store.submit_many(mailbox.store_messages, dm(1, "Alice", "Bob", "c1"), answers.append, errors.append)
        settle(loop, store)
        assert answers == [] and [e.reason for e in errors] == ["disk I/O error"]
        store.submit_many(mailbox.store_messages, dm(2, "Alice", "Bob", "c1", text="Alice->Bob 1"),
                          answers.append, errors.append)
        settle(loop, store)
        assert [(m.msg_id, outcome) for m, outcome in answers] == [(1, mailbox.RESEND)]
        assert store.db.execute("SELECT msg_id FROM messages").fetchall() == [(1,)]
        assert conversation_ids(store.db) == [1]
    finally:
        store.close()


def test_a_batch_s_conversation_entries_are_read_back_from_its_rows_by_one_statement():
    """The conversation lookups of a batch are derived in SQLite from the rows just
    inserted (issue 9): one INSERT ... SELECT of two parameters for the batch, not three
    bound a message; and exactly the entries lookups.rebuild would derive, whatever the
    batch holds (room posts, the default room's, a resend, a reused id) and in whatever
    order its ids come."""
    db = open_database(None)
    statements = []
    try:
        mailbox.store_messages(db, [dm(1, "Alice", "Bob", "c1"), dm(2, "Bob", "Alice", "b2")])
        db.set_trace_callback(statements.append)
        room = StoredMessage(104, "Alice", "alice", "#Lounge", "#lounge", "hi all", 1104.0, "r4", "room")
        lobby = StoredMessage(105, "Bob", "bob", None, None, "hi", 1105.0, "b5", "room")
        batch = ([dm(i, "Alice", "Bob", f"c{i}") for i in range(10, 80)] + [room, lobby]
                 + [dm(3, "Bob", "Carol", "b3"), dm(106, "Alice", "Bob", "c1", text="Alice->Bob 1"),  # a resend of 1
                    dm(107, "Alice", "Bob", "c10", text="another"), dm(108, "Alice", "João", "c8")])
        stored = mailbox.store_messages(db, batch)
        db.set_trace_callback(None)
        assert [outcome for _, outcome in stored][-3:] == [mailbox.RESEND, mailbox.ID_REUSED, mailbox.NEW]
        assert [outcome for _, outcome in stored].count(mailbox.NEW) == len(batch) - 2
        derived = db.execute(f"SELECT sender_key, recipient_key, msg_id FROM messages WHERE {lookups.CONVERSATION_SQL}"
                             " ORDER BY 1, 2, 3").fetchall()
        assert db.execute("SELECT * FROM lookups.conversation ORDER BY 1, 2, 3").fetchall() == derived
        assert len(derived) == 2 + 70 + 2
        assert conversation_ids(db) == [1, 2, *range(10, 80)]
        conversation = [sql for sql in statements if "lookups.conversation" in sql]
        assert len(conversation) == 1 and " SELECT " in conversation[0], conversation
    finally:
        db.close()
