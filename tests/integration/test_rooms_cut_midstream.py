"""Room posts cut mid-stream (issue 13): a member whose connection breaks while room posts
are on their way to it, and who logs in again with ``room_seen`` (the highest room msg_id
its client has shown; PROTOCOL.md, "Room messages cut mid-stream"), has every accepted
post exactly once and in order, from the frames alone, whether it was its user's only
session or another stayed online. And a client without the field, or a version 1 one,
gets what it got before. Real servers on 127.0.0.1 (port 0), tests/support/faultproxy.py;
every wait has a deadline."""

from __future__ import annotations

import pytest

from faultproxy import DOWN, Fault, FaultProxy
from protocol import (
    Accepted, ConnectionClosed, Hello, JoinRoom, RoomInfo, RoomNotice, RoomPost, SendToRoom, UserJoined, UserLeft,
    Welcome,
)
from server import ServerConfig, ServerThread
from wire import WireClient

NOTICES = (UserJoined, UserLeft, RoomNotice)
PASSWORD = "correct horse battery"
FAST = dict(rate_per_connection=1e6, burst_per_connection=1e6, rate_per_address=1e6, burst_per_address=1e6)
POSTS = 40  # below const.ROOM_BACKLOG_LIMIT


def member(port: int, name: str, room_seen: int | None = None, version: int = 2) -> WireClient:
    """``name``'s account, logged in (registered if new), telling ``room_seen`` if given."""
    client = WireClient("127.0.0.1", port)
    client.send(Hello("hello", name, version, PASSWORD, True, room_seen=room_seen))
    assert client.expect(Welcome, skip=NOTICES).version == version
    return client


def room_posts(client: WireClient, at_least: int = 0, quiet: float = 0.3) -> list[int]:
    """The msg_ids of the room posts that come: at least ``at_least`` of them (within the
    client's deadline), then any more until ``quiet`` seconds pass without a frame or the
    stream ends (so a post sent twice shows)."""
    ids: list[int] = []
    while len(ids) < at_least:
        event = client.next()
        if type(event) is ConnectionClosed:
            return ids
        if type(event) is RoomPost:
            ids.append(event.msg_id)
    return ids + [event.msg_id for event in client.drain(quiet=quiet) if type(event) is RoomPost]


def post_all(olga: WireClient, count: int, first: int = 0) -> list[int]:
    """Olga posts ``count`` messages to #redes (numbered from ``first``: the request ids
    differ), five out at a time; their msg_ids in order."""
    accepted: list[int] = []
    sent = 0
    while len(accepted) < count:
        while sent < count and sent - len(accepted) < 5:
            olga.send(SendToRoom(f"p{first + sent}", "#redes", f"#{first + sent}"))
            sent += 1
        accepted.append(olga.expect(Accepted, skip=NOTICES + (RoomPost,)).msg_id)
    return accepted


@pytest.mark.timeout_seconds(60)
@pytest.mark.parametrize("other_session", [False, True], ids=["alone", "another-session-online"])
def test_a_member_cut_mid_stream_gets_every_post_once_in_order_after_logging_in_again(other_session: bool) -> None:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, **FAST)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        olga = member(server.port, "Olga")
        olga.send(JoinRoom("j", "#redes", create=True))
        olga.expect(RoomInfo, skip=NOTICES)
        bob = member(proxy.port, "Bob")
        bob.send(JoinRoom("j", "#redes"))
        bob.expect(RoomInfo, skip=NOTICES)
        laptop = member(server.port, "Bob") if other_session else None  # Bob's other device
        # Cut Bob's link just before the 12th room post reaches him: that one and whatever
        # the proxy had read after it are lost, while Olga goes on posting.
        proxy.add(Fault(DOWN, frame_type="room", nth=12, name="Bob"))
        first = post_all(olga, POSTS // 2)
        before_cut = room_posts(bob, quiet=0.5)  # until the cut ends the stream
        bob.close()
        assert len(proxy.cuts) == 1 and before_cut == first[:11], (proxy.cuts, before_cut)
        # In again, saying what his client has shown; Olga posts on meanwhile.
        bob = member(proxy.port, "Bob", room_seen=max(before_cut))
        rest = post_all(olga, POSTS // 2, POSTS // 2)
        every = first + rest
        after = room_posts(bob, len(every) - len(before_cut))
        assert before_cut + after == every, "a post lost, twice or out of order"
        if laptop is not None:  # the other device, never cut, had each once, live
            assert room_posts(laptop, len(every)) == every
            laptop.close()
        bob.close()
        olga.close()


@pytest.mark.timeout_seconds(60)
def test_without_room_seen_a_second_session_gets_no_replay_and_version_1_ignores_the_field() -> None:
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, **FAST)) as server:
        olga = member(server.port, "Olga")
        olga.send(JoinRoom("j", "#redes", create=True))
        olga.expect(RoomInfo, skip=NOTICES)
        bob = member(server.port, "Bob")
        bob.send(JoinRoom("j", "#redes"))
        bob.expect(RoomInfo, skip=NOTICES)
        posted = post_all(olga, 3)
        assert room_posts(bob, 3) == posted
        # A second session without the field: only what comes next, live (as before).
        with member(server.port, "Bob") as phone:
            assert room_posts(phone) == []
        # A version 1 session with the field: no rooms, nothing replayed, welcomed as before.
        with member(server.port, "Bob", room_seen=0, version=1) as old:
            assert room_posts(old) == []
        # A second session at version 2 with the field gets what is above it, once.
        with member(server.port, "Bob", room_seen=posted[0]) as tablet:
            assert room_posts(tablet, 2) == posted[1:]
        bob.close()
        olga.close()


