"""A node's wall clock against Redis's (server/cluster/clock.py): the cluster's one
clock. Message times, "online since", guest holds and edit windows are written by each
node's own clock, so a node off by more than the limit says so, once, and again when it
agrees again; the measure allows for the round trip it was taken in. Fake times only."""

from __future__ import annotations

from server.cluster.clock import ClockSkew


def test_a_clock_within_the_limit_says_nothing_and_its_offset_is_kept():
    skew = ClockSkew(limit=1.0)
    assert skew.measured(1000.0, 1000.3, 1000.2) is None
    assert skew.offset == 1000.3 - 1000.1


def test_a_clock_two_minutes_behind_is_told_once_then_again_when_it_agrees():
    skew = ClockSkew(limit=1.0)
    told = skew.measured(1000.0, 1120.0, 1000.0)
    assert told is not None and "120.0 s behind" in told and "NTP" in told
    assert skew.measured(1001.0, 1121.0, 1001.0) is None  # still off: said once
    again = skew.measured(1002.0, 1002.1, 1002.0)
    assert again is not None and "agrees" in again
    assert skew.measured(1003.0, 1003.1, 1003.0) is None


def test_a_clock_ahead_is_told_ahead():
    told = ClockSkew(limit=1.0).measured(1000.0, 990.0, 1000.0)
    assert told is not None and "10.0 s ahead" in told


def test_a_slow_round_trip_is_no_proof_of_an_offset():
    # Redis's time may be anywhere within the round trip: 1.5 s off its middle, with a
    # round trip of 2 s, may be a clock that is right.
    skew = ClockSkew(limit=1.0)
    assert skew.measured(1000.0, 1002.5, 1002.0) is None


def test_a_clock_set_back_during_the_measure_measures_nothing():
    skew = ClockSkew(limit=1.0)
    assert skew.measured(1000.0, 1000.0, 880.0) is None and skew.offset is None


def test_a_time_told_across_nodes_goes_by_redis_clock_and_back():
    """A typing's ``at`` (bus.Conversation) crosses nodes whose clocks disagree: the sender
    puts it on Redis's clock, the receiver back on its own, so its age is right though one
    node runs 10 s behind and the other 5 s ahead (compared as written, 15 s: every typing
    dropped as late, or with the clocks the other way round, none ever)."""
    sender, receiver = ClockSkew(limit=1.0), ClockSkew(limit=1.0)
    sender.measured(1000.0, 1010.0, 1000.0)  # 10 s behind Redis
    receiver.measured(1015.0, 1010.0, 1015.0)  # 5 s ahead
    told = sender.to_redis(1000.0)
    assert told == 1010.0
    assert receiver.from_redis(told) == 1015.0  # sent just now, by the receiver's clock
    assert ClockSkew().from_redis(ClockSkew().to_redis(1000.0)) == 1000.0  # nothing measured: as it is
