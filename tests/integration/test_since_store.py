"""Feature since on every store (store.since, mailbox.since): a user's direct messages in
every conversation after a msg_id, as history shows them, paged forward with a cursor."""

from __future__ import annotations

import asyncio

import pytest

import const
from server.mailbox import StoredMessage
from test_store import STORE_KINDS, dm, open_store, settle


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def ask(loop, store, me: str, after: int, limit: int):
    answers: list = []
    store.since(me, after, limit, answers.append, answers.append)
    settle(loop, store)
    [answer] = answers
    assert isinstance(answer, tuple), answer
    return answer


def put(loop, store, *messages: StoredMessage) -> list[int]:
    ids: list = []
    for message in messages:
        store.store_message(message, lambda result: ids.append(result[0].msg_id), ids.append)
    settle(loop, store)
    assert all(isinstance(i, int) for i in ids), ids
    return ids


def room_post(sender: str, room: str | None, client_id: str) -> StoredMessage:
    return StoredMessage(0, sender, sender.lower(), room, room, f"{sender} in {room}", 1500.0, client_id, "room", None)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_since_gives_every_conversation_of_mine_in_id_order_and_nobody_elses(loop, kind):
    store = open_store(loop, kind=kind)
    ids = put(loop, store,
              dm(0, "Bob", "joao", "b1"),                      # to me, a known contact
              dm(0, "Carol", "Dave", "c1"),                    # not mine
              room_post("joao", "#redes", "r1"),               # mine, but a room's
              dm(0, "Ana", "joao", "a1", state="delivered"),   # a new contact, delivered elsewhere
              room_post("joao", None, "r2"),                   # the default room's
              dm(0, "joao", "Ana", "j1"),                      # mine, sent
              dm(0, "joao", "joao", "s1"))                     # to myself: once
    entries, cursor = ask(loop, store, "joao", 0, 50)
    assert [e.msg_id for e in entries] == [ids[0], ids[3], ids[5], ids[6]]
    assert cursor is None
    ana = entries[1]
    assert (ana.sender, ana.to, ana.text, ana.state, ana.edited, ana.deleted) == (
        "Ana", "joao", "Ana->joao 0", "delivered", False, False)
    # After an id: only the newer ones.
    assert [e.msg_id for e in ask(loop, store, "joao", ids[3], 50)[0]] == [ids[5], ids[6]]
    assert ask(loop, store, "joao", ids[6], 50) == ([], None)
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_full_page_leads_on_from_its_last_message_and_the_pages_together_hold_each_once(loop, kind):
    store = open_store(loop, kind=kind)
    ids = put(loop, store, *[dm(0, "Ana" if n % 2 else "Carol", "joao" if n % 3 else "Dave", f"m{n}")
                              for n in range(12)])
    mine = [i for n, i in enumerate(ids) if n % 3]
    seen, after = [], 0
    for _ in range(10):
        entries, cursor = ask(loop, store, "joao", after, 3)
        assert len(entries) <= 3
        seen += [e.msg_id for e in entries]
        if cursor is None:
            break
        after = cursor
    assert seen == mine
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_walk_stops_after_its_scan_and_its_cursor_goes_on_from_there(loop, kind, monkeypatch):
    """Others' traffic between mine: each request looks through SINCE_SCAN ids at most,
    and says where it stopped, so that a page costs the store a bounded walk."""
    monkeypatch.setattr(const, "SINCE_SCAN", 4)
    store = open_store(loop, kind=kind)
    ids = put(loop, store, *[dm(0, "Carol", "Dave", f"c{n}") for n in range(9)], dm(0, "Ana", "joao", "a1"))
    first = ids[0] - 1
    if kind == "redis":
        # Redis reads joao's conversations that moved (peers:<key>), not everyone's ids:
        # a walk of 2,000 ids held Redis 15 ms a page, every other command waiting.
        entries, cursor = ask(loop, store, "joao", first, 50)
        assert [e.msg_id for e in entries] == [ids[9]] and cursor is None
        store.close()
        return
    assert ask(loop, store, "joao", first, 50) == ([], first + 4)
    assert ask(loop, store, "joao", first + 4, 50) == ([], first + 8)
    entries, cursor = ask(loop, store, "joao", first + 8, 50)
    assert [e.msg_id for e in entries] == [ids[9]] and cursor is None
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_pages_of_messages_hidden_from_me_never_hide_older_visible_ones(loop, kind):
    """Mallory's messages, which joao blocked, fill whole pages of his conversation with her
    before Ana's: every page goes on, and Ana's come, each once, in order."""
    store = open_store(loop, kind=kind)
    hidden = put(loop, store, *[dm(0, "Mallory", "joao", f"m{n}", state="blocked") for n in range(7)])
    ana = put(loop, store, dm(0, "Ana", "joao", "a1"), *[dm(0, "Mallory", "joao", f"n{n}", state="blocked")
                                                        for n in range(3)], dm(0, "Ana", "joao", "a2"))
    after, seen = hidden[0] - 1, []
    for _ in range(20):
        entries, cursor = ask(loop, store, "joao", after, 2)
        seen += [e.msg_id for e in entries]
        if cursor is None:
            break
        assert cursor > after
        after = cursor
    assert seen == [ana[0], ana[4]]
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_what_i_blocked_is_not_mine_to_see_and_what_was_blocked_of_mine_shows_as_sent(loop, kind):
    store = open_store(loop, kind=kind)
    ids = put(loop, store, dm(0, "Mallory", "joao", "x1", state="blocked"),
              dm(0, "joao", "Eve", "x2", state="blocked"))
    entries, _ = ask(loop, store, "joao", 0, 50)
    assert [(e.msg_id, e.state) for e in entries] == [(ids[1], "sent")]
    assert [(e.msg_id, e.state) for e in ask(loop, store, "mallory", 0, 50)[0]] == [(ids[0], "sent")]
    store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_edits_and_deletes_show_as_in_history(loop, kind):
    store = open_store(loop, kind=kind)
    ids = put(loop, store, dm(0, "Ana", "joao", "e1", sent_at=10**9), dm(0, "Ana", "joao", "e2", sent_at=10**9))
    answers: list = []
    now = 10**9 + 50.0
    store.change_message(ids[0], "ana", "fixed", now, 900.0, frozenset(), answers.append, answers.append)
    store.change_message(ids[1], "ana", None, now, 900.0, frozenset(), answers.append, answers.append)
    settle(loop, store)
    history: list = []
    store.history("joao", "ana", None, 50, 0, history.append, history.append)
    settle(loop, store)
    entries, _ = ask(loop, store, "joao", 0, 50)
    assert entries == history[0][0]
    assert [(e.text, e.edited, e.deleted) for e in entries] == [("fixed", True, False), ("", False, True)]
    store.close()


