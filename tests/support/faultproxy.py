"""A TCP proxy on 127.0.0.1 that cuts chat connections at chosen points (tests only).

Clients connect to the proxy; for each connection (a *link*) it opens one to the server and
copies bytes both ways, frame by frame (a frame ends with a newline), so it can act just
before or just after a frame of a given type passes. A :class:`Fault` says where to cut::

    with FaultProxy(server.host, server.port) as proxy:
        # Cut Alice's connection just before the server's 5th "accepted" reaches her,
        # then again at the 12th and the 19th.
        proxy.add(Fault("down", frame_type="accepted", nth=5, every=7, times=3, name="Alice"))
        client = ChatClient("Alice", "127.0.0.1", proxy.port)

Directions: ``"up"`` is client -> server, ``"down"`` server -> client. A cut *resets both
sides* (SO_LINGER 0, then close: an RST, and whatever the proxy had read but not passed
on is lost), as when a NAT box or a Wi-Fi hand-over kills a connection: the server's writes
that the proxy had read are gone, the client's too. The frames passed before a cut reach
their side before its RST (``_reset``). ``when="before"`` drops the triggering
frame; ``"after"`` forwards it, then cuts. From the moment a cut is decided nothing more
passes either way, so the other side's answer to an ``"after"`` frame is lost with the
connection. ``after_bytes`` cuts a link once that many bytes went through in that direction
(possibly in the middle of a frame).

Links are named by the ``name`` of the first ``hello`` that passes up, so faults can target
one user's connections whatever the order in which they are made. ``refuse_new`` makes the
proxy accept and reset every new connection at once (a server that is "down"), to watch
reconnection attempts back off. Every cut is recorded in ``proxy.cuts`` (for asserts and
for the message of a failing test). :meth:`FaultProxy.freeze` turns a user's live links
into black holes: nothing more passes either way and nothing is closed, as when a host
vanishes from the network, which only heartbeats can detect. In raw mode
:meth:`FaultProxy.hold_peer` keeps a link's bytes back until :meth:`FaultProxy.release_peer`:
a connection that lags behind another of the same process. :meth:`FaultProxy.stall` stops
reading what a user's client sends (until :meth:`FaultProxy.unstall`), with a small receive
buffer: a server that stops reading, so that the client's writes find the TCP window full
(:meth:`FaultProxy.stall_peer` for a raw link, by its client's port).

One thread accepts; two threads serve each link. One lock guards the faults and the
counters. Loopback only.
"""

from __future__ import annotations

import fcntl
import json
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

UP, DOWN = "up", "down"

# How long a cut waits for the frames passed before it to leave the proxy's sockets (_reset).
DRAIN_SECONDS = 2.0


@dataclass
class Fault:
    """Where to cut. Counting is over all links that match ``name`` (None: every link).

    With ``frame_type``: the ``nth`` matching frame in ``direction`` triggers a cut (before
    or after it passes, per ``when``), then every ``every``-th one after it, at most
    ``times`` cuts in all. With ``after_bytes``: each matching link is cut once that many
    bytes went through in ``direction``, at most ``times`` links.
    """

    direction: str
    frame_type: str | None = None
    when: str = "before"
    nth: int = 1
    every: int | None = None
    times: int = 1
    after_bytes: int | None = None
    name: str | None = None
    # Counters, updated by the proxy.
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        assert self.direction in (UP, DOWN)
        assert self.when in ("before", "after")
        assert (self.frame_type is None) != (self.after_bytes is None), "frame_type or after_bytes"

    def matches(self, link: _Link) -> bool:
        return self.fired < self.times and (self.name is None or (link.name or "").lower() == self.name.lower())

    def count_frame(self) -> bool:
        """One more matching frame passed: True if it is one to cut at."""
        self.seen += 1
        due = self.seen == self.nth or (self.every is not None and self.seen > self.nth
                                        and (self.seen - self.nth) % self.every == 0)
        if due:
            self.fired += 1
        return due


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self, number: int, client: socket.socket, server: socket.socket) -> None:
        self.number = number
        self.sockets = {UP: server, DOWN: client}  # where bytes going that way are written
        self.client = client
        self.server = server
        self.name: str | None = None
        self.bytes = {UP: 0, DOWN: 0}
        self.dead = False  # nothing more passes either way (a cut decided, or both ends closed)
        self.released = False  # its sockets are closed (or being closed: _reset)
        self.frozen = False  # a black hole: bytes are read and dropped
        self.stalled = False  # what the client sends is not read (stall)
        # Raw links: what hold_peer keeps back, by direction, until release_peer (None:
        # passing), and the lock that keeps it in order with what passes.
        self.held: dict[str, bytes] | None = None
        self.hold_lock = threading.Lock()
        self.ended = 0  # directions that ended cleanly
        self.byte_faults: dict[str, list[Fault]] = {UP: [], DOWN: []}  # armed on this link


