"""Account resume credentials (issue 12): a reloaded web page stays logged in to its account.

A hello with the ``resume`` feature and a password gets a credential in its welcome; a
later hello with it and no password logs in to that account; it stops working when it
expires, when the client revokes it ("Log out"), or when the account's password is set.
The server keeps only its SHA-256, durably. Real servers on 127.0.0.1 port 0; the stores
are also checked directly. Every wait is bounded.
"""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

import const
from protocol import RESUME, Done, ErrorCode, ErrorReply, Hello, Revoke, UserJoined, UserLeft, Welcome
from server import ServerConfig, ServerThread
from server.credentials import Credential
from server.store import StoreUnavailable
from test_store import loop, open_store, settle, store_kind  # noqa: F401  (fixtures)
from wire import WireClient

NOTICES = (UserJoined, UserLeft)
PASSWORD = "correct horse"


def hello(server, name: str, password: str | None = None, resume: str | None = None,
          features: tuple[str, ...] | None = (RESUME,), register: bool = False) -> tuple[WireClient, object]:
    """A connection whose hello got its answer: (client, Welcome or ErrorReply)."""
    client = WireClient(server.host, server.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register, resume, features))
    while True:
        answer = client.next()
        if not isinstance(answer, NOTICES):
            return client, answer


def credential_of(server, name: str = "Alice", register: bool = False) -> str:
    client, welcome = hello(server, name, PASSWORD, register=register)
    client.close()
    assert isinstance(welcome, Welcome) and welcome.registered, welcome
    assert welcome.features == (RESUME,)
    assert isinstance(welcome.resume, str) and len(welcome.resume) >= 43  # 256 random bits
    return welcome.resume


def refused(server, name: str, resume: str | None) -> str:
    client, answer = hello(server, name, resume=resume)
    client.close()
    assert isinstance(answer, ErrorReply), answer
    return answer.code


def test_a_password_login_that_asks_gets_a_credential_that_logs_in_without_the_password(server):
    first = credential_of(server, register=True)  # claiming the account is proving the password
    again = credential_of(server)  # every password login that asks gets its own
    assert again != first
    for secret in (first, again):
        client, welcome = hello(server, "alice", resume=secret)
        with client:
            assert isinstance(welcome, Welcome), welcome
            assert (welcome.name, welcome.registered, welcome.resume) == ("Alice", True, None)  # keep the old one


def test_without_the_feature_no_credential_is_issued(server):
    client, welcome = hello(server, "Alice", PASSWORD, register=True, features=None)
    client.close()
    assert welcome.registered and welcome.resume is None and welcome.features is None


def test_a_wrong_or_foreign_credential_is_auth_required(server):
    alices = credential_of(server, register=True)
    credential_of(server, "Bob", register=True)
    assert refused(server, "Bob", alices) == ErrorCode.AUTH_REQUIRED  # Alice's is not Bob's
    assert refused(server, "Alice", alices[:-2] + "xx") == ErrorCode.AUTH_REQUIRED
    assert refused(server, "Alice", None) == ErrorCode.AUTH_REQUIRED


def test_log_out_revokes_it_and_only_it(server):
    kept = credential_of(server, register=True)
    secret = credential_of(server)
    client, welcome = hello(server, "Alice", resume=secret)
    with client:
        client.send(Revoke("r1", secret))
        assert client.expect(Done, skip=NOTICES) == Done("r1")
        client.send(Revoke("r2", secret))  # again, or one never issued: nothing to do, ok
        assert client.expect(Done, skip=NOTICES) == Done("r2")
    assert refused(server, "Alice", secret) == ErrorCode.AUTH_REQUIRED
    client, welcome = hello(server, "Alice", resume=kept)
    client.close()
    assert isinstance(welcome, Welcome)


