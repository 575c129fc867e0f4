"""Whom a user blocks, as the server tells it (``blocks`` / ``blocking``, PROTOCOL.md): on
every store, after a restart, page by page, and to every session of the user."""

from __future__ import annotations

import const
from protocol import Block, Blocking, BlockList, Done, ErrorReply, Unblock
from server.config import ServerConfig
from server.relay import Relay

from test_store import RelayBench, loop, store_kind  # noqa: F401  (fixtures)


def blocked_names(bench: RelayBench, session, after: str | None = None) -> Blocking:
    bench.relay.handle(session, BlockList("l", after))
    bench.settle()
    [answer] = session.take(Blocking)
    return answer


def test_the_block_list_names_whom_the_user_blocks_on_every_store_and_after_a_restart(loop, store_kind):
    bench = RelayBench(loop, store_kind)
    bench.login("Mallory")
    bob = bench.login("Bob", "correct horse", register=True)
    assert blocked_names(bench, bob) == Blocking("l", ())
    for request in (Block("b1", "MALLORY"), Block("b2", "zed"), Block("b3", "Eve"), Unblock("u1", "eve")):
        bench.relay.handle(bob, request)
    bench.settle()
    assert [done.request_id for done in bob.take(Done)] == ["b1", "b2", "b3", "u1"]
    # As registered (Mallory logged in); a name nobody used as the comparison form.
    assert blocked_names(bench, bob) == Blocking("l", ("Mallory", "zed"))
    bench.relay = Relay(ServerConfig(), bench.store)  # a restart: the store's blocks, read again
    second = bench.login("Bob", "correct horse")  # another device, another day
    assert blocked_names(bench, second).blocked == ("Mallory", "zed")  # the store knows Mallory
    bench.store.close()


def test_blocking_or_unblocking_ones_own_name_is_refused_in_words_of_its_own(loop):
    """An unblock of one's own name was refused "you cannot block yourself", the words of the
    other request: the user had asked to unblock. Each says what was asked; nothing changes."""
    bench = RelayBench(loop)
    bob = bench.login("Bob", "correct horse", register=True)
    bench.relay.handle(bob, Block("b1", "bob"))
    bench.relay.handle(bob, Unblock("u1", "BOB"))
    bench.settle()
    assert [(e.request_id, e.code, e.message) for e in bob.take(ErrorReply)] == [
        ("b1", "bad_field", "you cannot block yourself"),
        ("u1", "bad_field", "you cannot unblock yourself: nobody can block themselves")]
    assert blocked_names(bench, bob) == Blocking("l", ())
    bench.store.close()


def test_a_long_block_list_comes_in_pages_that_follow_the_cursor(loop):
    bench = RelayBench(loop)
    bob = bench.login("Bob", "correct horse", register=True)
    wanted = [f"user{i:03}" for i in range(450)]
    for name in wanted:
        bench.relay.handle(bob, Block(name, name))
    bench.settle()
    assert not bob.take(ErrorReply)
    names, after, pages = [], None, 0
    for _ in range(10):
        page = blocked_names(bench, bob, after)
        assert len(page.blocked) <= 500  # what the codec reads back
        names += page.blocked
        pages += 1
        after = page.next
        if after is None:
            break
    assert names == wanted and pages == 3  # the last page says it is the last
    bench.store.close()


def test_a_guest_who_takes_a_name_afresh_blocks_nobody(loop):
    bench = RelayBench(loop)
    bench.relay = Relay(ServerConfig(guest_hold=0.0), bench.store)
    bob = bench.login("Bob")
    bench.relay.handle(bob, Block("b", "Mallory"))
    bench.settle()
    assert blocked_names(bench, bob).blocked == ("mallory",)
    bench.relay.disconnected(bob, None)
    told = []
    bench.relay.peers.block_changed = lambda *change: told.append(change)
    stranger = bench.login("Bob", tokens={})
    assert blocked_names(bench, stranger).blocked == ()
    assert told == [("bob", "mallory", False)]  # and so do the other nodes of a cluster
    bench.store.close()


