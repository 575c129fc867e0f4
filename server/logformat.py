"""The server log's line format: one event, one line, whatever users typed.

Log lines quote free text from users: a moderation reason, a refused room name, a name
that failed validation. A newline in it would start a line the reader takes for the
server's own (a forged "login root"), and an escape sequence would drive the terminal the
operator reads the log in (clear it, set its title, write its clipboard). So the message of
every record is passed through :func:`client.display.sanitize`, the rule the clients show
other users' text by: control and format characters become visible escapes (``\\n``,
``\\x1b``, ``\\u202e``). A traceback, appended after the message, keeps its lines.
"""

from __future__ import annotations

import logging

from shared.safetext import sanitize

FORMAT = "%(asctime)s %(levelname)s %(message)s"


class OneLineFormatter(logging.Formatter):
    """``logging.Formatter`` whose messages are sanitised (see the module's docstring)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Called by format() before it appends a traceback, which keeps its lines. The
        # time and level are printable, so sanitising the whole line changes the message only.
        return sanitize(super().formatMessage(record))


def configure(level: int) -> None:
    """Log ``level`` and above to standard error, one line each (chatserver.py)."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
