"""What the terminal client prints, and where: lines above readline's prompt, or a pipe.

Two threads print (the main one, after a command; the receiver, when an event comes),
so every line goes through :meth:`Screen.print_locked` under :attr:`Screen.lock`. On the
interactive screen it erases every row the prompt and the typed text take (the cursor's
row comes from readline's ``rl_point``, see :class:`client.terminal_input.ReadlineHooks`,
and the terminal's width), prints, and has readline draw the prompt and the text again
with the cursor where it was. Nothing is printed between input() starting and readline
drawing its prompt (readline's pre-input hook says when), nor while a password is asked
(lines wait, then come). A line may be given a key, and a later line with the same key
rewrites it in place while it is still the last one (a message's state, the reconnection
line). While a command waits for the server's answer, a notice says so after a moment, and
the answer takes its place (:meth:`Screen.awaiting`). In a pipe: one line each, nothing else.

The lock is also the terminal session's (client/terminal.py guards its own state with it):
one lock, so a line and the state it shows never disagree.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from .display import DayBreaks, day_rule, format_clock
from .screen import Style, cursor_row, display_width, erase_input, fit_rows, screen_rows
from .terminal_input import ReadlineHooks
from .terminal_lines import INDENT, stamp

# The longest a line waits for readline to draw its prompt (it takes microseconds).
PROMPT_WAIT = 0.5

# The ``replace`` of a message's first line: it takes the place of the line typed.
TYPED_LINE = object()
# The key of the notice that a command waits for the server's answer (Screen.awaiting).
_AWAITED_LINE = object()


class Screen:
    """The terminal's output: ``out`` (stdout), interactive or a pipe; ``style`` colours
    names; ``readline`` and ``hooks`` (None without readline) draw the prompt, which
    ``prompt()`` says (it changes with /to)."""

    def __init__(self, out: TextIO, interactive: bool, style: Style, readline: Any,
                 hooks: ReadlineHooks | None, prompt: Callable[[], str]) -> None:
        self.out = out
        self.interactive = interactive
        self.style = style
        self._readline = readline
        self._hooks = hooks
        self._prompt = prompt
        self.lock = threading.Lock()
        self.reading = False        # the main thread is (about to be) blocked reading input
        # All guarded by the lock:
        self._last_key: object = None  # what the last line printed shows (rewritable if not None: last_key)
        self._days = DayBreaks()  # where the screen (or the pipe) needs a line naming the day
        self._last_rows = 0         # screen rows that line takes
        self._echo_rows = 0         # rows of the line just typed, still on screen below the last
        # The window's width when the last line, and the line just typed, were printed: a
        # window narrowed since may have wrapped their rows onto more than a rewrite erases.
        self._last_columns = self._echo_columns = 0
        self._holding = False       # a password prompt is on screen: lines wait in held
        self.held: list[str] = []
        self._prompt_hooked = False  # readline tells us when it has drawn the prompt (follow_prompt)
        self._prompt_pending = False  # input() started, readline has not drawn the prompt yet
        self._prompt_shown = False  # the prompt and typed text are on screen, below the last line
        self._prompt_drawn_or_gone = threading.Condition(self.lock)
        self._awaiting: int | None = None  # the thread waiting for an answer (awaiting), until it prints
        self._notice_due: int | None = None  # that thread, while its notice may still come (not answered)
        # A notice due while a password prompt was on screen: what starts its wait again once
        # the prompt is answered (holding_output).
        self._notice_held: Callable[[], None] | None = None

    @property
    def last_key(self) -> object:
        """The ``key`` of the last line printed while it can be rewritten in place (None
        otherwise): not once the window is narrower than when it was printed. A terminal
        that rewraps its lines (tmux, VTE, kitty, iTerm2...) then shows its rows on more
        rows than it had, and a rewrite went up over only some of them, leaving the first
        ones cut mid-word above the new line; one that does not rewrap (xterm) cuts them.
        A wider window is no matter: the client's rows are broken by newlines, never joined."""
        return self._last_key if self.columns() >= self._last_columns else None

    def emit(self, line: str, at: float | None = None) -> None:
        """Print one line (stamped with the time on the interactive screen; ``at``: the
        time a message's line says already, see :meth:`print_locked`)."""
        with self.lock:
            self.print_locked(self.stamp(line), redraw=True, at=at)

    def emit_block(self, lines: list[str]) -> None:
        """Print a heading and the lines under it: on the interactive screen, one stamped
        line with the others indented under it; in a pipe, one line each."""
        if not lines:
            return
        if not self.interactive:
            for line in lines:
                self.emit(line)
            return
        self.emit(("\n" + " " * INDENT).join(lines))

    def stamp(self, line: str) -> str:
        """``line`` with the time before it on the interactive screen; as it is in a pipe."""
        return stamp(format_clock(time.time()), line, self.style) if self.interactive else line

    def columns(self) -> int:
        """The terminal's width (80 if it cannot say)."""
        try:
            return os.get_terminal_size(self.out.fileno()).columns or 80
        except (OSError, ValueError, AttributeError):
            return 80

    def print_locked(self, line: str, redraw: bool, replace: object = None, key: object = None,
                     at: float | None = None) -> None:
        """Print ``line`` (it may hold ``\n``: continuation lines) on the screen; the lock is held.

        Interactive, while a line is being typed: erase all the rows that the prompt and
        the typed text take (from the row of the cursor, wherever it is in the line), print,
        and have readline draw the prompt and the text again with the cursor where it was
        (if ``redraw``). ``replace``: if the last line printed was given that ``key``, it is
        rewritten instead of printing a new one (a message's state, the reconnection line);
        :data:`TYPED_LINE` rewrites the line just typed, if it is still the last thing on
        screen. ``key`` is what this line shows, for a later ``replace`` (compared by value:
        a tuple names one room's line). In a pipe: one
        line, nothing else. While a password prompt is on screen, lines wait until it is
        answered.

        On the interactive screen a line wider than the terminal is wrapped at its words
        (client.screen.fit_rows), its further rows under the text after the time stamp; in
        a pipe it stays whole.

        ``at``: the time the line is stamped with (a message's ``sent_at``; None: now on the
        interactive screen, where every line is stamped, and no time in a pipe, where only
        messages are): a line of another day than the one before it comes under a dim line
        naming its day (:class:`~client.display.DayBreaks`), unless it rewrites a line in place.

        The first line printed by a thread inside :meth:`awaiting` is its answer: it ends the
        wait, and takes the place of the notice (if that is still the last line) unless it
        is to replace another.
        """
        if self._awaiting is not None and self._awaiting == threading.get_ident():
            self._awaiting = self._notice_due = None
            if replace is None:
                replace = _AWAITED_LINE
        rewrite = replace is not None and replace is not TYPED_LINE and replace == self.last_key
        day = None if rewrite or (at is None and not self.interactive) else \
            self._days.before(time.time() if at is None else at, time.time())
        # The day's line goes with the line under it, but is not part of what a rewrite erases.
        head = "" if day is None else self.style.dim(day_rule(day)) + "\n"
        if self._holding:
            self.held.append(head + line)
            return
        out = self.out
        try:
            if not self.interactive:
                out.write(f"{head}{line}\n")
                out.flush()
                return
            if self._prompt_pending:  # (the wait lets go of the lock, which the hook takes)
                self._prompt_drawn_or_gone.wait_for(lambda: not self._prompt_pending, PROMPT_WAIT)
            columns = self.columns()  # (asked at each line: the window may have been resized since)
            line = fit_rows(line, columns, INDENT)  # broken at words, not by the terminal mid-word
            erase = ""
            prompted = self._prompt_shown if self._prompt_hooked else self.reading
            if prompted:
                erase = erase_input(self._input_row(columns))
            if replace is TYPED_LINE and self._echo_rows and not prompted and columns >= self._echo_columns:
                erase += f"\x1b[{self._echo_rows}A\r\x1b[J"
            elif rewrite and self._last_rows:
                erase += f"\x1b[{self._last_rows}A\r\x1b[J"
            out.write(f"{erase}{head}{line}\n")
            self._last_key, self._last_rows, self._last_columns = key, screen_rows(line, columns), columns
            self._echo_rows = 0
            if prompted and redraw:
                self._redraw()
            out.flush()
        except (OSError, ValueError):
            pass  # stdout closed (e.g. `| head`): nothing left to show it to

    @contextmanager
    def awaiting(self, notice: str | None, after: float) -> Iterator[None]:
        """While the calling thread waits for the server's answer to a command (the prompt is
        not given back meanwhile): on the interactive screen, ``notice`` once ``after``
        seconds have passed with nothing printed by that thread (printed by a timer thread),
        and the first line that thread prints, the answer or why none came, rewrites the
        notice in place while it is still the last line. Never a notice after that line, nor
        after :meth:`answered`, nor after the block. With ``notice`` None, or in a pipe (where
        the answers are a script's lines, one per command), nothing is added. While a password
        prompt is on screen (:meth:`holding_output`: /register, /password ask one before they
        ask the server) the wait is not counted: it starts again once the prompt is answered
        (the notice came under the prompt's lines as if the server had been slow all along)."""
        if notice is None or not self.interactive:
            yield
            return
        waiting = threading.get_ident()
        timers: list[threading.Timer] = []

        def show() -> None:
            with self.lock:
                if self._notice_due != waiting:
                    return
                if self._holding:
                    self._notice_held = start
                    return
                self.print_locked(self.stamp(notice), redraw=True, key=_AWAITED_LINE)

        def start() -> None:
            timer = threading.Timer(after, show)
            timer.daemon = True
            timers.append(timer)
            timer.start()

        with self.lock:
            self._awaiting = self._notice_due = waiting
            start()
        try:
            yield
        finally:
            with self.lock:
                for timer in timers:
                    timer.cancel()
                if self._awaiting == waiting:
                    self._awaiting = None
                if self._notice_due == waiting:
                    self._notice_due = None
                if self._notice_held is start:
                    self._notice_held = None

    def answered(self) -> None:
        """Inside :meth:`awaiting`: the server has answered, but the line that says so may
        come later, or from another thread (a moderation act is confirmed by the room's notice
        of it, which the receiver prints: :meth:`answer_locked`). No notice from now on; the
        calling thread's next line still takes its place."""
        with self.lock:
            if self._notice_due == threading.get_ident():
                self._notice_due = None

    def answer_locked(self) -> object:
        """For a line another thread prints now (the lock is held) as the answer the
        command awaited had (:meth:`answered`): no notice after it. Returns the ``replace``
        for :meth:`print_locked` that puts that line in the notice's place, if the notice is
        still the last line."""
        self._notice_due = None
        return _AWAITED_LINE

    def input_line(self) -> str:
        """``input()`` at the prompt, which lines printed meanwhile go above: none between
        input() starting and readline drawing the prompt. The line typed stays on screen
        (readline echoed it), below any line that could be rewritten, and is erased if it
        becomes a message (:data:`TYPED_LINE`). EOFError and KeyboardInterrupt as input()."""
        prompt = self._prompt()
        try:
            with self.lock:
                # Lines printed between here and readline drawing the prompt would land
                # after it or be drawn over: they wait for prompt_drawn.
                self._prompt_pending = self._prompt_hooked
            line = input(prompt)
        finally:
            with self.lock:
                self._prompt_pending = self._prompt_shown = False
                self._prompt_drawn_or_gone.notify_all()
        with self.lock:
            self._last_key = None
            self._echo_columns = self.columns()
            self._echo_rows = cursor_row(display_width(prompt + line), self._echo_columns) + 1
        return line

    def follow_prompt(self) -> None:
        """Have readline say when its prompt is drawn (its pre-input hook): until then,
        lines wait. Raises AttributeError or ValueError where readline cannot; then lines
        are printed as if the prompt was drawn as soon as input() starts."""
        self._readline.set_pre_input_hook(self._prompt_drawn)
        self._prompt_hooked = True

    def _prompt_drawn(self) -> None:
        """readline's pre-input hook (main thread, inside input()): the prompt is on screen."""
        with self.lock:
            if self._prompt_pending:
                self._prompt_pending = False
                self._prompt_shown = True
                self._prompt_drawn_or_gone.notify_all()

    def _input_row(self, columns: int) -> int:
        """The row of the cursor in the prompt and typed text (0: the prompt's first)."""
        if self._hooks is not None:
            before = self._hooks.before_point()
        else:  # without the hooks, the cursor is taken to be at the end of the line
            before = self._readline.get_line_buffer() if self._readline is not None else ""
        return cursor_row(display_width(self._prompt() + before), columns)

    def _redraw(self) -> None:
        """Draw the prompt and the typed text again below what was printed."""
        if self._hooks is not None:
            self.out.flush()  # readline writes to the same terminal through C's stdio
            self._hooks.redisplay(self._prompt())
        else:
            typed = self._readline.get_line_buffer() if self._readline is not None else ""
            self.out.write(f"{self._prompt()}{typed}")

    @contextmanager
    def holding_output(self) -> Iterator[None]:
        """While a password is asked: lines wait, then come out once it is answered (they
        are others' lines, never the answer a command inside :meth:`awaiting` waits for);
        a notice that fell due meanwhile starts its wait again."""
        with self.lock:
            self._holding = True
        try:
            yield
        finally:
            with self.lock:
                self._holding = False
                held, self.held = self.held, []
                awaiting, self._awaiting = self._awaiting, None
                for line in held:
                    self.print_locked(line, redraw=False)
                self._awaiting = awaiting
                restart, self._notice_held = self._notice_held, None
                if restart is not None:
                    restart()

    def write_raw(self, text: str) -> None:
        """``text`` as it is (a newline after ^D), under the lock."""
        with self.lock:
            self.write_raw_locked(text)

    def write_raw_locked(self, text: str) -> None:
        """``text`` as it is; the lock is held."""
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError):
            pass