def test_a_full_page_of_the_longest_names_fits_in_one_frame():
    from protocol.codec import encode, fits
    from server import blockdesk
    longest = "\U0001d400" * (const.MAX_NAME_BYTES // 4)  # 256 bytes: more than any name takes
    page = Blocking("x" * 64, (longest,) * blockdesk._MAX_BLOCKED_PER_FRAME, longest)
    assert fits(page) and len(encode(page)) < const.MAX_FRAME_BYTES


def test_a_block_or_unblock_is_told_at_once_to_the_users_other_sessions_that_asked(loop, store_kind):
    """PROTOCOL.md, ``blocked``/``unblocked`` (feature blocks): as the read-receipts switch
    is, told once stored, to the user's other sessions with the feature; the session that
    asked has its ``ok``; a repeat that changes nothing tells nothing; nobody else hears."""
    from protocol import BLOCKS_FEATURE, Blocked, Hello, Unblocked, Welcome

    from test_store import FakeSession

    bench = RelayBench(loop, store_kind)
    bench.login("Mallory")

    def device(name: str, features: tuple[str, ...] | None, register: bool = False):
        bench.ports += 1
        session = FakeSession(bench.ports)
        bench.relay.connected(session)
        bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, "correct horse", register, None,
                                          features))
        bench.settle()
        assert [type(e) for e in session.take(Welcome)] == [Welcome]
        return session

    phone = device("Bob", (BLOCKS_FEATURE,), register=True)
    laptop = device("Bob", (BLOCKS_FEATURE,))
    old = device("Bob", None)  # a client that did not ask: no frame it does not know
    carol = device("Carol", (BLOCKS_FEATURE,), register=True)
    everyone = (phone, laptop, old, carol)

    def told(session) -> list:
        return [e for e in session.sent if isinstance(e, (Blocked, Unblocked))]

    for session in everyone:
        session.sent.clear()
    bench.relay.handle(phone, Block("b1", "MALLORY"))
    bench.settle()
    assert phone.take(Done) == [Done("b1")]
    assert told(laptop) == [Blocked("Mallory")]  # as registered
    assert told(phone) == told(old) == told(carol) == []
    bench.relay.handle(phone, Block("b2", "mallory"))  # nothing changes: nothing told
    bench.settle()
    assert told(laptop) == [Blocked("Mallory")]
    bench.relay.handle(laptop, Unblock("u1", "Mallory"))
    bench.relay.handle(laptop, Block("b3", "zed"))  # nobody of that name: as the key
    bench.settle()
    assert told(phone) == [Unblocked("Mallory"), Blocked("zed")]
    assert told(laptop) == [Blocked("Mallory")] and told(old) == told(carol) == []
    bench.store.close()


def test_changes_from_other_nodes_and_deleted_accounts_are_applied_and_told_only_when_they_change_something(loop):
    """BlockDesk.changed (the cluster's events stream, this node's own entries included)
    and forget_blocked (an account deleted): applied to what the relay holds, and told to
    the owner's sessions with the feature only when they changed it."""
    from protocol import Blocked, Unblocked

    bench = RelayBench(loop)
    bench.login("Mallory")
    bob = bench.login("Bob", "correct horse", register=True)
    desk = bench.relay.block_desk
    desk.sessions.add(bob)
    carol = bench.login("Carol", "correct horse", register=True)
    desk.sessions.add(carol)

    def told(session) -> list:
        return [e for e in session.sent if isinstance(e, (Blocked, Unblocked))]

    bob.sent.clear()
    carol.sent.clear()
    desk.changed("bob", "mallory", False)  # not blocked: nothing changes
    desk.changed("bob", "mallory", True)
    desk.changed("bob", "mallory", True)  # the stream says it again (this node's own entry)
    assert told(bob) == [Blocked("Mallory")] and desk.blocked["bob"] == {"mallory"}
    desk.changed("bob", "mallory", False)
    desk.changed("bob", "mallory", False)
    assert told(bob) == [Blocked("Mallory"), Unblocked("Mallory")] and desk.blocked["bob"] == set()
    desk.changed("bob", "mallory", True)
    desk.changed("carol", "eve", True)
    bob.sent.clear()
    carol.sent.clear()
    desk.forget_blocked("mallory")  # Mallory's account is gone: Bob blocks nobody of that name now
    assert told(bob) == [Unblocked("Mallory")] and told(carol) == []
    assert desk.blocked["bob"] == set() and desk.blocked["carol"] == {"eve"}
    bench.store.close()


