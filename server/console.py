"""The server's own terminal: ``/quit`` (or ``/sair``) stops it, ``/who`` (``/quem``) lists users.

Standard input is read in a daemon thread because asyncio cannot watch a console portably;
each command is handed to the event loop with ``call_soon_threadsafe``. When standard input
is closed or not a terminal with nothing to read, the thread just ends: a server started
with no input keeps running.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable

from i18n import _

QUIT_COMMANDS = frozenset({"/quit", "/sair", "/exit"})
WHO_COMMANDS = frozenset({"/who", "/quem"})


def watch_console(loop: asyncio.AbstractEventLoop, on_quit: Callable[[], None],
                  on_who: Callable[[], None]) -> threading.Thread:
    """Start reading commands from standard input; returns the (daemon) thread."""

    def read() -> None:
        try:
            for line in sys.stdin:
                command = line.strip().lower()
                if command in QUIT_COMMANDS:
                    loop.call_soon_threadsafe(on_quit)
                    return
                if command in WHO_COMMANDS:
                    loop.call_soon_threadsafe(on_who)
                elif command:
                    print(_("commands: /who (or /quem), /quit (or /sair)"), file=sys.stderr, flush=True)
        except (OSError, ValueError, RuntimeError):
            return  # no console, or the loop is already closed

    thread = threading.Thread(target=read, name="server-console", daemon=True)
    thread.start()
    return thread
