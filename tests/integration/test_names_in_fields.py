"""A name that breaks the naming rules is `invalid_name` in every field that holds one
(PROTOCOL.md "Names", rule 1): `to`, `whois`'s `name`, `history`'s `with`, not
`unknown_recipient`, an unknown user or an empty page. The relay over a store, with fake
sessions (no socket): see test_store.py's RelayBench.

The check costs a successful direct message nothing: the name is checked only once the
lookup has found nobody, so a name someone has is never validated again.
"""

from __future__ import annotations

import pytest

from protocol import (
    Accepted, DirectMessage, ErrorCode, ErrorReply, HistoryPage, HistoryRequest, LookupRequest, LookupResult, SendDirect,
)
from server import registrydesk  # where a name nobody has is checked (not_a_name)
from test_store import RelayBench, loop  # noqa: F401 (loop: a fixture)

# Each breaks a rule of "Names": a space, empty, reserved, mixed scripts (a Cyrillic А),
# a symbol, and a room's name where a person's belongs.
BROKEN = ["Ana Maria", "", "admin", "\u0410lice", "ana!", "#lab"]


@pytest.fixture
def bench(loop):  # noqa: F811 (the fixture imported above)
    bench = RelayBench(loop, "memory")
    yield bench
    bench.store.close()


@pytest.mark.parametrize("name", BROKEN)
def test_a_direct_message_to_a_broken_name_is_invalid_name(bench, name):
    alice = bench.login("Alice")
    bench.relay.handle(alice, SendDirect("s1", name, "olá"))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert (error.code, error.request_id) == (ErrorCode.INVALID_NAME, "s1"), error


def test_a_room_name_in_to_says_it_is_a_room(bench):
    alice = bench.login("Alice")
    bench.relay.handle(alice, SendDirect("s1", "#lab", "olá"))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert error.code == ErrorCode.INVALID_NAME and "room" in error.message and "'room'" in error.message, error


def test_a_valid_name_nobody_has_is_still_unknown_recipient(bench):
    alice = bench.login("Alice")
    bench.relay.handle(alice, SendDirect("s1", "Zé", "olá"))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert error.code == ErrorCode.UNKNOWN_RECIPIENT, error


def test_a_message_to_someone_known_never_checks_the_name(bench, monkeypatch):
    alice, _ = bench.login("Alice"), bench.login("Conceição")
    checked = []
    monkeypatch.setattr(registrydesk, "validate_name", lambda name: checked.append(name) or name)
    bench.relay.handle(alice, SendDirect("s1", "conceição", "olá"))
    bench.settle()
    assert alice.take(Accepted) and checked == []


@pytest.mark.parametrize("name", BROKEN)
def test_whois_of_a_broken_name_is_invalid_name(bench, name):
    alice = bench.login("Alice")
    bench.relay.handle(alice, LookupRequest("w1", name))
    bench.settle()
    assert not alice.take(LookupResult)
    [error] = alice.take(ErrorReply)
    assert (error.code, error.request_id) == (ErrorCode.INVALID_NAME, "w1"), error


def test_whois_of_a_valid_name_nobody_has_is_unknown(bench):
    alice = bench.login("Alice")
    bench.relay.handle(alice, LookupRequest("w1", "Zé"))
    bench.settle()
    [user] = alice.take(LookupResult)
    assert user.status == "unknown"


@pytest.mark.parametrize("name", [name for name in BROKEN if not name.startswith("#")])
def test_history_with_a_broken_name_is_invalid_name(bench, name):
    alice = bench.login("Alice")
    bench.relay.handle(alice, HistoryRequest("h1", name))
    bench.settle()
    assert not alice.take(HistoryPage)
    [error] = alice.take(ErrorReply)
    assert (error.code, error.request_id) == (ErrorCode.INVALID_NAME, "h1"), error


@pytest.mark.parametrize("name", ["Zé", "#lab"])
def test_history_with_a_valid_name_nobody_has_or_a_room_in_version_1_is_an_empty_page(bench, name):
    # "#lab" in version 1, which has no rooms: an empty page, as the doc says ("history").
    alice = bench.login("Alice")
    bench.relay.handle(alice, HistoryRequest("h1", name))
    bench.settle()
    [page] = alice.take(HistoryPage)
    assert page.messages == () and not alice.take(ErrorReply)


@pytest.mark.parametrize("typed,online", [("Joao", "João"), ("conceicao", "Conceição"), ("JOAO", "João")])
def test_a_message_to_a_name_nobody_has_names_the_one_online_that_looks_like_it(bench, typed, online):
    """``@Joao`` when only João is online (typed without the accent): unknown_recipient,
    with ``like`` naming João, so that the client can ask "did you mean João?". The message
    is not sent to João: the sender decides."""
    alice, person = bench.login("Alice"), bench.login(online)
    bench.relay.handle(alice, SendDirect("s1", typed, "oi"))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert (error.code, error.like, error.request_id) == (ErrorCode.UNKNOWN_RECIPIENT, online, "s1"), error
    assert not person.take(DirectMessage)


def test_a_message_to_a_name_nobody_has_never_suggests_the_sender(bench):
    """Joao writes to "João", whom nobody is: the one online name that looks like it is
    Joao's own, and "did you mean Joao?" would send him a message to himself."""
    joao = bench.login("Joao")
    bench.relay.handle(joao, SendDirect("s1", "João", "oi"))
    bench.settle()
    [error] = joao.take(ErrorReply)
    assert (error.code, error.like) == (ErrorCode.UNKNOWN_RECIPIENT, None), error
    assert "did you mean" not in error.message, error


def test_a_message_to_a_name_nobody_has_and_nobody_online_looks_like_has_no_like(bench):
    alice, _ = bench.login("Alice"), bench.login("Pedro")
    bench.relay.handle(alice, SendDirect("s1", "Joao", "oi"))
    bench.settle()
    [error] = alice.take(ErrorReply)
    assert (error.code, error.like) == (ErrorCode.UNKNOWN_RECIPIENT, None), error
