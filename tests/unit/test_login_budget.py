"""The login desk's guards against password guessing, on a fake clock: the password-check
budget shared by standing, the throttle of a shared address, registrations, and the log.

What they promise (PROTOCOL.md, "hello"; README.md, "Accounts and passwords"): guesses
from elsewhere, however many addresses they come from, do not keep the owner out; one user
guessing behind a shared address (a classroom's NAT) does not keep the others there out;
an address trying many names is still slowed down; nothing a client does costs more than
the budget of scrypt runs per second, nor writes a log line each time.
"""

from __future__ import annotations

import logging
import time

import const
from protocol import ErrorCode, Hello
from server.accounts import Account, FailureThrottle, _scrypt, hash_password, password_problem
from server.config import ServerConfig
from server.limits import CLEAN, CONTESTED, FAILING, KNOWN, CheckBudget, retry_seconds, wait_words
from server.login import LoginDesk
from server.stores import MemoryStore

PASSWORD = "correct horse battery staple"
_KDF, _SALT = "scrypt:n=16,r=1,p=1", b"s" * 16  # cheap: these tests are about the policy


def _cheap_hash(name: str, password: str) -> Account:
    return Account(name, _scrypt(password, _SALT, _KDF), _SALT, _KDF)


class _Now:
    """The event loop the store calls back on: at once."""

    def call_soon(self, func, *args) -> None:
        func(*args)


class Desk:
    """A LoginDesk on a fake clock; the checks and hashes it offloads wait in ``pending``
    until :meth:`run` (cheap scrypt parameters stand for the real ones)."""

    def __init__(self, names: tuple[str, ...] = ("Ana", "Mal"), **overrides) -> None:
        self.now = 1000.0
        self.pending: list[tuple] = []
        store = MemoryStore()
        store.open()
        store.start(_Now())  # the store answers at once
        accounts = {name.lower(): _cheap_hash(name, PASSWORD) for name in names}
        self.desk = LoginDesk(ServerConfig(**overrides), store, accounts,
                              lambda func, args, callback, on_error: self.pending.append((func, args, callback)),
                              lambda name: False, clock=lambda: self.now)

    def run(self) -> None:
        while self.pending:
            func, args, callback = self.pending.pop(0)
            callback((_cheap_hash if func is hash_password else func)(*args))

    def login(self, name: str, password: str | None, address: str, run: bool = True, register: bool = False):
        """The desk's answer to a hello: a LoginResult, or None while its check waits."""
        results = []
        self.desk.login(Hello("h", name, const.PROTOCOL_VERSION, password, register), address, results.append)
        if run:
            self.run()
        return results[0] if results else None

    def code(self, *args, **kwargs) -> str | None:
        """The error code of :meth:`login` (None: logged in)."""
        result = self.login(*args, **kwargs)
        return None if result.error is None else result.error.code


# --- The budget alone ------------------------------------------------------------------


def test_a_failing_address_leaves_the_reserve_a_clean_one_takes_it_a_known_one_runs_ahead():
    budget = CheckBudget(rate=2.0, burst=8.0, reserved=4.0, overdraft=2.0)
    assert [budget.take(FAILING, 0.0) for _ in range(4)] == [0.0] * 4
    wait = budget.take(FAILING, 0.0)  # 4 left: the reserve
    assert wait == 0.5  # one more token above it: half a second at 2 a second
    assert [budget.take(CLEAN, 0.0) for _ in range(4)] == [0.0] * 4
    assert budget.take(CLEAN, 0.0) == 0.5
    assert [budget.take(KNOWN, 0.0) for _ in range(2)] == [0.0] * 2  # in debt by 2
    assert budget.take(KNOWN, 0.0) == 0.5
    # The debt is paid back before anyone else: a clean address waits for it too.
    assert budget.take(CLEAN, 0.0) == 1.5
    assert budget.take(FAILING, 0.0) == 3.5
    assert budget.take(FAILING, 3.5) == 0.0  # waiting as told is enough


def test_the_budget_never_runs_more_than_its_rate_plus_burst_and_overdraft():
    budget = CheckBudget(rate=10.0, burst=20.0, reserved=10.0, overdraft=5.0)
    taken, now = 0, 0.0
    for step in range(10_000):  # ten seconds of everyone asking every millisecond
        now = step / 1000
        for standing in (FAILING, CLEAN, KNOWN):
            taken += budget.take(standing, now) == 0.0
    assert taken <= 10.0 * now + 20 + 5


