"""The core of read marks in rooms (server/roomreads.py ReadMarks): marks only grow, lists
are coalesced to one per room per interval, and the state is bounded by what is held. A
fake clock: plain numbers."""

from __future__ import annotations

from protocol import Read, RoomRead
from protocol.codec import decode, encode
from server.roomreads import ReadMarks


def test_marks_only_grow():
    core = ReadMarks(1.0)
    assert core.move("#redes", "bob", 10)
    assert not core.move("#redes", "bob", 9)
    assert not core.move("#redes", "bob", 10)
    assert core.move("#redes", "bob", 11)
    assert dict(core.marks("#redes")) == {"bob": 11}
    core.load("#redes", {"bob": 5, "ana": 7})  # a stored mark never lowers a held one
    assert dict(core.marks("#redes")) == {"bob": 11, "ana": 7}


def test_one_list_per_room_per_interval_the_rest_coalesced_at_its_end():
    core = ReadMarks(1.0)
    assert core.next_deadline() is None
    core.move("#redes", "bob", 1)
    assert core.due(100.0) == ["#redes"]  # the first at once
    assert core.next_deadline() is None
    for msg_id, now in ((2, 100.1), (3, 100.2), (4, 100.9)):
        core.move("#redes", "bob", msg_id)
        assert core.due(now) == []  # within the interval: held back
    assert core.next_deadline() == 101.0
    core.move("#lab", "ana", 1)  # another room has its own interval
    assert core.due(100.9) == ["#lab"]
    assert core.due(101.0) == ["#redes"]  # the three moves in one list
    assert dict(core.marks("#redes")) == {"bob": 4}
    assert core.due(105.0) == []  # nothing moved: nothing to send
    assert core.next_deadline() is None


def test_a_touch_sends_the_list_again_and_an_unheld_room_is_not_touched():
    core = ReadMarks(1.0)
    core.touch("#redes")
    assert core.due(10.0) == []
    core.load("#redes", {"bob": 3})
    core.touch("#redes")
    assert core.due(10.0) == ["#redes"]


def test_the_state_is_bounded_by_the_rooms_held_and_their_members():
    core = ReadMarks(1.0)
    for i in range(1000):  # members come and go in one room
        core.move("#redes", f"m{i}", i + 1)
        if i % 50 == 49:
            core.keep_only("#redes", [f"m{j}" for j in range(i - 9, i + 1)])  # the ten who stay
    assert core.size() <= 10
    for i in range(500):  # rooms with someone online, then without
        core.move(f"#r{i}", "ana", 1)
        core.due(float(i))
        core.forget(f"#r{i}")
    assert core.size() <= 10
    assert not core._dirty and len(core._sent_at) <= 1  # nothing left of the forgotten rooms
    core.due(10_000.0)
    assert core._sent_at == {}


def test_the_frames_on_the_wire():
    assert encode(RoomRead("#redes", 90)) == b'{"type":"read","room":"#redes","msg_id":90}\n'
    assert encode(RoomRead("#redes", marks=(90, 88, 75))) == b'{"type":"read","room":"#redes","marks":[90,88,75]}\n'
    allowed = {"read": Read}
    assert decode(b'{"type":"read","room":"#redes","msg_id":90}', allowed, 1000) == RoomRead("#redes", 90)
    assert decode(b'{"type":"read","room":"#redes","marks":[3,1]}', allowed, 1000) == RoomRead("#redes", None, (3, 1))
    assert decode(b'{"type":"read","with":"Bob","msg_id":90}', allowed, 1000) == Read("Bob", 90)
    for bad in (b'{"type":"read","room":"#redes","marks":"x"}', b'{"type":"read","room":"#redes","marks":[-1]}',
                b'{"type":"read","room":"#redes","with":"Bob","msg_id":1}',
                b'{"type":"read","room":"#redes","marks":[' + b",".join([b"1"] * 51) + b"]}"):
        assert decode(bad, allowed, 1000).code == "bad_field", bad
