"""The server's own terminal: ``/quit`` stops it, ``/who`` lists users, ``/admin NAME``
makes an account a server administrator (rooms, issue 13) until the server stops,
``/password NAME`` sets a new random password for an account (shown once) and ends its
sessions, ``/backup [FOLDER]`` copies the database into a new folder while
the server runs (server/backup.py), ``/help`` lists the commands (:func:`help_lines`, also
shown for anything else typed there). Each takes its other names too: those the client
gives it (shared/commandwords.py COMMAND_WORDS, the one table: ``/sair``, ``/quem``, ``/lista``...),
and for the console's own commands, CONSOLE_WORDS's. Every answer goes to the console's own
output, never to the log's stream (:func:`say_to_operator`).

Standard input is read in a daemon thread because asyncio cannot watch a console portably;
each command is handed to the event loop with ``call_soon_threadsafe``. When standard input
is closed or not a terminal with nothing to read, the thread just ends: a server started
with no input keeps running. A server sent to the background (``&``, or Ctrl-Z and ``bg``)
goes on serving, and its console reads again once it is back in the foreground (``fg``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from registry.collation import name_order
from i18n import N_, _
from registry.registry import UserRecord
from shared.columns import hanging_lines
from shared.commandwords import COMMAND_WORDS, command_names

from .addresses import endpoint

# The console's own commands, shaped as COMMAND_WORDS (by English name: its names in each
# language); the others it has are the client's, named as there.
CONSOLE_WORDS = {"admin": {"en": ("admin",)}, "backup": {"en": ("backup",), "pt_BR": ("copia",)}}


def _table(word: str) -> dict[str, dict[str, tuple[str, ...]]]:
    """The table that names command ``word``: the console's own, or the client's."""
    return CONSOLE_WORDS if word in CONSOLE_WORDS else COMMAND_WORDS


def _typed(word: str) -> frozenset[str]:
    """Every way to type command ``word`` here, with its "/"."""
    return frozenset(f"/{name}" for names in _table(word)[word].values() for name in names)


# What it takes: what help_lines and README.md say.
QUIT_COMMANDS = _typed("quit")
WHO_COMMANDS = _typed("who")
HELP_COMMANDS = _typed("help")
ADMIN_COMMAND = "/admin"
PASSWORD_COMMANDS = _typed("password")
UNREGISTER_COMMANDS = _typed("unregister")
BACKUP_COMMANDS = _typed("backup")
# The /help list: command, its arguments, what it does.
_HELP = (
    ("who", "", N_("who is online")),
    ("quit", "", N_("tell the clients and stop the server (as Ctrl-C does)")),
    ("admin", N_("NAME"), N_("make the account NAME a server administrator until the server stops")),
    ("password", N_("NAME"), N_("give the account NAME a new random password, shown once; its sessions end")),
    ("unregister", N_("NAME"), N_("delete the account NAME and what is stored of it (its owner's request: LGPD); its "
                                  "sessions end, its name is held for a while")),
    ("backup", N_("[FOLDER]"), N_("copy the database, while the server runs, into FOLDER (new or empty; else a new "
                                  "folder beside the data folder): a data folder of its own")),
    ("help", "", N_("this list")),
)


# Seconds within which /unregister NAME must be typed again to be done (Confirmation).
CONFIRM_WINDOW = 60.0


class Confirmation:
    """A console command that cannot be undone (``/unregister NAME``) is done only when it
    is typed again for the same subject within ``window`` seconds: one slip of the keys (a
    name for another, ``/unregister`` for ``/password``) deletes nobody's account. The
    first time, the caller says what would go and how to confirm. Sans-I/O: the caller
    gives the time."""

    def __init__(self, window: float = CONFIRM_WINDOW) -> None:
        self.window = window
        self._asked: tuple[str, float] | None = None  # the subject asked about, and when

    def confirmed(self, subject: str, now: float) -> bool:
        """True if ``subject`` was asked about within the window (the question is then
        used up); else it is asked about now (replacing any other) and False."""
        asked, self._asked = self._asked, None
        if asked is not None and asked[0] == subject and 0 <= now - asked[1] <= self.window:
            return True
        self._asked = (subject, now)
        return False


def unregister_question(name: str) -> str:
    """What the console says to the first ``/unregister NAME`` (Confirmation), with the
    command as typed in the console's language."""
    command = "/" + command_names("unregister", table=_table("unregister"))[0]
    return _("this deletes the account {name} and what is stored of it, for good: its sessions end and its name is "
             "held for a while. To do it, type {command} {name} again within a minute").format(
        name=name, command=command)


