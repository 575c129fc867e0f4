"""The write-ahead log copied into the database file beside the commits, synced in slices.

A checkpoint copies the pages the commits wrote to the log into the database file, then
syncs that file. On a disk that pays by the scattered page (a few hundred index pages: 20-25
ms on issue 9's VM, an SD card or a cloud volume alike) the committer could not do it
between two transactions without every message handed over meanwhile waiting for it, and
a second connection's checkpoint with ``synchronous=FULL`` beside the commits made each
COMMIT that met its single fsync of hundreds of pages wait for all of them (bench/PROFILE.md
"Round eight", "Round twelve (durable)", "This session's VM").

:class:`LogCopier` does it on a thread of its own, in the spirit of PostgreSQL's spread
checkpoints (``checkpoint_flush_after``). One round, when :meth:`LogCopier.request` asks:

1. **A guard**: a read transaction on a connection of its own, begun while the log holds
   frames not yet copied, so it takes a read mark other than 0. SQLite starts the log over
   (``walRestartLog``) only with every such mark free, so no frame is overwritten while
   the guard is open, and a PASSIVE checkpoint copies no frame beyond the guard's snapshot.
2. **The copy, without a sync**: ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection with
   ``synchronous=OFF``: the pages go into the operating system's cache of the database
   file (a few ms of CPU), no fsync. PASSIVE never stops a writer: the committer goes on.
3. **The sync, in slices**: ``sync_file_range`` over the database file, ``SLICE_BYTES`` at
   a time, each written and waited for before the next, so a COMMIT's fdatasync of the log
   that meets it waits for one slice's pages at most, not for hundreds; then one
   ``fdatasync`` (little is left dirty; it also covers the file's size). Without
   ``sync_file_range`` (not Linux) only the ``fdatasync``.
4. The guard ends: the copied frames may now be overwritten, their pages being on disk.

A crash or a power loss before step 4 leaves the log whole, and SQLite's recovery replays
it, as after any crash: the copy promises what a checkpoint with ``synchronous=FULL`` does.
The commits keep ``synchronous=FULL``; nothing here changes when a commit is on disk.

The copier never starts the log over by itself under sustained commits (its copy cannot
catch frames committed after its guard began): the store's own checkpoint between two
transactions does, with little left to copy (server/store.py, ``RESTART_AFTER_CHANGES``).

A failing round is logged once (then once when a round succeeds again), never raised: the
log stays whole and the store's own checkpoint still bounds it. A failed *sync* is
different: the pages copied may not be on disk, and an fsync that failed may not fail again
(Linux marks the pages clean), so the guard is kept open until :meth:`close` and the copier
stops: the log is never started over over frames whose pages might be lost; SQLite replays
them at the next start.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

log = logging.getLogger("chat.store")

# The bytes of the database file written and waited for at a time (sync_file_range):
# a COMMIT's fdatasync of the log that meets the copier's writes waits for at most this
# slice's dirty pages. Measured against the COMMIT p99 (bench/PROFILE.md, round ckptpace).
SLICE_BYTES = 1 << 18
# After each slice, a pause of this many times what the slice took: the disk left to the
# commits between two slices (0: none). 256 KiB and 1.0: the COMMITs that met a sync waited
# least (p99 5.3 ms against 8.2 at 1 MiB unpaced, 14.8 at 8 MiB), the sync of a round took
# longest (105 ms against 28 and 21), so the log grew longest before it started over.
PACE = 1.0

# <linux/fs.h>: wait for writes already under way in the range, start writing its dirty
# pages, wait for them: together, the range is on disk when the call returns (its data;
# the file's size and the disk's own cache are the final fdatasync's).
_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4
_SYNC_RANGE = _WAIT_BEFORE | _WRITE | _WAIT_AFTER


def _sync_file_range():
    """libc's ``sync_file_range`` (fd, offset, nbytes, flags) -> int, or None where it is missing."""
    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call


