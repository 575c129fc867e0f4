"""Send one direct message and wait for its delivery: ``python chatclient.py Carol --send Bob TEXT``.

Logs in as Carol, sends TEXT to Bob, waits up to ``--timeout`` seconds (default
``const.SEND_TIMEOUT``) for Bob's client to confirm it, leaves, and reports:

- stdout ``delivered to Bob (msg 17)``                                exit 0
- stderr ``error: not delivered to Bob — Bob is not online (unknown_recipient)``   exit 1
  (any refusal by the server: unknown recipient, message too large...)
- exit 2: usage error (argparse prints it)
- stderr ``error: connection to 127.0.0.1:5000 refused: is the chat server running?``
  or ``error: the connection to the server was lost: ...``             exit 3
- stderr ``error: login refused: ... (name_taken)``                    exit 4
- stderr ``error: no delivery confirmation from Bob within 10 s ...``  exit 5
- exit 130: interrupted with Ctrl-C

(The statuses are :class:`client.exitcodes.ExitCode`.) Direct messages that reach Carol
during this short session are printed on stdout, one per line, as the terminal client
prints them: the library confirms them to their senders, so they must not be dropped.
"""

from __future__ import annotations

import sys
from typing import TextIO

import const
from protocol import DirectMessage, Event

from .display import explain_error, format_clock, sanitize
from .errors import LocalError, LoginRefused, ServerUnreachable
from .exitcodes import ExitCode
from .library import ChatClient
from .outgoing import DELIVERED, FAILED, SENT

# Failures that say the connection broke, not that the server refused the message.
_CONNECTION_CODES = frozenset({LocalError.CONNECTION_LOST, LocalError.NOT_CONNECTED})


def send_once(name: str, to: str, text: str, *, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT,
              timeout: float = const.SEND_TIMEOUT, stdout: TextIO | None = None,
              stderr: TextIO | None = None) -> ExitCode:
    """Do the whole ``--send``: connect, send, wait, report; return the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr

    def say(stream: TextIO, line: str) -> None:
        stream.write(f"{line}\n")
        stream.flush()

    def on_event(event: Event) -> None:
        if isinstance(event, DirectMessage):
            say(out, f"[{format_clock(event.sent_at)}] {sanitize(event.sender)} → you: {sanitize(event.text)}")

    client = ChatClient(name, host, port, on_event=on_event)
    try:
        client.connect()
    except ServerUnreachable as exc:
        say(err, f"error: {sanitize(str(exc))}")
        return ExitCode.NO_SERVER
    except LoginRefused as exc:
        say(err, f"error: login refused: {explain_error(exc.code, exc.message)}")
        return ExitCode.LOGIN_REFUSED
    shown_to = sanitize(to)
    try:
        message = client.send_direct(to, text)
        message.wait_done(timeout)
        # Read once: the receiver may still be changing it.
        state, error, msg_id = message.state, message.error, message.msg_id
    finally:
        client.close()
    if state == DELIVERED:
        say(out, f"delivered to {shown_to} (msg {msg_id})")
        return ExitCode.OK
    if state == FAILED:
        code, reason = error or ("unknown", "")
        if code in _CONNECTION_CODES:
            say(err, f"error: the connection to the server was lost: {sanitize(reason)}")
            return ExitCode.NO_SERVER
        say(err, f"error: not delivered to {shown_to} — {explain_error(code, reason, to)}")
        return ExitCode.REFUSED
    if state == SENT:
        say(err, f"error: no delivery confirmation from {shown_to} within {timeout:g} s "
                 f"(the server accepted it as msg {msg_id}; it may still be delivered)")
    else:
        say(err, f"error: the server did not accept the message within {timeout:g} s")
    return ExitCode.TIMEOUT
