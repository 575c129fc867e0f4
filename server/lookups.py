"""Two lookups of the stored messages, kept in a database file of their own that is never synced.

A message is found by its sender's request id (a resend is recognised: exactly once) and,
if it is a direct message, by its conversation (history pages). Kept as indexes of
``messages`` (schema 1-10), each message put an entry at a random place in each, so
nearly every message dirtied two pages of its own that every commit's and every
checkpoint's fsync then wrote. On a disk that syncs scattered pages at 40-60 µs each,
those two indexes were the whole distance of the durable delivered-ack p99 from its floor
(15-93 ms against 2.6-5.2 without them: issue 9, bench/PROFILE.md "The prize of the two
full indexes, bounded").

Here they are tables of a second file, ``<database>-lookups``, attached to the store's
connection as ``lookups`` with ``synchronous=OFF``: written in the same transactions as
the messages, never synced; their pages reach the disk by the kernel's writeback, a page
rewritten by many commits once per writeback. Written in place, with a rollback journal
(PERSIST: its file is kept and reused), not a log: a log would write every commit's
pages once more, at new places, and its checkpoints copy them again (a first version
had one, checkpointed by a thread of its own: no better, and a thread more). They hold
nothing that is not derived from ``messages``, so whatever a crash takes from them is
derived again at start:

- With the messages' file in WAL mode SQLite commits an attached file after the main
  one (atomic per file only), so a server that dies between the two, or whose lookups
  part of a COMMIT fails, leaves the lookups behind the messages by the newest rows
  (a COMMIT cut short in the lookups' file leaves its journal, which SQLite plays back
  at the next open, as after any crash of the process). :func:`catch_up`
  derives them again, from the newest row down to the first one the lookups hold; the
  store runs it at start and after any failed COMMIT.
- The page cache outlives a killed process, not a crash of the machine, after which an
  unsynced file may be torn (its journal too). A marker file beside it, written and
  synced at start with the machine's boot id and removed after a clean close (which
  syncs the lookups first), tells: a marker of another boot (or of an unknown one) means
  the lookups are derived again whole (:func:`rebuild`), as they are when the file is
  missing, unreadable or of another layout.
- A copy of the folder taken while the server runs holds a lookups file torn by the copy
  (copied while pages were being written in place), and the marker of that start, of this
  boot: a restored copy must not be trusted as a killed server's files are (the upgrade
  tester's finding 2: messages gone from /history, a resend stored twice). So the marker
  also names the files it was written for (device and inode of the database, of the
  lookups file and of the marker itself, a new file at every start) and a number drawn
  at that start, which the lookups file holds too (its header's ``application_id``; 0
  once closed cleanly). Lookups are trusted only if all of them are still those files
  and that number (:func:`_distrust`): a copy (new inodes), files put back over the same
  ones from an earlier start (the marker of that start is not the marker file there now),
  or a lookups file left open with no marker beside it are derived again whole, with one
  line saying why. Not told apart: files copied back over the same ones from a copy of
  this very start, with no start between (the same inodes, the same number). Nothing the
  marker could note when written tells them: the database's size and times and the lookups
  file's change with every checkpoint and writeback of a run, so a killed server's own
  files would differ from them as much (every kill would derive the lookups whole), and
  SQLite's change counter (header offset 24) does not count commits in WAL mode. Hence
  the docs' rule: restore into an empty folder.
- An entry nothing backs any more (a purge or a request id change whose lookups part was
  lost) is harmless: every read checks the row it finds against the entry's keys, and a
  new message whose request id meets such an entry takes it over (mailbox.store_messages).
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
from pathlib import Path

from shared.plural import counted


log = logging.getLogger("chat.store")

# The layout of the lookups file: a file of another layout is derived again whole.
VERSION = 1

SCHEMA = """
    CREATE TABLE lookups.by_client_id (
        sender_key TEXT NOT NULL,
        client_id  TEXT NOT NULL,
        msg_id     INTEGER NOT NULL,
        PRIMARY KEY (sender_key, client_id)     -- one message per request id of a sender
    ) WITHOUT ROWID;
    CREATE TABLE lookups.conversation (
        sender_key    TEXT NOT NULL,
        recipient_key TEXT NOT NULL,
        msg_id        INTEGER NOT NULL,
        PRIMARY KEY (sender_key, recipient_key, msg_id)
    ) WITHOUT ROWID