# --- The relay: the feature, the guest's epoch, pages that fit ---------------------------------


def login(bench, name: str, password: str | None = None, register: bool = False, features=("since",)):
    """A session of ``name`` whose hello asked for ``features`` (RelayBench.login asks none)."""
    from protocol import Hello, Welcome
    from test_store import FakeSession
    bench.ports += 1
    session = FakeSession(bench.ports)
    bench.relay.connected(session)
    bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, password, register,
                                      bench.tokens.get(name.lower()), features))
    bench.settle()
    [welcome] = session.take(Welcome)
    if welcome.resume:
        bench.tokens[name.lower()] = welcome.resume
    return session


def since(bench, session, after: int, limit: int = 50):
    from protocol import SincePage, SinceRequest
    bench.relay.handle(session, SinceRequest("s", after, limit))
    bench.settle()
    [page] = session.take(SincePage)
    return page


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_device_that_was_away_finds_a_new_contacts_message_it_never_got(loop, kind):
    from protocol import Accepted, DirectMessage, Receipt, SendDirect
    from test_store import RelayBench
    bench = RelayBench(loop, kind)
    joao_a = login(bench, "Joao", "correct horse", register=True)
    bench.relay.handle(joao_a, SendDirect("j1", "Joao", "a note to myself"))
    bench.settle()
    [mine] = joao_a.take(Accepted)
    seen = mine.msg_id  # device B had seen up to here, then went away
    ana, carol = login(bench, "Ana"), login(bench, "Carol")
    login(bench, "Dave")
    bench.relay.handle(carol, SendDirect("c1", "Dave", "not João's"))
    bench.relay.handle(ana, SendDirect("a1", "Joao", "oi, João"))
    bench.settle()
    [_to_myself, dm] = joao_a.take(DirectMessage)
    bench.relay.handle(joao_a, Receipt(dm.msg_id))  # delivered to device A: no queue keeps it
    bench.settle()
    joao_b = login(bench, "Joao", "correct horse")
    page = since(bench, joao_b, seen)
    assert [(m.msg_id, m.sender, m.text, m.state) for m in page.messages] == [
        (dm.msg_id, "Ana", "oi, João", "delivered")]
    assert page.next_id is None
    # Nobody reads for another: Carol's page has only her own.
    assert [m.text for m in since(bench, carol, 0).messages] == ["not João's"]
    bench.store.close()


