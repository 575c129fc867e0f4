"""The terminal chat client: ``python3 chatclient.py NAME``.

Two modes, chosen by whether stdin and stdout are terminals:

- Interactive (a TTY): a prompt that shows where plain lines go (``[room]> ``,
  ``[@Bob]> ``), line editing, history and Tab completion (commands, ``@NAME``, the name
  after a command, /help's topics: :func:`client.screen.complete`,
  :func:`client.commands.argument_words`) with ``readline`` when it can be
  imported. The screen is irssi's: every line starts with its time (``[12:01] ``), names
  have their colours (:class:`client.screen.Style`: off with ``NO_COLOR`` or when stdout
  is no terminal), a message's extra lines are indented, a line wider than the terminal is
  broken at its words onto indented rows (:func:`client.screen.fit_rows`), a message we send is one line
  (:func:`client.terminal_lines.describe_own`) that replaces the line typed and whose state mark is rewritten in
  place while it is the last line (else :func:`~client.terminal_lines.describe_follow_up` says it); the
  reconnection attempts share one line, as do the read counts of our last post in a room
  and who is typing in a room (rewritten while last), and /who is a block in columns.
  Incoming events are printed by the receiver thread without corrupting the line being
  typed: :class:`client.terminal_screen.Screen` prints every line above readline's prompt.
- Pipe (stdin or stdout is not a TTY): no prompt, no escape codes, no time stamps on
  status lines; commands are read line by line, and every event is printed as one line
  (the list below: scripts may rely on it). The answers come in the order of the lines
  they answer: the answer to a line (a message's first, a mistake, a message the client
  refuses, a command's answer) waits, up to ``--timeout``, for the first answer to each
  message of the lines before it (``✓ sent``, ``✓ queued``, ``✗ not sent``: the server
  refuses at once, but accepts once stored); a delivery (``✓✓``) comes when the
  recipient's client confirms it, and names the message. At the end of the input (or at
  ``/quit``) the client waits up to ``--timeout`` seconds for the messages it sent to
  reach a final state (delivered or failed; queued counts as delivered), then leaves:
  with status 0 if every line went through, else with one ``error: ...`` line on stderr
  and the status :meth:`TerminalUI._script_status` gives. This makes the client
  scriptable: ``printf '@Bob hi\\n' | python3 chatclient.py Alice``.

Commands: see :mod:`client.commands` (``@NAME TEXT``, ``/msg NAME TEXT``, ``/reply TEXT``
(``/r``: to the sender of the last direct message received, never to the room), ``/to NAME``
or ``/query NAME``, ``/all``, ``/who``,
``/whois NAME``, ``/history NAME [N]``, ``/block NAME``, ``/unblock NAME``, ``/register``,
``/help``, ``/quit`` or ``/sair``; Ctrl-D and Ctrl-C leave too).

Lost connections: the library reconnects by itself (unless ``reconnect=False``, the
``--no-reconnect`` flag) and the terminal says so; what was typed meanwhile is sent once the
session is back. A first login whose connection is reset is retried the same way (its
``! connection lost; reconnecting ...`` lines come before ``* connected``); a refused
connection or login ends the client at once. Passwords: see :mod:`client.auth` (prompted without echo when
interactive; ``CHAT_PASSWORD`` or ``--password-file`` for scripts).

Output lines in a pipe (client/terminal_lines.py words them; printed to stdout, one event per line,
in the order it happened, the answers to the input in its order (above); text from
the network is sanitised by :func:`client.display.sanitize`, so it never contains a control
character or a newline; only a failure to connect or log in, and the summary of lines that
did not go through, go to stderr, as ``error: ...``)::

    [12:01] Alice → you: hello                   a direct message to you
    [12:01] (room) Alice: hi                     a room message (your own are not echoed)
    * Bob joined                                 presence notices (none for those who come
    * Bob left (quit)                            back after a restart: client/returns.py)
    * online (2): Alice (since 12:00), Bob (since 12:01)          /who
    * Bob is online from 127.0.0.1:54321 since 12:01              /whois Bob
    * Bob is online from 127.0.0.1:54321 on server vm-4242-a1b2c3 since 12:01   (in a cluster)
    * Bob is offline                             (a known user; "unknown" for others)
    * connected to 127.0.0.1:5000 as Alice       first line, once logged in (then
                                                 " over TLS", " (registered)" if so)
    ✓ sent to Bob: hello                         your direct message was accepted
    ✓ queued for Bob: hello (offline: the server keeps it for their next login)
    ✓✓ delivered to Bob: hello                   ... and Bob's client confirmed it (the
                                                 screen's marks: ✓ the server has it, ✓✓ delivered)
    ✓✓ delivered to Bob: message 17              a message sent by an earlier session (told at a
                                                 login; "delivered: message 17" from an older server)
    ✗ not delivered: your message 17 to Bob expired before it was delivered; it waited 7 days ...
                                                 the same, expired (told at a login)
    ✗ not sent to Bob: hello — nobody called Bob has ever logged in here: check the name
                                                 refused at once: nothing reached anyone
    ✗ not delivered to Bob: hello — it waited 7 days for Bob and expired: ...
                                                 taken, and never confirmed by Bob's client
    … not connected: will be sent to Bob once reconnected: hello
    ! connection lost; reconnecting in 2.0 s (attempt 3): <why>
    ! the server is unavailable (it cannot store messages now); trying again in 5.0 s
    ! the server stores messages again           a message was taken after that
    ! reconnected                                (" to HOST:PORT" after a failover; "; 2 messages sent again" if any)
    * history with Bob (2 messages):             /history Bob, then one line each:
      [12:01] you → Bob: hello (delivered)
      [12:02] Bob → you: hi (sent)
    * blocked Bob: their messages will not reach you              /block Bob
    * unblocked Bob                                               /unblock Bob
    * Alice is now registered: log in with its password from now on    /register
    ✓ sent to the room: hi                       your room message was accepted
    ✗ not sent to the room: hi — <reason> (<code>)
    * plain lines now go to Bob                  after /to Bob, Bob online (/all: "... to the room")
    * plain lines now go to Bob, who is offline: they wait for their next login
    ! plain lines now go to Zed, but nobody called Zed has ever logged in here, so they are not sent: ...
                                                 (/to asks the server who the name is)
    ! <problem>                                  a local error (unknown command, bad name,
                                                 no answer to /who...) or a server error
    ! line 3 is not valid UTF-8; not sent        an input line with bytes that are not text
                                                 in the input's encoding (NOT_TEXT)
    ! Connection to the server lost (<why>)      the session ended for good (no
                                                 reconnection, or it was refused): status 3
    ! Disconnected by the server: <reason>       the server said goodbye; status 3

Rooms (protocol version 2; see :func:`client.display.describe_room_notice` and the /join, /rooms, /members
answers)::

    [12:01] (#redes) Ana: olá, turma             a message of a room you are in
    * you are in #redes (3 members, owner Olga; topic: prova na sexta)   after /join #redes
    * Mia joined #redes    * Olga banned Mia from #redes (spam)    ...   room notices
    * you are no longer in #redes: /all sends plain lines to everyone, /join #redes takes you back
                                                 after a kick from where plain lines go: they
    ✗ not sent to #redes: hi — you are no longer in #redes: ...   still go there, refused here
    * you left #redes on another device: /all sends ...   the same after a leave of yours elsewhere

Message previews in status lines are cut at 60 characters (``…``). Exit statuses are
those of :class:`client.exitcodes.ExitCode`: 0 after leaving normally (in a pipe: with
every line gone through), 1, 5 or 7 in a pipe when some did not, 130 in a pipe after
Ctrl-C, 143 after SIGTERM (both leave cleanly first), 3 when the server
cannot be reached or the session ends, 4 when the login is refused, 6 when the password is
wrong or missing (or the account cannot be claimed), or when the server ends the session for
its password (reset by the operator, changed on another device) and there is nobody to ask
for the new one: in a terminal it is asked at once, as at the login, and the chat goes on.
"""

from __future__ import annotations

import _thread
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TextIO

import const
from protocol import (
    Carbon,
    ConnectionClosed,
    Deleted,
    DirectMessage,
    Edited,
    ErrorCode,
    ErrorReply,
    Event,
    Goodbye,
    LookupResult,
    Read,
    RoomMessage,
    RoomNotice,
    RoomPost,
    Typing,
    UserJoined,
    UserLeft,
    UserList,
)
from protocol import RoomDeleted, RoomEdited, RoomTyping  # in rooms (issue 13)
from protocol import RoomRead  # read marks in rooms (issue 13)
from protocol import MemberEntry
from protocol import CatchUp as NodeBack  # feature catch_up (the name CatchUp is terminal_catchup's)
from i18n import _, ngettext
from registry import InvalidName, canonical, validate_name
from registry.names import not_a_name

from . import auth
from .commands import DeleteLast, EditLast  # issue 13
from .commands import (
    Blank,
    ClaimName,
    Command,
    Mistake,
    Quit,
    ReplyText,
    SendText,
    SetBlocked,
    SetPassword,
    DeleteAccount,
    SetReceipts,
    SetTarget,
    ShowHelp,
    ShowHistory,
    ShowWho,
    ShowWhois,
    RoomAct,
    RoomJoin,
    RoomLeave,
    ShowMembers,
    ShowRooms,
    argument_words,
    bare_command,
    completion_words,
    command_names,
    is_room,
    help_lines,
    parse_command,
)
from .display import (
    FAILED_MARKS,
    NOT_SENT,
    awaiting_words,
    explain_act_refusal,
    explain_refusal,
    format_clock,
    back_words,
    gone_words,
    late_answer_words,
    ours_alike,
    preview,
    reason_words,
    sanitize,
    shown_text,
    unavailable_words,
)
from .clock import WaitsClock
from .errors import ClientError, LoginRefused, RequestFailed, RequestTimeout, ServerUnreachable
from .events import AnsweredLate, Reconnected, Reconnecting, ServerUnavailable
from .exitcodes import ExitCode, Terminated, failure_status, on_sigterm
from .core import SIGNED_OUT, is_default_room
from .library import ChatClient
from .outgoing import DELIVERED, FAILED, QUEUED, SENT, MessageUpdate, OutgoingMessage
from .returns import Returns
from .terminal_catchup import CatchUp
from .screen import (
    KnownNames,
    Style,
    colour_wanted,
    complete,
    fit_terminal,
    indent_text,
)
from .terminal_input import ReadlineHooks, load_readline, read_as_utf8, redecoded, undecodable_line
from .terminal_screen import TYPED_LINE, Screen
from .terminal_lines import (
    BACK_LINE,
    GONE_LINE,
    INDENT,
    READ_BY_LINE,
    RECONNECT_LINE,
    TYPING_LINE,
    UNAVAILABLE_LINE,
    describe_event,
    describe_follow_up,
    describe_message,
    describe_on_screen,
    describe_own,
    describe_post_from_elsewhere,
    describe_reconnecting,
    describe_signed_out,
    describe_status,
    describe_typists,
    format_history,
    format_lookup,
    format_members,
    format_room_info,
    format_rooms,
    format_users,
    format_users_in_columns,
    left_after_all_words,
    left_elsewhere_words,
    left_late_words,
    out_of_room_words,
    prompt_for,
    stamp,
    stamped_at,
)

# How often the receiver repeats its wake-up signal until the main thread has exited.
_WAKE_RETRY = 0.05
# Copies of messages sent by our other sessions remembered for their outcome's line.
_CARBONS_KEPT = 1000
# The room commands that apply to the default room too, so that without a room they act
# on it when plain lines go there: a mute; /members, whose answer there is who is online
# (everyone is in it: the server answers it forbidden, to be asked with who); and /leave,
# to say that it is not left (PROTOCOL.md, "The default room"). Nobody is kicked, banned or
# invited there.
_DEFAULT_ROOM_ACTS = frozenset({"mute", "unmute", "members", "leave"})
# How many messages' current texts the terminal keeps (TerminalUI._texts), the oldest
# forgotten first: what an edit or delete told later is compared with.
_TEXTS_KEPT = 1000
# What _texts holds for a deleted message.
_DELETED = None


