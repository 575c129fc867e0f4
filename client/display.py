"""Turning what the server sent into text that is safe to print on a terminal, in the
user's words: the escapes themselves are shared/safetext.py's (:func:`sanitize`, which the
server's log uses too), re-exported here for the clients.
"""

from __future__ import annotations

import datetime
import math
import time
import unicodedata
from typing import TYPE_CHECKING

import const
from i18n import N_, _, decimal, ngettext
from registry import InvalidName, canonical, validate_name
from registry.names import explain as explain_name
from registry.names import lookalike_key
from shared.safetext import sanitize

from .errors import LocalError
from .serverclock import on_this_clock, server_now
from .serverwindow import edit_window

if TYPE_CHECKING:
    from collections.abc import Sequence

    from protocol import RoomNotice

# A `left` notice's reason (PROTOCOL.md, "joined, left") in the user's language. The English
# is the reason as the server words it (but a lost connection's: _LOST); one not listed (a
# newer server's) is shown as it came.
LEFT_REASONS = {
    "quit": N_("quit"),
    "disconnected": N_("disconnected"),
    "timeout": N_("timeout"),
    "slow consumer": N_("slow consumer"),
    "frame timeout": N_("frame timeout"),
    const.SHUTDOWN_REASON: N_("server shutting down"),  # a stopping server's bye
    "server lost the cluster": N_("server lost the cluster"),
    "connection lost (server stopped)": N_("connection lost: server stopped"),  # (_LOST)
    const.TOO_MANY_ERRORS_REASON: N_("too many errors"),  # malformed frames in a row
    const.PROTOCOL_ERROR_REASON: N_("protocol error"),  # a breach of the WebSocket's rules
    const.PASSWORD_RESET_REASON: N_("password reset by the server operator"),  # the console's /password
    const.PASSWORD_CHANGED_REASON: N_("password changed in another session"),  # a password frame
    const.ACCOUNT_DELETED_REASON: N_("account deleted"),  # an unregister frame, or the console's /unregister
}
# The causes of a lost connection the server can name (server/relay.py: the class of the
# exception asyncio handed its connection_lost; over TLS, the ssl module's), in words with
# the term a networking course uses: "ConnectionResetError" is Python's, not words. A cause
# not listed (an exception from a bug) is said as it came (reason_words).
_RESET = N_("connection lost: reset by the other side")  # an RST came; a write after it: EPIPE
_TLS = N_("connection lost: TLS error")
LEFT_REASONS.update({f"connection lost ({cause})": words for cause, words in {
    "ConnectionResetError": _RESET,
    "BrokenPipeError": _RESET,
    "ConnectionAbortedError": N_("connection lost: aborted by the network"),
    "OSError": N_("connection lost: network error"),  # an ICMP error: the host or network unreachable
    "SSLError": _TLS, "SSLEOFError": _TLS, "SSLSyscallError": _TLS, "SSLZeroReturnError": _TLS,
}.items()})
# The server's "connection lost (CAUSE)", CAUSE an exception's name. Said with the cause after
# a colon: the reason goes into brackets of its own ("left (WHY)"), and "left (connection lost
# (server stopped))" was two pairs deep.
_LOST = "connection lost ("


def reason_words(reason: str) -> str:
    """A reason the server gave (a `left` notice's, its goodbye's) in the user's language,
    sanitised: the server words it in English."""
    words = LEFT_REASONS.get(reason)
    if words is not None:
        return _(words)
    if reason.startswith(_LOST) and reason.endswith(")"):
        return _("connection lost: {cause}").format(cause=sanitize(reason[len(_LOST):-1]))
    return sanitize(reason)


# How the shells word a connection's end that the socket reported: the operating system's
# words (its strerror, in English), which say nothing to a person (lost_words).
CONNECTION_ERROR = N_("connection error: {why}")
WRITE_FAILED = N_("writing to the server failed: {why}")


def lost_words(reason: str) -> str | None:
    """Why a connection went, for a person (a status bar): ``reason`` (the client core's
    ``close_reason``, in the user's language already: "no data from the server for 45 s",
    "the server closed the connection", a refusal, the server's goodbye) in words; None
    when it is empty or the operating system's wording of a socket error
    (CONNECTION_ERROR, WRITE_FAILED), for which "the connection was lost" says as much."""
    if not reason or any(reason.startswith(_(socket_words).partition("{why}")[0])
                         for socket_words in (CONNECTION_ERROR, WRITE_FAILED)):
        return None
    return reason_words(reason)


def left_why(reason: str) -> str:
    """What follows "NAME left" for a `left` notice's ``reason``: " (the reason)" in the
    user's language, sanitised; "" for none."""
    return f" ({reason_words(reason)})" if reason else ""


def gone_words(name: str, rooms: Sequence[str], reason: str | None) -> str:
    """One line for someone gone offline, ``name`` as it is to be shown (sanitised, maybe
    coloured): ``reason`` None, only the notices of ``rooms`` (one per room shared) came:
    "* Ana went offline in #redes, #bd"; else their `left` came too, with its reason ("": none):
    "* Ana left (quit; was in #redes)", as "* Ana left (quit)" with no rooms."""
    shared = ", ".join(sanitize(room) for room in rooms)
    if reason is None:
        return _("* {name} went offline in {room}").format(name=name, room=shared)
    if not rooms:
        return _("* {name} left{why}").format(name=name, why=left_why(reason))
    if not reason:
        return _("* {name} left (was in {rooms})").format(name=name, rooms=shared)
    return _("* {name} left ({why}; was in {rooms})").format(name=name, why=reason_words(reason), rooms=shared)


def back_words(name: str, rooms: Sequence[str], joined: bool) -> str:
    """One line for someone come online, as :func:`gone_words` for someone gone: without
    their `joined` (``joined`` False), only the notices of ``rooms`` came: "* Ana is online
    in #redes, #bd"; with it: "* Ana joined (is in #redes)", "* Ana joined" with no rooms."""
    shared = ", ".join(sanitize(room) for room in rooms)
    if not joined:
        return _("* {name} is online in {room}").format(name=name, room=shared)
    if not rooms:
        return _("* {name} joined").format(name=name)
    return _("* {name} joined (is in {rooms})").format(name=name, rooms=shared)


# The words of the window and of the web page (webclient/i18n's "out_of_room") for a room a
# kick or ban of us, or a leave of ours on another device (said as a kick), put us out of:
# "kick" and "ban" what to do there, "refused" a line typed there, "recipient" where Enter sends;
# "away", said in Everyone, a room off the server's list of ours after a reconnection; "dropped", one
# off that list asked again on a live connection (the page's, webclient/rooms.js dropUnlisted: the
# notice of the change that took it may still be on its way, the list made after the change).
# ``{join}`` is the name of the client's own control that joins a room (the window's button,
# JOIN_ROOM_BUTTON; the page's "Join or create a room", webclient/lang.js outOfRoomWords).
OUT_OF_ROOM_TEXTS = {
    "kick": N_("you are no longer in {room}: join it again ({join}) to write here, or open Everyone"),
    "ban": N_("you are no longer in {room}: open Everyone to write to everyone"),
    "refused": N_("not sent, the text stays in the box: {words}"),
    "recipient": N_("Nowhere: you are no longer in {room}"),
    "away": N_("you are no longer in {room}: it left your rooms while you were disconnected (put out of it, or left "
               "on another device); join it again ({join}) to go back"),
    "dropped": N_("you are no longer in {room}: it left your rooms (put out of it, or left on another device); "
                  "join it again ({join}) to go back"),
}

