"""Changing one's password with the ``password`` frame (PROTOCOL.md): real servers on
127.0.0.1 port 0, and each store directly.

After ``ok`` the new password logs in and the old one does not, on this server and (in a
cluster) on another node at once; every resume credential of the account stops working
but the one the frame carried; the account's other sessions are ended (``password_changed``,
then ``bye``), on every node. A guest is
``forbidden``, a wrong current password ``bad_password``, a short new one
``weak_password``. Every wait is bounded.
"""

from __future__ import annotations

import pytest
from servers import ServerProcess
from test_account_credentials import PASSWORD, credential_of, hello, refused
from test_cluster_processes import redis  # noqa: F401  (a fixture: one Redis, appendfsync always)
from test_store import loop, open_store, settle, store_kind  # noqa: F401  (fixtures)
from wire import WireClient

import const
from protocol import (ChangePassword, Done, ErrorCode, ErrorReply, Goodbye, Hello, Ping, UserJoined, UserLeft,
                      UserList, Welcome, WhoRequest)
from server import ServerConfig, ServerThread
from server.accounts import hash_password, verify_password
from server.credentials import Credential

NOTICES = (UserJoined, UserLeft, Ping)
NEW = "a brand new secret"


def change(client: WireClient, old: str, new: str = NEW, resume: str | None = None) -> Done | ErrorReply:
    client.send(ChangePassword("p1", old, new, resume))
    while True:
        answer = client.next()
        if isinstance(answer, (Done, ErrorReply)):
            return answer


def logs_in(host: str, port: int, name: str, password: str, source: str | None = None) -> bool:
    """True if a hello with ``password`` is welcomed, False if it is ``bad_password``
    (``source``: another loopback address, which the throttle of this one does not hold up)."""
    client = WireClient(host, port, source=source)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password))
    try:
        while True:
            answer = client.next()
            if isinstance(answer, (Welcome, ErrorReply)):
                assert isinstance(answer, Welcome) or answer.code == ErrorCode.BAD_PASSWORD, answer
                return isinstance(answer, Welcome)
    finally:
        client.close()


def test_the_new_password_logs_in_the_old_does_not_and_only_the_kept_credential_resumes(server):
    kept_elsewhere = credential_of(server, register=True)
    client, welcome = hello(server, "Alice", PASSWORD)
    mine = welcome.resume
    with WireClient.login(server.host, server.port, "Alice", PASSWORD) as other:
        assert change(client, PASSWORD, resume=mine) == Done("p1")
        # The account's other sessions (other devices, which proved the old password) are
        # signed out with a reason of their own; the session that changed it stays.
        assert other.expect_error(ErrorCode.PASSWORD_CHANGED, skip=NOTICES).request_id is None
        assert other.expect(Goodbye, skip=NOTICES).reason == const.PASSWORD_CHANGED_REASON
        assert other.wait_closed() is not None
        client.send(WhoRequest("w1"))
        assert client.expect(UserList, skip=NOTICES).request_id == "w1"
    client.close()
    assert refused(server, "Alice", kept_elsewhere) == ErrorCode.AUTH_REQUIRED
    again, welcome = hello(server, "Alice", resume=mine)
    again.close()
    assert isinstance(welcome, Welcome) and welcome.registered, welcome
    assert logs_in(server.host, server.port, "Alice", NEW)
    assert not logs_in(server.host, server.port, "Alice", PASSWORD)  # last: it makes the next try wait


def test_a_wrong_current_password_a_weak_new_one_and_a_guest_are_refused(server):
    with WireClient.login(server.host, server.port, "Guest") as guest:
        assert change(guest, PASSWORD).code == ErrorCode.FORBIDDEN
    with WireClient.login(server.host, server.port, "Alice", PASSWORD, register=True) as alice:
        assert change(alice, PASSWORD, new="short").code == ErrorCode.WEAK_PASSWORD
        assert change(alice, "not it").code == ErrorCode.BAD_PASSWORD
        assert change(alice, PASSWORD).code == ErrorCode.RATE_LIMITED  # the login throttle's wait
    assert logs_in(server.host, server.port, "Alice", PASSWORD, source="127.0.0.2")  # nothing changed


def test_the_new_password_is_on_disk_before_ok(tmp_path):
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as srv:
        with WireClient.login(srv.host, srv.port, "Alice", PASSWORD, register=True) as alice:
            assert change(alice, PASSWORD) == Done("p1")
    with ServerThread(config) as srv:
        assert logs_in(srv.host, srv.port, "Alice", NEW)
        assert not logs_in(srv.host, srv.port, "Alice", PASSWORD)


