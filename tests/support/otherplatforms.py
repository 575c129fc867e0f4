"""Windows and macOS, as far as this Linux machine can play them (no real Windows here).

What the project's code meets on those systems that Linux would hide from a test:

- Windows' asyncio loop (``ProactorEventLoop``, the default since 3.8) implements neither
  ``add_reader``/``add_writer``/``remove_reader``/``remove_writer`` nor
  ``add_signal_handler``: they raise NotImplementedError. :class:`ProactorLikeEventLoop`
  is a selector loop whose public methods of those names do the same (asyncio's own
  transports and ``sock_*`` methods use the private ones, as the proactor's work without
  them), and :class:`ProactorLikePolicy` makes it every new loop's class;
- POSIX-only modules are missing on Windows (``termios``, ``tty``, ``fcntl``,
  ``resource``, ``readline``, ``pwd``, ``grp``): :func:`install` makes importing them fail;
- constants and functions Windows' (or macOS's) CPython does not have: deleted; no
  ``/proc`` and, on Windows, no ``/dev/tty`` (:func:`_no_files_under`);
- waits without a timeout that Ctrl-C does not interrupt (:func:`_uninterruptible_waits`);
- macOS's open-file limits (:func:`_macos_file_limits`);
- Windows' registry's MIME types, as an editor may leave them (``.js`` as text/plain);
- Windows' ``msvcrt``, as much of it as the project and the standard library's getpass
  use (:func:`fake_msvcrt`): byte-range locks that conflict as Windows' do, even within
  one process (Linux's open-file-description locks), and reading keys one by one.

``install(platform)`` plays one in this process; ``environment(platform)`` is the
environment for a subprocess (``python3 chatserver.py``...) that plays it from its start
(tests/support/simulated/sitecustomize.py calls ``install``). Not played: ``sys.platform``
itself (the standard library would then load Windows' own modules), Windows' sockets,
consoles and file system.
"""

from __future__ import annotations

import asyncio
import builtins
import fcntl
import importlib.abc
import io
import mimetypes
import os
import signal
import socket
import struct
import sys
import threading
import types
from pathlib import Path

WINDOWS, MACOS = "windows", "macos"
# Read by tests/support/simulated/sitecustomize.py: the platform a subprocess plays.
ENVIRONMENT_VARIABLE = "CHAT_SIMULATED_PLATFORM"
_SITECUSTOMIZE_DIR = Path(__file__).resolve().parent / "simulated"

# Modules CPython's Windows installer does not have.
WINDOWS_MISSING_MODULES = frozenset({"termios", "tty", "fcntl", "resource", "readline", "pwd", "grp", "curses",
                                     "_curses"})
# What Windows' socket, signal and os modules lack (of what the project might use).
_WINDOWS_MISSING = {
    socket: ("TCP_USER_TIMEOUT", "SO_REUSEPORT"),
    signal: ("SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPIPE", "SIGCHLD", "SIGALRM", "pthread_sigmask",
             "pthread_kill", "sigwait", "setitimer", "alarm", "siginterrupt"),
    os: ("fork", "sched_setaffinity", "sched_getaffinity", "getuid", "geteuid", "getpgid", "killpg", "setsid",
         "getloadavg", "sync"),
}
# macOS's largest soft limit on open files (sys/syslimits.h).
MACOS_OPEN_MAX = 10240
# macOS's CPython: no TCP_USER_TIMEOUT, TCP_KEEPIDLE named TCP_KEEPALIVE, no sched_*affinity.
_MACOS_MISSING = {
    socket: ("TCP_USER_TIMEOUT", "TCP_KEEPIDLE"),
    os: ("sched_setaffinity", "sched_getaffinity"),
}


class ProactorLikeEventLoop(asyncio.SelectorEventLoop):
    """A selector loop without what Windows' proactor loop lacks (see the module docstring).
    Its own ``sock_*`` methods work, as the proactor's do: they add and remove their
    readers and writers by the private methods."""

    def _sock_read_done(self, fd, fut, handle=None):
        if handle is None or not handle.cancelled():
            self._remove_reader(fd)

    def _sock_write_done(self, fd, fut, handle=None):
        if handle is None or not handle.cancelled():
            self._remove_writer(fd)

    def add_reader(self, fd, callback, *args):
        raise NotImplementedError

    def remove_reader(self, fd):
        raise NotImplementedError

    def add_writer(self, fd, callback, *args):
        raise NotImplementedError

    def remove_writer(self, fd):
        raise NotImplementedError

    def add_signal_handler(self, sig, callback, *args):
        raise NotImplementedError

    def remove_signal_handler(self, sig):
        raise NotImplementedError


class ProactorLikePolicy(asyncio.DefaultEventLoopPolicy):
    _loop_factory = ProactorLikeEventLoop


