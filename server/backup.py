"""A backup of the database, taken while the server runs, into a new folder that is then a
complete data folder (``python3 chatserver.py --data FOLDER`` starts on it).

Copying the files of a running server is not a backup (the upgrade tester's finding 1): a
copy of ``chat.sqlite3`` alone lacks the commits still in ``-wal`` (acknowledged messages),
and a folder copied file by file pairs a database and a log of different moments (a
malformed database). Here SQLite's online backup API copies the database as of one moment:
a connection of its own (that only reads) opens a read transaction, and the backup copies its
pages from that snapshot, :data:`STEP_PAGES` at a time, while the server goes on writing
(in WAL mode readers and the writer do not wait for one another; the log only grows
until the backup ends, as the snapshot holds the checkpoints back). The snapshot held
across the steps is what lets the backup end under load: without it SQLite starts a
backup over whenever another connection writes between two steps.

The lookups (server/lookups.py) are not copied: they are derived from the messages, at the
first start on the backup. Nothing in the folder but ``chat.sqlite3``: the server makes
the rest. The copy is written as ``chat.sqlite3.partial``, checked (``PRAGMA
quick_check``), synced, and only then renamed, so a backup cut short is never taken for
a whole one.

:func:`back_up` blocks (seconds for a large database): the server's console runs it in a
thread of its own; ``chatserver.py --backup FOLDER`` in its own process.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from i18n import _, decimal

from .lookups import sync_directory
from .privatefiles import create_private_file, make_private_folder

# Pages copied per step of the backup API (4 KiB pages: 16 MiB a step).
STEP_PAGES = 4096


class BackupRefused(Exception):
    """The backup was not made, and nothing was left of it; ``str(exc)`` is the one line
    to show the operator."""


class UnfinishedBackup(Exception):
    """A data folder holds a backup's unfinished copy and no database (:func:`refuse_unfinished`);
    ``str(exc)`` is the one line to show the operator."""


def refuse_unfinished(database: Path) -> None:
    """Raise :class:`UnfinishedBackup` if ``database``'s folder holds only a backup's
    unfinished copy (``chat.sqlite3.partial``: a backup cut off, the server stopped while
    it copied or the disk full): started on it, a server would make a new, empty database
    beside it without a word, its users' messages nowhere. A data folder in use never
    holds one: a backup goes into a folder of its own."""
    partial = database.with_name(database.name + ".partial")
    if partial.exists() and not database.exists():
        raise UnfinishedBackup(_("{folder} holds an unfinished backup ({partial}) and no database: it is not a data "
                                 "folder to start on. Start on the data folder it was made from, and make the backup "
                                 "again").format(folder=database.parent, partial=partial.name))


@dataclass(frozen=True, slots=True)
class BackupMade:
    """A backup made: the database file written, its size in bytes, the messages it holds
    and the seconds it took."""

    database: Path
    size: int
    messages: int
    seconds: float


def default_folder(data_dir: Path, now: float | None = None) -> Path:
    """Where ``/backup`` with no folder puts it: beside the data folder, named after it and
    the local time (``data-backup-20261201-2146``)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return data_dir.with_name(f"{data_dir.name}-backup-{stamp}")


def resolved(path: Path) -> Path:
    """``path`` as the folder or file it names, for saying it: "/tmp/x/../copia-1" is
    "/tmp/copia-1" (through links, as the system goes there, not by striking out words);
    absolute as given when the system cannot resolve it (a NUL in it: what the copy then says)."""
    try:
        return path.expanduser().resolve()
    except (OSError, ValueError):
        return path.absolute()


