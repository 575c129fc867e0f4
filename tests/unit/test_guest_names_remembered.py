"""How long an offline guest's name is remembered (server/guests.py, GuestNames): a day
after they left (const.GUEST_REMEMBERED), or, while more than ``most`` names are held, as
soon as its hold is over, those longest gone first. Pure: times are given."""

from server.guests import GuestNames


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