def test_each_store_sets_the_hash_and_keeps_only_the_kept_credential(loop, store_kind):  # noqa: F811
    store = open_store(loop, kind=store_kind)
    old = hash_password("Alice", PASSWORD)
    results = []
    store.save_account("alice", old)
    for token_hash, key in ((b"a1", "alice"), (b"a2", "alice"), (b"b1", "bob")):
        store.save_account_credential(token_hash, Credential(key, 100.0), 10.0)
    new = hash_password("Alice", NEW)
    store.set_password("alice", new, b"a2", results.append)
    store.set_password("nobody", new, None, results.append)
    settle(loop, store)
    assert results == [True, False]
    assert verify_password(store.accounts()["alice"], NEW) and "nobody" not in store.accounts()
    assert set(store.account_credentials(0.0)) == {b"a2", b"b1"}
    store.set_password("alice", old, None, results.append)
    settle(loop, store)
    assert set(store.account_credentials(0.0)) == {b"b1"}
    store.close()


@pytest.mark.timeout_seconds(90)
def test_another_node_takes_the_new_password_and_refuses_the_old_right_after_ok(redis):  # noqa: F811
    with ServerProcess("--cluster", redis.url) as one, ServerProcess("--cluster", redis.url) as two:
        for node in (one, two):  # both nodes have the account cached, with its old password
            with WireClient.login("127.0.0.1", node.port, "Ana", PASSWORD, register=node is one):
                pass
        with WireClient.login("127.0.0.1", two.port, "Ana", PASSWORD) as elsewhere, \
                WireClient.login("127.0.0.1", one.port, "Ana", PASSWORD) as ana:
            assert change(ana, PASSWORD) == Done("p1")
            # Her session on the other node is signed out too, with the same reason.
            assert elsewhere.expect_error(ErrorCode.PASSWORD_CHANGED, skip=NOTICES, timeout=15).request_id is None
            assert elsewhere.expect(Goodbye, skip=NOTICES).reason == const.PASSWORD_CHANGED_REASON
        # At once: no wait for the events stream to reach node two.
        assert logs_in("127.0.0.1", two.port, "Ana", NEW)
        assert not logs_in("127.0.0.1", two.port, "Ana", PASSWORD)


def test_in_a_cluster_the_session_that_changed_the_password_stays_once_its_node_reads_the_change_back(
        redis):  # noqa: F811
    """Its node ends the account's other sessions at once and puts the change on the events
    stream for the others; reading that entry back itself must not end the one that made it."""
    with ServerProcess("--cluster", redis.url) as one, ServerProcess("--cluster", redis.url) as two:
        with WireClient.login("127.0.0.1", one.port, "Ana", PASSWORD, register=True) as ana:
            assert change(ana, PASSWORD) == Done("p1")
            # Bia's login is on the stream after the change: once Ana hears it, her node
            # has read the change back.
            with WireClient.login("127.0.0.1", two.port, "Bia"):
                told = ana.expect((UserJoined, ErrorReply, Goodbye), skip=(Ping, UserLeft), timeout=15)
                assert isinstance(told, UserJoined) and told.name == "Bia", told
                ana.send(WhoRequest("w1"))
                assert isinstance(ana.expect((UserList, ErrorReply, Goodbye), skip=NOTICES), UserList)


@pytest.mark.timeout_seconds(90)
def test_a_reset_at_one_nodes_console_ends_the_sessions_and_credentials_on_the_other(redis):  # noqa: F811
    """The operator's /password NAME on node one: Ana's session on node two ends with the
    reset's reason, the credential node two gave her stops working there, the new password
    logs in there and the old one does not."""
    from protocol import RESUME, Goodbye
    from waits import wait_until
    with ServerProcess("--cluster", redis.url) as one, ServerProcess("--cluster", redis.url) as two:
        with WireClient.login("127.0.0.1", one.port, "Ana", PASSWORD, register=True):
            pass
        with WireClient("127.0.0.1", two.port) as ana:
            ana.send(Hello("h", "Ana", const.PROTOCOL_VERSION, PASSWORD, features=(RESUME,)))
            resume = ana.expect(Welcome, skip=NOTICES).resume
            assert resume
            one.proc.stdin.write("/password ana\n")
            one.proc.stdin.flush()
            assert ana.expect_error(ErrorCode.PASSWORD_RESET, skip=NOTICES, timeout=15).request_id is None
            assert ana.expect(Goodbye, skip=NOTICES).reason == const.PASSWORD_RESET_REASON
        wait_until(lambda: "new password of Ana: " in "".join(one.console), what="the new password at the console")
        new = "".join(one.console).split("new password of Ana: ")[1].split()[0]
        assert new not in "".join(one.lines)  # the console's output, not the log
        with WireClient("127.0.0.1", two.port) as again:
            again.send(Hello("h", "Ana", const.PROTOCOL_VERSION, None, resume=resume))
            assert again.expect_error(ErrorCode.AUTH_REQUIRED, skip=NOTICES)
        assert logs_in("127.0.0.1", two.port, "Ana", new)
        assert not logs_in("127.0.0.1", two.port, "Ana", PASSWORD)
        assert new not in "".join(two.lines)  # never logged, on any node


