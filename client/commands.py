"""What a line typed in the terminal client means: a pure function, no I/O.

:func:`parse_command` turns one input line, given the current target (a user name, or
None for the room), into one of the small command values below; the terminal executes
it. The grammar::

    @NAME TEXT       send TEXT to NAME directly ("@Bob: hi" and "@Bob, hi" work too)
    /to NAME         plain lines now go to NAME ("/to @Bob" works too)
    /all  (/room)    plain lines now go to the room
    /who             who is online
    /whois NAME      where NAME is connected from, and since when
    /history NAME [N]   the last N (default 20) messages with NAME, with their states
    /block NAME      stop receiving messages from NAME; /unblock NAME undoes it
    /register        claim the current name with a password (asked twice, not echoed)
    /help  (/?)      the list of commands
    /quit  (/sair, /exit)   leave
    //TEXT, @@TEXT   send "/TEXT" or "@TEXT" as a plain line (the prefix doubled escapes it)
    anything else    a plain line: sent to the current target
    blank line       nothing

Command words are case-insensitive. Names are checked with ``registry.validate_name`` so a
typo is reported before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from registry import InvalidName, validate_name


@dataclass(frozen=True, slots=True)
class SendText:
    """Send ``text`` to user ``to``, or to the room if ``to`` is None."""

    to: str | None
    text: str


@dataclass(frozen=True, slots=True)
class SetTarget:
    """Plain lines go to ``to`` from now on (None: the room)."""

    to: str | None


@dataclass(frozen=True, slots=True)
class ShowWho:
    """List who is online."""


@dataclass(frozen=True, slots=True)
class ShowWhois:
    """Show where ``name`` is connected from."""

    name: str


@dataclass(frozen=True, slots=True)
class ShowHistory:
    """Show the last ``count`` messages exchanged with ``peer``."""

    peer: str
    count: int = 20


@dataclass(frozen=True, slots=True)
class SetBlocked:
    """Block (``blocked`` True) or unblock ``name``."""

    name: str
    blocked: bool


@dataclass(frozen=True, slots=True)
class ClaimName:
    """Register the current name; the password is asked without echo, never typed here."""


@dataclass(frozen=True, slots=True)
class ShowHelp:
    """Print the command list."""


@dataclass(frozen=True, slots=True)
class Quit:
    """Leave the chat."""


@dataclass(frozen=True, slots=True)
class Blank:
    """An empty line: do nothing."""


@dataclass(frozen=True, slots=True)
class Mistake:
    """The line cannot be executed; ``message`` tells the user why and what to type."""

    message: str


Command = (SendText | SetTarget | ShowWho | ShowWhois | ShowHistory | SetBlocked | ClaimName | ShowHelp | Quit
           | Blank | Mistake)

# /history without a count shows this many messages; it shows at most HISTORY_MAX.
HISTORY_DEFAULT = 20
HISTORY_MAX = 10_000

HELP = (
    "@NAME TEXT      send TEXT to NAME only",
    "/to NAME        send plain lines to NAME from now on",
    "/all            send plain lines to the room again",
    "/who            who is online",
    "/whois NAME     where NAME is connected from",
    "/history NAME [N]  the last N (default 20) messages with NAME",
    "/block NAME     stop receiving messages from NAME (/unblock NAME)",
    "/register       claim your name with a password",
    "/quit           leave (also /sair, Ctrl-D, Ctrl-C)",
    "//TEXT  @@TEXT  send a line that starts with / or @",
)

_QUIT_WORDS = frozenset({"quit", "sair", "exit"})
# "@" name, then whitespace, then the text (which may be empty; checked by the caller).
_ADDRESSED = re.compile(r"@(\S*)\s*(.*)", re.DOTALL)


def _check_name(raw: str, usage: str) -> str | Mistake:
    """Return the name in ``raw`` (a leading ``@`` allowed) or a Mistake saying what is wrong."""
    name = raw[1:] if raw.startswith("@") else raw
    if not name:
        return Mistake(f"usage: {usage}")
    try:
        return validate_name(name)
    except InvalidName as exc:
        # Shown with repr() so control characters in the typo are visible, not executed.
        return Mistake(f"{name!r} is not a valid name: {exc}")


def parse_command(line: str, target: str | None = None) -> Command:
    """Interpret one input line (its line ending, if any, is ignored); never raises.

    ``target`` is where plain lines go: a user name, or None for the room.
    """
    line = line.rstrip("\r\n")
    if not line.strip():
        return Blank()
    if line.startswith("//") or line.startswith("@@"):
        return _plain(line[1:], target)
    if line.startswith("@"):
        head, text = _ADDRESSED.fullmatch(line).groups()
        checked = _check_name(head.rstrip(":,"), "@NAME TEXT")
        if isinstance(checked, Mistake):
            return checked
        if not text.strip():
            return Mistake(f"nothing to send to {checked}: type @{checked} TEXT (or /to {checked})")
        return SendText(checked, text)
    if line.startswith("/"):
        parts = line[1:].split()
        # "/ text" or a lone "/" is no command word; it falls through to "unknown".
        word = parts[0].lower() if parts and not line[1].isspace() else ""
        args = parts[1:]
        if word == "to":
            if len(args) != 1:
                return Mistake("usage: /to NAME (then plain lines go to NAME; /all goes back to the room)")
            checked = _check_name(args[0], "/to NAME")
            return checked if isinstance(checked, Mistake) else SetTarget(checked)
        if word in ("all", "room"):
            return SetTarget(None) if not args else Mistake(f"usage: /{word} (it takes no arguments)")
        if word == "who":
            return ShowWho() if not args else Mistake("usage: /who (it takes no arguments; see /whois NAME)")
        if word == "whois":
            if len(args) != 1:
                return Mistake("usage: /whois NAME")
            checked = _check_name(args[0], "/whois NAME")
            return checked if isinstance(checked, Mistake) else ShowWhois(checked)
        if word == "history":
            return _history(args)
        if word in ("block", "unblock"):
            if len(args) != 1:
                return Mistake(f"usage: /{word} NAME")
            checked = _check_name(args[0], f"/{word} NAME")
            return checked if isinstance(checked, Mistake) else SetBlocked(checked, word == "block")
        if word == "register":
            if args:
                # Never take a password from the line: it would show on screen and in history.
                return Mistake("usage: /register (alone: the password is asked without echo)")
            return ClaimName()
        if word in ("help", "?"):
            return ShowHelp()
        if word in _QUIT_WORDS:
            return Quit()
        shown = line.split()[0] if not line[1:2].isspace() else "/"
        return Mistake(f"unknown command {shown[:40]!r}: type /help for the list "
                       "(start the line with // to send a text that begins with /)")
    return _plain(line, target)


def _history(args: list[str]) -> ShowHistory | Mistake:
    usage = f"usage: /history NAME [N] (N from 1 to {HISTORY_MAX}, default {HISTORY_DEFAULT})"
    if not 1 <= len(args) <= 2:
        return Mistake(usage)
    checked = _check_name(args[0], "/history NAME [N]")
    if isinstance(checked, Mistake):
        return checked
    if len(args) == 1:
        return ShowHistory(checked, HISTORY_DEFAULT)
    if not (args[1].isascii() and args[1].isdigit()) or not 1 <= int(args[1]) <= HISTORY_MAX:
        return Mistake(usage)
    return ShowHistory(checked, int(args[1]))


def _plain(text: str, target: str | None) -> SendText:
    return SendText(target, text)