# The window's button that joins (or creates) a room (client/gui/rooms.py), named in its words.
JOIN_ROOM_BUTTON = N_("Join room")


def window_out_of_room_words(room: str, act: str) -> str:
    """The window's words for room ``room``, which a ``kick`` or ``ban`` of us (``act``) put
    us out of while it was on screen: said once in its conversation, and again for each
    line refused there (the terminal's own are client.terminal_lines.out_of_room_words,
    which name its commands; the page's the same, webclient/lang.js outOfRoomWords). No
    offer to join a room the ban keeps us out of."""
    return _(OUT_OF_ROOM_TEXTS["ban" if act == "ban" else "kick"]).format(room=sanitize(room),
                                                                          join=_(JOIN_ROOM_BUTTON))


def window_gone_while_away(room: str) -> str:
    """The window's words, in Everyone, for room ``room``: listed before the connection was
    lost, and not in the server's list of our rooms after the reconnection (put out of it,
    or left on another device, meanwhile: the list does not say which). The page's are the
    same (webclient/lang.js outOfRoomAway)."""
    return _(OUT_OF_ROOM_TEXTS["away"]).format(room=sanitize(room), join=_(JOIN_ROOM_BUTTON))


def window_out_of_room_refused(room: str, act: str) -> str:
    """A line typed in room ``room`` we were put out of, refused in the window (nothing
    sent; the text stays in the input box): why, and what to do."""
    return _(OUT_OF_ROOM_TEXTS["refused"]).format(words=window_out_of_room_words(room, act))


def window_out_of_room_recipient(room: str) -> str:
    """The input box's line naming where Enter sends, in room ``room`` we were put out of."""
    return _(OUT_OF_ROOM_TEXTS["recipient"]).format(room=sanitize(room))


def ours_alike(name: str, me: str) -> str | None:
    """``me`` said as ours ("Conceição (you)") when ``name`` is not ours but looks like it
    (typed without its accents: the server lets nobody else take a name like it,
    registry/names.py rule 7), for "did you mean Conceição (you)?"; else None."""
    if canonical(name) != canonical(me) and lookalike_key(name) == lookalike_key(me):
        return _("{name} (you)").format(name=me)
    return None


def sanitize_lines(text: object) -> str:
    """``text`` made safe to show with its line breaks kept: every line sanitised (control
    and format characters shown as escapes), joined by "\\n" (a "\\r\\n" becomes one). For
    shells that show a message on several lines; a one-line shell sanitises the whole."""
    if not isinstance(text, str):
        return sanitize(text)
    return "\n".join(sanitize(line) for line in text.replace("\r\n", "\n").split("\n"))


def shown_text(text: str, edited: bool = False, deleted: bool = False, deleted_by: str | None = None) -> str:
    """A message's text as every client shows it: with its "edited" mark, or that it was
    deleted (by ``deleted_by``, when someone other than its sender did it); sanitised line
    by line, its line breaks kept (:func:`sanitize_lines`)."""
    if deleted:
        if deleted_by is not None:
            return _("(this message was deleted by {name})").format(name=sanitize(deleted_by))
        return _("(this message was deleted)")
    return sanitize_lines(text) + "  " + _("(edited)") if edited else sanitize_lines(text)


def _joined(before: str, after: str) -> bool:
    """Whether ``before`` and ``after`` belong to one character as a reader sees it (UAX #29's
    grapheme cluster, nearly): ``after`` a mark (an accent typed decomposed, an Indic vowel
    sign, a variation selector), ZWJ, a skin tone or a tag character; ``before`` a ZWJ (the
    sequence goes on), or a virama before a letter (a Hindi conjunct: स्त)."""
    if unicodedata.category(after) in ("Mn", "Mc", "Me") or after == "\u200d":
        return True
    if "\U0001f3fb" <= after <= "\U0001f3ff" or "\U000e0020" <= after <= "\U000e007f":
        return True
    return before == "\u200d" or (unicodedata.combining(before) == 9 and unicodedata.category(after) == "Lo")


def _regional_indicator(char: str) -> bool:
    return "\U0001f1e6" <= char <= "\U0001f1ff"


def characters(text: str) -> list[str]:
    """``text`` cut into characters as a reader sees them (:func:`_joined`; a flag is a pair
    of regional indicators): the places where a line may be broken without parting a letter
    from its accent (João typed with a combining tilde) or an emoji from its modifiers."""
    found: list[str] = []
    for char in text:
        if found and (_joined(found[-1][-1], char)
                      or (_regional_indicator(char) and len(found[-1]) == 1 and _regional_indicator(found[-1]))):
            found[-1] += char
        else:
            found.append(char)
    return found


def cut_whole(text: str, size: int) -> str:
    """At most the first ``size`` code points of ``text``, never ending inside a character as
    a reader sees it (:func:`_joined`; a flag is a pair of regional indicators)."""
    cut = size
    while 0 < cut < len(text) and _joined(text[cut - 1], text[cut]):
        cut -= 1
    indicators = 0
    while indicators < cut and _regional_indicator(text[cut - 1 - indicators]):
        indicators += 1
    if indicators % 2 and cut < len(text) and _regional_indicator(text[cut]):
        cut -= 1
    return text[:cut]


def preview(text: object, limit: int = 60) -> str:
    """A sanitised, shortened form of ``text`` for status lines (``…`` marks a cut).

    The text is cut before escaping, so an escape is never cut in half, and never inside a
    character as a reader sees it (:func:`cut_whole`: a flag, a family, a letter and its accent).
    """
    raw = text if isinstance(text, str) else sanitize(text)
    if len(raw) > limit:
        return sanitize(cut_whole(raw, max(1, limit - 1))) + "…"
    return sanitize(raw)


def format_clock(timestamp: float | None) -> str:
    """``HH:MM`` in local time for a Unix timestamp; ``--:--`` if it is missing or absurd."""
    try:
        return time.strftime("%H:%M", time.localtime(timestamp)) if timestamp is not None else "--:--"
    except (OverflowError, OSError, ValueError, TypeError):
        return "--:--"


def format_when(timestamp: float | None, now: float | None = None) -> str:
    """Local ``HH:MM`` if ``timestamp`` is today (relative to ``now``), else with its date
    too (``YYYY-MM-DD HH:MM``; ``DD/MM/YYYY HH:MM`` in Portuguese)."""
    if timestamp is None:
        return _("an unknown time")
    try:
        then = time.localtime(timestamp)
        today = time.localtime(time.time() if now is None else now)
    except (OverflowError, OSError, ValueError, TypeError):
        return _("an unknown time")
    if (then.tm_year, then.tm_yday) == (today.tm_year, today.tm_yday):
        return time.strftime("%H:%M", then)
    # The date in the reader's order (Portuguese: day/month/year), the clock 24 h in both.
    return time.strftime(_("%Y-%m-%d %H:%M"), then)


# The names of the days (time.struct_time's tm_wday: Monday first) and months, through _():
# strftime's %A and %B say them in the C locale's English whatever the reader's language.
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))
MONTHS = (N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"), N_("July"),
          N_("August"), N_("September"), N_("October"), N_("November"), N_("December"))


