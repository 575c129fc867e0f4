"""Local events of the client library: what happened to the connection itself.

They never go on the wire; the library hands them to the application like any other
event (``on_event`` or ``client.events``), in order with the rest::

    ... DirectMessage ... Reconnecting(1, 0.5, "...") Reconnecting(2, 1.0, "...")
    Reconnected(welcome, resent=3) ... MessageUpdate ... Delivered ...

``Reconnecting`` comes before each wait, so an interface can say "reconnecting in 2.0 s
(attempt 3)" at once. The session is back when ``Reconnected`` arrives; messages that had
not been acknowledged, and those typed meanwhile, are then being written again, in order
(the first few at once, the rest as the server takes them: client/core.py).
If the client gives up (``close()``, a fatal login error such as ``bad_password``, or
``max_reconnect_attempts``), ``ConnectionClosed`` follows instead, as for any final end.

``AnsweredLate`` says that a change whose caller was told no answer came in time (and so
that it may or may not have been made) was answered after all, and what the answer did.

``ServerUnavailable(retry_in)`` says that the server answered a message ``unavailable``
(its storage failed: its disk, a cluster's Redis) and when the client writes it again;
``ServerUnavailable(None)`` that this is over (the client/core.py docstring says when).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from protocol import Event, Welcome


@dataclass(frozen=True, slots=True)
class Reconnecting(Event):
    """The connection was lost without the server's goodbye: attempt ``attempt`` (from 1)
    to open a new session starts in ``delay`` seconds. ``reason`` says why the last
    connection (or the last attempt) ended, in words."""

    TYPE: ClassVar[str] = ""
    attempt: int
    delay: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Reconnected(Event):
    """A new session is open (``welcome`` is its Welcome); ``resent`` messages that the
    server had not acknowledged, or that were typed while disconnected, are sent again (the
    first few at once, the rest paced as the server takes them: client/core.py).
    ``server`` ("host:port") is set when the session is on another server of the client's
    list than before (a failover), and empty when it is back on the same one."""

    TYPE: ClassVar[str] = ""
    welcome: Welcome
    resent: int = 0
    server: str = ""


@dataclass(frozen=True, slots=True)
class ServerUnavailable(Event):
    """The server answered a message of ours ``unavailable`` (it could not store it): the
    client holds it and writes it again in ``retry_in`` seconds (told at each new wait).
    ``retry_in`` None: over; ``back`` True if the server took a message again, False if
    nothing is left to write again (the client gave up on them: their MessageUpdates say
    so). Derived from the server's answers alone: the client knows nothing else of its
    storage."""

    TYPE: ClassVar[str] = ""
    retry_in: float | None
    back: bool = False


@dataclass(frozen=True, slots=True)
class AnsweredLate(Event):
    """The server answered, after all, a change whose caller was told that no answer came
    in time (RequestTimeout: it may or may not have been made), and the client applied
    what it keeps of it (``registered``, the password it keeps, the read receipts switch,
    the latest change of a message). ``request`` is the change's frame type (``register``,
    ``password``, ``settings``, ``block``, ``unblock``, ``unregister``, ``edit``,
    ``delete``, and the room acts: ``join``, ``leave``, ``invite``, ``topic``, ``kick``,
    ``ban``, ``unban``, ``mute``, ``unmute``, ``appoint``, ``mode``; client/display.py words
    each, :func:`~client.display.late_answer_words`); ``done`` whether the server made it;
    if not, ``code`` and ``message`` are its refusal's. ``asked`` is the request as it was
    sent (whom a block or a room act named, the room, the message and an edit's text), so
    that a front end's own state (a window's block list, its rooms, a message shown) can
    follow; None for the changes whose frame holds a password (``register``, ``password``,
    ``unregister``). ``at``: when the server stamped a change of a message (an edit's or a
    delete's ``ok``), else None. ``uncertain``: the answer (``unavailable``) says the server
    cannot tell whether it was done either (handed on for a ``leave`` only: the front ends
    hold its room as being left until its answer; ``done`` is then False and nothing is
    known to be refused)."""

    TYPE: ClassVar[str] = ""
    request: str
    done: bool
    code: str = ""
    message: str = ""
    asked: Event | None = None
    at: float | None = None
    uncertain: bool = False
