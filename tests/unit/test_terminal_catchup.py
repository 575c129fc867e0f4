"""The terminal's catch-up (client/terminal_catchup.py) with a fake client: which of the
changes told at a login it holds, which it drops as not news, and which it says after."""

from __future__ import annotations

import threading

from client.display import shown_text
from client.errors import RequestTimeout
from client.outgoing import MessageUpdate, OutgoingMessage
from client.terminal_catchup import CATCH_UP_PEERS, HELD_CHANGES, CatchUp
from protocol import Carbon, Deleted, DirectMessage, Edited, HistoryEntry

WAIT = 10.0


class FakeClient:
    """Answers ``since`` with ``page`` once the test lets it (``release``), or raises."""

    since_supported = True

    def __init__(self, page: list[HistoryEntry], error: Exception | None = None) -> None:
        self.page = page
        self.error = error
        self.asked = threading.Event()
        self.release = threading.Event()
        self.after: int | None = None

    def since(self, after: int, timeout: float, page_size: int, max_pages: int,
              patience: float = 0.0) -> list[HistoryEntry]:
        self.after, self.patience = after, patience
        self.asked.set()
        assert self.release.wait(WAIT)
        if self.error is not None:
            raise self.error
        return self.page


class Screen:
    """What the terminal would have shown, and the ids it showed or sent."""

    def __init__(self, known: set[int]) -> None:
        self.known = known
        self.handled: list = []
        self.print_lock = threading.Lock()
        self.event_lock = threading.RLock()

    def catch_up(self, client: FakeClient) -> CatchUp:
        return CatchUp(client, lambda: "João", 5.0, self.print_lock, self.event_lock,
                       lambda msg_id: msg_id in self.known, self.handle)

    def handle(self, event) -> None:
        self.handled.append(event)
        if isinstance(event, (DirectMessage, Carbon)):
            self.known.add(event.msg_id)


def entry(msg_id: int, sender: str, to: str, text: str, edited: bool = False) -> HistoryEntry:
    return HistoryEntry(msg_id, sender, to, text, 100.0 + msg_id, "delivered", edited)


def edited(msg_id: int, text: str) -> Edited:
    return Edited(msg_id, "Ana", "João", text, 200.0 + msg_id)


def run(catch: CatchUp, client: FakeClient, before_page: list) -> list[bool]:
    """Start a catch-up and offer it ``before_page`` while its request is out, as the
    receiver thread would; then let the page come. Whether each was held."""
    catch.start()
    assert client.asked.wait(WAIT)
    held = [catch.holds(change) for change in before_page]
    client.release.set()
    return held


def ended(catch: CatchUp) -> bool:
    """Whether no catch-up runs any more (bounded wait)."""
    for _ in range(int(WAIT / 0.01)):
        with catch._print_lock:
            if not catch._running:
                return True
        threading.Event().wait(0.01)
    return False


def test_a_change_of_a_message_the_page_shows_is_not_news_and_one_it_does_not_show_is_said_after() -> None:
    screen = Screen(known={2})
    client = FakeClient([entry(5, "Ana", "João", "a prova é na quinta", edited=True),
                         entry(6, "João", "Ana", "ok")])
    catch = screen.catch_up(client)
    catch.talked_with(DirectMessage(2, "Ana", "João", "antes", 1.0))
    of_shown = edited(2, "antes!")  # shown here already: said at once, as without a catch-up
    held = run(catch, client, [edited(5, "a prova é na quinta"), edited(3, "reunião às 11"), of_shown])
    assert held == [True, True, False]
    assert ended(catch)
    assert client.after == 2  # from the last id shown
    assert client.patience > 0  # pages refused for now are asked again (ChatClient.since)
    assert [type(e).__name__ for e in screen.handled] == ["DirectMessage", "Carbon", "Edited"]
    assert screen.handled[0].msg_id == 5 and screen.handled[0].text.startswith("a prova é na quinta")
    assert screen.handled[2] == edited(3, "reunião às 11")  # never shown here: said, after the page's


def test_no_change_is_held_without_a_catch_up_and_a_failed_one_says_what_it_held() -> None:
    screen = Screen(known=set())
    client = FakeClient([], error=RequestTimeout("no answer"))
    catch = screen.catch_up(client)
    catch.talked_with(DirectMessage(1, "Ana", "João", "oi", 1.0))
    assert not catch.holds(edited(5, "x"))
    held = run(catch, client, [edited(5, "y"), Deleted(4, "Ana", "João", 1.0)])
    assert held == [True, True]
    assert ended(catch)
    assert screen.handled == [edited(5, "y"), Deleted(4, "Ana", "João", 1.0)]


def test_a_change_that_came_after_the_page_is_said_though_the_page_showed_its_message() -> None:
    screen = Screen(known=set())
    client = FakeClient([entry(5, "Ana", "João", "primeira"), entry(6, "Ana", "João", "segunda versão 1")])
    newer = edited(6, "segunda versão 2")
    offered: list[bool] = []

    def handle(event) -> None:
        screen.handle(event)
        if isinstance(event, DirectMessage) and event.msg_id == 5:
            offered.append(catch.holds(newer))  # told while the page's messages are being shown

    catch = CatchUp(client, lambda: "João", 5.0, screen.print_lock, screen.event_lock,
                    lambda msg_id: msg_id in screen.known, handle)
    catch.talked_with(DirectMessage(1, "Ana", "João", "oi", 1.0))
    run(catch, client, [])
    assert ended(catch)
    assert offered == [True]
    # The page's text of 6 is older than the change: said after it.
    assert [(type(e).__name__, e.msg_id) for e in screen.handled] == [
        ("DirectMessage", 5), ("DirectMessage", 6), ("Edited", 6)]


