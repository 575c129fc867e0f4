"""Changing one's password (the ``password`` frame, PROTOCOL.md): the login desk's rule on a
fake clock. The current password is checked as a login's is, on the same throttle and
password-check budget, so the frame guesses no faster than logins; the new one follows the
registration rule; the new hash is kept (and the old one refused) only once the store has
it; every resume credential of the account but the client's own stops working.
"""

from __future__ import annotations

import math
import time

from server.accounts import RESET_ALPHABET, hash_password
from server.credentials import Credential, digest
from server.store import StoreUnavailable
import const
from protocol import ErrorCode, Hello

from test_login_budget import PASSWORD, Desk, _cheap_hash

NEW = "a new and better one"


def stored_desk(**overrides) -> Desk:
    """A Desk whose store holds its accounts too (as a server's does)."""
    desk = Desk(**overrides)
    for key, account in desk.desk.accounts.items():
        desk.desk.store.save_account(key, account)
    return desk


def change(desk: Desk, old: str, new: str = NEW, address: str = "10.9.0.1", resume: str | None = None,
           run: bool = True):
    """The desk's answer to a change of Ana's password: (error or None, kept), or None
    while its checks wait."""
    answers = []
    desk.desk.change_password("ana", old, new, resume, address, lambda error, account, kept: answers.append(
        (error, kept)))
    if run:
        desk.run()
    return answers[0] if answers else None


def test_the_right_password_sets_the_new_one_in_the_desk_and_the_store():
    desk = stored_desk()
    assert change(desk, PASSWORD) == (None, None)
    desk.now += 1.0
    assert desk.code("Ana", NEW, "10.9.0.2") is None
    desk.now += 1.0
    assert desk.code("Ana", PASSWORD, "10.9.0.3") == ErrorCode.BAD_PASSWORD
    assert desk.desk.store.accounts()["ana"] == desk.desk.accounts["ana"]  # stored, the same hash


def test_every_credential_but_the_clients_own_stops_working_here_and_in_the_store():
    desk = stored_desk()
    for secret, name_key in (("mine", "ana"), ("other", "ana"), ("mals", "mal")):
        desk.desk.credentials.add(digest(secret), Credential(name_key, time.time() + 3600))
        desk.desk.store.save_account_credential(digest(secret), Credential(name_key, time.time() + 3600), 0.0)
    assert change(desk, PASSWORD, resume="mine") == (None, digest("mine"))
    assert set(desk.desk.credentials.by_hash) == {digest("mine"), digest("mals")}
    assert set(desk.desk.store.account_credentials(0.0)) == {digest("mine"), digest("mals")}


def test_a_weak_new_password_is_refused_before_any_check():
    desk = stored_desk()
    error, _ = change(desk, PASSWORD, new="short", run=False)
    assert error.code == ErrorCode.WEAK_PASSWORD and not desk.pending
    assert desk.code("Ana", PASSWORD, "10.9.0.2") is None  # nothing changed


def test_a_wrong_current_password_is_a_failed_login_on_the_same_throttle():
    desk = stored_desk()
    error, _ = change(desk, "a wrong guess")
    assert error.code == ErrorCode.BAD_PASSWORD
    # The next try from there, a change or a login, waits as after a wrong login.
    error, _ = change(desk, "another guess", run=False)
    assert error.code == ErrorCode.RATE_LIMITED and error.retry_after > 0 and not desk.pending
    assert desk.code("Ana", PASSWORD, "10.9.0.1") == ErrorCode.RATE_LIMITED
    desk.now += error.retry_after
    assert change(desk, PASSWORD) == (None, None)
    assert desk.code("Ana", NEW, "10.9.0.1") is None


def test_the_current_password_draws_on_the_password_check_budget():
    desk = stored_desk(login_checks_per_second=2.0, login_checks_burst=4.0)
    for i in range(4):  # the four checks the burst holds, under way
        assert desk.login("Mal", PASSWORD, f"10.8.0.{i}", run=False) is None
    error, _ = change(desk, PASSWORD, run=False)
    assert error.code == ErrorCode.RATE_LIMITED and 0 < error.retry_after <= 0.5
    assert len(desk.pending) == 4  # no check was run for it
    desk.run()
    desk.now += error.retry_after
    assert change(desk, PASSWORD) == (None, None)


def test_a_store_that_cannot_save_it_changes_nothing():
    desk = stored_desk()
    desk.desk.store.set_password = lambda key, account, keep, callback, on_error: on_error(
        StoreUnavailable("disk full", storage=True))
    error, _ = change(desk, PASSWORD)
    assert error.code == ErrorCode.UNAVAILABLE
    desk.now += 1.0
    assert desk.code("Ana", PASSWORD, "10.9.0.2") is None
    desk.now += 1.0
    assert desk.code("Ana", NEW, "10.9.0.3") == ErrorCode.BAD_PASSWORD


