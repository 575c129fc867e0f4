"""Accounts, logins with passwords, brute-force slowing, and blocking, on a real server."""

from __future__ import annotations

import logging
import time

import pytest

import const
from protocol import (
    Accepted, Block, Delivered, DirectMessage, Done, ErrorCode, ErrorReply, Hello, Queued, Receipt, Register,
    RoomMessage, SendDirect, SendRoom, Unblock, UserJoined, UserLeft, Welcome,
)
from protocol.codec import encode
from server import ServerThread
from logins import leave, login
from servers import ServerProcess
from test_durability import config, quiet, stored, wait_offline
from wire import WireClient

NOTICES = (UserJoined, UserLeft)
PASSWORD = "correct horse battery staple"
DELAY = 0.2  # login_failure_delay: the first wait after a wrong password


@pytest.fixture
def server(tmp_path):
    with ServerThread(config(tmp_path / "data", login_failure_delay=DELAY)) as srv:
        yield srv


def hello(server: ServerThread, name: str, password: str | None = None, register: bool = False,
          client: WireClient | None = None) -> tuple[WireClient, Welcome | ErrorReply]:
    """Send a hello (on ``client``, or a new connection); returns the client and the answer."""
    client = client or WireClient(server.host, server.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, password, register))
    return client, answer(client)


