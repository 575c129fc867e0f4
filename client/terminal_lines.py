"""What the terminal client prints: the line for each event the server sent, for each
answer to a command, and for each state of a message we sent, in the user's words.

Pure functions, tested without a terminal; :mod:`client.terminal` prints what they return.
In a pipe every event is one line (:func:`describe_event`: the list in client/terminal.py's
docstring, which scripts may rely on); on the interactive screen a line starts with its
time, names have their colours and a message's text its indented lines
(:func:`describe_on_screen`, :func:`describe_own`, with client/screen.py's arithmetic).
The words the clients share (error sentences, times, room notices: the window uses them too,
and a test holds the web page's copy of the error sentences to them) are client/display.py's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from protocol import (
    Carbon,
    Deleted,
    Delivered,
    DirectMessage,
    Edited,
    ErrorCode,
    ErrorReply,
    Event,
    FrameRejected,
    HistoryEntry,
    LookupResult,
    MemberEntry,
    Presence,
    Read,
    RoomDeleted,
    RoomEdited,
    RoomEntry,
    RoomInfo,
    RoomMessage,
    RoomNotice,
    RoomPost,
    RoomSkipped,
    RoomTyping,
    Settings,
    Typing,
    UserJoined,
    UserLeft,
    UserList,
)
from i18n import N_, _, ngettext
from registry import canonical
from registry.collation import name_order

from .commands import command_names, is_room
from .core import SIGNED_OUT, is_default_room
from .display import (
    ERROR_TEXTS,
    FAILED_MARKS,
    NOT_CONFIRMED,
    NOT_DELIVERED,
    NOT_YET,
    DayBreaks,
    day_rule,
    delivered_words,
    describe_role,
    describe_room_notice,
    describe_skipped,
    expired_wait,
    explain_error,
    explain_refusal,
    failed_outcome,
    format_clock,
    format_delay,
    format_span,
    format_when,
    left_why,
    preview,
    reason_words,
    sanitize,
    shown_text,
    unavailable_words,
)
from .events import Reconnected, Reconnecting, ServerUnavailable
from .outgoing import DELIVERED, FAILED, QUEUED, SENDING, SENT, MessageUpdate, OutgoingMessage
from .screen import Style, display_width, indent_text



def prompt_for(target: str | None, out: bool = False) -> str:
    """The interactive prompt: where plain lines go; ``out``: a room we were put out of,
    so they are refused there (:func:`out_of_room_words`)."""
    if target is None:
        return _("[room]> ")
    if out:
        return _("[out of {room}]> ").format(room=sanitize(target))
    return f"[{sanitize(target)}]> " if is_room(target) else f"[@{sanitize(target)}]> "


def out_of_room_words(room: str, act: str) -> str:
    """What to do about plain lines that go to ``room``, which a ``kick`` or ``ban`` of us,
    or a leave of ours made on another device (``act`` "left"), put us out of: said at the
    kick, and for each line refused while we are out. No offer to join a room the ban keeps
    us out of."""
    words = _("you are no longer in {room}: /{all} sends plain lines to everyone") if act == "ban" \
        else _("you left {room} on another device: /{all} sends plain lines to everyone, /{join} {room} takes you "
               "back") if act == "left" \
        else _("you are no longer in {room}: /{all} sends plain lines to everyone, /{join} {room} takes you back")
    return words.format(room=sanitize(room), all=command_names("all")[0], join=command_names("join")[0])


def left_elsewhere_words(room: str) -> str:
    """That we left ``room`` on another device (not the room plain lines go to: nothing to do)."""
    return _("you left {room} on another device").format(room=sanitize(room))


def left_after_all_words(room: str, plain_lines_went_there: bool) -> str:
    """That our /leave of ``room``, answered "cannot tell whether it was done", was done (its
    "left" came); ``plain_lines_went_there``: they now go to the default room."""
    words = _("you left {room} after all: the server did the /{leave} it could not confirm; plain lines go to the "
              "room") if plain_lines_went_there \
        else _("you left {room} after all: the server did the /{leave} it could not confirm")
    return words.format(room=sanitize(room), leave=command_names("leave")[0])


def left_late_words(room: str) -> str:
    """That our /leave of ``room``, which plain lines went to, got no answer in time and the
    server's late answer says it was done: they now go to the default room."""
    return _("the server's answer came late: you left {room}; plain lines go to the room").format(room=sanitize(room))


