"""The page opened at http://[::1]:PORT/ in Chromium: it logs in over its WebSocket (the
URL it builds from its own, brackets included) and shows a terminal user's IPv6 address
as an address and a port, [::1]:PORT (README.md, "IPv6")."""

from __future__ import annotations

from pathlib import Path

import pytest

from browserpage import page_at
from chatpeer import TcpPeer
from server import ServerConfig, ServerThread
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


def test_the_page_on_the_ipv6_loopback_logs_in_and_shows_an_ipv6_address(tmp_path: Path) -> None:
    require_tool("chromium", why="to run the web client in a browser")
    with ServerThread(ServerConfig(host="::1", port=0, web_port=0)) as srv:
        url = f"http://[::1]:{srv.server.web_address[1]}/"
        with page_at(tmp_path, url, srv) as page:
            page.log_in("Conceição")
            joao = TcpPeer("::1", srv.port)
            try:
                joao.login("João")
                port = joao.sock.getsockname()[1]
                page.open_conversation("João")
                page.wait_for("document.getElementById('conversation-where').textContent.startsWith("
                              f"'[::1]:{port} ')")
                page.screenshot(tmp_path / "ipv6-page.png")
                assert not page.problems()
            finally:
                joao.close()