def test_a_small_burst_still_lets_every_standing_pass_when_full():
    budget = CheckBudget(rate=1.0, burst=1.0, reserved=0.5, overdraft=0.25)
    assert budget.take(FAILING, 0.0) == 0.0


# --- Many addresses guessing one account -------------------------------------------------


def _guessers(desk: Desk, count: int, seconds: float, owner: tuple[str, str] | None = None,
              hammer: bool = False) -> list[str | None]:
    """``count`` addresses guess Ana's password, each asking again as soon as it may (or,
    ``hammer``, at every step), for ``seconds`` of fake time in steps of 10 ms; ``owner``
    (address, password) logs in once in the middle, after the guessers' turn. Returns the
    owner's answers' codes."""
    ready = {f"10.1.{i // 200}.{i % 200}": 0.0 for i in range(count)}
    answers: list[str | None] = []
    end, middle = desk.now + seconds, desk.now + seconds / 2
    while desk.now < end:
        for address, when in ready.items():
            if when <= desk.now:
                result = desk.login("Ana", f"guess {desk.now}", address)
                ready[address] = desk.now + (0.0 if hammer else result.error.retry_after or 0.0)
        if owner is not None and desk.now >= middle and not answers:
            answers.append(desk.code("Ana", owner[1], owner[0]))
        desk.now += 0.01
    return answers


def test_guessers_on_many_addresses_do_not_keep_out_the_owner_from_a_clean_address():
    """The tester's case: 60 addresses guess, and over the budget the owner's right password
    was refused rate_limited every time. Addresses that have failed only get the top of
    the budget: an address with no wrong password finds what they leave."""
    desk = Desk()
    _guessers(desk, 60, 20.0)  # every guesser has failed by now; they go on
    owner = _guessers(desk, 60, 4.0, owner=("10.9.9.9", PASSWORD))
    assert owner == [None]


def test_the_owners_known_address_gets_in_even_while_fresh_addresses_guess():
    """Addresses that have not failed yet are clean too, and could use up the clean share
    (a guesser with ever new addresses): an address the account logged in from with its
    password before comes first of all."""
    desk = Desk()
    assert desk.code("Ana", PASSWORD, "10.9.9.8") is None  # the owner's usual address
    owner = _guessers(desk, 100, 1.0, owner=("10.9.9.8", PASSWORD), hammer=True)  # most still fresh
    assert owner == [None]


def test_fresh_addresses_guessing_an_account_do_not_keep_out_a_newcomer_elsewhere():
    """The third audit's case: a guesser with ever new addresses (each one's first guess comes
    from an address that has not failed, so it was clean) used up the whole budget, and a
    registration or a login to another account from elsewhere was refused rate_limited for
    as long as fresh addresses came (simulated: 93 s with 1000 of them). Once a name has had a
    wrong password, first guesses at it are contested: they leave part of the reserve to
    checks of names nobody is guessing."""
    desk = Desk()
    _guessers(desk, 300, 1.0, hammer=True)  # most still fresh, all hammering
    assert desk.code("Newbie", PASSWORD, "10.9.9.7", register=True) is None
    assert desk.code("Mal", PASSWORD, "10.9.9.6") is None


def test_a_contested_check_is_served_after_a_clean_one_and_before_a_failing_one():
    budget = CheckBudget(rate=2.0, burst=8.0, reserved=4.0, overdraft=2.0)
    assert [budget.take(CONTESTED, 0.0) for _ in range(6)] == [0.0] * 6  # down to half the reserve
    assert budget.take(CONTESTED, 0.0) == 0.5
    assert budget.take(FAILING, 0.0) == 1.5
    assert budget.take(CLEAN, 0.0) == 0.0


def test_an_account_remembers_its_last_known_addresses_only():
    desk = Desk()
    for i in range(const.KNOWN_ADDRESSES + 2):
        assert desk.code("Ana", PASSWORD, f"10.2.0.{i}") is None
    assert desk.desk.known["ana"] == [f"10.2.0.{i}" for i in range(2, const.KNOWN_ADDRESSES + 2)]
    assert desk.code("Ana", PASSWORD, "10.2.0.3") is None  # used again: the newest
    assert desk.desk.known["ana"][-1] == "10.2.0.3" and len(desk.desk.known["ana"]) == const.KNOWN_ADDRESSES


# --- One shared address (a classroom behind one NAT) ------------------------------------