def _local_day(timestamp: float | None) -> time.struct_time | None:
    """The local time of ``timestamp``, or None if it is missing or absurd."""
    if timestamp is None:
        return None
    try:
        return time.localtime(timestamp)
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def _day_number(moment: time.struct_time) -> int:
    """The calendar day of a local time as a count of days: the difference of two is how
    many midnights lie between them, whatever daylight saving did to the hours."""
    return datetime.date(moment.tm_year, moment.tm_mon, moment.tm_mday).toordinal()


def day_label(timestamp: float, now: float | None = None) -> str:
    """The local day of ``timestamp`` as its separator names it, relative to ``now``:
    ``Today``, ``Yesterday``, else ``Friday, 27 November`` (``sexta-feira, 27 de novembro``),
    with the year when it is not ``now``'s. The caller has checked that the time is valid."""
    then = time.localtime(timestamp)
    today = time.localtime(time.time() if now is None else now)
    before = _day_number(today) - _day_number(then)
    if before == 0:
        return _("Today")
    if before == 1:
        return _("Yesterday")
    words = {"weekday": _(WEEKDAYS[then.tm_wday]), "day": then.tm_mday, "month": _(MONTHS[then.tm_mon - 1]),
             "year": then.tm_year}
    if then.tm_year == today.tm_year:
        return _("{weekday}, {day} {month}").format(**words)
    return _("{weekday}, {day} {month} {year}").format(**words)


def delivered_words(event) -> str:
    """The line for a ``delivered`` of a message this run did not send (an earlier run's,
    told at the login; the terminal's and ``--send``'s): whom it reached when the server
    says (its ``to``: with several conversations, "message 3" alone named nobody)."""
    if event.to:
        return _("✓✓ delivered to {name}: message {id}").format(name=sanitize(event.to), id=event.msg_id)
    return _("✓✓ delivered: message {id}").format(id=event.msg_id)


def day_rule(label: str) -> str:
    """A day's separator line in the terminal: ``── Yesterday ──``."""
    return f"── {label} ──"


class DayBreaks:
    """Where a view of stamped lines needs a day's separator: before a line whose local
    day is not the previous line's, and before the first line if it is not of today (a
    view of today's lines has none; each line's stamp stays ``HH:MM``). One per view, fed
    its lines' times in the order they are shown; it keeps the last day only."""

    def __init__(self) -> None:
        self._last: int | None = None

    def before(self, timestamp: float | None, now: float | None = None) -> str | None:
        """The separator's label to show before a line stamped ``timestamp``, or None (the
        same day as the line before it; or no valid time, which tells no day)."""
        then = _local_day(timestamp)
        if then is None:
            return None
        day, last = _day_number(then), self._last
        self._last = day
        if day == last:
            return None
        if last is None and day == _day_number(time.localtime(time.time() if now is None else now)):
            return None
        return day_label(timestamp, now)


# The codes the client gives by itself (client/errors.py): their messages are its own
# words, in the language in use, so no code follows them.
_LOCAL_CODES = frozenset(code.value for code in LocalError)

