"""Two nodes of a cluster registering one name at once (server/login.py, ``claim``): both
hash, both find the name free, and the shared store keeps the first account. The other
client is told the name is registered, never welcomed as the owner of an account whose
password is not its own; the desk forgets the claim it made in memory."""

from __future__ import annotations

from protocol import ErrorCode
from server.stores.base import GUEST_ONLINE, GuestHeld, LooksLike

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


def test_a_registration_the_shared_store_finds_a_guest_online_under_is_refused_and_forgotten():
    # A guest was welcomed under the name on another node after this one looked (its
    # directory a moment behind): Redis's SAVE_ACCOUNT saves nothing and says so.
    desk = Desk()
    asked: list = []

    def guest_online(key, account, callback=None, on_error=None, by_holder=False, hold=None, resumed=False):
        asked.append((key, by_holder))
        callback(GUEST_ONLINE)

    desk.desk.store.save_account = guest_online
    result = desk.login("João", "my own password", "10.9.0.7", register=True)
    assert result.error is not None and result.error.code == ErrorCode.NAME_TAKEN, result
    assert result.error.message == "the name 'João' is in use by a guest" and result.error.request_id == "h"
    assert asked == [("joão", False)]
    assert "joão" not in desk.desk.accounts
    assert desk.desk.account_lookalikes.rivals("Joao") == []


def test_the_guest_online_under_a_name_claims_it_past_the_shared_stores_check():
    # The guest's own register (by_holder): the store is told, and lets it through.
    desk = Desk()
    store_save, told, saved = desk.desk.store.save_account, [], []

    def save(key, account, callback=None, on_error=None, by_holder=False, hold=None, resumed=False):
        told.append(by_holder)
        store_save(key, account, callback, on_error, by_holder)

    desk.desk.store.save_account = save
    desk.desk.claim("João", "my own password", saved.append, by_holder=True, address="10.9.0.7")
    desk.run()
    assert told == [True] and saved == [None]
    assert desk.desk.store.accounts()["joão"] == desk.desk.accounts["joão"]


def test_a_registration_the_shared_store_finds_looks_like_another_account_is_refused_and_forgotten():
    # Another node registered "Mia" after this one looked: Redis's SAVE_ACCOUNT saves nothing.
    desk = Desk()
    desk.desk.store.save_account = lambda key, account, callback=None, on_error=None, by_holder=False, **_: \
        callback(LooksLike("Mia"))
    result = desk.login("Rnia", "my own password", "10.9.0.7", register=True)
    assert result.error is not None and result.error.code == ErrorCode.CONFUSABLE_NAME, result
    assert (result.error.like, result.error.request_id) == ("Mia", "h"), result
    assert "rnia" not in desk.desk.accounts and desk.desk.account_lookalikes.rivals("Rnia") == []


def test_a_registration_the_shared_store_finds_held_for_a_guest_is_refused_until_the_hold_ends():
    # A guest left the name on another node less than the hold ago, which this node's cache
    # had not heard of: Redis's SAVE_ACCOUNT, given this node's hold, saves nothing.
    desk = Desk()
    asked: list = []

    def held(key, account, callback=None, on_error=None, by_holder=False, hold=None, resumed=False):
        asked.append((key, hold, resumed))
        callback(GuestHeld(2_000_000_000.0))

    desk.desk.store.save_account = held
    result = desk.login("João", "my own password", "10.9.0.7", register=True)
    assert result.error is not None and result.error.code == ErrorCode.NAME_TAKEN, result
    assert result.error.message.startswith("the name 'João' is kept for the guest who used it until "), result
    assert result.error.until == 2_000_000_000.0 and result.error.request_id == "h", result
    assert asked == [("joão", desk.desk.config.guest_hold, False)]
    assert "joão" not in desk.desk.accounts and desk.desk.account_lookalikes.rivals("Joao") == []
