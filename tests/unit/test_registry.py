"""The registry: which names are valid, uniqueness without regard to case, and sessions."""

from __future__ import annotations

import pytest

import const
from registry import Endpoint, InvalidName, NameTaken, Registry, canonical, validate_name

VALID = [
    "alice", "Alice", "ALICE", "a", "7", "0day", "bob_2", "x-y.z", "a.", "a-", "a_",
    "a" * const.MAX_NAME_LENGTH, "server2", "servers", "my.server", "Admin1",
    "ålice", "zoë",  # letters of any script (issue 11); more in test_names.py
]

INVALID = [
    "",
    "a" * (const.MAX_NAME_LENGTH + 1),
    "al ice", " alice", "alice ", "\talice",
    "al\x00ice", "alice\n", "alice\r", "al\x7fice", "al\u200bice",   # control / invisible
    "\u0410lice",            # Cyrillic capital A: looks like "Alice"
    "\u0430lice",            # Cyrillic small a
    "alice🌍",               # a symbol
    ".alice", "_alice", "-alice", "..",
    "al/ice", "al@ice", "al:ice", "al'ice", "<alice>",
    "server", "SERVER", "Server", "sErVeR",
] + sorted(const.RESERVED_NAMES) + sorted(n.upper() for n in const.RESERVED_NAMES)


@pytest.mark.parametrize("name", VALID)
def test_valid_names(name):
    assert validate_name(name) == name
    reg = Registry()
    record = reg.register(name, "192.0.2.1", 4000, 1.0, object())
    assert record.name == name and reg.lookup(name) is record


@pytest.mark.parametrize("name", INVALID, ids=repr)
def test_invalid_names(name):
    with pytest.raises(InvalidName) as info:
        validate_name(name)
    assert str(info.value)  # says why, for the user
    reg = Registry()
    with pytest.raises(InvalidName):
        reg.register(name, "192.0.2.1", 4000, 1.0, object())
    assert len(reg) == 0 and reg.online() == []


def test_server_name_is_reserved():
    with pytest.raises(InvalidName):
        validate_name(const.SERVER_NAME)


@pytest.mark.parametrize("name", ["You", "you", "Você", "VOCÊ", "Voce\u0302", "Todos", "TODOS"])
def test_the_words_the_clients_label_the_reader_and_the_broadcast_room_with_are_reserved(name):
    """The page and the window show one's own messages as "You" ("Você" in Portuguese) and
    the broadcast room as "Everyone" ("Todos"): a user of that name posted in a room under
    the reader's own label, and was listed beside the broadcast room under its name."""
    with pytest.raises(InvalidName):
        validate_name(name)


def _registry_with(*names):
    reg = Registry()
    sessions = {}
    for i, name in enumerate(names):
        sessions[name] = object()
        reg.register(name, f"192.0.2.{i + 1}", 5000 + i, 100.0 + i, sessions[name])
    return reg, sessions


@pytest.mark.parametrize("second", ["alice", "ALICE", "aLiCe", "Alice"])
def test_names_are_unique_case_insensitively(second):
    reg, sessions = _registry_with("Alice")
    with pytest.raises(NameTaken):
        reg.register(second, "198.51.100.7", 6000, 200.0, object())
    record = reg.lookup("alice")
    assert record.name == "Alice"
    [endpoint] = record.endpoints
    assert (endpoint.address, endpoint.port, endpoint.since) == ("192.0.2.1", 5000, 100.0)
    assert endpoint.session is sessions["Alice"]
    assert len(reg) == 1


@pytest.mark.parametrize("query", ["alice", "ALICE", "Alice", "aLICE"])
def test_lookup_in_any_case(query):
    reg, _ = _registry_with("Alice", "bob")
    assert reg.lookup(query).name == "Alice"
    assert query in reg
    assert reg.lookup("carol") is None and "carol" not in reg
    assert canonical(query) == "alice"


def test_unregister_removes_only_the_matching_session():
    reg, sessions = _registry_with("alice", "bob")
    assert reg.unregister("alice", object()) is False     # not alice's session
    assert reg.unregister("alice", sessions["bob"]) is False
    assert reg.unregister("nobody", sessions["alice"]) is False
    assert reg.lookup("alice") is not None and len(reg) == 2
    assert reg.unregister("ALICE", sessions["alice"]) is True
    assert reg.lookup("alice") is None and "alice" not in reg
    assert [r.name for r in reg.online()] == ["bob"]


def test_stale_session_does_not_remove_a_newer_one():
    reg = Registry()
    old, new = object(), object()
    reg.register("alice", "192.0.2.1", 5000, 1.0, old)
    assert reg.unregister("alice", old) is True
    reg.register("Alice", "192.0.2.2", 5001, 2.0, new)
    assert reg.unregister("alice", old) is False  # the late cleanup of the old session
    record = reg.lookup("alice")
    assert record.name == "Alice" and record.endpoints[0].session is new
    assert reg.unregister("alice", new) is True
    assert len(reg) == 0