@pytest.mark.timeout_seconds(60)
def test_the_client_library_tells_room_seen_when_it_reconnects_and_misses_nothing(clients) -> None:
    """The project's own client: its core keeps the highest room post it handed on and
    tells it in the hello of its reconnection, by itself."""
    import queue

    from logins import library_login
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, **FAST)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        olga = member(server.port, "Olga")
        olga.send(JoinRoom("j", "#redes", create=True))
        olga.expect(RoomInfo, skip=NOTICES)
        bob = library_login(clients, proxy.port, "Bob", password=PASSWORD, register=True, reconnect_delay=0.05)
        bob.join("#redes")
        proxy.add(Fault(DOWN, frame_type="room", nth=12, name="Bob"))
        every = post_all(olga, POSTS)
        got: list[int] = []
        while len(got) < len(every):  # each get is bounded; a post lost leaves this waiting: it fails
            try:
                event = bob.events.get(timeout=10)
            except queue.Empty:
                break
            if type(event) is RoomPost:
                got.append(event.msg_id)
        assert len(proxy.cuts) == 1 and bob.reconnects >= 1, proxy.cuts
        assert got == every
        olga.close()


@pytest.mark.timeout_seconds(60)
def test_the_client_library_back_beside_another_session_gets_the_edits_it_missed(clients) -> None:
    """The project's own client again, away while another session of its user stayed
    online: its reconnection's hello says until when it heard (last_heard), so it gets
    the edit made meanwhile of a post it had shown (PROTOCOL.md, "Changes a device
    missed"). Before, only the laptop had it; the library kept the old text."""
    import queue

    from logins import library_login
    from protocol import EDITS, Done, Edit, RoomEdited
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, **FAST)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        olga = WireClient(server.host, server.port)
        olga.send(Hello("hello", "Olga", 2, PASSWORD, True, features=(EDITS,)))
        olga.expect(Welcome, skip=NOTICES)
        olga.send(JoinRoom("j", "#redes", create=True))
        olga.expect(RoomInfo, skip=NOTICES)
        bob = library_login(clients, proxy.port, "Bob", password=PASSWORD, register=True, reconnect_delay=0.05)
        bob.join("#redes")
        laptop = WireClient(server.host, server.port)
        laptop.send(Hello("hello", "Bob", 2, PASSWORD, features=(EDITS,)))
        laptop.expect(Welcome, skip=NOTICES)
        [post] = post_all(olga, 1)

        def next_of(kind: type) -> object:
            while True:  # each get is bounded: nothing coming fails the test
                event = bob.events.get(timeout=10)
                if type(event) is kind:
                    return event
        assert next_of(RoomPost).msg_id == post
        proxy.refuse_new = True  # away: cut, and no way back for now
        proxy.cut("Bob")
        assert proxy.wait_for(lambda: proxy.live_links("Bob") == 0, 10)
        olga.send(Edit("e", post, "#0, fixed"))
        olga.expect(Done, skip=NOTICES + (RoomPost,))
        assert laptop.expect(RoomEdited, skip=NOTICES + (RoomPost,)).text == "#0, fixed"
        reconnects = bob.reconnects
        proxy.refuse_new = False
        try:
            edited = next_of(RoomEdited)
        except queue.Empty:
            edited = None
        assert bob.reconnects > reconnects
        assert edited is not None and (edited.msg_id, edited.text) == (post, "#0, fixed"), edited
        laptop.close()
        olga.close()
