"""Deleting one's account (the ``unregister`` frame, PROTOCOL.md): the login desk's part on
a fake clock. The password is proved as a login's is (:meth:`LoginDesk.prove`: the same
throttle, so the frame guesses no faster than logins); once the account is deleted the
desk forgets it, its resume credentials, known addresses and the name's throttle rows,
and the name logs in no more with its password.
"""

from __future__ import annotations

import time

from protocol import ErrorCode
from server.credentials import Credential, digest

from test_login_budget import PASSWORD, Desk


def prove(desk: Desk, password: str, address: str = "10.9.0.1", run: bool = True):
    answers = []
    desk.desk.prove("ana", password, address, "an account deletion", answers.append)
    if run:
        desk.run()
    return answers[0] if answers else "waiting"


def test_the_right_password_is_proved_a_wrong_one_throttles_as_a_login():
    desk = Desk()
    assert prove(desk, PASSWORD) is None
    assert prove(desk, "a wrong guess").code == ErrorCode.BAD_PASSWORD
    error = prove(desk, PASSWORD, run=False)
    assert error.code == ErrorCode.RATE_LIMITED and not desk.pending  # nothing checked
    assert desk.code("Ana", PASSWORD, "10.9.0.1") == ErrorCode.RATE_LIMITED  # logins wait too


def test_a_forgotten_account_leaves_no_credential_address_or_throttle_row_of_its_name():
    desk = Desk()
    assert desk.desk.account_lookalikes.rivals("\u0410na") == ["Ana"]
    assert desk.code("Ana", PASSWORD, "10.9.0.7") is None  # a known address now
    assert prove(desk, "a wrong guess", "10.9.0.1").code == ErrorCode.BAD_PASSWORD
    desk.desk.credentials.add(digest("mine"), Credential("ana", time.time() + 3600))
    desk.desk.credentials.add(digest("mals"), Credential("mal", time.time() + 3600))
    desk.desk.forget_account("ana")
    assert "ana" not in desk.desk.accounts and "mal" in desk.desk.accounts
    assert set(desk.desk.credentials.by_hash) == {digest("mals")}
    assert "ana" not in desk.desk.known
    assert not desk.desk.throttle.has_failed("ana@10.9.0.1")
    assert desk.desk.throttle.has_failed("@10.9.0.1")  # the address's own: the guesser's, not hers
    # A name that looks like hers (a Cyrillic А) no longer counts as confusable with an account.
    assert desk.desk.account_lookalikes.rivals("\u0410na") == []
