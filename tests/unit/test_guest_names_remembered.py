"""How long an offline guest's name is remembered (server/guests.py, GuestNames): a day
after they left (const.GUEST_REMEMBERED), or, while more than ``most`` names are held, as
soon as its hold is over, those longest gone first. Pure: times are given (and the holdings
as the SQLite file keeps them, in memory)."""

import sqlite3

from server.guests import Claim, GuestNames, Holding, load_holdings, save_holding


def guests_who_left(names: GuestNames, *left: tuple[str, float]) -> None:
    for key, _when in left:
        names.take(key, key.capitalize(), 0)
    for key, when in left:
        names.left(key, when)


def test_a_name_past_its_hold_is_remembered_until_the_day_is_over() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0, most=5)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0))
    assert not names.has_due(50.0) and names.forgettable(50.0, 10) == []
    assert names.has_due(100.5) and names.forgettable(100.5, 10) == ["ana"]
    assert names.forgettable(101.5, 10) == ["bia"]


def test_a_crowded_server_forgets_the_longest_gone_as_soon_as_their_hold_is_over() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0, most=2)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0), ("caio", 2.0))
    assert not names.has_due(9.5) and names.forgettable(9.5, 10) == []  # all still held
    assert names.has_due(10.5) and names.forgettable(10.5, 10) == ["ana"]  # bia's hold is not over
    names.forget("ana")
    assert not names.has_due(11.5) and names.forgettable(11.5, 10) == []  # two held: not crowded


def test_a_guest_who_leaves_again_is_remembered_from_their_last_leaving() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0))
    names.arrived("ana")
    names.left("ana", 3.0)
    assert names.forgettable(101.5, 10) == ["bia"]  # ana, gone again since 3.0, waits behind her
    assert names.forgettable(103.5, 10) == ["ana"]


def test_the_hold_is_never_longer_than_the_memory() -> None:
    assert GuestNames({}, hold=600.0, remembered=0.0).remembered == 600.0


def test_a_crowded_server_forgets_only_as_many_as_are_too_many() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0, most=1)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0), ("caio", 2.0))
    assert names.forgettable(50.0, 10) == ["ana", "bia"]  # all past their hold; caio remembered


def test_names_read_back_at_a_start_are_remembered_from_when_they_left_and_one_online_is_not_due() -> None:
    stored = {"ana": Holding("Ana", b"t" * 32, 0, 0.0), "bia": Holding("Bia", b"u" * 32, 0, None)}
    names = GuestNames(stored, hold=10.0, remembered=100.0)
    assert not names.has_due(99.5) and names.forgettable(99.5, 10) == []
    assert names.forgettable(100.5, 10) == ["ana"]  # bia, online, is no one's to forget


def test_a_name_is_due_at_the_very_moment_its_memory_ends() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0)
    guests_who_left(names, ("ana", 0.0))
    assert names.has_due(100.0) and names.forgettable(100.0, 10) == ["ana"]
    brief = GuestNames({}, hold=10.0, remembered=0.0)  # remembered no longer than held: both end at once
    guests_who_left(brief, ("ana", 0.0))
    assert brief.forgettable(10.0, 10) == ["ana"]


def test_a_pass_offers_at_most_its_limit_and_the_next_one_the_rest_in_order() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0), ("caio", 2.0))
    assert names.forgettable(200.0, 2) == ["ana", "bia"]
    assert names.forgettable(200.0, 2) == ["caio"]


def test_a_holder_who_came_back_is_neither_offered_nor_held_up_by_the_hold() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0))
    names.arrived("ana")
    assert names.decide("ana", None, 50.0) == (Claim.HELD, float("inf"))  # online: held while she is
    assert names.forgettable(101.5, 10) == ["bia"]


def test_a_crowded_server_is_due_at_the_end_of_a_hold_and_not_while_everyone_is_online() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0, most=1)
    guests_who_left(names, ("ana", 0.0), ("bia", 1.0))
    assert not names.has_due(9.5) and names.has_due(10.0) and names.forgettable(10.0, 10) == ["ana"]
    online = GuestNames({}, hold=10.0, remembered=100.0, most=1)
    for key in ("ana", "bia"):
        online.take(key, key.capitalize(), 0)
    assert not online.has_due(1000.0) and online.forgettable(1000.0, 10) == []


def test_a_forgotten_name_no_longer_looks_like_anyone() -> None:
    names = GuestNames({}, hold=10.0, remembered=100.0)
    guests_who_left(names, ("ana", 0.0))
    assert names.lookalikes.rivals("Аna") == ["Ana"]  # (a Cyrillic А)
    names.forget("ana")
    assert names.lookalikes.rivals("Аna") == []


def test_holdings_read_from_the_file_count_one_thought_online_as_gone_at_the_start() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE guests (name_key TEXT PRIMARY KEY, name TEXT, token_hash BLOB, epoch INTEGER,"
               " left_at REAL)")
    save_holding(db, "ana", Holding("Ana", b"t" * 32, 7, 5.0))
    save_holding(db, "bia", Holding("Bia", b"u" * 32, 9, None))  # the server stopped without noting her leaving
    assert load_holdings(db, 50.0) == {"ana": Holding("Ana", b"t" * 32, 7, 5.0),
                                       "bia": Holding("Bia", b"u" * 32, 9, 50.0)}