def test_one_user_guessing_behind_a_shared_address_holds_the_others_up_for_the_base_delay_at_most():
    """The tester's case: Mal's wrong passwords for his own account from the classroom's
    address made Ana's right ones from there wait 3.9 s and more, or find a check under way."""
    desk = Desk(login_failure_delay=0.5)
    nat, mal_ready, waits, mal_waits = "10.0.0.1", 0.0, [], []
    for step in range(3000):  # 30 s: Mal guesses whenever he may, Ana logs in every 0.7 s
        if desk.now >= mal_ready:
            result = desk.login("Mal", "wrong", nat)
            mal_waits.append(result.error.retry_after or 0.0)
            mal_ready = desk.now + mal_waits[-1]
        if step % 70 == 35:
            result = desk.login("Ana", PASSWORD, nat)
            if result.error is not None:
                assert result.error.code == ErrorCode.RATE_LIMITED
                waits.append(result.error.retry_after)
                desk.now += result.error.retry_after  # Ana waits as told
                assert desk.code("Ana", PASSWORD, nat) is None
        desk.now += 0.01
    assert all(wait <= 0.5 for wait in waits), waits
    assert max(mal_waits) > 10  # Mal himself is slowed down more each time


def test_an_address_trying_many_names_is_still_slowed_down_more_each_name():
    desk = Desk(names=tuple(f"User{i}" for i in range(8)), login_failure_delay=0.5)
    waits = []
    for i in range(8):
        result = desk.login(f"User{i}", "guess", "10.0.0.66")
        if result.error.code == ErrorCode.RATE_LIMITED:
            waits.append(result.error.retry_after)
            desk.now += result.error.retry_after
            result = desk.login(f"User{i}", "guess", "10.0.0.66")
        assert result.error.code == ErrorCode.BAD_PASSWORD
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]


def test_from_a_known_address_only_the_names_own_failures_count():
    desk = Desk(names=("Ana", "Bia") + tuple(f"User{i}" for i in range(8)), login_failure_delay=0.5)
    nat = "10.0.0.1"
    assert desk.code("Ana", PASSWORD, nat) is None  # Ana has logged in from the classroom
    for i in range(8):  # someone there tries eight names: the address waits 64 s
        desk.now += 60
        desk.login(f"User{i}", "guess", nat)
    # Others' passwords there wait (Bia has not logged in from there; a guest checks no
    # password and does not wait: the test above).
    assert desk.code("Bia", PASSWORD, nat) == ErrorCode.RATE_LIMITED
    assert desk.code("Ana", PASSWORD, nat) is None  # Ana does not
    assert desk.code("Ana", "typo", nat) == ErrorCode.BAD_PASSWORD  # ... but her own failures count
    assert desk.code("Ana", PASSWORD, nat) == ErrorCode.RATE_LIMITED


def test_a_user_guessing_behind_a_shared_address_keeps_out_no_guest_nor_a_resume_credential():
    """The security review's case: a student trying eight names' passwords from the
    classroom's address made every guest there wait a minute, and every page reloaded with
    its account's resume credential: neither checks a password, so waiting protects nothing."""
    desk = Desk(names=("Ana",) + tuple(f"User{i}" for i in range(8)), login_failure_delay=0.5)
    nat = "10.0.0.1"
    secret, token_hash, credential = desk.desk.credentials.issue("ana", time.time(), 3600.0)  # login's clock
    desk.desk.credentials.add(token_hash, credential)
    for i in range(8):  # someone there tries eight names: the address waits 64 s
        desk.now += 60
        desk.login(f"User{i}", "guess", nat)
    assert desk.code("Newcomer", None, nat) is None  # a guest does not wait
    results = []
    desk.desk.login(Hello("h", "Ana", const.PROTOCOL_VERSION, resume=secret), nat, results.append)
    assert results[0].error is None and results[0].registered  # nor a reloaded page of Ana's
    assert desk.code("Ana", PASSWORD, nat) == ErrorCode.RATE_LIMITED  # her password still waits there


