"""The chat client: a threaded library over the sans-I/O core, and the shells built on it.

- :mod:`client.core`: :class:`~client.core.ClientCore`, the session rules with no socket,
  thread or clock (sans-I/O), and the pure reconnect generators ``backoff``/``failover``.
- :mod:`client.library`: :class:`ChatClient`, the threaded shell over the core that every
  front end shares.
- :mod:`client.aio`: :class:`~client.aio.AioChatClient`, the asyncio shell over the same
  core (the benchmark's client-core phase uses it).
- :mod:`client.clock`: the clock of waits, which counts a sleep of the computer.
- :mod:`client.servers`: the list of servers a client may use (failover).
- :mod:`client.outgoing`: :class:`OutgoingMessage` trackers and :class:`MessageUpdate`.
- :mod:`client.events`: :class:`Reconnecting` and :class:`Reconnected`, local events.
- :mod:`client.errors`: the exceptions, and the client's own error codes.
- :mod:`client.auth`: where passwords come from (file, environment, prompt without echo).
- :mod:`client.display`: making text from the network safe to print; time formats.
- :mod:`client.commands`: what a typed line means (a pure parser).
- :mod:`client.terminal`: the interactive / scriptable terminal client.
- :mod:`client.terminal_lines`: the lines it prints for each event (pure functions).
- :mod:`client.terminal_input`: the lines it reads: piped bytes not in UTF-8, readline's glue.
- :mod:`client.oneshot`: ``chatclient.py NAME --send TO TEXT``.
- :mod:`client.exitcodes`: the process exit statuses.
"""

from .errors import (
    AnswerLost,
    CalledFromReceiver,
    CertificateError,
    ClientError,
    LocalError,
    LoginInterrupted,
    LoginRefused,
    NotConnected,
    RequestFailed,
    RequestTimeout,
    ServerUnreachable,
)
from .events import AnsweredLate, Reconnected, Reconnecting
from .library import ChatClient
from .outgoing import DELIVERED, FAILED, QUEUED, SENDING, SENT, MessageUpdate, OutgoingMessage

__all__ = [
    "DELIVERED", "FAILED", "QUEUED", "SENDING", "SENT",
    "AnsweredLate", "AnswerLost", "CalledFromReceiver", "CertificateError", "ChatClient", "ClientError", "LocalError",
    "LoginInterrupted", "LoginRefused",
    "MessageUpdate",
    "NotConnected", "OutgoingMessage", "Reconnected", "Reconnecting", "RequestFailed", "RequestTimeout",
    "ServerUnreachable",
]