def _keep_newest(kept: dict, msg_id: int, value: object) -> None:
    """``kept[msg_id] = value`` as its newest entry; past _TEXTS_KEPT the oldest goes."""
    kept.pop(msg_id, None)
    kept[msg_id] = value
    if len(kept) > _TEXTS_KEPT:
        del kept[next(iter(kept))]
# The refusals of a login that are about the name itself: another name may log in (run).
_NAME_REFUSALS = frozenset({ErrorCode.NAME_TAKEN, ErrorCode.INVALID_NAME, ErrorCode.CONFUSABLE_NAME})
# Rooms' last posts per sender kept for /delete NAME (issue 13); the oldest go first.
_POSTS_KEPT = 1000
# Seconds a moderation act waits, once the server said it was done, for the room's notice
# of it, whose line confirms it (a few ms after the answer; more in a cluster, where it
# comes through Redis); without one a line says it was done (_room_act).
_ACT_NOTICE_WAIT = 1.0
# A command that asks the server (/to NAME, /whois, /who, /history, /rooms, /members, the
# room acts, /block, /edit, /receipts, /register, /password...), on the interactive screen:
# after this many seconds without the answer a line says what is awaited, and the answer
# takes its place (a fast answer comes first, and no line is added: TerminalUI._awaited).
# The prompt was held up to --timeout (10 s) with nothing on screen
# while a slow server did not answer.
_NOTICE_AFTER = 0.25
# /to NAME on the interactive screen: after this long (or --timeout, if shorter) without the
# answer the prompt is given back, plain lines going to NAME unchecked, as the line says.
_LOOKUP_WAIT = 3.0

# --- The terminal session ---------------------------------------------------------------