@pytest.mark.parametrize("maybe_done", [False, True])
def test_a_log_out_the_store_fails_says_whether_it_may_have_been_done(server, maybe_done):
    """The store fails the revoke: ``unavailable``, and ``uncertain`` when Redis took it and
    did not answer in time (it may have revoked the credential: PROTOCOL.md, "``revoke``"),
    as for a guest's give-up; never said surely not done when it may have been. The
    credential goes on working here until a revoke is stored: a resend is ``ok``."""
    secret = credential_of(server, register=True)
    store = server.server.relay.logins.store
    real = store.revoke_account_credential

    def failing(token_hash, callback=None, on_error=None):
        on_error(StoreUnavailable("redis timed out" if maybe_done else "disk full", storage=True,
                                  maybe_done=maybe_done))
    server.call(setattr, store, "revoke_account_credential", failing)
    client, welcome = hello(server, "Alice", resume=secret)
    with client:
        assert isinstance(welcome, Welcome), welcome
        client.send(Revoke("r1", secret))
        refusal = client.expect(ErrorReply, skip=NOTICES)
        said = (refusal.code, refusal.request_id, refusal.uncertain)
        assert said == (ErrorCode.UNAVAILABLE, "r1", True if maybe_done else None)
        server.call(setattr, store, "revoke_account_credential", real)
        client.send(Revoke("r1", secret))
        assert client.expect(Done, skip=NOTICES) == Done("r1")
    assert refused(server, "Alice", secret) == ErrorCode.AUTH_REQUIRED


def test_another_account_cannot_revoke_it(server):
    alices = credential_of(server, register=True)
    bobs = credential_of(server, "Bob", register=True)
    client, _ = hello(server, "Bob", resume=bobs)
    with client:
        client.send(Revoke("r1", alices))
        assert client.expect(Done, skip=NOTICES) == Done("r1")
    client, welcome = hello(server, "Alice", resume=alices)
    client.close()
    assert isinstance(welcome, Welcome)


def test_setting_the_password_revokes_every_credential_of_the_account(server):
    secret = credential_of(server, register=True)
    server.call(lambda: server.server.relay.logins.password_set("alice"))
    assert refused(server, "Alice", secret) == ErrorCode.AUTH_REQUIRED


def test_an_expired_credential_is_auth_required():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, account_resume_ttl=0.0)) as srv:
        secret = credential_of(srv, register=True)
        assert refused(srv, "Alice", secret) == ErrorCode.AUTH_REQUIRED


def test_only_the_hash_is_stored_and_it_outlives_a_restart(tmp_path):
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as srv:
        secret = credential_of(srv, register=True)
    database = tmp_path / "chat.sqlite3"
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT token_hash, name_key FROM account_credentials").fetchall()
    assert rows == [(hashlib.sha256(secret.encode()).digest(), "alice")]
    assert secret.encode() not in database.read_bytes()
    with ServerThread(config) as srv:
        client, welcome = hello(srv, "Alice", resume=secret)
        client.close()
        assert isinstance(welcome, Welcome) and welcome.registered


def test_both_stores_keep_load_and_revoke_credentials_alike(loop, store_kind):  # noqa: F811
    store = open_store(loop, kind=store_kind)
    store.save_account_credential(b"a1", Credential("alice", 100.0), 10.0)
    store.save_account_credential(b"a2", Credential("alice", 15.0), 10.0)
    store.save_account_credential(b"b1", Credential("bob", 100.0), 10.0)
    settle(loop, store)
    assert store.account_credentials(20.0) == {b"a1": Credential("alice", 100.0), b"b1": Credential("bob", 100.0)}
    # A later save forgets the expired ones for good.
    store.save_account_credential(b"b2", Credential("bob", 200.0), 50.0)
    store.revoke_account_credential(b"b1")
    settle(loop, store)
    assert store.account_credentials(0.0) == {b"a1": Credential("alice", 100.0), b"b2": Credential("bob", 200.0)}
    store.revoke_account_credentials("alice")
    settle(loop, store)
    assert store.account_credentials(0.0) == {b"b2": Credential("bob", 200.0)}
    store.close()


@pytest.fixture
def server():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        yield srv