def back_up(database: Path, folder: Path, step_pages: int = STEP_PAGES) -> BackupMade:
    """Copy ``database`` (of a running server or not) into ``folder``, which must not exist
    or be empty; returns what was made. Raises :class:`BackupRefused` (with nothing left
    behind) if the database is missing, the folder is not empty, or the copy fails."""
    database, folder = resolved(database), resolved(folder)
    try:
        # Looking can fail too (a name too long, a folder we may not read): said as any failure.
        if not database.is_file():
            raise BackupRefused(_("there is no database to back up at {database}").format(database=database))
        if folder.exists() and not folder.is_dir():  # (a slip: the database's file named, not a folder)
            raise BackupRefused(_("{folder} is a file, not a folder: a backup goes into a new (or empty) folder, "
                                  "so that it is a data folder of its own").format(folder=folder))
        if folder.exists() and any(folder.iterdir()):
            raise BackupRefused(_("{folder} is not an empty folder: a backup goes into a new (or empty) folder, "
                                  "so that it is a data folder of its own").format(folder=folder))
        made_folder = not folder.exists()
    except OSError as error:
        raise _failed(database, folder, error) from error
    started = time.monotonic()
    target = folder / database.name
    partial = folder / (database.name + ".partial")
    try:
        make_private_folder(folder)  # every message and hash: the owner's alone (docs/privacy.md)
        messages = _copy(database, partial, step_pages)
        with open(partial, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(partial, target)
        sync_directory(folder)
    except (OSError, sqlite3.Error) as error:
        partial.unlink(missing_ok=True)
        if made_folder:
            try:
                folder.rmdir()
            except OSError:
                pass
        raise _failed(database, folder, error) from error
    return BackupMade(target, target.stat().st_size, messages, time.monotonic() - started)


def _failed(database: Path, folder: Path, error: Exception) -> BackupRefused:
    return BackupRefused(_("could not back up {database} into {folder}: {error}").format(
        database=database, folder=folder, error=error))


def _copy(database: Path, partial: Path, step_pages: int) -> int:
    """The backup proper; returns the number of messages the copy holds."""
    partial.unlink(missing_ok=True)
    # Made here, mode 0600, for SQLite to fill: a folder given by the operator may let
    # others in, and the copy holds every message and hash (docs/privacy.md).
    create_private_file(partial)
    # Read-write, though it only reads: SQLite makes the log and its index (-wal, -shm) for
    # any reader of a stopped server's database, and only a read-write connection that is
    # the last to close removes them; a read-only one would leave them, empty.
    source = sqlite3.connect(database.as_uri() + "?mode=rw", uri=True, isolation_level=None,
                             check_same_thread=False)
    try:
        # One snapshot for every step (see the module's docstring).
        source.execute("BEGIN")
        source.execute("SELECT COUNT(*) FROM sqlite_schema").fetchall()
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy, pages=step_pages)
            source.execute("COMMIT")
            # The backup API copies free pages as they are, and the server zeroes only what
            # it frees inside pages it writes anyway (store.py, secure_delete FAST): whole
            # pages freed by the retention's purge keep old texts. Rebuilt from the live
            # rows, the copy holds no message the server has forgotten (docs/privacy.md).
            if copy.execute("PRAGMA freelist_count").fetchone()[0]:
                copy.execute("VACUUM")
            problems = copy.execute("PRAGMA quick_check").fetchall()
            if problems != [("ok",)]:
                raise sqlite3.DatabaseError("the copy does not pass SQLite's check: "
                                            + "; ".join(str(row[0]) for row in problems[:3]))
            has_messages = copy.execute("SELECT 1 FROM sqlite_schema WHERE name = 'messages'").fetchone()
            messages = copy.execute("SELECT COUNT(*) FROM messages").fetchone()[0] if has_messages else 0
            # The copy carries the source's WAL mode: leave it a single file, its log folded in.
            copy.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            copy.close()
    finally:
        source.close()
    return messages


def human_size(size: float, said: bool = False) -> str:
    """A size in bytes for people: "12.3 MB"; ``said``: for a sentence in the language in
    use ("12,3 MB" in Portuguese), else for a log line (in English)."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    places = 0 if unit == "bytes" else 1
    return f"{decimal(size, places) if said else f'{size:.{places}f}'} {unit}"
