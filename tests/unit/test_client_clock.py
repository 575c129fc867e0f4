"""client/clock.py's clock of waits on fake clocks: it counts a sleep (the wall clock moved
on, the monotonic clock did not) and never goes back when the wall clock is set back."""

from __future__ import annotations

from client.clock import WAKE_CHECK, WaitsClock, next_wait


class Clocks:
    """A monotonic and a wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.steady, self.wall = 100.0, 1_796_000_000.0

    def clock(self) -> WaitsClock:
        return WaitsClock(lambda: self.steady, lambda: self.wall)


def test_it_moves_with_the_monotonic_clock_while_both_agree():
    clocks = Clocks()
    clock = clocks.clock()
    start = clock()
    clocks.steady += 2.5
    clocks.wall += 2.5
    assert clock() == start + 2.5


def test_a_sleep_counts_the_wall_clocks_move():
    clocks = Clocks()
    clock = clocks.clock()
    start = clock()
    clocks.wall += 1200.0  # the lid closed for twenty minutes: the monotonic clock stood still
    clocks.steady += 0.1
    assert clock() == start + 1200.0


def test_a_step_of_the_wall_clock_back_changes_nothing():
    clocks = Clocks()
    clock = clocks.clock()
    start = clock()
    clocks.wall -= 3600.0
    clocks.steady += 1.0
    assert clock() == start + 1.0
    clocks.wall += 1.0  # counting on from the new wall time: not an hour forward
    clocks.steady += 1.0
    assert clock() == start + 2.0


def test_a_shell_waits_until_the_deadline_but_never_longer_than_wake_check():
    assert next_wait(None, 100.0) is None  # nothing timed: input alone ends the wait
    assert next_wait(101.5, 100.0) == 1.5
    assert next_wait(100.0 + 10 * WAKE_CHECK, 100.0) == WAKE_CHECK  # then the clock is read again
    assert next_wait(99.0, 100.0) == 0.0  # overdue: at once
