"""Lists the server sends (users, history_page) are cut to fit in one frame: codec.fit_page."""

from __future__ import annotations

import pytest

import const
from helpers import open_pair
from protocol import HistoryEntry, HistoryPage, SincePage, UserList, Watching, WhoRequest
from protocol import codec
from protocol import MemberEntry, MemberList, RoomEntry, RoomList
from protocol.events import WIRE_EVENTS, Presence


def _users_page(presences: list[Presence]):
    def build(count: int) -> UserList:
        cut = count < len(presences)
        return UserList("w", tuple(presences[:count]), presences[count - 1].name if count and cut else None)
    return build


def test_a_users_page_is_the_longest_that_fits():
    presences = [Presence(f"user{n:05d}" + "x" * 23, 1763712000.123456 + n) for n in range(3000)]
    build = _users_page(presences)
    page = codec.fit_page(build, presences)
    assert codec.fits(page)
    assert len(codec.encode(page)) <= const.MAX_FRAME_BYTES - codec.PAGE_MARGIN
    assert not codec.fits(build(len(page.users) + 1))  # one more would not
    assert page.next == page.users[-1].name
    assert 500 < len(page.users) < 3000


def test_a_list_that_fits_whole_has_no_cursor_and_an_empty_one_is_a_page_too():
    presences = [Presence("alice", 1.0), Presence("bob", 2.0)]
    assert codec.fit_page(_users_page(presences), presences) == UserList("w", tuple(presences), None)
    assert codec.fit_page(_users_page([]), []) == UserList("w", (), None)


def test_history_keeps_the_newest_messages_and_a_cursor_to_the_rest():
    entries = [HistoryEntry(n, "alice", "bob", "é" * const.MAX_TEXT_CHARS, 1.0 + n, "delivered")
               for n in range(1, 21)]  # oldest first, 8 KB each

    def build(count: int) -> HistoryPage:
        kept = entries[len(entries) - count:]
        return HistoryPage("h", "bob", tuple(kept), kept[0].msg_id if 0 < count < len(entries) else None)

    page = codec.fit_page(build, entries[::-1])
    assert codec.fits(page)
    assert [m.msg_id for m in page.messages] == list(range(21 - len(page.messages), 21))
    assert page.before == page.messages[0].msg_id
    assert 1 < len(page.messages) < 20


def test_one_message_of_the_worst_kind_always_fits():
    # Every character a control character: escaped as \\u00XX, 6 bytes each.
    entry = HistoryEntry(codec.MAX_INTEGER, "a" * 256, "b" * 256, "\x01" * const.MAX_TEXT_CHARS,
                         float(codec.MAX_INTEGER), "delivered")
    page = codec.fit_page(lambda n: HistoryPage("h" * 64, "c" * 256, (entry,) * n, None), [entry])
    assert len(page.messages) == 1 and codec.fits(page)


def test_who_after_and_users_next_travel_and_old_frames_still_decode():
    pair = open_pair()
    assert pair.send(pair.client, WhoRequest("w2", "Bob")) == [WhoRequest("w2", "Bob")]
    page = UserList("w2", (Presence("Carol", 5.0),), "Carol")
    assert pair.send(pair.server, page) == [page]
    # Without the new keys (a client or server from before paging): None, a whole list.
    pair.server.receive_data(b'{"type":"who","id":"w3"}\n')
    assert list(pair.server.events()) == [WhoRequest("w3", None)]
    pair.client.receive_data(b'{"type":"users","id":"w3","users":[]}\n')
    assert list(pair.client.events()) == [UserList("w3", (), None)]


def _worst(cls, field) -> object:
    """The largest value of ``field`` the receiver's codec accepts, escaped the worst way."""
    key, check = codec.FIELDS[field.name]
    kind = str(field.type)
    if kind.startswith("bool"):
        return True
    if kind.startswith("int"):
        return codec.MAX_PORT if field.name == "port" else codec.MAX_INTEGER
    if kind.startswith("float"):
        return float(codec.MAX_INTEGER) + 0.123  # the longest repr near the top of the range
    if kind.startswith("tuple[int"):  # a room's read marks: as many as allowed, each the largest
        return (codec.MAX_INTEGER,) * const.ROOM_READS_LIMIT
    if kind.startswith("tuple[str"):  # features: as many names as allowed, each the longest
        return ("\x01" * 64,) * codec.MAX_FEATURES
    assert kind.startswith("str"), kind
    longest = 0
    for length in (64, 256, 1024, const.MAX_TEXT_CHARS):
        try:
            check(key, "\x01" * length, const.MAX_TEXT_CHARS)
        except codec.FieldError:
            break
        longest = length
    return "\x01" * longest


