"""The chat client: a threaded library over the sans-I/O core, and the shells built on it.

- :mod:`client.library`: :class:`ChatClient`, the threaded client every front end shares.
- :mod:`client.outgoing`: :class:`OutgoingMessage` trackers and :class:`MessageUpdate`.
- :mod:`client.errors`: the exceptions, and the client's own error codes.
- :mod:`client.display`: making text from the network safe to print; time formats.
- :mod:`client.commands`: what a typed line means (a pure parser).
- :mod:`client.terminal`: the interactive / scriptable terminal client.
- :mod:`client.oneshot`: ``chatclient.py NAME --send TO TEXT``.
- :mod:`client.exitcodes`: the process exit statuses.
"""

from .errors import (
    ClientError,
    LocalError,
    LoginRefused,
    NotConnected,
    RequestFailed,
    RequestTimeout,
    ServerUnreachable,
)
from .library import ChatClient
from .outgoing import DELIVERED, FAILED, SENDING, SENT, MessageUpdate, OutgoingMessage

__all__ = [
    "DELIVERED", "FAILED", "SENDING", "SENT",
    "ChatClient", "ClientError", "LocalError", "LoginRefused", "MessageUpdate", "NotConnected",
    "OutgoingMessage", "RequestFailed", "RequestTimeout", "ServerUnreachable",
]
