"""The answer to a ``watch`` is one frame, and every frame the server sends is within the
frame limit (PROTOCOL.md "Limits"). A watch may name 500 names, and a name may take 128
bytes of UTF-8 (32 letters of four bytes each, such as CJK Extension B's): 490 of them
online, each with its time, come to about 81 KB, which no client's core would read
(it discards a frame over 65,536 bytes, so the watch would never be answered). So the
server refuses such a watch, whole and with a clear error, rather than send a frame over
the limit. Sans-I/O: RegistryDesk with a fake relay and session."""

from __future__ import annotations

from types import SimpleNamespace

import const
from protocol import ErrorCode, ErrorReply, Presence, Watch, Watching
from protocol import codec
from registry import canonical, validate_name
from server.presence import Watchlists
from server.registrydesk import RegistryDesk

SINCE = 1763712000.123456


def _long_name(n: int) -> str:
    """A valid name of 32 letters of four bytes each (Han, CJK Extension B), the n-th."""
    name = "".join(chr(0x20000 + n * const.MAX_NAME_LENGTH + k) for k in range(const.MAX_NAME_LENGTH))
    assert validate_name(name) == name and len(name.encode()) == 4 * const.MAX_NAME_LENGTH
    return name


class FakeSession:
    def __init__(self) -> None:
        self.sent: list = []

    def send(self, event: object) -> None:
        self.sent.append(event)


def _desk(online: list[str], known: tuple[str, ...] = ()) -> tuple[RegistryDesk, Watchlists]:
    """A single server's desk: ``online`` users, and ``known`` ones offline (an account's)."""
    records = {canonical(name): SimpleNamespace(name=name, since=SINCE) for name in online}
    watchlists = Watchlists(const.MAX_WATCHED)
    relay = SimpleNamespace(intake=SimpleNamespace(admit=lambda session, handler, request: True),
                            watchlists=watchlists, directory=SimpleNamespace(lookup=records.get),
                            known={canonical(name): name for name in (*online, *known)}, peers=SimpleNamespace(),
                            presence=SimpleNamespace(flush=lambda: None))  # (no notice batched)
    return RegistryDesk(relay), watchlists  # type: ignore[arg-type]


def test_a_watch_of_the_largest_names_online_is_not_answered_past_the_frame_limit() -> None:
    # (490, not 500: 500 of these would make the request itself a byte too large.)
    names = [_long_name(n) for n in range(codec.MAX_NAMES_PER_REQUEST - 10)]
    request = Watch("w1", tuple(names))
    assert len(codec.encode(request)) <= const.MAX_FRAME_BYTES  # a request a client may send
    desk, watchlists = _desk(online=names)
    session = FakeSession()
    desk._watch(session, request)
    [answer] = session.sent
    assert len(codec.encode(answer)) <= const.MAX_FRAME_BYTES - codec.PAGE_MARGIN
    assert isinstance(answer, ErrorReply) and answer.code == ErrorCode.BAD_FIELD and answer.request_id == "w1"
    assert "smaller parts" in answer.message
    assert watchlists.watched_by(session) == set()  # nothing was done


def test_the_same_names_in_smaller_parts_are_answered_and_watched() -> None:
    names = [_long_name(n) for n in range(codec.MAX_NAMES_PER_REQUEST)]
    desk, watchlists = _desk(online=names)
    session = FakeSession()
    half = len(names) // 2
    for part in (names[:half], names[half:]):
        desk._watch(session, Watch("w", tuple(part)))
    assert [type(answer) for answer in session.sent] == [Watching, Watching]
    assert [len(answer.users) for answer in session.sent] == [half, len(names) - half]
    assert all(codec.fits(answer) for answer in session.sent)
    assert len(watchlists.watched_by(session)) == len(names)


def test_a_watch_of_short_names_is_answered_as_before() -> None:
    desk, watchlists = _desk(online=["Ana", "João"], known=("Bob",))
    session = FakeSession()
    desk._watch(session, Watch("w1", ("ana", "Bob", "JOÃO")))
    assert session.sent == [Watching("w1", (Presence("Ana", SINCE), Presence("João", SINCE)), ("Bob",))]
    assert watchlists.watched_by(session) == {canonical("Ana"), canonical("Bob"), canonical("João")}


def test_a_watch_part_of_the_longest_names_always_fits() -> None:
    """What the project's clients send in one watch (codec.WATCH_PART) is answered whatever
    the names: all online with the longest display forms, or all offline as sent in the
    most bytes a name may take (const.MAX_NAME_BYTES), or half of each; names nobody has
    (``unknown``) are as sent, as offline ones are, in one list or the other."""
    online = tuple(Presence(_long_name(n), float(codec.MAX_INTEGER) + 0.123) for n in range(codec.WATCH_PART))
    # A valid name of the most bytes as sent: Hangul syllables decomposed (three jamo each).
    as_sent = "\u1100\u1161\u11a8" * (const.MAX_NAME_BYTES // 9)
    assert len(as_sent.encode()) > const.MAX_NAME_BYTES - 9 and validate_name(as_sent)
    offline = (as_sent,) * codec.WATCH_PART
    half = codec.WATCH_PART // 2
    for users, names, nobody in ((online, (), None), ((), offline, None), (online[:half], offline[half:], None),
                                 ((), (), offline), ((), offline[:half], offline[half:]),
                                 (online[:half], offline[half:-1], offline[-1:])):
        assert codec.fits(Watching("i" * 64, users, names, nobody))


def test_the_clients_watch_in_parts_that_always_fit() -> None:
    from test_client_core import Link
    from test_webclient_handlers import page_source
    import re
    link = Link()
    link.log_in()
    names = [f"user{n}" for n in range(2 * codec.WATCH_PART + 7)]
    link.core.watch_soon(names)
    asked = link.to_server()
    assert [len(event.names) for event in asked] == [codec.WATCH_PART, codec.WATCH_PART, 7]
    page = re.search(r"^const WATCH_PER_REQUEST = (\d+);", page_source(), flags=re.M)
    assert page is not None and int(page.group(1)) == codec.WATCH_PART
