"""The threaded client's writes: bounded outgoing bytes, drained by a thread of their own.

A ``send_*`` call (from the window's thread, a terminal's input loop, a timer) must return
at once. Writing to the socket in the call, under the client's lock, froze that caller for
up to the socket's timeout (15 s) whenever the server stopped reading: its receive window
full, the kernel's send buffer full, ``sendall`` waits. The server does stop reading a
connection on purpose (its per-connection read budget, const.READ_BYTES_PER_SECOND_PER_CONNECTION),
and a stalled host does too.

So the caller only appends the bytes of whole frames to a :class:`SocketWriter`, under the
client's lock, and the writer's thread writes them, without that lock. What it owes is
bounded: past :data:`MAX_UNSENT` bytes not yet written the connection is reported failed
(the server is not reading), and so is a write that makes no progress for the socket's
timeout. A failure is final for that connection: a write cut off may have left part of a
frame on the wire, so nothing more is ever written to it (another frame after it would be
read as garbage); the client drops the connection and its core resends on the next one.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from contextlib import suppress

_log = logging.getLogger(__name__)

# Bytes the writer may owe before the connection counts as not read by the server. One
# put into an empty writer is taken whatever its size: the client core bounds what it
# produces at once (a reconnection's resends), and refusing it would only reconnect to
# produce it again. 4 MiB is far beyond what a user types while a server reads at its
# budget (256 KiB/s), and bounds what an application that sends in a loop while the server
# stopped reading can make this process hold.
MAX_UNSENT = 4 * 1024 * 1024
# How long stop() waits for the thread to leave a write it cut short.
STOP_TIMEOUT = 2.0
# Bytes given to one send() of a TLS socket (one TLS record's worth). An SSLSocket's send()
# writes all it is given before it returns, within ONE socket timeout in all, not per
# progress as a plain socket's: a burst of 240 KB owed to a server reading at 64 KiB/s
# timed out after 1 s while it was being read, and the connection was given up as "the
# server read nothing for 1 s" (untrue; plain TCP went on). In pieces of this size the
# timeout bounds a write without progress over TLS too.
TLS_WRITE_BYTES = 16 * 1024


def not_read(owed: int, adding: int, limit: int | None = None) -> str | None:
    """Why a connection that owes the server ``owed`` bytes not yet written must be given
    up rather than take ``adding`` more: past ``limit`` (default :data:`MAX_UNSENT`) the
    server is not reading. None if it may take them (always when it owes nothing: see
    MAX_UNSENT). The one rule of both clients: this writer's and the asyncio client's
    transport buffer."""
    if owed and owed + adding > (MAX_UNSENT if limit is None else limit):
        return f"the server has not read the last {owed // 1024} KiB sent"
    return None


def _shutdown(sock: socket.socket, how: int) -> None:
    # socket.socket's own shutdown: SSLSocket.shutdown() also drops the TLS layer.
    with suppress(OSError):
        socket.socket.shutdown(sock, how)


class SocketWriter:
    """Writes what :meth:`put` is given to ``sock``, in order, on a thread of its own.

    ``lock`` is the client's lock: :meth:`put` and :meth:`shut_after` are called with it
    held; the thread takes it only to take bytes and to report. ``on_failure(why)`` is
    called on the thread, with ``lock`` held, once, when a write fails or times out (the
    socket's timeout, per write without progress; a refused :meth:`put` says why itself).
    After either the writer writes nothing more, and it has shut the socket down both
    ways, so that the receiver's read ends too.
    """

    def __init__(self, sock: socket.socket, lock: threading.Lock, on_failure: Callable[[str], None], *,
                 limit: int = MAX_UNSENT, name: str = "chat-writer") -> None:
        self._sock = sock
        self._lock = lock
        self._ready = threading.Condition(lock)
        self._on_failure = on_failure
        self._limit = limit
        self._unsent = bytearray()
        self._writing = 0           # bytes taken by the thread and not written yet
        self._then: int | None = None  # shut the socket down so once all is written
        self._stopped = False
        self.failed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def owed(self) -> int:
        """Bytes given and not written yet (lock held)."""
        return len(self._unsent) + self._writing

    def put(self, data: bytes) -> str | None:
        """(Lock held.) Queue ``data``, whole frames, to be written; None if queued, else
        why not in words (the connection is then unusable: :meth:`put` failed for good)."""
        if self.failed or self._stopped:
            return "the connection is closing"
        why = not_read(self.owed, len(data), self._limit)
        if why is not None:
            self._fail()
            return why
        self._unsent += data
        self._ready.notify()
        return None

    def shut_after(self, how: int) -> None:
        """(Lock held.) Shut the socket down ``how`` once everything queued is written
        (a Goodbye, then the end of our stream)."""
        self._then = how
        self._ready.notify()

    def stop(self) -> None:
        """(Lock NOT held.) Write nothing more: shut the socket down both ways (which ends a
        write under way) and wait, bounded, for the thread to end, so that the socket may
        be closed and its descriptor reused without a late write landing on another."""
        with self._lock:
            self._stopped = True
            self._ready.notify()
            if self._writing:
                _shutdown(self._sock, socket.SHUT_RDWR)
        if self._thread is not threading.current_thread():
            self._thread.join(STOP_TIMEOUT)
            if self._thread.is_alive():  # not expected: shutdown ends any write at once
                _log.warning("the chat client's writer did not stop within %s s", STOP_TIMEOUT)

    def _fail(self) -> None:
        # Lock held. Never write again: a frame may be cut in the middle.
        self.failed = True
        self._unsent.clear()
        _shutdown(self._sock, socket.SHUT_RDWR)

    def _run(self) -> None:
        with self._ready:
            while True:
                self._ready.wait_for(lambda: self._unsent or self._then is not None or self._stopped)
                if self._stopped or self.failed:
                    return
                if not self._unsent:
                    _shutdown(self._sock, self._then)  # type: ignore[arg-type]
                    self._then = None
                    continue
                data = bytes(self._unsent)
                self._unsent.clear()
                self._writing = len(data)
                self._lock.release()
                try:
                    why = self._write(data)
                finally:
                    self._lock.acquire()
                    self._writing = 0
                if why is not None and not self._stopped and not self.failed:
                    self._fail()
                    self._on_failure(why)
                    return

    def _write(self, data: bytes) -> str | None:
        """Write ``data`` (lock not held); None, or why it failed. Each send() waits for
        room at most the socket's timeout: a server that reads slowly is waited for, one
        that stopped reading is given up after that long without progress (over TLS, in
        pieces of TLS_WRITE_BYTES: see there)."""
        view = memoryview(data)
        piece = TLS_WRITE_BYTES if isinstance(self._sock, ssl.SSLSocket) else len(view)
        try:
            while view:
                view = view[self._sock.send(view[:piece]):]
            return None
        except TimeoutError:
            return f"the server read nothing for {self._sock.gettimeout():g} s"
        except OSError as exc:
            return exc.strerror or str(exc) or type(exc).__name__
        except ValueError:  # the socket was closed under us (stop() came late)
            return "the connection is closed"