class _Refuse(importlib.abc.MetaPathFinder):
    """Makes ``import NAME`` fail as on a system without NAME (ModuleNotFoundError)."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (simulated Windows)", name=fullname)
        return None


def fake_msvcrt() -> types.ModuleType:
    """A module ``msvcrt`` with ``locking`` (LK_NBLCK, LK_LOCK, LK_UNLCK: ``nbytes`` from
    the descriptor's position; OSError when another holds them), ``getwch`` and ``putwch``."""
    module = types.ModuleType("msvcrt", "Windows' msvcrt, played on Linux (tests/support/otherplatforms.py)")
    module.LK_UNLCK, module.LK_LOCK, module.LK_NBLCK, module.LK_RLCK, module.LK_NBRLCK = 0, 1, 2, 3, 4

    def locking(fd: int, mode: int, nbytes: int) -> None:
        start = os.lseek(fd, 0, os.SEEK_CUR)
        kind = fcntl.F_UNLCK if mode == module.LK_UNLCK else fcntl.F_WRLCK
        command = fcntl.F_OFD_SETLKW if mode in (module.LK_LOCK, module.LK_RLCK) else fcntl.F_OFD_SETLK
        try:
            fcntl.fcntl(fd, command, struct.pack("hhqqi", kind, os.SEEK_SET, start, nbytes, 0))
        except BlockingIOError as exc:  # Windows says EACCES ("Permission denied")
            raise PermissionError(13, "Permission denied") from exc

    def getwch() -> str:
        data = b""
        while True:  # one UTF-8 character
            data += os.read(0, 1) or b"\x1a"  # end of input: Windows' Ctrl-Z
            try:
                return data.decode()
            except UnicodeDecodeError:
                if len(data) >= 4:
                    return data.decode(errors="replace")

    module.locking, module.getwch = locking, getwch
    module.putwch = lambda char: (sys.__stdout__.write(char), sys.__stdout__.flush())
    return module


def _uninterruptible_waits() -> None:
    """Windows' CPython (up to 3.13) does not interrupt a lock's wait without a timeout
    for Ctrl-C: ``queue.get()``, ``event.wait()`` in the main thread wait on, and
    KeyboardInterrupt comes once they return. Here such a wait (``Condition.wait``, which
    both use) holds SIGINT and SIGTERM back in the main thread while it waits; another
    thread takes the signal, Python's handler runs once the wait is over."""
    wait, block = threading.Condition.wait, signal.pthread_sigmask

    def uninterruptible(self, timeout=None):
        if timeout is not None or threading.current_thread() is not threading.main_thread():
            return wait(self, timeout)
        held = block(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            return wait(self, timeout)
        finally:
            block(signal.SIG_SETMASK, held)

    threading.Condition.wait = uninterruptible


def _no_files_under(*folders: str) -> None:
    """No ``/proc/`` (macOS, Windows), no ``/dev/tty`` (Windows): opening a file there
    fails as opening a missing file does."""
    real = io.open

    def open_here(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith(folders):
            raise FileNotFoundError(2, "No such file or directory (simulated)", os.fspath(file))
        return real(file, *args, **kwargs)

    io.open = builtins.open = open_here


def _macos_file_limits() -> None:
    """macOS's open-file limits: a process starts with 256 files, the hard limit says
    unlimited, and a soft limit over OPEN_MAX (10240) is refused (ValueError)."""
    import resource

    real_get, real_set, nofile = resource.getrlimit, resource.setrlimit, resource.RLIMIT_NOFILE

    def getrlimit(which):
        soft, hard = real_get(which)
        return (soft, resource.RLIM_INFINITY) if which == nofile else (soft, hard)

    def setrlimit(which, limits):
        if which != nofile:
            return real_set(which, limits)
        if limits[0] == resource.RLIM_INFINITY or limits[0] > MACOS_OPEN_MAX:
            raise ValueError("current limit exceeds maximum limit")
        return real_set(which, (limits[0], real_get(which)[1]))

    real_set(nofile, (min(256, real_get(nofile)[1]), real_get(nofile)[1]))
    resource.getrlimit, resource.setrlimit = getrlimit, setrlimit


def install(platform: str) -> None:
    """Play ``platform`` (WINDOWS or MACOS) in this process from now on: for a subprocess,
    before anything of the project is imported (see :func:`environment`). Not undone."""
    if platform == WINDOWS:
        asyncio.set_event_loop_policy(ProactorLikePolicy())
        sys.meta_path.insert(0, _Refuse(WINDOWS_MISSING_MODULES))
        for name in WINDOWS_MISSING_MODULES:
            sys.modules.pop(name, None)
        sys.modules["msvcrt"] = fake_msvcrt()
        _uninterruptible_waits()
        # Windows' mimetypes reads the registry, where an editor may have made .js text/plain
        # (a page's module scripts then refused by the browser): a server must not ask it.
        mimetypes.init()
        mimetypes.add_type("text/plain", ".js")
        missing = _WINDOWS_MISSING
    elif platform == MACOS:
        missing = _MACOS_MISSING
        if not hasattr(socket, "TCP_KEEPALIVE"):
            socket.TCP_KEEPALIVE = 0x10  # macOS's number for what Linux calls TCP_KEEPIDLE
        _macos_file_limits()
    else:
        raise ValueError(f"unknown platform {platform!r}")
    _no_files_under(*(("/proc/", "/dev/tty") if platform == WINDOWS else ("/proc/",)))
    for module, names in missing.items():
        for name in names:
            if hasattr(module, name):
                delattr(module, name)


def environment(platform: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment (``base``: os.environ's) for a Python subprocess that plays
    ``platform`` from its start."""
    env = dict(os.environ if base is None else base)
    env[ENVIRONMENT_VARIABLE] = platform
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(_SITECUSTOMIZE_DIR), env.get("PYTHONPATH"))))
    return env
