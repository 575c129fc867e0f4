"""The real window (Xvfb) when its user is also on another device: Bob registered, his
window open, and a second session of his (a wire client with carbons, read and edits, as
the terminal or the page is) sending and reading.

- What the other device sends shows in the window as Bob's, and its state moves there as
  it moves in the sending session: "✓ sent", then "✓✓ delivered", then "✓✓ read".
- What the other device reads is not unread in the window any more.
- Bob's room posts from the other device are "You" in the window, with their state.
- While a message is edited, the input box's button says "Save", and an event that comes
  meanwhile does not turn it back to "Send".
- What the other device got and sent while the window was reconnecting (the server gives
  it only to the sessions online then) shows in the window once it is back, once each.

Driven as tests/integration/test_gui.py drives the window (its fixtures, its test hook).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import const
from protocol import (
    CARBONS, EDITS, READ, Accepted, Delivered, DirectMessage, Hello, JoinRoom, Read, Receipt, RoomInfo,
    RoomMessage, RoomNotice, RoomPost, SendDirect, SendRoom, SendToRoom, UserJoined, UserLeft, Welcome,
)
from faultproxy import FaultProxy
from test_gui import contact, display, open_gui, server  # noqa: F401  (fixtures)
from wire import WireClient

PASSWORD = "correct horse"
NOTICES = (UserJoined, UserLeft, RoomMessage, RoomNotice, RoomPost)
pytestmark = pytest.mark.timeout_seconds(120)


def bob_on_two_devices(server, open_gui, monkeypatch, alice: WireClient, other: WireClient):  # noqa: F811
    """Alice (read receipts) logs in; Bob registers on ``other`` (carbons, read, edits:
    his "terminal"), then his window logs in with the same password. Returns the window."""
    alice.send(Hello("h", "Alice", const.PROTOCOL_VERSION, None, False, None, (READ,)))
    alice.expect(Welcome, skip=NOTICES)
    other.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, True, None, (CARBONS, READ, EDITS)))
    other.expect(Welcome, skip=NOTICES)
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    window = open_gui("Bob")
    window.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["focus"] == "input",
                "the chat view")
    return window


def pane(state, key: str) -> str:
    return state["panes"].get(key, "")


def test_what_another_device_sends_and_reads_shows_in_the_window(server, open_gui, monkeypatch,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    with WireClient(server.host, server.port) as alice, WireClient(server.host, server.port) as other:
        window = bob_on_two_devices(server, open_gui, monkeypatch, alice, other)
        # Alice writes twice; Bob reads both on the other device: not unread in the window.
        alice.send(SendDirect("a1", "Bob", "você vem amanhã?"))
        alice.send(SendDirect("a2", "Bob", "a prova é sexta"))
        window.wait(lambda s: contact(s, "alice") and contact(s, "alice")["unread"] == "2", "two unread")
        dms = [other.expect(DirectMessage, skip=NOTICES + (Delivered,)) for _ in range(2)]
        for dm in dms:
            other.send(Receipt(dm.msg_id))
        other.send(Read("Alice", dms[-1].msg_id))
        window.wait(lambda s: contact(s, "alice")["unread"] == "" and "unread" not in contact(s, "alice")["tags"],
                    "no unread count after the other device read them")

        # The other device writes to Alice: the window shows it as Bob's, and its state
        # follows the message's outcome and Alice's read as the sending session's does.
        other.send(SendDirect("t1", "Alice", "Vou sim, até amanhã"))
        other.expect(Accepted, skip=NOTICES)
        window.wait(lambda s: "You: Vou sim, até amanhã   ✓ sent" in pane(s, "alice"), "our message, sent")
        mine = alice.expect(DirectMessage, skip=NOTICES + (Accepted, Delivered, Read))
        alice.send(Receipt(mine.msg_id))
        window.wait(lambda s: "You: Vou sim, até amanhã   ✓✓ delivered" in pane(s, "alice"), "✓✓ delivered")
        alice.send(Read("Bob", mine.msg_id))
        state = window.wait(lambda s: "You: Vou sim, até amanhã   ✓✓ read" in pane(s, "alice"), "✓✓ read")
        assert contact(state, "alice")["unread"] == ""
        shot = tmp_path / "gui-other-device.png"
        window.cmd("key", sequence="<Control-Key-2>")  # Alice's conversation, for the picture
        window.wait(lambda s: s["active"] == "alice", "Alice's conversation")
        # The list marks the conversation on screen, opened by a key as by a click (its
        # first opening redraws the list anyway, with the history; the second does not).
        window.cmd("key", sequence="<Control-Key-1>")
        state = window.wait(lambda s: s["active"] == "#room", "Everyone")
        assert [row["key"] for row in state["contacts"] if row["selected"]] == ["#room"]
        window.cmd("key", sequence="<Control-Key-2>")
        state = window.wait(lambda s: s["active"] == "alice", "Alice's conversation again")
        assert [row["key"] for row in state["contacts"] if row["selected"]] == ["alice"]
        window.cmd("screenshot", path=str(shot))
        print(f"\nscreenshot: {shot}")


def test_our_room_posts_from_another_device_are_ours_in_the_window(server, open_gui, monkeypatch,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    with WireClient(server.host, server.port) as alice, WireClient(server.host, server.port) as other:
        window = bob_on_two_devices(server, open_gui, monkeypatch, alice, other)
        other.send(SendRoom("r1", "bom dia a todos!!"))
        other.expect(Accepted, skip=NOTICES)
        other.send(JoinRoom("j1", "#calculo"))
        other.expect(RoomInfo, skip=NOTICES)
        other.send(SendToRoom("r2", "#calculo", "cheguei"))
        other.expect(Accepted, skip=NOTICES)
        alice.send(SendRoom("r3", "bom dia, Bob"))
        state = window.wait(lambda s: "Alice: bom dia, Bob" in pane(s, "#room")
                            and "##calculo" in s["rooms"] and "You: cheguei   ✓ sent" in pane(s, "##calculo"),
                            "the posts in both rooms")
        assert "You: bom dia a todos!!   ✓ sent" in pane(state, "#room")
        assert "Bob: " not in pane(state, "#room") + pane(state, "##calculo")
        shot = tmp_path / "gui-other-device-rooms.png"
        window.cmd("screenshot", path=str(shot))
        print(f"\nscreenshot: {shot}")


def test_the_button_says_save_while_a_message_is_edited(server, open_gui, monkeypatch) -> None:  # noqa: F811
    with WireClient(server.host, server.port) as alice, WireClient(server.host, server.port) as other:
        window = bob_on_two_devices(server, open_gui, monkeypatch, alice, other)
        assert window.cmd("dump", panes=False)["send_button"] == "Send"
        window.cmd("type", text="olá a todos")
        window.wait(lambda s: "You: olá a todos   ✓ sent" in pane(s, "#room"), "our post")
        window.cmd("key", sequence="<Control-e>")
        state = window.wait(lambda s: s["input"] == "olá a todos", "our post in the input box", panes=False)
        assert state["send_button"] == "Save"
        assert state["recipient"] == "Editing your message: Enter saves, Esc cancels"
        # Something happens meanwhile (Alice writes): the box still says what Enter does.
        alice.send(SendRoom("a1", "oi"))
        state = window.wait(lambda s: "Alice: oi" in pane(s, "#room"), "Alice's post")
        assert (state["send_button"], state["recipient"]) == ("Save", "Editing your message: Enter saves, Esc cancels")
        window.cmd("type", text="olá a todos!", clear=True)
        state = window.wait(lambda s: "olá a todos!  (edited)" in pane(s, "#room"), "the edit saved")
        assert (state["send_button"], state["recipient"]) == ("Send", "To everyone in the room")
        # Esc cancels an edit, and so does opening another conversation: "Send" again.
        window.cmd("key", sequence="<Control-e>")
        window.wait(lambda s: s["send_button"] == "Save", "editing again", panes=False)
        window.cmd("key", sequence="<Escape>")
        state = window.wait(lambda s: s["send_button"] == "Send", "the edit cancelled", panes=False)
        assert (state["input"], state["recipient"]) == ("", "To everyone in the room")
        window.cmd("key", sequence="<Control-e>")
        window.wait(lambda s: s["send_button"] == "Save", "editing again", panes=False)
        window.cmd("key", sequence="<Control-Key-2>")
        state = window.wait(lambda s: s["active"] == "alice", "Alice's conversation", panes=False)
        assert (state["send_button"], state["input"]) == ("Send", "")
        assert state["recipient"] == "To Alice"


def take_direct(device: WireClient, texts: list[str]) -> None:
    """``device`` gets the direct messages saying ``texts`` and confirms each (its receipt
    makes them delivered); whatever else comes is passed over."""
    left = list(texts)
    while left:
        event = device.next()
        if isinstance(event, DirectMessage) and event.text in left:
            left.remove(event.text)
            device.send(Receipt(event.msg_id))


def _joao_on_the_page_and_the_window(open_gui, monkeypatch, proxy: FaultProxy, page: WireClient,
                                     others: tuple, before_the_window=None) -> object:
    """``others`` ((wire, name) pairs) log in as guests, ``page`` as João registering his
    account (carbons, read, edits), ``before_the_window()`` if given, and João's window
    opens through ``proxy``: returned once it shows the chat, connected."""
    for wire, name in others:
        wire.send(Hello("h", name, const.PROTOCOL_VERSION, None, False, None, ()))
        wire.expect(Welcome, skip=NOTICES)
    page.send(Hello("h", "João", const.PROTOCOL_VERSION, PASSWORD, True, None, (CARBONS, READ, EDITS)))
    page.expect(Welcome, skip=NOTICES)
    if before_the_window is not None:
        before_the_window()
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    window = open_gui("João", port=proxy.port)
    window.wait(lambda s: s["view"] == "chat" and s["state"] == "connected", "the chat view")
    return window


def test_after_a_reconnection_the_window_shows_what_another_device_got_and_sent_meanwhile(  # noqa: F811
        server, open_gui, monkeypatch, tmp_path: Path) -> None:
    """João on the page and in the window; the window's connection cut and its reconnection
    refused while Ana wrote five times and Caio once (the page got them: its receipts made
    them delivered) and the page wrote to Ana: the server gives those to the sessions online
    then, so the window never got them. Back, it asks its conversations' newest pages and
    shows each once, in order: Ana's in her open conversation, Caio's counted unread, the
    page's message as ours with its state."""
    with WireClient(server.host, server.port) as ana, WireClient(server.host, server.port) as caio, \
            WireClient(server.host, server.port) as page, FaultProxy(server.host, server.port) as proxy:
        window = _joao_on_the_page_and_the_window(open_gui, monkeypatch, proxy, page, ((ana, "Ana"), (caio, "Caio")))
        ana.send(SendDirect("a0", "João", "antes da queda"))
        caio.send(SendDirect("c0", "João", "oi, João"))
        window.wait(lambda s: contact(s, "ana") and contact(s, "caio") and contact(s, "caio")["unread"] == "1"
                    and "Ana: antes da queda" in pane(s, "ana"), "the messages before the cut")
        take_direct(page, ["antes da queda", "oi, João"])
        window.cmd("key", sequence="<Control-Key-2>")  # Ana's conversation: its history loaded
        window.wait(lambda s: s["active"] == "ana" and contact(s, "ana")["unread"] == "", "Ana's conversation")

        proxy.refuse_new = True
        assert proxy.cut("João") == 1
        window.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting", panes=False)
        gap = [f"{n}: durante a queda" for n in ("um", "dois", "três", "quatro", "cinco")]
        for n, text in enumerate(gap):
            ana.send(SendDirect(f"a{n + 1}", "João", text))
        caio.send(SendDirect("c1", "João", "você sumiu?"))
        take_direct(page, gap + ["você sumiu?"])  # the page got them all
        page.send(SendDirect("p1", "Ana", "escrevi pela página"))
        take_direct(ana, ["escrevi pela página"])  # delivered
        page.expect(Delivered, skip=NOTICES + (Accepted, Read))
        proxy.refuse_new = False

        mine = "You: escrevi pela página   ✓✓ delivered"
        state = window.wait(lambda s: s["state"] == "connected" and mine in pane(s, "ana")
                            and contact(s, "caio")["unread"] == "2", "what the page got and sent, in the window",
                            timeout=45)
        shown = pane(state, "ana")
        for text in ["Ana: antes da queda", *(f"Ana: {text}" for text in gap), mine]:
            assert shown.count(text) == 1, shown
        places = [shown.index(text) for text in ["antes da queda", *gap, "escrevi pela página"]]
        assert places == sorted(places), shown
        assert shown.count("reconnected") == 1, shown
        assert contact(state, "ana")["unread"] == ""  # on screen: read as it came
        window.cmd("key", sequence="<Control-Key-3>")
        state = window.wait(lambda s: s["active"] == "caio", "Caio's conversation")
        assert pane(state, "caio").count("Caio: você sumiu?") == 1
        assert pane(state, "caio").index("oi, João") < pane(state, "caio").index("você sumiu?")
        window.cmd("key", sequence="<Control-Key-2>")
        window.wait(lambda s: s["active"] == "ana", "Ana's conversation again")
        shot = tmp_path / "gui-catch-up.png"
        window.cmd("screenshot", path=str(shot))
        print(f"\nscreenshot: {shot}")