# What each well-known error code means, for people: the one table every client uses (the
# web page gets it, translated, in webclient/i18n/LANG.json). {name} is the recipient (for
# a refused login: the name tried; the window's dialogs say these sentences too),
# {when} says when to try again. Shown through _().
ERROR_TEXTS = {
    "unknown_recipient": N_("nobody called {name} has ever logged in here: check the name"),
    # unknown_recipient with "like": someone online has a name that looks like it ({like}:
    # João for a typed Joao); the message was not sent to them.
    "unknown_recipient_like": N_("nobody called {name} has ever logged in here; did you mean {like}?"),
    # unknown_recipient of an invitation (ACT_TEXTS): a name with no account, on a server
    # that admits only accounts (PROTOCOL.md, "invite"): nobody could log in with it.
    "invite_no_account": N_("{name} has no account here, and only accounts log in on this server: check the name, "
                            "or invite them once they have registered"),
    "recipient_disconnected": N_("{name} disconnected before receiving it"),
    "recipient_busy": N_("{name} has too many messages waiting; try again later"),
    # A message the server took and its recipient's client never confirmed within its
    # lifetime (a blocked sender's too: PROTOCOL.md, "Blocking", so not "did not log in").
    # expired_waited: {waited}, how long it waited (format_span), when the client knows
    # when it was sent.
    "expired": N_("it waited for {name} until it expired: their client never took it; tell them some other way, "
                  "or send it again when they are online"),
    "expired_waited": N_("it waited {waited} for {name} and expired: their client never took it; tell them some "
                         "other way, or send it again when they are online"),
    "name_taken": N_("the name {name} is in use, or kept for a while for the guest who used it last: "
                     "choose another name"),
    # For name_taken with retry_after: the hello proved the guest's own token, and it is
    # its own earlier session (a lost connection the server has not found gone yet, or
    # one on a cluster node that died; or one still open elsewhere) that holds the name.
    # Not "choose another name": a reconnecting client only waits (its line says so).
    # For name_taken with until (and no retry_after): kept for the guest who used it last,
    # until then; {until} the local time, {delay} the time left.
    "name_held": N_("the name {name} is kept for the guest who used it last until {until} ({delay} from now): "
                    "choose another name, or wait"),
    # name_held when this clock cannot tell the wait (see UNTIL_CLOCKLESS).
    "name_held_until": N_("the name {name} is kept for the guest who used it last until {until}: "
                          "choose another name, or wait"),
    "name_still_yours": N_("the name {name} is yours, but a session of yours still holds it: an earlier "
                           "connection the server has not found ended yet, or another client of yours still open "
                           "(on this computer, logged in as {name}); {when}"),
    "bad_password": N_("wrong password"),
    "auth_required": N_("the name {name} is registered: it needs its password"),
    "accounts_required": N_("this server only admits registered names: claim yours with --register"),
    "rate_limited": N_("too many attempts; {when}"),
    # For a write and for a read (a whois Redis did not answer) alike: both use the storage.
    "unavailable": N_("the server cannot use its storage right now (its disk is full or failing, or it "
                      "cannot reach its Redis), so nothing was done; {when}"),
    # For a message the client gave up after repeated unavailable answers (client/core.py
    # UNAVAILABLE_ATTEMPTS): {attempts} answers over {duration}; never the last wait.
    "unavailable_given_up": N_("the server could not store it (its disk is full or failing, or it cannot reach its "
                               "Redis): tried {attempts} times in {duration}, and it was not sent; send it again "
                               "later"),
    # For unavailable with "uncertain" (its storage took the request and did not answer in
    # time), and for a message the client gave up resending after such answers (the
    # client's own code "unconfirmed").
    "unconfirmed": N_("the server's storage did not answer in time, so the server cannot tell whether it "
                      "was done: it may or may not have been"),
    # For a message the client gave up as "unconfirmed" (as unavailable_given_up, but some
    # answer was "uncertain"): {attempts} answers over {duration}.
    "unconfirmed_given_up": N_("the server's storage did not answer in time: tried {attempts} times in {duration}, "
                               "and the server cannot tell whether it was stored: it may or may not have been"),
    "account_exists": N_("this name is already registered: log in with its password, or choose another name"),
    "queue_full": N_("too many messages are waiting for the connection to come back"),
    "server_full": N_("the server has no room for another user now; {when}"),
    # Why the server closed the connection (an error frame without an id, just before).
    "login_timeout": N_("the server closed the connection: the login did not finish in time"),
    "heartbeat_timeout": N_("the server closed the connection: it heard nothing from this client for too long"),
    # The server signed this session out (client/core.py SIGNED_OUT): log in again, with
    # the new password, never the old.
    "password_reset": N_("your password was reset by the server operator: log in again with the new password "
                         "the operator gives you"),
    "password_changed": N_("your password was changed on another device: log in again with the new password"),
    "account_deleted": N_("this account was deleted: its name and what was stored of it are gone from this server"),
    "slow_consumer": N_("the server closed the connection: this client did not read what it was sent fast enough"),
    "too_many_connections": N_("too many connections come from your address (this computer, or your network's); "
                               "close some, or {when}"),
    "unsupported_version": N_("the server does not speak this client's protocol version"),
    # A receipt, ack or read mark (sent without id: its answer comes without one too), an
    # edit or a delete of a message the server has not for this user (PROTOCOL.md "Errors").
    "unknown_message": N_("there is no such message for you on the server (it was deleted, or it was not sent to "
                          "or by you)"),
    "message_too_large": N_("the text is longer than {limit} characters: shorten it, or send it in parts"),
    "too_late": N_("a message can be edited or deleted only within {span} of sending it"),
    # {n}: the shortest password the server takes (const.MIN_PASSWORD_LENGTH).
    "weak_password": N_("a password needs at least {n} characters"),
    # A bad_field of a string too long (the error's "field" and "max_chars": TOO_LONG_TEXTS);
    # {limit}: the server's limit, in characters.
    "topic_too_long": N_("the topic is too long: at most {limit} characters; shorten it"),
    "reason_too_long": N_("the reason is too long: at most {limit} characters; shorten it"),
    # An invalid_name of a name too long, in any field that holds one (a person's, a room's).
    "name_too_long": N_("the name is too long: at most {limit} characters; choose a shorter one"),
    # An invalid_name of a name over its bytes of UTF-8 as sent (the error's "max_bytes"), in
    # any field that holds one: at most 32 characters, but letters made of parts (decomposed
    # Hangul, stacked accents) take many bytes. {limit}: the server's limit, in bytes.
    "name_too_many_bytes": N_("the name is too long: at most {limit} bytes of UTF-8 (a letter takes 1 to 4, one "
                              "made of several parts more); choose a shorter one"),
    # A password (a hello's, a register's, a change's old or new one) over the server's limit.
    "password_too_long": N_("the password is too long: at most {limit} characters"),
    # An invite's banned: the person invited is banned from the room (ACT_TEXTS).
    "invite_banned": N_("{name} is banned from this room: unban them first, then invite them"),
    # A block's or unblock's bad_field: of one's own name (PROTOCOL.md, "block"; ACT_TEXTS).
    "block_self": N_("you cannot block yourself"),
    "unblock_self": N_("you cannot unblock yourself: nobody can block themselves"),
    # An act on a person in a room (ACT_TEXTS: kick, ban, unban, mute, unmute, appoint)
    # refused forbidden: the asker does not run the room, or the person is not below them
    # in it (its owner, or themselves); the error says which only in English.
    "act_forbidden": N_("you may not do that to {name}: only a room's owner, its moderators or an administrator may "
                        "act on its members, each only on someone below them in the room, and nobody on themselves"),
    # A topic or an invitation refused forbidden (ACT_TEXTS): the asker does not run the room.
    "act_staff_only": N_("only a room's owner, its moderators or an administrator may do that in the room; ask them"),
    "too_many_blocked": N_("you block as many names as one may already: unblock someone you no longer need to "
                           "block first"),
    # Refusals whose server words differ by case (PROTOCOL.md "Errors"): one sentence each
    # that covers the cases and says what the user can do.
    "forbidden": N_("you may not do that: only a message's sender may change it, and only a room's owner, its "
                    "moderators or an administrator may manage the room; ask them"),
    "too_many_rooms": N_("no more rooms now: you are in as many rooms as one may be, or too many rooms were made "
                         "(on this server, or lately from your address); leave a room you no longer need, or join "
                         "one that exists"),
    # For too_many_rooms with retry_after: the one cause a wait ends, the rooms made lately
    # from the asker's address (the others, and an older server's, come without it).
    "rooms_from_address": N_("too many rooms were made lately from your address (this computer, or your network's): "
                             "join a room that exists, or {when}"),
    "invalid_name": N_("that name cannot be used: a name has letters and digits of one script, with '_', '-' or "
                       "'.' but no spaces or symbols (a room's name starts with #); choose another"),
    # Rooms: {name} is the room the request named.
    "not_member": N_("you are not in {name}: join it first"),
    # not_member with "name" (NAMED_TEXTS): a moderation act's, about the person it named.
    "not_member_named": N_("{name} is not in {room}"),
    # confusable_name of a new room's name (ROOM_LIKE_TEXTS): {like} is the room that exists.
    "room_confusable": N_("{name} looks too much like {like}, a room that exists: join {like}, or choose another name"),
    "no_such_room": N_("there is no room {name}"),
    "no_such_room_like": N_("there is no room {name}; did you mean {like}?"),
    "room_exists": N_("{name} exists already: join it"),
    "invite_only": N_("{name} is invite-only: ask its moderators to invite you"),
    # {like}: the name it looks like (the error's "like"): maybe the user's own, typed
    # without its accent ("Joao" for João), so not "someone else's".
    "confusable_name": N_("the name {name} looks too much like {like}, a name already in use here: if {like} is "
                          "yours, type it exactly so; otherwise choose another name"),
    # confusable_name with "reserved" (RESERVED_TEXTS): {like} is a word reserved for the
    # server (PROTOCOL.md "Names"), nobody's: typed exactly it is refused too.
    "confusable_name_reserved": N_("the name {name} looks too much like {like}, a word reserved for the server: "
                                   "choose another name"),
    # One's own standing in a room: {name} is the room the error names (its "room"; a
    # say's is the default room). {when}: "try again in …" from the time left of a timed
    # mute (the error's "retry_after"), else WHEN_UNTIMED's words.
    "muted": N_("you are muted in {name}: {when}"),
    # {why}: ": " and the ban's reason (the error's "reason"), or nothing for a ban without one.
    "banned": N_("you are banned from {name}{why}"),
}
# Codes whose sentence is about a named recipient (or room) only: without the name, the
# server's words.
NEEDS_NAME = frozenset({"unknown_recipient", "name_taken", "auth_required", "not_member", "no_such_room",
                        "room_exists", "invite_only", "confusable_name"})
