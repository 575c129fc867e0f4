"""The rule both clients follow after an outage (client/returns.py): who was online, or
left with the server, comes back quietly within the grace; anything else is news."""

from __future__ import annotations

from client.returns import REJOIN_GRACE, SERVER_STOPPING, Returns


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_who_was_online_comes_back_quietly_and_a_newcomer_is_news() -> None:
    clock = Clock()
    returns = Returns(clock)
    returns.went_away({"ana", "lúcia"})
    returns.reconnected()
    clock.now += 5
    assert returns.joined("ana") and returns.joined("lúcia")
    assert not returns.joined("vic")  # not online before the outage
    assert not returns.joined("ana")  # once: a second join is news


def test_a_join_after_the_grace_is_news_and_one_while_away_is_not() -> None:
    clock = Clock()
    returns = Returns(clock)
    returns.went_away({"ana", "bia"})
    assert returns.joined("bia")  # before our own reconnection: still the outage
    returns.reconnected()
    clock.now += REJOIN_GRACE + 1
    assert not returns.joined("ana")


def test_a_leave_with_the_server_is_no_news_and_its_join_is_a_return() -> None:
    clock = Clock()
    returns = Returns(clock)
    assert returns.left("maria", "quit") and not returns.joined("maria")
    assert not returns.left("maria", SERVER_STOPPING)
    returns.went_away(set())
    returns.reconnected()
    assert returns.joined("maria")


def test_a_cluster_node_stopping_without_us_keeps_its_users_joins_news() -> None:
    """Our connection stayed: no grace began, so their joins (through another node) are news."""
    clock = Clock()
    returns = Returns(clock)
    assert not returns.left("maria", SERVER_STOPPING)
    assert not returns.joined("maria")


def test_what_was_online_is_what_was_known_when_the_connection_went() -> None:
    clock = Clock()
    returns = Returns(clock)
    returns.went_away({"ana"})
    returns.went_away({"ana", "zé"})  # the closed connection after the goodbye: no change
    returns.reconnected()
    assert not returns.joined("zé")


def test_rooms_named_take_each_members_return_once_per_room() -> None:
    clock = Clock()
    returns = Returns(clock)
    returns.went_away({"ana"}, rooms=["#redes", "#lab"], members=[("#redes", "olga")])
    returns.reconnected()
    assert returns.room_online("#redes", "ana") and returns.room_online("#lab", "ana")
    assert returns.room_online("#redes", "olga")
    assert not returns.room_online("#lab", "olga")  # not known online there
    assert not returns.room_online("#redes", "ana")  # a second time: news
    assert not returns.room_online("#redes", "vic")


def test_rooms_not_known_take_a_return_once_in_each_room_it_comes_from() -> None:
    """The terminal does not list its rooms: a returning user's "online" is a return once
    in whichever room it comes from, within the grace."""
    clock = Clock()
    returns = Returns(clock)
    returns.went_away({"conceição"})
    assert not returns.left("ana", SERVER_STOPPING)
    returns.reconnected()
    assert returns.room_online("#redes", "conceição") and returns.room_online("#lab", "conceição")
    assert not returns.room_online("#redes", "conceição")
    assert returns.room_online("#redes", "ana")
    assert not returns.room_online("#redes", "vic")
    clock.now += REJOIN_GRACE + 1
    assert not returns.room_online("#lab", "ana")


def test_a_login_that_is_no_reconnection_starts_no_grace() -> None:
    clock = Clock()
    returns = Returns(clock)
    returns.went_away({"ana"})
    returns.connected()  # signed out, then logged in again with a password
    assert not returns.joined("ana")
