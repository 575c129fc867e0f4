"""Deleting one's account with the ``unregister`` frame (PROTOCOL.md; LGPD art. 18 VI):
real servers on 127.0.0.1 port 0.

After ``ok`` the account's sessions end (``account_deleted``, then ``bye``), on every node;
the password no longer logs in; her rows are gone from the SQLite file and her keys from
Redis; what waited for her ended (its sender told ``expired``); what she sent stays with
its recipient; the name is held (``name_taken``) for the guest hold. A wrong password is
``bad_password``, a guest ``forbidden``. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from servers import ServerProcess
from test_account_credentials import PASSWORD
from test_cluster_processes import redis  # noqa: F401  (a fixture: one Redis, appendfsync always)
from wire import WireClient

import const
from protocol import (DirectMessage, Done, ErrorCode, ErrorReply, Goodbye, Hello, Ping, Queued,
                      Accepted, SendDirect, Unregister, UserJoined, UserLeft, Welcome)
from resp import RedisClient
from server import ServerConfig, ServerThread

NOTICES = (UserJoined, UserLeft, Ping)


def unregister(client: WireClient, password: str | None) -> Done | ErrorReply:
    client.send(Unregister("u1", password))
    return client.expect((Done, ErrorReply), skip=NOTICES + (DirectMessage,))


def hello_answer(port: int, name: str, password: str | None = None, source: str | None = None
                 ) -> Welcome | ErrorReply:
    """The answer to a hello (``source``: another loopback address, which the throttle of
    127.0.0.1 does not hold up)."""
    with WireClient("127.0.0.1", port, source=source) as client:
        client.send(Hello("h", name, const.PROTOCOL_VERSION, password))
        return client.expect((Welcome, ErrorReply), skip=NOTICES)


def test_a_wrong_password_and_a_guest_are_refused_and_nothing_changes():
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with WireClient.login(server.host, server.port, "Guest") as guest:
            assert unregister(guest, PASSWORD).code == ErrorCode.FORBIDDEN
        with WireClient.login(server.host, server.port, "Conc", PASSWORD, register=True) as conc:
            assert unregister(conc, "not her password").code == ErrorCode.BAD_PASSWORD
            assert unregister(conc, None).code == ErrorCode.RATE_LIMITED  # a wrong one makes the next wait
        assert isinstance(hello_answer(server.port, "Conc", PASSWORD, source="127.0.0.2"), Welcome)


def test_the_others_see_her_leave_with_the_reason_her_sessions_were_ended():
    # Her sessions end with the deletion's reason (session.close(reason)): the "left" the
    # others get says it too, not a bare "disconnected".
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        with WireClient.login(server.host, server.port, "Bob") as bob, \
                WireClient.login(server.host, server.port, "Conc", PASSWORD, register=True) as conc:
            bob.expect(UserJoined, skip=(Ping,))
            assert unregister(conc, PASSWORD) == Done("u1")
            left = bob.expect(UserLeft, skip=(Ping, UserJoined))
            assert (left.name, left.reason) == ("Conc", const.ACCOUNT_DELETED_REASON)


def test_her_account_and_rows_go_her_sent_copies_stay_and_the_name_is_held(tmp_path):
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    with ServerThread(config) as server:
        with WireClient.login(server.host, server.port, "Bob", PASSWORD, register=True) as bob:
            pass
        with WireClient.login(server.host, server.port, "Ann") as ann:
            pass
        conc = WireClient.login(server.host, server.port, "Conc", PASSWORD, register=True)
        other = WireClient.login(server.host, server.port, "Conc", PASSWORD)
        conc.send(SendDirect("s1", "Bob", "for Bob, while he is away"))
        conc.expect(Queued, skip=NOTICES + (Accepted, DirectMessage))
        with WireClient.login(server.host, server.port, "Bob", PASSWORD) as bob:
            bob.expect(DirectMessage, skip=NOTICES)
        other.close()
        conc.close()
        with WireClient.login(server.host, server.port, "Bob", PASSWORD) as bob:  # waits for her
            bob.send(SendDirect("s2", "Conc", "for Conc"))
            bob.expect(Queued, skip=NOTICES + (Accepted, DirectMessage))
            with WireClient.login(server.host, server.port, "Conc", PASSWORD) as conc, \
                    WireClient.login(server.host, server.port, "Conc", PASSWORD) as elsewhere:
                assert unregister(conc, PASSWORD) == Done("u1")
                assert conc.expect_error(ErrorCode.ACCOUNT_DELETED, skip=NOTICES + (DirectMessage,)).request_id is None
                assert conc.expect(Goodbye, skip=NOTICES).reason == const.ACCOUNT_DELETED_REASON
                assert elsewhere.expect_error(ErrorCode.ACCOUNT_DELETED, skip=NOTICES + (DirectMessage,))
                assert elsewhere.expect(Goodbye, skip=NOTICES).reason == const.ACCOUNT_DELETED_REASON
            # What waited for her ended: Bob is told, as for a message never delivered.
            assert bob.expect_error(ErrorCode.EXPIRED, skip=NOTICES).request_id is not None
        # Her password no longer logs in; nobody may take the name during the hold.
        assert hello_answer(server.port, "Conc", PASSWORD).code == ErrorCode.NAME_TAKEN
        assert hello_answer(server.port, "Conc").code == ErrorCode.NAME_TAKEN
    db = sqlite3.connect(tmp_path / "chat.sqlite3")
    try:
        for table, column in (("accounts", "name_key"), ("users", "name_key"), ("account_credentials", "name_key"),
                              ("blocks", "owner_key"), ("blocks", "blocked_key"), ("reads", "reader_key"),
                              ("receipts_off", "name_key"), ("room_cursors", "name_key")):
            assert db.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} = 'conc'").fetchone()[0] == 0, table
        # What she sent is Bob's copy: it still waits for his receipt, whole.
        assert db.execute("SELECT state, text FROM messages WHERE sender_key = 'conc'").fetchall() == [
            ("queued", "for Bob, while he is away")]
        assert db.execute("SELECT state FROM messages WHERE recipient_key = 'conc'").fetchall() == [("expired",)]
        # The name's hold: a guest holding whose token nobody was given.
        assert db.execute("SELECT left_at IS NOT NULL FROM guests WHERE name_key = 'conc'").fetchall() == [(1,)]
    finally:
        db.close()


async def _keys(url: str) -> list[str]:
    async with RedisClient(url) as client:
        return sorted(k.decode() for k in await client.execute("KEYS", "*conc*"))


async def _members(url: str, key: str) -> list[bytes]:
    async with RedisClient(url) as client:
        return await client.execute("SMEMBERS", key)


def test_a_deleted_administrators_name_administers_nothing_in_its_next_holders_hands():
    """An administrator is an account, not a name (README.md, ``/admin``): once the account
    is deleted, whoever registers its name after the hold is no administrator. Before, the
    newcomer deleted Ana's direct message as one (the s65 audit)."""
    from logins import make_admin
    from waits import wait_until

    from protocol import EDITS, Delete
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, guest_hold=0.2)) as server:
        with WireClient.login(server.host, server.port, "Prof", PASSWORD, register=True) as prof:
            make_admin(server, "Prof")
            assert unregister(prof, PASSWORD) == Done("u1")
        newcomer: list[WireClient] = []

        def registered() -> bool:
            client = WireClient(server.host, server.port)
            client.send(Hello("h", "prof", const.PROTOCOL_VERSION, "not the teacher's", True, None, (EDITS,)))
            answer = client.expect((Welcome, ErrorReply), skip=NOTICES)
            if isinstance(answer, Welcome):
                newcomer.append(client)
                return True
            client.close()
            assert answer.code == ErrorCode.NAME_TAKEN, answer
            return False

        wait_until(registered, what="the end of the name's hold")
        with newcomer[0] as mallory, WireClient.login(server.host, server.port, "Ana") as ana:
            ana.send(SendDirect("s1", "Ana", "a note to herself"))
            note = ana.expect(Accepted, skip=NOTICES)
            mallory.send(Delete("d1", note.msg_id))
            answer = mallory.expect((Done, ErrorReply), skip=NOTICES)
            assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.FORBIDDEN, answer
        assert server.call(server.server.relay.room_desk.admin_names) == []


