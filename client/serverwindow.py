"""The server's edit window as this client knows it: how long after sending a message its
sender may still edit or delete it, as the server's last welcome said (``edit_window``,
PROTOCOL.md "welcome"); ``const.EDIT_WINDOW`` for a server that did not say it (an older
one). A server may be set to another length: the buttons and the words go by its own.

One per process, as client/serverclock.py's clock (a terminal, a window or a ``--send``
talks to one service at a time): the client core tells it each welcome (client/core.py);
the Edit offer (client/gui/model.py) and the ``too_late`` words (client/display.py) read
it through :func:`edit_window`.
"""

from __future__ import annotations

import const

# Longer than any server is set to: a value past it (or negative, or not finite) came
# from no sane server, and the older servers' window is the safer guess.
_LONGEST = 366 * 86400.0


class ServerWindow:
    """``heard(seconds)`` at each welcome; ``seconds``: the window to go by."""

    __slots__ = ("seconds",)

    def __init__(self) -> None:
        self.seconds = const.EDIT_WINDOW

    def heard(self, seconds: float | None) -> None:
        """A welcome said ``seconds`` (None: it did not, so the window is const.EDIT_WINDOW)."""
        self.seconds = seconds if seconds is not None and 0 <= seconds < _LONGEST else const.EDIT_WINDOW

    def forget(self) -> None:
        """No welcome heard any more (between tests)."""
        self.seconds = const.EDIT_WINDOW


SERVER_WINDOW = ServerWindow()


def edit_window() -> float:
    """How long after sending a message may be edited or deleted, in seconds (the server's)."""
    return SERVER_WINDOW.seconds
