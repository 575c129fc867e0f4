"""The tkinter chat window: ``python3 chatclient.py NAME --gui``.

A thin shell over the client library (STYLE.md, section 2); nothing here speaks the
protocol. The modules, from the bottom up:

- :mod:`client.gui.model`: what the window shows, as plain data (no tkinter; unit-tested);
- :mod:`client.gui.session`: logging in and history through the library, error wording;
- :mod:`client.gui.bridge`: the queue that carries events from other threads to the Tk
  thread, polled with ``after()``, and the event-loop gap meter;
- :mod:`client.gui.login`, :mod:`client.gui.panes`: the login form, the conversation
  panes and the contact list;
- :mod:`client.gui.colors`: the colour table (plain data; a unit test holds it to WCAG AA);
- :mod:`client.gui.app`: the window that ties them together;
- :mod:`client.gui.testhook`, :mod:`client.gui.screenshot`: a loopback control channel
  for tests of the real window (only with ``CHAT_GUI_TEST_CONTROL`` set).
"""

from __future__ import annotations

import sys

import const
from i18n import _


def run(name: str = "", host: str = const.SERVER_HOST, port: int = const.SERVER_PORT, *,
        password: str | None = None, register: bool = False, **options: object) -> int:
    """Open the chat window and return the exit status when it closes (2 if no window
    can be opened: tkinter missing, or no display). ``password`` and ``register`` fill the
    login form; ``options`` (``tls``, ``cafile``, ``reconnect``...) go to ``ChatClient``."""
    try:
        from .app import run as run_app
    except ImportError as exc:  # Python built without tkinter (Debian: apt-get install python3-tk)
        print(_("chatclient.py: the GUI needs tkinter, which this Python lacks: {why}").format(why=exc), file=sys.stderr)
        return 2
    return run_app(name, host, port, password=password, register=register, **options)


__all__ = ["run"]