def registry_lines(online: Sequence[UserRecord]) -> list[str]:
    """What /who prints: the registry, one connection a line (name, address and port,
    local time it logged in), people in the order of a class list (registry/collation.py:
    "Érica" among the E's, not after "Vitória"); an account's further sessions on the
    lines below its first, its name not repeated. Pure but for the local time zone."""
    if not online:
        return [_("online: {users}").format(users=_("nobody"))]
    rows = []
    for record in sorted(online, key=lambda r: name_order(r.name)):
        for index, end in enumerate(record.endpoints):
            rows.append((record.name if index == 0 else "", endpoint(end.address, end.port),
                         time.strftime("%H:%M:%S", time.localtime(end.since))))
    name_width = max(len(name) for name, _where, _when in rows)
    where_width = max(len(where) for _name, where, _when in rows)
    return [_("online ({count}):").format(count=len(online))] + [
        "  " + _("{name}  {where}  since {when}").format(name=name.ljust(name_width), where=where.ljust(where_width),
                                                       when=when) for name, where, when in rows]


# Before each command of /help's list, under its heading.
_LEAD = "  "


def help_lines(width: int | None = None) -> tuple[str, ...]:
    """What /help prints, one command a line, in the console's language, its name in that
    language first and the others in brackets (README.md lists them too). With ``width``
    (the terminal's columns) each description is wrapped at spaces to fit, its further
    lines under its first (shared/columns.py); without, one line each."""
    rows = []
    for word, arguments, what in _HELP:
        first, *others = command_names(word, table=_table(word))
        head = f"/{first} {_(arguments) if arguments else ''}".rstrip()
        also = " (" + _("or {names}").format(names=", ".join(f"/{name}" for name in others)) + ")" if others else ""
        rows.append((head + also, _(what)))
    lines = hanging_lines(rows, None if width is None else width - len(_LEAD))
    return (_("commands at the server's terminal:"), *(_LEAD + line for line in lines))


def console_hint(stdin: TextIO | None = None) -> str | None:
    """The log's last line at start when standard input (``stdin``, default the process's)
    is a terminal, someone's to type in: that the console takes commands and how to list
    them (an operator saw a log and no prompt, and did not know it did). None otherwise (no
    input, a pipe, a file: nobody types there). In English as the log is; /help is read in
    every language (HELP_COMMANDS)."""
    return "type /help here for the console's commands (/quit stops the server)" \
        if _is_terminal(sys.stdin if stdin is None else stdin) else None


def console_width(stream: TextIO) -> int | None:
    """The columns of the terminal ``stream`` is on, as the client's screen asks
    (client/terminal_screen.py); None when it is no terminal (a log file or a pipe: nothing
    to fit, its lines stay whole) or cannot say."""
    if not _is_terminal(stream):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        return None


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed
        return False


def _open_terminal() -> TextIO:
    # Windows' name for the console's screen (Python writes it as Unicode, not in a code page).
    return open("CONOUT$" if sys.platform == "win32" else "/dev/tty", "w", encoding="utf-8")


