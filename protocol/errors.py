"""Error codes of the chat protocol, and the exception for misuse of the core.

A *remote* problem (bad bytes from the peer) never raises: the core yields a
:class:`~protocol.events.FrameRejected` event and the connection goes on, so the server can
tell the sender exactly what was wrong and keep serving. A *local* problem (this program
sending something illegal in the current state) raises :class:`LocalProtocolError`.
"""

from __future__ import annotations

from .compat import StrEnum


class LocalProtocolError(Exception):
    """This side tried to send an event its role or the connection state does not allow."""


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` frame. PROTOCOL.md lists when each is sent."""

    # The frame itself.
    FRAME_TOO_LARGE = "frame_too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    MESSAGE_TOO_LARGE = "message_too_large"
    TRUNCATED_FRAME = "truncated_frame"
    # The frame is fine but not allowed in this state of the session.
    NOT_LOGGED_IN = "not_logged_in"
    ALREADY_LOGGED_IN = "already_logged_in"
    # Logging in.
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_NAME = "invalid_name"
    NAME_TAKEN = "name_taken"
    # The name looks like (has the confusable skeleton of) another user's: see PROTOCOL.md "Names".
    CONFUSABLE_NAME = "confusable_name"
    SERVER_FULL = "server_full"
    # Relaying.
    UNKNOWN_RECIPIENT = "unknown_recipient"
    UNKNOWN_MESSAGE = "unknown_message"
    TOO_MANY_ERRORS = "too_many_errors"
    FRAME_TIMEOUT = "frame_timeout"
    # The server closes the connection: no login in time, no sign of life in time, or a
    # client that does not read what it is sent (its queue passed the limit).
    LOGIN_TIMEOUT = "login_timeout"
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    SLOW_CONSUMER = "slow_consumer"
    # Accounts and abuse.
    AUTH_REQUIRED = "auth_required"
    BAD_PASSWORD = "bad_password"
    ACCOUNTS_REQUIRED = "accounts_required"
    ACCOUNT_EXISTS = "account_exists"
    WEAK_PASSWORD = "weak_password"
    RATE_LIMITED = "rate_limited"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    # The server ends a session (no id, then bye): the account's password was reset by the
    # operator, or changed in another session of the account. The password it logged in
    # with is no longer good: log in again with the new one, not with the old.
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    # The server ends a session (no id, then bye): its account was deleted (its owner's
    # unregister, or the operator's /unregister). Do not log in to it again.
    ACCOUNT_DELETED = "account_deleted"
    # Store and forward.
    EXPIRED = "expired"
    # The server's storage failed (disk full, read-only, I/O error): nothing was done.
    UNAVAILABLE = "unavailable"
    ID_REUSED = "id_reused"
    # Not allowed: edit or delete of another's message (feature "edits"), read or typing
    # with receipts off; in rooms, an act the role does not allow. Past const.EDIT_WINDOW:
    # too late.
    FORBIDDEN = "forbidden"
    TOO_LATE = "too_late"
    # Presence subscriptions.
    TOO_MANY_WATCHED = "too_many_watched"
    # A block past const.MAX_BLOCKED names.
    TOO_MANY_BLOCKED = "too_many_blocked"
    # Rooms and moderation (server/rooms.py; PROTOCOL.md "Rooms").
    NO_SUCH_ROOM = "no_such_room"
    ROOM_EXISTS = "room_exists"
    NOT_MEMBER = "not_member"
    INVITE_ONLY = "invite_only"
    BANNED = "banned"
    MUTED = "muted"
    TOO_MANY_ROOMS = "too_many_rooms"
