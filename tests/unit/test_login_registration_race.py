"""Two nodes of a cluster registering one name at once (server/login.py, ``claim``): both
hash, both find the name free, and the shared store keeps the first account. The other
client is told the name is registered, never welcomed as the owner of an account whose
password is not its own; the desk forgets the claim it made in memory."""

from __future__ import annotations

from protocol import ErrorCode

from test_login_budget import Desk, _cheap_hash

THEIRS = "the first one's password"


def test_a_registration_the_store_says_came_second_is_refused_and_forgotten():
    desk = Desk()
    # The other node's account for the name, stored while this node hashed (Redis's
    # SAVE_ACCOUNT then answers 0, as the memory store's save_account answers False).
    desk.desk.store.save_account("joão", _cheap_hash("João", THEIRS))
    result = desk.login("João", "my own password", "10.9.0.7", register=True)
    assert result.error is not None and result.error.code == ErrorCode.ACCOUNT_EXISTS
    assert result.error.request_id == "h" and "already registered" in result.error.message
    assert "joão" not in desk.desk.accounts
    assert desk.desk.account_lookalikes.rivals("Joao") == []  # nor the spelling it claimed
    # Once the other node's account arrives (its AccountSaved), its password logs in.
    desk.desk.accounts["joão"] = desk.desk.store.accounts()["joão"]
    assert desk.code("João", THEIRS, "10.9.0.8") is None
    assert desk.code("João", "my own password", "10.9.0.7") == ErrorCode.BAD_PASSWORD


def test_a_registration_the_store_took_is_welcomed_as_before():
    desk = Desk()
    result = desk.login("João", "my own password", "10.9.0.7", register=True)
    assert result.error is None and result.registered
    assert desk.desk.store.accounts()["joão"] == desk.desk.accounts["joão"]
