"""How the GUI uses the client library: logging in, history, and the words for failures.

The GUI writes no protocol code: everything goes through :class:`client.ChatClient`, the
same library (and so the same client core) as the terminal client. No tkinter here: these
functions run on worker threads and in unit tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import const
from i18n import N_, _

from ..display import sanitize
from ..errors import LoginRefused, ServerUnreachable
from ..library import ChatClient

HISTORY_LIMIT = 50


def log_in(name: str, host: str, port: int, on_event: Callable[[object], object], *,
           password: str = "", register: bool = False, options: dict[str, object] | None = None,
           timeout: float = const.CONNECT_TIMEOUT) -> tuple[ChatClient, object]:
    """Create a client and connect it (blocking: call from a worker thread).

    ``options`` are more ``ChatClient`` arguments (``tls``, ``cafile``, ``reconnect``,
    ``servers``...). A window is interactive: unless ``options`` say otherwise, a planned
    stop or restart of the server is survived like a crash (``reconnect_on_goodbye``).
    Returns ``(client, welcome)``. Raises what ``connect()`` raises
    (:class:`LoginRefused`, :class:`ServerUnreachable`).
    """
    extra: dict[str, object] = {"reconnect_on_goodbye": True, **(options or {})}
    client = ChatClient(name, host, port, on_event=on_event, password=password or None, register=register,
                        **extra)  # type: ignore[arg-type]
    return client, client.connect(timeout=timeout)


def fetch_history(client: ChatClient, peer: str, limit: int = HISTORY_LIMIT) -> Sequence[object]:
    """The newest messages with ``peer``, oldest first (``HistoryEntry`` objects).
    Blocking: call from a worker thread. Raises what ``client.history`` raises."""
    return tuple(client.history(peer, limit=limit))


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
    return _("Login failed"), f"{type(error).__name__}: {sanitize(error)}"
