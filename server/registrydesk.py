"""The relay's desk for the registry's questions: who is online, where someone is, and
telling a session when the names it watches come and go.

``who`` answers a page of the users online (on every node, in a cluster: the relay's
``directory``), ``lookup`` one user's address, port and time online, ``watch`` and
``unwatch`` change a session's presence subscriptions (server/presence.py keeps them and
routes the notices). The wordings of a name that is nobody's live here too
(:meth:`RegistryDesk.not_a_name`, :meth:`RegistryDesk.nobody`): a direct message and a
history request answer them as a lookup does. No sockets here: like the relay, the desk
answers through ``session.send``; a request that answers up to a frame goes through the
relay's intake (server/intake.py), so that a burst of them waits for the queue.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import const
from protocol import (
    Done, ErrorCode, ErrorReply, LookupRequest, LookupResult, Presence, SendDirect, Unwatch, UserList, Watch,
    Watching, WhoRequest,
)
from protocol.codec import fit_page, fits
from registry import InvalidName, canonical, validate_name

from .login import unavailable_error
from .peers import UNANSWERED
from .rooms import Refused

if TYPE_CHECKING:
    from .relay import Relay
    from .session import ClientSession

# More users than fit in one frame, even with the shortest names (see _who).
_MAX_USERS_PER_FRAME = const.MAX_FRAME_BYTES // 20


class RegistryDesk:
    """who, lookup, watch and unwatch, for one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def handlers(self) -> dict[type, Callable[[ClientSession, Any], None]]:
        return {WhoRequest: self._who, LookupRequest: self._lookup, Watch: self._watch, Unwatch: self._unwatch}

    def _who(self, session: ClientSession, request: WhoRequest) -> None:
        """One page of who is online: the users after ``request.after`` that fit in one
        frame, and the cursor for the rest (a client follows ``next`` to see everyone)."""
        if not self.relay.intake.admit(session, self._who, request):
            return  # up to a frame: a burst of them waits for the queue (server/intake.py)
        self.relay.presence.flush()  # see _lookup
        online = self.relay.directory.online()
        start = 0
        if request.after is not None:
            start = bisect.bisect_right(online, canonical(request.after), key=lambda r: canonical(r.name))
        # No page holds more than this many (each user takes more than 20 bytes), so the
        # rest of a long list costs nothing here.
        users = [Presence(r.name, r.since) for r in online[start:start + _MAX_USERS_PER_FRAME]]
        more = len(online) - start > len(users)

        def build(count: int) -> UserList:
            cut = count < len(users) or more
            return UserList(request.request_id, tuple(users[:count]), users[count - 1].name if count and cut else None)

        session.send(fit_page(build, users))

    def _lookup(self, session: ClientSession, request: LookupRequest, told: Any = None) -> None:
        """``told``: the cluster's answer about the name (:meth:`known_names`), once asked."""
        relay = self.relay
        if told is None and not relay.intake.admit(session, self._lookup, request):
            return  # an answer larger than its request: a burst waits for the queue (server/intake.py)
        # The notices of the joins and leaves this answer shows go first (their batch may be
        # waiting its delay): a client is never told a change by the answer, then by its notice.
        relay.presence.flush()
        record = relay.directory.lookup(request.name)
        if record is None:
            key = canonical(request.name)
            refusal = self.not_a_name(request.name, request.request_id, "name")
            if refusal is not None and key not in relay.known:  # (a name kept from before a rule is someone's)
                session.send(refusal)
                return
            known = self.known_names((key,), told)
            if known is None:
                relay.peers.known_names(self.not_known((key,)), lambda told: self._lookup(session, request, told))
                return
            if known is UNANSWERED:  # Redis could not say: "unknown" would be false
                session.send(unavailable_error(relay.config, request.request_id, reading=True))
                return
            name = known[key]
            if name:
                session.send(LookupResult(request.request_id, name, "offline"))
            else:
                session.send(LookupResult(request.request_id, request.name, "unknown",
                                          like=self.rival(session, request.name)))
            return
        first = min(record.endpoints, key=lambda e: e.since)
        session.send(LookupResult(request.request_id, record.name, "online", first.address, first.port,
                                  record.since, relay.peers.node_of(first.session)))

    def known_names(self, keys: Iterable[str], told: Any = None) -> dict[str, str | None] | Any:
        """The one rule of whether a name is anyone's, which ``whois`` and ``watch`` answer by
        (PROTOCOL.md: ``status`` ``unknown``, ``watching``'s ``unknown``): of ``keys``
        (canonical names nobody online has), ``{key: the name as known, or None: nobody's}``.
        A name is someone's if this server knows it (``relay.known``: an account, or a
        guest who logged in and whose name is not forgotten yet) or, in a cluster, if the
        store shared by the nodes does: ``told``, the answer of ``peers.known_names`` once
        asked (a first login on another node reaches this node's list a moment later).
        Returns None when the cluster must be asked first (of those keys this node does
        not know: one round trip for all), ``peers.UNANSWERED`` when it did not answer.
        Blocks play no part (a whois of someone who blocks you answers as any other), nor
        do look-alikes: a name is nobody's or not, whoever asks."""
        known = self.relay.known
        names = {key: known.get(key) for key in keys}
        if all(names.values()):
            return names
        if told is None:  # (the cluster is asked of self.not_known(keys))
            if getattr(self.relay.peers, "known_names", None) is not None:
                return None
            return names
        if told is UNANSWERED:
            return UNANSWERED
        return {key: name or told.get(key) or None for key, name in names.items()}

    def not_known(self, keys: Iterable[str]) -> tuple[str, ...]:
        """Those of ``keys`` this node knows nobody by: what :meth:`known_names` asks the cluster."""
        known = self.relay.known
        return tuple(key for key in keys if not known.get(key))

    def rival(self, session: ClientSession, name: str) -> str | None:
        """The one rule of "did you mean…?" for a valid ``name`` nobody has, which both a
        ``send`` refused ``unknown_recipient`` (:meth:`nobody`) and a ``whois`` answered
        ``unknown`` (:meth:`_lookup`) name in ``like``: the one user online whose name looks
        like it (``Joao`` for ``João``, ``alice`` typed with a Cyrillic ``а``:
        registry/names.py, rule 7), else None. Online names never look alike (a login that
        would is refused), so there is at most one; None all the same when there were more.
        Never the asker: Joao asking for "João" is not asked "did you mean Joao?". In a
        cluster, ``relay.directory`` is everyone online on every node."""
        rivals = [rival for rival in self.relay.directory.lookalikes(name) if canonical(rival) != session.key]
        return rivals[0] if len(rivals) == 1 else None

    def nobody(self, session: ClientSession, request: SendDirect) -> ErrorReply:
        """``unknown_recipient`` for a message to a valid name nobody has; with ``like``, the
        user online whose name looks like it (:meth:`rival`), so that the sender's client can
        ask "did you mean João?". The message is not sent to it: the sender decides."""
        like = self.rival(session, request.to)
        if like is not None:
            return ErrorReply(ErrorCode.UNKNOWN_RECIPIENT, f"nobody called {request.to} has ever logged in here; "
                              f"did you mean {like}?", request.request_id, like=like)
        return ErrorReply(ErrorCode.UNKNOWN_RECIPIENT, f"nobody called {request.to} has ever logged in here",
                          request.request_id)

    @staticmethod
    def not_a_name(name: str, request_id: str | None, field: str) -> ErrorReply | None:
        """``invalid_name`` for ``name`` (in ``field``, its key on the wire), which a lookup
        found to be nobody's, if it breaks the naming rules (PROTOCOL.md "Names", rule 1: in
        every field that holds a name; one too long says its limit); None for a valid name
        nobody has, which each request answers its own way. Asked only once the lookup
        failed: a message to someone pays nothing for it, and a name someone has (kept from
        before a rule) is never refused by it."""
        if name.startswith("#"):
            return ErrorReply(ErrorCode.INVALID_NAME, f"{name!r} is the name of a room, not of a person (in protocol "
                              "version 2, a message to a room is a 'send' with 'room' in place of 'to')", request_id)
        try:
            validate_name(name)
        except InvalidName as exc:
            return Refused.invalid_name(exc, field).reply(request_id)
        return None

    def _watch_keys(self, session: ClientSession, request: Watch | Unwatch) -> list[str] | None:
        """The canonical names of ``request``, or None after answering ``invalid_name``."""
        keys = []
        for name in request.names:
            try:
                keys.append(canonical(validate_name(name)))
            except InvalidName as exc:
                session.send(Refused.invalid_name(exc, "names", f"{name[:40]!r}: {exc}; nothing was done")
                             .reply(request.request_id))
                return None
        return keys

    def _watch(self, session: ClientSession, request: Watch, told: Any = None) -> None:
        """Subscribe ``session`` to the presence of the names (see presence.py) and tell
        it which of them are online now, which offline and which nobody's: what ``who``
        and ``whois`` would say of them, no more. ``told``: the cluster's answer about the
        names this node knows nobody by (:meth:`known_names`), once asked; until then the
        frames the client sent behind the watch wait, unread (AccountDesk.in_order), so
        that an ``unwatch`` behind it is done after it, as sent."""
        relay = self.relay
        if told is None and not relay.intake.admit(session, self._watch, request):
            return  # up to a frame: a burst of them waits for the queue (server/intake.py)
        if told is not None and session.closing:
            return  # gone while the cluster was asked: nothing to watch for it
        keys = self._watch_keys(session, request)
        if keys is None:
            return
        # See _lookup; in each run, as each reads the directory anew (the one that answers
        # may come after the cluster was asked, and show a join batched meanwhile).
        relay.presence.flush()
        online, absent = [], {}
        for key, name in dict(zip(keys, request.names)).items():
            record = relay.directory.lookup(key)
            if record is not None:
                online.append(Presence(record.name, record.since))
            else:
                absent[key] = name
        known = self.known_names(absent, told)
        if known is None:  # one round trip for all of them, the other frames of the client behind it
            relay.account_desk.in_order(session, lambda done: relay.peers.known_names(self.not_known(absent), done),
                                        lambda told: self._watch(session, request, told))
            return
        # The cluster did not answer: those it was to say of are offline (not online; only
        # "unknown" says nobody has the name, and that would be false for an account's).
        nobody = () if known is UNANSWERED else tuple(name for key, name in absent.items() if known[key] is None)
        offline = tuple(name for key, name in absent.items() if known is UNANSWERED or known[key] is not None)
        answer = Watching(request.request_id, tuple(online), offline, nobody or None)
        if not fits(answer):
            # The answer is one frame, and the longest names online, each with its time,
            # take up to about 170 bytes: 500 of them would be a frame no client reads
            # (tests/unit/test_watch_answer_fits.py). Refused before anything is watched.
            session.send(ErrorReply(ErrorCode.BAD_FIELD, f"the answer for these {len(request.names)} names would "
                                    f"not fit in one frame: watch them in smaller parts; nothing was done",
                                    request.request_id))
            return
        watchlists = relay.watchlists
        if not watchlists.watch(session, keys):
            session.send(ErrorReply(ErrorCode.TOO_MANY_WATCHED, f"a session may watch at most "
                                    f"{watchlists.max_watched} names; it watches "
                                    f"{len(watchlists.watched_by(session))}: unwatch some first",
                                    request.request_id))
            return
        session.send(answer)

    def _unwatch(self, session: ClientSession, request: Unwatch) -> None:
        keys = self._watch_keys(session, request)
        if keys is not None:
            self.relay.watchlists.unwatch(session, keys)
            session.send(Done(request.request_id))
