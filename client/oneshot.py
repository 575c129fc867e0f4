"""Send one direct message and wait for the outcome: ``python3 chatclient.py Carol --send Bob TEXT``.

Logs in as Carol, sends TEXT to Bob, waits up to ``--timeout`` seconds (default
``const.SEND_TIMEOUT``) for Bob's client to confirm it or for the server to queue it for
Bob's next login, leaves, and reports:

- stdout ``delivered to Bob (msg 17)``                                exit 0
- stdout ``queued for Bob (msg 17): offline; the server keeps it for their next login``
  (the server stored it durably)                                       exit 0
- stderr ``error: not sent to Bob — nobody called Bob has ever logged in here: check the
  name``   (any refusal by the server: unknown recipient, too large...)  exit 1
- exit 2: usage error (argparse prints it)
- stderr ``error: connection to 127.0.0.1:5000 refused: is the chat server running?``,
  ``error: cannot verify the server's certificate: ...``
  or ``error: the connection to the server was lost: ...``             exit 3
- stderr ``error: login refused: ... (name_taken)``                    exit 4
- stderr ``error: no delivery confirmation from Bob within 10 s ...``  exit 5
- stderr ``error: login refused: wrong password (bad_password)``       exit 6
  (also auth_required without a password, rate_limited, weak_password...)
- stderr ``error: not sent to Bob — the server cannot use its storage right now
  ... (unavailable)``: the server's disk is full or failing, or it cannot reach its
  Redis; nothing was stored (the library tried again with the same id within the
  timeout; a login that registers can get it too)                       exit 7
- stderr ``error: not confirmed to Bob — the server could not confirm it ...
  (unconfirmed)``: its storage (Redis) took the message and did not answer in time, and
  no resend settled it within the timeout: it may or may not have been stored and
  delivered; look at the history before sending it again                exit 7
- exit 130: interrupted with Ctrl-C; exit 143: stopped by SIGTERM (both leave with the goodbye)

(The statuses are :class:`client.exitcodes.ExitCode`.) If the connection drops meanwhile,
the library reconnects and sends the message again under the same request id (the
server never stores it twice), all within the timeout. Direct messages that reach Carol
during this short session are printed on stdout, one per line, as the terminal client
prints them: the library confirms them to their senders, so they must not be dropped.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import const
from i18n import _
from protocol import Delivered, DirectMessage, Event

from . import auth
from .display import (NOT_DELIVERED, DayBreaks, day_rule, delivered_words, explain_refusal, failed_outcome,
                      format_clock, sanitize)
from .errors import LocalError, LoginRefused, ServerUnreachable
from .exitcodes import ExitCode, failure_status
from .library import ChatClient
from .outgoing import DELIVERED, FAILED, QUEUED, SENT

# Failures that say the connection broke, not that the server refused the message.
_CONNECTION_CODES = frozenset({LocalError.CONNECTION_LOST, LocalError.NOT_CONNECTED})


def send_once(name: str, to: str, text: str, *, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT,
              timeout: float = const.SEND_TIMEOUT, stdout: TextIO | None = None,
              stderr: TextIO | None = None, password: str | None = None, register: bool = False,
              prompt_passwords: bool = False, **client_options: Any) -> ExitCode:
    """Do the whole ``--send``: connect, send, wait, report; return the exit status.

    ``password`` (for a registered name), ``register`` and ``prompt_passwords`` are as
    for the terminal client (:class:`client.terminal.TerminalUI`); other keyword arguments
    go to :class:`ChatClient` (``tls``, ``cafile``, ``reconnect``...).
    """
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr

    def say(stream: TextIO, line: str) -> None:
        stream.write(f"{line}\n")
        stream.flush()

    days = DayBreaks()  # the messages waiting for us may be last week's: their day above them

    def on_event(event: Event) -> None:
        if isinstance(event, DirectMessage):
            day = days.before(event.sent_at)
            if day is not None:
                say(out, day_rule(day))
            say(out, _("[{clock}] {name} → you: {text}").format(clock=format_clock(event.sent_at),
                                                                 name=sanitize(event.sender), text=sanitize(event.text)))
        elif isinstance(event, Delivered):  # a message an earlier run sent
            say(out, delivered_words(event))

    client = ChatClient(name, host, port, on_event=on_event, password=password, register=register,
                        **client_options)
    try:
        if register and client.password is None:
            if not prompt_passwords:
                raise auth.PasswordError(auth.needs_password_text())
            client.password = auth.ask_new_password(name, lambda line: say(err, auth.error_line(line)))
        # A login whose connection is cut on the way is tried again, within the timeout.
        deadline = time.monotonic() + timeout
        auth.log_in(client, auth.ask_password if prompt_passwords else None, lambda line: say(err, auth.error_line(line)),
                    retry_until=deadline)
    except ServerUnreachable as exc:
        say(err, auth.error_line(sanitize(str(exc))))
        return ExitCode.NO_SERVER
    except LoginRefused as exc:
        say(err, auth.refusal_line(exc, scripted=not prompt_passwords, name=name))
        return auth.refusal_exit_code(exc)
    except auth.PasswordError as exc:
        say(err, auth.error_line(str(exc)))
        return ExitCode.AUTH_FAILED
    except EOFError:
        say(err, auth.error_line(_("no password given")))
        return ExitCode.AUTH_FAILED
    shown_to = sanitize(to)
    try:
        message = client.send_direct(to, text)
        message.wait({DELIVERED, QUEUED}, timeout)
        # Read once: the receiver may still be changing it.
        state, error, msg_id, refused = message.state, message.error, message.msg_id, message.refused
        reconnecting, why = client.reconnecting, client.close_reason
    finally:
        client.close()
    if state == DELIVERED:
        say(out, _("delivered to {name} (msg {id})").format(name=shown_to, id=msg_id))
        return ExitCode.OK
    if state == QUEUED:
        say(out, _("queued for {name} (msg {id}): offline; the server keeps it for their next login").format(
            name=shown_to, id=msg_id))
        return ExitCode.OK
    if refused is not None:  # still being tried again when the time ran out: as if it failed so
        state, error = FAILED, (refused, "")
    if state == FAILED:
        error = error or ("unknown", "")
        code, reason = error
        if code == LocalError.UNCONFIRMED:
            say(err, auth.error_line(_("not confirmed to {name} — {why}").format(
                name=shown_to, why=explain_refusal(error, to))))
            return failure_status(code)
        if code in _CONNECTION_CODES:
            say(err, auth.error_line(_("the connection to the server was lost: {why}").format(why=sanitize(reason))))
            return ExitCode.NO_SERVER
        # explain_refusal: with the refusal's facts (how often a message given up was tried).
        # Refused at once (or given up before the server took it) is "not sent", as every
        # client says it (client.display.failed_outcome); only an expired one was sent.
        line = _("not delivered to {name} — {why}") if failed_outcome(error) == NOT_DELIVERED \
            else _("not sent to {name} — {why}")
        say(err, auth.error_line(line.format(name=shown_to, why=explain_refusal(error, to))))
        return failure_status(code)
    if state == SENT:
        say(err, auth.error_line(_("no delivery confirmation from {name} within {seconds} s "
                                   "(the server accepted it as msg {id}; it may still be delivered)").format(
            name=shown_to, seconds=f"{timeout:g}", id=msg_id)))
    elif reconnecting:
        say(err, auth.error_line(_("the connection to the server was lost ({why}) and not restored within "
                                   "{seconds} s; the message may not have been sent").format(
            why=sanitize(why), seconds=f"{timeout:g}")))
        return ExitCode.NO_SERVER
    else:
        say(err, auth.error_line(_("the server did not accept the message within {seconds} s").format(
            seconds=f"{timeout:g}")))
    return ExitCode.TIMEOUT
