"""The relay's desk for accounts: what a logged-in user, or the operator, does to an account.

A session's requests (``register``, ``revoke``, ``password``, ``unregister``: PROTOCOL.md)
and the console's commands (``/password NAME``, ``/unregister NAME``: chatserver.py) come
here; the cluster's events stream calls :meth:`AccountDesk.end_sessions` and
:meth:`AccountDesk.forget_account` for what another node did. No sockets here: like the
relay, the desk answers through ``session.send`` and asks the store.

The rules of passwords, credentials and throttles are the login desk's (server/login.py,
which hashes off the loop); this desk says who asks, keeps each answer in its request's
order (:meth:`AccountDesk.in_order`), tells the other nodes what changed
(server/peers.py), and ends the sessions that what changed no longer lets stay.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import const
from protocol import ChangePassword, Done, ErrorCode, ErrorReply, Goodbye, Register, Revoke, Unregister
from registry import canonical, validate_name

from . import mailbox
from .login import account_gone_error, unavailable_error
from .store import StoreUnavailable

if TYPE_CHECKING:
    from .relay import Relay
    from .session import ClientSession

log = logging.getLogger("chat.server")


class NoAccount(LookupError):
    """A console command named an account that does not exist (:meth:`AccountDesk.account_key`),
    or :meth:`RoomDesk.add_admin` a name that is no account: an administrator is a
    registered account, or whoever registered the name later would become one.
    ``name``: the name as given."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name!r} has no account")
        self.name = name


