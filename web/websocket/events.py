"""Events exchanged with ``WebSocketConnection``.

The same classes flow in both directions: ``WebSocketConnection.events()``
yields them for what the peer sent, and ``WebSocketConnection.send()`` takes
them for what the application wants to send. Messages are always whole:
fragments are reassembled before a ``TextMessage``/``BinaryMessage`` is yielded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A complete text message (UTF-8 validated on receipt)."""

    text: str


@dataclass(frozen=True, slots=True)
class BinaryMessage:
    """A complete binary message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping; on receipt the connection has already queued the matching pong."""

    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong (reply to our ping, or an unsolicited heartbeat)."""

    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class CloseConnection:
    """The connection is closing (received) or should close (sent).

    Received: ``code`` is the peer's close code (1005 when its close frame had
    no payload), the code we sent when we failed the connection because the
    peer broke the protocol, or 1006 when the TCP stream ended without a close
    frame. Sent: ``code`` must be a code an endpoint may put on the wire
    (1005 means "send an empty close payload").
    """

    code: int = 1000
    reason: str = ""


Event = TextMessage | BinaryMessage | Ping | Pong | CloseConnection