def outcome(message: OutgoingMessage, error: tuple[str, str] | None) -> str:
    """What became of ``message``, failed with ``error``: client.display's NOT_SENT,
    NOT_DELIVERED, NOT_CONFIRMED or NOT_YET (see failed_outcome)."""
    return failed_outcome(error, stored=message.to is not None and message.msg_id is not None)


def still_on_its_way(message: OutgoingMessage, state: str, error: tuple[str, str] | None) -> bool:
    """True when the session ended (``connection_lost``) under a direct message the server
    had stored already (it has a ``msg_id``: sent or queued): no failure, since the server
    will still deliver it; said with "…", the mark of a message on its way, never "✗"."""
    return state == FAILED and outcome(message, error) == NOT_YET


def unconfirmed(state: str, error: tuple[str, str] | None) -> bool:
    """True when the client gave up a message the server may or may not have stored
    (``unconfirmed``, client/core.py): said with "?", never "✗ not delivered"."""
    return state == FAILED and failed_outcome(error) == NOT_CONFIRMED


def failure_words(message: OutgoingMessage, error: tuple[str, str] | None) -> str:
    """Why ``message`` failed, from ``error`` (its ``error``: a Failure with the refusal's
    facts, when the server refused it), naming whom or where it went to; an expired one
    says how long it waited since it was sent."""
    waited = time.time() - message.created if outcome(message, error) == NOT_DELIVERED else None
    return explain_refusal(error or ("unknown", ""), message.addressee, waited)


def describe_status(message: OutgoingMessage, state: str, error: tuple[str, str] | None,
                    now: str | None = None) -> str | None:
    """The status line for ``message`` having reached ``state`` (None: nothing to show);
    ``now``: its text as it reads now, when edited or deleted since it was sent."""
    room = message.to is None
    name = "" if room else sanitize(message.to)
    text = preview(message.text if now is None else now)
    if unconfirmed(state, error):
        where = sanitize(message.room) if message.room is not None else _("the room") if room else name
        return _("? not confirmed, to {name}: {text} — {why}").format(
            name=where, text=text, why=failure_words(message, error))
    if message.room is not None:
        return describe_room_status(message, state, error)
    if still_on_its_way(message, state, error):
        return _("… not yet delivered to {name}: {text} — {why}").format(
            name=name, text=text, why=failure_words(message, error))
    if state == SENT:
        line = _("✓ sent to the room: {text}") if room else _("✓ sent to {name}: {text}")
    elif state == QUEUED:
        # (whom once: after "for"; the screen's own line says it as "offline: kept ...")
        line = _("✓ queued for {name}: {text} (offline: the server keeps it for their next login)")
    elif state == DELIVERED:
        line = _("✓✓ delivered to the room: {text}") if room else _("✓✓ delivered to {name}: {text}")
    elif state == FAILED:
        line = _("✗ not sent to the room: {text} — {why}") if room \
            else _("✗ not delivered to {name}: {text} — {why}") if outcome(message, error) == NOT_DELIVERED \
            else _("✗ not sent to {name}: {text} — {why}")
        return line.format(name=name, text=text, why=failure_words(message, error))
    else:
        return None
    return line.format(name=name, text=text)


def describe_room_status(message: OutgoingMessage, state: str, error: tuple[str, str] | None) -> str | None:
    """The status line for a message to a named room (see :func:`describe_status`)."""
    room, text = sanitize(message.room), preview(message.text)
    if state == SENT:
        return _("✓ sent to {room}: {text}").format(room=room, text=text)
    if state == FAILED:
        return _("✗ not sent to {room}: {text} — {why}").format(room=room, text=text,
                                                                why=failure_words(message, error))
    return None


def describe_typists(names: Sequence[str], room: str) -> str:
    """Who is typing in ``room`` (names and room already sanitised), in one line: two
    named, and how many more past three."""
    if len(names) == 1:
        return _("… {name} is typing in {room}").format(name=names[0], room=room)
    if len(names) == 2:
        return _("… {first} and {second} are typing in {room}").format(first=names[0], second=names[1], room=room)
    if len(names) == 3:
        return _("… {first}, {second} and {third} are typing in {room}").format(
            first=names[0], second=names[1], third=names[2], room=room)
    return ngettext("… {first}, {second} and {n} other are typing in {room}",
                    "… {first}, {second} and {n} others are typing in {room}", len(names) - 2).format(
        first=names[0], second=names[1], n=len(names) - 2, room=room)


def _online_entries(users: Sequence[Presence]) -> list[str]:
    """/who's "NAME (since WHEN)" for each, in name order (registry/collation.py)."""
    return [_("{name} (since {when})").format(name=sanitize(p.name), when=format_when(p.since))
            for p in sorted(users, key=lambda p: name_order(p.name))]