# Codes whose sentence names what the name looks like: without it, the server's words.
NEEDS_LIKE = frozenset({"confusable_name"})
# Codes whose sentence is about the asker's own standing in the room the error names (its
# "room", PROTOCOL.md "error"): without it, the server's words. That is true of both uses
# of banned (the invite of a banned person has no room: it is not the asker who is
# banned), and of an older server's muted, whose lack of retry_after says nothing.
NEEDS_ROOM = frozenset({"muted", "banned"})
# {when} without retry_after, for codes whose wait has no end but someone's act: not
# "try again later".
WHEN_UNTIMED = {"muted": N_("until a moderator unmutes you")}
# Codes that mean one cause of theirs when the error has retry_after: the sentence (its key
# in ERROR_TEXTS) for that cause. name_taken: the guest's own earlier session holds the
# name (never "choose another name" to its holder); too_many_rooms: the rooms made lately
# from the address, and when the next may be.
TIMED_TEXTS = {"name_taken": "name_still_yours", "too_many_rooms": "rooms_from_address"}
# Codes that take another sentence when the error has "like" (its key in ERROR_TEXTS):
# unknown_recipient names the one user online whose name looks like the one typed;
# no_such_room the room a name without its "#" meant ("redes" for "#redes").
LIKE_TEXTS = {"unknown_recipient": "unknown_recipient_like", "no_such_room": "no_such_room_like"}
# Codes that take another sentence when the error's "like" is a room's name (starts with #):
# a new room's name that looks like an existing room's is not a person's "if it is yours".
ROOM_LIKE_TEXTS = {"confusable_name": "room_confusable"}
# Codes that take another sentence when the error has "like" and "reserved" (its key in
# ERROR_TEXTS): confusable_name of a reserved word, which nobody holds, so never "if it is
# yours, type it exactly so" (an older server has no "reserved": the code's own sentence).
RESERVED_TEXTS = {"confusable_name": "confusable_name_reserved"}
# Codes that take another sentence when the error has "until" and no retry_after (its key
# in ERROR_TEXTS): name_taken of a guest name kept for its last guest, until that time.
UNTIL_TEXTS = {"name_taken": "name_held"}
# Codes that take another sentence when a request about a named person was refused, by
# request (its key in ERROR_TEXTS): an invitation's unknown_recipient is a name with no
# account, not one "nobody ... has ever logged in" with; a block's or unblock's bad_field
# is of one's own name, said as what was asked (explain_act_refusal); an act on a person in
# a room refused forbidden is about the person acted on, never a message's sender; a topic's
# or an invitation's forbidden is about who runs the room.
ACT_TEXTS = {("invite", "unknown_recipient"): "invite_no_account", ("invite", "banned"): "invite_banned",
             ("block", "bad_field"): "block_self", ("unblock", "bad_field"): "unblock_self",
             ("topic", "forbidden"): "act_staff_only", ("invite", "forbidden"): "act_staff_only",
             **{(act, "forbidden"): "act_forbidden" for act in ("kick", "ban", "unban", "mute", "unmute", "appoint")}}
# Codes whose error, with "room" and without "name", is about the asker in that room
# (PROTOCOL.md "error"): said as for the room the request named, also where the request was
# an act on someone (an older server's not_member has neither: about either, so its words).
SELF_ROOM = frozenset({"not_member"})
# A string too long (a bad_field; an invalid_name of a name over its characters), by the
# error's "field" (with its "max_chars"): the sentence's key in ERROR_TEXTS. Other fields
# (and a message_too_large's "text"): the code's own sentence, or the server's words.
TOO_LONG_TEXTS = {"topic": "topic_too_long", "reason": "reason_too_long", "name": "name_too_long",
                  "to": "name_too_long", "room": "name_too_long", "with": "name_too_long", "names": "name_too_long",
                  "password": "password_too_long", "old": "password_too_long", "new": "password_too_long"}
# A name over its bytes of UTF-8 (an invalid_name with "max_bytes"), by the error's "field"
# (those of TOO_LONG_TEXTS that hold a name): the sentence's key in ERROR_TEXTS.
TOO_MANY_BYTES_TEXTS = {field: "name_too_many_bytes" for field, key in TOO_LONG_TEXTS.items() if key == "name_too_long"}
# Codes that take another sentence when the error names the person it is about, not the
# asker (its "name", PROTOCOL.md "error"; its key in ERROR_TEXTS): a kick's or appoint's
# not_member of someone not in the room. {name} is that person, {room} the room the
# request named; without both, the code's own sentence (about the asker) or the server's
# words (explain_act_refusal).
NAMED_TEXTS = {"not_member": "not_member_named"}
# "until" is on the server's clock, and the wait ({delay}) is it less the server's now as
# this client reckons it (client/serverclock.py: from the welcome's and pongs' ``now``). Before
# the server said its time (a first login's refusal, an older server) that is this clock's,
# and one hours off said "(2 h from now)" or "(0.1 s from now)". So the wait is said only
# if it is one the thing can last (above 0, at most the seconds given); else the sentence
# (its key in ERROR_TEXTS) that says only until when.
UNTIL_CLOCKLESS = {"name_taken": ("name_held_until", const.GUEST_HOLD)}


def _until_text(code: str, until: float) -> str:
    """The key in ERROR_TEXTS of ``code``'s sentence with ``until``: UNTIL_TEXTS', or
    UNTIL_CLOCKLESS' when the clock makes the wait one it cannot be."""
    clockless, longest = UNTIL_CLOCKLESS.get(code, (UNTIL_TEXTS[code], float("inf")))
    return UNTIL_TEXTS[code] if 0 < until - server_now() <= longest else clockless


