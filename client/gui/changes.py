"""What the chat window must redraw or fetch, as the model tells it: the records
:meth:`client.gui.model.ChatModel.take_changes` returns, each a small frozen dataclass named
for what happened (a line added, a state changed) or for what the window should ask the
server (history, members, a room's info). The window (:mod:`client.gui.app`) redraws only
what they name and does the asking off the Tk thread; the model decides what they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Line


@dataclass(frozen=True, slots=True)
class Change:
    """Base class of the records :meth:`ChatModel.take_changes` returns."""


@dataclass(frozen=True, slots=True)
class LineAdded(Change):
    key: str
    line: Line


@dataclass(frozen=True, slots=True)
class LinesPrepended(Change):
    """Older lines (history) go before everything shown so far, oldest first; ``paged``:
    the user asked for them (show the top), rather than the conversation's first page."""

    key: str
    lines: tuple[Line, ...]
    paged: bool = False


@dataclass(frozen=True, slots=True)
class StateChanged(Change):
    """``line`` (an outgoing message) has a new delivery state; ``old_label`` is the text
    that was shown for the previous one."""

    key: str
    line: Line
    old_label: str


@dataclass(frozen=True, slots=True)
class LineChanged(Change):
    """``line`` (any message) was edited or deleted: the pane of ``key`` is drawn again."""

    key: str
    line: Line


@dataclass(frozen=True, slots=True)
class TypingChanged(Change):
    """Who is typing in some conversation changed: the typing line is drawn again."""


@dataclass(frozen=True, slots=True)
class ContactsChanged(Change):
    """The contact list (presence, unread counts, order) must be redrawn."""


@dataclass(frozen=True, slots=True)
class ReceiptsChanged(Change):
    """Another session of this user changed the read receipts switch: it shows the model's."""


@dataclass(frozen=True, slots=True)
class StatusChanged(Change):
    """The status bar (connection state, reconnects) must be redrawn."""


@dataclass(frozen=True, slots=True)
class HistoryWanted(Change):
    """The window should fetch the history of conversation ``key`` (user ``peer``). For a
    named room (``peer`` is ``#name``) one page: the newest, or the one older than
    ``before``; the answer goes to :meth:`ChatModel.add_history` with its cursor."""

    key: str
    peer: str
    before: int | None = None


@dataclass(frozen=True, slots=True)
class CatchUpWanted(Change):
    """After a reconnection, the window should fetch the newest page of the conversation
    ``key`` with user ``peer`` (off the Tk thread) and hand it to
    :meth:`ChatModel.catch_up`: what our other sessions got or sent while this one was
    away (see :meth:`ChatModel.catch_up_wanted`)."""

    key: str
    peer: str


@dataclass(frozen=True, slots=True)
class SinceWanted(Change):
    """After a reconnection, when the server has the feature since: the window should
    fetch every conversation's direct messages after msg_id ``after`` (the newest this
    window showed before it went away, or before it showed any, the server's last id as it
    first welcomed the window; off the Tk thread) and hand them to
    :meth:`ChatModel.catch_up_since`, in place of the :class:`CatchUpWanted` pages, which
    are for a server without it: so a person this window never talked with, who wrote
    meanwhile (to another device of ours), is found too."""

    after: int


@dataclass(frozen=True, slots=True)
class LinesInserted(Change):
    """Lines went in among those shown in conversation ``key`` (a catch-up after a
    reconnection found messages older than one that came live since): draw it again."""

    key: str


@dataclass(frozen=True, slots=True)
class MembersChanged(Change):
    """The member list of room ``key`` changed (or its topic): redraw it if shown."""

    key: str


@dataclass(frozen=True, slots=True)
class MembersWanted(Change):
    """The window should fetch the members of room ``room`` (its conversation opened)."""

    key: str
    room: str


@dataclass(frozen=True, slots=True)
class RoomInfoWanted(Change):
    """The window should fetch what room ``room`` is like (topic, count, owner) for
    :meth:`ChatModel.room_joined`: we learned we are a member of it from the server,
    not from a join of this window."""

    key: str
    room: str


@dataclass(frozen=True, slots=True)
class WatchWanted(Change):
    """The window should watch the presence of ``peer`` (a conversation was opened with
    them): in a large room only watched users' joins and leaves are told."""

    peer: str


@dataclass(frozen=True, slots=True)
class WhereWanted(Change):
    """The window should look person ``key`` up again (off the Tk thread), for the header's
    registry entry (:meth:`ChatModel.set_where`), as it does when their conversation opens:
    it is the one on screen and they came online, on a new connection maybe, or this window
    came back from a reconnection (see :meth:`ChatModel._came_online`)."""

    key: str
