"""A guest name's hold (server/guests.py, GuestNames) is a duration: it runs on the
monotonic clock, so a step of the wall clock (NTP, a VM restored from a snapshot) neither
frees a held name early nor holds it for hours; a ``left_at`` from the store or another
node in the future (the clock stepped back since) counts as just now. Fake clocks."""

from server.guests import Claim, GuestNames, Holding

HOLD = 600.0


class Clocks:
    """A wall clock that can step and a monotonic one that cannot."""

    def __init__(self) -> None:
        self.wall, self.steady = 1_800_000_000.0, 50.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.steady += seconds

    def monotonic(self) -> float:
        return self.steady

    def now(self) -> float:
        return self.wall


def left_guest(clocks: Clocks) -> GuestNames:
    names = GuestNames({}, hold=HOLD, clock=clocks.monotonic, wall=clocks.now)
    names.take("ana", "Ana", 0)
    names.left("ana", clocks.wall)
    return names


def test_a_step_forward_of_the_wall_clock_does_not_free_a_held_name() -> None:
    clocks = Clocks()
    names = left_guest(clocks)
    clocks.tick(60.0)
    clocks.wall += 3600.0  # NTP corrects a clock an hour slow
    claim, until = names.decide("ana", None, clocks.wall)
    assert claim is Claim.HELD and until == clocks.wall + HOLD - 60.0  # told in today's wall time
    clocks.tick(HOLD - 60.0)
    assert names.decide("ana", None, clocks.wall)[0] is Claim.TAKE


def test_a_step_back_of_the_wall_clock_does_not_hold_a_name_for_hours() -> None:
    clocks = Clocks()
    names = left_guest(clocks)
    clocks.wall -= 3 * 3600.0  # a VM restored from a snapshot
    clocks.tick(HOLD - 1.0)
    assert names.decide("ana", None, clocks.wall) == (Claim.HELD, clocks.wall + 1.0)
    clocks.tick(1.0)
    assert names.decide("ana", None, clocks.wall)[0] is Claim.TAKE
    assert names.hold_left(names.holdings["ana"], clocks.wall) <= 0  # the relay's forgetting asks this


def test_a_stored_leaving_in_the_future_counts_as_just_now() -> None:
    # The server stopped, its clock stepped back a day, it started again: the store's
    # left_at is a day ahead. The hold runs from the start, for its length, not a day more.
    now = 1_800_000_000.0
    holding = Holding("Ana", b"\0" * 32, 0, now + 86400.0)
    names = GuestNames({"ana": holding}, hold=HOLD)
    assert names.decide("ana", None, now) == (Claim.HELD, now + HOLD)
    assert names.decide("ana", None, now + HOLD + 1.0)[0] is Claim.TAKE


def test_a_stored_leaving_in_the_past_holds_for_what_is_left() -> None:
    now = 1_800_000_000.0
    names = GuestNames({"ana": Holding("Ana", b"\0" * 32, 0, now - 100.0)}, hold=HOLD)
    assert names.decide("ana", None, now) == (Claim.HELD, now + HOLD - 100.0)


def test_a_leaving_another_node_tells_counts_from_when_it_was() -> None:
    clocks = Clocks()
    names = GuestNames({}, hold=HOLD, clock=clocks.monotonic, wall=clocks.now)
    names.take("ana", "Ana", 0)
    names.left("ana", clocks.wall - 100.0)  # told a moment late
    assert names.decide("ana", None, clocks.wall) == (Claim.HELD, clocks.wall + HOLD - 100.0)
    names.left("ana", clocks.wall + 30.0)  # by a node whose clock runs ahead: just now
    assert names.decide("ana", None, clocks.wall) == (Claim.HELD, clocks.wall + HOLD)


def test_the_holdings_read_with_no_holding_give_the_epoch() -> None:
    # The relay's message path reads holdings.get(key, NO_HOLDING).epoch in place of
    # GuestNames.epoch (a Python call fewer a message): the same epoch, held or not, and
    # NO_HOLDING stays nobody's.
    from server.guests import NO_HOLDING

    clocks = Clocks()
    names = left_guest(clocks)
    names.take("bia", "Bia", 41)
    for key in ("ana", "bia", "caio"):
        assert names.holdings.get(key, NO_HOLDING).epoch == names.epoch(key)
    assert names.epoch("bia") == 41 and names.epoch("caio") == 0
    assert NO_HOLDING == Holding("", b"", 0, None) and "caio" not in names.holdings
