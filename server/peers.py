"""The relay's peers: the other nodes of a cluster, or none. The relay's seams to them.

The relay holds the policy (server/relay.py); what it must ask or tell other nodes goes
through one of two implementations of the same methods:

- :class:`LocalPeers` (one server alone, no ``--cluster``): nobody else to ask or tell,
  so every method does what one server did before clusters, and the flags below keep the
  relay on its own paths (it announces presence and writes room messages itself);
- :class:`server.cluster.node.ClusterNode`: claims names in Redis, routes messages and
  outcomes to other nodes' inboxes, and feeds presence and room messages back to the
  relay from the events stream (``cluster_joined``, ``cluster_left``, ``deliver_room``,
  ``deliver_routed``, ``tell_routed``), in the stream's one order on every node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry import Registry

from .mailbox import StoredMessage


# A claim's answer (ClusterNode.claim): the guest holding the hello's token proved was
# forgotten just before (docs/cluster.md, "Guest names").
FORGOTTEN = "forgotten"
# A claim's answer (ClusterNode.claim): a guest's claim of a name another node registered as
# an account after this node looked (docs/cluster.md, CLAIM).
REGISTERED = "registered"


@dataclass(frozen=True, slots=True)
class Confusable:
    """A claim's answer (ClusterNode.claim): the name a guest takes anew looks like ``like``,
    an account's, which another node registered after this node looked, or a guest name
    online or held on another node, taken after this node looked (docs/cluster.md, CLAIM)."""

    like: str


# What known_name calls back when Redis did not answer: nobody can tell whether the user
# exists, so the asker answers ``unavailable`` (retry later), never "nobody by that name".
UNANSWERED: Any = object()


class LocalPeers:
    """No other node: the single-server behaviour."""

    routes = False  # direct messages and outcomes reach only this server's sessions
    tells_presence = False  # the relay announces joins and leaves itself
    shares_room = False  # the relay writes room messages to its sessions itself
    shares_rooms = False  # named rooms live here alone (ClusterNode: save_room, store_room_post)
    available = True
    # Seconds after which a guest refused because its own earlier session still holds its
    # name (the hello proved the token: Relay._holder_refused) should try again: here the
    # old connection ends at the latest with its heartbeat timeout, checked every second
    # (ClusterNode: one heartbeat, the reaper's period).
    release_retry = 1.0
    # The login throttle shared across nodes (ClusterNode.login_failures), or None: alone,
    # the login desk's in-memory FailureThrottle is the whole truth.
    login_failures = None
    # known_name(key, callback(name or None or UNANSWERED)): a user other nodes' stores know
    # (ClusterNode), or None: alone, the relay's own list of known users is the whole truth.
    known_name = None
    # known_names(keys, callback({key: name or None} or UNANSWERED)): the same for many keys,
    # in one round trip (ClusterNode; a watch asks up to 500), or None as known_name.
    known_names = None

    def attach(self, relay: Any) -> None:
        """The relay that calls these seams (a cluster node calls back into it)."""

    def directory_for(self, local: Registry) -> Registry:
        """Who is online for ``who``, ``whois``, ``watch`` and recipients: here, the
        relay's own registry."""
        return local

    def node_of(self, session: Any) -> str | None:
        """The node holding ``session`` (an endpoint's session in the directory); None alone."""
        return None

    def claim(self, session: Any, key: str, name: str, shared: bool, since: float,
              callback: Callable[[str | Confusable | None], None], epoch: int | None = None,
              lookalike: str | None = None) -> None:
        """Make ``name`` the session's across the peers; ``callback(None)``, or an error code
        (``FORGOTTEN``: ``epoch``, the holding a guest's token proved, was forgotten by
        another node just before: the name is free; ``REGISTERED``: a guest's claim of a
        name that became an account just before), or :class:`Confusable`: ``lookalike``, the
        look-alike key of a name a guest takes anew, is an account's just registered or a
        guest name's just taken on another node, or a stores.base.GuestHeld: a name a guest
        takes anew is held for the guest who left it on another node a moment ago."""
        callback(None)

    def release(self, session: Any, reason: str, at: float) -> None:
        """``session`` (claimed) logged out at ``at``: for a guest, the time its name's hold
        starts from (the relay's, which its cache and store hold too)."""

    def registered(self, key: str) -> None:
        """Guest ``key`` made its name an account."""

    def route(self, message: StoredMessage, callback: Callable[[list[str] | None], None]) -> None:
        """Send ``message`` to its recipient's sessions on other nodes; ``callback(their ids)``."""
        callback([])

    def never_routed(self, message: StoredMessage) -> None:
        """New direct ``message`` was stored ``blocked`` (its recipient blocks its sender):
        :meth:`route` is never called for it. Alone: nothing waits for its route."""

    def tell(self, key: str, msg_id: int, frame: bytes) -> None:
        """Write ``frame`` about message ``msg_id`` to ``key``'s sessions on other nodes."""

    def elsewhere(self, key: str) -> bool:
        """True if ``key`` has sessions on other nodes: else :meth:`carbon` for ``key`` does
        nothing, and the relay need not build the copy it would take for every message
        (:meth:`tell` has no such test: a cluster node asks Redis every time). Alone: never."""
        return False

    def probe_elsewhere(self, key: str) -> None:
        """A guest's login proved its token while a session of ``key`` holds the name: the
        nodes holding such sessions ping them as this one does (Relay.probe_holders).
        Alone: none."""

    def carbon(self, key: str, copy: Any) -> None:
        """Give ``copy`` (the ``sent`` event of a direct message that ``key`` sent from this
        node) to the sessions of ``key`` on other nodes that asked for carbons."""

    def settled(self, key: str, msg_id: int) -> None:
        """Message ``msg_id`` to ``key`` was confirmed or expired here: the nodes holding
        other sessions of ``key`` forget it in flight."""

    def store_say(self, store: Any, message: StoredMessage, callback: Callable[[tuple], None],
                  on_error: Callable[[Any], None]) -> None:
        """Store ``say`` ``message`` (the default room's) in ``store``, as its
        ``store_message`` does (``callback((message, status))`` or ``on_error(failure)``).
        A cluster node (``shares_room``) puts a new one on the events stream in the same
        step, from which every node, this one too, writes it to its sessions: the relay
        writes it itself only here."""
        store.store_message(message, callback, on_error)

    def change_message(self, store: Any, msg_id: int, sender_key: str | None, text: str | None, now: float,
                       window: float, quiet_for: frozenset[str], callback: Callable[[Any], None],
                       on_error: Callable[[Any], None], *, may_post_in: frozenset[str] | None, by: str | None,
                       notices: list[tuple[str, str]], versions: dict[str, int] | None = None) -> None:
        """Edit or delete message ``msg_id`` in ``store``, as its ``change_message`` does.
        A cluster node tells a room post's change (``by``: the moderator or administrator
        who deletes it, None: its sender; ``notices``: [name key, frame text] told before
        it) to the other nodes in the same step (bus.RoomPostChangeStored), and makes it only
        if the post's room is still at the version of ``versions`` (room key -> version,
        RoomDesk.versions_of) the change was decided on (else mailbox.STALE). One server
        has one copy of each room, never behind: nothing to compare."""
        store.change_message(msg_id, sender_key, text, now, window, quiet_for, callback, on_error,
                             may_post_in=may_post_in)

    def post_change_told(self, msg_id: int, at: float) -> None:
        """The sessions here were told of the change of room post ``msg_id`` stamped ``at``
        (a cluster node does not tell them again from the events stream)."""

    def admin_added(self, key: str) -> None:
        """A console made account ``key`` an administrator: tell the other nodes' rooms."""

    def block_changed(self, owner: str, target: str, blocking: bool) -> None:
        """Tell the other nodes' caches that ``owner`` blocks (or not) ``target``."""

    def account_saved(self, key: str, account: Any, keep: str | None = None) -> None:
        """Tell the other nodes' login desks of the account of ``key``; ``keep`` (the hex of a
        credential hash, or "") when its password was changed: they revoke every resume
        credential of it they hold but that one."""

    def password_reset(self, key: str, changed: bool = False) -> None:
        """The operator reset the password of ``key`` (``changed``: a session of it changed
        it): the other nodes end its sessions."""

    def account_deleted(self, key: str) -> None:
        """The account ``key`` was deleted here (after its holding, :meth:`holding_changed`):
        the other nodes forget it (AccountDesk.forget_account) and end its sessions."""

    def holding_changed(self, key: str, holding: Any) -> None:
        """Tell the other nodes' guest caches of the holding of ``key``."""

    def answered(self, done: Callable[[], None]) -> None:
        """``done()`` once every question asked of the peers before has been answered (and
        its callback has run). Alone: nothing was asked."""
        done()

    def forget_guests(self, store: Any, holdings: dict[str, Any], epoch: int,
                      callback: Callable[[tuple[list[str], list[StoredMessage]] | None], None]) -> None:
        """Forget the guest names of ``holdings`` (their holdings as this node saw them) in
        ``store``, as its ``forget_users`` up to ``epoch`` does; ``callback((the keys
        forgotten, what ended for their senders))``, or ``callback(None)`` if this node is
        not the one to forget them now. Alone: all of them at once, before the store is
        asked (a login meanwhile finds the name free), then what ended, once it answered."""
        callback((list(holdings), []))
        store.forget_users(list(holdings), epoch, lambda told: callback(([], told)))

    def conversation(self, key: str, actor: str, feature: str, frame: bytes) -> None:
        """Write ``frame`` (a ``read``, ``typing``, ``edited`` or ``deleted`` that ``actor``
        caused: server/afterdelivered.py) to those sessions of ``key`` on other nodes that
        asked for ``feature``, if that node's rules let it pass."""

    def store_receipts_switch(self, store: Any, key: str, on: bool, callback: Any = None,
                              on_error: Any = None) -> None:
        """Store in ``store`` that ``key`` turned read receipts on (or off), as its
        ``set_read_receipts`` does; a cluster node tells the other nodes in the same step."""
        store.set_read_receipts(key, on, callback, on_error)

    def room_read_moved(self, room: str, member: str, mark: int) -> None:
        """Tell the other nodes that ``member`` read room ``room``'s posts up to ``mark``."""