class LogCopier:
    """Copies the log of the database at ``path`` (in WAL mode, already migrated) into it on
    a thread of its own, one round per :meth:`request`. ``lock`` is held during a round
    (the store's checkpoint lock: a checkpoint of its own waits for the round to end).

    :meth:`request` and :attr:`idle` are for one thread (the store's committer): a round
    starts only when asked, so when that thread sees the copier idle, it stays idle until
    that thread asks again. ``last_log_frames`` is the log's length, in frames, that the
    last round found (SQLite's count, for the store's bound on the log)."""

    def __init__(self, path: Path, lock: threading.Lock, slice_bytes: int = SLICE_BYTES) -> None:
        self.slice_bytes = slice_bytes
        self._lock = lock
        self._copy = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._guard = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        # Copy only; the sync is ours, in slices.
        self._copy.execute("PRAGMA synchronous=OFF")
        # Closing any descriptor of a file drops every POSIX lock this process holds on it,
        # SQLite's included: this one stays open until close(), after the last connection.
        self._fd = os.open(path, os.O_RDONLY)
        self._sync_range = _sync_file_range()
        self._wake = threading.Condition()
        self._asked = False
        self._running = False  # a round asked for or under way (the committer reads it)
        self._closing = False
        self._failed = False  # a round failed: logged once until one succeeds
        self._stopped = False  # a sync failed: the guard stays open, no more rounds
        self.last_log_frames = 0
        self.rounds = 0  # completed (for tests and the trace)
        self._thread = threading.Thread(target=self._loop, name="chat-logcopy", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """No round asked for or under way (False for good once a sync failed)."""
        return not self._running

    def request(self) -> None:
        """Start a round (returns at once); ignored while one is asked for or under way."""
        with self._wake:
            if self._running or self._closing:
                return
            self._running = self._asked = True
            self._wake.notify()

    def close(self) -> None:
        """Finish the round under way, end the thread, close the connections: before the
        store's own last connection closes (that one checkpoints with ``synchronous=FULL``
        and removes the log). The descriptor is the caller's to close after that: see
        :meth:`close_file`."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        if self._guard.in_transaction:  # a failed sync's guard: SQLite replays the log at next start
            self._guard.execute("ROLLBACK")
        self._copy.close()
        self._guard.close()

    def close_file(self) -> None:
        """Close the database file's descriptor, once no connection of this process uses it."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._asked and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                self._asked = False
            with self._lock:
                self._round()
            if self._stopped:
                return  # _running stays True: the committer never waits for an idle copier
            with self._wake:
                self._running = False

    def _round(self) -> None:
        """One round: guard, copy, sync in slices, end the guard (see the module's doc)."""
        try:
            self._guard.execute("BEGIN")
            self._guard.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # the read mark
            try:
                _busy, frames, _copied = self._copy.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
            except Exception:
                self._guard.execute("ROLLBACK")  # nothing was marked copied: the log may go on
                raise
            self.last_log_frames = frames
            try:
                self._sync()
            except Exception as error:
                self._stopped = True
                log.error("could not sync the database file after copying the write-ahead log into it: %s; "
                          "the log is kept whole and not started over until the server restarts", error)
                return
            self._guard.execute("ROLLBACK")
        except Exception as error:
            if not self._failed:
                log.warning("could not copy the write-ahead log into the database file: %s "
                            "(tried again at the next round)", error)
            self._failed = True
            return
        self.rounds += 1
        if self._failed:
            self._failed = False
            log.info("the write-ahead log is copied into the database file again")

    def _sync(self) -> None:
        """The database file on disk: its dirty pages a slice at a time, then an fdatasync."""
        if self._sync_range is not None:
            size = os.fstat(self._fd).st_size
            for offset in range(0, size, self.slice_bytes):
                began = time.perf_counter()
                if self._sync_range(self._fd, offset, self.slice_bytes, _SYNC_RANGE) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, os.strerror(error))
                if PACE:
                    time.sleep(PACE * (time.perf_counter() - began))
        os.fdatasync(self._fd)
