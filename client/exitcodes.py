"""Exit statuses of ``chatclient.py``, in one place (used by ``--send`` and the terminal)."""

from __future__ import annotations

from enum import IntEnum

from i18n import N_, _
from protocol import ErrorCode

from .errors import LocalError


class ExitCode(IntEnum):
    """What the process exit status means. ``describe()`` renders the table for ``--help``."""

    OK = 0              # delivered or durably queued (--send), or the terminal client was left normally
    REFUSED = 1         # the server refused the message (unknown recipient, too large...)
    USAGE = 2           # bad command line (argparse exits with 2 by itself)
    NO_SERVER = 3       # cannot reach the server, or the connection was lost
    LOGIN_REFUSED = 4   # the login was refused (name taken or invalid, server full...)
    TIMEOUT = 5         # --send: no delivery acknowledgement within --timeout
    AUTH_FAILED = 6     # wrong or missing password, too many failed logins, name not claimable
    UNAVAILABLE = 7     # the server's storage is failing: nothing was stored, or (unconfirmed) perhaps was
    INTERRUPTED = 130   # Ctrl-C in --send, a piped input or a login's password prompt (the shell's 128 + SIGINT)
    TERMINATED = 143    # SIGTERM, after leaving cleanly (the shell's 128 + SIGTERM)

    @classmethod
    def describe(cls) -> str:
        """The exit-status table, one status per line, for help texts."""
        return "\n".join(f"  {code.value:>3}  {_(_MEANING[code])}" for code in cls)


def failure_status(code: str) -> ExitCode:
    """The status for a message that failed with ``code`` (an ``ErrorCode`` or
    ``LocalError`` value): UNAVAILABLE when the server's storage was why (nothing was
    stored, or, unconfirmed, perhaps it was), else REFUSED."""
    return ExitCode.UNAVAILABLE if code in (ErrorCode.UNAVAILABLE, LocalError.UNCONFIRMED) else ExitCode.REFUSED


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout(1)``, a stopped service or CI job), raised in the main thread
    where Ctrl-C's KeyboardInterrupt is, by :func:`on_sigterm`: the client leaves the same
    way, with its goodbye, then exits with ``ExitCode.TERMINATED``."""


def on_sigterm(signum: int, frame: object) -> None:
    """The SIGTERM handler: ``signal.signal(signal.SIGTERM, on_sigterm)``."""
    raise Terminated


_MEANING = {
    ExitCode.OK: N_("every message delivered or queued for an offline user (--send, or a piped input), or the chat was left normally"),
    ExitCode.REFUSED: N_("the server refused the message (unknown recipient, too large, ...), or a piped input had a line not understood"),
    ExitCode.USAGE: N_("usage error (bad arguments)"),
    ExitCode.NO_SERVER: N_("cannot reach the server, or the connection to it was lost"),
    ExitCode.LOGIN_REFUSED: N_("login refused (name taken or invalid, server full, ...)"),
    ExitCode.TIMEOUT: N_("no delivery acknowledgement within --timeout (--send, or a piped input's messages)"),
    ExitCode.AUTH_FAILED: N_("authentication failed (wrong or missing password, too many attempts, "
                             "weak password, accounts required)"),
    ExitCode.UNAVAILABLE: N_("the server cannot store anything now (its disk is full or failing, or it cannot "
                             "reach its Redis): nothing was sent, or, if it says not confirmed, it may or may "
                             "not have been; try again later"),
    ExitCode.INTERRUPTED: N_("interrupted with Ctrl-C (--send, a piped input, or at a password prompt)"),
    ExitCode.TERMINATED: N_("stopped by SIGTERM (the session was left cleanly first)"),
}