def _duda_writes_while_the_window_is_away(window, proxy: FaultProxy, page: WireClient, duda: WireClient) -> dict:
    """The window's connection cut and its reconnection refused while Duda writes to João
    and the page takes it (delivered: no queue keeps it for the window); then let back.
    The window's state once it shows Duda's message, counted unread."""
    proxy.refuse_new = True
    assert proxy.cut("João") == 1
    window.wait(lambda s: s["state"] == "reconnecting", "the window reconnecting", panes=False)
    duda.send(SendDirect("d1", "João", "oi, sou a Duda"))
    take_direct(page, ["oi, sou a Duda"])  # the page took it
    duda.expect(Delivered, skip=NOTICES + (Accepted,))
    proxy.refuse_new = False
    return window.wait(lambda s: s["state"] == "connected" and contact(s, "duda")
                       and contact(s, "duda")["unread"] == "1", "Duda's message in the window", timeout=45)


def test_after_a_reconnection_the_window_shows_a_new_contacts_message_another_device_took(  # noqa: F811
        server, open_gui, monkeypatch) -> None:
    """Feature since: Duda, whom the window never talked with, writes to João while the
    window reconnects, and the page takes it (delivered: no queue keeps it for the window).
    Back, the window asks every conversation's messages after the newest it showed, and
    Duda's conversation appears with her message once, counted unread."""
    with WireClient(server.host, server.port) as ana, WireClient(server.host, server.port) as duda, \
            WireClient(server.host, server.port) as page, FaultProxy(server.host, server.port) as proxy:
        window = _joao_on_the_page_and_the_window(open_gui, monkeypatch, proxy, page, ((ana, "Ana"), (duda, "Duda")))
        ana.send(SendDirect("a0", "João", "antes da queda"))
        window.wait(lambda s: "Ana: antes da queda" in pane(s, "ana") or (contact(s, "ana") or {}).get("unread") == "1",
                    "Ana's message before the cut")
        take_direct(page, ["antes da queda"])
        _duda_writes_while_the_window_is_away(window, proxy, page, duda)
        window.cmd("key", sequence="<Control-Key-3>")
        state = window.wait(lambda s: s["active"] == "duda", "Duda's conversation")
        assert pane(state, "duda").count("Duda: oi, sou a Duda") == 1, pane(state, "duda")