def test_name_is_free_again_after_unregister():
    reg, sessions = _registry_with("alice")
    reg.unregister("alice", sessions["alice"])
    record = reg.register("ALICE", "203.0.113.9", 7000, 3.0, object())
    assert reg.lookup("alice") is record and record.since == 3.0


def test_online_is_sorted_case_insensitively():
    reg, _ = _registry_with("carol", "Bob", "dave_9", "alice", "Eve", "0day", "Zed")
    assert [r.name for r in reg.online()] == ["0day", "alice", "Bob", "carol", "dave_9", "Eve", "Zed"]
    assert len(reg) == 7


def test_record_remembers_where_the_user_connected_from():
    reg, sessions = _registry_with("alice", "bob")
    bob = reg.lookup("BOB")
    assert (bob.endpoints[0].address, bob.endpoints[0].port, bob.since) == ("192.0.2.2", 5001, 101.0)
    assert bob.endpoints[0].session is sessions["bob"]


def test_a_user_with_one_connection_costs_the_registry_three_objects_not_four():
    # Every idle connection keeps its registry record (issue 9's 2,560 bytes): the record,
    # its endpoint and the tuple of sessions the relay reads per message. The endpoints of
    # a user with one connection are that endpoint, not a tuple of one (48 bytes more, 224
    # in all); the tuple is made when asked for, and several connections still keep theirs.
    import gc
    import linecache
    import tracemalloc

    registry, sessions = Registry(), [object() for _ in range(1000)]
    names = [f"user{i}" for i in range(1000)]
    registry.register("warm", "192.0.2.1", 1, 1.0, object())  # the dicts' first tables
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        for i, name in enumerate(names):
            registry.register(name, "192.0.2.1", 5000, 100.0, sessions[i])
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    records = [stat for stat in after.compare_to(before, "lineno")
               if stat.traceback[0].filename.endswith("registry.py") and stat.size_diff > 0
                              and "UserRecord(" in linecache.getline(stat.traceback[0].filename, stat.traceback[0].lineno)]
    per_user = sum(stat.size_diff for stat in records) / len(names)
    assert per_user <= 180, per_user  # 224 before
    record = registry.lookup("user7")
    assert record.sessions == (sessions[7],) and record.since == 100.0
    [endpoint] = record.endpoints
    assert (endpoint.address, endpoint.port, endpoint.session) == ("192.0.2.1", 5000, sessions[7])
    second = object()
    shared = Registry()
    shared.register("Carol", "192.0.2.3", 1, 5.0, sessions[0], shared=True)
    shared.register("carol", "192.0.2.4", 2, 3.0, second, shared=True)
    record = shared.lookup("CAROL")
    assert [e.session for e in record.endpoints] == [sessions[0], second] and record.since == 3.0
    assert record.sessions == (sessions[0], second)
    assert not shared.unregister("Carol", sessions[0])
    assert [e.session for e in record.endpoints] == [second] and record.sessions == (second,)
    assert record.since == 3.0


def test_a_user_with_one_connection_keeps_no_endpoint_object():
    # Issue 9 (2.5 KiB per idle connection): the record of a user with one connection
    # keeps that connection's address, port and time itself, and the Endpoint is made when
    # asked for: an Endpoint object was 64 bytes of every idle connection. Several
    # connections still keep their Endpoints; the endpoints read the same either way.
    import gc
    import sys

    session, second = object(), object()
    registry = Registry()
    record = registry.register("João", "192.0.2.1", 5000, 100.0, session)
    assert not any(type(part) is Endpoint for part in gc.get_referents(record))
    assert sys.getsizeof(record) <= 80  # 64 with a 1-tuple or an Endpoint beside it (128 in all)
    assert record.endpoints == (Endpoint("192.0.2.1", 5000, 100.0, session),)
    assert record.endpoints[0].session is session and record.sessions == (session,)
    shared = Registry()
    shared.register("Conceição", "192.0.2.1", 5000, 100.0, session, shared=True)
    record = shared.register("conceição", "192.0.2.2", 5001, 90.0, second, shared=True)
    assert record.endpoints == (Endpoint("192.0.2.1", 5000, 100.0, session), Endpoint("192.0.2.2", 5001, 90.0, second))
    assert record.sessions == (session, second) and record.since == 90.0
    assert not shared.unregister("Conceição", session)
    assert not any(type(part) is Endpoint for part in gc.get_referents(record))
    assert record.endpoints == (Endpoint("192.0.2.2", 5001, 90.0, second),) and record.sessions == (second,)
    assert record.endpoints[0].session is second and record.since == 90.0
