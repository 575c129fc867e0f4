"""A class through a server restart, seen in the interactive terminal (tmux) against a real
server on 127.0.0.1 (port 0), restarted on its port and database: those who were online
come back without a line each (client/returns.py, the window's rule too), a newcomer is
still told. Bounded waits only (see test_client_tmux.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from clientkit import start
from client.library import ChatClient
from server import ServerConfig, ServerThread
from test_client_tmux import WAIT, Tmux, input_rows, terminal  # noqa: F401  (the fixture)

CLASS = ("Ana", "Lúcia", "Conceição")


def completes(screen: Tmux, typed: str, whole: str) -> None:
    """Press Tab after ``typed`` until the prompt's line is ``whole`` (the terminal asks who
    is online as it logs in: the answer is in once Tab knows the name), then clear it."""
    screen.type(typed)
    deadline = time.monotonic() + WAIT
    while input_rows(screen.screen()).rstrip() != f"[#redes]> {whole}":
        if time.monotonic() > deadline:
            pytest.fail(f"{typed} Tab never completed to {whole}:\n" + "\n".join(screen.screen()))
        screen.press("Tab")
        time.sleep(0.1)  # (between presses: the screen is polled, the answer is not waited for)
    screen.press("C-u")


@pytest.mark.timeout_seconds(120)
def test_a_restart_costs_one_reconnected_line_and_a_newcomer_is_still_told(
        tmp_path, terminal: Callable[..., Tmux], clients: list[ChatClient]) -> None:
    """A tester's class: after a restart every terminal printed "* Ana joined" for each
    student who came back, and "* Conceição is online in #redes" for room-mates."""
    config = ServerConfig(host="127.0.0.1", port=0, data_dir=tmp_path)
    srv = ServerThread(config).__enter__()
    port = srv.port
    try:
        before = [start(clients, port, name, reconnect=False) for name in CLASS]
        before[2].join("#redes")
        screen = terminal("João", columns=100, port=port)
        screen.type("/join #redes")
        screen.press("Enter")
        screen.wait_text("* you are in #redes (2 members; owner Conceição)")
        completes(screen, "@Conc", "@Conceição")
        srv.stop()  # they go with the server (no reconnection: they come back after João)
        srv = ServerThread(ServerConfig(host="127.0.0.1", port=port, data_dir=tmp_path)).__enter__()
        screen.wait_text("! reconnected")
        for name in CLASS:
            start(clients, port, name, reconnect=False)
        start(clients, port, "Dora")  # not online before: news
        rows = screen.wait_text("* Dora joined")
        after = "\n".join(screen.screen(history=True)).split("! reconnected")[-1]
        assert "Dora joined" in after
        for name in CLASS:
            assert f"{name} joined" not in after, after
            assert f"{name} left" not in after, after
        assert "is online in #redes" not in after, after
        assert "left (server shutting down)" not in "\n".join(screen.screen(history=True)), rows
    finally:
        srv.stop()