def explain_error(code: str, message: str, to: str | None = None, retry_after: float | None = None,
                  like: str | None = None, room: str | None = None, reason: str | None = None,
                  uncertain: bool | None = False, attempts: int | None = None, tried_for: float | None = None,
                  until: float | None = None, waited: float | None = None, waited_said: float | None = None,
                  named: str | None = None, field: str | None = None, max_chars: int | None = None,
                  retrying: bool = False, max_bytes: int | None = None, reserved: bool = False) -> str:
    """One line for the user saying why a request failed: a sentence, not a code.

    Well-known codes get a sentence, in the language in use, that names the recipient
    (or says when to try again, from ``retry_after``); others show the server's own
    message (English: the server does not know the reader's language). Only a code this
    table does not know is shown too, as it is on the wire, in parentheses at the end: it
    is all a reader (or whoever they ask) has to go on then. Everything that came from the network is sanitised. This table is
    the one place where clients turn an error code into words. ``like``, ``room`` and
    ``reason`` are the error's fields of those names (PROTOCOL.md, "error"); ``uncertain``
    (an ``unavailable`` error's field) says it in the words of ``unconfirmed``: never
    "nothing was done" when the server cannot know. A code in TIMED_TEXTS with
    ``retry_after`` is said in the words of the cause that has a wait (a ``name_taken``:
    the guest's own earlier session holds the name, never "choose another name" to its
    holder; a ``too_many_rooms``: the rooms made from the address, and when the next may be).
    A code in LIKE_TEXTS with ``like`` names it ("did you mean João?"); one in UNTIL_TEXTS
    with ``until`` (the error's field, a Unix time) and no ``retry_after`` says until when
    and for how long (a guest name kept for its last guest).
    ``attempts`` and ``tried_for`` (an ``unavailable`` or ``unconfirmed`` the client gave a
    message up after, a Failure's): how often and how long it was tried, never the server's
    last wait. ``waited`` (an ``expired`` message's, when the client knows when it was sent):
    the seconds since then; ``waited_said``: the error's ``waited``, what the server says it
    waited; one of them said (:func:`expired_wait` chooses, :func:`format_span` words it).
    ``named``: the error's ``name``, the person a code of NAMED_TEXTS is about (``to`` the
    room the request named); a code of SELF_ROOM with ``room`` and no ``named`` is about
    the asker in that room. ``field`` and ``max_chars`` (a string too long: the error's
    fields of those names): a field in TOO_LONG_TEXTS is said in its sentence, with the
    limit; a ``message_too_large`` says the server's limit. ``max_bytes`` (a name over its
    bytes of UTF-8: the error's field): a field in TOO_MANY_BYTES_TEXTS is said in its
    sentence, with that limit. ``retrying``: the client tries
    again by itself (a refused reconnection, whose line says its own wait): the sentence
    says so, never "try again in ..." nor "try again later". ``reserved`` (the error's
    field): a code of RESERVED_TEXTS with ``like`` names it as a reserved word.
    """
    if code in SELF_ROOM and room and not named:
        to = room
    too_long = TOO_LONG_TEXTS.get(field) if type(max_chars) is int and type(field) is str else None
    too_many_bytes = TOO_MANY_BYTES_TEXTS.get(field) if type(max_bytes) is int and type(field) is str else None
    limit = max_chars if type(max_chars) is int else max_bytes if too_many_bytes else const.MAX_TEXT_CHARS
    too_long = too_long or too_many_bytes
    if code == "invalid_name" and to:
        problem = _name_problem(to)
        if problem is not None:  # (the server's rules may differ: then the sentence for them all, below)
            return _("that name cannot be used: {why}; choose another").format(why=problem)
    about_them = bool(named) and bool(to) and code in NAMED_TEXTS
    spent = expired_wait(waited_said, waited) if code == "expired" else None
    unsure = code == "unconfirmed" or (uncertain and code == "unavailable")
    template = ERROR_TEXTS["unconfirmed_given_up"] if attempts and unsure \
        else ERROR_TEXTS["unconfirmed"] if unsure \
        else ERROR_TEXTS["unavailable_given_up"] if attempts and code == "unavailable" \
        else ERROR_TEXTS[NAMED_TEXTS[code]] if about_them \
        else ERROR_TEXTS[TIMED_TEXTS[code]] if code in TIMED_TEXTS and retry_after is not None \
        else ERROR_TEXTS[ROOM_LIKE_TEXTS[code]] if code in ROOM_LIKE_TEXTS and type(like) is str and like[:1] == "#" \
        else ERROR_TEXTS[LIKE_TEXTS[code]] if code in LIKE_TEXTS and like \
        else ERROR_TEXTS[RESERVED_TEXTS[code]] if code in RESERVED_TEXTS and like and reserved \
        else ERROR_TEXTS[_until_text(code, until)] if code in UNTIL_TEXTS and until is not None \
        else ERROR_TEXTS["expired_waited"] if spent is not None \
        else ERROR_TEXTS[too_long] if too_long is not None \
        else ERROR_TEXTS.get(code)
    if template is None or (code in NEEDS_NAME and not to) or (code in NEEDS_LIKE and not like) \
            or (code in NEEDS_ROOM and not room):
        text = sanitize(message) or _("no explanation given")
        if code not in ERROR_TEXTS and code not in _LOCAL_CODES:  # unknown: the code is the only clue
            return f"{text} ({sanitize(code)})"
    else:
        untimed = WHEN_UNTIMED.get(code)
        when = _("the client tries again by itself") if retrying \
            else _("try again in {delay}").format(delay=format_delay(retry_after)) if retry_after is not None \
            else _(untimed) if untimed else _("try again later")
        name = named if about_them else room if code in NEEDS_ROOM else to
        text = _(template).format(name=sanitize(name) if name else _("the recipient"), when=when,
                                  room=sanitize(to) if to else "",
                                  limit=limit, span=format_span(edit_window()),
                                  n=const.MIN_PASSWORD_LENGTH,
                                  like=sanitize(like) if like else "", why=f": {sanitize(reason)}" if reason else "",
                                  attempts=attempts, duration=format_delay(tried_for),
                                  until=format_when(on_this_clock(until)) if until is not None else "",
                                  delay=format_delay(max(0.0, until - server_now())) if until is not None else "",
                                  waited=format_span(spent) if spent is not None else "")
    return text


def expired_wait(said: float | None, measured: float | None) -> float | None:
    """How long an expired message waited, to say: what the server said (the ``expired``
    error's ``waited``: its lifetime there, whatever its operator set), else the client's
    own ``measured`` seconds since it was sent, at most const.QUEUE_TTL (an older server's,
    told at a later login: it waited its lifetime, no more); None when neither is known."""
    if said is not None:
        return said
    return None if measured is None else min(measured, const.QUEUE_TTL)


def _name_problem(name: str) -> str | None:
    """What is wrong with ``name`` (a person's, or a room's with its #) by the client's own
    rules (registry.validate_name), in the language in use; None if they find nothing."""
    room = name.startswith("#")
    try:
        validate_name(name[1:] if room else name, prefix="#" if room else "")
    except InvalidName as exc:
        return sanitize(explain_name(exc, _))
    return None


def explain_refusal(refusal, to: str | None = None, waited: float | None = None) -> str:
    """:func:`explain_error` for ``refusal``: an error from the server (an ErrorReply, a
    RequestFailed) or a failed message's ``error`` (the pair ``(code, message)``, or a
    Failure), with its other fields (``retry_after``, ``like``, ``room``, ``reason``,
    ``uncertain``, an expiry's ``waited``, ``name``) when it has them. ``to``: the
    recipient or room the request named; ``waited``: as :func:`explain_error`'s."""
    code, message = refusal[:2] if isinstance(refusal, tuple) else (refusal.code, refusal.message)
    if getattr(refusal, "local", False):  # the client's own words, the exact reason (LoginRefused)
        return sanitize(message)
    room = getattr(refusal, "room", None) or getattr(refusal, "room_name", None)
    return explain_error(code, message, to, getattr(refusal, "retry_after", None), getattr(refusal, "like", None),
                         room, getattr(refusal, "reason", None), uncertain=getattr(refusal, "uncertain", False),
                         attempts=getattr(refusal, "attempts", None), tried_for=getattr(refusal, "tried_for", None),
                         until=getattr(refusal, "until", None), waited=waited,
                         waited_said=getattr(refusal, "waited", None), named=_named(refusal),
                         field=getattr(refusal, "field", None), max_chars=getattr(refusal, "max_chars", None),
                         max_bytes=getattr(refusal, "max_bytes", None), reserved=getattr(refusal, "reserved", False))


def _named(refusal) -> str | None:
    """The person ``refusal`` says it is about (the error's ``name``), if it says one."""
    named = getattr(refusal, "name", None)
    return named if isinstance(named, str) and named else None


def explain_act_refusal(refusal, act: str, name: str, room: str | None = None) -> str:
    """:func:`explain_refusal` for a room's moderation act ``act`` ("invite", "kick"...)
    on ``name`` in ``room`` (or a "block" or "unblock" of ``name``), refused: the act's own
    sentence for the code where ACT_TEXTS has one (naming ``name``); for a code of
    NAMED_TEXTS whose error names the person it is about (its ``name``: "Olga is not in
    #turma"), that sentence, with ``room``; else the code's, which for a code about a
    named person may be about the asker or the one acted on (an older server's
    not_member, without ``name``), so names nobody."""
    key = ACT_TEXTS.get((act, getattr(refusal, "code", None)))
    if key is not None:  # (an invite's banned: about the person invited, never the asker)
        return _(ERROR_TEXTS[key]).format(name=sanitize(name))
    if room and _named(refusal) and getattr(refusal, "code", None) in NAMED_TEXTS:
        return explain_refusal(refusal, room)
    return explain_refusal(refusal)