def test_every_server_frame_without_a_list_fits_whatever_its_fields_hold():
    """Only users, history_page, since_page, room_list and member_list carry lists (paged by
    fit_page); every other frame the server sends is bounded by the lengths its fields may
    have. (WIRE_EVENTS, not codec.TYPES: a variant such as RoomPost shares its type.)"""
    import dataclasses
    for cls in WIRE_EVENTS:
        if cls.SENDER == "client" or cls in (UserList, HistoryPage, SincePage, Watching, RoomList, MemberList):
            continue
        event = cls(**{f.name: _worst(cls, f) for f in dataclasses.fields(cls)})
        assert len(codec.encode(event)) <= const.MAX_FRAME_BYTES - codec.PAGE_MARGIN, cls.__name__


def test_the_answer_to_the_largest_watch_fits_in_one_frame():
    """A watch names at most MAX_NAMES_PER_REQUEST valid names; of the longest in Latin
    letters, whether online (each with the longest time) or offline, the answer still
    fits. (Not of the longest in bytes: the server refuses that watch, see
    test_watch_answer_fits.py.)"""
    longest = "w" * const.MAX_NAME_LENGTH
    count = codec.MAX_NAMES_PER_REQUEST
    users = tuple(Presence(longest, float(codec.MAX_INTEGER) + 0.123) for _ in range(count))
    assert codec.fits(Watching("i" * 64, users))
    assert codec.fits(Watching("i" * 64, users[:count // 2], (longest,) * (count - count // 2)))
    assert codec.fits(Watching("i" * 64, (), (longest,) * count))


@pytest.mark.parametrize("kind", ["rooms", "members"])
def test_room_and_member_lists_are_cut_to_fit_with_a_cursor(kind):
    longest = "\x01" * const.MAX_NAME_LENGTH
    if kind == "rooms":
        items = [RoomEntry(f"#{n:04}{longest}", codec.MAX_INTEGER, "\x01" * const.MAX_TOPIC_CHARS, n % 2 == 0)
                 for n in range(200)]

        def build(count: int) -> RoomList:
            return RoomList("i" * 64, tuple(items[:count]), items[count - 1].room_name if 0 < count < len(items) else None)
    else:
        items = [MemberEntry(f"{n:04}{longest}", "moderator", True) for n in range(2000)]

        def build(count: int) -> MemberList:
            return MemberList("i" * 64, "#" + longest, tuple(items[:count]),
                              items[count - 1].name if 0 < count < len(items) else None)

    page = codec.fit_page(build, items)
    assert codec.fits(page) and 0 < len(getattr(page, kind)) < len(items) and page.next is not None
    assert codec.decode(codec.encode(page)[:-1], codec.TYPES, const.MAX_TEXT_CHARS) == page


def test_a_page_that_looks_small_but_escapes_large_is_still_cut():
    # 15 messages of 4,000 control characters: 60,000 characters, but 6 bytes each on the wire.
    entries = [HistoryEntry(n, "a", "b", "\x01" * const.MAX_TEXT_CHARS, 1.0, "sent") for n in range(1, 16)]

    def build(count: int) -> HistoryPage:
        kept = entries[len(entries) - count:]
        return HistoryPage("h", "b", tuple(kept), kept[0].msg_id if 0 < count < len(entries) else None)

    page = codec.fit_page(build, entries[::-1])
    assert codec.fits(page) and len(page.messages) == 2 and page.before == 14


def test_a_frame_of_exactly_the_limit_less_the_margin_fits_and_one_byte_more_does_not():
    page = HistoryPage("h", "Ana", (HistoryEntry(1, "Ana", "Bia", "oi", 1.0, "delivered"),))
    limit = len(codec.encode(page)) + codec.PAGE_MARGIN
    assert codec.fits(page, limit) and not codec.fits(page, limit - 1)
