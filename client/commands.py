"""What a line typed in the terminal client means: a pure function, no I/O.

:func:`parse_command` turns one input line, given the current target (a user name, or
None for the room), into one of the small command values below; the terminal executes
it. The grammar::

    @NAME TEXT       send TEXT to NAME directly ("@Bob: hi" and "@Bob, hi" work too)
    /msg NAME TEXT   the same, as in IRC clients
    /reply TEXT  (/r)   send TEXT to whoever sent the last direct message received
    /to NAME         plain lines now go to NAME ("/to @Bob" works too)
    /query NAME      the same, as in IRC clients
    /all  (/room)    plain lines now go to the room
    /who  (/lista, /registro)   who is online
    /whois NAME  (/lookup NAME)  where NAME is connected from, and since when
    /history NAME [N]   the last N (default 20) messages with NAME, with their states
    /history #ROOM [N]  the last N messages of a room you are in
    /block NAME      stop receiving messages from NAME; /unblock NAME undoes it
    /receipts [on|off]  read receipts and typing (this user's setting on the server); alone: say which
    /register        claim the current name with a password (asked twice, not echoed)
    /password        change this account's password (current and new asked, not echoed)
    /unregister      delete this account and what the server keeps of it (the password asked, not echoed)
    /help  (/?)      the most used commands, and the topics of the others
    /help TOPIC      a topic's commands (messages, people, rooms, moderation, account)
    /help COMMAND    one command, with its other names
    /quit  (/exit)   leave
    @#ROOM TEXT      send TEXT to the members of room #ROOM
    /join #ROOM      join (or create) #ROOM; plain lines now go there
    /leave [#ROOM]   leave #ROOM (default: the room plain lines go to)
    /rooms           the rooms, with member counts and topics
    /members [#ROOM] who is in the room
    /invite, /kick, /ban, /unban, /unmute NAME [REASON];  /mute NAME [SECONDS] [REASON];
    /topic TEXT      moderating the room plain lines go to (or name it first: /kick #ROOM NAME)
    /edit TEXT       your last message (the one just above, wherever it went) now reads TEXT
    /delete [NAME]   delete your last message; with NAME (room moderators and
                     administrators), NAME's last post in the room plain lines go to
    //TEXT, @@TEXT   send "/TEXT" or "@TEXT" as a plain line (the prefix doubled escapes it)
    anything else    a plain line: sent to the current target (at the prompt, a line that
                     is only a command's word without its "/", as the original
                     assignments took them, is said first: bare_command)
    blank line       nothing

Every command word has a Portuguese name too (``/ajuda``, ``/quem``, ``/para NOME``,
``/todos``, ``/historico`` or ``/histórico``, ``/bloquear``, ``/desbloquear``,
``/registrar``, ``/sair``...): ``COMMAND_WORDS`` (shared/commandwords.py) is the one table of them, and
:func:`help_lines` lists the names of the language in use first. Command words are
case-insensitive. Names are checked with ``registry.validate_name`` so a
typo is reported before anything is sent.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import const
import i18n
from i18n import N_, _
from registry import InvalidName, validate_name
from registry.names import explain as explain_refusal
from registry.names import not_a_name
from shared.columns import hanging_lines
from shared.commandwords import COMMAND_WORDS, command_names


@dataclass(frozen=True, slots=True)
class SendText:
    """Send ``text`` to user ``to``, to room ``to`` if it starts with ``#``, or to the
    default room if ``to`` is None."""

    to: str | None
    text: str


@dataclass(frozen=True, slots=True)
class ReplyText:
    """Send ``text`` to the sender of the last direct message received (the terminal
    knows who that is; with nobody yet it says so and sends nothing, never to the room)."""

    text: str


@dataclass(frozen=True, slots=True)
class SetTarget:
    """Plain lines go to ``to`` from now on (a name, a ``#room``, or None: the default room)."""

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
class SetReceipts:
    """Turn this user's read receipts (and typing) on (``on`` True) or off; None: only
    tell the user which it is now."""

    on: bool | None = None


@dataclass(frozen=True, slots=True)
class ClaimName:
    """Register the current name; the password is asked without echo, never typed here."""


@dataclass(frozen=True, slots=True)
class SetPassword:
    """Change this account's password; both passwords are asked without echo, never typed here."""


@dataclass(frozen=True, slots=True)
class DeleteAccount:
    """Delete this account; its password, the confirmation, is asked without echo, never typed here."""


@dataclass(frozen=True, slots=True)
class ShowHelp:
    """Print the most used commands and the topics (``about`` ""), a topic's commands (its
    English name), or one command (its English word): :func:`help_lines`."""

    about: str = ""


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


@dataclass(frozen=True, slots=True)
class RoomJoin:
    """Join (or create) ``room``; plain lines then go there."""

    room: str


@dataclass(frozen=True, slots=True)
class RoomLeave:
    """Leave ``room`` (None: the room plain lines go to)."""

    room: str | None = None


@dataclass(frozen=True, slots=True)
class ShowRooms:
    """List the rooms, with member counts and topics."""


@dataclass(frozen=True, slots=True)
class ShowMembers:
    """List the members of ``room`` (None: the room plain lines go to)."""

    room: str | None = None


@dataclass(frozen=True, slots=True)
class RoomAct:
    """A moderation act in ``room`` (None: the room plain lines go to): ``act`` is the
    English command word (invite, kick, ban, unban, mute, unmute, topic); ``name`` whom it
    is about (the topic's text for ``topic``); ``seconds`` for a mute (None: until
    unmuted); ``reason`` as typed."""

    act: str
    room: str | None
    name: str
    seconds: float | None = None
    reason: str | None = None


RoomCommand = RoomJoin | RoomLeave | ShowRooms | ShowMembers | RoomAct


@dataclass(frozen=True, slots=True)
class EditLast:
    """Replace the text of this user's last message shown on this screen, wherever it
    went (not only where plain lines go), with ``text``."""

    text: str


@dataclass(frozen=True, slots=True)
class DeleteLast:
    """Delete this user's last message shown on this screen, wherever it went; with ``name``, that
    person's last post in the room plain lines go to (a moderator's act)."""

    name: str | None = None

Command = (SendText | ReplyText | SetTarget | ShowWho | ShowWhois | ShowHistory | SetBlocked | ClaimName | SetPassword | DeleteAccount | ShowHelp | Quit
           | Blank | Mistake | RoomCommand | EditLast | DeleteLast | SetReceipts)

# /history without a count shows this many messages; it shows at most HISTORY_MAX.
HISTORY_DEFAULT = 20
HISTORY_MAX = 10_000

# Typed word (lower case, NFC) -> English name (the names: shared/commandwords.py).
_WORDS = {name: word for word, names in COMMAND_WORDS.items() for group in names.values() for name in group}


# The /help list, by topic (named in _TOPICS): command word (None: not a command), its
# arguments, what it does. /help alone shows the rows _MOST_USED names (by command word, or
# arguments for a row that is no command) and the topics; /help TOPIC a topic's rows; /help
# COMMAND that command's row. Each of them fits a 24-row terminal (the whole list took 55 rows).
_HELP = {
    "messages": (
        (None, N_("@NAME TEXT"), N_("send TEXT to NAME only")),
        ("msg", N_("NAME TEXT"), N_("send TEXT to NAME only")),
        # The marks of describe_mark (client/terminal_lines.py): the delivery confirmation the
        # original assignments' clients waited for is "✓✓".
        # ✗ and ? as client.display.FAILED_MARKS says them.
        (None, "…  ✓  ✓✓  ✗  ?", N_("your message: on its way; the server has it; delivered (the other's "
                                  "client confirmed it); not sent (refused: fix it, or send it again) or not "
                                  "delivered (it waited and expired), and why; not confirmed (the server cannot "
                                  "tell)")),
        ("reply", N_("TEXT"), N_("send TEXT to whoever sent you the last direct message")),
        ("to", N_("NAME"), N_("send plain lines to NAME from now on")),
        ("query", N_("NAME"), N_("the same (as in IRC clients)")),
        ("all", "", N_("send plain lines to the room again")),
        ("history", N_("NAME [N]"), N_("the last N (default 20) messages with NAME")),
        ("edit", N_("TEXT"), N_("correct your last message (the one just above, wherever it went)")),
        ("delete", N_("[NAME]"), N_("delete your last message (or, moderating, NAME's last post)")),
        (None, N_("//TEXT  @@TEXT"), N_("send a line that starts with / or @")),
    ),
    "people": (
        ("who", "", N_("who is online")),
        ("whois", N_("NAME"), N_("where NAME is connected from, and since when")),
        ("block", N_("NAME"), N_("stop receiving messages from NAME")),
        ("unblock", N_("NAME"), N_("receive messages from NAME again")),
        ("receipts", N_("[on|off]"), N_("read receipts and typing, both ways; alone: which it is now")),
    ),
    "rooms": (
        (None, N_("@#ROOM TEXT"), N_("send TEXT to the members of #ROOM")),
        ("join", N_("#ROOM"), N_("join (or create) #ROOM; plain lines go there")),
        ("leave", N_("[#ROOM]"), N_("leave the room")),
        ("rooms", "", N_("the rooms, with members and topics")),
        ("members", N_("[#ROOM]"), N_("who is in the room")),
    ),
    "moderation": (
        ("invite", N_("NAME"), N_("let NAME join an invite-only room")),
        ("topic", N_("TEXT"), N_("set the room's topic")),
        ("kick", N_("NAME [REASON]"), N_("put NAME out of the room")),
        ("ban", N_("NAME [REASON]"), N_("put NAME out and keep them out")),
        ("unban", N_("NAME"), N_("let NAME in again")),
        ("mute", N_("NAME [SECONDS] [REASON]"), N_("keep NAME from writing in the room")),
        ("unmute", N_("NAME"), N_("let NAME write again")),
    ),
    "account": (
        ("register", "", N_("claim your name with a password")),
        ("password", "", N_("change your account's password")),
        ("unregister", "", N_("delete your account and what the server keeps of it (asks the password)")),
        ("help", N_("[TOPIC|COMMAND]"), N_("the most used commands; a topic's; one command")),
        ("quit", "", N_("leave (Ctrl-D and Ctrl-C too)")),
    ),
}
_MOST_USED = ("@NAME TEXT", "…  ✓  ✓✓  ✗  ?", "reply", "to", "all", "who", "history", "join", "quit")
# The topics' names in each language, as COMMAND_WORDS has the commands' (shared/commandwords.py).
_TOPICS: dict[str, dict[str, tuple[str, ...]]] = {
    "messages": {"en": ("messages",), "pt_BR": ("mensagens",)},
    "people": {"en": ("people",), "pt_BR": ("pessoas",)},
    "rooms": {"en": ("rooms",), "pt_BR": ("salas",)},
    "moderation": {"en": ("moderation",), "pt_BR": ("moderação", "moderacao")},
    "account": {"en": ("account",), "pt_BR": ("conta",)},
}
# Typed topic (lower case, NFC) -> its English name.
_TOPIC_WORDS = {name: topic for topic, names in _TOPICS.items() for group in names.values() for name in group}


def help_lines(width: int | None = None, about: str | None = None) -> list[str]:
    """The answer to /help in the language in use: one line per command, its name in
    that language first, the other names in brackets, then what it does. ``about``: None,
    every command (the whole list); "": the most used, then how to ask for the others
    (/help alone); a topic (an English key of _TOPICS): its commands; a command's English
    word: that command. With ``width`` (the terminal's columns left for it) each description
    is wrapped at spaces to fit, its further lines under its first (shared/columns.py);
    without, one line each."""
    every = [row for rows in _HELP.values() for row in rows]
    if about is None:
        chosen = every
    elif about == "":
        chosen = [row for key in _MOST_USED for row in every if (row[0] or row[1]) == key]
    elif about in _HELP:
        chosen = list(_HELP[about])
    else:
        chosen = [row for row in every if row[0] == about]
    rows = []
    for word, arguments, what in chosen:
        if word is None:
            head, others = _(arguments), ""
        else:
            names = command_names(word)
            head = f"/{names[0]} {_(arguments) if arguments else ''}".rstrip()
            others = " (" + ", ".join(f"/{name}" for name in names[1:]) + ")" if names[1:] else ""
        rows.append((head, f"{_(what)}{others}"))
    if about == "":
        topics = ", ".join(command_names(topic, table=_TOPICS)[0] for topic in _TOPICS)
        rows.append((_("/{help} TOPIC").format(help=command_names("help")[0]),
                     _("the other commands, by topic: {topics}").format(topics=topics)))
        rows.append((_("/{help} COMMAND").format(help=command_names("help")[0]),
                     _("one command, with its other names (/{help} {kick})").format(
                         help=command_names("help")[0], kick=command_names("kick")[0])))
    return hanging_lines(rows, width)


def completion_words() -> list[str]:
    """The command words Tab offers after "/": those of the language in use and English
    (any works; offering every language's would make "/que" stop at /query or /quem)."""
    language = i18n.current()
    return [name for names in COMMAND_WORDS.values() for group in (language, "en") for name in names.get(group, ())]


def argument_words(typed: str) -> list[str] | None:
    """What Tab offers for the word after the command typed ``typed`` (without its "/"),
    when that word is no name: after /help, its topics (the names /help shows, those of
    the language in use only: "moderation" beside "moderação" made "/ajuda mod" Tab stop
    at "moder"), then the command words (/help COMMAND); after /receipts, its switch's
    positions. None after the others: names."""
    word = unicodedata.normalize("NFC", typed.lower())
    if word in command_names("help"):
        return [command_names(topic, table=_TOPICS)[0] for topic in _TOPICS] + completion_words()
    if word in command_names("receipts"):
        return [position for position in RECEIPTS_WORDS if position != "nao"]
    return None


def help_topic(typed: str) -> str | None:
    """What ``typed`` (after /help) asks about: a topic's English name (a topic before the
    command of the same name: "rooms" lists /rooms too), a command's English word, or None
    for neither. Any language's names, any case, with or without the command's "/"."""
    word = unicodedata.normalize("NFC", typed.lower())
    return _TOPIC_WORDS.get(word) or _WORDS.get(word[1:] if word.startswith("/") else word)


# Commands the original assignments' clients took without a "/" (``sair``, ``lista``,
# ``lookup Bob``), by English name, with how many arguments: typed so here, as a line's
# only words, they would go to the room as a message (bare_command).
_BARE = {"quit": 0, "who": 0, "whois": 1}


def bare_command(line: str) -> str | None:
    """The command ``line`` is, typed without its "/" (``"/sair"`` for ``sair``, ``"/lookup
    Bob"`` for ``lookup Bob``): a name of a command of _BARE, in any language, and exactly its
    arguments (a valid name for whois), as the line's only words; else None."""
    words = line.split()
    if not words or line.lstrip().startswith(("/", "@")):
        return None
    word = _WORDS.get(unicodedata.normalize("NFC", words[0].lower()))
    if word not in _BARE or len(words) != 1 + _BARE[word]:
        return None
    if len(words) > 1 and isinstance(_check_name(words[1], ""), Mistake):
        return None
    return "/" + " ".join(words)


# "@" name, then whitespace, then the text (which may be empty; checked by the caller).
_ADDRESSED = re.compile(r"@(\S*)\s*(.*)", re.DOTALL)


def _check_name(raw: str, usage: str) -> str | Mistake:
    """Return the name in ``raw`` (a leading ``@`` allowed) or a Mistake saying what is wrong."""
    name = raw[1:] if raw.startswith("@") else raw
    if not name:
        return Mistake(_("usage: {usage}").format(usage=usage))
    try:
        return validate_name(name)
    except InvalidName as exc:
        # Shown with repr() so control characters in the typo are visible, not executed.
        return Mistake(not_a_name(name, exc, _))


def parse_command(line: str, target: str | None = None) -> Command:
    """Interpret one input line (its line ending, if any, is ignored); never raises.

    ``target`` is where plain lines go: a user name, or None for the room.
    """
    line = line.rstrip("\r\n")
    if not line.strip():
        return Blank()
    if line.startswith("//") or line.startswith("@@"):
        return _plain(line[1:], target)
    if line.startswith("@#"):
        return _room_message(line)
    if line.startswith("@"):
        head, text = _ADDRESSED.fullmatch(line).groups()
        checked = _check_name(head.rstrip(":,"), _("@NAME TEXT"))
        if isinstance(checked, Mistake):
            return checked
        if not text.strip():
            return Mistake(_("nothing to send to {name}: type @{name} TEXT (or /{to} {name})").format(
                name=checked, to=command_names("to")[0]))
        return SendText(checked, text)
    if line.startswith("/"):
        parts = line[1:].split()
        # "/ text" or a lone "/" is no command word; it falls through to "unknown".
        typed = unicodedata.normalize("NFC", parts[0].lower()) if parts and not line[1].isspace() else ""
        word = _WORDS.get(typed, "")
        args = parts[1:]
        if word in ("to", "query"):
            if len(args) != 1:
                return Mistake(_("usage: /{to} NAME (then plain lines go to NAME; /{all} goes back to the room)").format(
                    to=typed, all=command_names("all")[0]))
            if args[0].startswith("#"):
                checked = check_room(args[0], _("/{command} #ROOM").format(command=typed))
            else:
                checked = _check_name(args[0], _("/{command} NAME").format(command=typed))
            return checked if isinstance(checked, Mistake) else SetTarget(checked)
        if word == "msg":
            return _message(line, typed)
        if word == "reply":
            text = _rest(line)
            if not text.strip():
                return Mistake(_("usage: /{command} TEXT (sent to whoever sent you the last direct message)").format(
                    command=typed))
            return ReplyText(text)
        if word == "all":
            return SetTarget(None) if not args else Mistake(_("usage: /{command} (it takes no arguments)").format(
                command=typed))
        if word == "who":
            return ShowWho() if not args else Mistake(
                _("usage: /{command} (it takes no arguments; see /{whois} NAME)").format(
                    command=typed, whois=command_names("whois")[0]))
        if word == "whois":
            if len(args) != 1:
                return Mistake(_("usage: {usage}").format(usage=_("/{command} NAME").format(command=typed)))
            checked = _check_name(args[0], _("/{command} NAME").format(command=typed))
            return checked if isinstance(checked, Mistake) else ShowWhois(checked)
        if word == "history":
            return _history(args, typed)
        if word in ("block", "unblock"):
            if len(args) != 1:
                return Mistake(_("usage: {usage}").format(usage=_("/{command} NAME").format(command=typed)))
            checked = _check_name(args[0], _("/{command} NAME").format(command=typed))
            return checked if isinstance(checked, Mistake) else SetBlocked(checked, word == "block")
        if word == "register":
            if args:
                # Never take a password from the line: it would show on screen and in history.
                return Mistake(_("usage: /{command} (alone: the password is asked without echo)").format(command=typed))
            return ClaimName()
        if word == "password":
            if args:  # as /register: a password on the line would show on screen and in history
                return Mistake(_("usage: /{command} (alone: the passwords are asked without echo)").format(
                    command=typed))
            return SetPassword()
        if word == "unregister":
            if args:  # as /register: a password on the line would show on screen and in history
                return Mistake(_("usage: /{command} (alone: the password is asked without echo)").format(
                    command=typed))
            return DeleteAccount()
        if word == "receipts":
            return _receipts(args, typed)
        if word in _ROOM_WORDS:
            return _room_command(word, typed, line)
        if word == "edit":
            text = _rest(line)
            if not text.strip():
                return Mistake(_("usage: /{command} TEXT (your last message now reads TEXT)")
                               .format(command=typed))
            return EditLast(text.strip())
        if word == "delete":
            if len(args) > 1:
                return Mistake(_("usage: {usage}").format(usage=_("/{command} [NAME]").format(command=typed)))
            if not args:
                return DeleteLast()
            checked = _check_name(args[0], _("/{command} [NAME]").format(command=typed))
            return checked if isinstance(checked, Mistake) else DeleteLast(checked)
        if word == "help":
            if not args:
                return ShowHelp()
            about = help_topic(args[0]) if len(args) == 1 else None
            if about is None:
                topics = ", ".join(command_names(topic, table=_TOPICS)[0] for topic in _TOPICS)
                return Mistake(_("usage: /{command} [TOPIC|COMMAND]: the topics are {topics}; a command is named "
                                 "as typed, /{kick} or {kick}").format(command=typed, topics=topics,
                                                                        kick=command_names("kick")[0]))
            return ShowHelp(about)
        if word == "quit":
            return Quit()
        shown = line.split()[0] if not line[1:2].isspace() else "/"
        return Mistake(_("unknown command {command}: type /{help} for the list "
                         "(start the line with // to send a text that begins with /)").format(
            command=repr(shown[:40]), help=command_names("help")[0]))
    return _plain(line, target)


def _rest(line: str, words: int = 1) -> str:
    """What follows the first ``words`` words of ``line``, its spacing kept."""
    rest = line.rstrip("\r\n")
    for _word in range(words):
        rest = rest.lstrip()
        cut = re.search(r"\s", rest)
        rest = rest[cut.start():] if cut else ""
    return rest.lstrip(" \t")


def _message(line: str, typed: str) -> SendText | Mistake:
    """``/msg NAME TEXT``: like ``@NAME TEXT``."""
    usage = _("/{command} NAME TEXT").format(command=typed)
    parts = line.split(None, 2)
    if len(parts) < 2:
        return Mistake(_("usage: {usage}").format(usage=usage))
    checked = _check_name(parts[1].rstrip(":,"), usage)
    if isinstance(checked, Mistake):
        return checked
    text = _rest(line, 2)
    if not text.strip():
        return Mistake(_("nothing to send to {name}: type /{command} {name} TEXT").format(name=checked,
                                                                                         command=typed))
    return SendText(checked, text)


def _history(args: list[str], typed: str = "history") -> ShowHistory | Mistake:
    usage = _("usage: /{command} NAME [N] (N from 1 to {most}, default {default})").format(
        command=typed, most=HISTORY_MAX, default=HISTORY_DEFAULT)
    if not 1 <= len(args) <= 2:
        return Mistake(usage)
    if args[0].startswith("#"):  # a room's history (protocol version 2, for its members)
        checked = check_room(args[0], _("/{command} #ROOM [N]").format(command=typed))
    else:
        checked = _check_name(args[0], _("/{command} NAME [N]").format(command=typed))
    if isinstance(checked, Mistake):
        return checked
    if len(args) == 1:
        return ShowHistory(checked, HISTORY_DEFAULT)
    if not (args[1].isascii() and args[1].isdigit()) or not 1 <= int(args[1]) <= HISTORY_MAX:
        return Mistake(usage)
    return ShowHistory(checked, int(args[1]))


# What /receipts takes, in any language in use (lower case): the switch's two positions.
RECEIPTS_WORDS = {"on": True, "off": False, "sim": True, "não": False, "nao": False}


def _receipts(args: list[str], typed: str) -> SetReceipts | Mistake:
    """``/receipts [on|off]`` (Portuguese ``/recibos [sim|não]``; either pair works)."""
    if not args:
        return SetReceipts(None)
    on = RECEIPTS_WORDS.get(unicodedata.normalize("NFC", args[0].lower())) if len(args) == 1 else None
    if on is None:
        return Mistake(_("usage: /{command} [on|off] (read receipts and typing; alone: which it is now)").format(
            command=typed))
    return SetReceipts(on)


def _plain(text: str, target: str | None) -> SendText:
    return SendText(target, text)


# --- Rooms (protocol version 2) ------------------------------------------------------------

_ROOM_WORDS = frozenset({"join", "leave", "rooms", "members", "invite", "topic", "kick", "ban", "unban", "mute",
                         "unmute"})
# The acts on a person, and whether they take a reason after the name.
_ACTS_WITH_REASON = frozenset({"kick", "ban", "mute"})


def check_room(raw: str, usage: str) -> str | Mistake:
    """Return the room in ``raw`` (``#name``; the ``#`` may be left out) or a Mistake. A
    room's name follows the rules of user names (PROTOCOL.md, "Names of rooms")."""
    name = raw[1:] if raw.startswith("#") else raw
    if not name:
        return Mistake(_("usage: {usage}").format(usage=usage))
    try:
        return "#" + validate_name(name, prefix="#")
    except InvalidName as exc:
        return Mistake(_("{room} is not a valid room name: {why}").format(room=repr("#" + name),
                                                                         why=explain_refusal(exc, _)))


def is_room(target: str | None) -> bool:
    """True if ``target`` (of SendText or SetTarget) names a room rather than a person."""
    return target is not None and target.startswith("#")


def _room_message(line: str) -> SendText | Mistake:
    """``@#ROOM TEXT``: like ``@NAME TEXT``, to the members of a room."""
    head, text = _ADDRESSED.fullmatch(line).groups()
    checked = check_room(head.rstrip(":,"), _("@#ROOM TEXT"))
    if isinstance(checked, Mistake):
        return checked
    if not text.strip():
        return Mistake(_("nothing to send to {room}: type @{room} TEXT (or /{join} {room})").format(
            room=checked, join=command_names("join")[0]))
    return SendText(checked, text)


def _room_command(word: str, typed: str, line: str) -> RoomCommand | Mistake:
    """The room commands: ``/join #ROOM``, ``/leave [#ROOM]``, ``/rooms``, ``/members
    [#ROOM]``, ``/topic [#ROOM] TEXT`` and the acts on a person, ``/kick [#ROOM] NAME
    [REASON]`` (``/mute`` takes SECONDS before the reason)."""
    args = line.split()[1:]
    room: str | None = None
    if word == "rooms":
        return ShowRooms() if not args else Mistake(_("usage: /{command} (it takes no arguments)").format(
            command=typed))
    if word == "join":
        usage = _("/{command} #ROOM").format(command=typed)
        if len(args) != 1:
            return Mistake(_("usage: {usage}").format(usage=usage))
        checked = check_room(args[0], usage)
        return checked if isinstance(checked, Mistake) else RoomJoin(checked)
    skip = 1
    if args and args[0].startswith("#"):
        checked = check_room(args[0], _("/{command} #ROOM").format(command=typed))
        if isinstance(checked, Mistake):
            return checked
        room, args, skip = checked, args[1:], 2
    if word in ("leave", "members"):
        if args:
            return Mistake(_("usage: {usage}").format(usage=_("/{command} [#ROOM]").format(command=typed)))
        return RoomLeave(room) if word == "leave" else ShowMembers(room)
    if word == "topic":
        topic = _rest(line, skip).strip()
        if not topic:
            return Mistake(_("usage: {usage}").format(usage=_("/{command} TEXT").format(command=typed)))
        return RoomAct("topic", room, topic)
    usage = (_("/{command} NAME [SECONDS] [REASON]") if word == "mute" else
             _("/{command} NAME [REASON]") if word in _ACTS_WITH_REASON else _("/{command} NAME")).format(command=typed)
    if not args or (word not in _ACTS_WITH_REASON and len(args) != 1):
        return Mistake(_("usage: {usage}").format(usage=usage))
    checked = _check_name(args[0], usage)
    if isinstance(checked, Mistake):
        return checked
    seconds: float | None = None
    skip += 1
    if word == "mute" and len(args) > 1 and args[1].isascii() and args[1].isdigit():
        seconds = float(args[1])
        if seconds <= 0:
            return Mistake(_("usage: {usage}").format(usage=usage))
        if seconds > const.MAX_MUTE_SECONDS:  # the server refuses it (bad_field): said here, in words
            return Mistake(_("usage: {usage}; SECONDS is at most {limit} (a year)").format(
                usage=usage, limit=const.MAX_MUTE_SECONDS))
        skip += 1
    elif word == "mute" and len(args) > 1 and args[1].lstrip("+-")[:1].isdigit():
        # "10min", "-5", "1.5": a length meant, which as a reason would mute with no end.
        return Mistake(_("usage: {usage}; SECONDS is a whole number of seconds (600 for 10 minutes)").format(
            usage=usage))
    reason = _rest(line, skip).strip() or None if word in _ACTS_WITH_REASON else None
    return RoomAct(word, room, checked, seconds, reason)