# What became of a message that failed (failed_outcome), which every client says apart, as
# the reader must act apart: NOT_SENT, the server refused it at once or the client gave it
# up before the server took it (nothing reached anyone: fix it, or send it again);
# NOT_DELIVERED, the server took it and it expired before the recipient's client confirmed
# it (tell them another way); NOT_CONFIRMED, the server cannot tell whether it took it;
# NOT_YET, the server took it and this client stopped following it (the session ended):
# the server still delivers it.
NOT_SENT, NOT_DELIVERED, NOT_CONFIRMED, NOT_YET = "not_sent", "not_delivered", "not_confirmed", "not_yet"
# Their marks: the window's label and the terminal's lines start with these (the page's
# capitalised labels in webclient/view.js say the same). Shown through _().
FAILED_MARKS = {
    NOT_SENT: N_("✗ not sent"),
    NOT_DELIVERED: N_("✗ not delivered"),
    NOT_CONFIRMED: N_("? not confirmed"),
    NOT_YET: N_("… not delivered yet"),
}


def failed_outcome(error, stored: bool = False) -> str:
    """Which of NOT_SENT, NOT_DELIVERED, NOT_CONFIRMED, NOT_YET a failed message's
    ``error`` (its pair ``(code, message)``, or a Failure) means; ``stored``: the server
    had taken it (the message has a ``msg_id``)."""
    code = error[0] if error else ""
    if code == "expired":
        return NOT_DELIVERED
    if code == "unconfirmed" or (code == "unavailable" and getattr(error, "uncertain", False)):
        return NOT_CONFIRMED
    return NOT_YET if stored else NOT_SENT