class AccountDesk:
    """Accounts' requests and the operator's account commands, for one relay."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    def handlers(self) -> dict[type, Callable[[ClientSession, Any], None]]:
        return {Register: self._register, Revoke: self._revoke, ChangePassword: self._change_password,
                Unregister: self._unregister}

    # --- A session's requests -----------------------------------------------------------

    def _register(self, session: ClientSession, request: Register) -> None:
        if session.registered:
            session.send(ErrorReply(ErrorCode.ACCOUNT_EXISTS, f"{session.name!r} is already registered",
                                    request.request_id))
            return
        relay = self.relay

        def claimed(error: ErrorReply | None) -> None:
            if error is not None:
                session.send(ErrorReply(error.code, error.message, request.request_id, error.retry_after))
                return
            session.registered = True
            record = relay.registry.lookup(session.name)
            # Only while the claimant is still online under the name: if it left during the
            # hashing and a guest took the name meanwhile, that guest proved no password.
            if record is not None and any(e.session is session for e in record.endpoints):
                record.shared = True
                relay.peers.registered(session.key)
            relay.peers.account_saved(session.key, relay.logins.accounts[session.key])
            session.send(Done(request.request_id))

        group = relay.counted_group(session)
        self.in_order(session, lambda done: relay.logins.claim(session.name, request.password, done, by_holder=True,
                                                                address=group), claimed)

    def _revoke(self, session: ClientSession, request: Revoke) -> None:
        """Forget an account resume credential of this session's account ("Log out"), or,
        for a guest, give its name up (:meth:`_give_up_name`)."""
        if not session.registered:
            self._give_up_name(session, request)
            return

        def revoked(error: ErrorReply | None) -> None:
            session.send(Done(request.request_id) if error is None
                         else ErrorReply(error.code, error.message, request.request_id, error.retry_after))

        self.relay.logins.revoke(session.key, request.resume, revoked)

    def _give_up_name(self, session: ClientSession, request: Revoke) -> None:
        """A guest's ``revoke`` of its own token gives its name up (PROTOCOL.md, "``revoke``"):
        the token proves nothing from then on, and once this session has left nobody holds
        the name (guests.py, GuestNames.give_up): the next hello takes it, and the relay's
        take (Relay._hold_name) hands what waited over as after a hold. ``ok`` once the store
        has it; ``unavailable`` if it failed (the token then works as before), or, said
        uncertain, if Redis may have it (given up then, and written again). ``ok`` with
        nothing done for any other token (another guest's, one already given up: nobody
        gives up a name for someone else) or a holding that is not this session's epoch's."""
        relay = self.relay
        key = session.key
        guests = relay.logins.guests
        held = guests.holdings.get(key)
        earlier = held.token_hash if held is not None else None
        holding = guests.give_up(key, request.resume) if held is not None and held.epoch == session.epoch else None
        if holding is None:
            session.send(Done(request.request_id))
            return

        def decided(failure: StoreUnavailable | None, written: bool = True) -> None:
            # (In a cluster an echo of an earlier holding event may have replaced the object
            # meanwhile, given up all the same: GuestNames.echoed.)
            current = guests.holdings.get(key)
            if current is None or current.epoch != holding.epoch:
                current = holding
            if failure is None:
                if written:  # (else Redis keeps a newer holding, another node's take: the stream brings it)
                    relay.peers.holding_changed(key, current)
                log.info("guest %s gave its name up", session.name)
                session.send(Done(request.request_id))
                return
            if failure.maybe_done:
                # Redis may have it: given up here too, and written again once it answers
                # (Relay._save_unsaved_holdings), so that no node keeps a token its guest
                # gave up; the answer says it may have been done (a resend finds it done: ok).
                relay.peers.holding_changed(key, current)
                relay._holding_unsaved(key, current, failure)  # (the relay's own desk)
            else:  # not stored: the token still proves the name, here too
                guests.not_given_up(key, earlier, holding.epoch)
            session.send(unavailable_error(relay.config, request.request_id, failure))

        # (Not written when Redis keeps a newer holding, another node's take: the name was not
        # this guest's any more, and the answer is ok, as for any such.)
        self.in_order(session, lambda done: relay.store.save_holding(key, holding, lambda written: done(None, written),
                                                                     done), decided)

    def _change_password(self, session: ClientSession, request: ChangePassword) -> None:
        """Set this session's account password (PROTOCOL.md, "``password``"): ``ok`` once
        the new hash is stored; the other nodes' caches learn it with the credential kept."""
        if not session.registered:
            session.send(ErrorReply(ErrorCode.FORBIDDEN, "a guest has no password to change: claim the name with "
                                    "register first", request.request_id))
            return
        relay = self.relay

        def changed(error: ErrorReply | None, account: Any, kept: bytes | None) -> None:
            if error is not None:
                session.send(ErrorReply(error.code, error.message, request.request_id, error.retry_after,
                                        uncertain=error.uncertain))
                return
            relay.peers.account_saved(session.key, account, kept.hex() if kept else "")
            session.send(Done(request.request_id))
            # The other devices proved the old password: signed out, told why (this one stays).
            relay.peers.password_reset(session.key, changed=True)
            self.end_sessions(session.key, changed=True, keep=session)

        group = relay.counted_group(session)
        self.in_order(session, lambda done: relay.logins.change_password(
            session.key, request.old_password, request.new_password, request.resume, group, done), changed)

    def _unregister(self, session: ClientSession, request: Unregister) -> None:
        """Delete this session's account at its owner's request (PROTOCOL.md,
        "``unregister``"), once its password is proved here (a resume credential is not
        enough: a stolen one must not delete the account): ``ok``, then every session of
        it ends, this one too (:meth:`delete_account`)."""
        if not session.registered:
            session.send(ErrorReply(ErrorCode.FORBIDDEN, "a guest has no account to delete: a guest name is "
                                    "forgotten on its own after its hold", request.request_id))
            return
        relay, key = self.relay, session.key

        def start(done: Callable[..., None]) -> None:
            def proved(error: ErrorReply | None) -> None:
                if error is None and key not in relay.logins.accounts:  # deleted meanwhile (the console)
                    error = account_gone_error()
                if error is not None:
                    return done(error, None)
                # Frames sent behind the request wait until it is stored, not only proved.
                self.delete_account(key, lambda failure: done(None, failure))

            relay.logins.prove(key, request.password or "", group, "an account deletion", proved)

        def decided(error: ErrorReply | None, failure: StoreUnavailable | None) -> None:
            if error is not None:
                session.send(ErrorReply(error.code, error.message, request.request_id, error.retry_after,
                                        uncertain=error.uncertain))
            elif failure is not None:
                session.send(unavailable_error(relay.config, request.request_id, failure))
            else:
                session.send(Done(request.request_id))
                self.end_sessions(key, deleted=True)

        group = relay.counted_group(session)
        self.in_order(session, start, decided)

    def in_order(self, session: ClientSession, start: Callable[[Callable[..., None]], None],
                  decided: Callable[..., None]) -> None:
        """Start a request decided off the loop (a password's hash): ``start(done)``, where
        ``done`` answers it with ``decided``. Until then the frames the client sent behind
        it wait, unread, as behind a hello (Relay._hello), so that its answer comes before
        theirs: answers in the order of the requests. Nothing is held when ``start``
        answers at once (a refusal)."""
        waiting = True

        def done(*outcome: Any) -> None:
            nonlocal waiting
            waiting = False
            decided(*outcome)
            if session.reading_held_since is not None:
                session.release_reading()

        start(done)
        if waiting and not session.closing:
            session.hold_reading()

    # --- The operator's commands (the server's console) ---------------------------------

    def account_key(self, name: str) -> str:
        """The key of the account ``name`` (the console's commands name one); InvalidName, or
        NoAccount if there is no such account."""
        validate_name(name)
        key = canonical(name)
        if key not in self.relay.logins.accounts:
            raise NoAccount(name)
        return key

    def account_name(self, name: str) -> str:
        """The account ``name`` as the registry spells it (a console's command may name it in
        any case: "joão" for "João"), for the console's answers to say; InvalidName, or
        NoAccount if there is no such account."""
        return self.relay.logins.accounts[self.account_key(name)].name

    def unregister(self, name: str, done: Callable[[StoreUnavailable | None], None]) -> None:
        """The console's ``/unregister NAME``: delete the account ``name`` (InvalidName, or
        NoAccount, raised at once) as its owner's ``unregister`` does, and end its
        sessions on every node; ``done(None)`` once done, else ``done(failure)``: nothing
        changed (unless ``failure.maybe_done``)."""
        key = self.account_key(name)

        def deleted(failure: StoreUnavailable | None) -> None:
            if failure is None:
                self.end_sessions(key, deleted=True)
            done(failure)

        self.delete_account(key, deleted)

    def reset_password(self, name: str, done: Callable[[str | None, StoreUnavailable | None], None]) -> None:
        """The console's ``/password NAME``: a new random password for the account ``name``
        (InvalidName, or NoAccount, raised at once), ``done(password, None)``
        once it is stored: every resume credential of the account is revoked and every
        session of it, on every node, ended (:meth:`end_sessions`).
        Else ``done(None, failure)``: nothing changed (unless ``failure.maybe_done``)."""
        key = self.account_key(name)
        peers = self.relay.peers

        def stored(password: str | None, account: Any, failure: StoreUnavailable | None) -> None:
            if password is not None:
                peers.account_saved(key, account, "")
                peers.password_reset(key)
                self.end_sessions(key)
            done(password, failure)

        self.relay.logins.reset_password(key, stored)

    # --- What an account's end or change does -------------------------------------------

    def delete_account(self, key: str, done: Callable[[StoreUnavailable | None], None]) -> None:
        """Delete the account ``key`` (it must exist; the password proved, or the console's
        ``/unregister NAME``): in the store in one step (MessageStore.delete_account: what
        waits for it expires, its senders told), then here and on every node, what is
        hers goes (account, credentials, known addresses, throttle rows, blocks both
        ways, receipts switch, rooms: an owner's room is handed on), and ``done(None)``;
        the caller ends its sessions (:meth:`end_sessions` ``deleted``). The name is then
        held as a guest name whose token nobody has (guests.hold_for_nobody): nobody may
        take it for ``const.GUEST_HOLD``, then a hello takes it afresh, with a new epoch
        (nothing of hers shows to the newcomer). Else ``done(failure)``: nothing changed
        (unless ``failure.maybe_done``)."""
        relay = self.relay
        guests = relay.logins.guests
        epoch = relay.store.last_msg_id()
        holding = guests.hold_for_nobody(key, relay.logins.accounts[key].name, epoch, time.time())

        def deleted(told: list[mailbox.StoredMessage]) -> None:
            log.info("account deleted: %s", holding.name)
            guests.install(key, holding)
            relay.peers.holding_changed(key, holding)
            relay.peers.account_deleted(key)
            self.forget_account(key)
            relay.drop_earlier_holder(key)
            relay.announce_expired(told)
            done(None)

        def failed(failure: StoreUnavailable) -> None:
            done(failure)  # the name's holding as it was: its epoch still the account's

        relay.store.delete_account(key, epoch, holding, deleted, failed)

    def forget_account(self, key: str) -> None:
        """The account ``key`` was deleted (here, or on another node of a cluster): this
        server's caches forget it, the blocks of it by others (each owner's open page is
        told) and its administrator's role (the next holder of the name is someone else);
        whom it blocked, its switch and rooms are Relay.drop_earlier_holder's, on the node
        that deleted it."""
        relay = self.relay
        relay.logins.forget_account(key)
        relay.known.pop(key, None)
        relay.block_desk.forget_blocked(key)
        relay.room_desk.rooms.remove_admin(key)

    def end_sessions(self, key: str, changed: bool = False, keep: ClientSession | None = None,
                     deleted: bool = False) -> None:
        """End every session of ``key`` on this server but ``keep``: its password was reset
        by the operator (``changed``: changed by a session of it, ``keep`` if it is here);
        what they proved no longer holds. Each gets ``error`` ``password_reset`` (or
        ``password_changed``) without id, so that a client does not log in again with the
        old password, then ``bye`` with the reason (PROTOCOL.md, "password")."""
        code, words, reason = (ErrorCode.ACCOUNT_DELETED, "this account was deleted", const.ACCOUNT_DELETED_REASON) \
            if deleted else (ErrorCode.PASSWORD_CHANGED, "this account's password was changed in another "
                               "session: log in again with the new one", const.PASSWORD_CHANGED_REASON) if changed \
            else (ErrorCode.PASSWORD_RESET, "the server operator reset this account's password: log in again "
                  "with the new one", const.PASSWORD_RESET_REASON)
        for session in list(self.relay.registry.sessions_by_key(key)):
            if session.closing or session is keep:
                continue
            if session.conn.may_send(Goodbye):  # not after the client's own bye
                session.send(ErrorReply(code, words))
                session.send(Goodbye(reason))
            session.close(reason)
