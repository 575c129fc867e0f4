"""Durable storage: SQLite with group commit, and only the fsync off the event loop.

The relay hands the store *operations* and callbacks; it never waits for the disk::

    store.submit(lambda db: mailbox.history(db, ...), on_page)          # one operation
    store.submit_many(mailbox.store_messages, new_message, on_stored)    # batched with others

At the end of the event-loop turn the store hands everything submitted in it to its
committer thread, which runs it in one transaction (operations submitted with
:meth:`submit_many` and the same function are merged, so a thousand messages are one
``executemany``) and COMMITs it, where the fsync happens. When the COMMIT returns, the
callbacks run on the loop, in submission order: a callback that says "accepted" runs only
after the message is on disk. Whatever is handed over during a commit waits for it and
goes in the next transaction, which the thread starts as soon as the COMMIT returns, so
the busier the server, the more each fsync carries.

A first design ran every operation on a store thread, one by one; its Python code fought
the event loop for the GIL, and throughput fell to a quarter. Here the thread runs a few
``executemany`` calls per transaction, mostly SQLite's C code without the GIL. The next
design ran the statements on the loop and only the COMMIT on the thread; each commit then
waited for a round trip through the loop (hand back, a loop turn, hand over) before the
next could start, a third of a commit's cycle at 2,000 messages/s (issue 9,
bench/PROFILE.md "Round eight").

``path=None`` keeps the database in memory: the same code, nothing durable (tests). The
server's ``--memory`` uses :class:`server.stores.MemoryStore` instead, with no SQLite on
the message path. The relay talks to either through the interface in server/stores/base.py;
:class:`server.stores.SQLiteStore` is this engine speaking it.

When the disk fails (full, read-only, I/O errors), nothing is acknowledged that is not on
disk, and nothing is left unanswered: every operation of a transaction that could not be
completed gets its ``on_error(StoreUnavailable)`` instead of its callback, the log says so
once (then a count every ``SUMMARY_PERIOD`` seconds, then once when it recovers), and the
next transaction starts afresh, so service resumes by itself when the disk is back.

The schema is versioned with ``PRAGMA user_version``; ``MIGRATIONS[n]`` takes a database
from version n-1 to n, and every pending migration runs at start.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

from registry import canonical
from shared.plural import counted

from . import lookups
from .backup import human_size

log = logging.getLogger("chat.store")

MIGRATIONS: dict[int, str] = {
    1: """
        CREATE TABLE accounts (
            name_key   TEXT PRIMARY KEY,       -- canonical (lower-case) name
            name       TEXT NOT NULL,
            pw_hash    BLOB NOT NULL,          -- scrypt(password, salt)
            salt       BLOB NOT NULL,
            kdf        TEXT NOT NULL,          -- "scrypt:n=16384,r=8,p=1"
            created_at REAL NOT NULL
        );
        -- Everyone who ever logged in: direct messages to them wait while they are away.
        CREATE TABLE users (
            name_key   TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            last_seen  REAL NOT NULL
        );
        CREATE TABLE messages (
            msg_id          INTEGER PRIMARY KEY,
            sender          TEXT NOT NULL,
            sender_key      TEXT NOT NULL,
            recipient       TEXT,              -- NULL for a room message
            recipient_key   TEXT,
            text            TEXT NOT NULL,
            sent_at         REAL NOT NULL,
            client_id       TEXT NOT NULL,     -- the sender's request id: resends are matched on it
            state           TEXT NOT NULL,     -- sent, queued, delivered, expired, blocked, room (12: blocked_expired)
            sender_notified INTEGER NOT NULL DEFAULT 0,  -- sender told of the final state
            expires_at      REAL
        );
        CREATE UNIQUE INDEX messages_by_client_id ON messages (sender_key, client_id);
        CREATE INDEX messages_conversation ON messages (sender_key, recipient_key, msg_id);
        -- Partial indexes hold only the rows that still need something, so delivering a
        -- message (the common case) removes one entry instead of rewriting several.
        CREATE INDEX messages_inbox ON messages (recipient_key, msg_id) WHERE state IN ('sent', 'queued');
        CREATE INDEX messages_untold ON messages (sender_key, msg_id)
            WHERE sender_notified = 0 AND state IN ('delivered', 'expired');
        CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('sent', 'queued');
        CREATE TABLE blocks (
            owner_key   TEXT NOT NULL,
            blocked_key TEXT NOT NULL,
            PRIMARY KEY (owner_key, blocked_key)
        );
    """,
    2: """
        -- The holder of each guest name (see server/guests.py): only they may resume it.
        CREATE TABLE guests (
            name_key   TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            token_hash BLOB NOT NULL,          -- sha256 of the resume token given to the holder
            epoch      INTEGER NOT NULL,       -- msg_ids up to this belong to earlier holders
            left_at    REAL                    -- when the holder's last session left (NULL while online)
        );
    """,
    3: """
        -- Names of every script (issue 11): keys become the RFC 8265 comparison form,
        -- chat_name_key(name) = registry.canonical(name) (see migrate). ASCII keys stay as
        -- they were (lower case is that form). A row whose new key another row already
        -- has keeps its old key: unreachable, but not lost. No semicolons in comments here:
        -- migrate() splits on them.
        UPDATE OR IGNORE accounts SET name_key = chat_name_key(name) WHERE name_key IS NOT chat_name_key(name);
        UPDATE OR IGNORE users SET name_key = chat_name_key(name) WHERE name_key IS NOT chat_name_key(name);
        UPDATE OR IGNORE guests SET name_key = chat_name_key(name) WHERE name_key IS NOT chat_name_key(name);
        UPDATE OR IGNORE blocks SET owner_key = chat_name_key(owner_key), blocked_key = chat_name_key(blocked_key)
            WHERE owner_key IS NOT chat_name_key(owner_key) OR blocked_key IS NOT chat_name_key(blocked_key);
        UPDATE OR IGNORE messages SET sender_key = chat_name_key(sender) WHERE sender_key IS NOT chat_name_key(sender);
        UPDATE messages SET recipient_key = chat_name_key(recipient)
            WHERE recipient IS NOT NULL AND recipient_key IS NOT chat_name_key(recipient);
    """,
    4: """
        -- A smaller conversation index (issue 9: it and messages_by_client_id, the two
        -- indexes of every row, inserted at random places, cost a third of SQLite's time
        -- per message). History needs only direct messages, and the msg_id column was the
        -- rowid that every index entry ends with anyway (SQLite still ranges and orders on
        -- it). The partial indexes (inbox, untold, expiry) are small and cheap: the expiry
        -- pass without its own would scan every pending row (0.4 s for 500,000).
        DROP INDEX messages_conversation;
        CREATE INDEX messages_conversation ON messages (sender_key, recipient_key) WHERE recipient_key IS NOT NULL;
    """,
    5: """
        -- Account resume credentials (issue 12, server/credentials.py): a reloaded web page
        -- logs back in to its account without the password. Only the hash of the secret.
        CREATE TABLE account_credentials (
            token_hash BLOB PRIMARY KEY,       -- sha256 of the secret given to the client
            name_key   TEXT NOT NULL,          -- the account
            expires_at REAL NOT NULL
        );
        CREATE INDEX account_credentials_by_account ON account_credentials (name_key);
    """,
    6: """
        -- Named rooms (issue 13): one row per room, its state as server/rooms.py records it
        -- (JSON text: members, moderators, invitations, bans, mutes, topic). Written whole
        -- when the room changes, read at start.
        CREATE TABLE rooms (
            room_key   TEXT PRIMARY KEY,       -- the room's comparison form, with its prefix
            record     TEXT NOT NULL
        );
    """,
    7: """
        -- After delivered (issue 13, server/mailbox.py): edits and deletes of direct
        -- messages, told to the recipient until it confirms (change_pending), read marks
        -- (one row per reader and conversation: "read up to msg_id"), and who turned read
        -- receipts off.
        ALTER TABLE messages ADD COLUMN edited_at REAL;
        ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE messages ADD COLUMN change_pending INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX messages_changes ON messages (recipient_key, msg_id) WHERE change_pending = 1;
        CREATE TABLE reads (
            reader_key TEXT NOT NULL,
            peer_key   TEXT NOT NULL,          -- whose messages the reader has seen
            up_to      INTEGER NOT NULL,       -- ... up to this msg_id
            PRIMARY KEY (reader_key, peer_key)
        );
        CREATE TABLE receipts_off (
            name_key TEXT PRIMARY KEY
        );
    """,
    8: """
        -- Room history (issue 13): a named room's messages are stored with the room's key
        -- as recipient_key and state 'room' (the default room's have no recipient). Only
        -- they are in this index, so a say or a direct message pays nothing for it.
        CREATE INDEX messages_room ON messages (recipient_key) WHERE state = 'room' AND recipient_key IS NOT NULL;
        -- Missed room messages (issue 13): per membership, the last message id the member
        -- has had of the room. Written when the member's last session ends, for the rooms
        -- they are in then (the others' rows go): one row per membership, never per message.
        CREATE TABLE room_cursors (
            name_key   TEXT NOT NULL,
            room_key   TEXT NOT NULL,
            last_id    INTEGER NOT NULL,
            PRIMARY KEY (name_key, room_key)
        ) WITHOUT ROWID;
    """,
    9: """
        -- Edits and deletes of room posts (issue 13): a room's latest changes, read at a
        -- member's login for the posts they had (mailbox.room_changes): no row per member.
        CREATE INDEX messages_room_changes ON messages (recipient_key, edited_at)
            WHERE state = 'room' AND edited_at IS NOT NULL;
    """,
    10: """
        -- The conversation index without named-room posts (issue 9): their recipient_key is
        -- the room's key, which begins with the room prefix '#' that no user name may contain,
        -- and history never shows them, yet each paid an entry (10,000-20,000 instructions
        -- and a log page). A key begins with '#' exactly when it is >= '#' and < '$' (BINARY
        -- order), so the condition is two comparisons, cheaper than a GLOB at every insert,
        -- and it leaves out the default room's posts too (no recipient). A user's key is
        -- >= '$' (names begin with a letter or digit), so for a direct message the first
        -- comparison decides and the OR stops there. The key stays
        -- (sender, recipient), then the rowid: mailbox.HISTORY_QUERY merges the two
        -- directions in msg_id order and stops after a page. It spells the same condition,
        -- or the planner cannot use the index.
        DROP INDEX messages_conversation;
        CREATE INDEX messages_conversation ON messages (sender_key, recipient_key)
            WHERE recipient_key >= '$' OR recipient_key < '#';
    """,
    11: """
        -- The lookups by request id and by conversation leave the synced file (issue 9):
        -- nearly every message put an entry of each on a page of its own, which every
        -- commit and checkpoint then synced, the whole durable p99's distance from its floor
        -- on a disk that syncs scattered pages slowly. They are tables of an unsynced file
        -- now, derived from this table (server/lookups.py, which builds them at the first
        -- start after this migration).
        DROP INDEX messages_by_client_id;
        DROP INDEX messages_conversation;
    """,
    12: """
        -- A blocked message expires as any unconfirmed one does (its sender is told
        -- "expired", its recipient still never sees it: state blocked_expired), so the
        -- expiry index holds blocked rows too, and the untold index the new final state.
        -- A sent or queued message pays what it paid, a blocked one (rare) now one entry
        -- of this index as they do, and the expiry pass stays a SEARCH of its range.
        DROP INDEX messages_expiry;
        CREATE INDEX messages_expiry ON messages (expires_at) WHERE state IN ('sent', 'queued', 'blocked');
        DROP INDEX messages_untold;
        CREATE INDEX messages_untold ON messages (sender_key, msg_id)
            WHERE sender_notified = 0 AND state IN ('delivered', 'expired', 'blocked_expired');
    """,
    13: """
        -- The same two indexes, their conditions spelled as comparisons, not as an IN list
        -- of three (issue 9, bench/PROFILE.md "Round twenty (durable)"). SQLite
        -- evaluates a partial index's condition at every write of a row, where an IN list
        -- of more than two constants is a temporary table built, searched and cleared anew
        -- each time (two values are compared directly, as messages_inbox's are): since
        -- migration 12 a direct message paid nine (two at its store, four at its receipt,
        -- three at its ack): a third of the committer's instructions a message at 64 a
        -- transaction, two fifths at 4. The same rows, so the same answers. The queries
        -- that use the indexes spell the conditions as here (mailbox.PENDING_OR_BLOCKED_SQL,
        -- FINAL_SQL), or the planner cannot use them.
        DROP INDEX messages_expiry;
        CREATE INDEX messages_expiry ON messages (expires_at)
            WHERE (state = 'sent' OR state = 'queued' OR state = 'blocked');
        DROP INDEX messages_untold;
        CREATE INDEX messages_untold ON messages (sender_key, msg_id)
            WHERE sender_notified = 0 AND (state = 'delivered' OR state = 'expired' OR state = 'blocked_expired');
    """,
    14: """
        -- Changes by user (PROTOCOL.md "Changes a device missed"): a device back from away is
        -- told the edits and deletes of its user's direct messages, sent or received, made
        -- since it last heard, whichever session confirmed them (mailbox.dm_changes), and a
        -- room's member those of the room's posts (mailbox.room_changes: a room's key is its
        -- posts' recipient_key, so the first index replaces messages_room_changes, whose rows
        -- it holds). Only changed rows are in them, and their condition names no column a
        -- receipt or an ack writes (state), so a message never changed pays one comparison
        -- per index at its insert and nothing after.
        DROP INDEX messages_room_changes;
        CREATE INDEX messages_changes_to ON messages (recipient_key, edited_at) WHERE edited_at IS NOT NULL;
        CREATE INDEX messages_changes_by ON messages (sender_key, edited_at) WHERE edited_at IS NOT NULL;
    """,
}
SCHEMA_VERSION = max(MIGRATIONS)

Operation = Callable[[sqlite3.Connection], Any]
BatchOperation = Callable[[sqlite3.Connection, list], list]
Callback = Callable[[Any], None]

# SQLite's page cache, in KiB (an upper bound: it grows with the database up to this).
# Measured with 300,000 messages stored: 64 MiB instead of the default 2 MiB cut SQLite's
# CPU time per message by about a quarter.
CACHE_KIB = 64 * 1024

# Seconds between the summary lines logged while the store keeps failing.
SUMMARY_PERIOD = 60.0

# The write-ahead log is checkpointed (its pages copied into the database file, which is
# then fsynced) by the committer thread itself, between two transactions, so that no
# checkpoint's fsync ever runs during a COMMIT's. SQLite's own checkpoint runs inside the
# COMMIT that takes the log past 1,000 pages: one message in every few hundred waited for a
# whole checkpoint and its fsync besides its own commit (issue 9: the durable delivered-ack
# p99). A checkpoint thread of its own on a second connection (round eight) ran beside the
# commits, and the COMMITs it overlapped had a p99 of 5-6 ms against 2-3 (its fsync of the
# database file and theirs of the log on the same disk; bench/PROFILE.md "Round ten").
#
# The committer checkpoints once this many commits have been made since the last one and
# nothing waits to be committed (a transaction handed over meanwhile waits for it: the
# checkpoint is short, as it copies only these few commits' pages) ...
#
# 64, not 16 (issue 9, bench/PROFILE.md "Round eleven (durable)"): a checkpoint costs two
# fsyncs and a copy of every page the commits since the last one rewrote, and the same
# pages (the table's last leaf, the expiry index's, inner pages) are rewritten by commit
# after commit, so four times fewer checkpoints copy them once instead of four times:
# a quarter of the checkpoints, each 1.7 ms at p50 instead of 1.1, and less of the
# store's kernel time per message.
CHECKPOINT_EVERY_COMMITS = 64
# ... and, should something always be waiting (sustained load), once this many commits
# have been made, before the next transaction: the log stays bounded. Nothing else uses
# the database meanwhile, so a checkpoint copies the whole log, and SQLite writes it from
# its start again: the log's file keeps its size and its blocks (a commit's fdatasync then
# has no file size to write besides).
CHECKPOINT_AT_LATEST_COMMITS = 128
# SQLite's own checkpoint stays, far later, as the bound on the log should the store's
# checkpoints fail: in the COMMIT that takes the log past this many pages (16 MiB of 4 KiB
# pages).
WAL_AUTOCHECKPOINT_PAGES = 4096

# At most this many seconds between a lazy submission (``submit_many(..., lazy=True)``:
# receipts and acks, whose callers wait for no commit) and the start of its transaction.
# A lazy item does not start a commit of its own: it rides in the next transaction that
# something else starts (under load, the next message's, a few hundred µs later), so the
# committer is not busy with a commit of receipts when the next message arrives (issue 9:
# a message waited for the commit under way, then for its own). The Redis store's acks
# wait as long for a pipeline to ride in (stores/redis.py, RedisStore._many).
LAZY_SECONDS = 0.01


class StoreUnavailable(Exception):
    """An operation was not done (or not committed): nothing of it is on disk; or, when
    ``maybe_done``, the store cannot tell whether it was.

    ``reason`` says why in words (SQLite's message, such as "database or disk is full");
    ``storage`` is true when the disk or the database failed, false when the operation
    itself raised (a bug): only the first may go away by itself. ``maybe_done`` is true
    when the operation went to a store that did not answer in time (Redis paused, slow or
    cut off after the command was written: it ran whole or not at all, and nobody here
    knows which); the answer must then not say "nothing was done" (server/login.py's
    ``unavailable_error``). False (the default) when it certainly was not done: SQLite's
    failed COMMIT is rolled back, a command never written to Redis did not run.
    """

    def __init__(self, reason: str, storage: bool = True, maybe_done: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.storage = storage
        self.maybe_done = maybe_done


ErrorCallback = Callable[[StoreUnavailable], None]


def is_storage_failure(exc: BaseException) -> bool:
    """True if ``exc`` says the disk or the database failed (full, read-only, I/O error,
    locked, corrupt), not that the operation was wrong (a constraint, bad SQL, a bug)."""
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError \
        or isinstance(exc, OSError)



class FailureLog:
    """Logs a failing store once, not once per operation: a warning when it starts
    failing (with the reason), a summary count every ``period`` seconds while it keeps
    failing, and one info line when it works again. ``clock`` is monotonic.

    It works again once an operation of a kind it refused (``kinds``: the operations'
    names; None stands for any) has itself written to the disk: on a full disk some
    writes still get through (an update in place, one that fits in the space the
    write-ahead log already has) while others, such as every message, are refused, and
    reads work on a full disk too. Neither is the store working again for those refused.

    A nearly full disk may let small writes through and fail big ones of the same kind, so
    the store can flap between failing and working: a failure that starts within
    ``period`` of the last line is not announced again; it is counted in the next line,
    and its end is logged only if a summary said it was still failing.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, period: float = SUMMARY_PERIOD) -> None:
        self.clock = clock
        self.period = period
        self.failing_since: float | None = None
        self._announced = False   # a line said this failure: its end will be said too
        self._refused: set[str | None] = set()  # kinds refused during this failure (None: any)
        self._refused_since_write = False  # something was refused since the last write got through
        self._total = 0           # operations refused since it started failing
        self._unreported = 0      # ... not yet in a line
        self._reported_at: float | None = None  # when the last line was logged
        self.operations_failed = 0  # since start, never reset (for /metrics)

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def failed(self, reason: str, operations: int, kinds: Iterable[str] | None = None) -> None:
        """``operations`` of the ``kinds`` given (None: of any kind) were refused."""
        now = self.clock()
        self._total += operations
        self.operations_failed += operations
        self._refused.update((None,) if kinds is None else kinds)
        self._refused_since_write = True
        if self.failing_since is None:
            self.failing_since = now
            self._announced = self._reported_at is None or now - self._reported_at >= self.period
            if self._announced:
                earlier = f" ({self._unreported} refused in brief failures before)" if self._unreported else ""
                self._unreported, self._reported_at = 0, now
                log.warning("storage failing: %s; requests that need the store are answered 'unavailable' "
                            "until it works again%s", reason, earlier)
                return
        self._unreported += operations
        if now - self._reported_at >= self.period:
            log.warning("storage still failing (%s): %s refused in the last %.0f s",
                        reason, counted(self._unreported, "operation{s}"), now - self._reported_at)
            self._unreported, self._reported_at = 0, now
            self._announced = True  # the log now says it fails: it must say when that ends

    def recovered(self, kinds: Iterable[str] | None = None) -> bool:
        """Operations of the ``kinds`` given (None: of any kind) changed rows, and that is
        on disk. If one is of a kind this failure refused, the failure ends (logged if it
        was announced).

        True if this is the first write to get through since something was refused,
        whether or not the failure ends: what was refused and is kept may be retried now
        (it may work, or be refused again)."""
        if self.failing_since is None:
            return False
        kinds = None if kinds is None else set(kinds)
        if not kinds and kinds is not None:  # nothing was written: reads work on a full disk
            return False
        retry, self._refused_since_write = self._refused_since_write, False
        if kinds is not None and None not in self._refused and self._refused.isdisjoint(kinds):
            return retry  # other writes get through; what it refused may not
        if self._announced:
            self._reported_at = self.clock()
            log.info("storage works again after %.1f s; %s refused meanwhile", self._reported_at - self.failing_since,
                     counted(self._total, "operation{s} {was|were}"))
            self._unreported = 0  # all in that line
        self.failing_since, self._total = None, 0
        self._refused.clear()
        return True


def _one_by_one(db: sqlite3.Connection, operations: list[Operation]) -> list:
    return [operation(db) for operation in operations]


# SQLite's primary result codes for a file it cannot read as a database: SQLITE_CORRUPT, SQLITE_NOTADB.
_SQLITE_DAMAGED = frozenset({11, 26})


class DatabaseDamaged(sqlite3.DatabaseError):
    """The database fails SQLite's check (``PRAGMA quick_check``) after an unclean stop:
    nothing was written to it. ``str(exc)`` is the one line's end for the operator."""


def check_after_unclean_stop(db: sqlite3.Connection) -> None:
    """``PRAGMA quick_check`` of the main database, logged with the time it takes; raises
    :class:`DatabaseDamaged` if it fails.

    A server that was killed, or lost its machine, or whose folder was copied while it ran
    and put back (the upgrade tester's finding 1: a malformed copy it served from and
    added 15,000 messages to, saying nothing) may leave a database SQLite cannot read
    whole; serving from it would add to the damage what it takes, and hide it. The check
    reads every page (about a second for a few hundred MB) but not the indexes against
    the tables (``integrity_check``'s far longer part), and only after an unclean stop."""
    log.info("checking the database after an unclean stop…")
    started = time.monotonic()
    try:
        problems = [row[0] for row in db.execute("PRAGMA main.quick_check(3)").fetchall()]
    except sqlite3.DatabaseError as error:  # too damaged even to list what is wrong
        if getattr(error, "sqlite_errorcode", 0) & 0xFF not in _SQLITE_DAMAGED:
            raise
        problems = [str(error)]
    if problems != ["ok"]:
        raise DatabaseDamaged(
            f"it fails SQLite's check after an unclean stop ({'; '.join(problems)}); nothing was changed in it; "
            "restore it from a backup (README.md, \"Backing up, restoring and upgrading\")")
    log.info("the database passed the check in %.1f s", time.monotonic() - started)


class UpgradeRefused(sqlite3.DatabaseError):
    """The database was not migrated, as no copy of it could be kept first (see
    :func:`keep_before_upgrade`); nothing was changed. ``str(exc)`` is the one line's end."""


def keep_before_upgrade(db: sqlite3.Connection, path: Path, version: int) -> Path:
    """Before the migrations of an existing database (schema ``version``) run: say so, and
    keep a copy of it as it is, ``<database>.schema-<version>`` beside it, made with SQLite's
    backup API (what the log holds too), written under another name and renamed once
    synced. Returns the copy's path; raises :class:`UpgradeRefused` if the disk has no
    room for it or it cannot be made.

    The migrations go one way (an older server refuses the database after them), and an
    operator who goes back needs the database as it was (the upgrade tester's findings 5
    and 6: no copy, and nothing said until the migrations were over)."""
    copy = path.with_name(f"{path.name}.schema-{version}")
    partial = copy.with_name(copy.name + ".partial")
    upgrade = f"upgrading it from schema {version} to {SCHEMA_VERSION}"
    pages, page_size = (db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "page_size"))
    # The copy, and as much again for the migrations' log and the lookups derived after them.
    needed = 2 * pages * page_size
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise UpgradeRefused(f"before {upgrade} the server keeps a copy of it, and the disk has no room for one "
                             f"({human_size(needed)} needed, {human_size(free)} free): free some space, or move "
                             "--data to a larger disk; nothing was changed")
    log.info("upgrading the database from schema %d to %d; do not stop the server", version, SCHEMA_VERSION)
    try:
        partial.unlink(missing_ok=True)
        target = sqlite3.connect(partial)
        try:
            db.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")  # one file, as the old server left it at a clean stop
        finally:
            target.close()
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(partial, copy)  # over a copy of an earlier attempt: this one is newer
        lookups.sync_directory(path.parent)
    except (OSError, sqlite3.Error) as error:
        partial.unlink(missing_ok=True)
        raise UpgradeRefused(f"could not keep a copy of it before {upgrade} ({error}); nothing was changed") from error
    log.info("kept a copy of the database as it was (schema %d) in %s", version, copy)
    return copy


# How long the copy kept before an upgrade (keep_before_upgrade) stays at most: long enough
# to go back to the older server if the new one misbehaves; not for ever, as it holds every
# text the retention purged or a sender deleted since (docs/privacy.md). Never longer than
# the retention either (drop_upgrade_copies).
UPGRADE_COPY_KEPT = 7 * 24 * 3600.0


def drop_upgrade_copies(path: Path | None, older_than: float, now: float) -> list[Path]:
    """Delete the copies ``<database>.schema-N`` (and a ``.partial`` one left by a failed
    attempt) beside ``path`` made before ``older_than`` (the retention's cut: a copy older
    holds nothing the retention would keep) or more than :data:`UPGRADE_COPY_KEPT` before
    ``now``, by their modification time (when they were written). Returns the ones deleted;
    one that cannot be read or deleted is left, said in the log (the retention's purge
    calls this: it tries again at the next)."""
    if path is None:
        return []
    cut = max(older_than, now - UPGRADE_COPY_KEPT)
    dropped = []
    for copy in sorted(path.parent.glob(f"{path.name}.schema-*")):
        try:
            if copy.stat().st_mtime >= cut:
                continue
            copy.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            log.warning("could not delete %s, the old copy of the database kept before an upgrade: %s", copy, error)
            continue
        log.info("deleted %s, the copy of the database kept before its upgrade: older than a week or than the "
                 "history retention", copy)
        dropped.append(copy)
    return dropped


def open_database(path: Path | None) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database, with its lookups attached
    (server/lookups.py); ``None`` means in memory. After an unclean stop the database is
    checked first (:func:`check_after_unclean_stop`: raises :class:`DatabaseDamaged`)."""
    unclean = path is not None and lookups.left_open(path)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(":memory:" if path is None else str(path), isolation_level=None,
                         check_same_thread=False)
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
        # Checkpoints are the committer thread's (see CHECKPOINT_EVERY_COMMITS).
        db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
        # Index pages stay in SQLite's cache: with the default 2 MiB, inserting into the
        # indexes of a large table reads pages back from the OS at every turn.
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # The statement journal (what a ROLLBACK TO of the SAVEPOINT around each group but a
        # transaction's first, or of a failing statement, restores) in memory, not in a
        # temporary file: each page a group changes was written there too, a pwrite of 4
        # KiB on the committer thread, as many bytes as the log itself at 64 messages a
        # transaction (issue 9, bench/PROFILE.md "Round fifteen (durable)"). Nothing
        # durable is kept in it: it is dropped at the end of every transaction, and the
        # log and the database file are written and synced as before.
        db.execute("PRAGMA temp_store = MEMORY")
    # A deleted or purged message's text must leave the file, not just the table (issue
    # 13): ON zeroes freed bytes and also the pages freed whole (FAST left those as they
    # were: 59 of 119 purged texts stayed readable in the file). Its cost, by callgrind:
    # none the message path can see (it frees no pages: 224,090 instructions a durable
    # message against 223,960, noise), 0.6% more instructions and 0.9% more log bytes on
    # a purge of 10,000 messages (docs/privacy.md).
    db.execute("PRAGMA secure_delete = ON")
    try:
        if unclean:
            check_after_unclean_stop(db)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if path is not None and 0 < version < SCHEMA_VERSION:
            keep_before_upgrade(db, path, version)
        # A migration may change the rows the lookups derive from (keys, indexes): they
        # are derived again whole after one.
        lookups.attach(db, path, whole=migrate(db), cache_kib=CACHE_KIB)
    except BaseException:
        db.close()  # an open connection would keep the file locked
        raise
    return db


def _name_key(name: str | None) -> str | None:
    return None if name is None else canonical(name)


def migrate(db: sqlite3.Connection) -> bool:
    """Run every migration newer than the database's ``user_version``, each atomically;
    True if there was one.

    Migrations may call ``chat_name_key(name)``, the comparison form of a name
    (``registry.canonical``), as an SQL function.
    """
    db.create_function("chat_name_key", 1, _name_key, deterministic=True)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(f"the database is at schema version {version}, newer than this "
                                    f"server's {SCHEMA_VERSION}: upgrade the server")
    reached = version
    try:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            db.execute("BEGIN")
            try:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")
                db.execute("COMMIT")
            except BaseException:
                lookups.roll_back_if_open(db)  # all of this migration or nothing
                raise
            reached = target
    finally:  # one line, also for the ones done before a failure
        if reached > version and version == 0:
            log.info("new database, at schema version %d", reached)
        elif reached > version:
            log.info("database migrated from schema version %d to %d", version, reached)
    if version == 0 and db.execute("PRAGMA freelist_count").fetchone()[0]:
        # A new database starts compact: later migrations drop what earlier ones made
        # (indexes), and the pages they free would otherwise stay in the file. Cheap now,
        # while it is empty; an existing database reuses such pages for new rows.
        db.execute("VACUUM")
    return version < SCHEMA_VERSION


class Store:
    """The database, its transactions and its commits.

    Call :meth:`open`, load caches with :meth:`read`, then :meth:`start` on the event loop;
    from then on use :meth:`submit` and :meth:`submit_many` from the loop only.
    :meth:`close` commits what is pending. ``on_recovered()``, if set, is called on the
    loop when a write succeeds after the store had failed.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # (batch operation, item, callback, on_error) in submission order, for the next transaction.
        self._pending: list[tuple[BatchOperation, Any, Callback | None, ErrorCallback | None]] = []
        self._scheduled = False
        self._eager = False  # something in _pending is not lazy: it goes at the turn's end
        self._lazy_timer: asyncio.TimerHandle | None = None  # the latest start of lazy items
        self._committer: ThreadPoolExecutor | None = None
        # On disk, the loop hands each turn's submissions to the committer thread, which
        # runs them and commits, one transaction at a time (see _work). Under _lock: the
        # batches handed over and not taken yet, and whether the thread is at work.
        self._lock = threading.Lock()
        self._ready: list[tuple[int, list]] = []  # (failures answered at its first submission, batch)
        self._working = False
        # Failed transactions: seen by the committer thread (committer only), and those the
        # loop has been answered (loop only). A batch submitted before the loop heard of a
        # failure is refused unrun (see _refuse_behind_failure).
        self._failures_seen = 0
        self._failures_answered = 0
        # The count when the first of ``_pending`` was submitted: a failure answered after
        # that (in the same loop turn, before the hand-over) came after some of them, so
        # the batch is handed over as submitted before it.
        self._pending_answered = 0
        self._unanswered = 0  # batches handed over whose answers have not reached the loop (loop only)
        # Batches handed over, and of them answered, since start (loop only): the next
        # batch handed over is number handovers + 1, and it is answered (committed or
        # failed) once answered_handovers reaches that.
        self.handovers = 0
        self.answered_handovers = 0
        self.failures = FailureLog()
        self.on_recovered: Callable[[], None] | None = None
        # Called on the loop with the seconds each successful COMMIT took (for /metrics).
        self.on_commit: Callable[[float], None] | None = None
        self._commit_seconds = 0.0  # of the last COMMIT, set by _commit
        # Called on the loop once a durable commit's callbacks have run: the server writes
        # the answers they queued (accepted, the forwards) here, at once, not after
        # whatever else the loop has to do in that turn (issue 9).
        self.after_answers: Callable[[], None] | None = None
        # Checkpoints (see CHECKPOINT_EVERY_COMMITS), on the committer thread, on disk only.
        # Held during one: a checkpoint of the loop's own (a delete's) waits for it.
        self._checkpoint_lock = threading.Lock()
        self._commits_since_checkpoint = 0  # committer thread only
        self._checkpoint_failed = False  # logged once until one succeeds again
        # A COMMIT failed: its lookups part may have failed after the messages' was on disk
        # (atomic per file only), so the lookups are caught up before the next transaction.
        self._lookups_behind = False  # committer thread only

    def open(self) -> None:
        """Open and migrate the database; :meth:`read` may load caches from it now."""
        self.db = open_database(self.path)

    def read(self, operation: Operation) -> Any:
        """Run ``operation`` at once, outside any batch: for loading caches at start-up."""
        return operation(self.db)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.path is not None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="chat-commit")

    def submit(self, operation: Operation, callback: Callback | None = None,
               on_error: ErrorCallback | None = None) -> None:
        """Run ``operation(db)`` in the next transaction; once it is committed, call
        ``callback(result)`` on the loop. On disk the operation runs on the committer
        thread: it may use the connection and what it was given, nothing the loop changes.

        Exactly one of the two is called (if given), on the loop, in submission order:
        if the operation raises, or its transaction cannot be completed or committed (the
        disk is full or failing), its changes are rolled back and ``on_error`` gets a
        :class:`StoreUnavailable` instead. A storage failure is logged by the store (see
        :class:`FailureLog`); ``on_error`` need not log it again."""
        self.submit_many(_one_by_one, operation, callback, on_error)

    def submit_many(self, batch: BatchOperation, item: Any, callback: Callback | None = None,
                    on_error: ErrorCallback | None = None, *, lazy: bool = False) -> None:
        """Like :meth:`submit`, for an operation that handles many items at once:
        ``batch(db, items)`` returns one result per item, in order. Consecutive
        submissions with the same ``batch`` are merged into one call.

        ``lazy``: nothing waits for this item's commit but its own callbacks, which may
        come up to :data:`LAZY_SECONDS` later. It does not start a transaction (on disk):
        it goes, in its place in submission order, in the next one that something not
        lazy starts, or at the latest after LAZY_SECONDS."""
        if not self._pending:  # (see _pending_answered)
            self._pending_answered = self._failures_answered
        self._pending.append((batch, item, callback, on_error))
        if lazy and self._committer is not None and not self._eager:
            if self._lazy_timer is None:
                self._lazy_timer = self._loop.call_later(LAZY_SECONDS, self._lazy_due)
            return
        self._eager = True
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._run)

    def _lazy_due(self) -> None:
        """Lazy items waited LAZY_SECONDS without a transaction to ride in: start one."""
        self._lazy_timer = None
        if self._pending and not self._eager:
            self._eager = True
            if not self._scheduled:
                self._scheduled = True
                self._run()

    @property
    def _committing(self) -> bool:
        """True while something handed to the committer thread has not been answered."""
        return self._unanswered > 0

    @property
    def queue_depth(self) -> int:
        """Operations submitted and waiting for the next transaction (for /metrics): those
        of this turn, and those handed to the committer while a commit is under way."""
        return len(self._pending) + sum(len(batch) for _, batch in list(self._ready))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything submitted so far is committed (at most ``timeout`` s)."""
        deadline = self._loop.time() + timeout
        while (self._pending or self._committing) and self._loop.time() < deadline:
            await asyncio.sleep(0.005)

    async def wait_closed(self) -> None:
        """Nothing to wait for: :meth:`close` closes the database before it returns."""

    def close(self) -> None:
        """Commit what is pending (synchronously) and close the database. While a commit
        is under way (a drain that gave up on a slow disk), what waits for the next one
        is answered ``on_error(StoreUnavailable)`` instead: nothing is left unanswered,
        and nothing said stored that is not."""
        if self.db is None:
            return
        if self._pending and not self._committing:
            pending, outcomes, wrote = self._execute(self._take())
            self._finish(pending, outcomes, wrote, self._commit if self.db.in_transaction else None)
        elif self._pending:
            pending = self._take()
            self._answer(pending, [StoreUnavailable("the store is closing", storage=False)] * len(pending), [],
                         False, 0.0)
        if self._committer is not None:
            self._committer.shutdown(wait=True)
        lookups.close_cleanly(self.db, self.path)
        self.db.close()  # the last connection: SQLite checkpoints the log and removes it
        self.db = None

    def checkpoint_now(self, mode: str = "PASSIVE") -> tuple:
        """With no transaction under way (on the loop: ``not _committing``; or the committer
        thread between two): checkpoint the log now, once a checkpoint under way, if any,
        is done (SQLite would refuse this one as busy meanwhile). Returns SQLite's (busy,
        log pages, pages checkpointed). Raises :class:`sqlite3.Error`."""
        with self._checkpoint_lock:
            # fetchall: the statement runs to its end, so no read lock is left behind
            # (which would stop the log from starting over). ``main``: the messages' log
            # (the lookups have none: server/lookups.py).
            return self.db.execute(f"PRAGMA main.wal_checkpoint({mode})").fetchall()[0]

    def _checkpoint_due(self, waiting: bool) -> bool:
        """On the committer thread, between transactions: is a checkpoint due now?
        ``waiting``: a transaction waits to be committed."""
        return self._commits_since_checkpoint >= (CHECKPOINT_AT_LATEST_COMMITS if waiting
                                                  else CHECKPOINT_EVERY_COMMITS)

    def _checkpoint(self) -> tuple | None:
        """On the committer thread, between transactions: a PASSIVE checkpoint (as durable
        as the commits: ``synchronous=FULL``). Returns SQLite's (busy, log pages, pages
        checkpointed), or None if it failed: that is not a lost write (SQLite's own
        checkpoint, WAL_AUTOCHECKPOINT_PAGES, still bounds the log), so it is logged once,
        and tried again at the next due time."""
        self._commits_since_checkpoint = 0
        try:
            result = self.checkpoint_now()
        except Exception as error:
            if not self._checkpoint_failed:
                log.warning("could not checkpoint the write-ahead log: %s (retried every %s)",
                            error, counted(CHECKPOINT_EVERY_COMMITS, "commit{s}"))
            self._checkpoint_failed = True
            return None
        if self._checkpoint_failed:
            self._checkpoint_failed = False
            log.info("the write-ahead log is checkpointed again")
        return result

    def _take(self) -> list:
        pending, self._pending = self._pending, []
        self._scheduled = self._eager = False
        if self._lazy_timer is not None:  # its items go now
            self._lazy_timer.cancel()
            self._lazy_timer = None
        return pending

    def _commit(self) -> None:
        """COMMIT the open transaction: with ``synchronous=FULL`` this is where the fsync
        happens, and it returns once the transaction is on disk. Runs on the committer
        thread (on the loop when in memory). Nothing is acknowledged before it returns."""
        started = time.perf_counter()
        self.db.execute("COMMIT")
        self._commit_seconds = time.perf_counter() - started

    def _run(self) -> None:
        """At the end of the loop turn of the first submission: hand the turn's submissions
        to the committer thread (on disk), or run and commit them here (in memory)."""
        if self.db is None or not self._pending:
            self._scheduled = False
            return
        if self._committer is None:  # in memory: nothing to wait for
            pending, outcomes, wrote = self._execute(self._take())
            self._finish(pending, outcomes, wrote, self._commit if self.db.in_transaction else None)
            return
        batch = self._take()
        self._unanswered += 1
        self.handovers += 1
        with self._lock:
            self._ready.append((self._pending_answered, batch))
            if self._working:  # it takes the batch when its commit under way returns
                return
            self._working = True
        self._committer.submit(self._work)

    def _work(self) -> None:
        """On the committer thread: run what the loop handed over and commit it, one
        transaction at a time, until nothing is left; hand each transaction's outcomes
        back to the loop, which answers them (:meth:`_committed`).

        What was handed over during a commit (in one or several loop turns) is one
        transaction, started as soon as that commit returns: no round trip through the
        loop between two commits (issue 9: the hand-back, a loop turn and the hand-over
        were a third of each commit's cycle at 2,000 messages/s, and every message waits
        for the commit under way). The statements are mostly SQLite's C code, which runs
        without the GIL. One thread, so transactions keep their order."""
        while True:
            with self._lock:
                waiting = bool(self._ready)
            # Between two transactions, so never during a COMMIT (see CHECKPOINT_EVERY_COMMITS).
            if self._checkpoint_due(waiting):
                self._checkpoint()
            with self._lock:
                if not self._ready:
                    self._working = False
                    return
                batches, self._ready = self._ready, []
            if batches[0][0] < self._failures_seen:
                batches = self._refuse_behind_failure(batches)
                if not batches:
                    continue
            pending = batches[0][1] if len(batches) == 1 else list(chain.from_iterable(b for _, b in batches))
            failed: list[tuple] = []  # for the failure log, on the loop: its failed()'s arguments
            committed = broken = False
            if self._lookups_behind:
                self._catch_up_lookups()
            try:
                pending, outcomes, wrote = self._execute(pending, lambda *refused: failed.append(refused))
                if self.db.in_transaction:  # not rolled back whole
                    try:
                        self._commit()
                        committed = True
                        self._commits_since_checkpoint += 1
                    except Exception as exc:  # the disk failed: nothing in it may be acknowledged
                        self._abandon()
                        self._lookups_behind = True
                        failure = StoreUnavailable(str(exc))
                        failed.append((failure.reason, len(pending), _kinds(pending)))
                        outcomes = [failure] * len(pending)
            except Exception:  # a bug here must not leave the loop waiting for answers forever
                log.exception("the committer failed")
                self._abandon()
                wrote, outcomes = [], [StoreUnavailable("the committer failed", storage=False)] * len(pending)
                broken = True
            if failed or broken:  # something in it was refused: what is handed over before the
                self._failures_seen += 1  # loop hears of it is refused too (_refuse_behind_failure)
            self._hand_back(self._committed, len(batches), pending, outcomes, wrote, committed, failed,
                            self._commit_seconds, self._failures_seen)

    def _refuse_behind_failure(self, batches: list[tuple[int, list]]) -> list[tuple[int, list]]:
        """On the committer thread: refuse, unrun, the ``batches`` handed over before the
        loop was answered the latest failed transaction; return the others (handed over
        since: they run). Run, a refused batch's later message could be stored while an
        earlier one of the same conversation, refused, was not yet: its sender writes it
        again once told, behind the later one. The relay's hold on the conversation
        (server/sendorder.py) comes with the failure's answer, and these were handed over
        before it. (The Redis store's rule: RedisStore._refusal_behind.) A refusal is not a
        failure of its own: what is handed over once the loop has heard of it runs."""
        seen = self._failures_seen
        stale = [batch for answered, batch in batches if answered < seen]
        pending = stale[0] if len(stale) == 1 else list(chain.from_iterable(stale))
        refusal = StoreUnavailable("an earlier transaction failed, and what was handed over before its answer "
                                   "is not run, so that it cannot be stored ahead of it")
        self._hand_back(self._committed, len(stale), pending, [refusal] * len(pending), [], False,
                        [(refusal.reason, len(pending), _kinds(pending))], 0.0, seen)
        return batches[len(stale):]  # in order: those handed over later come after

    def _catch_up_lookups(self) -> None:
        """On the committer thread, before a transaction, after a failed COMMIT: derive
        the lookups of the newest messages they may lack (see ``_lookups_behind``). If it
        fails too (the disk still fails), it is tried again before the next one."""
        try:
            caught = lookups.catch_up(self.db)
        except Exception as exc:
            self._abandon()
            log.debug("could not catch the message lookups up yet: %s", exc)
            return
        self._lookups_behind = False
        if caught:
            log.info("the message lookups caught up with the %s after a failed commit",
                     counted(caught, "newest message{s}"))

    def _hand_back(self, callback: Callable, *args: Any) -> None:
        """From the committer thread: run ``callback(*args)`` on the loop, in its next turn
        (one wake-up; an asyncio future would take a turn more, with every read that came
        meanwhile handled first)."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to answer
            pass

    def _committed(self, batches: int, pending: list, outcomes: list, wrote: list[int], committed: bool,
                   failed: list[tuple], seconds: float, failures: int) -> None:
        """On the loop: answer a transaction the committer thread finished (``failures``:
        the failed transactions it had seen by then)."""
        self._unanswered -= batches
        self._failures_answered = failures
        self.answered_handovers += batches
        for refused in failed:
            self.failures.failed(*refused)
        self._answer(pending, outcomes, wrote, committed, seconds)
        if self.after_answers is not None:
            try:
                self.after_answers()
            except Exception:
                log.exception("store answer hook failed")

    def _execute(self, pending: list, failed: Callable[..., None] | None = None) -> tuple[list, list, list[int]]:
        """Run ``pending`` in a new transaction (left open unless it failed); returns
        ``(pending, outcomes, wrote)``: for each item its result, or a
        :class:`StoreUnavailable` if it failed; ``wrote``: an item of each group that
        changed rows (its index in ``pending``), empty if the transaction changed none.

        Items are grouped by their batch operation, groups in the order of their first
        item, so each operation runs once per transaction however the submissions
        interleave (a thousand inserts and a thousand receipts are two executemany calls,
        not two thousand). Within a group, order is kept; a group runs after every group
        that started before it, so it sees their writes. Except a batch operation that
        ``runs_first`` (its items only ever concern rows of earlier transactions: receipts
        and acks, mailbox.record_confirmations): its group runs before the others since the
        last plain operation, so every item merged into an earlier group still sees it (a
        resend in the turn's group of stores sees a receipt submitted before it).

        A plain operation (:meth:`submit`) is not merged: it runs alone, after every group
        started before it, and the batch items submitted after it start new groups. So it
        sees exactly the writes submitted before it (a receipt checked by a plain operation
        never runs before an earlier receipt still waiting in its batch), and if it
        raises, only its own changes are rolled back.

        Some failures (a full disk, an I/O error) make SQLite roll back the whole
        transaction, not just the statement: then every item of it has failed, including
        the ones that ran before, and the rest are not run.

        Failures are counted with ``failed(reason, operations, kinds)`` (the failure log's, unless
        given: the committer thread's go to the loop with the outcomes).
        """
        failed = failed or self.failures.failed
        db = self.db
        outcomes: list[Any] = [None] * len(pending)
        wrote: list[int] = []
        try:
            db.execute("BEGIN")
            # The first group runs without a SAVEPOINT: nothing is in the transaction before
            # it, so ROLLBACK and BEGIN again undo exactly what ROLLBACK TO would. That saves
            # the savepoint's statements and its statement journal: ~2% of the committer's
            # instructions a message at a few messages a transaction, nothing measurable at
            # hundreds (issue 9, bench/PROFILE.md "Round sixteen (durable)").
            savepoint = False
            for batch, indexes in _in_order(pending):
                changes = db.total_changes
                try:
                    if savepoint:
                        db.execute("SAVEPOINT batch")
                    for index, result in zip(indexes, batch(db, [pending[i][1] for i in indexes])):
                        outcomes[index] = result
                    if savepoint:
                        db.execute("RELEASE batch")
                    savepoint = True  # the transaction now holds this group's work
                    if db.total_changes != changes:  # what works again on a full disk (FailureLog)
                        wrote.append(indexes[0])
                except Exception as exc:  # one bad operation must not lose the rest of the transaction
                    if not db.in_transaction:  # SQLite rolled all of it back
                        raise
                    if savepoint:
                        db.execute("ROLLBACK TO batch")
                        db.execute("RELEASE batch")
                    else:  # the group was all the transaction held
                        db.execute("ROLLBACK")
                        db.execute("BEGIN")
                    operation = pending[indexes[0]][1] if batch is _one_by_one else batch
                    name = getattr(operation, "__qualname__", operation)
                    if is_storage_failure(exc):
                        failure = StoreUnavailable(str(exc))
                        failed(failure.reason, len(indexes), (_kind(pending[indexes[0]]),))
                    else:  # a bug in the operation: worth its traceback
                        failure = StoreUnavailable(f"store operation {name} failed", storage=False)
                        log.exception("store operation %s failed", name)
                    for index in indexes:
                        outcomes[index] = failure
        except Exception as exc:  # the transaction is lost: nothing in it happened
            self._abandon()
            failure = StoreUnavailable(str(exc))
            failed(failure.reason, len(pending), _kinds(pending))
            return pending, [failure] * len(pending), []
        return pending, outcomes, wrote

    def _abandon(self) -> None:
        """Roll back what is left of a failed transaction: leave none open, or every
        later BEGIN would fail too."""
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _finish(self, pending: list, outcomes: list, wrote: list[int], commit: Callable[[], None] | None) -> None:
        """On the loop (in memory, and at close): commit (``commit()``; None when the
        transaction was already rolled back), then answer, as :meth:`_answer` does."""
        committed = False
        if commit is not None:
            try:
                commit()
            except Exception as exc:  # the disk failed: nothing in it may be acknowledged
                self._abandon()
                failure = StoreUnavailable(str(exc))
                self.failures.failed(failure.reason, len(pending), _kinds(pending))
                outcomes = [failure] * len(pending)
            else:
                committed = True
        self._answer(pending, outcomes, wrote, committed, self._commit_seconds)

    def _answer(self, pending: list, outcomes: list, wrote: list[int], committed: bool, seconds: float) -> None:
        """Tell every item's submitter, in order: ``callback(result)`` if its transaction
        is on disk (``committed``), else ``on_error``."""
        recovered = False
        if committed:
            if self.failures.failing:  # it works again once what it refused writes (see FailureLog)
                recovered = self.failures.recovered({_kind(pending[index]) for index in wrote})
            if self.on_commit is not None:
                self.on_commit(seconds)
        for (_, _, callback, on_error), outcome in zip(pending, outcomes):
            notify = on_error if isinstance(outcome, StoreUnavailable) else callback
            if notify is None:
                continue
            try:
                notify(outcome)
            except Exception:
                log.exception("store callback failed")
        if recovered and self.on_recovered is not None:
            try:
                self.on_recovered()
            except Exception:
                log.exception("store recovery hook failed")


def _in_order(pending: list) -> list[tuple[BatchOperation, list[int]]]:
    """(batch operation, indexes of its items) in the order they must run (see _execute)."""
    order: list[tuple[BatchOperation, list[int]]] = []
    groups: dict[BatchOperation, list[int]] = {}  # the mergeable groups since the last plain operation
    # Where the next group that runs_first goes in ``order``: after the last plain operation
    # and the groups that run first already placed since.
    first = 0
    for index, batch in enumerate(map(_BATCH, pending)):
        # Most items join a group already started: one dict lookup for them, not a test
        # and two lookups (issue 9: 500 instructions a message at 512 a transaction, three
        # items each; bench/PROFILE.md "Round twenty-one (durable)"). A plain operation is
        # never in ``groups``.
        group = groups.get(batch)
        if group is not None:
            group.append(index)
        elif batch is _one_by_one:
            order.append((batch, [index]))
            groups = {}
            first = len(order)
        else:
            groups[batch] = [index]
            if getattr(batch, "runs_first", False):
                order.insert(first, (batch, groups[batch]))
                first += 1
            else:
                order.append((batch, groups[batch]))
    return order


_BATCH = operator.itemgetter(0)  # of a pending (batch, item, callback, on_error)


def _kind(entry: tuple) -> str:
    """The kind of a pending entry's operation, for the failure log: its batch
    operation's name, or a plain operation's own."""
    batch, item = entry[0], entry[1]
    operation = item if batch is _one_by_one else batch
    return getattr(operation, "__qualname__", None) or repr(operation)


def _kinds(pending: list) -> set[str]:
    return {_kind(entry) for entry in pending}