def answer(client: WireClient, timeout: float = 10.0) -> Welcome | ErrorReply:
    """The answer to a hello: a welcome or an error (notices passed over), within
    ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    while True:
        event = client.next(max(0.001, deadline - time.monotonic()))
        if not isinstance(event, NOTICES):
            assert isinstance(event, (Welcome, ErrorReply)), f"expected an answer to the hello, got {event!r}"
            return event


def login_when_allowed(server: ServerThread, name: str, password: str | None, timeout: float = 10) -> WireClient:
    """Log in, waiting out ``rate_limited`` answers as a client should (retry_after)."""
    deadline = time.monotonic() + timeout
    while True:
        client, reply = hello(server, name, password)
        if isinstance(reply, Welcome):
            client.welcome = reply
            return client
        client.close()
        assert reply.code == ErrorCode.RATE_LIMITED and time.monotonic() < deadline, reply
        time.sleep(reply.retry_after)


def refused(server: ServerThread, name: str, password: str | None = None, register: bool = False) -> ErrorReply:
    client, answer = hello(server, name, password, register)
    client.close()
    assert isinstance(answer, ErrorReply), f"expected a refusal, got {answer!r}"
    return answer


def register(server: ServerThread, name: str, password: str = PASSWORD) -> None:
    with login(server, name, password, register=True) as client:
        assert client.welcome.registered
        leave(client)
    wait_offline(server, name)


def register_elsewhere(server: ServerThread, name: str, password: str = PASSWORD) -> None:
    """Register ``name`` from another address (127.0.0.2): the tests' address (127.0.0.1)
    is then none of its known addresses, where only its own failures would count."""
    with WireClient(server.host, server.port, source="127.0.0.2") as client:
        client.send(Hello("h", name, const.PROTOCOL_VERSION, password, True))
        welcome = answer(client)
        assert isinstance(welcome, Welcome) and welcome.registered, welcome


# --- Registering and logging in ---------------------------------------------------------


def test_registering_at_login_protects_the_name_from_then_on(server):
    with login(server, "Alice", PASSWORD, register=True) as alice:
        assert (alice.welcome.name, alice.welcome.registered) == ("Alice", True)
        # While she is online nobody else gets in under her name, with or without a guess.
        assert refused(server, "alice").code == ErrorCode.AUTH_REQUIRED
    wait_offline(server, "Alice")
    assert refused(server, "ALICE").code == ErrorCode.AUTH_REQUIRED
    assert refused(server, "Alice", "not the password").code == ErrorCode.BAD_PASSWORD
    with login_when_allowed(server, "alice", PASSWORD) as again:
        assert (again.welcome.name, again.welcome.registered) == ("Alice", True)


def test_frames_right_behind_a_password_hello_are_handled_after_its_welcome(server):
    # The password is checked off the loop (scrypt takes a while): what the client wrote
    # behind its hello, in the same write, waits unread until the welcome went out, and is
    # then handled as a logged-in user's, in its order.
    register(server, "Alice")
    with login(server, "Bob") as bob:
        client = WireClient(server.host, server.port)
        try:
            client.send_raw(encode(Hello("h", "Alice", const.PROTOCOL_VERSION, PASSWORD))
                            + encode(SendDirect("m1", "Bob", "olá, cheguei")))
            assert isinstance(answer(client), Welcome)
            assert client.expect((Accepted, ErrorReply), skip=NOTICES) == Accepted("m1", bob.expect(
                DirectMessage, skip=NOTICES).msg_id)
        finally:
            client.close()


def test_a_claimed_name_cannot_be_claimed_again(server):
    register(server, "Alice")
    error = refused(server, "Alice", "another password entirely", register=True)
    assert error.code == ErrorCode.ACCOUNT_EXISTS
    with login_when_allowed(server, "Alice", PASSWORD) as alice:
        alice.send(Register("again", "yet another password"))
        error = alice.expect_error(ErrorCode.ACCOUNT_EXISTS, skip=NOTICES)
        assert error.request_id == "again"


def test_a_guest_online_under_a_name_keeps_it_and_nobody_else_can_claim_it(server):
    with login(server, "Carol") as carol:
        assert not carol.welcome.registered
        assert refused(server, "carol", PASSWORD, register=True).code == ErrorCode.NAME_TAKEN
        assert refused(server, "Carol").code == ErrorCode.NAME_TAKEN
        # Carol herself may claim it.
        carol.send(Register("claim", PASSWORD))
        assert carol.expect(Done, skip=NOTICES).request_id == "claim"
        assert refused(server, "Carol").code == ErrorCode.AUTH_REQUIRED
        # ... and then use it from a second device with the password.
        with login(server, "Carol", PASSWORD) as second:
            assert second.welcome.registered


def test_a_guest_that_claims_its_name_needs_the_password_after_logging_out(server):
    with login(server, "Dave") as dave:
        dave.send(Register("r", PASSWORD))
        dave.expect(Done, skip=NOTICES)
        leave(dave)
    wait_offline(server, "Dave")
    assert refused(server, "Dave").code == ErrorCode.AUTH_REQUIRED
    with login(server, "Dave", PASSWORD) as dave:
        assert dave.welcome.registered


@pytest.mark.parametrize("password", ["", "short", "x" * (const.MIN_PASSWORD_LENGTH - 1)])
def test_weak_passwords_are_refused(server, password):
    assert refused(server, "Erin", password, register=True).code == ErrorCode.WEAK_PASSWORD
    with login(server, "Erin") as erin:
        erin.send(Register("weak", password))
        assert erin.expect_error(ErrorCode.WEAK_PASSWORD, skip=NOTICES).request_id == "weak"
        # The name was not claimed.
        assert not stored(server, "SELECT name FROM accounts")


def test_accounts_survive_a_restart(tmp_path):
    with ServerThread(config(tmp_path)) as server:
        register(server, "Alice")
    with ServerThread(config(tmp_path)) as server:
        assert refused(server, "Alice").code == ErrorCode.AUTH_REQUIRED
        with login(server, "Alice", PASSWORD) as alice:
            assert alice.welcome.registered


def test_guests_are_refused_when_accounts_are_required(tmp_path):
    with ServerThread(config(tmp_path, require_accounts=True)) as server:
        assert refused(server, "Guest").code == ErrorCode.ACCOUNTS_REQUIRED
        with login(server, "Frank", PASSWORD, register=True) as frank:
            assert frank.welcome.registered
            leave(frank)
        wait_offline(server, "Frank")
        with login(server, "Frank", PASSWORD) as frank:
            assert frank.welcome.registered


def test_a_refused_hello_may_be_followed_by_a_good_one_on_the_same_connection(server):
    register(server, "Alice")
    client, answer = hello(server, "Alice")
    with client:
        assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.AUTH_REQUIRED
        _, answer = hello(server, "Alice", PASSWORD, client=client)
        assert isinstance(answer, Welcome) and answer.registered


# --- Impersonation ----------------------------------------------------------------------


def test_a_guest_logging_in_while_a_name_is_being_claimed_never_holds_the_account(server):
    """Claiming hashes the password off the loop (tens of ms); a guest hello for the same
    name in that window must not end up online as a guest under a claimed name."""
    for i in range(5):
        name = f"Race{i}"
        claimer = WireClient(server.host, server.port)
        guest = WireClient(server.host, server.port)
        with claimer, guest:
            claimer.send(Hello("c", name, const.PROTOCOL_VERSION, PASSWORD, True))
            guest.send(Hello("g", name, const.PROTOCOL_VERSION))
            claim, got_in = answer(claimer), answer(guest)
            claimed = server.call(lambda: server.server.relay.logins.is_claimed(name))
            if isinstance(got_in, Welcome):
                assert not claimed and isinstance(claim, ErrorReply), (claim, got_in)
                assert claim.code == ErrorCode.NAME_TAKEN
            else:
                assert isinstance(claim, Welcome) and claim.registered and claimed
                assert got_in.code == ErrorCode.AUTH_REQUIRED


def test_an_account_holder_online_in_two_sessions_gets_a_dm_in_both_and_one_receipt_delivers_it(server):
    register(server, "Grace")
    with login(server, "Alice") as alice, login(server, "Grace", PASSWORD) as phone, \
            login(server, "grace", PASSWORD) as laptop:
        alice.send(SendDirect("both", "GRACE", "see it anywhere"))
        accepted = alice.expect(Accepted, skip=NOTICES)
        on_phone = phone.expect(DirectMessage, skip=NOTICES)
        on_laptop = laptop.expect(DirectMessage, skip=NOTICES)
        assert on_phone == on_laptop and on_phone.msg_id == accepted.msg_id
        phone.send(Receipt(on_phone.msg_id))
        assert alice.expect(Delivered, skip=NOTICES) == Delivered("both", accepted.msg_id)
        laptop.send(Receipt(on_laptop.msg_id))  # the other device confirms too: harmless
        quiet(alice)
        quiet(laptop, (ErrorReply, DirectMessage))
        # One device leaving does not requeue what the other still holds, nor confirm it.
        alice.send(SendDirect("second", "Grace", "unconfirmed"))
        second = alice.expect(Accepted, skip=NOTICES)
        phone.expect(DirectMessage, skip=NOTICES)
        laptop.expect(DirectMessage, skip=NOTICES)
        phone.reset()
        quiet(alice, (Queued, Delivered))
        laptop.send(Receipt(second.msg_id))
        assert alice.expect(Delivered, skip=NOTICES) == Delivered("second", second.msg_id)


# --- Slowing down password guessing -----------------------------------------------------


def test_wrong_passwords_make_the_next_try_wait_longer_even_with_the_right_password(tmp_path):
    delay = 0.4  # long enough that a loaded machine still asks again within it
    with ServerThread(config(tmp_path, login_failure_delay=delay)) as server:
        register(server, "Alice")
        waits = []
        for attempt in range(3):
            right_away = WireClient(server.host, server.port)  # connected beforehand: no time lost
            with right_away:
                assert refused(server, "Alice", f"guess {attempt}").code == ErrorCode.BAD_PASSWORD
                # Right away, even the right password is turned away, saying how long to wait.
                _, error = hello(server, "Alice", PASSWORD, client=right_away)
            assert isinstance(error, ErrorReply) and error.code == ErrorCode.RATE_LIMITED, error
            waits.append(error.retry_after)
            time.sleep(error.retry_after)
        assert 0 < waits[0] <= delay < waits[1] <= 2 * delay < waits[2] <= 4 * delay  # it doubles
        with login(server, "Alice", PASSWORD) as alice:  # after the wait, the password works
            assert alice.welcome.registered


def test_failures_slow_down_the_address_across_names(tmp_path):
    with ServerThread(config(tmp_path, login_failure_delay=5.0)) as server:
        register_elsewhere(server, "Alice")
        register_elsewhere(server, "Bob")
        assert refused(server, "Alice", "wrong guess").code == ErrorCode.BAD_PASSWORD
        for name, password in (("Bob", "another guess"), ("Bob", PASSWORD)):
            error = refused(server, name, password)
            assert error.code == ErrorCode.RATE_LIMITED and 0 < error.retry_after <= 5.0
        # A guest checks no password: nothing to slow down (PROTOCOL.md, "hello").
        with login(server, "Newcomer") as guest:
            assert not guest.welcome.registered


def test_a_guesser_elsewhere_does_not_keep_the_owner_out_but_is_slowed_down(tmp_path):
    """Issue 8.7: failures from another address never delay the owner's right password."""
    with ServerThread(config(tmp_path, login_failure_delay=0.3)) as server:
        register(server, "Alice")
        waits = []
        for attempt in range(4):
            with WireClient(server.host, server.port, source="127.0.0.2") as guesser:
                guesser.send(Hello("h", "Alice", const.PROTOCOL_VERSION, f"guess {attempt}"))
                assert answer(guesser).code == ErrorCode.BAD_PASSWORD
                guesser.send(Hello("h", "Alice", const.PROTOCOL_VERSION, f"guess {attempt} again"))
                again = answer(guesser)  # the guesser is slowed down, more each time
                assert again.code == ErrorCode.RATE_LIMITED and again.retry_after > 0, again
                waits.append(again.retry_after)
            # Right away, from the owner's own address, the right password gets in.
            with login(server, "alice", PASSWORD) as owner:
                assert owner.welcome.registered
                leave(owner)
            wait_offline(server, "Alice")
            time.sleep(again.retry_after)  # the guesser waits as told, then guesses again
        assert waits[0] < waits[1] < waits[2] < waits[3]


