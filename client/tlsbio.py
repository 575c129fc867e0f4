"""TLS in memory for the threaded client: one SSLObject, never used by two threads at once.

The threaded client (client/library.py) reads its socket on a receiver thread and writes it
on a writer thread (client/writer.py). An ``ssl.SSLSocket`` shared by the two would have
OpenSSL's one connection object used by both at the same time, which OpenSSL does not
support (openssl issues 20446, 20622; CPython's per-socket lock for it, 3.13.6, deadlocked
clients built like this one and was withdrawn: cpython issue 137583). Plain TCP has no such
problem: the kernel takes a send and a recv at once.

So the socket stays a plain one and :class:`MemoryTLS` does the TLS in memory
(``SSLContext.wrap_bio`` over two ``ssl.MemoryBIO``). The contract:

- Every use of the SSLObject and of both BIOs is a method of this class, under its own lock,
  held only for those memory operations: never during a socket call, so neither thread
  waits for the other's I/O, and OpenSSL is used by one thread at a time.
- The receiver gives :meth:`MemoryTLS.receive` what ``recv()`` returned and gets plaintext.
- The writer gives :meth:`MemoryTLS.seal` plaintext and writes the ciphertext it returns,
  whole and in order, before sealing more. Only the writer takes ciphertext out, so the
  records a read made (the answer to a TLS 1.3 key update, an alert) leave in the order they
  were made, before the next records: when :meth:`MemoryTLS.owed` says a read made some, the
  receiver asks the writer to ``seal(b"")``.
- Before the writer exists (the handshake, the login) one thread does everything, with
  :meth:`MemoryTLS.handshake` (over the sans-I/O :meth:`MemoryTLS.shake`),
  :meth:`MemoryTLS.sendall` and :meth:`MemoryTLS.recv`; after it stopped, the thread that
  stopped it says :meth:`MemoryTLS.close_notify`.

Certificate and host name checks are the context's, with ``server_hostname`` given, as
``wrap_socket`` does them.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from contextlib import suppress

# Plaintext bytes taken out of the SSLObject per read() (it returns at most one record's).
_READ_BYTES = 64 * 1024


class MemoryTLS:
    """The TLS state of one connection to ``server_hostname``, made by ``context``."""

    def __init__(self, context: ssl.SSLContext, server_hostname: str) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_hostname)
        self._lock = threading.Lock()
        self.ended = False  # the server's close_notify came (or its stream ended)

    # --- Both threads: memory only -------------------------------------------------------

    def receive(self, data: bytes) -> bytes:
        """Ciphertext read from the socket (``b""`` at the end of its stream) -> the plaintext
        it completes (``b""`` if none yet: a record may come in pieces). Sets :attr:`ended`
        when the server said close_notify, or the stream ended (also without close_notify,
        as an SSLSocket's default ``suppress_ragged_eofs``); what comes after is ignored.
        Raises ``ssl.SSLError`` for a record that is not valid."""
        plain = bytearray()
        with self._lock:
            if self.ended:
                return b""
            if data:
                self._incoming.write(data)
            else:
                self._incoming.write_eof()
            while True:
                try:
                    piece = self._tls.read(_READ_BYTES)
                except ssl.SSLWantReadError:
                    break
                except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                    self.ended = True
                    break
                if not piece:  # a clean end, said as by SSLSocket.recv
                    self.ended = True
                    break
                plain += piece
        return bytes(plain)

    def seal(self, plain: bytes) -> bytes:
        """``plain`` in TLS records -> the ciphertext to write now, all of it and in order,
        after what was returned before: first the records a read made meanwhile (see
        :meth:`owed`), then ``plain``'s. ``seal(b"")`` returns just those."""
        with self._lock:
            if plain:
                self._tls.write(plain)
            return self._outgoing.read()

    def owed(self) -> bool:
        """Whether records made by a read (not by :meth:`seal`) wait to be written."""
        with self._lock:
            return self._outgoing.pending > 0

    def close_notify(self) -> bytes:
        """The records that tell the server we end the stream (close_notify), after any owed;
        if the TLS state broke (a record that was not valid), just the records owed: the
        alert OpenSSL made for it, which tells the server why. Waits for nothing: the
        server's own close_notify is not awaited. Nothing may be sealed after it."""
        with self._lock:
            try:
                self._tls.unwrap()
            except ssl.SSLWantReadError:  # the server's close_notify not read yet: not awaited
                pass
            except (ssl.SSLError, ValueError):
                pass  # no close_notify after a fatal alert (RFC 8446, 6.2): the alert alone
            return self._outgoing.read()

    # --- One thread, before the writer exists ---------------------------------------------

    def shake(self, data: bytes | None = None) -> tuple[bytes, bool]:
        """One step of the handshake: ``data`` read from the socket since the last step
        (``b""`` at the end of its stream; None at the first) -> (bytes to write, whether the
        handshake is done). Raises as ``wrap_socket`` would: ``ssl.SSLCertVerificationError``
        for the certificate or the host name, another ``ssl.SSLError`` else."""
        with self._lock:
            if data:
                self._incoming.write(data)
            elif data is not None:
                self._incoming.write_eof()
            try:
                self._tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            return self._outgoing.read(), done

    def handshake(self, sock: socket.socket, timeout: float) -> None:
        """Run the handshake over blocking ``sock`` within ``timeout`` s in all. Raises as
        :meth:`shake`, or TimeoutError, or the socket's OSError."""
        deadline = time.monotonic() + timeout
        out, done = self.shake()
        while True:
            if out:
                sock.sendall(out)
            if done:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the TLS handshake timed out")
            sock.settimeout(remaining)
            data = sock.recv(_READ_BYTES)
            try:
                out, done = self.shake(data)
            except ssl.SSLError:
                self._say_alert(sock)
                raise

    def _say_alert(self, sock: socket.socket) -> None:
        """Write to blocking ``sock`` the alert OpenSSL made for what just failed (a
        certificate, a record), as an SSLSocket would: the server learns why. A try: the
        connection is given up anyway."""
        alert = self.seal(b"")
        if alert:
            with suppress(OSError):
                sock.sendall(alert)

    def sendall(self, sock: socket.socket, plain: bytes) -> None:
        """Seal ``plain`` and write it to blocking ``sock`` (the login)."""
        sock.sendall(self.seal(plain))

    def recv(self, sock: socket.socket, size: int) -> bytes:
        """Plaintext read from blocking ``sock``: not empty, or ``b""`` at the end of the
        stream (as ``socket.recv``; the login). Records a read made are written at once."""
        while True:
            data = sock.recv(size)
            try:
                plain = self.receive(data)
            except ssl.SSLError:
                self._say_alert(sock)
                raise
            owed = self.seal(b"")
            if owed:
                sock.sendall(owed)
            if plain or self.ended:
                return plain
