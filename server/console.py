"""The server's own terminal: ``/quit`` (or ``/sair``) stops it, ``/who`` lists users,
``/help`` lists the commands (:data:`HELP`, also shown for anything else typed there).

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

QUIT_COMMANDS = frozenset({"/quit", "/sair", "/exit"})

# What /help prints, one command a line (README.md lists them too).
HELP = (
    "commands at the server's terminal:",
    "  /who               who is online",
    "  /quit (or /sair)   tell the clients and stop the server (as Ctrl-C does)",
    "  /help              this list",
)


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
                if command == "/who":
                    loop.call_soon_threadsafe(on_who)
                elif command:  # /help, or anything else: what can be typed here
                    unknown = () if command == "/help" else (f"unknown command {line.strip()!r}",)
                    print("\n".join((*unknown, *HELP)), file=sys.stderr, flush=True)
        except (OSError, ValueError, RuntimeError):
            return  # no console, or the loop is already closed

    thread = threading.Thread(target=read, name="server-console", daemon=True)
    thread.start()
    return thread