def test_since_needs_its_feature_and_says_so_with_the_request_id(loop):
    from protocol import ErrorReply, SinceRequest
    from test_store import RelayBench
    bench = RelayBench(loop, "memory")
    old = login(bench, "Joao", features=None)
    bench.relay.handle(old, SinceRequest("s9", 0, 10))
    bench.settle()
    [error] = old.take(ErrorReply)
    assert (error.code, error.request_id) == ("unknown_type", "s9") and "since" in error.message
    bench.store.close()


def test_a_guest_finds_nothing_of_an_earlier_holder_of_its_name(loop):
    from protocol import SendDirect
    from test_store import RelayBench
    bench = RelayBench(loop, "memory")
    bench.relay.logins.guests.hold = 0.0  # the hold is over as soon as the first Zeca leaves
    first = login(bench, "Zeca")
    ana = login(bench, "Ana")
    bench.relay.handle(ana, SendDirect("a1", "Zeca", "for the first Zeca"))
    bench.settle()
    assert [m.text for m in since(bench, first, 0).messages] == ["for the first Zeca"]
    bench.relay.disconnected(first, None)
    bench.tokens.clear()  # someone else takes the name
    second = login(bench, "Zeca")
    assert since(bench, second, 0).messages == ()
    bench.store.close()


def test_a_page_of_long_messages_is_cut_to_one_frame_and_goes_on_after_its_last(loop):
    from protocol import codec
    from test_store import RelayBench
    bench = RelayBench(loop, "memory")
    joao = login(bench, "Joao")
    # Stored straight (the relay's byte budget would slow a sender of this much down).
    put(loop, bench.store, *[dm(0, "Ana", "Joao", f"a{n}", text=f"{n} " + "é" * (const.MAX_TEXT_CHARS - 4))
                             for n in range(40)])
    got, after, pages = [], 0, 0
    while True:
        page = since(bench, joao, after, 500)
        pages += 1
        assert codec.fits(page) and page.messages
        got += [m.text.split()[0] for m in page.messages]
        if page.next_id is None:
            break
        assert page.next_id == page.messages[-1].msg_id
        after = page.next_id
    assert got == [str(n) for n in range(40)] and pages > 1
    bench.store.close()


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_the_welcome_says_the_last_id_from_which_a_since_finds_only_what_came_after(loop, kind):
    """With the feature since, the welcome's ``last_id`` is the last message id given out
    then: a client that has shown nothing yet catches up from it after a reconnection
    (PROTOCOL.md, ``welcome``). Without the feature, the welcome leaves it out."""
    from protocol import Accepted, Hello, SendDirect, Welcome
    from test_store import FakeSession, RelayBench
    bench = RelayBench(loop, kind)

    def welcome_of(name: str, features) -> tuple:
        bench.ports += 1
        session = FakeSession(bench.ports)
        bench.relay.connected(session)
        bench.relay.handle(session, Hello("h", name, const.PROTOCOL_VERSION, None, False, None, features))
        bench.settle()
        [welcome] = session.take(Welcome)
        return session, welcome

    ana, welcome = welcome_of("Ana", ("since",))
    assert welcome.last_id == 0  # nothing given out yet: every message is after this login
    bia, _ = welcome_of("Bia", None)
    bench.relay.handle(ana, SendDirect("a1", "Bia", "antes"))
    bench.relay.handle(ana, SendDirect("a2", "Bia", "antes também"))
    bench.settle()
    assert [e.msg_id for e in ana.take(Accepted)] == [1, 2]
    joao, welcome = welcome_of("Joao", ("since",))
    assert welcome.last_id == 2
    bench.relay.handle(ana, SendDirect("a3", "Joao", "depois"))
    bench.settle()
    assert [m.text for m in since(bench, joao, welcome.last_id).messages] == ["depois"]
    _, older = welcome_of("Carol", None)
    assert older.last_id is None
    bench.store.close()
