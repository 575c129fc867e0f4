"""Blocking in the real window (Xvfb): whom Bob blocks on another device is marked in the
list when the window opens; the header's button and the list's right-click menu block and
unblock, the mark following the server's ``ok``; and what a blocked person sends never
shows (their message is answered as any other, and never delivered: PROTOCOL.md).

Driven as tests/integration/test_gui.py drives the window (its fixtures, its test hook).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import const
from protocol import (Accepted, Block, Delivered, DirectMessage, Done, Hello, Queued, Receipt, RoomMessage, SendDirect,
                      UserJoined, UserLeft, Welcome)
from faultproxy import UP, Fault, FaultProxy
from server import ServerConfig, ServerThread
from test_gui import Gui, contact, display, open_gui, server  # noqa: F401  (fixtures)
from test_gui_layout import _resize
from tools import require_tool
from wire import WireClient

PASSWORD = "correct horse"
NOTICES = (UserJoined, UserLeft, RoomMessage)
SHOTS = Path("/tmp/s20")
pytestmark = pytest.mark.timeout_seconds(120)


def test_the_window_marks_blocks_made_elsewhere_and_blocks_and_unblocks_from_the_header_and_the_list(
        server, open_gui, monkeypatch, tmp_path: Path) -> None:  # noqa: F811
    require_tool("xwd", "x11-apps", why="to take the window's screenshots")
    with WireClient.login(server.host, server.port, "Mallory"):
        pass  # Mallory has logged in once: her name as registered
    with WireClient(server.host, server.port) as other, WireClient.login(server.host, server.port, "Alice") as alice:
        # Bob's other device blocks Mallory before his window opens.
        other.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, True))
        other.expect(Welcome, skip=NOTICES)
        other.send(Block("b1", "mallory"))
        assert other.expect(Done, skip=NOTICES).request_id == "b1"
        monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
        bob = open_gui("Bob")
        state = bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["blocked"] == ["mallory"]
                         and contact(s, "mallory"), "Mallory marked as blocked")
        row = contact(state, "mallory")
        assert row["dot"] == "offline" and "blocked" in row["tags"] and row["text"].strip() == "Mallory  (blocked)"
        assert "blocked" not in contact(state, "alice")["tags"]
        assert state["block_button"] is None  # the room is open: no one to block
        SHOTS.mkdir(parents=True, exist_ok=True)
        bob.cmd("screenshot", path=str(SHOTS / "gui-blocks-list.png"))  # the mark, unselected

        # Mallory's conversation: the header says it and offers Unblock.
        bob.cmd("key", sequence="<Control-Key-3>")  # the room, Alice (online), Mallory
        state = bob.wait(lambda s: s["active"] == "mallory" and s["block_button"], "Mallory's conversation")
        assert state["block_button"] == {"text": "Unblock", "state": "normal"}
        assert state["header"] == ["Mallory", "offline · blocked: their messages do not reach you"]
        assert bob.cmd("block")["ok"]
        state = bob.wait(lambda s: s["blocked"] == [] and s["block_button"]["text"] == "Block",
                         "Mallory unblocked", panes=["mallory"])
        assert "You unblocked Mallory: their new messages reach you again" in state["panes"]["mallory"]
        assert contact(state, "mallory")["text"].strip() == "Mallory  (offline)"

        # Alice, blocked from the list's menu: what she sends then never shows.
        assert bob.cmd("contact_menu", key="alice")["items"] == ["Block Alice"]
        bob.cmd("contact_menu", key="alice", choose=True)
        state = bob.wait(lambda s: s["blocked"] == ["alice"] and "blocked" in contact(s, "alice")["tags"],
                         "Alice blocked", panes=["alice"])
        assert "You blocked Alice: their messages no longer reach you (yours still reach them)" \
            in state["panes"]["alice"]
        assert contact(state, "alice")["text"].strip() == "Alice  (blocked)"
        assert bob.cmd("contact_menu", key="alice")["items"] == ["Unblock Alice"]
        alice.send(SendDirect("a1", "Bob", "you cannot see this"))
        alice.expect(Accepted, skip=NOTICES)  # answered as any other (the server does not tell her)
        # What Bob sends her still reaches her: blocking is one way.
        bob.cmd("type", text="", enter=False)  # the focus back in the input box (the menu took it)
        bob.cmd("key", sequence="<Control-Key-2>")
        bob.wait(lambda s: s["active"] == "alice", "Alice's conversation")
        bob.cmd("type", text="I still write to you")
        dm = alice.expect(DirectMessage, skip=NOTICES)
        assert dm.text == "I still write to you"
        alice.send(Receipt(dm.msg_id))
        state = bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["delivered"], "Bob's line delivered",
                         panes=["alice"])
        assert "you cannot see this" not in str(state["panes"])
        assert state["header"][1] == "online · blocked: their messages do not reach you"
        assert state["block_button"] == {"text": "Unblock", "state": "normal"}
        shot = SHOTS / "gui-blocks.png"
        bob.cmd("screenshot", path=str(shot))
        assert shot.read_bytes().startswith(b"\x89PNG")
        print(f"\nscreenshot: {shot}")
        assert not [e for e in alice.drain(0.3) if isinstance(e, (Delivered, Queued))]  # a1: never delivered


def test_the_window_says_blocking_in_portuguese(server, open_gui, monkeypatch) -> None:  # noqa: F811
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    with WireClient(server.host, server.port) as other:
        other.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, True))
        other.expect(Welcome, skip=NOTICES)
        other.send(Block("b1", "Mallory"))
        assert other.expect(Done, skip=NOTICES).request_id == "b1"
        monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
        bob = open_gui("Bob")
        state = bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and contact(s, "mallory"),
                         "Mallory listed")
        assert contact(state, "mallory")["text"].strip() == "mallory  (bloqueado)"  # nobody logged in as her
        assert bob.cmd("contact_menu", key="mallory")["items"] == ["Desbloquear mallory"]
        bob.cmd("type", text="", enter=False)  # the focus back in the input box (the menu took it)
        bob.cmd("key", sequence="<Control-Key-2>")
        state = bob.wait(lambda s: s["active"] == "mallory" and s["block_button"], "Mallory's conversation")
        assert state["block_button"] == {"text": "Desbloquear", "state": "normal"}
        # At the window's first size (980 px) the Portuguese explanation ran past its right
        # edge: the header says as much as fits (ChatModel.person_subtitle), all of it when wider.
        # (Nobody has logged in as Mallory: the watch says so, and the header with it.)
        assert (state["header"][1], state["header_fits"]) == ("ninguém com esse nome entrou aqui · bloqueado",
                                                              True), state["header"]
        _resize(bob, 1280, 800)
        bob.wait(lambda s: s["header"][1] == "ninguém com esse nome entrou aqui · bloqueado: as mensagens dessa "
                 "pessoa não chegam até você" and s["header_fits"], "the whole explanation in a wider window",
                 panes=False)
        bob.cmd("block")
        state = bob.wait(lambda s: s["blocked"] == [], "Mallory unblocked", panes=["mallory"])
        assert "Você desbloqueou mallory: as novas mensagens dessa pessoa voltam a chegar até você" \
            in state["panes"]["mallory"]
        assert state["block_button"]["text"] == "Bloquear"
        print(f"\nscreenshot: {bob.cmd('screenshot', path=str(SHOTS / 'gui-blocks-pt.png'))['path']}")


@pytest.mark.parametrize("block", [True, False])
def test_a_block_whose_answer_was_lost_is_said_in_the_windows_words(display, tmp_path, monkeypatch,  # noqa: F811
                                                                    block) -> None:
    """The connection ended after Block (or Unblock) went and before the server answered:
    the Portuguese window said "O bloqueio de Mallory não foi confirmado: a conexão caiu
    antes de a resposta chegar (...)" with the library's technical reason for the cut,
    in English, in the parentheses. It says it in its own words, and that it may or may
    not have been done; once back, the server's list says which, and the mark follows it."""
    monkeypatch.setenv("LANGUAGE", "pt_BR")
    monkeypatch.setenv("CHAT_PASSWORD", PASSWORD)
    bob = None
    with ServerThread(ServerConfig(host="127.0.0.1", port=0, login_failure_delay=0.05)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            with WireClient(server.host, server.port) as other:
                other.send(Hello("h", "Bob", const.PROTOCOL_VERSION, PASSWORD, True))
                other.expect(Welcome, skip=NOTICES)
                if not block:
                    other.send(Block("b1", "Mallory"))
                    assert other.expect(Done, skip=NOTICES).request_id == "b1"
            with WireClient.login(server.host, server.port, "Mallory"):
                bob = Gui(display, proxy.port, "Bob", tmp_path)
                bob.wait(lambda s: s["view"] == "chat" and s["state"] == "connected" and s["blocked"] is not None
                         and contact(s, "mallory"), "Mallory listed")
                bob.cmd("key", sequence="<Control-Key-2>")
                bob.wait(lambda s: s["active"] == "mallory" and s["block_button"]
                         and s["block_button"]["state"] == "normal", "Mallory's conversation")
                # Cut as the request goes up, before the server has it: the window wrote it,
                # and cannot know (cut after it, the answer sometimes came down first).
                proxy.add(Fault(UP, frame_type="block" if block else "unblock", when="before", name="Bob"))
                assert bob.cmd("block")["ok"]
                word = "bloqueio" if block else "desbloqueio"
                state = bob.wait(lambda s: f"O {word} de Mallory" in s["panes"]["mallory"], "the outcome said",
                                 panes=["mallory"])
                assert proxy.cuts, "the test did not cut the answer"
                said = state["panes"]["mallory"].splitlines()[-1].partition(" · ")[2]
                assert said == f"O {word} de Mallory não foi confirmado: " \
                               "a conexão caiu antes de o servidor responder", said
                # Back, the server's list settles it (the request never reached it).
                bob.wait(lambda s: s["state"] == "connected" and s["blocked"] == ([] if block else ["mallory"]),
                         "the mark as the server holds it", timeout=30)
        finally:
            if bob is not None:
                bob.close()
