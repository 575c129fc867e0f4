"""The page's contact list keeps its order when presence changes (headless Chromium; see
test_web_browser.py for the harness): it put people online first, so a row jumped when
its person came online or left and a tester's click opened the wrong conversation. By
name only now, in the order a Portuguese reader expects."""

from __future__ import annotations

import pytest

from browserpage import TIMEOUT, Page, page  # noqa: F401 (fixtures)
import const
from chatpeer import TcpPeer
from protocol import Hello, Welcome
from tools import require_tool

pytestmark = pytest.mark.timeout_seconds(120)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def test_presence_never_reorders_the_pages_contacts_and_names_sort_as_in_portuguese(page: Page) -> None:  # noqa: F811
    """The page's core, without a server: people come and go, and nobody else's place in
    the list changes; accents sort with their letters, case aside."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      const who = receiveFrame(chat, {type: "welcome", id: "x", name: "Bob", version: 2, server: "s",
                                      heartbeat: 15}).send.find((f) => f.type === "who");
      const names = ["Zé", "Conceição", "carlos", "Érica", "eduardo", "Álvaro", "Alice", "Fábio"];
      receiveFrame(chat, {type: "users", id: who ? who.id : "w", users: names.map((name) => ({name, since: 1}))});
      for (const name of names) user(chat, name).known = true;  // talked with: listed offline too
      const order = () => sortedContacts(chat).map((e) => e.name);
      const r = {start: order(), after: []};
      for (const frame of [{type: "left", name: "Érica", reason: "quit", at: 2}, {type: "left", name: "Alice", at: 3},
                           {type: "joined", name: "Érica", at: 4}, {type: "left", name: "Zé", at: 5}]) {
        receiveFrame(chat, frame);
        r.after.push(order());
      }
      r.online = sortedContacts(chat).slice(0, 2).map((e) => e.online);
      return r;
    })()""")
    expected = ["Alice", "Álvaro", "carlos", "Conceição", "eduardo", "Érica", "Fábio", "Zé"]
    assert result["start"] == expected
    assert result["after"] == [expected] * 4
    assert result["online"] == [False, True]  # what the dot shows

    # The drawn list, live: Bob has talked with Carlos (offline: he logged in once, so the
    # page's lookup of his name finds him, test_web_lookup.py); Álvaro and Zé are online.
    token = "carlos-resume-token-0123456789abcdef"  # his, for his next login (PROTOCOL.md)
    carlos = TcpPeer("127.0.0.1", page.srv.port)
    carlos.send(Hello("carlos-1", "Carlos", const.PROTOCOL_VERSION, resume=token))
    carlos.expect(Welcome, TIMEOUT)
    carlos.close()
    peers = [TcpPeer("127.0.0.1", page.srv.port) for _ in range(3)]
    try:
        peers[0].login("Álvaro")
        peers[1].login("Zé")
        page.log_in("Bob")
        page.js("document.getElementById('new-chat-name').value = 'Carlos';"
                "document.getElementById('new-chat').requestSubmit()")
        rows = "[...document.querySelectorAll('#contact-list button.contact')].map((b) => b.dataset.key)"
        people = ["@álvaro", "@carlos", "@zé"]
        page.wait_for(f"{rows}.length === 4")
        assert page.js(rows)[1:] == people
        dot = "document.querySelector('button.contact[data-key=\"@carlos\"] [data-online]').dataset.online"
        assert page.js(dot) == "false"
        peers[2].send(Hello("carlos-2", "Carlos", const.PROTOCOL_VERSION, resume=token))  # he comes online:
        peers[2].expect(Welcome, TIMEOUT)  # the dot changes, his row stays
        page.wait_for(f"{dot} === 'true'")
        assert page.js(rows)[1:] == people
        page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
                " s.dispatchEvent(new Event('change')); })()")
        page.wait_for("document.documentElement.lang === 'pt-BR'")
        assert page.js(rows)[1:] == people
    finally:
        for peer in peers:
            peer.close()
    assert page.problems() == []