def test_a_window_that_showed_nothing_yet_shows_what_another_device_took_while_it_was_away(  # noqa: F811
        server, open_gui, monkeypatch) -> None:
    """The window opened and showed no direct message; its connection was cut, and Duda
    wrote to João meanwhile: the page took it. Before, a window that had shown nothing had
    nothing to ask from and never showed it; it now asks from its first welcome's last_id.
    Ana's message from before the window opened (the page took it) is not news there."""
    with WireClient(server.host, server.port) as ana, WireClient(server.host, server.port) as duda, \
            WireClient(server.host, server.port) as page, FaultProxy(server.host, server.port) as proxy:
        def ana_writes_first() -> None:
            ana.send(SendDirect("a0", "João", "antes da janela"))
            take_direct(page, ["antes da janela"])
            ana.expect(Delivered, skip=NOTICES + (Accepted,))

        window = _joao_on_the_page_and_the_window(open_gui, monkeypatch, proxy, page, ((ana, "Ana"), (duda, "Duda")),
                                                  ana_writes_first)
        _duda_writes_while_the_window_is_away(window, proxy, page, duda)
        window.cmd("key", sequence="<Control-Key-2>")  # Ana's (her history): her message once
        state = window.wait(lambda s: s["active"] == "ana" and "Ana: antes da janela" in pane(s, "ana"),
                            "Ana's conversation")
        assert pane(state, "ana").count("Ana: antes da janela") == 1, pane(state, "ana")
        window.cmd("key", sequence="<Control-Key-3>")
        state = window.wait(lambda s: s["active"] == "duda", "Duda's conversation")
        assert pane(state, "duda").count("Duda: oi, sou a Duda") == 1, pane(state, "duda")


def test_a_password_changed_on_another_device_signs_the_window_out_asking_for_the_new_one(  # noqa: F811
        server, open_gui, monkeypatch) -> None:
    """Bob changes his password on his other device: the window showed the server's bye
    and logged in again with the old password, in vain; now it shows the login form saying
    why, the cursor in the password field. The device that changed it stays."""
    from protocol import ChangePassword, Done, ErrorReply, WhoRequest, UserList
    with WireClient(server.host, server.port) as alice, WireClient(server.host, server.port) as other:
        window = bob_on_two_devices(server, open_gui, monkeypatch, alice, other)
        other.send(ChangePassword("p1", PASSWORD, "a new horse battery"))
        assert other.expect((Done, ErrorReply), skip=NOTICES) == Done("p1")
        state = window.wait(lambda s: s["view"] == "login" and s["login_prompt"] and s["focus"] == "login-password",
                            "the login form, asking, the cursor in the password field")
        # A sentence, as the form's other prompts are (it began in lower case).
        assert state["login_prompt"] == ("Your password was changed on another device: log in again with the "
                                          "new password."), state["login_prompt"]
        assert not state["login_busy"]
        other.send(WhoRequest("w1"))
        assert other.expect(UserList, skip=NOTICES).request_id == "w1"
