"""Room acts in the real window under Xvfb (see test_gui.py for the harness) whose answers
come late: a join the window gave up waiting for (the server stopped reading:
FaultProxy.stall) and the server made after all lists the room, as a join does."""

from __future__ import annotations

from pathlib import Path

import pytest

from clientkit import start
from faultproxy import FaultProxy
from server import ServerConfig, ServerThread
from test_gui import Gui, contact, display  # noqa: F401  (fixtures)


@pytest.mark.timeout_seconds(90)
def test_a_join_answered_after_the_window_gave_up_waiting_lists_the_room(display, clients, tmp_path: Path) -> None:
    """Before, the window said the join failed, then that the answer came late ("you are in
    #redes"), and showed no room although Bob was in it until the next login."""
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
            state = bob.wait(lambda s: "Joining #redes failed" in s["panes"]["#room"], "the join said failed",
                             timeout=30)
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
