"""Exceptions of the client library, and the error codes the client gives by itself.

Every exception here is a :class:`ClientError`. The ones that mean "there is no usable
connection" are also :class:`ConnectionError`, so callers that only care about that can
catch the built-in class.
"""

from __future__ import annotations

from protocol.compat import StrEnum


class LocalError(StrEnum):
    """Codes for failures the client detects itself, in the same ``(code, message)`` form
    as the server's ``ErrorCode`` values so that a UI can show both alike.

    (The client also reuses the protocol's ``message_too_large`` and ``bad_field`` when it
    refuses to send a text the server would refuse anyway.)
    """

    # The message was not sent: no connection, the session had ended, or the client was closing.
    NOT_CONNECTED = "not_connected"
    # The connection ended (or a write failed) before the message reached its final state.
    CONNECTION_LOST = "connection_lost"
    # Too many messages are waiting in the client for the connection to come back.
    QUEUE_FULL = "queue_full"
    # The server answered unavailable, saying it may have stored the message all the same,
    # and no resend settled it before the client gave up (client/core.py): it may or may
    # not have been stored (and delivered).
    UNCONFIRMED = "unconfirmed"


class ClientError(Exception):
    """Base class of the exceptions raised by :mod:`client`."""


class ServerUnreachable(ClientError, ConnectionError):
    """No chat session could be opened: the server refused the TCP connection, did not
    answer in time, closed during the login, or does not speak this protocol.
    ``str(exc)`` says which, in words for the user."""


class LoginInterrupted(ServerUnreachable):
    """The connection was reset (RST) while being opened or before the server answered
    the hello: a fault on the way, not an answer, so a new attempt may well succeed
    (``connect(retry_until=...)`` makes them). A refused TCP connection is not one
    (nothing listens there), nor a clean end of the stream (the server chose to close)."""


class CertificateError(ServerUnreachable):
    """TLS: the server's certificate could not be verified (untrusted issuer, wrong host
    name, expired...). ``str(exc)`` starts with "cannot verify the server's certificate"."""


class LoginRefused(ClientError):
    """The server answered the hello with an error (``name_taken``, ``invalid_name``,
    ``unsupported_version``, ``server_full``, ``auth_required``, ``bad_password``,
    ``rate_limited``, ``accounts_required``, ``weak_password``...), or the name is invalid
    locally.

    ``code`` is the protocol error code, ``message`` the server's explanation,
    ``retry_after`` the seconds to wait before trying again (``rate_limited``), else None;
    ``like`` the name the one tried looks like (``confusable_name``), else None, and
    ``reserved`` True when that is a reserved word, nobody's (the error's field);
    ``uncertain`` (``unavailable`` of a hello that registers): the server cannot tell
    whether the account was made. ``local``: the client refused it before asking (an
    invalid name), and ``message`` is its own, in the user's language, saying exactly why.
    ``until`` (``name_taken`` of a guest name kept for its last guest): when the hold ends.
    ``field`` and ``max_chars`` (a name or a password too long): its key, and the server's limit;
    ``max_bytes`` (a name over its bytes of UTF-8): that limit.
    """

    def __init__(self, code: str, message: str, retry_after: float | None = None, like: str | None = None,
                 uncertain: bool = False, local: bool = False, until: float | None = None,
                 field: str | None = None, max_chars: int | None = None, max_bytes: int | None = None,
                 reserved: bool = False) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.like = like
        self.reserved = reserved
        self.uncertain = uncertain
        self.local = local
        self.until = until
        self.field = field
        self.max_chars = max_chars
        self.max_bytes = max_bytes


class NotConnected(ClientError, ConnectionError):
    """A request could not be made, or the connection ended before its answer came
    (then it is an :class:`AnswerLost`)."""

    uncertain = False


class AnswerLost(NotConnected):
    """The request was written, and the connection ended before its answer came: the
    server may or may not have done it (``uncertain`` is True). A request that changes
    something says what the client does to find out (``register``: the next login tells)."""

    uncertain = True


class RequestFailed(ClientError):
    """The server answered a request with an error reply; carries its ``code``, ``message``
    and ``retry_after`` (seconds, for ``rate_limited`` and ``unavailable``; the time left
    of a mute; else None), ``room`` and ``reason`` (a refusal of one's own join while
    banned: the room and the ban's reason; PROTOCOL.md, "error"), else None,
    ``uncertain`` (``unavailable`` only: the server cannot tell whether it was done),
    ``like`` (the room a ``no_such_room`` name without its ``#`` meant), else None, and
    ``name`` (a moderation act's ``not_member``: the person acted on, who is not in the
    room; None when it is about the asker, or from an older server), ``field`` and
    ``max_chars`` (a string too long: its key, and the server's limit in characters), or
    ``max_bytes`` (a name over its bytes of UTF-8: that limit)."""

    def __init__(self, code: str, message: str, retry_after: float | None = None, room: str | None = None,
                 reason: str | None = None, uncertain: bool = False, like: str | None = None,
                 name: str | None = None, field: str | None = None, max_chars: int | None = None,
                 max_bytes: int | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.room = room
        self.reason = reason
        self.uncertain = uncertain
        self.like = like
        self.name = name
        self.field = field
        self.max_chars = max_chars
        self.max_bytes = max_bytes

    @classmethod
    def of(cls, reply) -> RequestFailed:
        """The exception for ``reply``, an ErrorReply answering a request."""
        return cls(reply.code, reply.message, reply.retry_after, reply.room_name, reply.reason,
                   bool(reply.uncertain), reply.like, reply.name, reply.field, reply.max_chars, reply.max_bytes)


class RequestTimeout(ClientError, TimeoutError):
    """The server did not answer a request within the time the caller allowed. The request
    was written, so the server may or may not have done it (``uncertain`` is True, as for
    :class:`AnswerLost`); its answer may still come, and is then not handed on as an
    unmatched one: the client applies what it says of its own state (a ``register`` made
    after all: ``registered``; a password changed: the one kept for reconnections)."""

    uncertain = True


class CalledFromReceiver(ClientError, RuntimeError):
    """A blocking request (``who``, ``lookup``, ``history``...) or a tracker's
    ``OutgoingMessage.wait()`` was made on the thread that reads the server's answers (the
    threaded client's receiver, i.e. from ``on_event``; for a tracker of the asyncio
    client, its event loop): its answer can only be read by that thread, so waiting would
    stall every event for the whole timeout. Call it from another thread (the window
    does, from Tk's), or use a call that does not wait."""
