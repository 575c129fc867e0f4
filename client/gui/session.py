"""How the GUI uses the client library: logging in, history, and the words for failures.

The GUI writes no protocol code: everything goes through :class:`client.ChatClient`. The
library is growing (passwords, history, auto-reconnect), so the few features that a given
version may lack are looked up here, in one place, instead of being assumed:

- a password (and claiming a name) is passed to ``ChatClient(...)`` or to ``connect()``,
  whichever accepts a ``password`` parameter; with neither, a login with a password fails
  with :class:`Unsupported` (saying so) rather than silently logging in without it;
- history comes from ``client.history(peer, ...)`` when the library has that call;
  :func:`fetch_history` returns None when it does not (the window then shows none).

No tkinter here: these functions run on worker threads and in unit tests.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import const
from i18n import N_, _

from ..display import sanitize
from ..errors import LoginRefused, ServerUnreachable
from ..library import ChatClient

HISTORY_LIMIT = 50


class Unsupported(Exception):
    """The client library in use cannot do what was asked (yet)."""


def _parameters(func: Callable) -> set[str]:
    try:
        return set(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        return set()


def password_support() -> str | None:
    """Where this library takes a password: ``"init"``, ``"connect"``, or None (nowhere)."""
    if "password" in _parameters(ChatClient):
        return "init"
    if "password" in _parameters(ChatClient.connect):
        return "connect"
    return None


def can_register() -> bool:
    """True if the library can claim a name with a password while logging in."""
    where = password_support()
    return where is not None and "register" in _parameters(ChatClient if where == "init" else ChatClient.connect)


def client_options(options: dict[str, object]) -> dict[str, object]:
    """The ``options`` (``tls``, ``cafile``, ``reconnect``...) that this library's
    ``ChatClient`` accepts; those it does not know, set to a false value, are dropped.
    Raises :class:`Unsupported` for a true value it cannot take (``tls=True`` on a library
    without TLS must not connect in the clear)."""
    known = _parameters(ChatClient)
    unknown = [key for key, value in options.items() if key not in known and value]
    if unknown:
        raise Unsupported(_("This version of the chat client library has no option {options}.").format(
            options=", ".join(unknown)))
    return {key: value for key, value in options.items() if key in known}


def log_in(name: str, host: str, port: int, on_event: Callable[[object], object], *,
           password: str = "", register: bool = False, options: dict[str, object] | None = None,
           timeout: float = const.CONNECT_TIMEOUT) -> tuple[ChatClient, object]:
    """Create a client and connect it (blocking: call from a worker thread).

    ``options`` are more ``ChatClient`` arguments (see :func:`client_options`). Returns
    ``(client, welcome)``. Raises what ``connect()`` raises (:class:`LoginRefused`,
    :class:`ServerUnreachable`) or :class:`Unsupported`.
    """
    where = password_support()
    # A window is interactive: a planned restart of the server is survived like a crash.
    extra: dict[str, object] = client_options({"reconnect_on_goodbye": True, **(options or {})})
    if password or register:
        if where is None:
            raise Unsupported(_("This version of the chat client library cannot log in with a password yet. "
                                "Leave the password empty to log in as a guest."))
        extra["password"] = password
        if register:
            if not can_register():
                raise Unsupported(_("This version of the chat client library cannot claim a name yet."))
            extra["register"] = True
    if where == "init":
        client = ChatClient(name, host, port, on_event=on_event, **extra)
        welcome = client.connect(timeout=timeout)
    else:
        login = {key: extra.pop(key) for key in ("password", "register") if key in extra}
        client = ChatClient(name, host, port, on_event=on_event, **extra)
        welcome = client.connect(timeout=timeout, **login)
    return client, welcome


def fetch_history(client: object, peer: str, limit: int = HISTORY_LIMIT) -> Sequence[object] | None:
    """The newest messages with ``peer``, oldest first (``HistoryEntry``-like objects), or
    None if the library has no history call. Blocking: call from a worker thread. Raises
    what the library's call raises.

    THE HOOK: when ``ChatClient`` gains ``history(peer, limit=..., ...)``, conversations
    show their history with no change here. Its answer may be a ``HistoryPage`` (its
    ``messages``), or a sequence of entries.
    """
    history = getattr(client, "history", None)
    if not callable(history):
        return None
    params = _parameters(history)
    answer = history(peer, limit=limit) if "limit" in params else history(peer)
    for attribute in ("messages", "entries"):
        if hasattr(answer, attribute):
            return tuple(getattr(answer, attribute))
    return tuple(answer or ())


# Titles and sentences for a refused login, by protocol error code (shown through _()).
_REFUSALS = {
    "name_taken": (N_("Name taken"), N_("The name {name} is in use, or kept for a while for the guest who used it "
                                 "last. Choose another name.\n\nThe server says: {message}")),
    "bad_password": (N_("Wrong password"), N_("The password for {name} is wrong. Check it and try again.")),
    "auth_required": (N_("Password needed"), N_("The name {name} is registered: enter its password to log in "
                                         "with it, or choose another name.")),
    "invalid_name": (N_("Invalid name"), N_("{message}\n\nA name has 1 to 32 letters and digits of one script, "
                                     "_ - or ., and starts with a letter or a digit.")),
    "confusable_name": (N_("Name too much like another"), N_("{message}")),
    "accounts_required": (N_("Account needed"), N_("This server only accepts registered names. {message}")),
    "weak_password": (N_("Password too weak"), N_("{message}")),
    "account_exists": (N_("Name already claimed"), N_("The name {name} is already registered. {message}")),
    "server_full": (N_("Server full"), N_("The server has no room for another user now. Try again later.")),
    "unsupported_version": (N_("Incompatible server"), N_("The server does not speak this client's protocol "
                                                   "version. {message}")),
    "rate_limited": (N_("Too many attempts"), N_("{message}\n\nWait a moment and try again.")),
    "too_many_connections": (N_("Too many connections"), N_("{message}")),
    "unavailable": (N_("Server storage failing"), N_("The server cannot store anything right now, so the name "
                                              "was not registered. {message}")),
}


def login_error_text(error: BaseException, name: str, address: str) -> tuple[str, str]:
    """``(title, message)`` for an error dialog about a failed login. The message is a
    headline, a blank line, then the details."""
    if isinstance(error, LoginRefused):
        title, template = _REFUSALS.get(str(error.code), (N_("Login refused"), "{message}"))
        text = _(template).format(name=sanitize(name), message=sanitize(error.message))
        return _(title), f"{text}\n\n({sanitize(error.code)})"
    if isinstance(error, ServerUnreachable):
        why = sanitize(error)
        why = why[:1].upper() + why[1:] + ("" if why.endswith((".", "?", "!")) else ".")
        return _("Server unreachable"), _("Cannot reach the chat server at {address}.").format(
            address=sanitize(address)) + f"\n\n{why}"
    if isinstance(error, Unsupported):
        return _("Not supported"), str(error)
    return _("Login failed"), f"{type(error).__name__}: {sanitize(error)}"
