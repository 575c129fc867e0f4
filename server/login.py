"""Logging in: who may use which name, and claiming a name with a password.

:meth:`LoginDesk.login` decides what a hello gets and calls ``done(LoginResult)`` on the
event loop, at once for a guest or after the password hash was checked on a worker thread
for an account. The relay then registers the session. Policy only: no sockets here.

The rules:

- a claimed name (an account) needs its password; several sessions may use it at once;
- an unclaimed name is a guest name: free to anyone while nobody online uses it, unless
  accounts are mandatory (``require_accounts``);
- ``register`` in the hello claims an unclaimed name as part of logging in; for a
  registered name it is a login: its password logs in (a retried register whose welcome
  was lost), another is answered ``account_exists`` (the user meant a new account, so
  not ``bad_password``), counted as a wrong password;
- after a wrong password, the next password for that name *from that address*, and the
  next password from that address for any name, waits (a guest's hello, a resume
  credential and a registration of a new name check no password and never wait; see :class:`~server.accounts.FailureThrottle`:
  the name's wait doubles with its failures, the address's with the names that failed
  there), and from then on only one password check for it runs at a time (guesses sent at
  once on many connections are refused). Failures are never counted per name alone: a
  guesser elsewhere must not keep the owner, who is not throttled, from logging in;
- an account remembers the last ``const.KNOWN_ADDRESSES`` addresses it logged in from
  with its password, or was registered from: from those, only the name's own failures
  there make it wait, never the address's (another user behind the same NAT guessing
  cannot hold it up);
- password checks for everyone together are capped per second
  (``config.login_checks_per_second``), so guessing from many addresses cannot take the
  CPU; over the cap a hello is answered ``rate_limited`` at once, with ``retry_after``.
  The cap is shared by standing (:class:`~server.limits.CheckBudget`): addresses with a
  recent wrong password only get what is left above a reserve, so they cannot starve
  logins from elsewhere; checks of a name with a recent wrong password from elsewhere
  leave half the reserve, so a guesser's ever new addresses cannot starve registrations
  nor logins to other accounts; and an account's known addresses come first;
- registering hashes a password too: it draws on the same cap, and each address may
  register at most ``const.REGISTRATIONS_PER_ADDRESS`` accounts an hour;
- a name claimed with ``register`` while a guest logged in under it stays unclaimed;
- a guest name is held for its guest (see :mod:`server.guests`): while it is held, only a
  hello with its resume token may use it, or claim it;
- an account's resume credential (see :mod:`server.credentials`), asked for with the
  ``resume`` feature after a login that proved the password, logs in to that account
  without it, until it expires or is revoked;
- a logged-in account may set a new password by proving its current one
  (:meth:`LoginDesk.change_password`): the check is a login's (:meth:`LoginDesk._verify`:
  the same throttle, budget and log), the new one follows the registration rule, and
  every resume credential of the account but the client's own stops working; the
  operator may set a random one (:meth:`LoginDesk.reset_password`), which stops them all.
  A login whose check was under way while the password was set anew is refused (so is
  one whose new resume credential was being stored then);
- a name taken anew (a guest taking a free name, or claiming one) may not look like
  another user's (``confusable_name``; see :mod:`registry.names`, rule 7): the name of
  someone online, of an account, of a guest name still held, or a reserved name. Logging
  in to one's own account or held guest name is not taking it: names that already look
  alike (stored before this rule) keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import const
from protocol import LATEST_VERSION, RESUME, ErrorCode, ErrorReply, Hello, negotiate
from registry import InvalidName, Lookalikes, canonical, display_form, validate_name
from registry.names import MESSAGES as NAME_MESSAGES
from registry import names
from registry.names import looks_like_reserved

from .accounts import (
    Account, FailureThrottle, hash_password, password_problem, reset_password_text, same_account, verify_password,
)
from .clocksteps import wall_ms
from .config import ServerConfig
from .credentials import AccountCredentials, digest
from .guests import Claim, GuestNames, Holding, proves
from .limits import CLEAN, CONTESTED, FAILING, KNOWN, CheckBudget, TokenBucket, retry_seconds, wait_words
from .logsummary import LogSummary
from .rooms import Refused
from .stores.base import GUEST_ONLINE, GuestHeld, LooksLike, MessageStore, StoreUnavailable

log = logging.getLogger("chat.server")

# Of the password-check budget's burst: the share kept from addresses with a recent wrong
# password, and the share an account's known addresses may run ahead (limits.CheckBudget).
CHECKS_RESERVED = 0.5
CHECKS_OVERDRAFT = 0.25
# Seconds a name's checks stay contested after its last wrong password (as long as the
# throttle remembers a failure: FailureThrottle.prune).
FAILED_NAME_MEMORY = 3600.0
# Claims answered "unavailable, uncertain" remembered for their resend (LoginDesk.claim), the
# oldest forgotten first: few, as claims fail only while Redis does.
_UNSURE_CLAIMS_KEPT = 10_000

# (func, args, callback(result), on_error(exception)): runs func(*args) off the loop, then
# exactly one of the two on the loop (app.py's thread pool; relay.py's _run_now for tests).
Offload = Callable[[Callable, tuple, Callable, Callable[[Exception], None]], None]
# (op, throttle keys, base, cap, callback(seconds to wait, or None: no answer)): ClusterNode.login_failures
SharedFailures = Callable[[str, tuple, float, float, Callable[[float | None], None]], None]
# (name key, callback(account or None), on_error(StoreUnavailable)): RedisStore.account
Reread = Callable[[str, Callable[[Account | None], None], Callable[[StoreUnavailable], None]], None]
# (name key, now, callback(holding or None), on_error(StoreUnavailable)): RedisStore.holding
RereadHolding = Callable[[str, float, Callable[[Holding | None], None], Callable[[StoreUnavailable], None]], None]


def unavailable_error(config: ServerConfig, request_id: str | None = None,
                      failure: StoreUnavailable | None = None, reading: bool = False) -> ErrorReply:
    """The answer to a request the store could not do (the disk is full or failing, Redis
    is out of reach), or (``failure.maybe_done``: Redis took it and did not answer in time)
    may have done: then the answer says so, in words and with ``uncertain`` (PROTOCOL.md,
    "When the server cannot store"), and a resend under the same id tells which.
    ``reading``: a request that only reads (a whois a cluster's Redis did not answer, a
    history page), which has its own words: it asked nothing to be saved."""
    retry = config.unavailable_retry_after
    if reading:
        return ErrorReply(ErrorCode.UNAVAILABLE, "the server could not look this up in its storage (it failed or did "
                          f"not answer): try again in {retry:g} s", request_id, retry)
    if failure is not None and failure.maybe_done:
        return ErrorReply(ErrorCode.UNAVAILABLE, f"the server could not confirm that this was done (its storage "
                          f"did not answer in time); it may have been: send the same request again, with the "
                          f"same id, in {retry:g} s to find out", request_id, retry, uncertain=True)
    return ErrorReply(ErrorCode.UNAVAILABLE, f"the server cannot save anything right now; nothing was done: "
                      f"try again in {retry:g} s", request_id, retry)


def account_gone_error() -> ErrorReply:
    """The answer to a request about one's own account (a password change, a deletion) once
    the account was deleted meanwhile (its owner's other session, the console, another
    node): nothing was done, and nothing is to be tried again. ``bad_password``, the
    code of a password the server cannot accept; the session itself ends with
    ``account_deleted`` (accountdesk.end_sessions)."""
    return ErrorReply(ErrorCode.BAD_PASSWORD, "this account no longer exists; nothing was done")


@dataclass(frozen=True, slots=True)
class LoginResult:
    """Either ``error`` is set, or the session may register as ``name``.

    ``claim`` says what the login does to the guest holding of the name: RESUME (the
    guest is back), TAKE (a new holder: nothing of the earlier one passes on), or None (a
    login to an existing account, which leaves it as it is). ``token`` is the resume token
    the hello carried: for TAKE, the one the client proposes for itself (see guests.py).
    ``issued`` is a new account resume credential for the welcome (see credentials.py).
    """

    name: str = ""
    registered: bool = False
    error: ErrorReply | None = None
    claim: Claim | None = None
    token: str | None = field(default=None, repr=False)
    issued: str | None = field(default=None, repr=False)


class LoginDesk:
    """Accounts in memory (written through to the store) and the login decisions.

    ``offload(func, args, callback, on_error)`` runs ``func(*args)`` on a worker thread and
    then ``callback(result)`` on the loop, or ``on_error(exception)`` if it raised (a hash
    that fails is answered ``unavailable``: nothing was done); ``name_in_use(name)`` says if someone online has it;
    ``log_lines`` bounds the log lines wrong passwords cause (the relay shares its own);
    ``online_lookalikes(name)`` lists the names online that look like ``name``.
    """

    def __init__(self, config: ServerConfig, store: MessageStore, accounts: dict[str, Account], offload: Offload,
                 name_in_use: Callable[[str], bool], log_lines: LogSummary | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 online_lookalikes: Callable[[str], list[str]] = lambda name: []) -> None:
        self.config = config
        self.store = store
        self.accounts = accounts
        self.online_lookalikes = online_lookalikes
        # Accounts' and reserved names by look-alike key (kept in step with self.accounts).
        self.account_lookalikes = Lookalikes(a.name for a in accounts.values())
        self.reserved_lookalikes = Lookalikes(names.RESERVED)
        self.offload = offload
        self.name_in_use = name_in_use
        self.clock = clock
        self.guests = GuestNames(store.guest_holdings(time.time()), config.guest_hold, config.guest_remembered,
                                 config.guest_remembered_most, clock)
        self.credentials = AccountCredentials(store.account_credentials(time.time()))
        self.throttle = FailureThrottle(base=config.login_failure_delay)
        # In a cluster, the throttle every node shares (ClusterNode.login_failures): consulted
        # before, and told after, each password check, besides the in-memory one.
        self.shared_failures: SharedFailures | None = None
        # In a cluster, the store's read of one account as it is now (RedisStore.account):
        # every password check reads it first, since another node may have just set it.
        self.reread: Reread | None = None
        # In a cluster, the store's read of one guest name's holding as it is now
        # (RedisStore.holding): a resume token this node's cache does not take is checked
        # there, since the guest may have taken the name on another node a moment ago.
        self.reread_holding: RereadHolding | None = None
        self.log_lines = log_lines or LogSummary(log, config.log_summary_interval)
        # Password checks under way, per "name@address" and per "@address" (names that failed
        # there) or "@address new" (names that did not): after a failure, one at a time in
        # each, or guesses sent at once on many connections would all be checked.
        self._checking: dict[str, int] = {}
        # All password checks (and hashes of new accounts) together: scrypt is slow on
        # purpose, so each costs CPU. Half the burst is kept from addresses that keep
        # failing, and a quarter more may be run ahead by an account's known addresses.
        burst = config.login_checks_burst
        self.checks = CheckBudget(config.login_checks_per_second, burst, burst * CHECKS_RESERVED,
                                  burst * CHECKS_OVERDRAFT)
        # Account key -> when it last had a wrong password (from any address): its checks from
        # addresses that have not failed are contested (see _standing). At most one an account.
        self._failed_names: dict[str, float] = {}
        # Account key -> the last addresses it logged in from with its password, oldest first.
        self.known: dict[str, list[str]] = {}
        # Address -> its bucket of registrations (REGISTRATIONS_PER_ADDRESS an hour).
        self._registrations: dict[str, TokenBucket] = {}
        # Name key -> the account a claim of it tried to store, answered "unavailable,
        # uncertain" (Redis may have saved it): its resend hashes with the same salt, so that
        # the same password makes the very record, which the store takes as done (claim).
        # The oldest forgotten first (_UNSURE_CLAIMS_KEPT).
        self._unsure_claims: dict[str, Account] = {}

    def is_claimed(self, name: str) -> bool:
        return canonical(name) in self.accounts

    def account_now(self, key: str, found: Callable[[Account | None], None],
                    failed: Callable[[StoreUnavailable], None]) -> None:
        """The account ``key`` as it is now: ``found(account)``, or ``found(None)`` if there
        is none, or ``failed(failure)`` if the store could not be asked. Alone, the cache
        (:attr:`accounts`) holds every account: answered from it at once. In a cluster it
        follows the events stream, a moment behind Redis (longer behind a lagging reader):
        a name it does not have may have been registered on another node just now, so
        Redis is asked (:attr:`reread`), and an account found is kept (:meth:`learn`).
        Every check that a "no account" decides (a login as a guest, an invitation where
        only accounts log in, the console's) asks here, not the cache."""
        account = self.accounts.get(key)
        if account is not None or self.reread is None:
            return found(account)

        def read(account: Account | None) -> None:
            if account is not None:
                self.learn(key, account)
            found(account)

        self.reread(key, read, failed)

    def learn(self, key: str, account: Account) -> None:
        """Keep ``account`` as the account ``key``: read from Redis, or told by another node
        of the cluster (its AccountSaved)."""
        if key not in self.accounts:
            self.account_lookalikes.add(account.name)
        self.accounts[key] = account

    def lookalike_of(self, name: str) -> str | None:
        """A name that ``name`` may not be taken beside (it looks like it, and is another
        user's or reserved), or None. O(1): every source is indexed by look-alike key."""
        reserved = self.reserved_lookalikes.rivals(name)
        for rivals in (reserved and self._reserved_among(name, reserved), self.online_lookalikes(name),
                       self.account_lookalikes.rivals(name), self.guests.held_lookalikes(name, time.time())):
            if rivals:
                return rivals[0]
        return None

    @staticmethod
    def _reserved_among(name: str, found: list[str]) -> list[str]:
        """The words of ``found`` (reserved words that :attr:`reserved_lookalikes` found
        under ``name``'s look-alike key) that ``name`` looks like written in some case
        (registry.names.looks_like_reserved: ``ALI`` looks like ``all``, ``Ali`` does not).
        The key joins i and l because a holder may write its name in any case; a reserved
        word has no holder. Called only when the index found one: no call on a login's
        common path (test_login_cost)."""
        return [word for word in found if looks_like_reserved(name, word)]

    def _lookalike_error(self, name: str, request_id: str | None = None) -> ErrorReply | None:
        rival = self.lookalike_of(name)
        return None if rival is None else lookalike_error(name, rival, request_id)

    def login(self, hello: Hello, address: str, done: Callable[[LoginResult], None]) -> None:
        """Decide on ``hello`` from ``address``; calls ``done`` exactly once."""
        if RESUME in (hello.features or ()) and hello.password is not None:
            done = self._issuing(done, hello, address)

        def refuse(code: str, message: str, retry_after: float | None = None) -> None:
            done(LoginResult(error=ErrorReply(code, message, hello.request_id, retry_after)))

        if negotiate(hello.version) is None:  # the welcome repeats the hello's version
            return refuse(ErrorCode.UNSUPPORTED_VERSION,
                          f"this server speaks protocol versions 1 to {LATEST_VERSION}, not {hello.version}")
        try:
            validate_name(hello.name)
        except InvalidName as exc:
            return done(LoginResult(error=Refused.invalid_name(exc, "name").reply(hello.request_id)))
        key = canonical(hello.name)
        keys, checked = self._throttle_keys(key, address)  # (a guest's name has no known addresses)
        if self.shared_failures is None:
            return self._decide(hello, address, key, keys, checked, done, 0.0)

        def shared(wait: float | None) -> None:
            if wait is None:
                return done(LoginResult(error=unavailable_error(self.config, hello.request_id)))
            self._decide(hello, address, key, keys, checked, done, wait)
        self.shared_failures("check", checked, self.throttle.base, self.throttle.cap, shared)

    def _decide(self, hello: Hello, address: str, key: str, keys: tuple[str, str], checked: tuple[str, ...],
                done: Callable[[LoginResult], None], shared_wait: float, asked: bool = False,
                holding_asked: bool = False) -> None:
        """:meth:`login` once the name is valid and the shared throttle (if any) said
        ``shared_wait``; ``keys`` are the throttle keys a failure counts against,
        ``checked`` those that make this login wait (``keys`` but from a known address);
        ``asked``: a name the cache has no account of was asked of the store
        (:meth:`account_now`); ``holding_asked``: a guest's token the cache did not take
        was checked against the store's holding (:attr:`reread_holding`); calls ``done``
        exactly once."""
        def refuse(code: str, message: str, retry_after: float | None = None) -> None:
            done(LoginResult(error=ErrorReply(code, message, hello.request_id, retry_after)))

        def waiting() -> bool:
            """Whether a password check must first wait out wrong passwords (and then say so).
            Only a hello that checks a password waits: a guest's name and an account's
            resume credential prove nothing that can be guessed, so someone guessing behind
            a shared address (a classroom's NAT) must not keep guests and reloaded pages out."""
            wait = max(self.throttle.retry_after(checked, self.clock()), shared_wait)
            if wait > 0:
                # retry_seconds rounds up (a client waiting this long gets in), as its words do.
                refuse(ErrorCode.RATE_LIMITED, f"too many failed logins; try again in {wait_words(wait)}",
                       retry_seconds(wait))
            return wait > 0

        account = self.accounts.get(key)
        if account is not None:
            if hello.password is None and self.credentials.check(key, hello.resume, time.time()):
                return done(LoginResult(account.name, registered=True))
            if hello.password is None:
                return refuse(ErrorCode.AUTH_REQUIRED, f"the name {account.name!r} is registered: a password is needed")
            if waiting():
                return None

            def verified(error: ErrorReply | None) -> None:
                if error is not None:
                    code, message = error.code, error.message
                    if code == ErrorCode.BAD_PASSWORD and hello.register:
                        # A hello that asked to register a registered name is told that the
                        # name is taken, not that its "password" is wrong: the user meant a
                        # new account. It tells nothing more than bad_password would
                        # (auth_required already says the name is registered), and it was
                        # counted as a failure as bad_password is: register is no way
                        # round the throttle.
                        code, message = ErrorCode.ACCOUNT_EXISTS, (
                            f"the name {account.name!r} is already registered: "
                            "log in with its password, or choose another name")
                    return done(LoginResult(error=ErrorReply(code, message, hello.request_id, error.retry_after)))
                done(LoginResult(self.accounts[key].name, registered=True))

            def answered(error: ErrorReply | None) -> None:
                if key not in self.accounts:
                    # Deleted while its password was checked: this hello is decided again, as
                    # one sent now would be (the name held for nobody, or free after the hold).
                    return self._decide(hello, address, key, keys, checked, done, 0.0)
                verified(error)

            return self._verify(key, hello.password, address, keys, checked, "a login", answered)
        if self.reread is not None and not asked:
            # In a cluster, a name registered on another node a moment ago may not be in the
            # cache yet: taken as a guest's, it would be welcomed without its password (the
            # claim in Redis checks only who is online), or refused accounts_required.
            return self.account_now(key, lambda _account: self._decide(hello, address, key, keys, checked, done,
                                                                       shared_wait, True),
                                    lambda _failure: done(LoginResult(error=unavailable_error(self.config,
                                                                                              hello.request_id))))
        claim, until = self.guests.decide(key, hello.resume, time.time())
        if claim is not Claim.RESUME and hello.resume is not None and self.reread_holding is not None \
                and not holding_asked:
            # In a cluster the guest may have taken the name on another node a moment ago,
            # which this cache (following the events stream) has not heard of: decided on
            # the cache alone, its own token was refused name_taken, or its name taken anew
            # from it (a new token, its queue and history lost). Redis has the holding; if it
            # cannot be read, the cache's decision may be that wrong one: ``unavailable``.
            def read(holding: Holding | None) -> None:
                if holding is not None and proves(holding, hello.resume):
                    self.guests.install(key, holding)
                self._decide(hello, address, key, keys, checked, done, shared_wait, asked, True)

            def not_read(_failure: StoreUnavailable) -> None:
                done(LoginResult(error=unavailable_error(self.config, hello.request_id)))
            return self.reread_holding(key, time.time(), read, not_read)
        if claim is Claim.HELD:
            return done(LoginResult(error=held_error(hello.name, until, hello.request_id)))
        name = display_form(hello.name)  # what everyone sees: NFC, ordinary widths
        if claim is Claim.TAKE:
            lookalike = self._lookalike_error(name, hello.request_id)
            if lookalike is not None:
                return done(LoginResult(error=lookalike))
        elif claim is Claim.RESUME:
            # The guest's own name, which it may write in any case (rule 8), but in no case
            # that passes for a reserved word: Ali, welcome as Ali, may not come back as ALI.
            reserved = self.reserved_lookalikes.rivals(name)
            reserved = reserved and self._reserved_among(name, reserved)
            if reserved:
                return done(LoginResult(error=lookalike_error(name, reserved[0], hello.request_id)))
        if hello.register:
            # No wait for an address's wrong passwords: a new name's password guesses
            # nothing, and REGISTRATIONS_PER_ADDRESS and the check budget bound what it
            # costs; a class registering behind the NAT where one student guesses must
            # not wait with them.
            def registered(error: ErrorReply | None) -> None:
                done(LoginResult(name, registered=True, claim=claim, token=hello.resume) if error is None
                     else LoginResult(error=replace(error, request_id=hello.request_id)))
            return self.claim(name, hello.password or "", registered, address=address,
                              resumed=claim is Claim.RESUME)
        if self.config.require_accounts:
            return refuse(ErrorCode.ACCOUNTS_REQUIRED,
                          "this server only admits registered names: log in with --register to claim one")
        done(LoginResult(name, registered=False, claim=claim, token=hello.resume))

    def _verify(self, key: str, password: str, address: str, keys: tuple[str, str], checked: tuple[str, ...],
                what: str, done: Callable[[ErrorReply | None], None]) -> None:
        """Check ``password`` against the account ``key`` for a client at ``address``, once
        the throttle let it through (``keys`` and ``checked`` as for :meth:`_decide`):
        ``done(None)`` if it is right, else ``bad_password``, ``rate_limited`` (a check
        for the name or address is under way, or the password-check budget is spent:
        nothing was checked) or ``unavailable``. The one path of every password check
        (a login's, a password change's), so each draws on the same throttle and budget.
        In a cluster the account is read afresh first: another node may have just set
        its password."""
        # Checks under way, counted per name key and per address *lane*: names that
        # failed from the address in one, names that did not in the other, so that one
        # user's guesses at their own name do not hold up another's first try.
        busy = checked if len(checked) == 1 else \
            (checked[0], checked[1] if self.throttle.has_failed(checked[0]) else checked[1] + " new")
        if any(self._checking.get(b) and self.throttle.has_failed(k) for b, k in zip(busy, checked)):
            return done(ErrorReply(ErrorCode.RATE_LIMITED, "a password check for this name or address is under way;"
                                   " try again shortly", retry_after=retry_seconds(self.throttle.base)))
        standing = KNOWN if checked is not keys else self._standing(address, key)
        wait = self.checks.take(standing, self.clock())
        if wait > 0:
            self._over_budget(what + " for %s", self.accounts[key].name, address)
            return done(ErrorReply(ErrorCode.RATE_LIMITED, f"too many logins at once; try again in {wait_words(wait)}",
                                   retry_after=retry_seconds(wait)))
        for k in busy:
            self._checking[k] = self._checking.get(k, 0) + 1

        def finished() -> None:
            for k in busy:
                left = self._checking.pop(k) - 1
                if left:
                    self._checking[k] = left

        def verified(account: Account, ok: bool) -> None:
            finished()
            current = self.accounts.get(key)
            if current is None:  # deleted while this check ran: nothing proved, nothing guessed
                return done(account_gone_error())
            if ok and current.pw_hash != account.pw_hash:
                # Set anew while this check ran (a change, the operator's reset): what was
                # proved is no longer the password. Not a guess: no failure is counted.
                return done(ErrorReply(ErrorCode.BAD_PASSWORD, f"the password of {account.name!r} was changed "
                                       "meanwhile: log in with the new one"))
            if ok:
                # The address keeps its count: one account of one's own must not let
                # an address go on guessing others' passwords at full speed.
                self.throttle.succeeded(keys[0])
                self._remember(key, address)
                if self.shared_failures is not None:
                    self.shared_failures("ok", keys[:1], self.throttle.base, self.throttle.cap, lambda _: None)
                return done(None)
            self.throttle.failed(keys, self.clock())
            self._failed_names[key] = self.clock()
            self.log_lines.log("wrong password{s}", address, logging.WARNING, "wrong password for %s from %s",
                               account.name, address)
            wrong = ErrorReply(ErrorCode.BAD_PASSWORD, f"wrong password for {account.name!r}")
            if self.shared_failures is None:
                return done(wrong)
            # Answered once every node would refuse the next try: a guess sent to
            # another node right after this answer must find the lockout there.
            self.shared_failures("fail", keys, self.throttle.base, self.throttle.cap, lambda _: done(wrong))

        def not_checked(_exc: Exception) -> None:
            finished()
            done(unavailable_error(self.config))

        def check(account: Account | None) -> None:
            if account is None:  # gone meanwhile (never, while accounts are not deleted)
                return not_checked(LookupError(key))
            self.offload(verify_password, (account, password), lambda ok: verified(account, ok), not_checked)

        if self.reread is None:
            return check(self.accounts[key])

        def reread(account: Account | None) -> None:
            if account is not None:
                self.learn(key, account)
            check(account)

        def not_read(failure: StoreUnavailable) -> None:
            finished()
            self.checks.give_back(self.clock())  # nothing was checked
            done(unavailable_error(self.config))

        self.reread(key, reread, not_read)

    def _throttle_keys(self, key: str, address: str) -> tuple[tuple[str, str], tuple[str, ...]]:
        """The throttle keys a failure of ``key`` from ``address`` counts against, and those
        that make its next check wait (the same but from a known address of the account,
        where the address's failures, other names', do not count: only this name's own)."""
        # Never the name alone: failures from elsewhere must not slow the owner down.
        keys = (f"{key}@{address}", "@" + address)
        known = self.known.get(key)
        return keys, keys[:1] if known is not None and address in known else keys

    def _standing(self, address: str, key: str | None = None) -> int:
        """The standing (see CheckBudget) of a password check of the account ``key`` (None:
        a new name's registration) from ``address`` that is not from a known address of
        the account: FAILING after a recent wrong password there, else CONTESTED after one
        for ``key`` from anywhere in the last FAILED_NAME_MEMORY seconds, else CLEAN."""
        if self.throttle.has_failed("@" + address):
            return FAILING
        failed = self._failed_names.get(key) if key is not None else None
        return CONTESTED if failed is not None and self.clock() - failed < FAILED_NAME_MEMORY else CLEAN

    def _remember(self, key: str, address: str) -> None:
        """``address`` gave the account ``key`` its right password: it becomes (or stays)
        one of its known addresses, the newest; the oldest goes past KNOWN_ADDRESSES."""
        known = self.known.get(key)
        if known is None:
            self.known[key] = [address]
            return
        if known[-1] == address:
            return
        if address in known:
            known.remove(address)
        known.append(address)
        if len(known) > const.KNOWN_ADDRESSES:
            del known[0]

    def _over_budget(self, what: str, name: str, address: str) -> None:
        """Log a refusal over the password-check budget: summarised, as guessers from many
        addresses cause thousands a minute (one line in full, then a count a minute)."""
        self.log_lines.log("refusal{s} over the password-check budget", "all addresses", logging.WARNING,
                           "password checks over %g per second: refused " + what + " from %s", self.checks.rate,
                           name, address)

    def _registration_wait(self, name: str, address: str) -> tuple[str, float] | None:
        """None if a registration from ``address`` may hash its password now (it has then
        drawn on the budget and on the address's registrations), else why not and the
        seconds to wait."""
        now = self.clock()
        wait = self.checks.take(self._standing(address), now)
        if wait > 0:
            self._over_budget("a registration of %s", name, address)
            return f"too many logins at once; try again in {wait_words(wait)}", wait
        bucket = self._registrations.get(address)
        if bucket is None:
            per_hour = self.config.registrations_per_address
            bucket = self._registrations[address] = TokenBucket(per_hour / 3600.0, per_hour)
        wait = bucket.take(now)
        if wait > 0:
            self.checks.give_back(now)  # no hash after all
            self.log_lines.log("refused registration{s}", address, logging.WARNING,
                               "registrations over %g per hour from %s: refused %s",
                               self.config.registrations_per_address, address, name)
            return (f"too many new accounts from this address (at most {self.config.registrations_per_address:g}"
                    f" an hour); try again in {wait:.0f} s", wait)
        return None

    def prune(self, now: float) -> None:
        """Forget what no longer matters (periodic): old failures, and the registration
        buckets of addresses that have refilled."""
        self.throttle.prune(now)
        self._failed_names = {key: when for key, when in self._failed_names.items()
                              if now - when < FAILED_NAME_MEMORY}
        self._registrations = {address: bucket for address, bucket in self._registrations.items()
                               if bucket.updated + (bucket.burst - bucket.tokens) / bucket.rate > now}

    def _issuing(self, done: Callable[[LoginResult], None], hello: Hello, address: str
                 ) -> Callable[[LoginResult], None]:
        """``done``, after issuing an account resume credential to a login that proved its
        password (or claimed the account): the result carries it once it is stored. If
        the store fails, the login goes on without one (the client asks the password
        next time).

        The login waits for that store, and the password may be set anew (another session's
        ``password``, the operator's reset) or the account deleted meanwhile: both revoke
        every credential of the account as they are stored, before this one was. Then the
        credential is revoked too and the login refused, as one whose check was under way
        would be (:meth:`_verify`); after a deletion ``hello`` (from ``address``) is decided
        again, as if sent now. Welcomed, it would outlive the password it proved, and its
        session the signing out of the account's others."""
        def issue(result: LoginResult) -> None:
            if result.error is not None or not result.registered:
                return done(result)
            now, key = time.time(), canonical(result.name)
            proved = self.accounts.get(key)
            secret, token_hash, credential = self.credentials.issue(key, now, self.config.account_resume_ttl)

            def answer(issued: bool) -> None:
                current = self.accounts.get(key)
                if proved is None or current is None or current.pw_hash != proved.pw_hash:
                    if issued:
                        self.store.revoke_account_credential(token_hash)
                    if current is None:
                        return self.login(hello, address, done)
                    return done(LoginResult(error=ErrorReply(
                        ErrorCode.BAD_PASSWORD, f"the password of {current.name!r} was changed meanwhile: log in "
                        "with the new one", hello.request_id)))
                if not issued:
                    return done(result)
                self.credentials.add(token_hash, credential)
                done(replace(result, issued=secret))

            self.store.save_account_credential(token_hash, credential, now, lambda _: answer(True),
                                               lambda _failure: answer(False))

        return issue

    def revoke(self, name_key: str, secret: str | None, done: Callable[[ErrorReply | None], None]) -> None:
        """Forget ``secret`` if it is a resume credential of the account ``name_key``;
        ``done(None)`` once that is stored (at once if there was nothing to forget), or
        ``unavailable`` (then it still works here; said ``uncertain`` when Redis may have
        forgotten it: a resend forgets it again)."""
        credential = self.credentials.by_hash.get(digest(secret)) if secret else None
        token_hash = self.credentials.revoke(name_key, secret) if credential is not None else None
        if token_hash is None:
            return done(None)

        def not_revoked(failure: StoreUnavailable) -> None:
            self.credentials.add(token_hash, credential)  # kept here unless surely revoked
            done(unavailable_error(self.config, failure=failure))

        self.store.revoke_account_credential(token_hash, lambda _: done(None), not_revoked)

    def password_set(self, name_key: str) -> None:
        """The password of ``name_key`` was set: every resume credential issued for it
        before stops working (the one of the login that set it is issued after)."""
        if self.credentials.revoke_account(name_key):
            self.store.revoke_account_credentials(name_key)

    def change_password(self, key: str, old: str, new: str, resume: str | None, address: str,
                        done: Callable[[ErrorReply | None, Account | None, bytes | None], None]) -> None:
        """Set the password of the account ``key`` to ``new`` for a client at ``address``
        that proves ``old``: ``done(None, account, kept)`` once the new hash is stored
        (``kept``: the hash of ``resume``, the client's own resume credential, which goes
        on working; every other credential of the account is revoked), else
        ``done(error, None, None)`` and nothing changed: ``weak_password`` (the rule of
        registration), ``bad_password`` (a failure like a login's: the same throttle and
        password-check budget, so this cannot guess faster than logins can),
        ``rate_limited``, ``unavailable``, or (the account deleted meanwhile)
        :func:`account_gone_error`.
        """
        def fail(error: ErrorReply) -> None:
            done(error, None, None)

        problem = password_problem(new)
        if problem:
            return fail(ErrorReply(ErrorCode.WEAK_PASSWORD, problem))

        def verified(error: ErrorReply | None) -> None:
            if error is not None:
                return fail(error)
            # The new hash is a second scrypt run: it draws on the budget as a registration's
            # does (from a known address now: the old password was just proved from it).
            wait = self.checks.take(KNOWN, self.clock())
            if wait > 0:
                self._over_budget("a password change for %s", self.accounts[key].name, address)
                return fail(ErrorReply(ErrorCode.RATE_LIMITED, f"too many logins at once; nothing was changed: try "
                                       f"again in {wait_words(wait)}", retry_after=retry_seconds(wait)))
            proved = self.accounts[key]
            self.offload(hash_password, (proved.name, new), lambda account: hashed(proved, account),
                         lambda _exc: fail(unavailable_error(self.config)))

        def hashed(proved: Account, account: Account) -> None:
            current = self.accounts.get(key)
            if current is None:
                return fail(account_gone_error())
            if current != proved:  # another session set it meanwhile (a reread is a copy)
                return fail(ErrorReply(ErrorCode.BAD_PASSWORD, "the password was changed meanwhile; nothing was "
                                       "changed: log in again with the new one"))
            kept = digest(resume) if self.credentials.check(key, resume, time.time()) else None

            def stored(found: bool) -> None:
                if not found:  # deleted in the store meanwhile (another node)
                    return fail(account_gone_error())
                if key in self.accounts:
                    self.accounts[key] = account
                self.credentials.revoke_account(key, keep=kept)
                self.log_lines.log("password{s} changed", address, logging.INFO, "password changed: %s", account.name,
                                   burst=const.CREATED_LOG_LINES)
                done(None, account, kept)

            self.store.set_password(key, account, kept, stored,
                                    lambda failure: fail(unavailable_error(self.config, failure=failure)))

        self.prove(key, old, address, "a password change", verified)

    def forget_account(self, key: str) -> None:
        """The account ``key`` was deleted (its owner's unregister, or the operator's): its
        cached account, resume credentials, known addresses and login throttle rows go.
        The store's rows are the caller's (MessageStore.delete_account)."""
        account = self.accounts.pop(key, None)
        if account is not None:
            self.account_lookalikes.discard(account.name)
        self.credentials.revoke_account(key)
        self.known.pop(key, None)
        self.throttle.forget_name(key)
        self._failed_names.pop(key, None)

    def prove(self, key: str, password: str, address: str, what: str,
              done: Callable[[ErrorReply | None], None]) -> None:
        """A logged-in client at ``address`` proves the password of its account ``key``
        for ``what`` (a password change, a deletion): ``done(None)`` if it is right, else
        ``done(error)``: ``bad_password``, ``rate_limited`` or ``unavailable``. The check
        is a login's (:meth:`_verify`): the same throttle, budget and log, so this cannot
        guess faster than logins can."""
        keys, checked = self._throttle_keys(key, address)

        def throttled(shared_wait: float | None) -> None:
            if shared_wait is None:
                return done(unavailable_error(self.config))
            wait = max(self.throttle.retry_after(checked, self.clock()), shared_wait)
            if wait > 0:
                return done(ErrorReply(ErrorCode.RATE_LIMITED, f"too many wrong passwords; try again in "
                                       f"{wait_words(wait)}", retry_after=retry_seconds(wait)))
            self._verify(key, password, address, keys, checked, what, done)

        if self.shared_failures is None:
            return throttled(0.0)
        self.shared_failures("check", checked, self.throttle.base, self.throttle.cap, throttled)

    def reset_password(self, key: str, done: Callable[[str | None, Account | None, StoreUnavailable | None], None]
                       ) -> None:
        """The operator's reset of the password of the account ``key`` (it must exist): a new
        random password (:func:`~server.accounts.reset_password_text`), hashed off the loop
        as a registration's, stored with every resume credential of the account revoked;
        ``done(password, account, None)`` once stored, else ``done(None, None, failure)``
        and nothing changed (unless ``failure.maybe_done``). Draws on no budget: the
        console is the operator's."""
        password = reset_password_text()

        def hashed(account: Account) -> None:
            def stored(found: bool) -> None:
                if not found:
                    return done(None, None, StoreUnavailable("the account is not in the store"))
                if key in self.accounts:
                    self.accounts[key] = account
                self.credentials.revoke_account(key)
                log.info("the console reset the password of %s", account.name)  # (the password is never logged)
                done(password, account, None)

            self.store.set_password(key, account, None, stored, lambda failure: done(None, None, failure))

        self.offload(hash_password, (self.accounts[key].name, password), hashed,
                     lambda exc: done(None, None, StoreUnavailable(f"the new password could not be hashed: {exc}",
                                                                   storage=False)))

    def claim(self, name: str, password: str, done: Callable[[ErrorReply | None], None],
              by_holder: bool = False, *, address: str, resumed: bool = False) -> None:
        """Create an account for ``name`` for a client at ``address``; ``done(None)`` once
        it is stored, or an error (``unavailable`` if the store could not save it: then
        the name stays unclaimed; ``rate_limited`` over the password-check budget or over
        ``REGISTRATIONS_PER_ADDRESS`` an hour from ``address``).

        ``by_holder`` is true when the guest who is online under the name claims it,
        ``resumed`` when a hello with the token of the guest who held it does.
        ``address`` is also what a flood of accounts created is summarised by in the log
        (``log_lines``), while a few still get a line each.

        Exactly once: a claim answered ``unavailable`` ``uncertain`` (Redis may have saved the
        account) is remembered, and a resend with the same password (hashed with the same
        salt: the very record) is ``done(None)`` whether the first was saved or not; with
        another password, ``account_exists`` if it was (PROTOCOL.md, "``register``").
        """
        problem = password_problem(password)
        if problem:
            return done(ErrorReply(ErrorCode.WEAK_PASSWORD, problem))
        key = canonical(name)
        unsure = self._unsure_claims.get(key)  # (None but after an uncertain answer: see the docstring)
        if key in self.accounts and (unsure is None or not same_account(self.accounts[key], unsure)):
            return done(_registered_error(name))
        if not by_holder and self.name_in_use(name):
            return done(_in_use_error(name))
        if not by_holder and self._lookalike_error(name):
            return done(self._lookalike_error(name))
        wait = self._registration_wait(name, address)
        if wait:
            return done(ErrorReply(ErrorCode.RATE_LIMITED, wait[0], retry_after=retry_seconds(wait[1])))

        def hashed(account: Account) -> None:
            known = self.accounts.get(key)
            if known is not None and not same_account(known, account):  # claimed by someone else while we hashed
                return done(_registered_error(name))
            if not by_holder and self.name_in_use(name):  # a guest logged in with it meanwhile
                return done(_in_use_error(name))
            lookalike = None if by_holder else self._lookalike_error(name)  # ... or a look-alike
            if lookalike is not None:
                return done(lookalike)
            self.accounts[key] = account
            self.account_lookalikes.add(account.name)

            def unclaim() -> None:
                if self.accounts.get(key) is account:  # claimed in memory only: undo it
                    del self.accounts[key]
                    self.account_lookalikes.discard(account.name)

            def stored(created: bool | str | LooksLike | GuestHeld) -> None:
                if created == GUEST_ONLINE or isinstance(created, (LooksLike, GuestHeld)):
                    # A guest was welcomed under the name (or left it less than the hold
                    # ago), or an account or guest name that looks like it stands, on another
                    # node of the cluster, which this node's caches (following the events
                    # stream a moment behind) had not heard of; Redis checked in the step
                    # that would have saved it.
                    unclaim()
                    if isinstance(created, GuestHeld):
                        return done(held_error(name, created.until))
                    return done(_in_use_error(name) if created == GUEST_ONLINE
                                else lookalike_error(name, created.name))
                if not created:
                    # Another node of the cluster stored an account of that name first (both
                    # hashed at once; the store keeps the first): it is theirs. Its own
                    # AccountSaved brings it here; this client is told, not welcomed as its
                    # owner (nor its hash told to the other nodes).
                    unclaim()
                    return done(_registered_error(name))
                self._unsure_claims.pop(key, None)
                self.log_lines.log("account{s} created", address, logging.INFO, "account created: %s", name,
                                   burst=const.CREATED_LOG_LINES)
                # Its password was set from there, as good as proved: a known address, so
                # that another's guessing there does not hold up its next logins.
                self._remember(key, address)
                self.password_set(key)
                done(None)

            def not_stored(failure: StoreUnavailable) -> None:
                unclaim()
                if failure.maybe_done:  # Redis may have it: a resend with this password finds it done
                    kept = self._unsure_claims
                    kept.pop(key, None)  # (kept newest last)
                    kept[key] = account
                    if len(kept) > _UNSURE_CLAIMS_KEPT:
                        del kept[next(iter(kept))]
                done(unavailable_error(self.config, failure=failure))

            self.store.save_account(key, account, stored, not_stored, by_holder=by_holder,
                                    hold=self.config.guest_hold, resumed=resumed)

        self.offload(hash_password, (name, password) if unsure is None else (name, password, unsure.salt), hashed,
                     lambda _exc: done(unavailable_error(self.config)))


def lookalike_error(name: str, rival: str, request_id: str | None = None) -> ErrorReply:
    """The answer to taking ``name`` anew beside ``rival``, a name it looks like; when
    ``rival`` is a reserved word (rule 6), said so (``reserved``): nobody holds it, so "if it
    is yours, type it exactly" would be false. Only on a refusal's path: no login pays it."""
    reserved = rival in names.RESERVED
    message = NAME_MESSAGES["lookalike_reserved" if reserved else "lookalike"].format(name=name, rival=rival)
    return ErrorReply(ErrorCode.CONFUSABLE_NAME, message, request_id, like=rival, reserved=reserved or None)


def _in_use_error(name: str) -> ErrorReply:
    """The answer to a claim of a name a guest is online under."""
    return ErrorReply(ErrorCode.NAME_TAKEN, held_message(name, float("inf")))


def held_error(name: str, until: float, request_id: str | None = None) -> ErrorReply:
    """The answer to taking guest name ``name``, held until ``until`` (inf: its guest is
    online): with the hold's end, so that someone moving to another device (no token there)
    is told until when, not only "for a while"."""
    held = until != float("inf")  # (held for good: no time to say)
    return ErrorReply(ErrorCode.NAME_TAKEN, held_message(name, until), request_id,
                      until=until if held else None, now=wall_ms() if held else None)


def _registered_error(name: str) -> ErrorReply:
    """The answer to a claim of a name that has an account."""
    return ErrorReply(ErrorCode.ACCOUNT_EXISTS, f"the name {name!r} is already registered")


def held_message(name: str, until: float) -> str:
    """The ``name_taken`` message for a guest name held until ``until`` (inf: online)."""
    if until == float("inf"):
        return f"the name {name!r} is in use by a guest"
    return (f"the name {name!r} is kept for the guest who used it until "
            f"{time.strftime('%H:%M:%S UTC', time.gmtime(until))}; choose another name or wait")