def test_a_login_whose_password_check_ends_after_the_deletion_is_answered_as_a_hello_sent_now():
    """A second device of Conc logs in with her password while she deletes the account,
    its check ending after the deletion: it is answered as a hello sent now is, the name
    held (``name_taken``). Before, the check's answer raised KeyError on the loop, and the
    hello was answered nothing until the login timeout (the s65 audit)."""
    import asyncio

    from test_password_change import HeldHashes
    from test_store import FakeSession, RelayBench
    loop = asyncio.new_event_loop()
    try:
        bench = RelayBench(loop)
        conc = bench.login("Conc", PASSWORD, register=True)
        hashes = HeldHashes(bench)
        bench.ports += 1
        device = FakeSession(bench.ports)
        bench.relay.connected(device)
        bench.relay.handle(device, Hello("h", "Conc", const.PROTOCOL_VERSION, PASSWORD))
        bench.relay.logins.offload = hashes.real
        bench.relay.handle(conc, Unregister("u1", PASSWORD))
        bench.settle()
        assert conc.take(Done) == [Done("u1")]
        hashes.run(0)  # her device's check ends now: the password was right
        bench.settle()
        assert device.take(Welcome) == []
        [refused] = device.take(ErrorReply)
        assert (refused.code, refused.request_id) == (ErrorCode.NAME_TAKEN, "h")
        assert not device.logging_in and device.reading_held_since is None  # its next frames are read
        bench.store.close()
    finally:
        loop.close()