def test_a_throttled_login_is_told_its_wait_by_the_one_rule_and_waiting_it_gets_in():
    """server/limits.py's retry_seconds, the rule every refusal's retry_after follows: at
    least MIN_RETRY_AFTER, as the words say (login used to round its own way, to the
    hundredth: "try again in 0.1 s" with a retry_after of 0.01), and never too early."""
    desk = Desk()
    assert desk.code("Ana", "not the password", "10.9.0.1") == ErrorCode.BAD_PASSWORD
    until = desk.now + desk.desk.throttle.retry_after(("ana@10.9.0.1",), desk.now)
    for left, told in ((0.004, 0.1), (0.5004, 0.501), (0.25, 0.25)):
        desk.now = until - left
        refused = desk.login("Ana", PASSWORD, "10.9.0.1").error
        wait = desk.desk.throttle.retry_after(("ana@10.9.0.1",), desk.now)
        assert refused.code == ErrorCode.RATE_LIMITED and refused.retry_after == retry_seconds(wait) == told
        assert f"try again in {wait_words(wait)}" in refused.message
    desk.now += refused.retry_after
    assert desk.code("Ana", PASSWORD, "10.9.0.1") is None


def test_the_address_counts_names_not_failures():
    throttle = FailureThrottle(base=1.0, cap=60.0)
    for n in range(5):
        throttle.failed(("mal@a", "@a"), 100.0 + n)
    assert throttle.retry_after(("@a",), 104.0) == 1.0  # one name: the base delay after each failure
    assert throttle.retry_after(("mal@a",), 104.0) == 16.0
    throttle.failed(("bob@a", "@a"), 200.0)
    assert throttle.retry_after(("@a",), 200.0) == 2.0  # a second name


def test_a_deleted_accounts_failures_go_from_every_address_and_the_guessers_stay():
    throttle = FailureThrottle(base=1.0, cap=60.0)
    for keys in (("ann@a", "@a"), ("ann@b", "@b"), ("anna@a", "@a")):
        throttle.failed(keys, 100.0)
    throttle.forget_name("ann")
    assert [throttle.has_failed(key) for key in ("ann@a", "ann@b", "anna@a", "@a", "@b")] == [
        False, False, True, True, True]


def test_a_failure_is_forgotten_an_hour_after_its_wait_ran_out():
    throttle = FailureThrottle(base=1.0, cap=60.0)
    throttle.failed(("ann@a", "@a"), 100.0)  # blocked until 101
    throttle.prune(3700.5)
    assert throttle.has_failed("ann@a")
    throttle.prune(3701.0)
    assert not throttle.has_failed("ann@a") and not throttle.has_failed("@a")


def test_a_password_of_the_least_length_is_enough_and_one_character_less_is_not():
    assert password_problem("x" * const.MIN_PASSWORD_LENGTH) is None
    problem = password_problem("x" * (const.MIN_PASSWORD_LENGTH - 1))
    assert problem == f"a password needs at least {const.MIN_PASSWORD_LENGTH} characters"


# --- Registrations ----------------------------------------------------------------------


def test_registrations_draw_on_the_password_check_budget():
    desk = Desk(login_checks_per_second=2.0, login_checks_burst=4.0)
    pending = [desk.login(f"New{i}", PASSWORD, "10.3.0.1", run=False, register=True) for i in range(4)]
    assert pending == [None] * 4 and len(desk.pending) == 4  # four hashes under way: the burst
    refused = desk.login("New4", PASSWORD, "10.3.0.2", run=False, register=True)
    assert refused.error.code == ErrorCode.RATE_LIMITED and 0 < refused.error.retry_after <= 0.5
    assert len(desk.pending) == 4  # no hash was started for it
    desk.now += refused.error.retry_after
    assert desk.code("New4", PASSWORD, "10.3.0.2", register=True) is None


def test_an_address_may_register_so_many_accounts_an_hour():
    desk = Desk(registrations_per_address=5.0)
    claimed = []
    for i in range(5):
        desk.now += 1.0  # within the password-check budget
        assert desk.code(f"New{i}", PASSWORD, "10.4.0.1", register=True) is None
    desk.now += 1.0
    refused = desk.login("New5", PASSWORD, "10.4.0.1", register=True).error
    assert refused.code == ErrorCode.RATE_LIMITED and 700 < refused.retry_after <= 720  # one every 12 min
    desk.desk.claim("Guest6", PASSWORD, claimed.append, by_holder=True, address="10.4.0.1")  # in session too
    assert claimed[0].code == ErrorCode.RATE_LIMITED and claimed[0].retry_after == refused.retry_after - 0.0
    assert desk.code("New5", PASSWORD, "10.4.0.2", register=True) is None  # another address may
    desk.now += refused.retry_after
    assert desk.code("New5", PASSWORD, "10.4.0.1", register=True) is None
    desk.now += 3 * 3600
    desk.desk.prune(desk.now)
    assert not desk.desk._registrations  # refilled buckets are forgotten


