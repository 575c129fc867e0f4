"""Room acts in the real window under Xvfb (see test_gui.py for the harness) whose answers
come late, and lifting a ban: a join the window gave up waiting for (the server stopped
reading: FaultProxy.stall) and the server made after all lists the room, as a join does;
"Lift a ban…" for those who may moderate, with the name they banned offered."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientkit import start
from faultproxy import FaultProxy
from server import ServerConfig, ServerThread
from test_gui import Gui, contact, display, open_gui, server  # noqa: F401  (fixtures)


@pytest.mark.timeout_seconds(90)
def test_a_join_answered_after_the_window_gave_up_waiting_lists_the_room(display, clients, tmp_path: Path) -> None:
    """Before, the window said the join failed, then that the answer came late ("you are in
    #redes"), and showed no room although Bob was in it until the next login. (Failed it
    was not: no answer came in time, and the server may have made it.)"""
    bob = None
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            olga = start(clients, server.port, "Olga")
            olga.join("#redes")
            olga.set_topic("#redes", "prova na sexta")
            bob = Gui(display, proxy.port, "Bob", tmp_path)
            bob.logged_in()
            assert proxy.stall("Bob") == 1
            bob.cmd("join", room="#redes", click=True)  # no answer within the library's SEND_TIMEOUT
            # Not "failed": the server may have made it (it did).
            state = bob.wait(lambda s: "Joining #redes is not confirmed: no answer from the server" in
                             s["panes"]["#room"], "the join said not confirmed", timeout=30)
            assert "failed" not in state["panes"]["#room"], state["panes"]["#room"]
            assert "##redes" not in state["rooms"], state["rooms"]
            assert proxy.unstall("Bob") == 1
            state = bob.wait(lambda s: "answer came late: you are in #redes" in s["panes"]["#room"]
                             and s["rooms"].get("##redes", {}).get("topic") == "prova na sexta",
                             "the room listed, with what it is like")
            assert contact(state, "##redes") is not None and state["rooms"]["##redes"]["count"] == 2
            assert state["active"] == "#room"  # not opened: the user moved on
        finally:
            if bob is not None:
                bob.close()


@pytest.mark.timeout_seconds(90)
def test_a_moderator_lifts_a_ban_from_the_room_column(open_gui, server, clients) -> None:
    """The member menu never offers to lift a ban (a banned person is in no member list):
    the column's "Lift a ban…" asks whose, offering the one Bob banned, and says what came
    of it; a plain member gets no such button."""
    bob = open_gui("Bob")
    bob.logged_in()
    bob.cmd("join", room="#redes", click=True)  # created: Bob owns it
    bob.wait(lambda s: s["active"] == "##redes" and s["members"] == ["Bob (owner)"], "the room, Bob its owner")
    vic = start(clients, server.port, "Vic")
    vic.join("#redes")
    bob.wait(lambda s: "Vic" in s["member_menus"], "Vic in the member list")
    bob.cmd("room_act", act="ban", name="Vic")
    bob.wait(lambda s: "you banned Vic from #redes" in s["panes"]["##redes"] and s["members"] == ["Bob (owner)"],
             "Vic banned")
    assert bob.cmd("lift_ban")["ok"]
    bob.wait(lambda s: bob.cmd("topic_dialog")["open"], "the dialog open", panes=False)
    dialog = bob.cmd("topic_dialog", text="Vic")
    assert (dialog["prompt"], dialog["text"]) == ("Whose ban on #redes to lift?", "Vic"), dialog
    state = bob.wait(lambda s: "you lifted the ban on Vic in #redes" in s["panes"]["##redes"], "the ban lifted")
    vic.join("#redes")  # in again
    bob.wait(lambda s: any(m.startswith("Vic") for m in s["members"]), "Vic back in the member list")
    # Nobody banned: the server answers ok and announces nothing; the window says it.
    assert bob.cmd("lift_ban")["ok"]
    bob.wait(lambda s: bob.cmd("topic_dialog")["open"], "the dialog open again", panes=False)
    assert bob.cmd("topic_dialog", text="Zoe")["text"] == ""  # Vic's ban lifted: nothing offered
    state = bob.wait(lambda s: "Zoe is not banned from #redes now" in s["panes"]["##redes"], "the outcome said")
    assert state["panes"]["##redes"].count("lifted the ban") == 1

    ana = open_gui("Ana")
    ana.logged_in()
    ana.cmd("join", room="#redes", click=True)
    ana.wait(lambda s: s["active"] == "##redes" and s["members"], "Ana in the room")
    assert ana.cmd("lift_ban") == {"ok": False}  # a plain member may not
