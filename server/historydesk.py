"""The relay's desk for past messages: ``history`` (a conversation's pages, newest first)
and, with the feature ``since``, the pages of every direct message after an id (what a
client missed while reconnecting). PROTOCOL.md, ``history`` and ``since``.

Both are pages the store reads later and that may fill a frame: they go through the
relay's intake (server/intake.py), so a burst of them waits for the answers to go out and
one client never keeps the store busy with more than ``const.MAX_HISTORY_IN_FLIGHT`` walks.
Each page is cut by bytes as well as by count (``fit_page``). The store applies who may
read what (a guest sees nothing of an earlier holder of its name: the session's epoch); a
room's history is the room desk's (server/roomdesk.py). No sockets here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol import ErrorCode, ErrorReply, HistoryPage, HistoryRequest, SINCE_FEATURE, SincePage, SinceRequest
from protocol.codec import fit_page
from registry import canonical

if TYPE_CHECKING:
    from .relay import Relay
    from .session import ClientSession


class HistoryDesk:
    """history and since, for one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.since_sessions: set[ClientSession] = set()  # asked for the feature since

    def handlers(self) -> dict[type, Callable[[ClientSession, Any], None]]:
        return {HistoryRequest: self._history, SinceRequest: self._since}

    def _history(self, session: ClientSession, request: HistoryRequest) -> None:
        relay = self.relay
        if not relay.intake.admit(session, self._history, request):
            return  # it begins once an earlier one is answered or the queue drains
        if relay.room_desk.history(session, request):
            return  # a room's (issue 13): server/roomdesk.py
        me, peer, epoch = session.key, canonical(request.peer), session.epoch
        name = relay.known.get(peer)
        if name is None:
            # (A room's name in version 1, which has no rooms, gets its empty page: "history".)
            refusal = None if request.peer.startswith("#") else relay.registry_desk.not_a_name(
                request.peer, request.request_id, "with")
            if refusal is not None:
                session.send(refusal)
                return
            name = request.peer
        read_up_to: int | None = None

        def page(result: tuple[list, int | None]) -> None:
            entries, before = result

            def build(count: int) -> HistoryPage:
                # The newest ``count`` entries; older ones left out are the next page's.
                kept = entries[len(entries) - count:]
                cursor = kept[0].msg_id if 0 < count < len(entries) else before
                return HistoryPage(request.request_id, name, tuple(kept), cursor, read_up_to)

            # Cut by bytes as well as by count: 16 messages of 4,000 characters already
            # exceed one frame. The newest stay; the cursor leads to the rest.
            session.send(fit_page(build, entries[::-1]))
            relay.after.history_sent(session, peer, read_up_to)

        # Counted from now (the gate's rule), asked once the peer's read mark is known: the
        # page carries it, so that a client shows its messages read, not delivered.
        answered, failed = relay.intake.track(session, page, relay.read_unavailable(session, request.request_id))

        def ask(mark: int | None) -> None:
            nonlocal read_up_to
            read_up_to = mark
            relay.store.history(me, peer, request.before, request.limit, epoch, answered, failed)

        relay.after.history_asked(session, peer, ask)

    def _since(self, session: ClientSession, request: SinceRequest) -> None:
        """Feature since: a page of the user's direct messages in every conversation after
        ``after_id``, oldest first, as ``history`` shows them (the store applies its rules),
        with the cursor to go on from (PROTOCOL.md, ``since``)."""
        if session not in self.since_sessions:
            session.send(ErrorReply(ErrorCode.UNKNOWN_TYPE, f"'{request.TYPE}' needs the feature '{SINCE_FEATURE}' "
                                    "in the hello", request.request_id))
            return
        relay = self.relay
        if not relay.intake.admit(session, self._since, request):
            return  # it begins once an earlier one is answered or the queue drains

        def page(result: tuple[list, int | None]) -> None:
            entries, cursor = result

            def build(count: int) -> SincePage:
                # The oldest ``count`` entries; the page goes on after the last one kept.
                kept = entries[:count]
                return SincePage(request.request_id, tuple(kept), kept[-1].msg_id if 0 < count < len(entries) else cursor)

            session.send(fit_page(build, entries))  # cut by bytes as well as by count, as history

        # A guest sees nothing of an earlier holder of its name (its epoch), as in history.
        # Through the history gate (server/intake.py): a page is up to a frame the store
        # makes later, so a burst of them must not pass the hard mark, nor one client keep
        # the store busy with more than MAX_HISTORY_IN_FLIGHT walks at once.
        relay.store.since(session.key, max(request.after_id, session.epoch), request.limit,
                          *relay.intake.track(session, page, relay.read_unavailable(session, request.request_id)))
