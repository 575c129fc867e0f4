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

Over TLS the writer seals each piece (client/tlsbio.py), under the TLS state's own lock, and
writes the records without it; it alone writes records, also those a read made (:meth:`SocketWriter.nudge`).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from contextlib import suppress

from .tlsbio import MemoryTLS

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
# Plaintext bytes sealed at once over TLS (one TLS record's worth), then written before the
# next piece is sealed: what is sealed and not written stays this small, and a write that is
# cut off or stopped leaves at most one piece's records behind.
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
    with suppress(OSError):
        sock.shutdown(how)


class SocketWriter:
    """Writes what :meth:`put` is given to ``sock``, in order, on a thread of its own.

    ``lock`` is the client's lock: :meth:`put` and :meth:`shut_after` are called with it
    held; the thread takes it only to take bytes and to report. ``on_failure(why)`` is
    called on the thread, with ``lock`` held, once, when a write fails or times out (the
    socket's timeout, per write without progress; a refused :meth:`put` says why itself).
    After either the writer writes nothing more, and it has shut the socket down both
    ways, so that the receiver's read ends too.

    ``tls`` (over TLS): the connection's TLS state; what is put is plaintext, sealed by the
    writer, and what is owed counts plaintext bytes. ``sock`` is the plain socket.
    """

    def __init__(self, sock: socket.socket, lock: threading.Lock, on_failure: Callable[[str], None], *,
                 limit: int = MAX_UNSENT, name: str = "chat-writer", tls: MemoryTLS | None = None) -> None:
        self._sock = sock
        self._tls = tls
        self._nudged = False  # records a TLS read made wait to be written
        self._lock = lock
        self._ready = threading.Condition(lock)
        self._on_failure = on_failure
        self._limit = limit
        self._unsent = bytearray()
        self._writing = 0           # bytes taken by the thread and not written yet
        self._in_write = False      # the thread is in a write (also of owed TLS records only)
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

    def nudge(self) -> None:
        """(Lock held.) Write the records a TLS read made (MemoryTLS.owed), in order with
        the rest; the receiver calls it, never writing itself."""
        self._nudged = True
        self._ready.notify()

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
            if self._in_write:
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
                self._ready.wait_for(lambda: self._unsent or self._nudged or self._then is not None
                                     or self._stopped)
                if self._stopped or self.failed:
                    return
                self._nudged = False
                if not self._unsent and (self._tls is None or not self._tls.owed()):
                    if self._then is not None:  # all written: now the end of our stream
                        _shutdown(self._sock, self._then)
                        self._then = None
                    continue
                data = bytes(self._unsent)
                self._unsent.clear()
                self._writing = len(data)
                self._in_write = True
                self._lock.release()
                try:
                    why = self._write(data)
                finally:
                    self._lock.acquire()
                    self._writing = 0
                    self._in_write = False
                if why is not None and not self._stopped and not self.failed:
                    self._fail()
                    self._on_failure(why)
                    return

    def _write(self, data: bytes) -> str | None:
        """Write ``data`` (lock not held; over TLS sealed piece by piece, and ``b""`` writes
        just the records owed); None, or why it failed. Each send() waits for room at most
        the socket's timeout: a server that reads slowly is waited for, one that stopped
        reading is given up after that long without progress."""
        try:
            if self._tls is None:
                self._send(data)
                return None
            plain = memoryview(data)
            while True:
                self._send(self._tls.seal(plain[:TLS_WRITE_BYTES]))
                plain = plain[TLS_WRITE_BYTES:]
                if not plain:
                    return None
        except TimeoutError:
            return f"the server read nothing for {self._sock.gettimeout():g} s"
        except OSError as exc:
            return exc.strerror or str(exc) or type(exc).__name__
        except ValueError:  # the socket was closed under us (stop() came late)
            return "the connection is closed"

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._sock.send(view):]