def test_a_deletion_the_store_refused_leaves_her_history_as_it_was():
    """Ana took the guest name "ana" from Bia (the hold over), registered it, and asked to
    delete the account while the disk refused writes: ``unavailable``, nothing changed.
    Before, the server dropped the name's holding all the same, and with it Ana's epoch: her
    history showed her what Carol had sent Bia (the s65 audit)."""
    import asyncio

    from protocol import HistoryPage, HistoryRequest
    from test_store import RelayBench, read_only
    loop = asyncio.new_event_loop()
    try:
        bench = RelayBench(loop, guest_hold=0.0)
        bia, carol = bench.login("ana"), bench.login("Carol")
        bench.relay.handle(carol, SendDirect("c1", "ana", "for Bia only"))
        bench.settle()
        bench.relay.disconnected(bia, None)
        ana = bench.login("ana", PASSWORD, register=True, tokens={})  # someone else
        read_only(bench)
        bench.relay.handle(ana, Unregister("u1", PASSWORD))
        bench.settle()
        assert [e.code for e in ana.take(ErrorReply)] == [ErrorCode.UNAVAILABLE]
        read_only(bench, False)
        again = bench.login("ana", PASSWORD)
        bench.relay.handle(again, HistoryRequest("h", "Carol"))
        bench.settle()
        [page] = again.take(HistoryPage)
        assert [m.text for m in page.messages] == []
        assert again.epoch == ana.epoch > 0
        bench.store.close()
    finally:
        loop.close()


@pytest.mark.timeout_seconds(90)
def test_in_a_cluster_her_session_on_another_node_ends_and_her_redis_keys_go(redis):  # noqa: F811
    with ServerProcess("--cluster", redis.url) as one, ServerProcess("--cluster", redis.url) as two:
        with WireClient.login("127.0.0.1", one.port, "Conc", PASSWORD, register=True):
            pass
        with WireClient.login("127.0.0.1", two.port, "Conc", PASSWORD) as elsewhere, \
                WireClient.login("127.0.0.1", one.port, "Conc", PASSWORD) as conc:
            assert unregister(conc, PASSWORD) == Done("u1")
            assert elsewhere.expect_error(ErrorCode.ACCOUNT_DELETED, skip=NOTICES, timeout=15).request_id is None
            assert elsewhere.expect(Goodbye, skip=NOTICES).reason == const.ACCOUNT_DELETED_REASON
        assert hello_answer(two.port, "Conc", PASSWORD).code == ErrorCode.NAME_TAKEN
        keys = asyncio.run(_keys(redis.url))
        assert [k for k in keys if not k.endswith(":guest:conc")] == [], keys
        members = asyncio.run(_members(redis.url, "{chat}:accts"))
        assert b"conc" not in members


@pytest.mark.timeout_seconds(90)
def test_in_a_cluster_what_another_node_sent_her_ends_with_her_account_and_its_sender_is_told(redis):  # noqa: F811
    """Bob, on node two, writes to Conc, online on node one, which shows it to her; she
    deletes her account on node one before her receipt. The message's id was given out by
    node two: node one's deletion still ends it, and Bob is told ``expired`` at once, not
    when the message's time to live runs out."""
    with ServerProcess("--cluster", redis.url) as one, ServerProcess("--cluster", redis.url) as two:
        with WireClient.login("127.0.0.1", one.port, "Conc", PASSWORD, register=True, tokens={}):
            pass
        with WireClient.login("127.0.0.1", two.port, "Bob", PASSWORD, register=True, tokens={}) as bob, \
                WireClient.login("127.0.0.1", one.port, "Conc", PASSWORD, tokens={}) as conc:
            bob.send(SendDirect("s1", "Conc", "for Conc, from node two"))
            assert conc.expect(DirectMessage, skip=NOTICES, timeout=15).text == "for Conc, from node two"
            assert unregister(conc, PASSWORD) == Done("u1")
            assert bob.expect_error(ErrorCode.EXPIRED, skip=NOTICES + (Accepted, Queued), timeout=15).request_id == "s1"


