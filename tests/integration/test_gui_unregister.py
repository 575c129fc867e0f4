""""Delete account…" in the window (PROTOCOL.md, "unregister"): an account's only (a guest
has no such button), a dialog where the password is the confirmation, the server's refusal
said in it, and once the account is deleted the window back at its login form saying so.

A real server and the window on Xvfb (test_gui's fixtures), driven by its test hook; every
wait has a deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol import ErrorReply, Hello, Welcome
from test_gui import display, open_gui, server  # noqa: F401  (fixtures)
from tools import require_tool
from wire import WireClient

pytestmark = pytest.mark.timeout_seconds(120)

PASSWORD = "correct horse"


def test_an_account_deletes_itself_in_the_windows_dialog(open_gui, server, tmp_path: Path) -> None:
    gui = open_gui("")  # the login form: Dora claims her name there, with a password
    gui.wait(lambda s: s["view"] == "login" and s["viewable"], "the login form")
    gui.cmd("login", name="Dora", port=str(server.port), password=PASSWORD, register=True)
    state = gui.logged_in()
    assert state["me"] == "Dora" and state["unregister"]["button"], state["unregister"]
    with WireClient(server.host, server.port) as probe:  # the account exists
        probe.send(Hello("h", "Dora", 1, password=PASSWORD))
        assert probe.expect(Welcome).registered
    # A wrong password: the server's refusal in the dialog, which stays; nothing deleted.
    gui.cmd("unregister", password="not my password")
    state = gui.wait(lambda s: s["unregister"]["error"], "the refusal in the dialog")
    assert (state["unregister"]["dialog"], state["unregister"]["error"]) == (True, "Wrong password.")
    assert state["view"] == "chat" and state["state"] == "connected"
    # Its warning says what goes and what stays, as the page's does.
    assert any("what you sent stays with its recipients" in text for text in state["unregister"]["texts"]), state
    require_tool("xwd", "x11-apps", why="to take the window's screenshot")
    print(f"\nscreenshot: {gui.cmd('screenshot', path=str(tmp_path / 'gui-unregister-refused.png'))}")
    gui.cmd("unregister_close")
    gui.wait(lambda s: not s["unregister"]["dialog"] and s["focus"] == "input", "Cancel: the keys back in the input box")
    with WireClient(server.host, server.port) as probe:  # still there
        probe.send(Hello("h", "Dora", 1, password=PASSWORD))
        assert probe.expect(Welcome).registered
    # The right one: the account is gone, the window back at its login form saying why.
    gui.cmd("unregister", password=PASSWORD)
    state = gui.wait(lambda s: s["view"] == "login" and not s["login_busy"], "the login form again")
    assert state["login_prompt"].startswith("This account was deleted: "), state["login_prompt"]
    # No password asked for an account there is no more, nor its name claimed again by a
    # box left ticked: the cursor in the name (held a while: another one, or later).
    assert state["login_fields"] == {"name": "Dora", "password": "", "register": False}, state["login_fields"]
    gui.wait(lambda s: s["focus"] == "login-name", "the cursor in the name field")
    assert not state["alerts"], state["alerts"]
    print(f"\nscreenshot: {gui.cmd('screenshot', path=str(tmp_path / 'gui-unregister-done.png'))}")
    with WireClient(server.host, server.port) as probe:  # the old password logs in no more: the name is held
        probe.send(Hello("h", "Dora", 1, password=PASSWORD))
        assert probe.expect(ErrorReply).code == "name_taken"


def test_a_guest_has_no_delete_account_button(open_gui, server) -> None:
    gui = open_gui("Erin")
    state = gui.logged_in()
    assert state["unregister"] == {"button": False, "dialog": False, "error": "", "texts": []}
