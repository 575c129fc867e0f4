"""The relay's desk for blocks: who blocks whom, and the requests that change or list it.

A user who blocks another gets nothing from them: no direct message (the sender is
answered as for anyone and it is never delivered), no read, typing, edit or delete, no
room post or presence. The relay and the other desks apply that from
:attr:`BlockDesk.blocked`, read on the message path without a call; this desk keeps it:
loaded from the store at start, changed by ``block`` and ``unblock`` (stored before the
``ok``), by the cluster's events stream (another node's change: :meth:`BlockDesk.changed`),
by a guest name's new holder (the earlier holder's blocks are not theirs) and by a deleted
account. It answers ``blocked`` (one page of whom one blocks) from what it applies, and
tells the owner's sessions that asked for the feature ``blocks`` each change, so that an
open page or window updates its list (PROTOCOL.md, ``blocked``). No sockets here.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol import Block, Blocked, Blocking, BlockList, Done, ErrorCode, ErrorReply, Unblock, Unblocked
from registry import InvalidName, canonical, validate_name

from .rooms import Refused
from .store import StoreUnavailable

if TYPE_CHECKING:
    from .relay import Relay
    from .session import ClientSession

# Names in one page of a block list (see _block_list): even at const.MAX_NAME_BYTES (256
# bytes, more than any name's display or comparison form takes) 200 of them and their
# quotes fit in a frame, and the codec takes up to MAX_NAMES_PER_REQUEST of them.
_MAX_BLOCKED_PER_FRAME = 200


class BlockDesk:
    """Who blocks whom on this server, and the block requests, for one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.blocked: dict[str, set[str]] = {}  # owner key -> keys of the names they block
        for owner, blocked in relay.store.blocks():
            self.blocked.setdefault(owner, set()).add(blocked)
        self.sessions: set[ClientSession] = set()  # asked for the feature blocks

    def handlers(self) -> dict[type, Callable[[ClientSession, Any], None]]:
        return {Block: self._block, Unblock: self._block, BlockList: self._block_list}

    # --- Requests -----------------------------------------------------------------------

    def _block(self, session: ClientSession, request: Block | Unblock) -> None:
        try:
            validate_name(request.name)
        except InvalidName as exc:
            session.send(Refused.invalid_name(exc, "name").reply(request.request_id))
            return
        owner, target, blocking = session.key, canonical(request.name), type(request) is Block
        if target == owner:  # (in the words of what was asked: an unblock is not a block)
            words = "you cannot block yourself" if blocking \
                else "you cannot unblock yourself: nobody can block themselves"
            session.send(ErrorReply(ErrorCode.BAD_FIELD, words, request.request_id))
            return
        was_blocked = target in self.blocked.get(owner, ())
        limit = self.relay.config.max_blocked
        if blocking and not was_blocked and len(self.blocked.get(owner, ())) >= limit:
            # Counted with the blocks still being stored (set before the store answers).
            session.send(ErrorReply(ErrorCode.TOO_MANY_BLOCKED, f"you block {limit} names already, as many as one "
                                    "may: unblock one first", request.request_id))
            return
        self._set_blocked(owner, target, blocking)

        def not_stored(failure: StoreUnavailable) -> None:
            # Not done: as it was. Perhaps done (maybe_done): a block is kept here (the
            # safer side; the answer says it may have been done, and a repeat settles it).
            self._set_blocked(owner, target, was_blocked or (blocking and failure.maybe_done))
            answer(failure)

        def stored(_: None) -> None:
            self.relay.peers.block_changed(owner, target, blocking)
            session.send(Done(request.request_id))
            if was_blocked != blocking:  # told once stored, and only a change (as settings is)
                self._tell(owner, target, blocking, skip=session)

        answer = self.relay.unavailable(session, request.request_id)
        self.relay.store.set_block(owner, target, blocking, stored, not_stored)

    def _block_list(self, session: ClientSession, request: BlockList) -> None:
        """One page of whom ``session``'s user blocks: the names after ``request.after``,
        sorted by their canonical form, and the cursor for the rest. Read from the blocks
        this node holds (loaded from the store at start, kept by every block, unblock and
        the cluster's :meth:`changed`), so it says what the relay applies."""
        if not self.relay.intake.admit(session, self._block_list, request):
            return  # up to a frame: a burst of them waits for the queue (server/intake.py)
        keys = sorted(self.blocked.get(session.key, ()))
        start = 0 if request.after is None else bisect.bisect_right(keys, canonical(request.after))
        page = keys[start:start + _MAX_BLOCKED_PER_FRAME]
        # A name nobody logged in with has no registered spelling: its canonical form.
        known = self.relay.known
        names = tuple(known.get(key, key) for key in page)
        cursor = names[-1] if page and len(keys) - start > len(page) else None
        session.send(Blocking(request.request_id, names, cursor))

    # --- Changes from elsewhere ---------------------------------------------------------

    def changed(self, owner: str, target: str, blocking: bool) -> None:
        """``owner`` blocked (or unblocked) ``target`` on some node of a cluster (this one
        included), as the cluster's events stream says: every node ends with the stream's
        last word, and tells the owner's sessions here if that changed it (on the node
        that stored it, already changed: told there, see :meth:`_block`)."""
        if self._set_blocked(owner, target, blocking):
            self._tell(owner, target, blocking)

    def name_changed_hands(self, key: str) -> None:
        """Guest name ``key`` has a new holder (or its account was deleted): whom the
        earlier holder blocked is theirs, not the newcomer's; forgotten here, in the store
        and on the other nodes."""
        earlier = self.blocked.pop(key, None)
        if earlier:
            self.relay.store.clear_blocks(key)
            for target in earlier:
                self.relay.peers.block_changed(key, target, False)

    def forget_blocked(self, key: str) -> None:
        """Nobody here blocks ``key`` any more (its account was deleted): each owner that
        did has its open page told."""
        for owner, targets in list(self.blocked.items()):
            if key in targets and self._set_blocked(owner, key, False):
                self._tell(owner, key, False)

    # --- Here ---------------------------------------------------------------------------

    def _set_blocked(self, owner: str, target: str, blocking: bool) -> bool:
        """``owner`` blocks ``target`` (or not) here; True if that changed it."""
        if blocking:
            blocked = self.blocked.setdefault(owner, set())
            if target in blocked:
                return False
            blocked.add(target)
            return True
        if target not in self.blocked.get(owner, ()):
            return False
        self.blocked[owner].discard(target)
        return True

    def _tell(self, owner: str, target: str, blocking: bool, skip: ClientSession | None = None) -> None:
        """Tell the sessions of ``owner`` here that asked for the feature blocks (but
        ``skip``, which asked for the change and has its ``ok``) that it now blocks
        ``target`` (or no longer does): an open page or window updates the list it shows
        (PROTOCOL.md, ``blocked``). The name as ``blocking`` spells it."""
        if not self.sessions:
            return
        event = (Blocked if blocking else Unblocked)(self.relay.known.get(target, target))
        for other in self.relay.registry.sessions_by_key(owner):
            if other is not skip and other in self.sessions:
                other.send(event)