class FaultProxy:
    """See the module docstring. Use as a context manager, or start() and stop()."""

    def __init__(self, upstream_host: str, upstream_port: int, *, raw: bool = False) -> None:
        """``raw``: relay bytes without looking for frames (for TLS, whose bytes are
        opaque); then only the ``*_peer`` methods, :meth:`cut`, :meth:`freeze_all` and
        ``refuse_new`` apply."""
        self.upstream = (upstream_host, upstream_port)
        self.raw = raw
        self.host = "127.0.0.1"
        self.port = 0
        self.faults: list[Fault] = []
        self.cuts: list[str] = []          # one line per cut, in order
        self.frames: list[tuple[int, str, str]] = []  # (link, direction, type) of every frame
        self.refuse_new = False
        # Once this many cuts happened, refuse_new turns on by itself (None: never).
        self.refuse_after_cuts: int | None = None
        self.links: list[_Link] = []
        self._lock = threading.Condition()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = False

    # --- Life cycle ---------------------------------------------------------------------

    def start(self) -> FaultProxy:
        listener = socket.create_server((self.host, 0))
        listener.settimeout(0.05)  # so stop() is prompt: close() does not wake accept()
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._spawn(self._accept_loop, "proxy-accept")
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            links = list(self.links)
        if self._listener is not None:
            with suppress(OSError):
                self._listener.close()
        for link in links:
            self._reset(link, "proxy stopped", record=False)
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- What tests call ----------------------------------------------------------------

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def cut(self, name: str | None = None) -> int:
        """Reset every live link (of user ``name``) now; return how many."""
        with self._lock:
            links = [link for link in self.links if not link.dead
                     and (name is None or (link.name or "").lower() == name.lower())]
        for link in links:
            self._reset(link, f"cut by the test ({link.name})")
        return len(links)

    def freeze(self, name: str) -> int:
        """Silently drop, from now on, everything on the live links of user ``name``."""
        with self._lock:
            links = [link for link in self.links if not link.dead and (link.name or "").lower() == name.lower()]
            for link in links:
                link.frozen = True
            return len(links)

    def stall(self, name: str, rcvbuf: int = 4096) -> int:
        """Stop reading, from now on, what user ``name``'s live links' clients send (what a
        read under way gets, up to 64 KiB, is held back too), and shrink the proxy's receive
        buffer for it to ``rcvbuf`` bytes: the client's writes soon find the window full, as
        with a server that stopped reading. Nothing is lost: :meth:`unstall` passes it on
        and reads on. Return how many."""
        with self._lock:
            links = [link for link in self.links if not link.dead and (link.name or "").lower() == name.lower()]
            for link in links:
                link.stalled = True
                with suppress(OSError):
                    link.client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            return len(links)

    def stall_peer(self, port: int, rcvbuf: int = 4096) -> int:
        """As :meth:`stall`, for the live link whose client end is on local ``port`` (a raw
        link, TLS for instance, has no name). Return how many."""
        links = self._peer_links(port)
        with self._lock:
            for link in links:
                link.stalled = True
                with suppress(OSError):
                    link.client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        return len(links)

    def unstall_peer(self, port: int) -> int:
        """As :meth:`unstall`, for what :meth:`stall_peer` stopped reading."""
        links = self._peer_links(port)
        with self._lock:
            for link in links:
                link.stalled = False
            self._lock.notify_all()
        return len(links)

    def unstall(self, name: str) -> int:
        """Read on what :meth:`stall` stopped reading. Return how many links."""
        with self._lock:
            links = [link for link in self.links if link.stalled and (link.name or "").lower() == name.lower()]
            for link in links:
                link.stalled = False
            self._lock.notify_all()
            return len(links)

    def freeze_all(self) -> int:
        """As :meth:`freeze`, for every live link (raw ones too); with ``refuse_new``, the
        upstream as seen from a host cut off from the network. Return how many."""
        with self._lock:
            links = [link for link in self.links if not link.dead]
            for link in links:
                link.frozen = True
            return len(links)

    def freeze_peer(self, port: int) -> int:
        """As :meth:`freeze`, for the live link whose client end is on local ``port`` (a
        raw link has no name: one connection of a process the test can look into)."""
        links = self._peer_links(port)
        with self._lock:
            for link in links:
                link.frozen = True
            return len(links)

    def hold_peer(self, port: int, directions: tuple[str, ...] = (UP, DOWN)) -> int:
        """Raw mode: keep back, from now on, what passes ``directions`` (either way by
        default) on the live link whose client end is on local ``port``, until
        :meth:`release_peer` (a slow link, not a dead one: nothing is lost). Held ``DOWN``
        only, Redis runs a client's commands and its replies wait on their way."""
        assert self.raw, "hold_peer is for raw links"
        links = self._peer_links(port)
        for link in links:
            with link.hold_lock:
                link.held = {direction: b"" for direction in directions}
        return len(links)

    def held(self, port: int, direction: str) -> bytes:
        """What :meth:`hold_peer` keeps back now on ``port``'s link going ``direction``."""
        held = b""
        for link in self._peer_links(port):
            with link.hold_lock:
                held += (link.held or {}).get(direction, b"")
        return held

    def release_peer(self, port: int) -> int:
        """Pass on, in order, what :meth:`hold_peer` kept back; then pass as before."""
        links = self._peer_links(port)
        for link in links:
            with link.hold_lock:
                held, link.held = link.held or {}, None
                for direction, data in held.items():
                    if data:
                        with suppress(OSError):
                            link.sockets[direction].sendall(data)
        return len(links)

    def cut_peer(self, port: int) -> int:
        """Reset now the live link whose client end is on local ``port`` (what :meth:`hold_peer`
        kept back on it is lost, as a broken connection loses it)."""
        links = self._peer_links(port)
        for link in links:
            self._reset(link, f"cut by the test (port {port})")
        return len(links)

    def _peer_links(self, port: int) -> list[_Link]:
        with self._lock:
            return [link for link in self.links if not link.dead and _peer_port(link.client) == port]

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` (evaluated under the proxy's lock) holds."""
        with self._lock:
            return self._lock.wait_for(predicate, timeout)

    def live_links(self, name: str | None = None) -> int:
        """Links still open (of user ``name``; in raw mode names are unknown: use None)."""
        with self._lock:
            return sum(1 for link in self.links if not link.dead
                       and (name is None or (link.name or "").lower() == name.lower()))

    # --- Serving ------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        number = 0
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self.refuse_new:
                # Recorded before the reset, as _reset does: a client that sees the reset
                # and gives up at once must find it counted.
                with self._lock:
                    self.cuts.append("refused a new connection")
                    self._lock.notify_all()
                self._hard_close(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                self._hard_close(client)
                continue
            server.settimeout(None)
            for sock in (client, server):
                with suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            number += 1
            link = _Link(number, client, server)
            with self._lock:
                if self._stopped:
                    self._hard_close(client)
                    self._hard_close(server)
                    return
                self.links.append(link)
                self._lock.notify_all()
            self._spawn(self._pump, f"proxy-{number}-up", link, UP)
            self._spawn(self._pump, f"proxy-{number}-down", link, DOWN)

    def _pump(self, link: _Link, direction: str) -> None:
        source = link.client if direction == UP else link.server
        target = link.sockets[direction]
        pending = b""
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if direction == UP and link.stalled and data:
                # stall(): what this read got (it was under way) waits with the rest.
                with self._lock:
                    self._lock.wait_for(lambda: not link.stalled or link.dead or self._stopped)
            if link.frozen:
                if not data:
                    return  # a black hole passes no end either; stop() releases the sockets
                continue
            if not data or link.dead:
                # One side ended: end the other the same way (a graceful close is passed
                # on as a graceful close, so the proxy is invisible when no fault fires).
                if not link.dead:
                    with suppress(OSError):
                        target.sendall(pending)
                        target.shutdown(socket.SHUT_WR)
                with self._lock:
                    link.ended += 1
                    done = link.ended == 2 and not link.dead
                    if done:
                        link.dead = link.released = True
                if done:  # both directions ended cleanly: release the sockets
                    for sock in (link.client, link.server):
                        with suppress(OSError):
                            sock.close()
                return
            if self.raw:
                try:
                    with link.hold_lock:
                        if link.held is not None and direction in link.held:
                            link.held[direction] += data
                            continue
                        target.sendall(data)
                except OSError:
                    self._reset(link, "write failed", record=False)
                    return
                continue
            pending += data
            while True:
                end = pending.find(b"\n")
                if end < 0:
                    break
                frame, pending = pending[:end + 1], pending[end + 1:]
                if not self._pass(link, direction, frame, target):
                    return

    def _pass(self, link: _Link, direction: str, frame: bytes, target: socket.socket) -> bool:
        """Forward one frame, cutting where a fault says; False once the link is dead."""
        kind = _frame_type(frame)
        with self._lock:
            if link.dead:
                return False
            if link.frozen:
                return True
            if direction == UP and link.name is None and kind == "hello":
                link.name = _frame_field(frame, "name")
                for fault in self.faults:
                    if fault.after_bytes is not None and fault.matches(link):
                        fault.fired += 1  # this link is spent on it
                        link.byte_faults[fault.direction].append(fault)
            self.frames.append((link.number, direction, kind))
            cut_before = cut_after = None
            for fault in self.faults:
                if fault.frame_type == kind and fault.direction == direction and fault.matches(link) \
                        and fault.count_frame():
                    where = f"{fault.when} {direction} {kind} #{fault.seen} on link {link.number} ({link.name})"
                    if fault.when == "before":
                        cut_before = cut_before or where
                    else:
                        cut_after = cut_after or where
            send = frame
            cut_bytes = None
            for fault in link.byte_faults[direction]:
                room = fault.after_bytes - link.bytes[direction]
                if room < len(send):
                    send, cut_bytes = send[:max(0, room)], (f"after {fault.after_bytes} bytes {direction} "
                                                            f"on link {link.number} ({link.name})")
            if cut_before is not None:
                send = b""
            link.bytes[direction] += len(send)
            reason = cut_before or cut_bytes or cut_after
            if reason is not None:
                # Dead from this decision on, before the frame is written: the other way
                # passes nothing more, so the answer to it (the server's "ok" to an edit) is
                # lost, as when the connection ends right after the frame. Killed only
                # after the write, the link passed an answer written meanwhile
                # (test_faultproxy; test_gui's lost edit answer came through under load).
                self._kill(link, reason, record=True)
        if send:
            try:
                target.sendall(send)
            except OSError:
                if reason is None:
                    self._reset(link, "write failed", record=False)
                    return False
        if reason is not None:
            self._reset(link, reason)  # recorded above: the sockets are reset
            return False
        return True

    def _kill(self, link: _Link, reason: str, record: bool) -> None:
        """(Lock held.) Nothing more passes ``link`` either way from now on; a cut's
        ``reason`` is recorded (``record``) once, when the link dies."""
        if link.dead:
            return
        link.dead = True
        if record:
            self.cuts.append(reason)
            if self.refuse_after_cuts is not None and len(self.cuts) >= self.refuse_after_cuts:
                self.refuse_new = True
        self._lock.notify_all()

    def _reset(self, link: _Link, reason: str, record: bool = True) -> None:
        """Cut ``link`` (see :meth:`_kill`) and reset both its sockets, once."""
        with self._lock:
            if link.released:
                return
            link.released = True
            self._kill(link, reason, record)
        # The frames passed before the cut reach their side before the RST: an RST drops
        # what the proxy's own kernel had not sent yet, and on a loaded machine a frame
        # written just before the cut can still be there (a CI run lost the 11th room post
        # of test_rooms_cut_midstream, passed before the cut at the 12th). Bounded: a peer
        # that does not read is reset after DRAIN_SECONDS all the same.
        for sock in (link.client, link.server):
            self._drain(sock)
        for sock in (link.client, link.server):
            self._hard_close(sock)

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        """Wait (at most DRAIN_SECONDS) until the kernel has sent and seen acknowledged all
        that was written to ``sock`` (Linux's SIOCOUTQ, termios.TIOCOUTQ)."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                unsent = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]
            except (OSError, ValueError):  # closed, or not Linux: nothing to wait for
                return
            if unsent == 0:
                return
            time.sleep(0.001)

    @staticmethod
    def _hard_close(sock: socket.socket) -> None:
        """Close with an RST: buffered data is dropped on both ends."""
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with suppress(OSError):
            # Wakes the pump thread blocked in recv() on this socket (close() would not),
            # without sending a FIN first.
            sock.shutdown(socket.SHUT_RD)
        with suppress(OSError):
            sock.close()


def _peer_port(sock: socket.socket) -> int | None:
    try:
        return sock.getpeername()[1]
    except OSError:
        return None


def _frame_type(frame: bytes) -> str:
    try:
        value = json.loads(frame)
    except ValueError:
        return "?"
    return str(value.get("type", "?")) if isinstance(value, dict) else "?"


def _frame_field(frame: bytes, key: str) -> str | None:
    try:
        value = json.loads(frame).get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