def test_guesses_sent_at_once_on_many_connections_are_not_all_checked(server):
    """After a failure, one check at a time: a guesser cannot open ten connections and
    have ten passwords tried while the first is still being hashed."""
    register_elsewhere(server, "Alice")
    register_elsewhere(server, "Bob")
    assert refused(server, "Alice", "first guess").code == ErrorCode.BAD_PASSWORD
    login_when_allowed(server, "Bob", PASSWORD).close()  # waits out the delay
    clients = [WireClient(server.host, server.port) for _ in range(10)]
    try:
        for i, client in enumerate(clients):
            client.send(Hello("h", "Alice", const.PROTOCOL_VERSION, f"parallel guess {i}"))
        codes = sorted(answer(client).code for client in clients)
    finally:
        for client in clients:
            client.close()
    assert codes.count(ErrorCode.BAD_PASSWORD) == 1, codes
    assert codes.count(ErrorCode.RATE_LIMITED) == 9, codes


def test_the_password_is_never_stored_or_logged_in_clear(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = ["first-secret-password", "second-secret-password", "wrong-secret-guess"]
    data = tmp_path / "data"
    with ServerThread(config(data, login_failure_delay=0.01)) as server:
        register(server, "Alice", secrets[0])
        with login(server, "Bob") as bob:
            bob.send(Register("r", secrets[1]))
            bob.expect(Done, skip=NOTICES)
        assert refused(server, "Alice", secrets[2]).code == ErrorCode.BAD_PASSWORD
        assert stored(server, "SELECT name, kdf FROM accounts ORDER BY name") == [
            ("Alice", "scrypt:n=16384,r=8,p=1"), ("Bob", "scrypt:n=16384,r=8,p=1")]
    files = [path for path in data.iterdir() if path.is_file()]
    assert files
    for secret in secrets:
        for encoded in (secret.encode("utf-8"), secret.encode("utf-16-le")):
            for path in files:
                assert encoded not in path.read_bytes(), f"{secret!r} in {path.name}"
        assert secret not in caplog.text
    assert "wrong password for Alice" in caplog.text


def test_chatserver_in_verbose_mode_logs_no_password(tmp_path):
    secret = "subprocess-secret-password"
    with ServerProcess("--data", str(tmp_path), "--verbose") as proc:
        with WireClient.login("127.0.0.1", proc.port, "Alice", secret, register=True) as alice:
            leave(alice)
        client = WireClient("127.0.0.1", proc.port)
        with client:
            client.send(Hello("h", "Alice", const.PROTOCOL_VERSION, secret + "-wrong"))
            client.expect_error(ErrorCode.BAD_PASSWORD)
        assert proc.stop() == 0
    output = proc.output()
    assert "account created: Alice" in output
    assert secret not in output


# --- Blocking ---------------------------------------------------------------------------


def test_a_blocked_sender_is_never_delivered_nor_told_and_unblock_restores_delivery(tmp_path):
    with ServerThread(config(tmp_path)) as server:
        with login(server, "Bob") as bob, login(server, "Mallory") as mallory, login(server, "Alice") as alice:
            bob.send(Block("b1", "mallory"))
            assert bob.expect(Done, skip=NOTICES).request_id == "b1"
            mallory.send(SendDirect("m1", "Bob", "you cannot ignore me"))
            mallory.expect(Accepted, skip=NOTICES)
            mallory.send(SendRoom("m2", "hello everyone"))
            mallory.expect(Accepted, skip=NOTICES + (RoomMessage,))
            assert alice.expect(RoomMessage, skip=NOTICES).sender == "Mallory"  # others still see her
            alice.send(SendRoom("a1", "hi all"))
            assert bob.expect(RoomMessage, skip=NOTICES).sender == "Alice"  # her room message never came
            quiet(bob, (DirectMessage, RoomMessage))
            quiet(mallory, (Delivered, ErrorReply))  # not told anything
            leave(bob)
        wait_offline(server, "Bob")
        with login(server, "Mallory") as mallory:
            mallory.send(SendDirect("m3", "Bob", "while you are away"))
            # Exactly what anyone else gets for an offline recipient: nothing gives the block away.
            mallory.expect(Queued, skip=NOTICES)
    # The block is kept across a restart.
    with ServerThread(config(tmp_path)) as server:
        with login(server, "Bob") as bob, login(server, "Mallory") as mallory:
            quiet(bob, (DirectMessage,))  # nothing waited for him
            mallory.send(SendDirect("m4", "Bob", "after the restart"))
            mallory.expect(Accepted, skip=NOTICES)
            quiet(bob, (DirectMessage,))
            bob.send(Unblock("u1", "Mallory"))
            assert bob.expect(Done, skip=NOTICES).request_id == "u1"
            mallory.send(SendDirect("m5", "Bob", "can you hear me now"))
            accepted = mallory.expect(Accepted, skip=NOTICES)
            dm = bob.expect(DirectMessage, skip=NOTICES)
            assert (dm.msg_id, dm.text) == (accepted.msg_id, "can you hear me now")
            bob.send(Receipt(dm.msg_id))
            assert mallory.expect(Delivered, skip=NOTICES).request_id == "m5"


def test_blocking_yourself_or_an_invalid_name_is_refused(server):
    with login(server, "Bob") as bob:
        bob.send(Block("self", "BOB"))
        assert bob.expect_error(ErrorCode.BAD_FIELD, skip=NOTICES).request_id == "self"
        bob.send(Block("bad", "no spaces allowed"))
        assert bob.expect_error(ErrorCode.INVALID_NAME, skip=NOTICES).request_id == "bad"


# --- The login desk alone: a fake clock, password checks run when the test says --------


class DeskRig:
    """A LoginDesk with a fake clock; password checks wait in ``self.checks`` until run."""

    def __init__(self, **overrides) -> None:
        from server.accounts import Account, _scrypt
        from server.config import ServerConfig
        from server.login import LoginDesk

        kdf, salt = "scrypt:n=16,r=1,p=1", b"s" * 16  # cheap: the test is about the policy
        accounts = {"alice": Account("Alice", _scrypt(PASSWORD, salt, kdf), salt, kdf)}
        self.now = 1000.0
        self.checks: list[tuple] = []
        from server.stores import MemoryStore

        store = MemoryStore()  # the desk reads the guest holdings from it
        store.open()
        self.desk = LoginDesk(ServerConfig(**overrides), store, accounts,
                              lambda func, args, callback, on_error: self.checks.append((func, args, callback)),
                              lambda name: False, clock=lambda: self.now)

    def login(self, password: str, address: str, run: bool = True):
        """The desk's answer to a hello for Alice: a LoginResult, or None while checking."""
        results = []
        self.desk.login(Hello("h", "Alice", const.PROTOCOL_VERSION, password), address, results.append)
        if run:
            while self.checks:
                func, args, callback = self.checks.pop(0)
                callback(func(*args))
        return results[0] if results else None


def test_an_attacker_failing_every_second_never_delays_the_owners_right_password():
    rig = DeskRig(login_failure_delay=0.5)
    waits = []
    for _ in range(120):  # two minutes of one wrong guess a second from another address
        result = rig.login("wrong guess", "10.0.0.66")
        if result.error.code == ErrorCode.RATE_LIMITED:
            waits.append(result.error.retry_after)
        else:
            assert result.error.code == ErrorCode.BAD_PASSWORD
        owner = rig.login(PASSWORD, "10.0.0.1")
        assert owner.error is None and owner.registered, owner
        rig.now += 1.0
    # The attacker is still slowed down: most of its guesses were refused unchecked.
    assert len(waits) > 100 and max(waits) > 30


def test_over_the_global_cap_a_login_is_answered_rate_limited_at_once_with_retry_after():
    rig = DeskRig(login_checks_per_second=2.0, login_checks_burst=4.0)
    # Guesses from many addresses, none checked yet: each takes one check from the cap.
    pending = [rig.login(f"guess {i}", f"10.0.{i}.1", run=False) for i in range(4)]
    assert pending == [None] * 4
    refused = rig.login(PASSWORD, "10.0.0.200", run=False)  # answered at once, not queued
    assert refused.error.code == ErrorCode.RATE_LIMITED and 0 < refused.error.retry_after <= 0.5
    assert len(rig.checks) == 4  # no check was started for it
    rig.now += refused.error.retry_after  # waiting as told is enough
    assert rig.login(PASSWORD, "10.0.0.200").error is None
