"""A guest gives its name up (PROTOCOL.md, "``revoke``"; server/guests.py, GuestNames.give_up):
only with its own token; the token then proves nothing, the name stays held while its
session is online, and once it left nobody holds it: the next hello, with the old token or
not, takes it as a new holder (the relay's take then does what a take does). Fake clocks."""

from server.guests import GIVEN_UP, Claim, GuestNames, Holding

HOLD = 600.0


class Clocks:
    """A wall clock and a monotonic one, moved together."""

    def __init__(self) -> None:
        self.wall, self.steady = 1_800_000_000.0, 50.0

    def monotonic(self) -> float:
        return self.steady

    def now(self) -> float:
        return self.wall


def ana_online(clocks: Clocks) -> tuple[GuestNames, str]:
    names = GuestNames({}, hold=HOLD, clock=clocks.monotonic, wall=clocks.now)
    token, _ = names.take("ana", "Ana", 7)
    return names, token


def test_the_holder_gives_its_name_up_and_once_it_left_the_next_hello_takes_it_at_once() -> None:
    clocks = Clocks()
    names, token = ana_online(clocks)
    holding = names.give_up("ana", token)
    assert holding is not None and holding.token_hash == GIVEN_UP and holding.epoch == 7
    # Still online: held, for the old token too (it proves nothing now).
    assert names.decide("ana", None, clocks.wall) == (Claim.HELD, float("inf"))
    assert names.decide("ana", token, clocks.wall) == (Claim.HELD, float("inf"))
    names.left("ana", clocks.wall)
    # Gone: no hold. Without the token, with another, or with the one given up: a new taker.
    assert names.decide("ana", None, clocks.wall) == (Claim.TAKE, 0.0)
    assert names.decide("ana", "b" * 43, clocks.wall) == (Claim.TAKE, 0.0)
    assert names.decide("ana", token, clocks.wall) == (Claim.TAKE, 0.0)
    assert names.held_lookalikes("Аna", clocks.wall) == []  # (Cyrillic A): no longer held either


def test_nobody_gives_up_a_name_with_a_token_that_is_not_its_own() -> None:
    clocks = Clocks()
    names, token = ana_online(clocks)
    other, _ = names.take("bob", "Bob", 7)
    for wrong in (None, "", other, "a" * 43):
        assert names.give_up("ana", wrong) is None
    assert names.give_up("nobody", token) is None
    names.left("ana", clocks.wall)
    clocks.wall += 1.0
    clocks.steady += 1.0
    assert names.decide("ana", None, clocks.wall) == (Claim.HELD, clocks.wall - 1.0 + HOLD)
    assert names.decide("ana", token, clocks.wall) == (Claim.RESUME, 0.0)


def test_a_given_up_holding_read_back_from_the_store_is_held_by_nobody() -> None:
    # A restart (or another node) reads it with the time its holder left: a moment ago.
    clocks = Clocks()
    stored = {"ana": Holding("Ana", GIVEN_UP, 7, clocks.wall - 1.0)}
    names = GuestNames(stored, hold=HOLD, clock=clocks.monotonic, wall=clocks.now)
    assert names.decide("ana", None, clocks.wall) == (Claim.TAKE, 0.0)
    assert names.hold_left(stored["ana"], clocks.wall) <= 0


def test_a_given_up_name_is_still_forgotten_only_once_no_longer_remembered() -> None:
    # Giving up ends the hold, not the day a holding is remembered (what waited for it
    # still expires at the next take, or when it is forgotten).
    clocks = Clocks()
    names = GuestNames({}, hold=HOLD, remembered=86400.0, clock=clocks.monotonic, wall=clocks.now)
    token, _ = names.take("ana", "Ana", 7)
    names.give_up("ana", token)
    names.left("ana", clocks.wall)
    assert names.forgettable(clocks.wall + 1.0, 10) == []
    assert names.forgettable(clocks.wall + 86400.0, 10) == ["ana"]


def test_an_echo_of_the_holding_from_before_the_give_up_does_not_bring_the_token_back() -> None:
    # A cluster node reads back on the events stream what it published: the holding of the
    # take (the old token) may come after the give-up here. It stays given up, until the
    # give-up's own echo (or a newer holding) is heard: nothing older follows that.
    clocks = Clocks()
    names, token = ana_online(clocks)
    old = names.holdings["ana"].token_hash
    names.give_up("ana", token)
    assert names.echoed("ana", old) == GIVEN_UP
    assert names.echoed("ana", GIVEN_UP) == GIVEN_UP  # its own echo: the window closes
    assert names.echoed("ana", old) == old  # a newer holding of that token (taken again)
    assert names.echoed("bob", old) == old


def test_a_give_up_the_store_failed_gives_the_token_back_to_the_holding_here_now() -> None:
    clocks = Clocks()
    names, token = ana_online(clocks)
    old = names.holdings["ana"].token_hash
    names.give_up("ana", token)
    # An echo replaced the object meanwhile (given up all the same).
    names.holdings["ana"] = Holding("Ana", names.echoed("ana", old), 7, None)
    names.not_given_up("ana", old, 7)
    assert names.holdings["ana"].token_hash == old and names.giving_up == {}
    assert names.decide("ana", token, clocks.wall) == (Claim.RESUME, 0.0)
    names.not_given_up("ana", b"x" * 32, 6)  # another epoch's: nothing
    assert names.holdings["ana"].token_hash == old


def test_a_new_take_or_forgetting_ends_the_give_up_window() -> None:
    clocks = Clocks()
    names, token = ana_online(clocks)
    names.give_up("ana", token)
    names.left("ana", clocks.wall)
    names.take("ana", "Ana", 8, proposed=token)  # the same guest, back as the next taker
    assert names.giving_up == {}
    assert names.decide("ana", token, clocks.wall) == (Claim.RESUME, 0.0)
    names.give_up("ana", token)
    names.forget("ana")
    assert names.giving_up == {}
