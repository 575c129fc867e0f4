"""An account's resume credentials (server/credentials.py): a secret proves one account
until its expiry and no longer, and only that account may revoke it. Pure: times are given."""

from __future__ import annotations

from server.credentials import AccountCredentials


def issued(credentials: AccountCredentials, name_key: str, now: float, lifetime: float) -> str:
    secret, token_hash, credential = credentials.issue(name_key, now, lifetime)
    credentials.add(token_hash, credential)
    return secret


def test_a_credential_proves_its_account_until_the_second_it_expires_and_then_is_forgotten() -> None:
    credentials = AccountCredentials({})
    secret = issued(credentials, "ana", 100.0, 50.0)
    assert credentials.check("ana", secret, 149.9)
    assert not credentials.check("bia", secret, 120.0)  # Ana's is not Bia's
    assert not credentials.check("ana", secret, 150.0)  # expired at that very second
    assert credentials.by_hash == {}
    assert not credentials.check("ana", "", 120.0) and not credentials.check("ana", None, 120.0)


def test_only_the_credentials_own_account_may_revoke_it() -> None:
    credentials = AccountCredentials({})
    secret = issued(credentials, "ana", 100.0, 50.0)
    assert credentials.revoke("bia", secret) is None and credentials.check("ana", secret, 110.0)
    assert credentials.revoke("ana", "not a credential") is None
    assert credentials.revoke("ana", secret) is not None and not credentials.check("ana", secret, 110.0)
