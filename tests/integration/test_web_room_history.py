"""A room's history and mode in the web page (headless Chromium, see test_web_session.py
for the harness): opening a room shows its newest page above what came live, "Older
messages" pages back by the cursor with nothing twice; the owner's invite-only switch
changes the room's mode, which every member sees in the header, and only the
owner is offered it; the open member list pushes the conversation down rather than
covering it. And the page's sans-I/O part: room_seen in the hello of a reconnection."""

from __future__ import annotations

from pathlib import Path

from clientkit import WAIT
from test_web_session import chromium_installed, olga_in_redes, shoot, site  # noqa: F401  (fixtures)

PAGE = 50  # the page's HISTORY_PAGE

POSTS = "[...document.querySelectorAll('#messages .msg-in .msg-text')].map(e => e.textContent)"


def test_room_history_and_mode_in_the_page(site, tmp_path: Path) -> None:
    page, web = site
    with olga_in_redes(web) as olga:
        total = PAGE + 10
        for number in range(total):
            olga.send_to_room("#redes", f"post {number:02d}").wait_done(WAIT)
        page.log_in("Bob")
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
        page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
        page.wait_for(f"{POSTS}.length === {PAGE}")
        assert page.js(POSTS) == [f"post {n:02d}" for n in range(total - PAGE, total)]
        assert page.js("document.getElementById('load-older').hidden") is False
        assert page.js("document.getElementById('room-mode-label').hidden") is True  # not the owner
        # Typing in a room says nothing to anyone ("typing" goes to a person; to a room the
        # server would refuse it), and no "read" goes for a room's posts (the same).
        page.focus("#composer-input")
        page.type("hel")
        page.js("document.getElementById('composer-input').value = ''")
        olga.send_to_room("#redes", "live one").wait_done(WAIT)
        page.wait_for(f"{POSTS}.includes('live one')")
        page.js("document.getElementById('load-older').click()")
        page.wait_for(f"{POSTS}.length === {total + 1}")
        assert page.js(POSTS) == [f"post {n:02d}" for n in range(total)] + ["live one"]
        page.wait_for("document.getElementById('load-older').hidden === true")  # nothing older

        olga.set_mode("#redes", True)
        page.wait_for("document.getElementById('conversation-presence').textContent.includes('invite only')")
        assert page.js("document.getElementById('conversation-presence').textContent") == \
            "prova na sexta · invite only · 2 members"
        page.wait_for("[...document.querySelectorAll('#messages .notice-text')].some(e => "
                      "e.textContent === 'Olga made #redes invite-only')")
        olga.appoint("#redes", "Bob", "owner")
        page.wait_for("document.getElementById('room-mode-label').hidden === false")
        assert page.js("document.getElementById('room-mode').checked") is True
        page.js("document.getElementById('room-mode').click()")  # public again
        page.wait_for("!document.getElementById('conversation-presence').textContent.includes('invite only')")
        assert page.js("document.getElementById('room-mode').checked") is False
        page.js("document.getElementById('room-mode').click()")  # and invite-only, for the picture
        page.wait_for("document.getElementById('conversation-presence').textContent.includes('invite only')")
        # The member list, open, pushes the messages down: nothing of them is under it.
        page.js("document.querySelector('details.members').open = true")
        covered = page.js("""(() => {
          const list = document.getElementById('member-list').getBoundingClientRect();
          const messages = document.getElementById('messages').getBoundingClientRect();
          return list.bottom > messages.top + 1;
        })()""")
        assert covered is False
        page.js("const list = document.getElementById('messages'); list.scrollTop = list.scrollHeight")
        shoot(page, tmp_path, "web-client-room-history.png")
        print(f"\nscreenshot: {tmp_path / 'web-client-room-history.png'}")
        # None of those refused frames was sent: no error notice (see the typing above).
        assert page.js("[...document.querySelectorAll('#messages .notice-text')].filter(e => "
                       "/unknown_message|no such message|unknown_recipient/.test(e.textContent)).length") == 0
        assert page.problems() == []


def test_the_page_tells_the_last_room_post_it_showed_when_it_logs_in_again(site) -> None:
    page, _web = site
    result = page.js("""(() => {
      const chat = createChat();
      const first = helloFrame(chat, "Bob");
      receiveFrame(chat, {type: "welcome", id: first.id, name: "Bob", version: 2});
      receiveFrame(chat, {type: "room", msg_id: 7, from: "Ana", room: "#redes", text: "oi", sent_at: 1});
      receiveFrame(chat, {type: "room", msg_id: 9, from: "Ana", room: "#lab", text: "oi", sent_at: 2});
      receiveFrame(chat, {type: "room", msg_id: 8, from: "Ana", text: "to everyone", sent_at: 3});
      connectionLost(chat);
      const again = helloFrame(chat, "Bob");
      const old = createChat();
      old.offer = 1;
      old.roomSeen = 9;
      return {first: first.room_seen ?? null, again: again.room_seen, v1: helloFrame(old, "Bob").room_seen ?? null};
    })()""")
    assert result == {"first": None, "again": 9, "v1": None}


def test_the_page_tells_until_when_it_heard_its_last_session_on_the_servers_clock(site) -> None:
    # PROTOCOL.md, "Changes a device missed": the welcome's now, moved on by the page's own
    # steady clock to the last frame of that session; a frame of a login that failed
    # afterwards is no news, and an older server (no now) leaves it out. Said also with no
    # room post shown (the changes of direct messages count too).
    page, _web = site
    result = page.js("""(() => {
      const chat = createChat();
      const first = helloFrame(chat, "Bob");
      receiveFrame(chat, {type: "welcome", id: first.id, name: "Bob", version: 2, now: 1795000000000});
      const at = serverClock.at;
      receiveFrame(chat, {type: "room", msg_id: 7, from: "Ana", room: "#redes", text: "oi", sent_at: 1}, at + 42.5);
      connectionLost(chat);
      const again = helloFrame(chat, "Bob");
      receiveFrame(chat, {type: "error", id: again.id, code: "unavailable", message: "busy", retry_after: 5}, at + 600);
      const third = helloFrame(chat, "Bob");
      const noPosts = createChat();
      const hello = helloFrame(noPosts, "Bob");
      receiveFrame(noPosts, {type: "welcome", id: hello.id, name: "Bob", version: 2, now: 1795000000000}, at);
      connectionLost(noPosts);
      const direct = helloFrame(noPosts, "Bob");
      const bare = createChat(), kept = serverClock;
      bare.roomSeen = 7;
      serverClock = null;
      const older = helloFrame(bare, "Bob").last_heard ?? null;
      serverClock = kept;
      return {first: first.last_heard ?? null, again: again.last_heard, third: third.last_heard,
              seen: third.room_seen, older, direct: [direct.room_seen ?? null, direct.last_heard]};
    })()""")
    assert result == {"first": None, "again": 1795000042500, "third": 1795000042500, "seen": 7, "older": None,
                      "direct": [None, 1795000000000]}