class HeldHashes:
    """The login desk's off-loop work (password checks and hashes) held back, in order, to
    be run one at a time where a test opens a race: ``run(i)`` runs the i-th held one and
    calls its callback on the bench's loop thread, as the thread pool would."""

    def __init__(self, bench) -> None:
        self.held: list = []
        self.real = bench.relay.logins.offload
        bench.relay.logins.offload = lambda func, args, callback, on_error: self.held.append((func, args, callback))

    def run(self, index: int) -> None:
        func, args, callback = self.held[index]
        callback(func(*args))


def test_a_login_with_the_old_password_whose_credential_is_stored_as_it_changes_is_refused(loop):  # noqa: F811
    """Mallory, who knows Prof's old password, logs in with it and asks for a resume
    credential; her check ends, and her credential's store is submitted, after Prof's new
    hash is submitted and before it is stored. Before, she was welcomed after the change
    (her session not among those signed out, as it waited for its credential) with a
    credential that outlived the password for 30 days (the s65 audit). Now refused as a
    login whose check ran during the change, and the credential revoked."""
    from protocol import RESUME
    from test_store import FakeSession, RelayBench
    bench = RelayBench(loop)
    prof = bench.login("Prof", PASSWORD, register=True)
    hashes = HeldHashes(bench)
    bench.ports += 1
    mallory = FakeSession(bench.ports, address="10.0.0.9")
    bench.relay.connected(mallory)
    bench.relay.handle(mallory, Hello("h", "Prof", const.PROTOCOL_VERSION, PASSWORD, features=(RESUME,)))
    bench.relay.handle(prof, ChangePassword("p", PASSWORD, NEW))
    hashes.run(1)  # Prof's old password proved: the new one is hashed ...
    hashes.run(2)  # ... and its store submitted
    hashes.run(0)  # Mallory's check ends now: the old password, still the stored one
    bench.settle()
    assert prof.take(Done) == [Done("p")]
    assert mallory.take(Welcome) == []
    [refused] = mallory.take(ErrorReply)
    assert (refused.code, refused.request_id) == (ErrorCode.BAD_PASSWORD, "h")
    assert not bench.relay.logins.credentials.by_hash
    assert not bench.store.account_credentials(0.0)
    bench.store.close()


def test_a_password_change_whose_check_ends_after_the_account_was_deleted_says_it_is_gone(loop):  # noqa: F811
    """Prof's other device deletes the account while this one's change checks the current
    password: the change is answered that the account no longer exists (PROTOCOL.md,
    ``password``), and the session ends as every session of it does. Before, the check's
    answer raised KeyError on the loop and the request was never answered (the s65 audit)."""
    from protocol import Unregister
    from test_store import RelayBench
    bench = RelayBench(loop)
    prof = bench.login("Prof", PASSWORD, register=True)
    other = bench.login("Prof", PASSWORD)
    hashes = HeldHashes(bench)
    bench.relay.handle(other, ChangePassword("p", PASSWORD, NEW))
    bench.relay.logins.offload = hashes.real
    bench.relay.handle(prof, Unregister("u", PASSWORD))
    bench.settle()
    assert prof.take(Done) == [Done("u")]
    hashes.run(0)
    bench.settle()
    [gone] = [e for e in other.take(ErrorReply) if e.request_id == "p"]
    assert (gone.code, gone.message) == (ErrorCode.BAD_PASSWORD, "this account no longer exists; nothing was done")
    assert other.closing
    bench.store.close()


@pytest.fixture
def server():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as srv:
        yield srv