# --- The log ------------------------------------------------------------------------------


def test_refusals_over_the_budget_are_logged_once_then_counted(caplog):
    caplog.set_level(logging.WARNING, logger="chat.server")
    desk = Desk(login_checks_per_second=1.0, login_checks_burst=1.0)
    for i in range(500):
        desk.login("Ana", f"guess {i}", f"10.5.{i // 200}.{i % 200}", run=False)
    over = [r.getMessage() for r in caplog.records if "password checks over" in r.getMessage()]
    assert over == ["password checks over 1 per second: refused a login for Ana from 10.5.0.1"]
    desk.desk.log_lines.flush()
    assert [r.getMessage() for r in caplog.records if "over the password-check budget" in r.getMessage()] == [
        "498 more refusals over the password-check budget from all addresses in the last 0 s"]


def test_registering_a_registered_name_with_another_password_says_the_name_is_taken_and_counts_as_a_guess():
    desk = Desk()
    result = desk.login("Ana", "another password", "10.0.0.9", register=True)
    assert result.error.code == ErrorCode.ACCOUNT_EXISTS  # not "wrong password": the user meant a new account
    assert "already registered" in result.error.message
    # ... and it is a wrong password to the throttle: register is no way round it.
    assert desk.code("Ana", PASSWORD, "10.0.0.9") == ErrorCode.RATE_LIMITED
    desk.now += 60
    # Its own password still logs in (a register retried after its welcome was lost).
    assert desk.code("Ana", PASSWORD, "10.0.0.9", register=True) is None


# --- Who may log in to an account ---------------------------------------------------------


def test_an_account_needs_its_password_or_a_credential_it_was_given_and_nothing_else():
    from protocol import RESUME
    desk = Desk()
    assert desk.code("Ana", None, "10.0.0.1") == ErrorCode.AUTH_REQUIRED
    assert desk.code("Ana", "not hers", "10.0.0.2") == ErrorCode.BAD_PASSWORD
    results = []
    desk.desk.login(Hello("h", "Ana", const.PROTOCOL_VERSION, PASSWORD, features=(RESUME,)), "10.0.0.3",
                    results.append)
    desk.run()
    [welcomed] = results
    assert welcomed.error is None and welcomed.registered and welcomed.issued
    for resume, address, code in ((welcomed.issued, "10.0.0.4", None), ("x" * 43, "10.0.0.5", ErrorCode.AUTH_REQUIRED),
                                  (welcomed.issued + "x", "10.0.0.6", ErrorCode.AUTH_REQUIRED)):
        results = []
        desk.desk.login(Hello("h", "Ana", const.PROTOCOL_VERSION, resume=resume), address, results.append)
        desk.run()
        [result] = results
        assert (result.error.code if result.error else None) == code, resume
    mal = []
    desk.desk.login(Hello("h", "Mal", const.PROTOCOL_VERSION, resume=welcomed.issued), "10.0.0.7", mal.append)
    desk.run()
    assert mal[0].error.code == ErrorCode.AUTH_REQUIRED  # Ana's credential is not Mal's


def test_a_credential_is_issued_only_to_a_login_that_proved_an_accounts_password():
    from protocol import RESUME
    desk = Desk()
    for name, password in (("Zé", PASSWORD), ("Ana", "not hers")):  # a guest's name; a wrong password
        results = []
        desk.desk.login(Hello("h", name, const.PROTOCOL_VERSION, password, features=(RESUME,)), "10.0.0.8",
                        results.append)
        desk.run()
        assert results[0].issued is None, name


def test_a_password_changes_only_for_whoever_proves_the_old_one():
    desk = Desk()
    before = desk.desk.accounts["ana"]
    desk.desk.store.save_account("ana", before)  # (the desk was given it; the store has it too)
    answers = []
    desk.desk.change_password("ana", "not hers", "a new long password", None, "10.0.0.9",
                              lambda error, account, kept: answers.append((error and error.code, account)))
    desk.run()
    assert answers == [(ErrorCode.BAD_PASSWORD, None)] and desk.desk.accounts["ana"] is before
    desk.now += 60  # past the wrong password's wait
    desk.desk.change_password("ana", PASSWORD, "a new long password", None, "10.0.0.9",
                              lambda error, account, kept: answers.append((error and error.code, account)))
    desk.run()
    assert answers[1][0] is None and desk.desk.accounts["ana"] is answers[1][1] is not before
