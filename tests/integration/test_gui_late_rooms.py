"""Room acts in the real window under Xvfb (see test_gui.py for the harness) whose answers
come late, and lifting a ban: a join the window gave up waiting for (the server stopped
reading: FaultProxy.stall) and the server made after all lists the room, as a join does;
"Lift a ban…" for those who may moderate, with the name they banned offered."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientkit import WAIT, start
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


@pytest.mark.timeout_seconds(120)
def test_an_edit_a_delete_and_a_leave_answered_after_the_window_gave_up_show_as_done(display, clients,
                                                                                    tmp_path: Path) -> None:
    """The server stops reading Bob (FaultProxy.stall) while he edits one post of his in
    #redes, deletes another and leaves the room: no answer within the library's wait, so
    the window says each may or may not have been done. The server reads them after all and
    answers late: the edit shows on its post, the deleted post says so, the room leaves the
    list, each said once; and Olga got all three. (Unit-tested in test_gui_model_late.py;
    here with a real server's late answers.)"""
    from protocol import RoomDeleted, RoomEdited, RoomNotice

    bob = None
    with ServerThread(ServerConfig(host="127.0.0.1", port=0)) as server, \
            FaultProxy(server.host, server.port) as proxy:
        try:
            olga = start(clients, server.port, "Olga")
            olga.join("#redes")
            bob = Gui(display, proxy.port, "Bob", tmp_path)
            bob.logged_in()
            bob.cmd("join", room="#redes")
            bob.wait(lambda s: s["active"] == "##redes" and len(s["members"]) == 2, "#redes open")
            bob.cmd("type", text="plan A")
            bob.cmd("type", text="plan B")
            bob.wait(lambda s: [m["state"] for m in s["outgoing"]] == ["sent", "sent"], "both posts as sent")
            assert proxy.stall("Bob") == 1
            bob.cmd("key", sequence="<Control-e>")  # his last post, plan B
            bob.wait(lambda s: s["input"] == "plan B", "plan B in the input box")
            bob.cmd("type", text="plan C", clear=True)
            assert bob.cmd("message_act", act="delete", text="plan A")["ok"]
            bob.cmd("room_leave")
            maybe = "The server's answer did not come: it may or may not have been changed"
            state = bob.wait(lambda s: s["panes"]["##redes"].count(maybe) == 2
                             and "Leaving #redes is not confirmed" in "".join(s["panes"].values()),
                             "each said not confirmed", timeout=30)
            assert contact(state, "##redes") is not None, "not left yet as far as the window knows"
            assert proxy.unstall("Bob") == 1
            state = bob.wait(lambda s: "plan C  (edited)" in s["panes"]["##redes"]
                             and "(this message was deleted)" in s["panes"]["##redes"]
                             and not contact(s, "##redes"), "the late answers applied", timeout=30)
            said = "".join(state["panes"].values())
            # No read mark (nor typing notice) went for #redes once its leave was asked: the
            # server refuses them (not_member, no id), which the window can only call an error.
            assert "The server reported an error" not in said, said
            for late in ("your message was edited", "the message was deleted", "you left #redes"):
                assert said.count("The server's answer came late: " + late) == 1, said
            assert "plan A" not in state["panes"]["##redes"] and "plan B" not in state["panes"]["##redes"], state
            seen = []
            while len(seen) < 3:
                event = olga.events.get(timeout=WAIT)
                if isinstance(event, (RoomEdited, RoomDeleted)) or (
                        isinstance(event, RoomNotice) and event.act == "left" and event.name == "Bob"):
                    seen.append(type(event).__name__)
            assert sorted(seen) == ["RoomDeleted", "RoomEdited", "RoomNotice"], seen
        finally:
            if bob is not None:
                bob.close()
