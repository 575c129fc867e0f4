"""A step of the wall clock (NTP correcting it, a VM restored from a snapshot) told from
the monotonic clock (server/clocksteps.py, StepWatch), and what the rooms core makes of
one (server/rooms.py, Rooms.clock_stepped): a timed mute lasts its length, however the
wall clock steps. Fake clocks, no I/O."""

from __future__ import annotations

import pytest

from protocol.errors import ErrorCode
from server.clocksteps import StepWatch
from server.rooms import Notice, Person, Refused, Rooms

T0 = 1_700_000_000.0
OWNER = Person("Olga", account=True, address="10.0.0.2")
VICTIM = Person("Vic", account=True, address="10.0.0.6")


def test_a_step_is_the_wall_clock_moving_other_than_the_monotonic_one() -> None:
    watch = StepWatch(tolerance=1.0)
    assert watch.step(T0, 10.0) == 0.0  # the first look: nothing to compare with
    assert watch.step(T0 + 5.0, 15.0) == 0.0  # both moved 5 s
    assert watch.step(T0 + 5.3, 15.0) == 0.0  # slewed, not stepped: within the tolerance
    assert watch.step(T0 - 3600.0, 16.0) == pytest.approx(-3605.3 - 1.0)  # stepped back
    assert watch.step(T0 + 2 * 3600.0, 17.0) == 3 * 3600.0 - 1.0  # stepped forward


def muted_for(seconds: float) -> Rooms:
    rooms = Rooms(admins=[], online_count=lambda: 2)
    rooms.join(OWNER, "#redes", T0)
    rooms.join(VICTIM, "#redes", T0)
    assert not [e for e in rooms.mute(OWNER, "#redes", VICTIM, T0, seconds=seconds) if type(e) is Refused]
    return rooms


def test_a_mute_keeps_its_length_when_the_wall_clock_steps_back() -> None:
    rooms = muted_for(600.0)
    rooms.clock_stepped(-3600.0)  # at T0 + 60 it was T0 - 3540
    now = T0 - 3540.0
    refusal = rooms.may_post(VICTIM, "#redes", now)
    assert refusal is not None and refusal.code == ErrorCode.MUTED and refusal.retry_after == 540.0
    assert rooms.next_deadline() == T0 - 3000.0
    ended = rooms.expire(T0 - 3000.0)
    assert [(e.act, e.name) for e in ended if type(e) is Notice] == [("unmute", "Vic")]
    assert rooms.may_post(VICTIM, "#redes", T0 - 3000.0) is None


def test_a_mute_keeps_its_length_when_the_wall_clock_steps_forward() -> None:
    rooms = muted_for(600.0)
    rooms.clock_stepped(3600.0)
    assert rooms.expire(T0 + 3600.0 + 60.0) == []  # not over: 540 s are left
    assert rooms.may_post(VICTIM, "#redes", T0 + 3660.0).retry_after == 540.0
    assert [e.act for e in rooms.expire(T0 + 4200.0) if type(e) is Notice] == ["unmute"]


def test_a_mute_until_unmuted_and_the_changed_room_to_store() -> None:
    rooms = muted_for(600.0)
    rooms.changes()
    rooms.clock_stepped(-60.0)
    assert [key for key, _record in rooms.changes()] == ["#redes"]  # the new end is stored
    rooms.clock_stepped(-60.0)
    rooms.unmute(OWNER, "#redes", VICTIM, T0)
    rooms.mute(OWNER, "#redes", VICTIM, T0, seconds=None)
    rooms.changes()
    rooms.clock_stepped(-60.0)
    assert rooms.changes() == [] and rooms.get("#redes").muted == {"vic": None}


def test_the_rooms_an_address_created_leave_its_window_on_time_when_the_wall_clock_steps_back() -> None:
    import const

    rooms = Rooms(admins=[], online_count=lambda: 2)
    teacher = Person("Prof", account=True, address="10.0.0.9")
    for n in range(const.ROOMS_CREATED_PER_ADDRESS):
        assert not [e for e in rooms.join(teacher, f"#aula{n}", T0, create=True) if type(e) is Refused]
    rooms.clock_stepped(-86400.0)  # a day back: the address could create none for a day more
    later = T0 - 86400.0 + const.ROOM_CREATION_WINDOW - 60.0
    refused = [e for e in rooms.join(teacher, "#mais", later, create=True) if type(e) is Refused]
    assert [e.code for e in refused] == [ErrorCode.TOO_MANY_ROOMS] and refused[0].retry_after == 60.0
    assert not [e for e in rooms.join(teacher, "#mais", later + 60.0, create=True) if type(e) is Refused]


def test_a_stored_mute_whose_end_is_further_than_its_length_ends_its_length_from_now() -> None:
    """Across a restart no monotonic clock holds: the stored end is a wall time. A server
    stopped, its clock set back a day, started again: a ten minutes' mute read back lasted a
    day and ten minutes. Its length is stored with it, and an end further away than that is
    put at the length from now (Rooms.clamp_mutes, at the start); older records (no length)
    are read as before."""
    rooms = muted_for(600.0)
    [(_key, record)] = [change for change in rooms.changes() if change[0] == "#redes"]
    again = Rooms(admins=[], online_count=lambda: 2)
    assert again.restore([record]) == []
    now = T0 - 86400.0
    again.clamp_mutes(now)
    assert again.may_post(VICTIM, "#redes", now).retry_after == 600.0
    assert [key for key, _record in again.changes()] == ["#redes"]  # the new end is stored
    assert [e.act for e in again.expire(now + 600.0) if type(e) is Notice] == ["unmute"]
    within = Rooms(admins=[], online_count=lambda: 2)
    within.restore([record])
    within.clamp_mutes(T0 + 100.0)  # (no step: 500 s left, left alone)
    assert within.may_post(VICTIM, "#redes", T0 + 100.0).retry_after == 500.0 and within.changes() == []
    older = Rooms(admins=[], online_count=lambda: 2)
    older.restore([record.replace(',600.0]', ']')])  # a record without the length
    older.clamp_mutes(now)
    assert older.may_post(VICTIM, "#redes", now).retry_after == 86400.0 + 600.0
