"""How the GUI uses the client library: logging in, history, and the words for failures.

The GUI writes no protocol code: everything goes through :class:`client.ChatClient`, the
same library (and so the same client core) as the terminal client. No tkinter here: these
functions run on worker threads and in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import const
from i18n import N_, _

from .. import auth
from ..display import explain_act_refusal, explain_error, explain_refusal, sanitize
from ..errors import LoginRefused, NotConnected, RequestFailed, RequestTimeout, ServerUnreachable
from ..library import ChatClient

HISTORY_LIMIT = 50
# Messages of a named room per page: its newest on opening it, as many again per "older".
ROOM_HISTORY_PAGE = 50


def log_in(name: str, host: str, port: int, on_event: Callable[[object], object], *,
           password: str = "", register: bool = False, options: dict[str, object] | None = None,
           timeout: float = const.CONNECT_TIMEOUT) -> tuple[ChatClient, object]:
    """Create a client and connect it (blocking: call from a worker thread).

    ``options`` are more ``ChatClient`` arguments (``tls``, ``cafile``, ``reconnect``,
    ``servers``...). A window is interactive: unless ``options`` say otherwise, a planned
    stop or restart of the server is survived like a crash (``reconnect_on_goodbye``).
    Returns ``(client, welcome)``. Raises what ``connect()`` raises
    (:class:`LoginRefused`, :class:`ServerUnreachable`), but for a short ``rate_limited``,
    sat through (:func:`client.auth.log_in`).
    """
    extra: dict[str, object] = {"reconnect_on_goodbye": True, **(options or {})}
    client = ChatClient(name, host, port, on_event=on_event, password=password or None, register=register,
                        **extra)  # type: ignore[arg-type]
    # As the terminal does: a short rate_limited (a class logging in at once) is waited out.
    return client, auth.log_in(client, None, lambda line: None, timeout)


def fetch_history(client: ChatClient, peer: str, limit: int = HISTORY_LIMIT) -> Sequence[object]:
    """The newest messages with ``peer``, oldest first (``HistoryEntry`` objects).
    Blocking: call from a worker thread. Raises what ``client.history`` raises."""
    return tuple(client.history(peer, limit=limit))


def fetch_room_page(client: ChatClient, room: str, before: int | None = None,
                    limit: int = ROOM_HISTORY_PAGE) -> object:
    """One page of named room ``room``'s messages (a ``HistoryPage``: the newest ``limit``,
    or those older than ``before``; its ``before`` leads to the next older page).
    Blocking: call from a worker thread. Raises what ``client.history_page`` raises."""
    return client.history_page(room, limit, before)


# The dialog's title for a refused login, by protocol error code (shown through _()). The
# sentence under it is the one every client says (client.display.ERROR_TEXTS).
_TITLES = {
    "name_taken": N_("Name taken"),
    "bad_password": N_("Wrong password"),
    "auth_required": N_("Password needed"),
    "invalid_name": N_("Invalid name"),
    "confusable_name": N_("Name too much like another"),
    "accounts_required": N_("Account needed"),
    "weak_password": N_("Password too weak"),
    "account_exists": N_("Name already claimed"),
    "server_full": N_("Server full"),
    "unsupported_version": N_("Incompatible server"),
    "rate_limited": N_("Too many attempts"),
    "too_many_connections": N_("Too many connections"),
    "unavailable": N_("Server storage failing"),
}
# ... and for a confusable_name whose name is a reserved word (the error's "reserved"):
# nobody's name, so not "another" (user's).
_RESERVED_TITLE = N_("Name too much like a reserved word")


def as_sentence(text: str) -> str:
    """``text`` as the window shows words on their own (a dialog, the login form's
    question, the password dialog's refusal): a capital first letter and a full stop. The
    library's words begin in lower case because they are also parts of lines
    ("login refused: ...")."""
    text = text.strip()
    if not text:
        return text
    return text[:1].upper() + text[1:] + ("" if text.endswith((".", "?", "!", "…")) else ".")


def failure_words(error: BaseException, to: str | None = None) -> str:
    """Why a request failed, in the user's language where the window knows it: the
    server's refusal (explain_refusal; ``to``: the person or room the request named,
    which its sentence may name: "#fechada is invite-only"); no connection, so it was not sent ("not
    connected"), or the connection lost after it was sent (the library's own sentences,
    "not connected to the server (reconnecting: ...)" and "the connection was lost before
    the answer came (connection error: Connection reset by peer)", are English or end in
    its technical reason); else the error as it says itself."""
    if isinstance(error, RequestFailed):
        return explain_refusal(error, to)
    if isinstance(error, NotConnected):
        return _("the connection was lost before the server answered") if error.uncertain else _("not connected")
    return sanitize(error)


def act_failure_words(error: BaseException, act: str, name: str, room: str | None = None) -> str:
    """Why a room's moderation act ``act`` on ``name`` in ``room`` failed: the act's own
    sentence for a refusal that has one (display.ACT_TEXTS: an invitation of a name with no
    account), or one that names whom it is about (NAMED_TEXTS: "Olga is not in #turma"),
    else :func:`failure_words` (naming nobody: an older server's refusal of an act on
    someone, not_member, is about them or the asker)."""
    if isinstance(error, RequestFailed):
        return explain_act_refusal(error, act, name, room)
    return failure_words(error)


def maybe_done(error: BaseException) -> bool:
    """True if ``error`` says a request was written and its answer never came (the
    connection ended first: the library's ``uncertain``; or none came in time): the
    server may have done it."""
    return getattr(error, "uncertain", False) or isinstance(error, RequestTimeout)


def change_failed(error: BaseException) -> str:
    """The notice of a change that failed (an edit, a delete, a setting): "Not changed"
    and why (:func:`failure_words`), unless the request was written and its answer never
    came (the connection ended first: ``uncertain``; or no answer in time): the server may
    have made the change, and the notice says so rather than "Not changed"."""
    if maybe_done(error):
        return _("The server's answer did not come: it may or may not have been changed")
    return _("Not changed: {why}").format(why=failure_words(error))


def password_unused(name: str) -> str:
    """Said in Everyone after a login with a password for ``name``, which has no account,
    the box to claim it left unticked: the server logged a guest in and ignored the password
    (PROTOCOL.md, "hello"), which the user may have believed guarded the name."""
    return _("{name} is not a registered name: you logged in as a guest and the password was not used. To have "
             "this name with a password, log in again and tick “{claim}”.").format(
        name=sanitize(name), claim=_("Claim this name with the password"))


def login_error_text(error: BaseException, name: str, address: str) -> tuple[str, str]:
    """``(title, message)`` for an error dialog about a failed login. The message is a
    headline, then (for a code no sentence explains) a blank line and the code."""
    if isinstance(error, LoginRefused):
        code = str(error.code)
        title = _RESERVED_TITLE if code == "confusable_name" and error.reserved and error.like \
            else _TITLES.get(code, N_("Login refused"))
        if error.local:  # refused by the client itself: the exact reason, in the user's language
            return _(title), as_sentence(sanitize(error.message))
        sentence = explain_error(code, error.message, to=name, retry_after=error.retry_after, like=error.like,
                                 uncertain=error.uncertain, until=error.until, reserved=error.reserved,
                                 field=error.field, max_chars=error.max_chars, max_bytes=error.max_bytes)
        shown_code = f" ({sanitize(code)})"  # explain_error adds it to an unknown code's words only
        detail = f"\n\n{shown_code.strip()}" if sentence.endswith(shown_code) else ""
        sentence = sentence.removesuffix(shown_code)  # the code, if any, goes under it
        headline = as_sentence(sentence)
        return _(title), headline + detail
    if isinstance(error, ServerUnreachable):
        why = sanitize(error)
        why = as_sentence(why)
        return _("Server unreachable"), _("Cannot reach the chat server at {address}.").format(
            address=sanitize(address)) + f"\n\n{why}"
    return _("Login failed"), f"{type(error).__name__}: {sanitize(error)}"
