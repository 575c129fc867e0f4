"""One server per data directory: an exclusive lock on ``DIR/server.lock`` for the server's life.

Two servers on one database would each keep their own caches (message ids, who is known,
who is online) and answer nobody right; SQLite's own locking does not prevent that, it
only makes one of them wait. So the server takes this lock before it opens the database
and keeps it until it has closed it. The operating system drops the lock when the process
ends, however it ends (even SIGKILL), so a stale file never blocks a restart.

The file holds the pid of the server that has the lock, for the message the next one shows.
POSIX uses ``fcntl.flock``, Windows ``msvcrt.locking``; both are per open file, so even
two servers in one process (tests) exclude each other.
"""

from __future__ import annotations

import os
from pathlib import Path

from .privatefiles import make_private_folder

LOCK_NAME = "server.lock"


class DataDirInUse(Exception):
    """Another server holds the lock on ``data_dir``; ``pid`` is its process id, if known.
    ``str(exc)`` is the one line to show the user."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"another chat server (pid {pid})" if pid else "another chat server"
        super().__init__(f"{who} is using {data_dir}; stop it or use --data OTHER")
        self.data_dir = data_dir
        self.pid = pid


class DataDirUnusable(OSError):
    """The data directory cannot be created, or the lock file in it opened or written:
    ``data_dir``, and the cause's ``errno``, ``strerror`` and ``filename`` (a file in the
    way, a read-only file system, a full disk, no permission)."""

    def __init__(self, data_dir: Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.data_dir = data_dir
        self.filename = cause.filename


class DataDirLock:
    """``DataDirLock.acquire(dir)`` takes the lock or raises :class:`DataDirInUse`
    (:class:`DataDirUnusable` if the directory cannot be created or the file opened or
    written); ``release()`` gives it back (idempotent)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        try:
            return cls._acquire(data_dir)
        except OSError as exc:
            raise DataDirUnusable(data_dir, exc) from exc

    @classmethod
    def _acquire(cls, data_dir: Path) -> DataDirLock:
        make_private_folder(data_dir)  # the owner's alone (server/privatefiles.py)
        path = data_dir / LOCK_NAME
        # Not O_TRUNC: the pid in it belongs to the holder until we hold the lock.
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                raise DataDirInUse(data_dir, _read_pid(fd))
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def release(self) -> None:
        """Unlock and close; the file stays (deleting it would race with a new server)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _unlock(fd)
        os.close(fd)


def _read_pid(fd: int) -> int | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return int(os.read(fd, 32).split()[0])
    except (OSError, ValueError, IndexError):  # empty, or being written: no pid to show
        return None


try:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    # msvcrt locks byte ranges: lock one byte far past the pid, so reading the pid
    # (locked ranges cannot be read on Windows) still works for the second server.
    _LOCK_OFFSET = 1 << 20

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
