"""The terminal's catch-up: after a reconnection, what another session of ours got or sent
while this one was away.

The server gives a direct message to the sessions online when it comes; one that was
reconnecting then never gets it, nor its copies of what the others sent (PROTOCOL.md,
"sent": such a session "finds the message in history"). So after each reconnection a
thread asks for them: with the feature since, every conversation's messages after the last
id this screen showed (before it showed any, after the last id the server had given out as
it first welcomed this screen), those of people it never talked with included; without it,
each known conversation's last page. What the screen has not shown it shows, in order, once, as
it would have been live.

At the same login the server tells the edits and deletes this device missed (PROTOCOL.md,
"Changes a device missed"), right after the welcome: before the catch-up's page lists the
messages they change. A change of a message the screen has neither shown nor sent waits
while a catch-up runs. If the catch-up then shows its message from a page fetched after
the change came, the page had the latest text and the change is not news; the others are
said once no catch-up runs, in the order they came.

:class:`CatchUp` keeps what this needs (the people talked with, the last id shown, the
catch-ups under way, the changes held) under the screen's print lock, and hands what it
finds to the terminal's event handler under its event lock, one at a time with the
receiver thread's events.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from protocol import Carbon, Deleted, DirectMessage, Edited, Event, HistoryEntry

from registry import canonical

from .display import shown_text
from .errors import ClientError
from .library import CATCH_UP_PATIENCE
from .outgoing import MessageUpdate

# The conversations asked (without the feature since) are the most recent ones, and how
# many messages of each.
CATCH_UP_PEERS = 20
CATCH_UP_PAGE = 50
# With the feature since (one request for every conversation, new ones included): at most
# this many pages of CATCH_UP_PAGE, each walking a bounded part of the server's messages
# (const.SINCE_SCAN ids), all within the request timeout (ChatClient.since).
CATCH_UP_SINCE_PAGES = 40
# The most changes held at once; past it a change is said at once, as without a catch-up.
HELD_CHANGES = 1000


class CatchUp:
    """The catch-ups of one terminal. ``me()``: our name as the server spells it;
    ``known_here(msg_id)``: whether the screen showed or sent that message (called under
    ``print_lock``); ``handle(event)``: the terminal's handler of an event (called under
    ``event_lock``, without ``print_lock``)."""

    def __init__(self, client, me: Callable[[], str], timeout: float, print_lock: threading.Lock,
                 event_lock: threading.RLock, known_here: Callable[[int], bool],
                 handle: Callable[[Event], None]) -> None:
        self._client = client
        self._me = me
        self._timeout = timeout
        self._print_lock = print_lock
        self._event_lock = event_lock
        self._known_here = known_here
        self._handle = handle
        # The people we have had direct messages with here, most recent last: key -> name
        # as shown; and the msg_id from which the feature since asks: the highest of a
        # direct message shown here, ours included, or before any, the server's last id as
        # it first welcomed this screen (:meth:`welcomed`; None: nothing to go on from).
        self._peers: dict[str, str] = {}
        self._seen: int | None = None
        self._welcomed = False
        self._running = 0
        self._held: list[Edited | Deleted] = []

    def talked_with(self, event: DirectMessage | Carbon | MessageUpdate) -> None:
        """A direct message is shown here (or ours got an outcome): the ids shown go that
        far at least, and its person is the one talked with most recently."""
        msg_id = event.message.msg_id if isinstance(event, MessageUpdate) else event.msg_id
        if msg_id is not None and (self._seen is None or msg_id > self._seen):
            self._seen = msg_id
        if isinstance(event, DirectMessage):
            name = event.sender
        elif isinstance(event, Carbon):
            name = event.to
        elif event.message.to is not None and event.message.msg_id is not None:
            name = event.message.to
        else:
            return
        key = canonical(name)
        with self._print_lock:
            self._peers.pop(key, None)
            self._peers[key] = name
            if len(self._peers) > CATCH_UP_PEERS:
                del self._peers[next(iter(self._peers))]

    def welcomed(self, last_id: int | None) -> None:
        """A login's welcome said the server's last message id then (``last_id``, with the
        feature since; None: an older server). The first one marks where this screen
        began: every direct message of ours above it came after, so a catch-up before any
        is shown asks from there (a screen that shows nothing yet still gets what another
        device of ours got while it was away). Later ones change nothing: what came
        between is what a catch-up is for."""
        if self._welcomed:
            return
        self._welcomed = True
        if last_id is not None:
            self._seen = last_id if self._seen is None else max(self._seen, last_id)

    def coming_locked(self) -> None:
        """A login is about to begin whose catch-up :meth:`start` will run (``counted``):
        the changes it tells wait from now. Called under the print lock."""
        self._running += 1

    def start(self, counted: bool = False) -> None:
        """Start a catch-up from the last id shown, on its own thread; until it ends, the
        changes of messages not shown here wait for it (:meth:`holds`). It must be counted
        before the changes a login tells come: here, on the receiver thread (its
        Reconnected comes before them), or by :meth:`coming_locked` (``counted``)."""
        if not counted:
            with self._print_lock:
                self._running += 1
        threading.Thread(target=self._run, args=(self._seen,), name="catch-up", daemon=True).start()

    def cancelled(self) -> None:
        """The login :meth:`coming_locked` announced failed: no catch-up comes of it."""
        self._end([], set())

    def holds(self, event: Edited | Deleted) -> bool:
        """Whether ``event``, a change of a direct message, waits for the catch-ups under
        way (then it is kept): one of a message this screen has neither shown nor sent,
        while one runs (up to HELD_CHANGES of them)."""
        with self._print_lock:
            if not self._running or self._known_here(event.msg_id) or len(self._held) >= HELD_CHANGES:
                return False
            self._held.append(event)
            return True

    def _run(self, after: int | None) -> None:
        known: list = []
        shown: set[int] = set()
        try:
            self._show_missed(after, known, shown)
        finally:
            self._end(known, shown)

    def _end(self, known: list, shown: set[int]) -> None:
        """One catch-up ended. The changes held before its page came (``known``) of the
        messages it showed (``shown``) are not news: the page had their latest text.
        Once no catch-up runs, the other held changes are said, in the order they came."""
        with self._event_lock:
            with self._print_lock:
                known_ids = {id(change) for change in known}
                self._held = [change for change in self._held
                              if not (id(change) in known_ids and change.msg_id in shown)]
                self._running -= 1
                if self._running:
                    return
                held, self._held = self._held, []
            for change in held:
                self._handle(change)

    def _show_missed(self, after: int | None, known: list, shown: set[int]) -> None:
        """Show what the screen has not shown of the messages after ``after`` (None:
        nothing to go on from; the module's docstring says which are asked for). Into
        ``known`` go the changes held when the page came, into ``shown`` the ids shown."""
        try:
            if self._client.since_supported and after is not None:
                found = {entry.msg_id: entry for entry in self._client.since(
                    after, self._timeout, CATCH_UP_PAGE, CATCH_UP_SINCE_PAGES, patience=CATCH_UP_PATIENCE)}
            else:  # an older server; or nothing to go on from (every message ever is not news)
                found = self._known_conversations()
        except ClientError:
            return  # gone again, or refused: the next reconnection tries again
        with self._print_lock:
            known.extend(self._held)
        mine = canonical(self._me())
        for msg_id in sorted(found):
            entry = found[msg_id]
            with self._event_lock:
                with self._print_lock:
                    if self._known_here(msg_id):
                        continue  # shown (or sent) here already
                shown.add(msg_id)
                text = shown_text(entry.text, entry.edited, entry.deleted) if entry.edited or entry.deleted \
                    else entry.text
                if canonical(entry.sender) == mine:
                    self._handle(Carbon(msg_id, entry.to, text, entry.sent_at, entry.state))
                elif entry.deleted:  # as it comes live when deleted before it was delivered
                    self._handle(DirectMessage(msg_id, entry.sender, entry.to, "", entry.sent_at, True))
                else:
                    self._handle(DirectMessage(msg_id, entry.sender, entry.to, text, entry.sent_at))

    def _known_conversations(self) -> dict[int, HistoryEntry]:
        """Without the feature since: the last page of each conversation had here, the
        most recent first (if time runs out, those matter most)."""
        with self._print_lock:
            peers = list(self._peers.values())
        found: dict[int, HistoryEntry] = {}
        for peer in reversed(peers):
            for entry in self._client.history(peer, CATCH_UP_PAGE, self._timeout):
                found[entry.msg_id] = entry
        return found