def format_users(users: Sequence[Presence]) -> str:
    """The answer to /who on one line, in name order (registry/collation.py)."""
    if not users:
        return _("* nobody is online")
    return _("* online ({count}): {users}").format(count=len(users), users=", ".join(_online_entries(users)))


def format_users_in_columns(users: Sequence[Presence], width: int) -> list[str]:
    """The answer to /who for the screen: a heading, then the entries in columns no wider
    than ``width`` in all, read down each column as a class list is (30 people on one line
    was 900 characters that the terminal broke anywhere)."""
    if not users:
        return [format_users(users)]
    entries = _online_entries(users)
    cell = max(display_width(entry) for entry in entries) + 2
    across = max(1, (width + 2) // cell)
    rows = -(-len(entries) // across)
    lines = []
    for row in range(rows):
        cells = entries[row::rows]
        lines.append("".join(entry + " " * (cell - display_width(entry)) for entry in cells[:-1]) + cells[-1])
    return [_("* online ({count}):").format(count=len(users))] + lines


def format_lookup(result: LookupResult, like: str | None = None) -> str:
    """The answer to /whois on one line; ``like``: a name known here that looks like the
    one asked for, named when nobody has that one ("did you mean João?")."""
    name = sanitize(result.name)
    if result.status == "online":
        host = sanitize(result.address) if result.address else _("an unknown address")
        where = f"[{host}]" if ":" in host else host
        port = f":{result.port}" if result.port is not None else ""
        if result.node:  # in a cluster: the server that holds that connection
            return _("* {name} is online from {address} on server {node} since {when}").format(
                name=name, address=f"{where}{port}", node=sanitize(result.node), when=format_when(result.since))
        return _("* {name} is online from {address} since {when}").format(
            name=name, address=f"{where}{port}", when=format_when(result.since))
    if result.status == "offline":
        return _("* {name} is offline (messages to them wait for their next login)").format(name=name)
    if result.status == "unknown" and like:
        return _("* {name} is not online (nobody by that name has logged in here): did you mean {like}?").format(
            name=name, like=sanitize(like))
    if result.status == "unknown":
        return _("* {name} is not online (nobody by that name has logged in here)").format(name=name)
    return f"* {name}: {sanitize(result.status)}"


def format_history(peer: str, entries: list[HistoryEntry], me: str, continuation: str | None = None,
                   read_up_to: int | None = None, like: str | None = None, now: float | None = None) -> list[str]:
    """The answer to /history: a heading, then one entry per message, oldest first, each
    stamped ``HH:MM`` under a line naming its day where the day changes (and above the first
    if it is not today, ``now``'s: :class:`~client.display.DayBreaks`). A text
    of several lines is one line with its breaks escaped (``\\n``, a pipe's one line per
    entry), or, given ``continuation`` (the screen's indent), its later lines under it.
    ``read_up_to``: the peer has read our messages up to that msg_id; those of them that
    were delivered say "read". ``like``: as for :func:`format_lookup`, when there are none."""
    room = peer.startswith("#")  # a room's history (PROTOCOL.md, "history"): of it, not with it
    if not entries and like:
        return [_("* no messages with {name}: did you mean {like}?").format(name=sanitize(peer), like=sanitize(like))]
    if not entries:
        return [(_("* no messages in {room}") if room else _("* no messages with {name}")).format(
            name=sanitize(peer), room=sanitize(peer))]
    mine, theirs = canonical(me), canonical(peer)
    # The peer's name as the server spells it, whatever case was typed.
    peer = next((name for e in entries for name in (e.sender, e.to) if canonical(name) == theirs), peer)
    heading = ngettext("* history of {name} ({n} message):", "* history of {name} ({n} messages):", len(entries)) \
        if room else ngettext("* history with {name} ({n} message):", "* history with {name} ({n} messages):",
                              len(entries))
    lines = [heading.format(name=sanitize(peer), n=len(entries))]
    days = DayBreaks()
    for entry in entries:
        sender = _("you") if canonical(entry.sender) == mine else sanitize(entry.sender)
        to = _("you") if canonical(entry.to) == mine else sanitize(entry.to)
        text = shown_text(entry.text, entry.edited, entry.deleted)
        text = text.replace("\n", "\\n") if continuation is None else text.replace("\n", "\n" + continuation)
        # A room post's state is always "accepted" (a room has no delivery to tell of).
        wire_state = entry.state
        if wire_state == "delivered" and read_up_to is not None and entry.msg_id <= read_up_to \
                and canonical(entry.sender) == mine:
            wire_state = READ_STATE
        state = "" if wire_state == ROOM_POST_STATE else f" ({describe_state(wire_state)})"
        day = days.before(entry.sent_at, now)
        if day is not None:
            lines.append("  " + day_rule(day))
        lines.append(f"  [{format_clock(entry.sent_at)}] {sender} → {to}: {text}{state}")
    return lines


# The state of every room post in a room's /history (PROTOCOL.md, "history").
ROOM_POST_STATE = "accepted"
# What /history says of our message that was delivered and read (not a wire state: the
# page's read_up_to tells it).
READ_STATE = "read"
# The states of a message in /history (wire values, and READ_STATE), in words.
_STATES = {"sent": N_("sent"), "delivered": N_("delivered"), "queued": N_("queued"), "expired": N_("expired"),
           "failed": N_("failed"), READ_STATE: N_("read")}


def describe_state(state: str) -> str:
    """A message state from the server in words (an unknown one as it came, sanitised)."""
    return _(_STATES[state]) if state in _STATES else sanitize(state)


def describe_reconnecting(event: Reconnecting) -> str:
    """The line for a reconnection attempt about to be made."""
    why = f": {reason_words(event.reason)}" if event.reason else ""
    if event.delay <= 0:  # to the next server at once: the last one said goodbye (failover)
        return _("! connection lost; reconnecting now (attempt {attempt}){why}").format(
            attempt=event.attempt, why=why)
    return _("! connection lost; reconnecting in {delay} (attempt {attempt}){why}").format(
        delay=format_delay(event.delay), attempt=event.attempt, why=why)


# How long a quoted earlier text may be in a line about its change (describe_message).
_QUOTED_CHARS = 40


def describe_message(msg_id: int, was: str | None = None) -> str:
    """How a line about an edit or delete names the message: by the text it had on this
    screen (``was``, quoted and shortened), which is how its reader knows it (a screen
    shows no message numbers), or, when the screen never showed it, by its number."""
    if was:
        return _("“{text}”").format(text=preview(" ".join(was.split()), _QUOTED_CHARS))
    return _("message {id}").format(id=msg_id)


def _describe_own_change_elsewhere(event: Edited | Deleted | RoomEdited | RoomDeleted, message: str) -> str:
    """The line for an edit or delete of ours made on another device (the server tells the
    session that made it nothing but its ``ok``); ``message`` names it (describe_message)."""
    room = getattr(event, "room_name", None)
    if isinstance(event, (Edited, RoomEdited)):
        if room is None:
            return _("✎ you (elsewhere) edited {message}: {text}").format(message=message,
                                                                        text=sanitize(event.text))
        return _("✎ you (elsewhere) edited {message} in {room}: {text}").format(
            message=message, room=sanitize(room), text=sanitize(event.text))
    if room is None:
        return _("✗ you (elsewhere) deleted {message}").format(message=message)
    return _("✗ you (elsewhere) deleted {message} in {room}").format(message=message, room=sanitize(room))


def _describe_default_room_change(event: RoomEdited | RoomDeleted, message: str, mine: bool) -> str:
    """The line for an edit or delete of a default room message (a ``(room)`` line);
    ``mine``: it is ours."""
    if isinstance(event, RoomEdited):
        return _("(room) ✎ {name} edited {message}: {text}").format(
            name=sanitize(event.sender), message=message, text=sanitize(event.text))
    if event.by is not None and mine:  # an administrator's act on ours: not "of João" to João
        return _("(room) ✗ {by} deleted {message}, which you sent").format(by=sanitize(event.by), message=message)
    if event.by is not None:  # an administrator's act
        return _("(room) ✗ {by} deleted {message} of {name}").format(
            by=sanitize(event.by), message=message, name=sanitize(event.sender))
    return _("(room) ✗ {name} deleted {message}").format(name=sanitize(event.sender), message=message)


def describe_carbon(event: Carbon, text: str) -> str:
    """The line of a message another session of ours sent, ``text`` its text as shown."""
    return _("[{clock}] you (elsewhere) → {name}: {text} ({state})").format(
        clock=format_clock(event.sent_at), name=sanitize(event.to), text=text, state=describe_state(event.state))


def describe_post_from_elsewhere(event: RoomMessage | RoomPost, text: str) -> str:
    """A room post of ours that another session made (this one showed none of it), without
    its time; ``text`` its text as shown."""
    if isinstance(event, RoomMessage) or is_default_room(event.room_name):
        return _("(room) you (elsewhere): {text}").format(text=text)
    return _("({room}) you (elsewhere): {text}").format(room=sanitize(event.room_name), text=text)


def describe_event(event: Event, me: str, carbons: dict[int, Carbon] | None = None,
                   was: str | None = None) -> str | None:
    """The output line for an event the client library handed on (None: nothing to show).

    ``me`` is this user's name: our own room messages and join notice are not echoed.
    ``carbons``: the copies of what our other sessions sent, by msg_id, so that their
    outcomes name the recipient and the text. ``was``: for an edit, a delete or a read mark,
    the text the message had on this screen, if it showed it (see describe_message). ConnectionClosed
    and Goodbye are handled by the caller (they end the session).
    """
    if isinstance(event, Carbon):  # sent by another session of ours
        return describe_carbon(event, sanitize(event.text))
    if isinstance(event, Delivered) and carbons and event.msg_id in carbons:
        copy = carbons[event.msg_id]
        return _("✓✓ delivered to {name}: {text}").format(name=sanitize(copy.to), text=preview(copy.text))
    if isinstance(event, DirectMessage):
        if event.deleted:  # deleted before it reached us: its text is gone, its sender did it
            return _("✗ {name} deleted {message}").format(name=sanitize(event.sender),
                                                          message=describe_message(event.msg_id, was))
        return _("[{clock}] {name} → you: {text}").format(clock=format_clock(event.sent_at),
                                                          name=sanitize(event.sender), text=sanitize(event.text))
    # After delivered (issue 13): one line each, minimal.
    if isinstance(event, Read):
        if event.sender is None or canonical(event.sender) == canonical(me):
            return None  # our own reading, on another device
        return _("✓✓ read by {name} (up to {message})").format(name=sanitize(event.sender),
                                                              message=describe_message(event.msg_id, was))
    if isinstance(event, Typing):
        return None if event.sender is None else _("… {name} is typing").format(name=sanitize(event.sender))
    if isinstance(event, Settings):  # the switch, changed by another session of ours
        word = command_names("receipts")[0]
        return (_("* read receipts were turned on on another of your devices (/{command} off turns them off)")
                if event.read_receipts else
                _("* read receipts were turned off on another of your devices: nobody sees when you have read "
                  "their messages or type, and you do not see theirs (/{command} on turns them on)")
                ).format(command=word)
    if isinstance(event, (Edited, Deleted, RoomEdited, RoomDeleted)) and canonical(event.sender) == canonical(me) \
            and getattr(event, "by", None) is None:
        # this session is not told its own
        return _describe_own_change_elsewhere(event, describe_message(event.msg_id, was))
    if isinstance(event, Edited):
        return _("✎ {name} edited {message}: {text}").format(
            name=sanitize(event.sender), message=describe_message(event.msg_id, was), text=sanitize(event.text))
    if isinstance(event, Deleted):
        if event.by is not None and canonical(event.sender) == canonical(me):  # ours: not "of João" to João
            return _("✗ {by} deleted {message}, which you sent").format(
                by=sanitize(event.by), message=describe_message(event.msg_id, was))
        if event.by is not None:  # an administrator's act
            return _("✗ {by} deleted {message} of {name}").format(
                by=sanitize(event.by), message=describe_message(event.msg_id, was), name=sanitize(event.sender))
        return _("✗ {name} deleted {message}").format(name=sanitize(event.sender),
                                                      message=describe_message(event.msg_id, was))
    if isinstance(event, RoomTyping):
        if event.sender is None:
            return None
        return describe_typists([sanitize(event.sender)], sanitize(event.room_name))
    if isinstance(event, (RoomEdited, RoomDeleted)) and is_default_room(event.room_name):
        # shown as its messages are: "(room)"
        return _describe_default_room_change(event, describe_message(event.msg_id, was),
                                             canonical(event.sender) == canonical(me))
    if isinstance(event, RoomEdited):
        return _("✎ {name} edited {message} in {room}: {text}").format(
            name=sanitize(event.sender), message=describe_message(event.msg_id, was),
            room=sanitize(event.room_name), text=sanitize(event.text))
    if isinstance(event, RoomDeleted):
        if event.by is not None and canonical(event.sender) == canonical(me):  # ours: not "of João" to João
            return _("✗ {by} deleted {message}, which you sent in {room}").format(
                by=sanitize(event.by), message=describe_message(event.msg_id, was), room=sanitize(event.room_name))
        if event.by is not None:  # a moderator's or administrator's act
            return _("✗ {by} deleted {message} of {name} in {room}").format(
                by=sanitize(event.by), message=describe_message(event.msg_id, was), name=sanitize(event.sender),
                room=sanitize(event.room_name))
        return _("✗ {name} deleted {message} in {room}").format(
            name=sanitize(event.sender), message=describe_message(event.msg_id, was), room=sanitize(event.room_name))
    if isinstance(event, RoomMessage):
        if canonical(event.sender) == canonical(me):
            return None  # shown already as "✓ sent to the room"
        return _("[{clock}] (room) {name}: {text}").format(clock=format_clock(event.sent_at),
                                                           name=sanitize(event.sender), text=sanitize(event.text))
    if isinstance(event, RoomPost):
        if canonical(event.sender) == canonical(me):
            return None  # shown already as "✓ sent to #room"
        return _("[{clock}] ({room}) {name}: {text}").format(
            clock=format_clock(event.sent_at), room=sanitize(event.room_name), name=sanitize(event.sender),
            text=sanitize(event.text))
    if isinstance(event, RoomNotice):
        if event.act in ("joined", "left") and canonical(event.name) == canonical(me):
            return None  # our own /join or /leave said it already
        if event.act == "delete":
            return None  # the "deleted" line that follows says it, with the message's id
        return describe_room_notice(event, me)
    if isinstance(event, MessageUpdate):
        return describe_status(event.message, event.state, event.error)
    if isinstance(event, RoomSkipped):
        return f"! {describe_skipped(event.room)}"
    if isinstance(event, UserJoined):
        return None if canonical(event.name) == canonical(me) else \
            _("* {name} joined").format(name=sanitize(event.name))
    if isinstance(event, UserLeft):
        return _("* {name} left{why}").format(name=sanitize(event.name), why=left_why(event.reason))
    if isinstance(event, Reconnecting):
        return describe_reconnecting(event)
    if isinstance(event, ServerUnavailable):  # the status of an outage of the server's storage
        if event.retry_in is not None:
            return f"! {unavailable_words(event.retry_in)}"
        return _("! the server stores messages again") if event.back else None
    if isinstance(event, Reconnected):
        if event.server:  # a failover: say where the session is now
            if not event.resent:
                return _("! reconnected to {server}").format(server=sanitize(event.server))
            return ngettext("! reconnected to {server}; {n} message sent again",
                            "! reconnected to {server}; {n} messages sent again",
                            event.resent).format(server=sanitize(event.server), n=event.resent)
        if not event.resent:
            return _("! reconnected")
        return ngettext("! reconnected; {n} message sent again", "! reconnected; {n} messages sent again",
                        event.resent).format(n=event.resent)
    if isinstance(event, Delivered):  # the outcome of a message sent by an earlier session
        return delivered_words(event)
    if isinstance(event, ErrorReply) and event.code == ErrorCode.EXPIRED:
        # Told at a login, days later, of a message no tracker of this run knows: the
        # server's words name it and its recipient ("your message 17 to Bob expired"; no
        # code after them), and it waited its whole lifetime: as long as the server says
        # (an older server says nothing: all of const.QUEUE_TTL, expired_wait).
        return _("✗ not delivered: {why}; it waited {waited} and its recipient's client never took it: tell them "
                 "some other way").format(why=sanitize(event.message) or _("a message expired"),
                                          waited=format_span(expired_wait(event.waited, math.inf)))
    if isinstance(event, UserList):  # an answer that came after /who gave up waiting
        return format_users(event.users)
    if isinstance(event, LookupResult):
        return format_lookup(event)
    if isinstance(event, ErrorReply) and event.request_id is None and event.code in SIGNED_OUT:
        return describe_signed_out(event, asked_here=False)
    if isinstance(event, ErrorReply):
        if event.code in ERROR_TEXTS:  # its sentence says what happened: not "server error", nor the code
            return f"! {explain_refusal(event)}"
        return _("! server error: {why}").format(why=explain_refusal(event))
    if isinstance(event, FrameRejected):
        return _("! ignored a malformed frame from the server: {why}").format(
            why=explain_error(event.code, event.message))
    return None  # Accepted/Delivered nobody waits for, Ping, Pong...


def describe_signed_out(event: ErrorReply, asked_here: bool) -> str:
    """The line for the server signing the session out for its password (an error in
    SIGNED_OUT, without id): the session ends, and the library does not log in again with
    the old password. ``asked_here``: a person is at the terminal, and the new password is
    asked right below (TerminalUI._log_in_again); else (a script) how to log in again."""
    if asked_here:
        return f"! {explain_refusal(event)}"
    return _("! {why}; to log in again, start the client again: it asks for the password").format(
        why=explain_refusal(event))


# --- Rooms -------------------------------------------------------------------------------

def format_room_info(info: RoomInfo) -> str:
    """The answer to /join on one line."""
    details = [ngettext("{n} member", "{n} members", info.count).format(n=info.count)]
    if info.owner:
        details.append(_("owner {name}").format(name=sanitize(info.owner)))
    if info.invite_only:
        details.append(_("invite only"))
    if info.topic:
        details.append(_("topic: {topic}").format(topic=sanitize(info.topic)))
    line = _("* you created {room}") if info.created else _("* you are in {room}")
    return f"{line.format(room=sanitize(info.room_name))} ({'; '.join(details)})"


def format_rooms(rooms: Sequence[RoomEntry]) -> list[str]:
    """The answer to /rooms: a heading, then one line per room (its count, whether
    invite-only as a join says it, its topic); the default room says it is (a new user
    saw "#lobby", a name nobody had told them, for the room they were in already)."""
    if not rooms:
        return [_("* no rooms")]
    lines = [ngettext("* {n} room:", "* {n} rooms:", len(rooms)).format(n=len(rooms))]
    for room in rooms:
        count = ngettext("{n} member", "{n} members", room.count).format(n=room.count)
        if room.invite_only:
            count = f"{count}; {_('invite only')}"
        if is_default_room(room.room_name):
            count = f"{count}; {_('the default room')}"
        topic = f" — {sanitize(room.topic)}" if room.topic else ""
        lines.append(f"  {sanitize(room.room_name)} ({count}){topic}")
    return lines


def format_members(room: str, members: Sequence[MemberEntry]) -> str:
    """The answer to /members on one line: each name, with its role unless a plain member
    and "offline" when not online, in name order (registry/collation.py)."""
    listed = []
    for member in sorted(members, key=lambda m: name_order(m.name)):
        notes = [describe_role(member.role)] if member.role != "member" else []
        if not member.online:
            notes.append(_("offline"))
        listed.append(sanitize(member.name) + (f" ({', '.join(notes)})" if notes else ""))
    return _("* in {room} ({count}): {members}").format(room=sanitize(room), count=len(members),
                                                        members=", ".join(listed))


# --- The interactive screen ------------------------------------------------------------

# Continuation lines (a message's second line, a list under its heading) start this far in:
# under the text after the time stamp "[12:01] ".
INDENT = 8
# Keys of the lines that a later line may rewrite in place (see client/terminal_screen.py, Screen.print_locked).
RECONNECT_LINE = "reconnect"
UNAVAILABLE_LINE = "unavailable"  # the status of an outage of the server's storage
READ_BY_LINE = "read by"  # (it, room, msg_id): how many read our last post in a room
TYPING_LINE = "typing"  # (it, room): who is typing in a room
GONE_LINE = "gone"  # (it, name): someone gone offline, and the rooms they were in
BACK_LINE = "back"  # (it, name): someone come online, and the rooms they are in


def stamped_at(event: Event) -> float | None:
    """The time a message's line says (its ``sent_at``), None for a line stamped now."""
    if isinstance(event, DirectMessage) and event.deleted:
        return None  # its line says when it was deleted: now
    if isinstance(event, (DirectMessage, RoomMessage, RoomPost, Carbon)):
        return event.sent_at
    return None


def stamp(clock: str, body: str, style: Style) -> str:
    """``[HH:MM] body``: every line of the interactive screen starts with its time."""
    return f"{style.dim(f'[{clock}]')} {body}"


def describe_own(message: OutgoingMessage, state: str, error: tuple[str, str] | None, style: Style) -> str:
    """The one line of a message we sent, with its state at the end (``…`` on the way,
    ``✓`` sent, ``✓✓`` delivered, ``✗ why`` failed); rewritten as the state changes."""
    you = style.me(_("you"))
    text = indent_text(message.text, INDENT)
    if message.room is not None:
        body = _("({room}) {you}: {text}").format(room=sanitize(message.room), you=you, text=text)
    elif message.to is None:
        body = _("(room) {you}: {text}").format(you=you, text=text)
    else:
        name = sanitize(message.to)
        body = _("{you} → {name}: {text}").format(you=you, name=style.name(name, message.to), text=text)
    return stamp(format_clock(message.created), f"{body} {describe_mark(message, state, error, style)}", style)


def describe_mark(message: OutgoingMessage, state: str, error: tuple[str, str] | None, style: Style) -> str:
    """The state of a message we sent, in a mark and, when it is not the usual, a few words."""
    if state == SENDING:
        if message.submitted:
            return style.dim("…")
        # Not written yet: the connection is down (waiting), or it is up and the message
        # is held behind those the server asked to wait for (rate_limited, unavailable).
        return style.dim(_("… waiting for the connection") if message.waiting
                         else _("… held back: the server asked to wait"))
    if state == SENT:
        return style.dim("✓")
    if state == QUEUED:  # (the line names whom it waits for: not again here)
        return style.dim(_("✓ queued (offline: kept for their next login)"))
    if state == DELIVERED:
        return style.dim("✓✓")
    if still_on_its_way(message, state, error):
        return style.dim("… " + failure_words(message, error))
    if unconfirmed(state, error):
        return style.alert("? " + failure_words(message, error))
    return style.alert(f"{_(FAILED_MARKS[outcome(message, error)])}: {failure_words(message, error)}")


def describe_follow_up(message: OutgoingMessage, state: str, error: tuple[str, str] | None, style: Style,
                       clock: str, now: str | None = None) -> str:
    """A short line saying a message's new state when its own line is no longer the
    last one (so it cannot be rewritten): the mark, then who and the start of the text
    (``now``: as it reads now, when edited or deleted since it was sent)."""
    text = preview(" ".join((message.text if now is None else now).split()), 30)
    if state == QUEUED:  # whom it is for after the mark, as in the others; why it waits after the text
        return stamp(clock, _("✓ queued for {name}: {text} (offline: kept for their next login)").format(
            name=style.name(sanitize(message.to), message.to), text=text), style)
    failed = state == FAILED
    mark = (style.dim("…") if still_on_its_way(message, state, error)
            else style.alert("?") if unconfirmed(state, error)
            else style.alert(_(FAILED_MARKS[outcome(message, error)]))) if failed \
        else describe_mark(message, state, error, style)
    line = _("{mark} to the room: {text}") if message.to is None else _("{mark} to {name}: {text}")
    name = style.name(sanitize(message.to), message.to) if message.to is not None else ""
    if message.room is not None:
        line, name = _("{mark} to {name}: {text}"), sanitize(message.room)
    line = line.format(mark=mark, name=name, text=text)
    if failed:  # the reason after the text, so that the line still starts with what it is about
        why = "— " + failure_words(message, error)
        line += " " + (style.dim(why) if still_on_its_way(message, state, error) else style.alert(why))
    return stamp(clock, line, style)


def describe_on_screen(event: Event, me: str, style: Style, clock: str,
                       carbons: dict[int, Carbon] | None = None, was: str | None = None) -> str | None:
    """The interactive screen's line for ``event`` (None: nothing to show): messages with
    their own time, names in their colours, texts on indented lines; every other event as
    :func:`describe_event` says it (``carbons`` and ``was`` as there), stamped with
    ``clock`` (now)."""
    if isinstance(event, Carbon):  # its own time is in the line already; its lines under it
        return describe_carbon(event, indent_text(event.text, INDENT))
    if isinstance(event, DirectMessage):
        name = style.name(sanitize(event.sender), event.sender)
        if event.deleted:  # deleted before it reached us: never shown, so no text names it
            return stamp(clock, _("✗ {name} deleted {message}").format(name=name, message=_("a message")), style)
        return stamp(format_clock(event.sent_at), _("{name} → you: {text}").format(
            name=name, text=indent_text(event.text, INDENT)), style)
    if isinstance(event, (RoomMessage, RoomPost)):  # the default room's, a named room's
        if canonical(event.sender) == canonical(me):
            return None  # our own: its line is describe_own's
        words = _("(room) {name}: {text}") if isinstance(event, RoomMessage) else _("({room}) {name}: {text}")
        return stamp(format_clock(event.sent_at), words.format(
            room=sanitize(getattr(event, "room_name", "")), name=style.name(sanitize(event.sender), event.sender),
            text=indent_text(event.text, INDENT)), style)
    if isinstance(event, UserJoined) and canonical(event.name) != canonical(me):
        return stamp(clock, _("* {name} joined").format(name=style.name(sanitize(event.name), event.name)), style)
    if isinstance(event, UserLeft):
        return stamp(clock, _("* {name} left{why}").format(name=style.name(sanitize(event.name), event.name),
                                                          why=left_why(event.reason)), style)
    line = describe_event(event, me, carbons, was)
    return None if line is None else stamp(clock, line, style)