def say_to_operator(line: str, *, stdin: TextIO | None = None, stdout: TextIO | None = None,
                    open_tty: Callable[[], TextIO] = _open_terminal) -> None:
    """Print a console answer where the operator reads it, and not in the log: never on
    standard error, the log's stream, which an operator may send to a file (``2>server.log``:
    /who, /help and /backup answered there went unseen, and a new password must never be
    logged), and where lines without a time would break its one line an event. On standard
    output, the console's own; when that is not a terminal but standard input is (a
    person typing, the output sent to a file), on that terminal (``/dev/tty``; Windows:
    ``CONOUT$``), so that it is seen and lands in no file; else on standard output all the
    same (a script driving the console reads it there). ``stdin``/``stdout`` default to the process's."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    if not _is_terminal(stdout) and _is_terminal(stdin):
        try:
            with open_tty() as tty:
                print(line, file=tty, flush=True)
            return
        except OSError:  # no controlling terminal after all
            pass
    print(line, file=stdout, flush=True)


# Seconds a command's answer may hold back the answers of the commands typed after it. Each
# is due within the store's deadline; past this one, a command that never answers (a bug)
# does not mute the console: the later answers are said, and its own whenever it comes.
ANSWER_HOLD = 60.0


class AnswersInOrder:
    """The console's answers in the order its commands were typed: ``/password Dana`` then
    at once ``/unregister Dana`` printed the unregister's question first (a new password is
    hashed in a thread, then stored), so each answer read as the other command's. Each
    command takes its :meth:`turn` as it is read; its first line waits for those of the
    commands before it (at most ``hold`` s after the oldest was typed). Thread-safe: answers
    come from the event loop and from the console's thread."""

    def __init__(self, say: Callable[[str], None], clock: Callable[[], float] = time.monotonic,
                 hold: float = ANSWER_HOLD) -> None:
        self._say, self._clock, self._hold = say, clock, hold
        self._lock = threading.Lock()
        self._turns: deque[list] = deque()  # [the answer or None, when typed], oldest first

    def turn(self) -> Callable[[str], None]:
        """The next command's ``say(line)``: its first call is its answer, said in turn;
        any later one (a backup's "made" line) is said at once."""
        entry: list = [None, self._clock()]
        with self._lock:
            self._turns.append(entry)

        def say(line: str) -> None:
            with self._lock:  # (said under the lock: two threads' answers never cross)
                if entry[0] is not None or entry not in self._turns:  # answered already, or passed over
                    self._say(line)
                    return
                entry[0] = line
                self._say_due()
        return say

    def flush(self) -> None:
        """Say the answers held only by a command whose hold has ended (the console's loop
        calls this once each command's hold is over: no other answer may come to say them)."""
        with self._lock:
            self._say_due()

    def _say_due(self) -> None:
        while self._turns:
            line, typed = self._turns[0]
            overdue = line is None and self._clock() - typed >= self._hold and \
                any(later is not None for later, _typed in self._turns)
            if line is None and not overdue:
                return
            self._turns.popleft()
            if line is not None:
                self._say(line)


# Seconds between two looks at whether a server in the background has been brought back.
FOREGROUND_POLL = 0.25


def background_reads_not_stopping() -> None:
    """A console read from the background (``python3 chatserver.py &``, or Ctrl-Z then
    ``bg``) would get SIGTTIN, which stops the whole process: the server would stop
    answering anyone, its clients hanging. Ignored, such a read fails (EIO) instead, and
    :func:`console_lines` waits for ``fg``. Only from the main thread (where signals are set),
    only on a terminal, only where there is job control (not Windows)."""
    ttin = getattr(signal, "SIGTTIN", None)
    if ttin is None or not _is_terminal(sys.stdin):
        return
    try:
        signal.signal(ttin, signal.SIG_IGN)
    except ValueError:  # not the main thread: the signals are someone else's
        pass


def _in_the_background(stream: TextIO) -> bool:
    """True while ``stream`` is a terminal whose foreground is another job than ours."""
    try:
        return os.tcgetpgrp(stream.fileno()) != os.getpgrp()
    except (OSError, ValueError, AttributeError):  # no terminal (any more), or no job control
        return False


def _next_line(stdin: TextIO) -> str:
    """The next line typed, "" at the end of input. A read refused because the server runs
    in the background waits until it is brought to the foreground (``fg``), then reads;
    any other failure is the end of the console (OSError, ValueError)."""
    refused_in_foreground = False
    while True:
        try:
            return stdin.readline()
        except OSError as exc:
            if not _in_the_background(stdin):
                # A read refused (EIO) in the background whose ``fg`` came before this look
                # (Ctrl-Z, bg, then fg at once: the console ended, and the /quit typed next
                # went unread): read again, once. A terminal hung up refuses every read:
                # twice in a row in the foreground is the end.
                if exc.errno != errno.EIO or refused_in_foreground:
                    raise
                refused_in_foreground = True
                continue
        refused_in_foreground = False
        while _in_the_background(stdin):
            time.sleep(FOREGROUND_POLL)


