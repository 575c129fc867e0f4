"""After "delivered" (issue 13) in the web page, in headless Chromium: the "read" tick,
the "typing…" line that expires by itself, Edit and Delete on our own message, and the
"edited" and "deleted" marks of a message the other side changed. The other user is a
terminal-like wire client that asks for the features. Screenshots go to the test's
folder, and to docs/ with ``SAVE_SCREENSHOTS=1``. Skipped without ``chromium`` (failed
under CI).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import const
from protocol import (
    EDITS, READ, TYPING, Accepted, Delete, Deleted, Delivered, DirectMessage, Done, Edit, Edited, Hello,
    OutcomeAck, Read, Receipt, SendDirect, Typing, UserJoined, UserLeft, Welcome,
)
from test_web_browser import TIMEOUT, Page, page  # noqa: F401  (page: fixture)
from test_web_session import shoot
from tools import require_tool
from wire import WireClient

pytestmark = pytest.mark.timeout_seconds(120)
NOTICES = (UserJoined, UserLeft)


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_tool("chromium", why="to run the web client in a browser")


def peer(page: Page, name: str) -> WireClient:
    client = WireClient(page.srv.host, page.srv.port)
    client.send(Hello("h", name, const.PROTOCOL_VERSION, None, False, None, (READ, TYPING, EDITS)))
    client.expect(Welcome, skip=NOTICES)
    return client


def text_of_last(page: Page, selector: str) -> str:
    return page.js(f"[...document.querySelectorAll({json.dumps(selector)})].at(-1)?.textContent ?? null")


def test_read_typing_edit_and_delete_in_the_page(page: Page, tmp_path: Path) -> None:  # noqa: F811
    # Headless, the window has no focus of its own: let it have it, as a user's would.
    page.cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
    page.log_in("Bob")
    assert page.js("shell.chat.readReceipts") is True
    with peer(page, "Alice") as alice:
        alice.send(SendDirect("a1", "Bob", "Hi Bob, did you get the notes?"))
        first = alice.expect(Accepted, skip=NOTICES).msg_id
        page.open_conversation("Alice")
        # The conversation is on screen and the page focused: Alice sees "read".
        assert alice.expect(Read, skip=NOTICES + (Delivered,)) == Read("Alice", first, "Bob")

        # "Alice is typing…" shows, then goes by itself.
        alice.send(Typing("Bob"))
        page.wait_for("!document.getElementById('typing').hidden")
        assert page.js("document.getElementById('typing').textContent") == "Alice is typing…"
        shoot(page, tmp_path, "web-client-typing.png")
        page.wait_for("document.getElementById('typing').hidden", const.TYPING_EXPIRES + 5)

        # Our answer: typing goes out, then the message; Alice reads it: "Read".
        page.focus("#composer-input")
        page.type("Yes, teh notes arrived")
        assert alice.expect(Typing, skip=NOTICES + (Delivered,)) == Typing("Alice", "Bob")
        page.enter()
        dm = alice.expect(DirectMessage, skip=NOTICES + (Delivered, Typing))
        alice.send(Receipt(dm.msg_id))
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'delivered'")
        alice.send(Read("Bob", dm.msg_id))
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.read === 'true'")
        assert text_of_last(page, "#messages .msg-out .msg-status") == "Read"

        # Edit our message: Edit, the composer holds it, Save.
        page.js("document.querySelector('#messages .msg-out .msg-edit').click()")
        page.wait_for("document.getElementById('composer').dataset.editing === 'true'")
        assert page.js("document.getElementById('composer-input').value") == "Yes, teh notes arrived"
        page.js("document.getElementById('composer-input').value = ''")
        page.focus("#composer-input")
        page.type("Yes, the notes arrived")
        page.enter()
        edited = alice.expect(Edited, skip=NOTICES + (Delivered, Typing))
        assert (edited.msg_id, edited.text) == (dm.msg_id, "Yes, the notes arrived")
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.edited === 'true'")
        assert text_of_last(page, "#messages .msg-out .msg-text") == "Yes, the notes arrived"
        assert page.js("document.querySelector('#messages .msg-out .msg-edited').hidden") is False
        assert page.js("document.querySelectorAll('#messages .msg-out').length") == 1  # changed, not sent again

        # Alice edits, then deletes, her first message: the page shows the marks.
        alice.send(Edit("e1", first, "Hi Bob, did you get the notes? (chapter 3)"))
        alice.expect(Done, skip=NOTICES + (Delivered,))
        page.wait_for("document.querySelector('#messages .msg-in')?.dataset.edited === 'true'")
        assert text_of_last(page, "#messages .msg-in .msg-text") == "Hi Bob, did you get the notes? (chapter 3)"
        shoot(page, tmp_path, "web-client-edited.png")

        # Delete ours.
        page.js("document.querySelector('#messages .msg-out .msg-delete').click()")
        assert alice.expect(Deleted, skip=NOTICES + (Delivered, Typing)).msg_id == dm.msg_id
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.deleted === 'true'")
        assert text_of_last(page, "#messages .msg-out .msg-text") == "This message was deleted"
        assert page.js("document.querySelector('#messages .msg-out .msg-actions').hidden") is True
        alice.send(Delete("d1", first))
        alice.expect(Done, skip=NOTICES + (Delivered,))
        page.wait_for("document.querySelector('#messages .msg-in')?.dataset.deleted === 'true'")
        shoot(page, tmp_path, "web-client-after-delivered.png")
        assert page.problems() == []


def test_read_receipts_switched_off_in_the_page_send_and_show_nothing(page: Page) -> None:  # noqa: F811
    page.cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
    page.log_in("Bob")
    page.js("document.getElementById('read-receipts').click()")
    page.wait_for("shell.chat.readReceipts === false && !document.getElementById('read-receipts').checked")
    with peer(page, "Alice") as alice:
        alice.send(SendDirect("a1", "Bob", "are you there?"))
        alice.expect(Accepted, skip=NOTICES)
        page.open_conversation("Alice")
        page.focus("#composer-input")
        page.type("typing, but nobody is told")
        alice.send(Typing("Bob"))
        events = alice.drain(quiet=1.0)
        assert not [e for e in events if isinstance(e, (Read, Typing))], events
        assert page.js("document.getElementById('typing').hidden") is True
        assert page.problems() == []


def test_a_message_deleted_before_it_came_is_deleted_on_the_page_not_an_empty_bubble(page: Page) -> None:  # noqa: F811
    # João offline; Ana sends, then deletes; João logs in on the page: an empty bubble
    # (counted unread, announced as "Ana to you: ") stood there until the delete's news.
    from client.library import ChatClient
    from test_web_other_devices import PASSWORD, badge, log_in_as_joao
    joao = ChatClient("João", "127.0.0.1", page.srv.port, password=PASSWORD, register=True)
    joao.connect(timeout=TIMEOUT)
    joao.close()
    ana = ChatClient("Ana", "127.0.0.1", page.srv.port)
    try:
        ana.connect(timeout=TIMEOUT)
        gone = ana.send_direct("João", "not for you")
        assert gone.wait("queued", TIMEOUT) and gone.msg_id is not None
        ana.delete(gone.msg_id, TIMEOUT)
        log_in_as_joao(page)
        page.wait_for("document.getElementById('announcer').textContent === 'Ana deleted a message'")
        assert page.js(badge("@ana")) == ""  # nothing there to read
        page.open_conversation("Ana")
        page.wait_for("document.querySelectorAll('#messages .msg-in').length === 1")
        assert text_of_last(page, "#messages .msg-in .msg-text") == "This message was deleted"
        assert page.js("document.querySelector('#messages .msg-in').dataset.deleted") == "true"
        assert page.problems() == []
    finally:
        ana.close()


def test_a_change_older_than_the_one_shown_leaves_the_newer_on_the_page(page: Page) -> None:  # noqa: F811
    """The page's rule for changes told late (a cluster's route tried again after a newer
    one went): the newest by ``at`` stays, an edit never brings back a deleted message, and
    each is still confirmed. Before, the page showed whichever came last."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "t-0", name: "Tiago", version: 2, server: "s", heartbeat: 15,
                          features: ["edits"]});
      const text = (id) => [...chat.conversations.values()].flatMap((c) => c.items)
        .find((item) => item.msgId === id);
      const r = {receipts: []};
      const take = (frame) => r.receipts.push(...receiveFrame(chat, frame).receipts.filter((f) => f.type === "edit_receipt"));
      take({type: "dm", msg_id: 7, from: "Ze", to: "Tiago", text: "teh notes", sent_at: 1});
      take({type: "edited", msg_id: 7, from: "Ze", to: "Tiago", text: "the notes!", at: 200});
      take({type: "edited", msg_id: 7, from: "Ze", to: "Tiago", text: "the notes", at: 150});
      r.afterLate = text(7).text;
      take({type: "deleted", msg_id: 7, from: "Ze", to: "Tiago", at: 250});
      take({type: "edited", msg_id: 7, from: "Ze", to: "Tiago", text: "late", at: 260});
      r.afterDelete = [text(7).text, text(7).deleted];
      // Two changes before their message (kept for it), the newer first.
      take({type: "edited", msg_id: 8, from: "Ze", to: "Tiago", text: "second", at: 300});
      take({type: "edited", msg_id: 8, from: "Ze", to: "Tiago", text: "first", at: 290});
      take({type: "dm", msg_id: 8, from: "Ze", to: "Tiago", text: "zeroth", sent_at: 2});
      r.kept = text(8).text;
      // A message deleted before it came, and an edit of it kept from before.
      take({type: "edited", msg_id: 9, from: "Ze", to: "Tiago", text: "edited", at: 310});
      take({type: "dm", msg_id: 9, from: "Ze", to: "Tiago", text: "", sent_at: 3, deleted: true});
      r.deletedFirst = [text(9).text, text(9).deleted];
      // A room's post.
      receiveFrame(chat, {type: "room", msg_id: 10, from: "Ze", text: "oi", sent_at: 4});
      receiveFrame(chat, {type: "edited", msg_id: 10, from: "Ze", room: "#lobby", text: "oi!", at: 50});
      receiveFrame(chat, {type: "edited", msg_id: 10, from: "Ze", room: "#lobby", text: "oi?", at: 40});
      r.post = text(10).text;
      // Our own message: the ok of our edit says when it was stamped; our phone's older edit
      // told after it is late, a newer one is not; one that came before the ok and is newer stays.
      const key = startConversation(chat, "Ze");
      const ours = {kind: "message", dir: "out", sender: "Tiago", to: "Ze", text: "mine", at: 5, msgId: 20,
                    state: "delivered"};
      chat.conversations.get(key).items.push(ours);
      receiveFrame(chat, {type: "ok", id: changeFrame(chat, key, ours, "mine, newer").id, at: 300});
      receiveFrame(chat, {type: "edited", msg_id: 20, from: "Tiago", to: "Ze", text: "from the phone, older", at: 250});
      r.own = [ours.text];
      receiveFrame(chat, {type: "edited", msg_id: 20, from: "Tiago", to: "Ze", text: "from the phone, newer", at: 320});
      r.own.push(ours.text);
      const edit = changeFrame(chat, key, ours, "mine, slower");
      receiveFrame(chat, {type: "edited", msg_id: 20, from: "Tiago", to: "Ze", text: "from the phone, newest", at: 340});
      receiveFrame(chat, {type: "ok", id: edit.id, at: 330});
      r.own.push(ours.text);
      return r;
    })()""")
    assert result["afterLate"] == "the notes!"
    assert result["afterDelete"] == ["", True]
    assert result["kept"] == "second"
    assert result["deletedFirst"] == ["", True]
    assert result["post"] == "oi!"
    assert result["own"] == ["mine, newer", "from the phone, newer", "from the phone, newest"]
    # Each names the change it confirms (a newer one stored meanwhile stays to be told).
    assert result["receipts"] == [{"type": "edit_receipt", "msg_id": i, "at": at} for i, at in (
        (7, 200), (7, 150), (7, 250), (7, 260), (8, 300), (8, 290), (9, 310))]


def test_a_change_told_again_is_applied_but_not_announced_again(page: Page) -> None:  # noqa: F811
    """A change may come twice (a direct message's at each login until confirmed; a
    room's when the connection that carried it died unnoticed, or it came after the last
    frame the server had from us): the screen reader hears it once. Before, each repeat
    said "Ze edited a message" again."""
    result = page.js("""(() => {
      let n = 0;
      const chat = createChat(() => `t-${++n}`);
      receiveFrame(chat, {type: "welcome", id: "t-0", name: "Tiago", version: 2, server: "s", heartbeat: 15,
                          features: ["edits"]});
      const said = (frame) => receiveFrame(chat, frame).announce;
      receiveFrame(chat, {type: "dm", msg_id: 7, from: "Ze", to: "Tiago", text: "teh notes", sent_at: 1});
      receiveFrame(chat, {type: "room", msg_id: 8, from: "Ze", room: "#redes", text: "oi", sent_at: 2});
      const edit = {type: "edited", msg_id: 7, from: "Ze", to: "Tiago", text: "the notes", at: 200};
      const post = {type: "edited", msg_id: 8, from: "Ze", room: "#redes", text: "oi!", at: 210};
      const gone = {type: "deleted", msg_id: 8, from: "Ze", room: "#redes", at: 220};
      return [said(edit), said(edit), said({...edit, text: "the notes!", at: 230}),
              said(post), said(post), said(gone), said(gone)].map((words) => words.length);
    })()""")
    assert result == [1, 0, 1, 1, 0, 1, 0]
