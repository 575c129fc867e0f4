"""The web page in a busy class room (headless Chromium, bots over raw TCP: see
tests/support/pageflood.py, which also measures a whole day): a flood of posts is drawn
once per animation frame, not once per post; the page keeps at most MAX_ITEMS messages
and, for a reader scrolled up, keeps what they read in place and says how many new ones
came below; older pages stay when the room is at its cap; the maps the page keeps are
bounded; reconnections do not multiply listeners or nodes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pageflood import ROOM, Bot, busy_site, enter_room, figures
from tools import require_tool

MAX_ITEMS = 500  # the page's MAX_ITEMS
MAX_SEEN = 5000  # and its MAX_SEEN
WAIT = 60.0      # a flood on a loaded machine

LAST_TEXT = "(() => { const t = document.querySelectorAll('#messages .msg-text'); return t.length ? t[t.length - 1].textContent : null; })()"


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


@pytest.fixture
def room(tmp_path: Path) -> Iterator[tuple]:
    """The page logged in as Conceição with #turma open; Prof (a bot) created it."""
    with busy_site(tmp_path) as (page, gateway):
        prof = Bot(gateway.srv.port, "Prof")
        try:
            prof.write([{"type": "join", "id": "c", "room": ROOM, "create": True}])
            page.cdp.timeout = WAIT  # a page busy with a flood answers late
            page.log_in("Conceição")
            enter_room(page)
            yield page, gateway, prof
        finally:
            prof.close()


def flood(page, prof: Bot, texts: list[str]) -> None:
    """``texts`` posted at once by Prof; returns when the page shows the last one."""
    prof.post(texts)
    page.wait_for(f"{LAST_TEXT} === {json.dumps(texts[-1])}", timeout=WAIT)


def test_a_flood_of_posts_is_drawn_once_per_frame_not_once_per_post(room) -> None:
    page, _gateway, prof = room
    page.js("window.draws = 0; const drawn = render; render = (chat) => { window.draws += 1; return drawn(chat); }")
    posts = 1000
    flood(page, prof, [f"aviso {n}" for n in range(posts)])
    draws = page.js("window.draws")
    assert draws < posts / 5, f"{draws} renders for {posts} posts"
    assert page.js("document.querySelectorAll('#messages > li').length") <= MAX_ITEMS
    assert page.problems() == []


VIEWPORT_TOP = """(() => {
  const list = document.getElementById('messages');
  const top = list.getBoundingClientRect().top;
  const first = [...list.children].find((li) => li.getBoundingClientRect().bottom > top + 1);
  return [first.querySelector('.msg-text').textContent, Math.round(first.getBoundingClientRect().top - top)];
})()"""


def test_a_reader_scrolled_up_keeps_their_place_and_is_told_of_new_messages(room, tmp_path: Path) -> None:
    page, _gateway, prof = room
    flood(page, prof, [f"aviso {n}" for n in range(MAX_ITEMS + 20)])
    page.js("const list = document.getElementById('messages'); list.scrollTop = list.scrollHeight / 2")
    page.cdp.pump(0.3)
    reading = page.js(VIEWPORT_TOP)
    flood(page, prof, [f"mais {n}" for n in range(30)])
    page.cdp.pump(0.3)
    text, offset = page.js(VIEWPORT_TOP)
    assert text == reading[0] and abs(offset - reading[1]) <= 1, (text, offset, reading)  # the same message, in place
    assert page.js("document.querySelectorAll('#messages > li').length") <= MAX_ITEMS
    page.wait_for("document.getElementById('new-messages').hidden === false")
    assert page.js("document.getElementById('new-messages').textContent") == "30 new messages"
    page.screenshot(tmp_path / "web-busy-room-reading.png")
    print(f"\nscreenshot: {tmp_path / 'web-busy-room-reading.png'}")
    page.js("document.getElementById('new-messages').click()")
    page.wait_for("(() => { const l = document.getElementById('messages');"
                  " return l.scrollHeight - l.scrollTop - l.clientHeight < 2; })()")
    page.wait_for("document.getElementById('new-messages').hidden === true")
    # At the bottom, the next ones show as before: scrolled to, no count.
    flood(page, prof, ["e agora"])
    page.cdp.pump(0.3)
    assert page.js("document.getElementById('new-messages').hidden") is True
    assert page.js("(() => { const l = document.getElementById('messages');"
                   " return l.scrollHeight - l.scrollTop - l.clientHeight < 2; })()")
    assert page.problems() == []


TEXTS = "[...document.querySelectorAll('#messages .msg-text')].map(e => e.textContent)"