def console_lines(stdin: TextIO) -> Iterator[str]:
    """The lines typed at ``stdin``, until its end: in the background, each read waits for
    ``fg`` (call :func:`background_reads_not_stopping` first, from the main thread); bytes
    not in its encoding read as U+FFFD. OSError or ValueError: no console (any more)."""
    _undecodable_bytes_replaced(stdin)
    while line := _next_line(stdin):
        yield line


def _undecodable_bytes_replaced(stdin: TextIO) -> None:
    """A line that is not in the terminal's encoding (a Latin-1 terminal typing "João" to a
    UTF-8 locale) raised UnicodeDecodeError, which ended the console without a word: from
    then on /quit, /who and every other command went unread. Such bytes become U+FFFD,
    which the command then refuses in words ("a name cannot contain U+FFFD")."""
    reconfigure = getattr(stdin, "reconfigure", None)
    if reconfigure is None:
        return
    try:
        reconfigure(errors="replace")
    except (OSError, ValueError, AttributeError):  # closed, or already read from: as it is
        pass


def watch_console(loop: asyncio.AbstractEventLoop, on_quit: Callable[[], None],
                  on_who: Callable[[], None], on_admin: Callable[[str], None] | None = None,
                  on_password: Callable[[str], None] | None = None,
                  on_backup: Callable[[str], None] | None = None,
                  on_unregister: Callable[[str], None] | None = None) -> threading.Thread:
    """Start reading commands from standard input; returns the (daemon) thread.
    ``on_who(say)`` is called for ``/who``, ``on_admin(name, say)`` for ``/admin NAME``
    (``/admin`` alone: with ""), ``on_password(name, say)`` for ``/password NAME`` (alone:
    with ""), ``on_backup(folder, say)`` for ``/backup FOLDER`` (alone: with ""),
    ``on_unregister(name, say)`` for ``/unregister NAME`` (alone: with ""): each answers with
    ``say``, its turn of :class:`AnswersInOrder`, so that answers come in the commands' order."""
    answers = AnswersInOrder(say_to_operator)

    def turn() -> Callable[[str], None]:
        """The next command's turn, and a look once its hold is over (AnswersInOrder.flush)."""
        say = answers.turn()
        loop.call_soon_threadsafe(loop.call_later, ANSWER_HOLD + 0.1, answers.flush)
        return say

    def given(command: str, names: str | frozenset[str]) -> str | None:
        """The one of ``names`` that ``command`` (the line, lower-cased) is, with or without
        an argument; None if it is none of them."""
        word = command.split(maxsplit=1)[:1]
        return word[0] if word and (word[0] == names or word[0] in names) else None

    def read() -> None:
        try:
            for line in console_lines(sys.stdin):
                command = line.strip().lower()
                if command in QUIT_COMMANDS:
                    loop.call_soon_threadsafe(on_quit)
                    return
                if given(command, WHO_COMMANDS):  # "/quem agora" too: what follows changes nothing
                    loop.call_soon_threadsafe(on_who, turn())
                elif on_admin is not None and given(command, ADMIN_COMMAND):
                    loop.call_soon_threadsafe(on_admin, line.strip()[len(ADMIN_COMMAND):].strip(), turn())
                elif on_password is not None and (word := given(command, PASSWORD_COMMANDS)):
                    loop.call_soon_threadsafe(on_password, line.strip()[len(word):].strip(), turn())
                elif on_backup is not None and (word := given(command, BACKUP_COMMANDS)):
                    loop.call_soon_threadsafe(on_backup, line.strip()[len(word):].strip(), turn())
                elif on_unregister is not None and (word := given(command, UNREGISTER_COMMANDS)):
                    loop.call_soon_threadsafe(on_unregister, line.strip()[len(word):].strip(), turn())
                elif command:  # /help, or anything else: what can be typed here
                    unknown = () if command in HELP_COMMANDS else (
                        _("unknown command {command!r}").format(command=line.strip()),)
                    turn()("\n".join((*unknown, *help_lines(console_width(sys.stdout)))))
        except (OSError, ValueError, RuntimeError):
            return  # no console, or the loop is already closed

    background_reads_not_stopping()
    thread = threading.Thread(target=read, name="server-console", daemon=True)
    thread.start()
    return thread