def test_the_client_library_deletes_its_account_then_ends_without_reconnecting():
    """ChatClient.unregister (the terminal's /unregister): ``ok``, then the session ends with
    the reason in words, the client does not try to log in again, and keeps no credential."""
    from waits import wait_until

    from client.library import ChatClient, RequestFailed
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server:
        conc = ChatClient("Conc", "127.0.0.1", server.port, password=PASSWORD, register=True)
        try:
            conc.connect(timeout=10)
            with pytest.raises(RequestFailed) as refused:
                conc.unregister("not her password", timeout=10)
            assert refused.value.code == ErrorCode.BAD_PASSWORD
            assert conc.connected  # nothing changed
        finally:
            conc.close()
        conc = ChatClient("Conc", "127.0.0.1", server.port, password=PASSWORD)
        try:
            wait_until(lambda: _logs_in(conc), what="the throttle's wait after the wrong password", timeout=10)
            conc.unregister(PASSWORD, timeout=10)
            wait_until(lambda: not conc.connected and not conc.reconnecting, what="the session's end", timeout=10)
            assert conc.close_reason.startswith("this account was deleted"), conc.close_reason
            assert conc.core.credential.secret is None
        finally:
            conc.close()
        assert hello_answer(server.port, "Conc", PASSWORD).code == ErrorCode.NAME_TAKEN


def _logs_in(client) -> bool:
    from client.library import LoginRefused
    try:
        client.connect(timeout=10)
        return True
    except LoginRefused as exc:
        assert exc.code == ErrorCode.RATE_LIMITED, exc
        return False


@pytest.mark.timeout_seconds(60)
def test_the_operators_unregister_ends_her_sessions_and_her_room_passes_on():
    """``/descadastrar conc`` at the server's terminal, typed twice (the school acting on her
    request; the first asks, so that a slip deletes nobody): her session ends as after her
    own unregister, the console says so, and the room she owned passes on to its other
    member, as when an owner leaves."""
    from waits import wait_until

    from protocol import JoinRoom, MemberList, MembersRequest, RoomInfo, RoomNotice
    with ServerProcess("--memory") as proc:
        with WireClient.login("127.0.0.1", proc.port, "Conc", PASSWORD, register=True) as conc, \
                WireClient.login("127.0.0.1", proc.port, "Bob") as bob:
            conc.send(JoinRoom("j1", "#aula", create=True))
            assert conc.expect(RoomInfo, skip=NOTICES).created
            bob.send(JoinRoom("j2", "#aula"))
            assert bob.expect(RoomInfo, skip=NOTICES).owner == "Conc"
            proc.proc.stdin.write("/descadastrar conc\n")  # asked first: a slip of the keys deletes nobody
            proc.proc.stdin.flush()
            # Any spelling of the name is taken; the console says the account's.
            wait_until(lambda: "this deletes the account Conc and" in "".join(proc.console)
                       and "type /unregister Conc again within a minute" in "".join(proc.console),
                       what="the console's question")
            conc.send(MembersRequest("m0", "#aula"))  # her session goes on meanwhile
            assert [m.name for m in conc.expect(MemberList, skip=NOTICES + (RoomNotice,)).members] == ["Bob", "Conc"]
            proc.proc.stdin.write("/descadastrar conc\n")  # the same again: done
            proc.proc.stdin.flush()
            assert conc.expect_error(ErrorCode.ACCOUNT_DELETED, skip=NOTICES + (RoomNotice,)).request_id is None
            assert conc.expect(Goodbye, skip=NOTICES + (RoomNotice,)).reason == const.ACCOUNT_DELETED_REASON
            wait_until(lambda: "the account Conc was deleted" in "".join(proc.console), what="the console's line")

            def bobs_role() -> str:
                bob.send(MembersRequest("m", "#aula"))
                members = bob.expect(MemberList, skip=NOTICES + (RoomNotice,)).members
                return {m.name: m.role for m in members}.get("Bob", "")
            wait_until(lambda: bobs_role() == "owner", what="Bob owning #aula")
            bob.send(MembersRequest("m2", "#aula"))
            assert [m.name for m in bob.expect(MemberList, skip=NOTICES + (RoomNotice,)).members] == ["Bob"]