def test_a_block_or_unblock_the_store_did_not_take_leaves_things_as_they_were(loop):
    """A store error (not done) puts the block back as it was; one that may have been
    done (no answer in time) keeps a block, the safer side (BlockDesk._block)."""
    from server.store import StoreUnavailable

    bench = RelayBench(loop)
    bob = bench.login("Bob", "correct horse", register=True)
    bench.relay.handle(bob, Block("b1", "Mallory"))
    bench.settle()
    assert bob.take(Done) == [Done("b1")]
    real = bench.store.set_block
    maybe_done = False

    def failing(owner, target, blocking, on_done, on_error):
        loop.call_soon(on_error, StoreUnavailable("disk full", maybe_done=maybe_done))

    bench.store.set_block = failing
    desk = bench.relay.block_desk
    bench.relay.handle(bob, Unblock("u1", "Mallory"))
    bench.settle()
    assert [e.request_id for e in bob.take(ErrorReply)] == ["u1"] and desk.blocked["bob"] == {"mallory"}
    bench.relay.handle(bob, Block("b2", "Eve"))
    bench.settle()
    assert [e.request_id for e in bob.take(ErrorReply)] == ["b2"] and desk.blocked["bob"] == {"mallory"}
    maybe_done = True
    bench.relay.handle(bob, Unblock("u2", "Mallory"))
    bench.relay.handle(bob, Block("b3", "Eve"))
    bench.relay.handle(bob, Unblock("u3", "Zed"))  # may have unblocked whom it did not block: nothing
    bench.settle()
    assert [e.request_id for e in bob.take(ErrorReply)] == ["u2", "b3", "u3"]
    assert desk.blocked["bob"] == {"mallory", "eve"}  # what may be blocked is applied
    bench.store.set_block = real
    bench.store.close()


def test_an_account_blocks_at_most_max_blocked_names_and_a_refused_block_changes_nothing(loop, store_kind):
    """Each block is kept for good: past ``max_blocked`` names a new one is refused with
    ``too_many_blocked`` (stored nowhere); blocking a name again, and unblocking, still
    work, and an unblock makes room."""
    from protocol import ErrorCode
    bench = RelayBench(loop, store_kind)
    bench.relay = Relay(ServerConfig(max_blocked=3), bench.store)
    bob = bench.login("Bob", "correct horse", register=True)
    for request in (Block("b1", "Ana"), Block("b2", "Bia"), Block("b3", "Carl"), Block("b4", "Dora"),
                    Block("b5", "ana")):
        bench.relay.handle(bob, request)
    bench.settle()
    assert [done.request_id for done in bob.take(Done)] == ["b1", "b2", "b3", "b5"]
    [refused] = bob.take(ErrorReply)
    assert (refused.request_id, refused.code) == ("b4", ErrorCode.TOO_MANY_BLOCKED)
    assert blocked_names(bench, bob).blocked == ("ana", "bia", "carl")
    bench.relay = Relay(ServerConfig(max_blocked=3), bench.store)  # a restart: nothing of Dora was stored
    bob = bench.login("Bob", "correct horse")
    assert blocked_names(bench, bob).blocked == ("ana", "bia", "carl")
    for request in (Unblock("u1", "Bia"), Block("b6", "Dora"), Block("b7", "Eva")):
        bench.relay.handle(bob, request)
    bench.settle()
    assert [done.request_id for done in bob.take(Done)] == ["u1", "b6"]
    assert [(e.request_id, e.code) for e in bob.take(ErrorReply)] == [("b7", ErrorCode.TOO_MANY_BLOCKED)]
    assert blocked_names(bench, bob).blocked == ("ana", "carl", "dora")
    bench.store.close()