class TerminalUI:
    """One terminal chat session; :meth:`run` it from the main thread and exit with its result.

    ``interactive`` defaults to whether stdin and stdout are both TTYs. ``timeout``
    bounds /who, /whois, /history and, in pipe mode, the wait for outstanding messages
    when leaving. ``password`` is the password given for scripts (file or environment);
    ``register`` claims the name at login (asking for a new password if none was given);
    ``prompt_passwords`` (default: ``interactive``) allows asking for passwords without
    echo. ``colour`` (default: stdout is a terminal and ``NO_COLOR`` is not set) gives
    names their colours on the interactive screen. Other keyword arguments go to
    :class:`ChatClient` (``tls``, ``cafile``, ``reconnect``, ``reconnect_delay``...).
    """

    def __init__(self, name: str, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT, *,
                 timeout: float = const.SEND_TIMEOUT, stdin: TextIO | None = None,
                 stdout: TextIO | None = None, stderr: TextIO | None = None,
                 interactive: bool | None = None, password: str | None = None, register: bool = False,
                 prompt_passwords: bool | None = None, colour: bool | None = None,
                 **client_options: Any) -> None:
        self._stdin = stdin if stdin is not None else sys.stdin
        self._stdout = stdout if stdout is not None else sys.stdout
        self._stderr = stderr if stderr is not None else sys.stderr
        if interactive is None:
            interactive = self._stdin.isatty() and self._stdout.isatty()
        self._interactive = interactive
        self._input_fallback = None if interactive else read_as_utf8(self._stdin)
        self._readline = load_readline() if interactive else None
        self._hooks = ReadlineHooks.load(self._readline, getattr(self._stdin, "encoding", None)) \
            if self._readline is not None else None
        if colour is None:
            colour = colour_wanted(self._stdout, os.environ)
        self._screen = Screen(self._stdout, interactive, Style(interactive and colour), self._readline, self._hooks,
                              lambda: prompt_for(self._target, self._out_of(self._target) is not None))
        self._timeout = timeout
        self._script_password = password
        self._register = register
        self._prompting = interactive if prompt_passwords is None else prompt_passwords
        # Interactive use: a planned stop or restart of the server is survived like a crash
        # (the library reconnects with backoff; what is typed meanwhile waits and goes out).
        self.client = ChatClient(name, host, port, on_event=self._on_event, password=password, register=register,
                                 **{"reconnect_on_goodbye": True, **client_options})
        self._me = name
        self._carbons: dict[int, Carbon] = {}
        # The holds told (ServerUnavailable with a wait) since the server's storage last
        # failed our messages (0: it is not failing, as far as this session heard).
        self._outage = 0
        # msg_id -> the text of a direct message or post as this screen last showed it
        # (_DELETED: deleted), ours included: a change already shown is not said again (the
        # server tells a recipient the changes it has not confirmed at each login, after
        # messages that carry the new text already), and a later line about one of ours
        # says what it reads now, not what was first sent.
        self._texts: dict[int, str | None] = {}
        # The msg_ids of the messages this screen showed (oldest first, _TEXTS_KEPT of them):
        # what the catch-up leaves out. Not _texts: a change may come before its message
        # (told at a login, PROTOCOL.md "Changes a device missed"), and its text is kept
        # under the message's id before the message was ever shown.
        self._shown_ids: dict[int, None] = {}
        # The msg_ids of the messages this session sent (as a set, oldest first): a room
        # post of ours not among them was made on another device, and is shown as such.
        self._sent_here: dict[int, None] = {}
        # _on_event runs on the receiver thread, and on the catch-up's for what it found:
        # one at a time.
        self._event_lock = threading.RLock()
        self._typing_shown: dict[str, float] = {}  # sender key -> when its last "typing" came
        self._typing_names: dict[str, str] = {}  # "room sender" key -> the name as shown
        # The last line on screen while it tells someone gone offline or come online
        # (_say_presence): its key ((GONE_LINE or BACK_LINE, their name's key)), the rooms
        # whose notices it names, and their `left`'s reason or "" for a `joined` (None: not
        # come yet). Rewritten in place while it is the last line.
        self._presence: tuple[tuple[str, str], list[str], str | None] | None = None
        # For /edit and /delete (issue 13): our last message shown here, wherever it went
        # (the line the user sees just above: after "@João text" it is that one, not the
        # last one to where plain lines go), and the last post of each (room key, sender
        # key) seen, the oldest forgotten first beyond _POSTS_KEPT.
        self._own_last: OutgoingMessage | Carbon | RoomMessage | RoomPost | None = None
        self._last_posts: dict[tuple[str, str], int] = {}
        # Read marks in rooms (issue 13): per room, how many had read our last post there
        # when we last said so (a line only when that grows).
        self._read_by_shown: dict[str, tuple[int, int]] = {}
        self._read_shown: dict[str, int] = {}  # how far each peer's read mark was printed
        self._target: str | None = None
        # The rooms this session saw us put out of (room key -> "kick", "ban", or "left": a
        # leave made on another device of ours), until it
        # sees us in one again (a join, here or from another device) or reconnects (the
        # server knows then: a refusal is its own). A line to one is refused here with what
        # to do, never sent elsewhere instead: plain lines stay where they went, as in IRC
        # clients (going to the default room by itself, the line typed as the kick came, an
        # angry answer meant for the room, went to everyone). Written under _print_lock.
        self._put_out: dict[str, str] = {}
        # The rooms a /leave typed here was asked for (room keys): the "left" of us that the
        # server sends after its answer is this one's, not another device's. Under _print_lock.
        self._leaving_here: set[str] = set()
        # The rooms a /leave typed here got "cannot tell whether it was done" (or no answer in
        # time) for (room keys): the "left" of us that comes later says it was done after all,
        # a late answer whether it was. Under _print_lock.
        self._leave_unsure: set[str] = set()
        # Messages sent and maybe not final yet (pipe mode waits for them when leaving).
        self._sent: list[OutgoingMessage] = []
        # Pipe mode: the messages sent whose first line (✓ sent, ✓ queued, ✗ not sent...) is
        # not printed yet, and whether the connection is down (then the reconnection's lines
        # say why none comes). A line the main thread answers waits for them first
        # (_after_earlier_answers). Guarded by the print lock; _answered wakes that wait.
        # Each one's value: None until its first answer comes, then the lines of its answers
        # (with their times) that wait for the messages before it to have their first:
        # printed in the order of the input (_heard; bounded: _hold_expired).
        self._unanswered: dict[OutgoingMessage, list[tuple[str, float | None]] | None] = {}
        self._holding_since: float | None = None  # (monotonic) a line has waited since
        self._connection_down = False
        # Pipe mode's exit status (_script_status): the input lines that did not go
        # through (not understood, or a message that failed and left _sent), and the
        # status they make (UNAVAILABLE if the server's storage was why for one of them).
        self._gone_wrong = 0
        self._failure_status = ExitCode.REFUSED
        # Guards output (main and receiver threads both print) and the flags below: the
        # screen's lock, so that a line and the state it shows never disagree.
        self._print_lock = self._screen.lock
        self._answered = threading.Condition(self._print_lock)
        # After each reconnection: what another session of ours got or sent meanwhile.
        self._catch_up = CatchUp(self.client, lambda: self._me, self._timeout, self._print_lock, self._event_lock,
                                 lambda msg_id: msg_id in self._shown_ids or msg_id in self._sent_here,
                                 self._handle_event)
        self._read_under_way: queue.Queue | None = None  # _wakeable's reading thread's answer, if it reads
        self.name_refused = False   # the login was refused for the name itself (run asks for another)
        self._lost = False          # the connection ended without us leaving
        self._signed_out = False    # the server ended it for the password (core.SIGNED_OUT): said, status 6
        self._leaving = False       # we are closing the connection ourselves
        self._goodbye: str | None = None
        self._main_ident: int | None = None
        self._main_done = threading.Event()
        # _log_in_again: the main thread has heard that the session is over (no more
        # wake-ups); _wake_over is set once _wake_main has stopped sending them.
        self._lost_heard = False
        self._wake_over = threading.Event()
        self._lines_read = 0        # input lines so far, to name one that cannot be sent
        # The last line typed at the prompt that looked like a command without its "/"
        # (commands.bare_command): not sent, said; the same line typed next is sent.
        self._bare_hinted: str | None = None
        # The interactive screen (all guarded by _print_lock):
        self._names = KnownNames()  # what Tab offers
        # Whose join (or "online" in a room) after a restart is a return, not news: the
        # window's rule (client/returns.py), with who was online as Tab knows it. Guarded
        # by _event_lock (the receiver's and the catch-up's events).
        self._returns = Returns(WaitsClock())
        self._last_sender: str | None = None  # whom /reply answers
        # /history NAME under way: the read mark the server sends after the page waits in
        # _after_history until the page is printed (_held_for_history).
        self._history_of: str | None = None
        self._after_history: list[Read] = []
        self._shown: set[OutgoingMessage] = set()  # own messages whose line is on screen
        self._candidates: list[str] = []  # Tab's answers for the word being completed
        # /receipts changed the setting during the session of this Welcome: (welcome, on).
        # A later welcome (a reconnection) carries the server's value, which then wins.
        self._receipts_set: tuple[object, bool] | None = None
        # Our moderation acts waiting for the room's notice of them, (room, act, name) in
        # canonical form -> set when it came: that line confirms the act (_room_act).
        self._acts_awaited: dict[tuple[str, str, str], threading.Event] = {}

    def run(self) -> int:
        """Connect, read commands until the user leaves or the connection ends; return
        the exit status (an :class:`ExitCode`). Never raises for network trouble."""
        with self._wake_signal():
            try:
                return self._run()
            except KeyboardInterrupt as stop:  # Ctrl-C outside of reading a line: leave all the same
                if self._interactive:
                    self._screen.write_raw("\n")
                return self._leave(drain=False, stop=stop)

    def _run(self) -> int:
        # Held through the login: the receiver starts inside connect() and must not print
        # anything (a message, the end of the connection) before the "connected" line.
        with self._print_lock:
            failed = self._log_in(register=self._register)
            if failed is not None:
                return failed
        self._set_up_completion()
        return self._loop()

    def _log_in(self, register: bool = False) -> ExitCode | None:
        """Log in (claiming the name first if ``register``), asking for the password as
        :func:`auth.log_in` does when a person is there; print the "connected" line and
        return None, or say why not (on stderr) and return the exit status. The print lock
        is held: the receiver starts inside connect() and must not print before that line."""
        try:
            if register and self.client.password is None:
                if not self._prompting:
                    raise auth.PasswordError(auth.needs_password_text())
                self.client.password = auth.ask_new_password(
                    self._me, lambda line: self._complain(auth.error_line(line)))
            # A first login cut on the way is retried like a later reconnection, until
            # the user leaves (math.inf); each retry is said as reconnections are.
            welcome = auth.log_in(self.client, auth.ask_password if self._prompting else None,
                                  lambda line: self._complain(auth.error_line(line)), retry_until=math.inf,
                                  on_retry=lambda event: self._screen.print_locked(
                                      self._screen.stamp(describe_reconnecting(event)), redraw=False,
                                      replace=RECONNECT_LINE, key=RECONNECT_LINE))
        except ServerUnreachable as exc:
            self._complain(auth.error_line(sanitize(str(exc))))
            return ExitCode.NO_SERVER
        except LoginRefused as exc:
            self._complain(auth.refusal_line(exc, scripted=not self._prompting, name=self._me))
            self.name_refused = exc.code in _NAME_REFUSALS
            return auth.refusal_exit_code(exc)
        except auth.PasswordError as exc:
            self._complain(auth.error_line(str(exc)))
            return ExitCode.AUTH_FAILED
        except EOFError:  # the password prompt got the end of the input
            self._complain(auth.error_line(_("no password given")))
            return ExitCode.AUTH_FAILED
        except KeyboardInterrupt as stop:  # Ctrl-C at a password prompt: the login was given up
            if self._interactive:
                self._screen.write_raw_locked("\n")
            self.client.close()
            return ExitCode.TERMINATED if isinstance(stop, Terminated) else ExitCode.INTERRUPTED
        self._me = welcome.name
        self._connection_down = False  # (a login after the session was signed out: answers come again)
        self._catch_up.welcomed(welcome.last_id)  # (the first login's: where this screen began)
        how = (_(" over TLS") if self.client.tls else "") + (_(" (registered)") if welcome.registered else "")
        self._screen.print_locked(self._screen.stamp(_("* connected to {address} as {name}").format(
            address=sanitize(self.client.address), name=sanitize(welcome.name)) + how), redraw=False)
        if self._interactive:
            # How to write to someone, first: the original assignments' clients asked for the
            # recipient and then the message. A line of its own: after the address and name it
            # ran past 80 columns, and the terminal broke it mid-word.
            self._screen.print_locked(self._screen.stamp(_("* type {example} to write to someone, /{help} for the "
                                                           "commands").format(
                example=_("@NAME TEXT"), help=command_names("help")[0])), redraw=False)
        self._ask_who_is_online()
        return None

    def _ask_who_is_online(self) -> None:
        """Tab's names of who is online (README: "from who is online"), asked as /who asks,
        after each login and reconnection: a terminal started after the others came had
        seen nobody join, a reconnected one missed who came and went meanwhile, and in a
        large room no join is told at all (PROTOCOL.md, "Presence"). On a thread of its own
        (never waits: the prompt comes at once, and the receiver thread may not ask); a
        failure leaves the names as they were (notices and /who go on telling). On the
        screen only: a script's lines need no Tab."""
        if not self._interactive:
            return

        def ask() -> None:
            try:
                users = self.client.who(self._timeout)
            except ClientError:
                return
            with self._print_lock:
                self._names.everyone_online(p.name for p in users)

        threading.Thread(target=ask, name="chat-who", daemon=True).start()

    def _log_in_again(self) -> ExitCode | None:
        """The session is over (``_lost``). If the server signed it out for its password
        (SIGNED_OUT: reset by the operator, changed on another device) and a person is
        there to ask, ask for the new password with the login's own prompt (never trying
        the old one) and go on in the same screen: None once logged in again (what was
        said is on screen: the sign-out's line, then "connected"). Otherwise, or when the
        person gives up at the prompt, the exit status."""
        with self._print_lock:
            if not (self._signed_out and self._prompting):
                return self._lost_status()
            # No more wake-ups (_wake_main): from here a Ctrl-C at the prompt is the
            # person's, and gives the login up as at the start.
            self._lost_heard = True
        # Until the receiver has stopped sending them: a wake-up that reached this thread
        # meanwhile has run its handler (at the wait's first call), ignored while _lost is set.
        self._wake_over.wait(_WAKE_RETRY * 20)
        with self._print_lock:
            self._wake_over.clear()
            self._lost = self._signed_out = False
            self._goodbye = None
            if self._interactive:
                self._screen.write_raw_locked("\n")  # the prompt the wake-up left: the password's comes below it
            self.client.password = None  # refused now: the server asks for it (auth_required), the prompt follows
            self._catch_up.coming_locked()  # (from before the login: the changes it tells wait for it)
            failed = self._log_in()
            self._lost_heard = False  # a later end wakes the main thread again
        if failed is not None:
            self._catch_up.cancelled()
            return failed
        with self._event_lock:
            self._returns.connected()  # a login, not a reconnection: joins are news at once
        # What came meanwhile to the other sessions, as after a reconnection.
        self._catch_up.start(counted=True)
        return None

    def _loop(self) -> int:
        while True:
            try:
                line = self._read_line()
            except EOFError:
                if self._interactive:
                    self._screen.write_raw("\n")  # after ^D the cursor is still on the prompt line
                return self._leave(drain=not self._interactive)
            except KeyboardInterrupt as stop:
                if not self._lost or isinstance(stop, Terminated):
                    if self._interactive:
                        self._screen.write_raw("\n")
                    return self._leave(drain=False, stop=stop)
                line = None  # the receiver woke us: the connection is gone
            if line is None or self._lost:
                ended = self._log_in_again()
                if ended is not None:
                    return ended
                if line is None:
                    continue
            self._lines_read += 1
            line = redecoded(line, self._input_fallback)
            if self._lines_read == 1 and not self._interactive:
                # A file saved as "UTF-8 with BOM" (Windows Notepad) starts with U+FEFF; left
                # in, it made "@Bob ..." a plain line, sent to the whole room.
                line = line.removeprefix("\ufeff")
            refusal = undecodable_line(line, self._lines_read, getattr(self._stdin, "encoding", None))
            if refusal is not None:
                self._after_earlier_answers()
                self._screen.emit(f"! {refusal}")
                self._sent_nothing()
                continue
            if self._hint_bare_command(line):
                continue
            command = parse_command(line, self._target)
            if isinstance(command, Quit):
                return self._leave(drain=not self._interactive)
            if not isinstance(command, (SendText, Blank)):
                self._after_earlier_answers()
            self._execute(command)

    def _hint_bare_command(self, line: str) -> bool:
        """True when ``line``, typed at the prompt, is a command without its "/" (``sair``,
        ``lista``, ``lookup Bob``: the original assignments' clients took them so) and not
        the line just said so: then one line says which command it looks like, and nothing
        is sent; typed again at once, it goes as a message. Not in a pipe: a script's lines
        are its text."""
        meant = bare_command(line) if self._interactive else None
        typed = " ".join(line.split())
        if meant is None or typed == self._bare_hinted:
            self._bare_hinted = None
            return False
        self._bare_hinted = typed
        self._screen.emit(_("! did you mean {command}? nothing was sent; type {line} again to send it as a "
                            "message").format(command=sanitize(meant), line=sanitize(typed)))
        return True

    def _lost_status(self) -> ExitCode:
        """The exit status once the connection is gone: AUTH_FAILED if the server signed
        the session out for its password, else NO_SERVER."""
        return ExitCode.AUTH_FAILED if self._signed_out else ExitCode.NO_SERVER

    def _read_line(self) -> str | None:
        """The next input line; None if the connection is already lost; EOFError at the end."""
        self._screen.reading = True
        try:
            # Checked after setting _reading: a wake-up from now on raises KeyboardInterrupt.
            if self._lost:
                return None
            if self._interactive:
                return self._screen.input_line()
            line = self._wakeable(self._stdin.readline)
            if not line:
                raise EOFError
            return line
        finally:
            self._screen.reading = False

    def _wakeable(self, read: Callable[[], str]) -> str:
        """``read()`` of piped input, in a way :meth:`_wake_main` interrupts. Where the
        wake-up is a signal (pthread_kill), it interrupts the read itself. Where it is not
        (Windows: ``_thread.interrupt_main``, seen between two bytecodes only, never inside
        a read, so a script's client told the server was gone waited for its next input
        line), the read runs in a thread of its own while this one waits for it in short
        waits, between which the wake-up (or Ctrl-C) raises here. A read given up so is
        the next call's. (Not the console's: Windows ends a console read that Ctrl-C
        interrupts as at the end of the input unless it is the main thread's; a person
        there reads why and presses Enter.)"""
        if hasattr(signal, "pthread_kill") or self._main_ident is None:
            return read()
        if self._read_under_way is None:
            answer: queue.Queue[tuple[str, BaseException | None]] = queue.Queue(1)

            def run() -> None:
                try:
                    answer.put((read(), None))
                except BaseException as exc:  # EOFError, an undecodable byte...: raised where it was asked
                    answer.put(("", exc))

            threading.Thread(target=run, name="chat-input", daemon=True).start()
            self._read_under_way = answer
        while True:
            try:
                line, failure = self._read_under_way.get(timeout=_WAKE_RETRY)
            except queue.Empty:
                continue
            self._read_under_way = None
            if failure is not None:
                raise failure
            return line

    def _execute(self, command: Command) -> None:
        """Carry ``command`` out; if it asks the server, with the screen's notice while its
        answer is awaited (:meth:`_awaited`)."""
        if isinstance(command, Blank):
            return
        with self._screen.awaiting(self._awaited(command), _NOTICE_AFTER):
            self._carry_out(command)

    def _awaited(self, command: Command) -> str | None:
        """What the screen says while ``command`` waits for the server's answer
        (:meth:`Screen.awaiting`); None for a command that asks nothing."""
        if isinstance(command, SetTarget):
            if command.to is None or is_room(command.to):
                return None
            with self._print_lock:  # "João" for /to joão, as the line after it says
                return awaiting_words("whois", self._names.spelt(command.to))
        if isinstance(command, ShowWhois):
            return awaiting_words("whois", command.name)
        if isinstance(command, ShowWho):
            return awaiting_words("who")
        if isinstance(command, ShowHistory):
            return awaiting_words("history", command.peer)
        if isinstance(command, ShowRooms):
            return awaiting_words("rooms")
        if isinstance(command, ShowMembers):
            room = command.room if command.room is not None else self._target if is_room(self._target) \
                else const.DEFAULT_ROOM
            return awaiting_words("members", const.DEFAULT_ROOM if is_default_room(room) else room)
        if isinstance(command, RoomJoin):
            return awaiting_words("join", room=command.room)
        if isinstance(command, (RoomLeave, RoomAct)):
            word = "leave" if isinstance(command, RoomLeave) else command.act
            room = command.room if command.room is not None else self._target if is_room(self._target) \
                else const.DEFAULT_ROOM if word in _DEFAULT_ROOM_ACTS else None
            if room is None or (word == "leave" and is_default_room(room)):
                return None  # (said at once: there is nothing to ask)
            name = "" if word in ("leave", "topic") else command.name  # type: ignore[union-attr]
            return awaiting_words(word, name, const.DEFAULT_ROOM if is_default_room(room) else room)
        if isinstance(command, SetBlocked):
            return awaiting_words("block" if command.blocked else "unblock", command.name)
        if isinstance(command, EditLast):
            return awaiting_words("edit")
        if isinstance(command, DeleteLast):  # (a post of someone's: in the room plain lines go to)
            return awaiting_words("delete", command.name or "", self._target or const.DEFAULT_ROOM)
        if isinstance(command, SetReceipts):  # (alone, or the setting it is already: nothing is asked)
            current = self.receipts_on()
            if command.on is None or current is None or command.on == current:
                return None
            return awaiting_words("receipts on" if command.on else "receipts off")
        # The account's: counted from when their password prompt is answered (Screen.awaiting).
        if isinstance(command, (ClaimName, SetPassword, DeleteAccount)):
            word = {ClaimName: "register", SetPassword: "password", DeleteAccount: "unregister"}[type(command)]
            return awaiting_words(word, self._me)
        return None

    def _carry_out(self, command: Command) -> None:
        if isinstance(command, Mistake):
            self._screen.emit(f"! {sanitize(command.message)}")
            self._sent_nothing()
        elif isinstance(command, SendText):
            self._send(command)
        elif isinstance(command, ReplyText):
            with self._print_lock:
                sender = self._last_sender
            if sender is None:
                self._screen.emit(_("! nobody has sent you a direct message yet, so /{reply} has nobody to answer; "
                                    "nothing was sent (use @NAME TEXT)").format(reply=command_names("reply")[0]))
                self._sent_nothing()
            else:
                self._send(SendText(sender, command.text))
        elif isinstance(command, SetTarget):
            self._set_target(command.to)
        elif isinstance(command, ShowWho):
            try:
                users = self.client.who(self._timeout)
                with self._print_lock:
                    self._names.everyone_online(p.name for p in users)
                if self._interactive:
                    self._screen.emit_block(format_users_in_columns(users, self._screen.columns() - INDENT))
                else:
                    self._screen.emit(format_users(users))
            except ClientError as exc:
                self._screen.emit(_("! /{command} failed: {why}").format(command=command_names("who")[0],
                                                                         why=sanitize(str(exc))))
        elif isinstance(command, ShowWhois):
            try:
                result = self.client.lookup(command.name, self._timeout)  # (up to --timeout: it is what was asked)
                # The server's look-alike first (every node's users online, never us: PROTOCOL.md,
                # "user"); else this terminal's own guess (an older server, a contact offline, us).
                like = None if result.status != "unknown" else result.like or self._like(command.name, yourself=True)
                line = format_lookup(result, like)
            except ClientError as exc:
                line = _("! /{command} failed: {why}").format(command=command_names("whois")[0],
                                                              why=sanitize(str(exc)))
            self._screen.emit(line)
        elif isinstance(command, ShowHistory):
            if is_default_room(command.peer):  # (the server refuses it forbidden, which says nothing of why)
                self._screen.emit(_("! /{command}: {room} is the default room, which keeps no history; /{command} "
                                    "#ROOM shows another room's, /{command} NAME your messages with NAME").format(
                    command=command_names("history")[0], room=const.DEFAULT_ROOM))
                return
            with self._print_lock:
                self._history_of = canonical(command.peer)
            try:
                try:
                    entries, read_up_to = self.client.history_read(command.peer, command.count, self._timeout)
                except ClientError as exc:
                    self._screen.emit(_("! /{command} failed: {why}").format(command=command_names("history")[0],
                                                                             why=self._failure(exc, command.peer)))
                    return
                # A room's name is not a person's to mistype.
                like = None if entries or command.peer.startswith("#") else self._like(command.peer, yourself=True)
                if entries:  # (a conversation: the name is someone's; "joao", nobody's, is no name for Tab)
                    with self._print_lock:
                        self._names.known(command.peer)
                under = " " * (INDENT + 4) if self._interactive else None  # below the entry's "  ["
                with self._print_lock:  # a read told live, if the page did not say (an older server)
                    known = self._read_shown.get(canonical(command.peer))
                    if known is not None and (read_up_to is None or known > read_up_to):
                        read_up_to = known
                    if read_up_to is not None:
                        # Shown on the page's messages ("(read)", as the page shows it): the
                        # mark the server sends after the page (held above) is no news then.
                        self._read_shown[canonical(command.peer)] = read_up_to
                self._screen.emit_block(format_history(command.peer, entries, self._me, under, read_up_to, like))
            finally:
                with self._print_lock:
                    held, self._after_history, self._history_of = self._after_history, [], None
                for event in held:
                    self._on_event(event)
        elif isinstance(command, SetBlocked):
            self._set_blocked(command)
        elif isinstance(command, ClaimName):
            self._claim_name()
        elif isinstance(command, SetPassword):
            self._change_password()
        elif isinstance(command, DeleteAccount):
            self._unregister()
        elif isinstance(command, ShowHelp):
            # On the screen, under the time stamp (INDENT columns) and wrapped to fit: a
            # terminal breaks a long line mid-word back to column 0.
            self._screen.emit_block(help_lines(self._screen.columns() - INDENT if self._interactive else None,
                                               command.about))
        elif isinstance(command, SetReceipts):
            self._set_receipts(command)
        elif isinstance(command, (RoomJoin, RoomLeave, ShowRooms, ShowMembers, RoomAct)):
            self._room_command(command)
        elif isinstance(command, (EditLast, DeleteLast)):
            self._change_last(command)

    def _set_target(self, to: str | None) -> None:
        """/to NAME, /to #ROOM, /all: plain lines go there from now on, said in one line. A
        person's name is asked about first (whois, within ``timeout``), so that the line
        says now what the first message would have: online; offline (messages wait for
        their next login); or nobody by that name has logged in, so they are refused (and
        whom the name looks like). Plain lines go to the name in every case: a line meant
        for it never goes to the room, or to whom they went before, instead. When the
        server cannot answer (reconnecting, no answer in time), the line says the name
        was not checked. On the interactive screen the answer is awaited for _LOOKUP_WAIT
        at most (a line saying the name is being looked up meanwhile: :meth:`_awaited`); a
        script's line waits for it up to ``timeout``."""
        if to is None or is_room(to):
            self._target = to
            self._screen.emit(_("* plain lines now go to {name}").format(name=sanitize(to)) if to
                              else _("* plain lines now go to the room"))
            return
        with self._print_lock:  # the prompt and the lines say "João" for /to joão
            to = self._names.spelt(to)
        why = ""
        try:
            result = self.client.lookup(to, min(self._timeout, _LOOKUP_WAIT) if self._interactive else self._timeout)
        except ClientError as exc:  # reconnecting, no answer within the timeout, refused
            result, why = None, self._failure(exc)
        if result is not None and result.status != "unknown":
            to = result.name  # as the server spells it
        if result is None or result.status != "unknown":
            with self._print_lock:
                self._names.known(to)
        self._target = to
        self._watch(to)
        name = sanitize(to)
        if result is None:
            # (after a semicolon: ``why`` may have brackets of its own, "not connected (reconnecting: ...)")
            line = _("* plain lines now go to {name}; the name could not be checked: {why}").format(name=name, why=why)
        elif result.status == "offline":
            line = _("* plain lines now go to {name}, who is offline: they wait for their next login").format(
                name=name)
        elif result.status == "unknown":
            like = self._like(to)
            line = (_("! plain lines now go to {name}, but nobody called {name} has ever logged in here, so they "
                      "are not sent: did you mean {like}?") if like else
                    _("! plain lines now go to {name}, but nobody called {name} has ever logged in here, so they "
                      "are not sent: check the name")).format(name=name, like=sanitize(like or ""))
            self._sent_nothing()  # (a script's line that did not do what it was for)
        else:
            line = _("* plain lines now go to {name}").format(name=name)
        self._screen.emit(line)

    # --- Edit and delete (issue 13) ---------------------------------------------------------

    def _post_seen(self, post: RoomPost | RoomMessage) -> None:
        """Keep the id of the last post of each sender in each room, the default room's
        under "" (for /delete NAME); a post clears that sender's "typing" there."""
        with self._print_lock:
            room = canonical(post.room_name) if isinstance(post, RoomPost) else ""
            key = (room, canonical(post.sender))
            self._typing_shown.pop(key[0] + " " + key[1], None)
            self._last_posts.pop(key, None)
            self._last_posts[key] = post.msg_id
            if len(self._last_posts) > _POSTS_KEPT:
                del self._last_posts[next(iter(self._last_posts))]

    def _change_last(self, command: EditLast | DeleteLast) -> None:
        """/edit TEXT, /delete: our last message shown here, wherever it went (to where
        plain lines go, or with "@NAME text" elsewhere); /delete NAME: NAME's
        last post in the room plain lines go to. The server tells everyone who has it
        (our line here says it was done)."""
        word = "edit" if isinstance(command, EditLast) else "delete"
        target = self._target
        with self._print_lock:
            if isinstance(command, DeleteLast) and command.name is not None:
                if target is not None and not is_room(target):
                    msg_id = None
                    why = _("/{command} NAME deletes a post in the room plain lines go to: /{join} #ROOM first")
                else:  # a named room, or the default room ("": an administrator's delete)
                    msg_id = self._last_posts.get((canonical(target) if target is not None else "",
                                                   canonical(command.name)))
                    why = _("no post of {name} in {room} was shown here")
            else:
                own = self._own_last
                msg_id = own.msg_id if own is not None else None
                why = _("you have sent no message in this session (or it is not stored yet)")
        if msg_id is None:
            self._screen.emit("! " + why.format(command=command_names(word)[0], join=command_names("join")[0],
                                                name=sanitize(getattr(command, "name", "") or ""),
                                                room=sanitize(target or const.DEFAULT_ROOM)))
            return
        try:
            if isinstance(command, EditLast):
                self.client.edit(msg_id, command.text, self._timeout)
            else:
                self.client.delete(msg_id, self._timeout)
        except ClientError as exc:
            self._change_failed(command_names(word)[0], exc)
            return
        with self._print_lock:
            message = describe_message(msg_id, self._shown_text_of(msg_id))
        self._keep_text(msg_id, command.text if isinstance(command, EditLast) else _DELETED)
        said = _("* {message} edited") if word == "edit" else _("* {message} deleted")
        self._screen.emit(said.format(message=message))

    # --- Rooms ------------------------------------------------------------------------------

    def _room_command(self, command: RoomJoin | RoomLeave | ShowRooms | ShowMembers | RoomAct) -> None:
        """Run a room command, saying the outcome in one line (or a block); a room left
        out means the one plain lines go to."""
        word = {RoomJoin: "join", RoomLeave: "leave", ShowRooms: "rooms", ShowMembers: "members"}.get(
            type(command)) or command.act  # type: ignore[union-attr]
        room = getattr(command, "room", None)
        if room is None and not isinstance(command, ShowRooms):
            room = self._target if is_room(self._target) else None
            if room is None and word in _DEFAULT_ROOM_ACTS:
                room = const.DEFAULT_ROOM  # plain lines go to the default room: these work there
            if room is None:
                self._screen.emit(_("! /{command}: plain lines go to the default room, which has no such thing; name a "
                                    "room (/{command} #ROOM ...) or /{join} #ROOM first").format(
                    command=command_names(word)[0], join=command_names("join")[0]))
                return
        if room is not None and is_default_room(room):
            room = const.DEFAULT_ROOM  # (as the server spells it, whatever case was typed)
            if isinstance(command, RoomLeave):
                self._screen.emit(_("! /{command}: {room} is the default room, which everyone logged in is in; it "
                                    "cannot be left (/{quit} leaves the chat)").format(
                    command=command_names(word)[0], room=room, quit=command_names("quit")[0]))
                return
        if isinstance(command, RoomLeave) and self._out_of(room) is not None:
            self._leave_out_of(room)  # type: ignore[arg-type]
            return
        try:
            if isinstance(command, RoomJoin):
                info = self.client.join(command.room, timeout=self._timeout)
                with self._print_lock:
                    self._put_out.pop(canonical(info.room_name), None)
                self._target = None if is_default_room(info.room_name) else info.room_name
                self._screen.emit(format_room_info(info))
            elif isinstance(command, RoomLeave):
                with self._print_lock:
                    self._leaving_here.add(canonical(room))
                try:
                    self.client.leave(room, self._timeout)
                except (RequestFailed, RequestTimeout) as exc:
                    # Refused: no "left" will come. Unsure (or no answer in time): a "left", or
                    # the late answer (_late_answer_words), says whether it was done.
                    with self._print_lock:
                        told_left = canonical(room) not in self._leaving_here  # (its "left" came already)
                        self._leaving_here.discard(canonical(room))
                        if exc.uncertain and not told_left:
                            self._leave_unsure.add(canonical(room))
                    if not (exc.uncertain and told_left):
                        raise
                if self._target is not None and canonical(self._target) == canonical(room):
                    self._target = None
                    self._screen.emit(_("* you left {room}; plain lines go to the room").format(room=sanitize(room)))
                else:  # (plain lines go on where they went)
                    self._screen.emit(_("* you left {room}").format(room=sanitize(room)))
            elif isinstance(command, ShowRooms):
                self._screen.emit_block(format_rooms(self.client.rooms(self._timeout)))
            elif isinstance(command, ShowMembers):
                members = [MemberEntry(p.name, "member", True) for p in self.client.who(self._timeout)] \
                    if room == const.DEFAULT_ROOM else self.client.members(room, self._timeout)
                self._screen.emit(format_members(room, members))
            else:
                self._room_act(command, room)
        except ClientError as exc:
            # The room names the sentence of a room's refusal (a moderation act's only where
            # the error says whom it is about: its not_member may be about the person acted on).
            act = command if isinstance(command, RoomAct) else None
            self._screen.emit(_("! /{command} failed: {why}").format(
                command=command_names(word)[0], why=self._failure(exc, room, act)))

    def _leave_out_of(self, room: str) -> None:
        """/leave of a room we were put out of: we are out already (the server would refuse
        it, not a member); plain lines that went there go to the default room."""
        if self._target is not None and canonical(self._target) == canonical(room):
            self._target = None
            self._screen.emit(_("* you are no longer in {room}; plain lines now go to the room").format(
                room=sanitize(room)))
        else:
            self._screen.emit(_("* you are no longer in {room}").format(room=sanitize(room)))

    def _room_act(self, command: RoomAct, room: str) -> None:
        """A moderation act. The server announces it in the room, to us too when we are in
        it, right after its answer: that notice's line confirms it. Without one within
        _ACT_NOTICE_WAIT (an act that changed nothing, such as an unban of someone not
        banned; an administrator outside the room) a line here says it was done."""
        act, name = command.act, command.name
        key = (canonical(room), act, canonical(self._me if act == "topic" else name))
        announced = self._acts_awaited[key] = threading.Event()
        try:
            self._request_act(command, room)
            self._screen.answered()  # (its line comes from the receiver, or after the wait: no notice meanwhile)
            if announced.wait(_ACT_NOTICE_WAIT):
                return
        finally:
            if self._acts_awaited.get(key) is announced:
                del self._acts_awaited[key]
        shown = "" if act == "topic" else f" {sanitize(name)}"
        self._screen.emit(_("* done: /{command}{name} in {room}").format(command=command_names(act)[0], name=shown,
                                                                         room=sanitize(room)))

    def _request_act(self, command: RoomAct, room: str) -> None:
        """Ask the server for a moderation act; returns once it was done."""
        act, name = command.act, command.name
        if act == "topic":
            self.client.set_topic(room, name, self._timeout)
        elif act == "invite":
            self.client.invite(room, name, self._timeout)
        elif act == "kick":
            self.client.kick(room, name, command.reason, self._timeout)
        elif act == "ban":
            self.client.ban(room, name, command.reason, self._timeout)
        elif act == "unban":
            self.client.unban(room, name, self._timeout)
        elif act == "mute":
            self.client.mute(room, name, command.seconds, command.reason, self._timeout)
        elif act == "unmute":
            self.client.unmute(room, name, self._timeout)

    @staticmethod
    def _failure(exc: ClientError, about: str | None = None, act: RoomAct | None = None) -> str:
        """Why a request failed; ``about``: the recipient or room the request named; ``act``:
        the room's moderation act it was (in room ``about``), said in its own words where it
        has them (display.explain_act_refusal)."""
        if isinstance(exc, RequestFailed):
            return explain_act_refusal(exc, act.act, act.name, about) if act is not None \
                else explain_refusal(exc, about)
        return sanitize(str(exc))

    def _change_failed(self, command: str, exc: ClientError, why: str | None = None) -> None:
        """Say that /``command``, which changes something (a block, a password, an edit...),
        failed, and why (``why``, else :meth:`_failure`'s words); unless its request was
        written and its answer never came (the connection lost first: ``uncertain``; or none
        within the timeout): then the server may have made the change, and the line says so
        rather than "failed"."""
        why = self._failure(exc) if why is None else why
        if getattr(exc, "uncertain", False) or isinstance(exc, RequestTimeout):
            self._screen.emit(_("! /{command}: the server's answer did not come, so it may or may not have been "
                                "done: {why}").format(command=command, why=why))
        else:
            self._screen.emit(_("! /{command} failed: {why}").format(command=command, why=why))

    def _set_blocked(self, command: SetBlocked) -> None:
        name = sanitize(command.name)
        try:
            (self.client.block if command.blocked else self.client.unblock)(command.name, self._timeout)
        except ClientError as exc:
            act = "block" if command.blocked else "unblock"
            # In the request's own words where it has them (one's own name: display.ACT_TEXTS).
            why = explain_act_refusal(exc, act, command.name) if isinstance(exc, RequestFailed) else None
            self._change_failed(command_names(act)[0], exc, why)
            return
        self._screen.emit((_("* blocked {name}: their messages will not reach you") if command.blocked
                           else _("* unblocked {name}")).format(name=name))

    def receipts_on(self) -> bool | None:
        """This user's read receipts setting as the server keeps it (the welcome's, or what
        /receipts set since), or None when the server has no read receipts."""
        told = getattr(self.client, "read_receipts", None)  # the library's: what the server last said
        if isinstance(told, bool):
            return told
        welcome = getattr(self.client, "welcome", None)
        if self._receipts_set is not None and self._receipts_set[0] is welcome:
            return self._receipts_set[1]
        return getattr(welcome, "read_receipts", None)

    def _set_receipts(self, command: SetReceipts) -> None:
        """/receipts [on|off]: say the setting, or change it on the server (every device of
        this user follows it) and say the outcome."""
        word = command_names("receipts")[0]
        current = self.receipts_on()
        if current is None:
            self._screen.emit(_("! /{command}: this server has no read receipts").format(command=word))
            return
        if command.on is not None and command.on != current:
            welcome = self.client.welcome
            try:
                self.client.set_read_receipts(command.on, self._timeout)
            except ClientError as exc:
                self._change_failed(word, exc)
                return
            self._receipts_set = (welcome, command.on)
            current = command.on
        self._screen.emit((_("* read receipts are on: people see when you have read their messages and when you type, "
                             "and you see theirs (/{command} off turns them off)") if current else
                           _("* read receipts are off: nobody sees when you have read their messages or type, "
                             "and you do not see theirs (/{command} on turns them on)")).format(command=word))

    def _claim_name(self) -> None:
        """/register: claim the current name with a new password (never typed on the line)."""
        register = command_names("register")[0]
        if self.client.registered:
            self._screen.emit(_("! {name} is registered already").format(name=sanitize(self._me)))
            return
        try:
            if self._script_password is not None:
                password = self._script_password
            elif self._prompting:
                with self._screen.holding_output():
                    # Said at once, between the prompts (the held lines wait for the password).
                    password = auth.ask_new_password(
                        self._me, lambda line: self._screen.write_raw(f"! /{register}: {line}\n"))
            else:
                self._screen.emit(_("! /{command} needs a password typed without echo: run the client in a terminal, "
                                    "or set {variable} or use --password-file FILE").format(
                    command=register, variable=auth.PASSWORD_ENV))
                return
            self.client.register(password, self._timeout)
        except auth.PasswordError as exc:
            self._screen.emit(f"! /{register}: {sanitize(str(exc))}")
            return
        except EOFError:
            self._screen.emit(f"! /{register}: " + _("no password given"))
            return
        except ClientError as exc:
            self._change_failed(register, exc)
            return
        self._screen.emit(_("* {name} is now registered: log in with its password from now on").format(
            name=sanitize(self._me)))

    def _change_password(self) -> None:
        """/password: the current password and a new one (twice), asked without echo as the
        login asks; never typed on the line. Only in a terminal: a script has no one to ask."""
        word = command_names("password")[0]
        if not self.client.registered:
            self._screen.emit(_("! /{command}: {name} has no password: /{register} claims the name with one").format(
                command=word, name=sanitize(self._me), register=command_names("register")[0]))
            return
        if not self._prompting:
            self._screen.emit(_("! /{command} needs the passwords typed without echo: run the client in a "
                                "terminal").format(command=word))
            return
        try:
            with self._screen.holding_output():
                old = auth.ask_password(_("current password for {name}: ").format(name=self._me))
                new = auth.ask_new_password(self._me, lambda line: self._screen.write_raw(f"! /{word}: {line}\n"))
            self.client.change_password(old, new, self._timeout)
        except auth.PasswordError as exc:
            self._screen.emit(f"! /{word}: {sanitize(str(exc))}")
            return
        except EOFError:
            self._screen.emit(f"! /{word}: " + _("no password given; nothing was changed"))
            return
        except ClientError as exc:
            self._change_failed(word, exc)
            return
        self._screen.emit(_("* the password of {name} is changed: log in with the new one from now on").format(
            name=sanitize(self._me)))

    def _unregister(self) -> None:
        """/unregister: delete this account, once its password is typed (without echo) as
        the confirmation; Enter alone keeps it. Only in a terminal: a script has no one to ask."""
        word = command_names("unregister")[0]
        if not self.client.registered:
            self._screen.emit(_("! /{command}: {name} is a guest name, not an account: it is forgotten on its own "
                                "after you leave").format(command=word, name=sanitize(self._me)))
            return
        if not self._prompting:
            self._screen.emit(_("! /{command} needs the password typed without echo: run the client in a "
                                "terminal").format(command=word))
            return
        try:
            with self._screen.holding_output():
                self._screen.write_raw(_("! /{command} deletes the account {name} for good: its password, settings, "
                                         "blocks, rooms and the messages waiting for it; what you sent stays with its "
                                         "recipients. The name is held for a while, then anyone may take it.\n").format(
                    command=word, name=sanitize(self._me)))
                password = auth.ask_password(_("password of {name}, to delete it (Enter alone: keep it): ").format(
                    name=self._me))
            if not password:
                self._screen.emit(f"! /{word}: " + _("no password given; nothing was deleted"))
                return
            self.client.unregister(password, self._timeout)
        except EOFError:
            self._screen.emit(f"! /{word}: " + _("no password given; nothing was deleted"))
            return
        except ClientError as exc:
            self._change_failed(word, exc)
            return
        self._screen.emit(_("* the account {name} was deleted").format(name=sanitize(self._me)))

    def _sent_nothing(self) -> None:
        """A line of the input could not be carried out: for the exit status."""
        self._gone_wrong += 1

    def _settle(self, message: OutgoingMessage) -> bool:
        """Count ``message`` for the exit status if it is settled (see
        :attr:`OutgoingMessage.settled`); return whether it was."""
        if not message.settled:
            return False
        if message.state == FAILED:
            self._gone_wrong += 1
            if failure_status((message.error or ("",))[0]) == ExitCode.UNAVAILABLE:
                self._failure_status = ExitCode.UNAVAILABLE
        return True

    def _send(self, command: SendText) -> None:
        act = self._out_of(command.to)
        if act is not None:
            self._refuse_out_of_room(command, act)
            return
        if self._interactive:
            self._show_own(self._submit(command))
            return
        # Held while the message is sent and put among those awaited: the receiver prints
        # its answers under this lock, so the first of them cannot come before that.
        with self._event_lock:
            message = self._submit(command)
            if not (message.state == FAILED and not message.submitted or message.waiting):
                with self._print_lock:
                    self._unanswered[message] = None
        if message.state == FAILED and not message.submitted:
            # It failed inside send_*; the library reports that only through the tracker.
            line = describe_status(message, message.state, message.error)
            if line is not None:
                self._after_earlier_answers()
                self._screen.emit(line)
            self._settle(message)
            return
        if message.waiting:
            where = message.to or message.room
            line = _("… not connected: will be sent to the room once reconnected: {text}") if where is None \
                else _("… not connected: will be sent to {name} once reconnected: {text}")
            self._after_earlier_answers()
            self._screen.emit(line.format(name=sanitize(where), text=preview(message.text)))
        self._sent = [m for m in self._sent if not self._settle(m)]
        self._sent.append(message)

    def _out_of(self, to: str | None) -> str | None:
        """The act ("kick", "ban") that put us out of room ``to``, as this session last saw
        (:attr:`_put_out`); None when ``to`` is no such room. (Read without the lock: the
        prompt asks under it.)"""
        return self._put_out.get(canonical(to)) if is_room(to) else None

    def _refuse_out_of_room(self, command: SendText, act: str) -> None:
        """``command`` goes to a room we were put out of: nothing is sent (the server would
        refuse it), and the line says what to do."""
        why = out_of_room_words(command.to or "", act)
        self._after_earlier_answers()
        if self._interactive:  # (the line typed is on the screen just above)
            self._screen.emit(f"{_(FAILED_MARKS[NOT_SENT])}: {why}")
        else:
            self._screen.emit(_("✗ not sent to {room}: {text} — {why}").format(
                room=sanitize(command.to or ""), text=preview(command.text), why=why))
        self._sent_nothing()

    def _submit(self, command: SendText) -> OutgoingMessage:
        """Send ``command``'s text where it goes; its tracker."""
        if is_room(command.to):
            message = self.client.send_to_room(command.to, command.text)  # type: ignore[arg-type]
        elif command.to is None:
            message = self.client.send_room(command.text)
        else:
            with self._print_lock:  # "you → João" for @joão, as the server spells the name
                to = self._names.spelt(command.to)
            message = self.client.send_direct(to, command.text)
            self._watch(to)
        with self._print_lock:  # for /edit and /delete
            self._own_last = message
        return message

    def _after_earlier_answers(self) -> None:
        """Pipe mode, before the main thread answers a line (a mistake, a message refused
        before it was sent, a command's answer): wait until each message of the lines
        before it had its first line from the server (✓ sent, ✓ queued, ✗ not sent...), so
        that the answers come in the order of the input, as the lines they answer (theirs
        among themselves too: :meth:`_heard`). Not
        past ``timeout``, nor while the connection is down (the reconnection's lines say
        why): the messages still unanswered then are not waited for again, and their
        lines come when their answers do. The delivery of a sent message (✓✓) is not
        waited for: it waits on the recipient's client, and says whose message it is."""
        if self._interactive:
            return
        with self._answered:
            self._answered.wait_for(lambda: not self._unanswered or self._connection_down, self._timeout)
            self._release_held(everything=True)

    def _heard(self, line: str, event: Event) -> None:
        """Pipe mode: print the receiver's ``line`` for ``event``; a message's first line
        is what :meth:`_after_earlier_answers` waits for. The lines of a message's answers
        wait for the first answer of each message sent before it, so that they come in the
        order of the input: the server refuses a message at once, and accepts one once it
        is stored, so "✗ not sent to Pedro" came before "✓ sent to João" of the line above
        it. Once one has waited ``timeout`` (as long as a line the client answers itself
        may), they all go out with the next event, or the next line the client answers;
        all at once too when the connection goes, and at the end (:meth:`_release_held`);
        else with the answer they wait for."""
        with self._answered:
            message = event.message if isinstance(event, MessageUpdate) else None
            if message is None or message not in self._unanswered:
                self._release_held(everything=self._hold_expired())
                self._screen.print_locked(self._screen.stamp(line), redraw=True, at=stamped_at(event))
                return
            held = self._unanswered[message]
            if held is None:
                held = self._unanswered[message] = []
                self._answered.notify_all()
            held.append((line, stamped_at(event)))
            self._release_held(everything=self._connection_down or self._hold_expired())

    def _hold_expired(self) -> bool:
        """Whether a line held by :meth:`_heard` has waited ``timeout`` already."""
        return self._holding_since is not None and time.monotonic() - self._holding_since >= self._timeout

    def _release_held(self, everything: bool = False) -> None:
        """Print the held lines of the messages whose turn it is (every message before
        them answered), or, ``everything``, all of them, no message waited for since; the
        print lock is held."""
        while self._unanswered:
            message, held = next(iter(self._unanswered.items()))
            if held is None and not everything:
                break
            del self._unanswered[message]
            for line, at in held or ():
                self._screen.print_locked(self._screen.stamp(line), redraw=True, at=at)
        held_now = any(held for held in self._unanswered.values())
        if not held_now:
            self._holding_since = None
        elif self._holding_since is None:
            self._holding_since = time.monotonic()

    def _show_own(self, message: OutgoingMessage) -> None:
        """Interactive: the message's one line, in place of the line typed, with its state
        as it is now; later states rewrite it (see :meth:`_update_own`)."""
        with self._print_lock:
            # One look at the state (the receiver may change it meanwhile): the line shows
            # it, and unless it is final the line waits for the updates that follow it.
            state, error = message.state, message.error
            self._known_if_taken(message, state)
            line = describe_own(message, state, error, self._screen.style)
            self._screen.print_locked(line, redraw=True, replace=TYPED_LINE, key=message)
            if state not in message.final_states:
                self._shown.add(message)

    def _known_if_taken(self, message: OutgoingMessage, state: str) -> None:
        """Tab offers the name a direct message went to once the server took it for them
        (a name nobody has, "@conceicao oi" refused, is no name to offer); the lock is held."""
        if message.to is not None and state in (SENT, QUEUED, DELIVERED):
            self._names.known(message.to)

    def _update_own(self, update: MessageUpdate) -> None:
        """Interactive: a message we sent changed state. Its line is rewritten if it is
        still the last one, else a short follow-up line says it."""
        now = self._text_now(update.message)  # before the lock: it takes it
        with self._print_lock:
            message = update.message
            if message not in self._shown:
                return  # _show_own has not printed it yet: it shows the state it finds then
            self._known_if_taken(message, update.state)
            if message.done:
                self._shown.discard(message)
            if self._screen.last_key is message:
                line = describe_own(message, update.state, update.error, self._screen.style)
                self._screen.print_locked(line, redraw=True, replace=message, key=message)
            else:
                line = describe_follow_up(message, update.state, update.error, self._screen.style,
                                          format_clock(time.time()), now)
                self._screen.print_locked(line, redraw=True)

    def _set_up_completion(self) -> None:
        """Tab completes command words and names; readline says when its prompt is drawn
        (with readline only)."""
        if self._readline is None:
            return
        try:
            # input() only uses readline (and so only calls the hook that lines printed
            # meanwhile wait for) on the process's own terminal.
            if self._stdin is sys.stdin and self._stdout is sys.stdout and sys.stdin.isatty() \
                    and sys.stdout.isatty():
                self._screen.follow_prompt()
        except (AttributeError, ValueError):
            pass  # no hook: lines are printed as if the prompt was drawn as soon as input() starts
        try:
            self._readline.set_completer(self._complete)
            self._readline.set_completer_delims(" \t\n")
            if "libedit" in (self._readline.__doc__ or ""):
                self._readline.parse_and_bind("bind ^I rl_complete")
            else:
                self._readline.parse_and_bind("tab: complete")
                # Candidates match ignoring case (client.screen.complete); readline must too,
                # or with João and joana both offered for "@Jo" it cut the typed word down
                # to what they have in common letter for letter, "@": what was typed, erased.
                self._readline.parse_and_bind("set completion-ignore-case on")
        except (AttributeError, ValueError, OSError):
            pass  # an unusual readline: no completion, typing still works

    def _like(self, name: str, yourself: bool = False) -> str | None:
        """The one name that looks like ``name`` but is someone else's, for "did you mean
        João?" after a /whois or /history that found nobody: among the names this terminal
        knows, else among who is online now (asked once: a terminal started after the
        class came in has seen nobody join). None if none or several. ``yourself``: else
        our own, said as ours ("Conceição (you)", for Conceição's /whois Conceicao:
        display.ours_alike)."""
        with self._print_lock:
            like = self._names.like(name, self._me)
        if like is not None:
            return like
        ours = ours_alike(name, self._me) if yourself else None
        if ours is not None:
            return ours
        try:
            users = self.client.who(self._timeout)
        except ClientError:
            return None  # the answer goes without the question
        with self._print_lock:
            self._names.everyone_online(p.name for p in users)
            return self._names.like(name, self._me)

    def _complete(self, word: str, state: int) -> str | None:
        """readline's completer: the ``state``-th candidate for ``word``."""
        if state == 0:
            rl = self._readline
            line, begin = rl.get_line_buffer()[: rl.get_endidx()], rl.get_begidx()
            with self._print_lock:
                names = [name for name in self._names.names() if canonical(name) != canonical(self._me)]
            before = line[:begin].split()
            words = argument_words(before[0][1:]) if len(before) == 1 and before[0].startswith("/") else None
            if words is not None:  # /help's topics, /receipts' positions: not a name
                names = words
            words = completion_words()
            # With the space after it: Python's readline appends none by itself.
            self._candidates = [f"{found} " for found in complete(line, begin, word, words, names)]
        return self._candidates[state] if state < len(self._candidates) else None

    def _watch(self, name: str | None) -> None:
        """Follow the presence of someone we talk to: in a large room only watched names'
        joins and leaves are told (PROTOCOL.md, "Presence"). Never waits."""
        if name is not None and canonical(name) != canonical(self._me):
            try:
                validate_name(name)
            except InvalidName:
                return  # the message to it fails on its own, saying why
            self.client.watch_soon([name])

    def _leave(self, drain: bool, stop: KeyboardInterrupt | None = None) -> int:
        """Close the session; in pipe mode first let sent messages settle (bounded):
        delivered, queued for an offline user, or failed; the status then says whether
        they all got through (:meth:`_script_status`). ``stop``: the Ctrl-C or SIGTERM
        that made us leave: TERMINATED for SIGTERM; INTERRUPTED for a Ctrl-C, except on
        the interactive screen, where it is a way to leave."""
        if drain:
            deadline = time.monotonic() + self._timeout
            for message in self._sent:
                message.wait({DELIVERED, QUEUED}, max(0.0, deadline - time.monotonic()))
        with self._print_lock:
            self._release_held(everything=True)
            lost = self._lost or self._signed_out  # signed out: over, even if the end is not in yet
            self._leaving = True
        # Before close(), which fails the messages still open (a queued one too); said
        # after it, below what close() prints of them.
        status, why = self._script_status() if drain and not lost else (ExitCode.OK, None)
        self.client.close()
        if lost:
            return self._lost_status()
        if why is not None:
            self._complain(auth.error_line(why))
        if isinstance(stop, Terminated):
            return ExitCode.TERMINATED
        return ExitCode.INTERRUPTED if stop is not None and not self._interactive else status

    def _script_status(self) -> tuple[ExitCode, str | None]:
        """Pipe mode, at the end of the input: OK if every line went through (each
        message delivered or queued; a room's: sent); else the status that says why, and
        the sentence for stderr that says how many did not: REFUSED (UNAVAILABLE when the
        server's storage was why) when a message failed or a line was not understood,
        else NO_SERVER when the connection was still being restored, else TIMEOUT. The ✗
        and ! lines on stdout say which."""
        unsettled = sum(not self._settle(message) for message in self._sent)
        self._sent = []
        if self._gone_wrong:
            return self._failure_status, ngettext(
                "{n} line of the input did not go through: not understood, not sent or not delivered "
                "(the ✗ and ! lines say why)",
                "{n} lines of the input did not go through: not understood, not sent or not delivered "
                "(the ✗ and ! lines say why)", self._gone_wrong).format(n=self._gone_wrong)
        if not unsettled:
            return ExitCode.OK, None
        seconds = f"{self._timeout:g}"
        if self.client.reconnecting:
            return ExitCode.NO_SERVER, ngettext(
                "the connection to the server was lost and not restored within {seconds} s: {n} message "
                "may not have been sent",
                "the connection to the server was lost and not restored within {seconds} s: {n} messages "
                "may not have been sent", unsettled).format(seconds=seconds, n=unsettled)
        return ExitCode.TIMEOUT, ngettext(
            "no delivery confirmation within {seconds} s for {n} message (it may still be delivered)",
            "no delivery confirmation within {seconds} s for {n} messages (they may still be delivered)",
            unsettled).format(seconds=seconds, n=unsettled)

    # --- Events, on the receiver thread ---------------------------------------------------

    def _on_event(self, event: Event) -> None:
        with self._event_lock:
            self._handle_event(event)
        announced = self._act_announced(event)
        if announced is not None:
            announced.set()  # the act _room_act waits for: this notice's line confirmed it

    def _act_announced(self, event: Event) -> threading.Event | None:
        """For the room's notice of a moderation act of ours that _room_act waits for, what
        it waits on; None for any other event."""
        if isinstance(event, RoomNotice) and event.by is not None and canonical(event.by) == canonical(self._me):
            return self._acts_awaited.get((canonical(event.room_name), event.act, canonical(event.name)))
        return None

    def _handle_event(self, event: Event) -> None:
        if isinstance(event, (ConnectionClosed, Goodbye, Reconnecting)):
            self._went_away()
        if isinstance(event, ConnectionClosed):
            self._connection_closed()
        elif isinstance(event, Goodbye):
            self._goodbye = event.reason  # said when the stream ends, with the rest
        else:
            if isinstance(event, ErrorReply) and event.request_id is None and event.code in SIGNED_OUT:
                self._signed_out = True  # its line says it all: no "Disconnected" line after it
                if self._prompting:  # the main thread asks for the new password once the end is in
                    self._screen.emit(describe_signed_out(event, asked_here=True))
                    return
            if isinstance(event, Read) and (self._held_for_history(event) or not self._read_is_news(event)):
                return
            if isinstance(event, Reconnected):
                self._returns.reconnected()  # (its grace begins: who comes back now is no news)
                with self._print_lock:
                    self._connection_down = False  # (what is sent from now on is answered again)
                    self._put_out.clear()  # (the server knows where we are now)
                    self._leaving_here.clear()
                    self._leave_unsure.clear()
                self._goodbye = None  # that goodbye was survived: a later end is another story
                # From the last id shown before this reconnection: what the server sends now
                # (the messages waiting) may be newer than what another session got meanwhile.
                self._catch_up.start()
                self._outage = 0  # a new session's answers tell afresh (client/core.py)
                self._ask_who_is_online()
            put_out_of_target = isinstance(event, RoomNotice) and self._follow_membership(event)
            if isinstance(event, NodeBack):
                # The connection stayed open, but what another session of ours got or sent
                # while the node was cut off never came here: as after a reconnection.
                self._catch_up.start()
                return
            if isinstance(event, ServerUnavailable):
                self._server_unavailable(event)
                return
            if isinstance(event, AnsweredLate):  # the command's line said it may or may not have been done
                self._screen.emit(("* " if event.done else "! ") + self._late_answer_words(event))
                return
            if isinstance(event, (Edited, Deleted)) and self._catch_up.holds(event):
                return
            if isinstance(event, (DirectMessage, Carbon, MessageUpdate)):
                self._catch_up.talked_with(event)
            if isinstance(event, DirectMessage):
                self._watch(event.sender)
                self._typing_shown.pop(canonical(event.sender), None)
            if isinstance(event, (RoomPost, RoomMessage)):
                self._post_seen(event)
            if isinstance(event, RoomRead):
                self._room_read(event)
                return
            if isinstance(event, RoomTyping) and event.sender is not None:
                # As for a person's typing below: one line per burst, per room.
                now, key = time.monotonic(), canonical(event.room_name) + " " + canonical(event.sender)
                shown = self._typing_shown.get(key)
                self._typing_shown[key] = now
                if shown is not None and now - shown < const.TYPING_EXPIRES:
                    return
                if self._interactive:
                    self._room_typing(event, now)
                    return
            if isinstance(event, Typing) and event.sender is not None:
                # One line per burst of typing, not one per repeat (the server sends one
                # every few seconds while someone types).
                now, key = time.monotonic(), canonical(event.sender)
                shown = self._typing_shown.get(key)
                self._typing_shown[key] = now
                if shown is not None and now - shown < const.TYPING_EXPIRES:
                    return
            if isinstance(event, Carbon):  # kept for its outcome's line; the oldest go first
                self._carbons[event.msg_id] = event
                if len(self._carbons) > _CARBONS_KEPT:
                    del self._carbons[next(iter(self._carbons))]
                with self._print_lock:  # /edit and /delete take the last of ours, wherever it was sent
                    self._own_last = event
            was = self._shown_text(event)
            if not self._text_is_news(event):
                return
            news = self._presence_is_news(event)
            self._remember(event)  # (Tab's names follow presence, news or not)
            if not news:
                return
            if isinstance(event, (RoomMessage, RoomPost)) and self._posted_elsewhere(event):
                with self._print_lock:  # /edit and /delete take the last of ours, wherever it was sent
                    self._own_last = event
                if self._interactive:
                    line = stamp(format_clock(event.sent_at), describe_post_from_elsewhere(
                        event, indent_text(event.text, INDENT)), self._screen.style)
                    with self._print_lock:
                        self._screen.print_locked(line, redraw=True, at=event.sent_at)
                else:
                    self._screen.emit(f"[{format_clock(event.sent_at)}] "
                                      + describe_post_from_elsewhere(event, sanitize(event.text)), at=event.sent_at)
            elif not self._interactive:
                line = describe_status(event.message, event.state, event.error, self._text_now(event.message)) \
                    if isinstance(event, MessageUpdate) else describe_event(event, self._me, self._carbons)
                if line is not None:
                    self._heard(line, event)
            elif isinstance(event, MessageUpdate):
                self._update_own(event)
            elif self._comes_or_goes(event):
                self._say_presence(event)  # type: ignore[arg-type]
            else:
                line = describe_on_screen(event, self._me, self._screen.style, format_clock(time.time()),
                                          self._carbons, was)
                if line is None:
                    if put_out_of_target:  # (a leave of ours made elsewhere: its notice has no line)
                        self._screen.emit("* " + put_out_of_target)
                    return
                if isinstance(event, Reconnecting):
                    replace, key = RECONNECT_LINE, RECONNECT_LINE
                elif isinstance(event, Reconnected):
                    replace, key = RECONNECT_LINE, None
                else:
                    replace = key = None
                with self._print_lock:
                    if self._act_announced(event) is not None:  # the answer to the act: in place of its notice
                        replace = self._screen.answer_locked()
                    self._screen.print_locked(line, redraw=True, replace=replace, key=key, at=stamped_at(event))
            if isinstance(event, DirectMessage):  # printed: seen (a no-op with receipts off)
                if not event.deleted:  # deleted before it came: nothing of it was seen
                    self._mark_read(event)
            elif isinstance(event, RoomPost):  # printed (or ours): the room is seen up to it
                self._mark_room_read(event)
            if put_out_of_target:  # (after the kick's line; the prompt says it from then on)
                self._screen.emit("* " + put_out_of_target)

    def _late_answer_words(self, event: AnsweredLate) -> str:
        """The words of ``event``; the late answer to a /leave typed here that timed out ends
        its unsureness: done, the "left" that follows is this one's (and plain lines that went
        to the room go to the default room: the next one would be refused there); refused,
        a "left" that comes later is another device's."""
        room = getattr(event.asked, "room_name", None)
        if event.request == "leave" and room is not None:
            key = canonical(room)
            with self._print_lock:
                if key in self._leave_unsure:
                    self._leave_unsure.discard(key)
                    if event.done:
                        self._leaving_here.add(key)
                        if is_room(self._target) and canonical(self._target) == key:
                            self._target = None
                            return left_late_words(room)
        return late_answer_words(event, self._me)

    def _follow_membership(self, event: RoomNotice) -> str:
        """Keep :attr:`_put_out` as ``event`` changes it: a kick or ban of us, or a leave of
        ours made on another device (a "left" of us no /leave typed here asked for), puts us
        out of its room; a join of ours (here or elsewhere) takes us back, an unban lets us
        join again. Returns the words to say after the notice's own line: what to do about
        plain lines when it put us out of the room they go to, and that a leave was made on
        another device (the notice's own line says nothing of our own leave), else ""."""
        if canonical(event.name) != canonical(self._me):
            return ""
        room = canonical(event.room_name)
        with self._print_lock:
            if event.act == "left" and room in self._leaving_here:
                self._leaving_here.discard(room)  # this /leave's: its line says it
                return ""
            if event.act == "left" and room in self._leave_unsure:  # this /leave's, done after all
                self._leave_unsure.discard(room)
                plain_lines_went_there = is_room(self._target) and canonical(self._target) == room
                if plain_lines_went_there:
                    self._target = None
                return left_after_all_words(event.room_name, plain_lines_went_there)
            if event.act in ("kick", "ban", "left"):
                self._put_out[room] = event.act
                if is_room(self._target) and canonical(self._target) == room:
                    return out_of_room_words(self._target, event.act)
                return left_elsewhere_words(event.room_name) if event.act == "left" else ""
            if event.act == "joined":
                self._put_out.pop(room, None)
                self._leave_unsure.discard(room)  # (a "left" after this join is another one)
            elif event.act == "unban" and room in self._put_out:
                self._put_out[room] = "kick"  # (out still, but a join would do now)
        return ""

    def _room_typing(self, event: RoomTyping, now: float) -> None:
        """On the screen, a room's typists share one line, rewritten while it is the last
        (a class of 30 typing in #redes was a line each): those typing there now, in the
        order they began."""
        room = canonical(event.room_name)
        with self._print_lock:
            self._typing_names[room + " " + canonical(event.sender or "")] = sanitize(event.sender or "")
            typists = [self._typing_names.get(key, key.partition(" ")[2]) for key, when in self._typing_shown.items()
                       if key.partition(" ")[0] == room and now - when < const.TYPING_EXPIRES]
            line = self._screen.stamp(describe_typists(typists, sanitize(event.room_name)))
            self._screen.print_locked(line, redraw=True, replace=(TYPING_LINE, room), key=(TYPING_LINE, room))

    def _comes_or_goes(self, event: Event) -> bool:
        """Whether ``event`` says someone went offline or came online (:meth:`_say_presence`);
        our own coming is no line (describe_on_screen's rule)."""
        if isinstance(event, UserLeft) or isinstance(event, RoomNotice) and event.act == "offline":
            return True
        came = isinstance(event, UserJoined) or isinstance(event, RoomNotice) and event.act == "online"
        return came and canonical(event.name or "") != canonical(self._me)  # type: ignore[union-attr]

    def _say_presence(self, event: UserLeft | UserJoined | RoomNotice) -> None:
        """On the screen, someone gone offline is one line: the server tells their `left` and
        an `offline` in each room we share ("* Ana went offline in #redes", then "* Ana left
        (quit)": a line each), in either order. While that line is the last one, the next of
        these about the same person rewrites it with what it adds: "* Ana left (quit; was in
        #redes, #bd)". Someone come online alike, from their `joined` and an `online` in each
        room ("* Ana joined (is in #redes)"). Nothing is held back: a line that comes between
        ends it, and what follows gets a line of its own. (A pipe keeps a line per event:
        scripts read them.)"""
        came = isinstance(event, UserJoined) or isinstance(event, RoomNotice) and event.act == "online"
        key = (BACK_LINE if came else GONE_LINE, canonical(event.name or ""))
        with self._print_lock:
            last = self._presence if self._presence is not None and self._screen.last_key == key else None
            rooms, end = (last[1], last[2]) if last is not None and last[0] == key else ([], None)
            if isinstance(event, (UserLeft, UserJoined)):
                end = getattr(event, "reason", None) or ""
            elif canonical(event.room_name) not in map(canonical, rooms):
                rooms = [*rooms, event.room_name]
            self._presence = (key, rooms, end)
            name = self._screen.style.name(sanitize(event.name), event.name)
            words = back_words(name, rooms, end is not None) if came else gone_words(name, rooms, end)
            self._screen.print_locked(self._screen.stamp(words), redraw=True, replace=key, key=key)

    def _server_unavailable(self, event: ServerUnavailable) -> None:
        """Say an outage of the server's storage in one line, not one per hold (the core
        tells each new wait: a line every 5 to 30 s while it lasted). On the screen the
        line is rewritten with the wait and the attempt the client is at while it is the
        last line (after a line printed since, the next hold's goes below that); in a pipe
        the outage is said when it begins and when the server takes a message again."""
        began = self._outage == 0
        self._outage = 0 if event.retry_in is None else self._outage + 1
        if event.retry_in is None:
            line = describe_event(event, self._me)
        elif self._interactive:
            line = "! " + unavailable_words(event.retry_in, attempt=self._outage + 1)
        else:
            line = describe_event(event, self._me) if began else None
        if line is None:
            return
        if not self._interactive:
            self._screen.emit(line)
            return
        with self._print_lock:
            self._screen.print_locked(self._screen.stamp(line), redraw=True, replace=UNAVAILABLE_LINE,
                                      key=UNAVAILABLE_LINE if event.retry_in is not None else None)

    def _keep_text(self, msg_id: int, text: str | None, shown: bool = False) -> None:
        """Message ``msg_id`` reads ``text`` now (_DELETED: deleted), and was ``shown`` on
        this screen if so (a change may come first); the oldest kept go."""
        with self._print_lock:
            _keep_newest(self._texts, msg_id, text)
            if shown:
                _keep_newest(self._shown_ids, msg_id, None)

    def _shown_text(self, event: Event) -> str | None:
        """For an edit, a delete or a read mark, the text its message had on this screen
        before it: see :meth:`_shown_text_of`."""
        if not isinstance(event, (Edited, Deleted, RoomEdited, RoomDeleted, Read)):
            return None
        with self._print_lock:
            return self._shown_text_of(event.msg_id)

    def _shown_text_of(self, msg_id: int) -> str | None:
        """The text message ``msg_id`` has on this screen (None: never shown, forgotten, or
        deleted), which names it in a line about its edit or delete: the interactive
        screen's readers know messages by their texts. A pipe's lines keep the message
        numbers, which scripts can match (None there). Called under the print lock."""
        return self._texts.get(msg_id) if self._interactive else None

    def _text_is_news(self, event: Event) -> bool:
        """Note the text ``event`` shows; False for an edit or delete that leaves a message as
        this screen shows it already (at login the server tells the changes a recipient has
        not confirmed after the messages, which carry the latest text already: "✎ Ana
        edited message 2" came right under message 2 with that text)."""
        if isinstance(event, DirectMessage) and event.deleted:
            # Deleted before it came (PROTOCOL.md "dm"): one line says so, whether this or
            # the "deleted" told at login (after the waiting messages, or before it in a
            # cluster) comes first; the other is not news.
            with self._print_lock:
                if event.msg_id in self._texts and self._texts[event.msg_id] is _DELETED:
                    return False
            self._keep_text(event.msg_id, _DELETED, shown=True)
            return True
        if isinstance(event, (DirectMessage, Carbon, RoomMessage, RoomPost)):
            self._keep_text(event.msg_id, event.text, shown=True)
            return True
        if isinstance(event, MessageUpdate):
            if event.message.msg_id is not None:
                with self._print_lock:
                    if event.message.msg_id not in self._texts:
                        self._texts[event.message.msg_id] = event.message.text
                    self._sent_here.pop(event.message.msg_id, None)
                    self._sent_here[event.message.msg_id] = None
                    if len(self._sent_here) > _TEXTS_KEPT:
                        del self._sent_here[next(iter(self._sent_here))]
            return True
        if isinstance(event, (Edited, RoomEdited)):
            text = event.text
        elif isinstance(event, (Deleted, RoomDeleted)):
            text = _DELETED
        else:
            return True
        with self._print_lock:
            if event.msg_id in self._texts and self._texts[event.msg_id] == text:
                return False
        self._keep_text(event.msg_id, text)
        return True

    def _posted_elsewhere(self, event: RoomMessage | RoomPost) -> bool:
        """Whether ``event`` is a post of ours that another session made: this one showed
        its own when the server accepted them (the accepted comes before the post)."""
        if canonical(event.sender) != canonical(self._me):
            return False
        with self._print_lock:
            return event.msg_id not in self._sent_here

    def _text_now(self, message: OutgoingMessage) -> str | None:
        """What our ``message`` reads now, if an edit or delete changed it since it was sent
        (here or on another device); None: as sent."""
        with self._print_lock:
            if message.msg_id is None or message.msg_id not in self._texts:
                return None
            text = self._texts[message.msg_id]
        if text is _DELETED:
            return shown_text("", deleted=True)
        return None if text == message.text else text

    def _held_for_history(self, event: Read) -> bool:
        """Keep ``event`` for later if it is the read mark of the peer whose /history page
        is awaited. The server sends it after the page, but the receiver (this thread)
        reads both in one go and would print it while the command thread is still waking
        up to print the page: "✓✓ read by" came above the history it is about."""
        with self._print_lock:
            if self._history_of is None or event.sender is None or canonical(event.sender) != self._history_of:
                return False
            self._after_history.append(event)
            return True

    def _read_is_news(self, event: Read) -> bool:
        """Whether a peer's read mark goes past the one printed last: the server sends the
        mark again after each /history page and at each reconnection, which printed an old
        "✓✓ read by" line again."""
        if event.sender is None:
            return True
        with self._print_lock:
            key = canonical(event.sender)
            if event.msg_id <= self._read_shown.get(key, 0):
                return False
            self._read_shown[key] = event.msg_id
            return True

    def _mark_read(self, event: DirectMessage) -> None:
        mark_read = getattr(self.client, "mark_read", None)
        if mark_read is None or self.receipts_on() is False:
            return  # a client that cannot (a stand-in), or receipts off: the server would refuse it
        mark_read(event.sender, event.msg_id)

    def _mark_room_read(self, post: RoomPost) -> None:
        mark = getattr(self.client, "mark_read_in_room", None)
        if mark is None or self.receipts_on() is False:
            return  # a client that cannot (a stand-in), or receipts off: the server would refuse it
        mark(post.room_name, post.msg_id)

    def _room_read(self, event: RoomRead) -> None:
        """A small room's read marks: one line when the count of those who read our last
        post there changes (the server sends at most one list per room per second); on the
        screen, rewritten while it is the last line (a class of 30 reading one post)."""
        if event.marks is None:
            return
        room = canonical(event.room_name)
        with self._print_lock:
            last = self._last_posts.get((room, canonical(self._me)))
            if last is None:
                return
            count = sum(1 for mark in event.marks if mark >= last)
            shown = self._read_by_shown.get(room, (last, 0))
            # Only a count that grows: the marks come again after a reconnection, and a
            # server restarted in memory mode has lost them ("was read by 0" under ✓✓).
            # Nor a count of none: a new post that nobody has read is no news (it said
            # "was read by 0" for a post made while the others were away).
            if count == 0 or shown[0] == last and count <= shown[1]:
                return
            self._read_by_shown[room] = (last, count)
            message = describe_message(last, self._shown_text_of(last))
        line = _("✓✓ your last post in {room} ({message}) was read by {n}").format(
            room=sanitize(event.room_name), message=message, n=count)
        if not self._interactive:
            self._screen.emit(line)
        else:
            with self._print_lock:  # the next count for the same post rewrites it while it is last
                self._screen.print_locked(self._screen.stamp(line), redraw=True, replace=(READ_BY_LINE, room, last),
                                          key=(READ_BY_LINE, room, last))

    def _went_away(self) -> None:
        """The connection is going or gone: whoever Tab knew online is expected back, and
        no answer to a message is waited for until it is back."""
        with self._answered:
            online = self._names.online_keys()
            self._connection_down = True
            self._release_held(everything=True)  # (their answers come once it is back, if at all)
            self._answered.notify_all()
        self._returns.went_away(online - {canonical(self._me)})  # (our rooms are not listed here)

    def _presence_is_news(self, event: Event) -> bool:
        """False for a presence notice that only says someone comes back after a restart,
        or went with the server (client/returns.py): it gets no line."""
        if isinstance(event, UserJoined):
            return not self._returns.joined(canonical(event.name))
        if isinstance(event, UserLeft):
            return self._returns.left(canonical(event.name), event.reason)
        if isinstance(event, RoomNotice) and event.act == "online":
            return not self._returns.room_online(canonical(event.room_name), canonical(event.name))
        return True

    def _remember(self, event: Event) -> None:
        """Keep what /reply and Tab need from ``event``."""
        with self._print_lock:
            if isinstance(event, DirectMessage):
                self._last_sender = event.sender
                self._names.online(event.sender)
            elif isinstance(event, UserJoined):
                self._names.online(event.name)
            elif isinstance(event, UserLeft):
                self._names.offline(event.name)
            elif isinstance(event, UserList):
                self._names.everyone_online(p.name for p in event.users)
            elif isinstance(event, LookupResult):
                (self._names.online if event.status == "online" else self._names.known)(event.name)

    def _connection_closed(self) -> None:
        with self._print_lock:
            if self._leaving:
                return
            self._lost = True
            if self._goodbye is not None:
                line = _("! Disconnected by the server: {why}").format(
                    why=reason_words(self._goodbye) or _("no reason given"))
            else:
                line = _("! Connection to the server lost ({why})").format(why=sanitize(self.client.close_reason))
            if not self._signed_out:  # else said already (describe_event): why, and how to log in again
                self._screen.print_locked(self._screen.stamp(line), redraw=False)
        self._wake_main()

    def _wake_main(self) -> None:
        """Interrupt the main thread's blocking read so that it can exit.

        A signal aimed at the main thread makes its read() fail with EINTR; Python then
        runs our SIGINT handler there, which raises KeyboardInterrupt out of input() or
        readline() (readline restores the terminal first). The signal is sent again
        every _WAKE_RETRY seconds until the main thread is done: one that lands after
        Python's last look for signals but before read() blocks wakes nothing.
        """
        try:
            self._wake_until_heard()
        finally:
            self._wake_over.set()

    def _wake_until_heard(self) -> None:
        while True:
            with self._print_lock:
                if self._main_ident is None or self._leaving or self._lost_heard:
                    return
                if hasattr(signal, "pthread_kill"):
                    signal.pthread_kill(self._main_ident, signal.SIGINT)
                else:  # Windows: wakes the main thread at its next bytecode, not inside a read
                    _thread.interrupt_main()
            if self._main_done.wait(_WAKE_RETRY):
                return

    @contextmanager
    def _wake_signal(self) -> Iterator[None]:
        """Install the SIGINT handler that both Ctrl-C and :meth:`_wake_main` use, and
        SIGTERM's (:class:`~client.exitcodes.Terminated`)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signals only work in the main thread; lost connections show at the next line
            return
        previous = signal.signal(signal.SIGINT, self._on_sigint)
        # SIGTERM (timeout(1), a stopped service or CI job) leaves as Ctrl-C does: with the
        # goodbye, so the server and the others see a logout, not a lost connection.
        previous_term = signal.signal(signal.SIGTERM, on_sigterm)
        self._main_ident = threading.get_ident()
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous_term)
            with self._print_lock:
                self._main_ident = None  # no wake-up may arrive after the old handler is back
            self._main_done.set()
            signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        if self._lost and not self._screen.reading:
            return  # a wake-up while busy: the main loop checks _lost before reading again
        raise KeyboardInterrupt

    # --- Errors -------------------------------------------------------------------------

    def _complain(self, line: str) -> None:
        """``line`` on stderr: for a person, broken at words to fit (no screen to do it yet)."""
        if self._interactive:
            line = fit_terminal(line, self._stderr)
        try:
            self._stderr.write(f"{line}\n")
            self._stderr.flush()
        except (OSError, ValueError):
            pass


def ask_name(ask: Callable[[str], str] = input) -> str:
    """The user's name, asked at the terminal (``Your name: ``) when the command line gives
    none, as the original assignments' clients did; asked again after a blank line or a name
    that is not valid (the reason printed); "" at the end of the input or on Ctrl-C."""
    while True:
        try:
            typed = ask(_("Your name: ")).strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return ""
        if not typed:
            continue
        try:
            return validate_name(typed)
        except InvalidName as exc:
            print(fit_terminal(auth.error_line(not_a_name(typed, exc, _)), sys.stdout))


def run(name: str, host: str = const.SERVER_HOST, port: int = const.SERVER_PORT,
        timeout: float = const.SEND_TIMEOUT, asked: bool = False, **options: Any) -> int:
    """Run the terminal client on the process's stdin/stdout; return the exit status.
    ``options`` are those of :class:`TerminalUI` (password, register, tls, reconnect...).
    ``asked``: ``name`` was asked at the terminal (:func:`ask_name`). A login refused for
    the name (taken, not valid, too like another's) with a person at the terminal (``asked``,
    or stdin and stdout both terminals: a name given on the command line too) asks for
    another under the line that says why, as :func:`ask_name` asks, until one logs in or
    none is given (the refusal's status then). A student whose name was taken was told to
    choose another, and the client ended. A script's client ends, that line on stderr."""
    person = asked or (sys.stdin.isatty() and sys.stdout.isatty())
    while True:
        ui = TerminalUI(name, host, port, timeout=timeout, **options)
        status = ui.run()
        if not (person and ui.name_refused):
            return status
        name = ask_name()
        if not name:
            return status