def test_a_login_that_fails_before_its_catch_up_holds_nothing_after() -> None:
    screen = Screen(known=set())
    catch = screen.catch_up(FakeClient([]))
    with screen.print_lock:
        catch.coming_locked()
    assert catch.holds(edited(5, "x"))
    catch.cancelled()
    assert screen.handled == [edited(5, "x")]
    assert not catch.holds(edited(6, "y"))


def test_past_the_bound_a_change_is_said_at_once() -> None:
    screen = Screen(known=set())
    catch = screen.catch_up(FakeClient([]))
    with screen.print_lock:
        catch.coming_locked()
    assert all(catch.holds(edited(n, "x")) for n in range(10, 10 + HELD_CHANGES))
    assert not catch.holds(edited(1, "one too many"))
    catch.cancelled()
    assert len(screen.handled) == HELD_CHANGES


def test_a_screen_that_shows_nothing_yet_catches_up_from_where_the_server_first_welcomed_it() -> None:
    # The terminal started, showed nothing, and lost its connection; meanwhile Ana wrote to
    # João's phone. Before, nothing was asked (nothing shown to go on from) and the screen
    # never showed it.
    screen = Screen(known=set())
    client = FakeClient([entry(41, "Ana", "João", "chegou o livro")])
    catch = screen.catch_up(client)
    catch.welcomed(40)
    catch.welcomed(45)  # a later login's welcome: what came between is the catch-up's to find
    client.release.set()
    catch.start()
    assert ended(catch)
    assert client.after == 40
    assert [(type(e).__name__, e.msg_id) for e in screen.handled] == [("DirectMessage", 41)]


def test_an_empty_server_is_a_place_to_begin_and_an_older_servers_welcome_is_not() -> None:
    screen = Screen(known=set())
    client = FakeClient([entry(1, "Ana", "João", "oi")])
    catch = screen.catch_up(client)
    catch.welcomed(0)  # no message yet: every one is after this login
    client.release.set()
    catch.start()
    assert ended(catch) and client.after == 0
    assert [e.msg_id for e in screen.handled] == [1]

    older = Screen(known=set())
    client = FakeClient([entry(1, "Ana", "João", "oi")])
    catch = older.catch_up(client)
    catch.welcomed(None)  # no last_id: nothing to go on from, so nothing is asked
    client.release.set()
    catch.start()
    assert ended(catch)
    assert not client.asked.is_set() and older.handled == []


def test_what_the_screen_shows_moves_the_start_past_the_welcome() -> None:
    screen = Screen(known=set())
    client = FakeClient([])
    catch = screen.catch_up(client)
    catch.talked_with(DirectMessage(52, "Ana", "João", "já aqui", 1.0))  # (the receiver ran first)
    catch.welcomed(50)
    client.release.set()
    catch.start()
    assert ended(catch) and client.after == 52


class OlderServer:
    """A server without the feature since: answers each ``history`` with nothing, and
    notes whom it was asked about, in order."""

    since_supported = False

    def __init__(self) -> None:
        self.asked: list[str] = []

    def history(self, peer: str, limit: int, timeout: float) -> list[HistoryEntry]:
        self.asked.append(peer)
        return []


def test_without_since_it_asks_the_most_recent_conversations_up_to_the_bound_the_latest_first() -> None:
    screen = Screen(known=set())
    server = OlderServer()
    catch = screen.catch_up(server)
    names = [f"Pessoa{n}" for n in range(CATCH_UP_PEERS + 1)]
    for n, name in enumerate(names):
        catch.talked_with(DirectMessage(n + 1, name, "João", "oi", 1.0))
    catch.talked_with(DirectMessage(99, names[1], "João", "de novo", 1.0))  # talked with again: most recent
    catch.start()
    assert ended(catch)
    assert server.asked == [names[1]] + names[:1:-1]  # the first is the one left out
    assert len(server.asked) == CATCH_UP_PEERS


def test_our_message_with_an_id_makes_its_person_recent_a_room_message_or_one_without_an_id_does_not() -> None:
    screen = Screen(known=set())
    server = OlderServer()
    catch = screen.catch_up(server)
    catch.talked_with(DirectMessage(1, "Ana", "João", "oi", 1.0))
    ours = OutgoingMessage("r1", "Bia", "olá, Bia")
    ours.msg_id = 2
    catch.talked_with(MessageUpdate(ours, "delivered"))
    catch.talked_with(MessageUpdate(OutgoingMessage("r2", "Caio", "nunca aceita"), "failed"))  # no id: not a talk
    to_room = OutgoingMessage("r3", None, "olá, turma")
    to_room.msg_id = 3
    catch.talked_with(MessageUpdate(to_room, "sent"))  # the room: nobody's conversation
    catch.start()
    assert ended(catch)
    assert server.asked == ["Bia", "Ana"]


def test_a_catch_up_shows_an_edited_message_with_its_mark_and_a_deleted_one_as_deleted() -> None:
    screen = Screen(known=set())
    client = FakeClient([entry(11, "Ana", "João", "versão nova", edited=True),
                         HistoryEntry(12, "Ana", "João", "", 112.0, "delivered", False, True)])
    catch = screen.catch_up(client)
    catch.welcomed(10)
    client.release.set()
    catch.start()
    assert ended(catch)
    first, second = screen.handled
    assert first.text == shown_text("versão nova", edited=True) != "versão nova"
    assert (second.msg_id, second.text, second.deleted) == (12, "", True)