def format_span(seconds: float) -> str:
    """How long something lasted, for people: ``7 days``, ``5 h`` (whole, rounded down:
    never more than it was), else as :func:`format_delay` says it."""
    if seconds >= 24 * 3600:
        days = int(seconds // (24 * 3600))
        return ngettext("{n} day", "{n} days", days).format(n=days)
    if seconds >= 3600:
        return _("{n} h").format(n=int(seconds // 3600))
    return format_delay(seconds)


def login_refused_words(refusal, name: str | None = None, server: str | None = None, retrying: bool = False) -> str:
    """"login refused: WHY" for a refused login of ``name`` (``refusal``: a LoginRefused);
    "login refused by SERVER: WHY" when ``server`` (its address) is given. ``retrying``: a
    reconnection's, which the client tries again by itself after the wait its line says
    (explain_error's ``retrying``)."""
    if getattr(refusal, "local", False):
        why = explain_refusal(refusal)
    else:
        why = explain_error(refusal.code, refusal.message, name, refusal.retry_after, getattr(refusal, "like", None),
                            uncertain=getattr(refusal, "uncertain", False), until=getattr(refusal, "until", None),
                            field=getattr(refusal, "field", None), max_chars=getattr(refusal, "max_chars", None),
                            retrying=retrying, max_bytes=getattr(refusal, "max_bytes", None),
                            reserved=getattr(refusal, "reserved", False))
    if server is not None:
        return _("login refused by {server}: {why}").format(server=server, why=why)
    return _("login refused: {why}").format(why=why)


def describe_skipped(count: int) -> str:
    """The words for a ``skipped`` notice: room frames the server did not send us (messages,
    and others' changes of posts and room notices: PROTOCOL.md, "skipped")."""
    return ngettext("{n} room message or update was skipped because your connection is slow",
                    "{n} room messages or updates were skipped because your connection is slow", count).format(n=count)


def format_delay(seconds: float | None) -> str:
    """``0.5 s``, ``12 s``, ``3 min 20 s``: a wait, for people, in their language."""
    if seconds is None or seconds != seconds or seconds < 0:
        return _("a moment")
    if seconds < 10:  # tenths, rounded up: never "0.0 s", which reads as "now"
        tenths = max(1, math.ceil(seconds * 10 - 1e-9))
        return f"{decimal(tenths / 10)} s"  # "5,0 s" in Portuguese
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(seconds + 0.5), 60)
    return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=rest) if rest \
        else _("{minutes} min").format(minutes=minutes)


def unavailable_words(retry_in: float | None, attempt: int | None = None) -> str:
    """The status while the server answers ``unavailable`` (a ServerUnavailable with
    ``retry_in``, the seconds left of the client's wait: None or 0, its resend is out):
    the terminal's line and the window's status bar say this. ``attempt``: the number of
    the try to come, said too (the terminal's line, rewritten at each new wait)."""
    if attempt is not None:
        if retry_in is None or retry_in <= 0:
            return _("the server is unavailable (it cannot store messages now); trying again now "
                     "(attempt {n})").format(n=attempt)
        return _("the server is unavailable (it cannot store messages now); trying again in {delay} "
                 "(attempt {n})").format(delay=format_delay(retry_in), n=attempt)
    if retry_in is None or retry_in <= 0:
        return _("the server is unavailable (it cannot store messages now); trying again now")
    return _("the server is unavailable (it cannot store messages now); trying again in {delay}").format(
        delay=format_delay(retry_in))


# What a change answered after its caller was told that no answer came (the library's
# AnsweredLate) did, by its frame type and whether the server made it: {name}, this user;
# {who}, the person a block or a room act named; {room}, {role}; {why}, the refusal. A room
# act refused is said by ROOM_NOT_DONE; a mode by what it made the room. The terminal and
# the window say these alike.
_LATE = {
    ("register", True): N_("the server's answer came late: {name} is registered after all: log in with its "
                           "password from now on"),
    ("register", False): N_("the server's answer came late: {name} was not registered: {why}"),
    ("password", True): N_("the server's answer came late: your password was changed: log in with the new one "
                           "from now on"),
    ("password", False): N_("the server's answer came late: your password was not changed: {why}"),
    ("settings", True): N_("the server's answer came late: your read receipts setting was changed"),
    ("settings", False): N_("the server's answer came late: your read receipts setting was not changed: {why}"),
    ("block", True): N_("the server's answer came late: you blocked {who}: their messages no longer reach you"),
    ("block", False): N_("the server's answer came late: {who} was not blocked: {why}"),
    ("unblock", True): N_("the server's answer came late: you unblocked {who}"),
    ("unblock", False): N_("the server's answer came late: {who} was not unblocked: {why}"),
    ("unregister", True): N_("the server's answer came late: your account was deleted"),
    ("unregister", False): N_("the server's answer came late: your account was not deleted: {why}"),
    ("edit", True): N_("the server's answer came late: your message was edited"),
    ("edit", False): N_("the server's answer came late: your message was not edited: {why}"),
    ("delete", True): N_("the server's answer came late: the message was deleted"),
    ("delete", False): N_("the server's answer came late: the message was not deleted: {why}"),
    ("join", True): N_("the server's answer came late: you are in {room}"),
    ("leave", True): N_("the server's answer came late: you left {room}"),
    ("invite", True): N_("the server's answer came late: {who} was invited to {room}"),
    ("topic", True): N_("the server's answer came late: the topic of {room} was set"),
    ("kick", True): N_("the server's answer came late: {who} was put out of {room}"),
    ("ban", True): N_("the server's answer came late: {who} was banned from {room}"),
    ("unban", True): N_("the server's answer came late: the ban on {who} in {room} was lifted"),
    ("mute", True): N_("the server's answer came late: {who} was muted in {room}"),
    ("unmute", True): N_("the server's answer came late: {who} may write in {room} again"),
    ("appoint", True): N_("the server's answer came late: {who} was made {role} of {room}"),
    ("mode-invite_only", True): N_("the server's answer came late: {room} was made invite-only"),
    ("mode-public", True): N_("the server's answer came late: {room} was made public"),
}
ROOM_NOT_DONE = N_("the server's answer came late: that was not done in {room}: {why}")
# A leave whose late answer cannot tell whether it was done (AnsweredLate ``uncertain``):
# the front ends keep the room unless a "left" comes.
LEAVE_UNCONFIRMED = N_("the server's answer came late but could not confirm that you left {room}: it stays among "
                       "your rooms unless a notice says you left; you may leave it again")


def late_answer_words(event, name: str) -> str:
    """What an :class:`~client.events.AnsweredLate` did, in words (no "* " nor capital: the
    terminal and the window each mark it their way); ``name``: this user's. A request this
    table does not know is said in general terms."""
    asked = event.asked
    who, room = getattr(asked, "name", None), getattr(asked, "room_name", None)
    if getattr(event, "uncertain", False) and event.request == "leave" and room is not None:
        return _(LEAVE_UNCONFIRMED).format(room=sanitize(room))
    why = explain_error(event.code, event.message, who or name, room=room) if not event.done else ""
    request = event.request
    if request == "mode" and hasattr(asked, "invite_only"):
        request = "mode-invite_only" if asked.invite_only else "mode-public"
    template = _LATE.get((request, event.done))
    if template is None and room is not None and not event.done:
        template = ROOM_NOT_DONE
    if template is None or ("{who}" in template and who is None) or ("{room}" in template and room is None):
        return (_("the server's answer came late: it was done") if event.done
                else _("the server's answer came late: it was not done: {why}").format(why=why))
    return _(template).format(name=sanitize(name), why=why, who=sanitize(who or ""), room=sanitize(room or ""),
                              role=describe_role(getattr(asked, "role", "") or ""))


# What the terminal says while a command waits for the server's answer (client/terminal_screen.py,
# Screen.awaiting), by the command's English word; {name}: the person or room it is about,
# {room}: the room a person is acted on in (a moderation act) or that is joined or left.
_AWAITING = {
    "whois": N_("* looking up {name} on the server…"),
    "who": N_("* asking the server who is online…"),
    "history": N_("* asking the server for the history with {name}…"),
    "room history": N_("* asking the server for the history of {name}…"),
    "rooms": N_("* asking the server for the list of rooms…"),
    "members": N_("* asking the server who is in {name}…"),
    "join": N_("* asking the server to let you into {room}…"),
    "leave": N_("* asking the server to take you out of {room}…"),
    "invite": N_("* asking the server to invite {name} to {room}…"),
    "topic": N_("* asking the server to set the topic of {room}…"),
    "kick": N_("* asking the server to put {name} out of {room}…"),
    "ban": N_("* asking the server to ban {name} from {room}…"),
    "unban": N_("* asking the server to lift the ban on {name} in {room}…"),
    "mute": N_("* asking the server to mute {name} in {room}…"),
    "unmute": N_("* asking the server to let {name} write in {room} again…"),
    "block": N_("* asking the server to block {name}…"),
    "unblock": N_("* asking the server to unblock {name}…"),
    "edit": N_("* asking the server to edit your last message…"),
    "delete": N_("* asking the server to delete your last message…"),
    "delete post": N_("* asking the server to delete the last post of {name} in {room}…"),
    "receipts on": N_("* asking the server to turn read receipts on…"),
    "receipts off": N_("* asking the server to turn read receipts off…"),
    "register": N_("* asking the server to register {name}…"),
    "password": N_("* asking the server to change the password of {name}…"),
    "unregister": N_("* asking the server to delete the account {name}…"),
}


def awaiting_words(command: str, name: str = "", room: str = "") -> str:
    """The notice that /``command`` (its English word: whois, who, history, join, kick,
    block, edit...; "receipts on" or "off") about ``name`` (in ``room``) waits for the
    server's answer; the history of a room is "of" it, not "with"; a delete that names
    someone is of their last post in ``room``."""
    if command == "history" and name.startswith("#"):
        command = "room history"
    elif command == "delete" and name:
        command = "delete post"
    return _(_AWAITING[command]).format(name=sanitize(name), room=sanitize(room))


# What a room notice says, by its act: {name} (whom it is about), {by}, {room}, {topic},
# {role}; the reason and the end of a mute follow in brackets.
_NOTICES = {
    "joined": N_("* {name} joined {room}"),
    "left": N_("* {name} left {room}"),
    "topic": N_("* {by} set the topic of {room}: {topic}"),
    "invite": N_("* {by} invited {name} to {room}"),
    "kick": N_("* {by} put {name} out of {room}"),
    "ban": N_("* {by} banned {name} from {room}"),
    "unban": N_("* {by} lifted the ban on {name} in {room}"),
    "mute": N_("* {by} muted {name} in {room}"),
    "unmute": N_("* {name} may write in {room} again"),
    "appoint": N_("* {by} made {name} {role} of {room}"),
    "owner": N_("* {name} owns {room} now"),
    "delete": N_("* {by} deleted a message of {name} in {room}"),
    "invite_only": N_("* {by} made {room} invite-only"),
    "public": N_("* {by} made {room} public"),
    "owner-you": N_("* you own {room} now"),  # "owner" naming us: "you owns" is no English
    "delete-you": N_("* {by} deleted a message of yours in {room}"),  # not "a message of you"
    "online": N_("* {name} is online in {room}"),  # presence in a room (PROTOCOL.md)
    "offline": N_("* {name} went offline in {room}"),
}
_ROLES = {"owner": N_("owner"), "moderator": N_("moderator"), "member": N_("member")}
# The reasons the server gives itself (``by`` None: PROTOCOL.md, "room_notice"), said in the
# user's language; a moderator's reason is their own words, shown as typed.
_SERVER_REASONS = {"the mute ended": N_("the mute ended")}


def describe_role(role: str) -> str:
    """A member's role from the server in words (an unknown one as it came, sanitised)."""
    return _(_ROLES[role]) if role in _ROLES else sanitize(role)


def describe_room_notice(event: RoomNotice, me: str) -> str:
    """The line for a room notice; ``me``, when it names us, is "you"."""
    def who(name: str | None) -> str:
        if name is None:
            return _("the server")
        return _("you") if canonical(name) == canonical(me) else sanitize(name)

    mine = event.act in ("owner", "delete") and event.name is not None and canonical(event.name) == canonical(me)
    template = _NOTICES.get(f"{event.act}-you" if mine else event.act)
    if template is None:
        line = f"* {sanitize(event.room_name)}: {sanitize(event.act)} {sanitize(event.name)}"
    else:
        line = _(template).format(name=who(event.name), by=who(event.by), room=sanitize(event.room_name),
                                  topic=sanitize(event.topic or ""), role=describe_role(event.role or ""))
    extras = []
    if event.act == "mute":
        extras.append(_("until {when}").format(when=format_when(on_this_clock(event.until))) if event.until is not None
                      else _("until unmuted"))
    if event.reason and event.by is None and event.reason in _SERVER_REASONS:
        extras.append(_(_SERVER_REASONS[event.reason]))
    elif event.reason:
        extras.append(sanitize(event.reason))
    if extras:
        line = f"{line} ({'; '.join(extras)})"
    if event.act == "ban" and event.address_banned and event.by is not None and canonical(event.by) == canonical(me):
        # The moderator's own ban of a guest: its address is banned too (PROTOCOL.md, "ban").
        line += _("; as {name} is a guest, other guests from the same address are kept out too until the ban "
                  "is lifted").format(name=sanitize(event.name))
    return line