"""

# Which messages have a conversation entry: direct messages, whose recipient is a user
# (a named room's key begins with '#', which no user name may; the default room's posts
# have no recipient). The SQL and the Python say the same (tests/integration/test_lookups.py).
CONVERSATION_SQL = "recipient_key NOT GLOB '#*'"


def in_conversation(recipient_key: str | None) -> bool:
    """True if a message to ``recipient_key`` has a conversation entry (CONVERSATION_SQL)."""
    return recipient_key is not None and recipient_key[:1] != "#"


def lookups_path(database: Path) -> Path:
    return database.with_name(database.name + "-lookups")


def _marker_path(database: Path) -> Path:
    return database.with_name(database.name + "-lookups-open")


BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str:
    """This boot of the machine (Linux); "unknown" elsewhere, where every unclean close
    then counts as a crash of the machine."""
    try:
        return BOOT_ID.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def sync_directory(directory: Path) -> None:
    """fsync ``directory``, so that a file just created, renamed or removed in it stays so
    after a crash of the machine (where the system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows cannot open a directory: its metadata is synced otherwise
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_files(database: Path, marker: bool = False) -> None:
    """Remove the lookups' file and its journal (and the marker)."""
    path = lookups_path(database)
    for suffix in ("", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    if marker:
        _marker_path(database).unlink(missing_ok=True)


def left_open(database: Path) -> bool:
    """True if the last server on ``database`` did not close cleanly (killed, crashed, or
    the folder copied while it ran): the lookups' marker is there."""
    return _marker_path(database).exists()


def _identity(path: Path) -> str:
    status = path.stat()
    return f"{status.st_dev}:{status.st_ino}"


def _read_marker(marker: Path) -> dict[str, str] | None:
    """The marker's fields: ``boot`` (its first line, all an older server wrote), and
    ``nonce``, ``database``, ``lookups``, ``marker`` (see the module's docstring); None if
    there is none (closed cleanly, or never opened)."""
    try:
        lines = marker.read_text(encoding="ascii", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    fields = dict(line.split(" ", 1) for line in lines[1:] if " " in line)
    fields["boot"] = lines[0].strip() if lines else ""
    return fields


def _header_nonce(path: Path) -> int | None:
    """The number the lookups file's header holds (``application_id``, bytes 68-71): the
    nonce of the start that opened it, 0 if closed cleanly; None if unreadable."""
    try:
        with open(path, "rb") as file:
            header = file.read(72)
    except OSError:
        return None
    return int.from_bytes(header[68:72], "big", signed=True) if len(header) == 72 else None


def _distrust(database: Path) -> str | None:
    """Why the lookups of ``database`` may not be used as they are (one line's words), or
    None if they may (caught up, they are then complete)."""
    path = lookups_path(database)
    fields = _read_marker(_marker_path(database))
    if fields is None:  # closed cleanly: its header says 0
        nonce = _header_nonce(path) if path.exists() else 0
        return None if nonce in (0, None) else "by a server whose marker is not beside them (a copy of some files?)"
    now = boot_id()
    if fields["boot"] != now or now == "unknown":
        return ("before a restart of the machine" if now != "unknown" else
                "before this start (this system cannot tell a crash of the server from one of the machine)")
    if not {"nonce", "database", "lookups", "marker"} <= fields.keys():
        return "by an earlier version of the server"
    if not path.exists():
        return None  # derived whole anyway
    if fields["database"] != _identity(database):
        return "in a copy of the data folder (not the files their marker was written for)"
    if (fields["lookups"] != _identity(path) or fields["marker"] != _identity(_marker_path(database))
            or str(_header_nonce(path)) != fields["nonce"]):
        return "in files copied back over the data folder's (not the ones their marker was written for)"
    return None


def _mark_open(database: Path, nonce: int) -> None:
    """Write and sync the marker of this start: a new file (a new inode), put in place by a
    rename, naming itself, the database and the lookups file (which must exist)."""
    marker = _marker_path(database)
    fresh = marker.with_name(marker.name + ".new")
    fresh.unlink(missing_ok=True)
    with open(fresh, "x", encoding="ascii") as file:
        file.write(f"{boot_id()}\nnonce {nonce}\ndatabase {_identity(database)}\n"
                   f"lookups {_identity(lookups_path(database))}\nmarker {_identity(fresh)}\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(fresh, marker)
    sync_directory(marker.parent)


def attach(db: sqlite3.Connection, database: Path | None, whole: bool = False, cache_kib: int = 2048) -> None:
    """Attach the lookups of ``database`` (None: in memory) to ``db`` as ``lookups``,
    complete: derived again whole if ``whole`` or if need be, else caught up. Marks them
    open (see the module's docstring) before anything is written to them. ``cache_kib``:
    the most of SQLite's page cache they may take."""
    if database is None:
        db.execute("ATTACH DATABASE ':memory:' AS lookups")
        _create(db)
        rebuild(db)
        return
    reason = None if whole else _distrust(database)
    if reason is not None:
        whole = True
        if reason.startswith("before "):
            log.warning("the message lookups were not closed cleanly %s: deriving them again from the messages",
                        reason)
        else:
            log.warning("the message lookups were left open %s: deriving them again from the messages", reason)
    if not lookups_path(database).exists():
        whole = True
    try:
        _open(db, database, whole, cache_kib)
    except sqlite3.DatabaseError as error:  # unreadable (torn, or not a database)
        if whole:
            raise
        log.warning("the message lookups could not be read (%s): deriving them again from the messages", error)
        if db.execute("SELECT 1 FROM pragma_database_list WHERE name = 'lookups'").fetchone():
            db.execute("DETACH DATABASE lookups")
        _open(db, database, True, cache_kib)


def _open(db: sqlite3.Connection, database: Path, whole: bool, cache_kib: int) -> None:
    """Attach the lookups file (a new, empty one if ``whole``), marked open first; derive
    them whole or catch them up."""
    if whole:
        remove_files(database)
        lookups_path(database).touch()  # an empty file is an empty database to SQLite
    nonce = secrets.randbelow(2**31 - 1) + 1  # application_id is a signed 32-bit number; 0 is "closed"
    _mark_open(database, nonce)
    db.execute("ATTACH DATABASE ? AS lookups", (str(lookups_path(database)),))
    # Only this connection uses them: it keeps the lock (no lock and unlock a transaction).
    db.execute("PRAGMA lookups.locking_mode = EXCLUSIVE")
    # In place, never synced: see the module's docstring.
    db.execute("PRAGMA lookups.journal_mode = PERSIST")
    db.execute("PRAGMA lookups.synchronous = OFF")
    db.execute(f"PRAGMA lookups.cache_size = -{cache_kib}")
    if not whole and db.execute("PRAGMA lookups.user_version").fetchone()[0] != VERSION:
        log.warning("the message lookups are of another layout: deriving them again from the messages")
        db.execute("DETACH DATABASE lookups")
        _open(db, database, True, cache_kib)
        return
    db.execute(f"PRAGMA lookups.application_id = {nonce}")
    if whole:
        _create(db)
        started = time.monotonic()
        count = rebuild(db)
        if count:  # about 7 s a million messages (bench/PROFILE.md "The lookups built")
            log.info("derived the message lookups of %s in %.1f s", counted(count, "message{s}"),
                     time.monotonic() - started)
    else:
        caught = catch_up(db)
        if caught:
            log.info("the message lookups caught up with the %s", counted(caught, "newest message{s}"))


def roll_back_if_open(db: sqlite3.Connection) -> None:
    """Roll back the transaction a failure left, if SQLite has not already (it has, after
    some SQLITE_FULL or I/O errors): a ROLLBACK then would raise "no transaction is active"
    over the real error (the upgrade tester's finding 3)."""
    if db.in_transaction:
        db.execute("ROLLBACK")


def _create(db: sqlite3.Connection) -> None:
    db.execute("BEGIN")
    try:
        for statement in SCHEMA.split(";"):
            db.execute(statement)
        db.execute(f"PRAGMA lookups.user_version = {VERSION}")
        db.execute("COMMIT")
    except BaseException:
        roll_back_if_open(db)
        raise


def rebuild(db: sqlite3.Connection) -> int:
    """Derive the lookups whole from ``messages`` (they were empty or not to be trusted);
    returns the number of messages. Sorted by key, so each table is written in order."""
    db.execute("BEGIN")
    try:
        db.execute("DELETE FROM lookups.by_client_id")
        db.execute("DELETE FROM lookups.conversation")
        # OR REPLACE: should two rows share a request id (none may), the newest is the one found.
        count = db.execute("INSERT OR REPLACE INTO lookups.by_client_id (sender_key, client_id, msg_id)"
                           " SELECT sender_key, client_id, msg_id FROM messages"
                           " ORDER BY sender_key, client_id, msg_id").rowcount
        db.execute("INSERT INTO lookups.conversation (sender_key, recipient_key, msg_id)"
                   f" SELECT sender_key, recipient_key, msg_id FROM messages WHERE {CONVERSATION_SQL}"
                   " ORDER BY sender_key, recipient_key, msg_id")
        db.execute("COMMIT")
    except BaseException:
        roll_back_if_open(db)
        raise
    return count


def catch_up(db: sqlite3.Connection) -> int:
    """Derive the lookups of the newest messages they lack: from the newest message down
    to the first whose entry they hold (they may lag only by the newest: see the module's
    docstring). Runs in the caller's transaction if one is open, else in one of its own.
    Returns how many."""
    if not db.in_transaction:
        db.execute("BEGIN")
        try:
            caught = catch_up(db)
            db.execute("COMMIT")
        except BaseException:
            roll_back_if_open(db)
            raise
        return caught
    missing = []
    for msg_id, sender_key, client_id, recipient_key in db.execute(
            "SELECT msg_id, sender_key, client_id, recipient_key FROM messages ORDER BY msg_id DESC"):
        if db.execute("SELECT 1 FROM lookups.by_client_id WHERE sender_key = ? AND client_id = ? AND msg_id = ?",
                      (sender_key, client_id, msg_id)).fetchone():
            break
        missing.append((sender_key, client_id, recipient_key, msg_id))
    if missing:
        db.executemany("INSERT OR REPLACE INTO lookups.by_client_id (sender_key, client_id, msg_id) VALUES (?, ?, ?)",
                       [(s, c, i) for s, c, _, i in missing])
        db.executemany("INSERT OR IGNORE INTO lookups.conversation (sender_key, recipient_key, msg_id) VALUES (?, ?, ?)",
                       [(s, r, i) for s, _, r, i in missing if in_conversation(r)])
    return len(missing)


def close_cleanly(db: sqlite3.Connection, database: Path | None) -> None:
    """Before the store's connection ``db`` closes: mark the lookups file closed (its
    header's number 0), sync it and its journal, and remove the marker, so the next start
    trusts them as they are. A failure leaves the marker: the next start catches up (or
    derives whole after a machine crash)."""
    if database is None:
        return
    path = lookups_path(database)
    try:
        db.execute("PRAGMA lookups.application_id = 0")
        for name in (path, path.with_name(path.name + "-journal")):
            if name.exists():
                with open(name, "rb+") as file:
                    os.fsync(file.fileno())
        _marker_path(database).unlink(missing_ok=True)
        sync_directory(database.parent)
    except (OSError, sqlite3.Error) as error:
        log.warning("could not close the message lookups cleanly (%s): the next start checks them", error)