def test_older_messages_come_back_in_order_and_stay_when_the_room_is_at_its_cap(room) -> None:
    """The cap forgets the oldest posts shown, which stay in the room's history: "Older
    messages" brings those back first (no gap), and keeps them while the reader reads."""
    page, _gateway, prof = room
    flood(page, prof, [f"antes {n}" for n in range(60)])
    flood(page, prof, [f"aviso {n}" for n in range(MAX_ITEMS)])  # "antes" are all forgotten
    assert page.js(f"{TEXTS}[0]") == "aviso 0"
    page.wait_for("document.getElementById('load-older').hidden === false")
    page.js("document.getElementById('messages').scrollTop = 0; document.getElementById('load-older').click()")
    page.wait_for(f"{TEXTS}[0] === 'antes 10'", timeout=WAIT)
    assert page.js(TEXTS) == [f"antes {n}" for n in range(10, 60)] + [f"aviso {n}" for n in range(MAX_ITEMS)]
    prof.post(["ao vivo"])  # one more while the reader reads above: what they read stays
    page.wait_for(f"{TEXTS}.includes('ao vivo')", timeout=WAIT)
    assert page.js(f"{TEXTS}[0]") == "antes 10"
    page.js("document.getElementById('messages').scrollTop = 0; document.getElementById('load-older').click()")
    page.wait_for(f"{TEXTS}[0] === 'antes 0'", timeout=WAIT)
    assert page.js(f"{TEXTS}.slice(0, 61)") == [f"antes {n}" for n in range(60)] + ["aviso 0"]
    assert page.problems() == []


def test_the_maps_the_page_keeps_are_bounded(room) -> None:
    page, _gateway, _prof = room
    sizes = page.js("""(() => {
      const chat = createChat();
      chat.me = "Conceição";
      for (let n = 1; n <= 30000; n += 1) {
        receiveFrame(chat, {type: "room", msg_id: n, from: "Prof", text: "aviso", sent_at: n});
        receiveFrame(chat, {type: "room", room: "#turma", msg_id: 100000 + n, from: "Prof", text: "aviso", sent_at: n});
        receiveFrame(chat, {type: "edited", room: "#turma", msg_id: 200000 + n, from: "Prof", text: "x"});
      }
      return {seen: chat.seen.size, changes: chat.changes.size};
    })()""")
    assert sizes["seen"] <= MAX_SEEN, sizes
    assert sizes["changes"] <= MAX_ITEMS, sizes


def test_reconnections_do_not_multiply_listeners_or_nodes(room) -> None:
    page, gateway, prof = room
    flood(page, prof, [f"aviso {n}" for n in range(50)])
    page.cdp.pump(0.5)
    before = figures(page)
    for _ in range(5):
        gateway.stop()
        page.wait_for("document.getElementById('connection').dataset.status !== 'online'", timeout=WAIT)
        gateway.start()
        page.wait_for("document.getElementById('connection').dataset.status === 'online'", timeout=WAIT)
    page.wait_for(f"document.getElementById('conversation-title').textContent === {json.dumps(ROOM)}")
    page.cdp.pump(0.5)
    after = figures(page)
    assert after["listeners"] <= before["listeners"] + 2, (before, after)
    assert after["nodes"] <= before["nodes"] * 1.2, (before, after)
    assert page.problems() == []


def test_posts_leave_the_contact_and_member_lists_alone(tmp_path: Path) -> None:
    """The page's user owns a room of 40 (a moderator's list: five buttons a member): a
    flood of posts changes neither list, so neither is built again (each render did)."""
    with busy_site(tmp_path) as (page, gateway):
        page.cdp.timeout = WAIT
        page.log_in("Conceição")
        enter_room(page, "#sala")
        pupils = [Bot(gateway.srv.port, f"Aluno{n}") for n in range(40)]
        try:
            for bot in pupils:
                bot.join("#sala")
            page.wait_for("document.querySelectorAll('#member-list li').length === 41", timeout=WAIT)
            page.wait_for("document.querySelectorAll('#member-list button[data-act=\"ban\"]').length === 40")
            page.js("""window.rebuilt = 0;
              const watch = new MutationObserver((changes) => { window.rebuilt += changes.length; });
              for (const id of ['contact-list', 'member-list']) watch.observe(document.getElementById(id), {childList: true});""")
            for n in range(0, 200, 20):
                pupils[n // 20].post([f"oi {n + k}" for k in range(20)], room="#sala")
            page.wait_for(f"{LAST_TEXT} === 'oi 199'", timeout=WAIT)
            page.cdp.pump(0.3)
            assert page.js("window.rebuilt") == 0
            pupils[0].leave("#sala")  # a change: the member list follows it
            page.wait_for("document.querySelectorAll('#member-list li').length === 40", timeout=WAIT)
            assert page.problems() == []
        finally:
            for bot in pupils:
                bot.close()