def test_in_a_cluster_every_check_reads_the_account_afresh():
    # Another node changed Ana's password: this desk's cache still has the old hash, the
    # store (Redis) the new one. The check follows the store, at once.
    desk = stored_desk()
    changed = _cheap_hash("Ana", NEW)
    desk.desk.reread = lambda key, callback, on_error: callback(changed if key == "ana" else None)
    assert desk.code("Ana", NEW, "10.9.0.1") is None
    desk.now += 1.0
    assert desk.code("Ana", PASSWORD, "10.9.0.2") == ErrorCode.BAD_PASSWORD
    assert desk.desk.accounts["ana"] == changed  # the cache follows


def test_in_a_cluster_a_store_that_cannot_be_read_checks_nothing():
    desk = stored_desk(login_checks_per_second=1.0, login_checks_burst=2.0)
    desk.desk.reread = lambda key, callback, on_error: on_error(StoreUnavailable("redis away", storage=True))
    assert desk.code("Ana", PASSWORD, "10.9.0.1") == ErrorCode.UNAVAILABLE
    assert desk.desk.checks.tokens == 2.0  # the check's token was given back


def test_a_login_whose_check_ran_while_the_password_was_reset_is_refused():
    desk = stored_desk()
    results = []
    desk.desk.login(Hello("h", "Ana", const.PROTOCOL_VERSION, PASSWORD), "10.9.0.1", results.append)
    [login_check] = desk.pending  # the old password's check, under way
    desk.pending.clear()
    passwords = []
    desk.desk.reset_password("ana", lambda password, account, failure: passwords.append(password))
    desk.run()  # the operator's reset is stored meanwhile
    assert passwords[0] and desk.desk.store.accounts()["ana"] == desk.desk.accounts["ana"]
    func, args, callback = login_check
    callback(func(*args))  # right for the hash it began with
    assert results[0].error.code == ErrorCode.BAD_PASSWORD and "changed meanwhile" in results[0].error.message
    assert desk.desk.throttle.retry_after(("ana@10.9.0.1",), desk.now) == 0.0  # not counted as a guess
    desk.now += 1.0
    assert desk.code("Ana", passwords[0], "10.9.0.1") is None


def test_a_reset_password_can_be_read_out_and_typed_anywhere():
    # The operator reads it to a student (README, "/password NAME"): no look-alike
    # characters (l and 1, O and 0), no case to say, no leading "-" that a terminal's
    # programs take for an option; at least 96 bits, and a new one every time.
    desk = stored_desk()
    passwords = []
    for _ in range(200):
        desk.desk.reset_password("ana", lambda password, account, failure: passwords.append(password))
        desk.run()
    assert len(set(passwords)) == 200
    groups = [password.split("-") for password in passwords]
    assert all(len(parts) == 4 and all(len(part) == 5 for part in parts) for parts in groups), passwords[:3]
    used = set("".join(passwords)) - {"-"}
    assert used <= set(RESET_ALPHABET) and not used & set("lI1oO0"), sorted(used)
    assert 20 * math.log2(len(set(RESET_ALPHABET))) >= 96  # 20 characters, none twice in the alphabet
    assert desk.code("Ana", passwords[-1], "10.9.0.1") is None  # and it is the password


def test_an_account_deleted_here_while_the_new_hash_was_made_is_said_to_be_gone():
    # Its owner's other session (or the console) deleted it while the new password hashed:
    # the change is refused as about an account that no longer exists, not as one whose
    # password was changed meanwhile, and nothing is stored.
    desk = stored_desk()
    answers = []
    desk.desk.change_password("ana", PASSWORD, NEW, None, "10.9.0.1", lambda *answer: answers.append(answer))
    while desk.pending and desk.pending[0][0] is not hash_password:
        func, args, callback = desk.pending.pop(0)
        callback(func(*args))  # the current password's check
    assert desk.pending and not answers  # the new hash is under way
    before = desk.desk.store.accounts()["ana"]
    desk.desk.forget_account("ana")  # (the store's rows are the account desk's: not here)
    desk.run()
    [(error, account, kept)] = answers
    assert error.code == ErrorCode.BAD_PASSWORD and "no longer exists" in error.message, error
    assert account is None and desk.desk.store.accounts()["ana"] == before


def test_an_account_deleted_in_the_store_meanwhile_is_said_to_be_gone_not_unavailable():
    # Another node of a cluster deleted it while this one hashed: the store finds no account
    # to set the password of. Nothing failed, so nothing is to be tried again.
    desk = stored_desk()
    desk.desk.store.set_password = lambda key, account, keep, callback, on_error: callback(False)
    error, _ = change(desk, PASSWORD)
    assert error.code == ErrorCode.BAD_PASSWORD and "no longer exists" in error.message, error
