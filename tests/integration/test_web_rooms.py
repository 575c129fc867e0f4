"""Rooms in the web page (headless Chromium, see test_web_session.py for the harness): the
public rooms, joining by name, the room in the contact list with its topic, its
conversation, the member list with moderation acts only for those who may, notices."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import const
from client.library import ChatClient
from clientkit import WAIT, posted
from protocol import ErrorCode, RoomPost
from server.store import StoreUnavailable
from test_web_browser import TIMEOUT
from test_web_session import (  # noqa: F401  (fixtures)
    PASSWORD, chromium_installed, log_in_with_password, olga_in_redes, online, shoot, site,
)
from waits import wait_until


def test_a_room_in_the_page(site, tmp_path: Path) -> None:
    page, web = site
    with olga_in_redes(web) as olga:
        page.log_in("Bob")
        # The public rooms are listed; one click joins.
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
        page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
        page.wait_for("document.getElementById('conversation-title').textContent === '#redes'")
        page.wait_for("document.querySelectorAll('#member-list li').length === 2")
        assert page.js("document.getElementById('conversation-presence').textContent") == \
            "prova na sexta · 2 members"
        assert page.js("!!document.querySelector('button.contact[data-key=\"##redes\"]')")
        assert page.js("document.querySelectorAll('#member-list .member-act').length") == 0  # a plain member
        assert page.js("document.getElementById('room-topic').hidden") is True
        assert page.js("document.getElementById('room-invite').hidden") is True

        page.focus("#composer-input")
        page.type("olá, turma")
        page.enter()
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'sent'")
        while not isinstance(event := olga.events.get(timeout=WAIT), RoomPost) or event.sender != "Bob":
            pass
        assert (event.room_name, event.text) == ("#redes", "olá, turma")
        olga.send_to_room("#redes", "bem-vindo")
        page.wait_for("[...document.querySelectorAll('#messages .msg-in .msg-text')].some(e => e.textContent === 'bem-vindo')")
        olga.appoint("#redes", "Bob")
        page.wait_for("[...document.querySelectorAll('#messages .notice-text')].some(e => "
                      "e.textContent === 'Olga made you moderator of #redes')")
        page.wait_for("document.getElementById('room-topic').hidden === false")  # a moderator may set it
        assert page.js("document.getElementById('room-invite').hidden") is False
        # The owner has no acts (nobody acts on a higher role); Vic, once in, has them.
        vic = ChatClient("Vic", "127.0.0.1", web.srv.port)
        try:
            vic.connect(timeout=WAIT)
            vic.join("#redes")
            page.wait_for("!!document.querySelector('#member-list li[data-name=\"Vic\"] button[data-act=\"mute\"]')")
            assert page.js("document.querySelectorAll('#member-list li[data-name=\"Olga\"] button').length") == 0
            page.js("document.querySelector('#member-list li[data-name=\"Vic\"] button[data-act=\"mute\"]').click()")
            page.wait_for("[...document.querySelectorAll('#messages .notice-text')].some(e => "
                          "e.textContent.startsWith('You muted Vic in #redes'))")
            muted = vic.send_to_room("#redes", "hello?")
            assert muted.wait_done(WAIT) and muted.error[0] == "muted"
            page.js("document.querySelector('details.members').open = true")
            shoot(page, tmp_path, "web-client-rooms.png")
            page.js("document.querySelector('#member-list li[data-name=\"Vic\"] button[data-act=\"kick\"]').click()")
            page.wait_for("[...document.querySelectorAll('#messages .notice-text')].some(e => "
                          "e.textContent === 'You put Vic out of #redes')")
            page.wait_for("!document.querySelector('#member-list li[data-name=\"Vic\"]')")
        finally:
            vic.close()
        # Leaving: back to Everyone, the room off the list (and among the public ones again).
        page.js("document.getElementById('room-leave').click()")
        page.wait_for("document.getElementById('conversation-title').textContent === 'Everyone'")
        page.wait_for("!document.querySelector('button.contact[data-key=\"##redes\"]')")
        assert [m.name for m in olga.members("#redes")] == ["Olga"]
        # Joining by name creates a room; an invalid name is refused before anything is sent.
        page.focus("#join-room-name")
        page.type("lab3")
        page.enter()
        page.wait_for("document.getElementById('conversation-title').textContent === '#lab3'")
        # The room opens ready to write in, as a conversation opened by name does.
        page.wait_for("document.activeElement?.id === 'composer-input'")
        page.focus("#join-room-name")
        page.type("a b")
        page.enter()
        page.wait_for("document.getElementById('join-room-name').getAttribute('aria-invalid') === 'true'")
        # Said on screen under the box, not by its red border alone (and gone once a name is taken).
        error = "document.getElementById('join-room-error')"
        page.wait_for(f"{error}.textContent === '\"a b\" is not a valid room name.' && {error}.offsetHeight > 0")
        page.js("document.getElementById('join-room-name').value = ''")
        page.type("lab4")
        page.enter()
        page.wait_for(f"document.getElementById('conversation-title').textContent === '#lab4' && {error}.textContent === ''"
                      f" && {error}.offsetHeight === 0")
        # So is a person's name that cannot be one, in the box that opens a conversation.
        page.focus("#new-chat-name")
        page.type("João Silva")
        page.enter()
        page.wait_for("document.getElementById('new-chat-error').textContent === '\"João Silva\" is not a valid name.'"
                      " && document.getElementById('new-chat-error').offsetHeight > 0")
        assert page.problems() == []


def test_a_rooms_header_keeps_no_line_of_the_person_opened_before(site) -> None:
    """A tester opened João's conversation, then clicked #redes in the sidebar: the room's
    header read "#redes  2 members   127.0.0.1:35902 · online since 09:19 AM": João's
    registry entry (the line under a person's name) stayed, though a room has none. Going
    through Everyone first cleared it. A room's header is the room's alone, whether it is
    joined from the public rooms or opened from the contact list."""
    page, web = site
    where = "document.getElementById('conversation-where')"
    with olga_in_redes(web):
        page.log_in("Bob")
        for room_button in ("#room-list button[data-room=\"#redes\"]", "button.contact[data-key=\"##redes\"]"):
            page.open_conversation("Olga")
            page.wait_for(f"{where}.textContent.startsWith('127.0.0.1:') && !{where}.hidden")
            page.wait_for(f"!!document.querySelector({json.dumps(room_button)})")
            page.js(f"document.querySelector({json.dumps(room_button)}).click()")
            page.wait_for("document.getElementById('conversation-title').textContent === '#redes'"
                          " && document.querySelectorAll('#member-list li').length === 2")
            assert page.js("document.getElementById('conversation-presence').textContent") == \
                "prova na sexta · 2 members"
            assert page.js(f"[{where}.hidden, {where}.textContent]") == [True, ""], room_button
        assert page.problems() == []


def test_a_rooms_topic_is_not_in_the_colour_of_online(site) -> None:
    """A room's header drew its topic ("prova na sexta · 2 members") in green, the colour
    the same line has for "Online" in a conversation with someone online: it read as a
    status. The topic is in the text's colour, the count in the muted one, neither green;
    the person's "Online" stays green."""
    page, web = site
    colour = "getComputedStyle(document.querySelector('#conversation-presence{}')).color"
    with olga_in_redes(web):
        page.log_in("Bob")
        page.open_conversation("Olga")
        page.wait_for("document.getElementById('conversation-presence').textContent === 'Online'")
        online = page.js(colour.format(""))
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
        page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
        page.wait_for("document.getElementById('conversation-presence').textContent === 'prova na sexta · 2 members'")
        topic, count = page.js(colour.format(" bdi")), page.js(colour.format(""))
        assert online not in (topic, count), (online, topic, count)
        assert topic == page.js("getComputedStyle(document.getElementById('conversation-title')).color")
        page.open_conversation("Olga")
        page.wait_for("document.getElementById('conversation-presence').textContent === 'Online'")
        assert page.js(colour.format("")) == online
        assert page.problems() == []


def test_the_page_falls_back_to_version_1_and_resends_room_messages_with_their_ids(site) -> None:
    """The page's sans-I/O part (receiveFrame and friends), driven with frames in the page."""
    page, _web = site
    result = page.js("""(() => {
      const chat = createChat();
      const first = helloFrame(chat, "Bob");
      const refused = receiveFrame(chat, {type: "error", id: first.id, code: "unsupported_version", message: "no"});
      const second = helloFrame(chat, "Bob");
      const again = receiveFrame(chat, {type: "error", id: second.id, code: "unsupported_version", message: "no"});
      // A version-2 session: a room message, lost with its connection, goes again with its id.
      const chat2 = createChat();
      receiveFrame(chat2, {type: "welcome", id: helloFrame(chat2, "Bob").id, name: "Bob", version: 2});
      receiveFrame(chat2, {type: "room_info", id: joinRoomFrame(chat2, "redes").id, room: "#redes", count: 1,
                           owner: "Bob", created: true});
      const post = composeMessage(chat2, "##redes", "olá");
      connectionLost(chat2);
      const back = receiveFrame(chat2, {type: "welcome", id: helloFrame(chat2, "Bob").id, name: "Bob", version: 2});
      const resent = back.send.filter((f) => f.type === "send");
      // A server older than "mine" answers it with every room: the page joins its rooms again.
      const mine = back.send.find((f) => f.type === "rooms" && f.mine);
      const old = receiveFrame(chat2, {type: "room_list", id: mine.id, rooms: [{room: "#lobby", count: 2, topic: ""},
                                                                             {room: "#redes", count: 2, topic: ""}]});
      receiveFrame(chat2, {type: "accepted", id: post.id, msg_id: 5});
      receiveFrame(chat2, {type: "room", msg_id: 5, from: "Bob", room: "#redes", text: "olá", sent_at: 1});
      receiveFrame(chat2, {type: "room", msg_id: 6, from: "Ana", room: "#redes", text: "oi", sent_at: 2});
      receiveFrame(chat2, {type: "room", msg_id: 6, from: "Ana", room: "#redes", text: "oi", sent_at: 2});
      const items = chat2.conversations.get("##redes").items.map((i) => [i.dir, i.text, i.state]);
      return {versions: [first.version, second.version], logins: [refused.login, again.login && again.login.code],
              post, resent, items, rejoined: old.send.filter((f) => f.type === "join").map((f) => f.room),
              joinedAtWelcome: back.send.filter((f) => f.type === "join").length};
    })()""")
    assert result["versions"] == [2, 1]
    assert result["logins"] == ["fallback", "unsupported_version"]
    assert result["post"] == {"type": "send", "id": result["post"]["id"], "room": "#redes", "text": "olá"}
    assert result["resent"] == [result["post"]]
    assert result["items"] == [["out", "olá", "sent"], ["in", "oi", "received"]]
    assert result["rejoined"] == ["#redes"] and result["joinedAtWelcome"] == 0


def test_our_own_join_notice_does_not_count_us_twice(site) -> None:
    """The server tells the joiner its own ``joined`` after the join's answer, whose count
    has us in it already: the page added us again and showed "· 3 members" for a room of
    two until the member list came back (a browser test once read it in between)."""
    page, _web = site
    counts = page.js("""(() => {
      const chat = createChat();
      receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Bob").id, name: "Bob", version: 2});
      receiveFrame(chat, {type: "room_info", id: joinRoomFrame(chat, "redes").id, room: "#redes", count: 2,
                          owner: "Olga"});
      const counts = [chat.rooms.get("##redes").count];
      receiveFrame(chat, {type: "room_notice", room: "#redes", act: "joined", name: "Bob", at: 1});
      counts.push(chat.rooms.get("##redes").count);
      receiveFrame(chat, {type: "room_notice", room: "#redes", act: "joined", name: "Ana", at: 2});
      counts.push(chat.rooms.get("##redes").count);
      return counts;
    })()""")
    assert counts == [2, 2, 3]  # Olga and us; our own join is not another member; Ana's is


def _text_in(selector: str, text: str) -> str:
    return (f"[...document.querySelectorAll({json.dumps(selector)})].some(e => e.textContent === {json.dumps(text)})")


def edit_our_message(page, text: str) -> None:
    """Edit our (newest) message on screen with its Edit button: the composer takes it,
    ``text`` replaces it, Enter saves; returns once the page marks it edited."""
    page.wait_for("document.querySelector('#messages .msg-out .msg-actions')?.hidden === false")
    page.js("document.querySelector('#messages .msg-out .msg-edit').click()")
    page.wait_for("document.getElementById('composer').dataset.editing === 'true'")
    page.js("document.getElementById('composer-input').value = ''")
    page.focus("#composer-input")
    page.type(text)
    page.enter()
    page.wait_for("document.querySelector('#messages .msg-out')?.dataset.edited === 'true'")


@contextlib.contextmanager
def olga_and_vic_with_bob_in_redes(page, web) -> Iterator[tuple[ChatClient, ChatClient]]:
    """Olga and Vic, library clients on ``web``'s chat server, in #redes (Olga's, no topic),
    and Bob logged in on ``page`` (focused, as a page in front is) with #redes open:
    (Olga, Vic), both closed at the end."""
    page.cdp.send("Emulation.setFocusEmulationEnabled", {"enabled": True})
    olga = ChatClient("Olga", "127.0.0.1", web.srv.port)
    vic = ChatClient("Vic", "127.0.0.1", web.srv.port)
    try:
        olga.connect(timeout=WAIT)
        olga.join("#redes")
        vic.connect(timeout=WAIT)
        vic.join("#redes")
        page.log_in("Bob")
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
        page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
        page.wait_for("document.getElementById('conversation-title').textContent === '#redes'")
        yield olga, vic
    finally:
        olga.close()
        vic.close()


def test_typing_edits_and_deletes_in_a_room_in_the_page(site, tmp_path: Path) -> None:
    """Issue 13 in rooms: "Olga is typing…" under the room, a post edited and posts
    deleted (by their sender, by a moderator) marked, and the page's own Edit and Delete:
    on our post, and (once a moderator) Delete on another member's."""
    from protocol import RoomDeleted, RoomEdited

    page, web = site
    with olga_and_vic_with_bob_in_redes(page, web) as (olga, vic):
        # Olga's post, edited; Vic's, deleted by Vic; our own, edited with Edit then Save.
        post = posted(olga, "#redes", "a prova é na quinta")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "a prova é na quinta"))
        olga.edit(post.msg_id, "a prova é na sexta")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "a prova é na sexta"))
        assert page.js("document.querySelector('#messages .msg-in').dataset.edited") == "true"
        oops = posted(vic, "#redes", "ops, sala errada")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "ops, sala errada"))
        vic.delete(oops.msg_id)
        page.wait_for(_text_in("#messages .msg-in .msg-text", "This message was deleted"))

        page.focus("#composer-input")
        page.type("vou levar o livor")
        page.enter()
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.state === 'sent'")
        edit_our_message(page, "vou levar o livro")
        while not isinstance(event := olga.events.get(timeout=WAIT), RoomEdited):
            pass
        assert (event.sender, event.text) == ("Bob", "vou levar o livro")

        # A plain member has no Delete on others' posts; a moderator has.
        spam = posted(vic, "#redes", "compre já!!!")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "compre já!!!"))
        assert page.js("[...document.querySelectorAll('#messages .msg-in')].at(-1)"
                       ".querySelector('.msg-actions').hidden") is True
        olga.appoint("#redes", "Bob")
        page.wait_for("[...document.querySelectorAll('#messages .msg-in')].at(-1)"
                      ".querySelector('.msg-actions')?.hidden === false")
        page.js("[...document.querySelectorAll('#messages .msg-in')].at(-1).querySelector('.msg-delete').click()")
        while not isinstance(event := vic.events.get(timeout=WAIT), RoomDeleted):
            pass
        assert (event.msg_id, event.by) == (spam.msg_id, "Bob")
        page.wait_for("[...document.querySelectorAll('#messages .msg-in')].at(-1).dataset.deleted === 'true'")
        # Another moderator's delete says who did it.
        again = posted(vic, "#redes", "compre já, de novo")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "compre já, de novo"))
        olga.delete(again.msg_id)
        page.wait_for(_text_in("#messages .msg-in .msg-text", "This message was deleted by Olga"))

        # Read marks are for direct messages: the page sent none for the room (no error came).
        assert page.js("[...document.querySelectorAll('#messages .notice-text')].filter(e => "
                       "/unknown_message|no such message/.test(e.textContent)).length") == 0
        # Olga corrects a last post (so that the picture shows an edited one too) and types:
        # "Olga is typing…" under the room; and our typing reaches her.
        last = posted(olga, "#redes", "tragam calculadora")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "tragam calculadora"))
        olga.edit(last.msg_id, "tragam a calculadora")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "tragam a calculadora"))
        olga.typing_in_room("#redes")
        page.wait_for("!document.getElementById('typing').hidden")
        assert page.js("document.getElementById('typing').textContent") == "Olga is typing…"
        shoot(page, tmp_path, "web-client-room-edits.png")
        # (The page says it types at most once per interval: the last was while composing.)
        page.wait_for(f"nowSeconds() - (shell.chat.typingSent.get(shell.chat.active) || 0) >= {const.TYPING_INTERVAL}",
                      const.TYPING_INTERVAL + 5)
        page.focus("#composer-input")
        page.type("a")
        from protocol import RoomTyping
        while not isinstance(event := olga.events.get(timeout=WAIT), RoomTyping):
            pass
        assert (event.room_name, event.sender) == ("#redes", "Bob")
        assert page.problems() == []


def test_a_page_opened_again_lists_the_rooms_joined_before(site) -> None:
    """Bob joins #redes in the page and closes the tab (what it kept for a reload goes);
    nobody posts. The page opened again, logged in, lists #redes among his rooms (the
    server told it: ``rooms`` with ``mine``), with its topic and count; and not among the
    public rooms to join."""
    page, web = site
    with olga_in_redes(web) as olga:
        olga.join("#algebra")
        page.log_in("Bob")
        page.focus("#join-room-name")
        page.type("redes")
        page.enter()
        page.wait_for("document.getElementById('conversation-title').textContent === '#redes'")
        page.js("sessionStorage.clear()")
        page.cdp.send("Page.navigate", {"url": page.url})
        page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
        page.wait_for("document.activeElement && document.activeElement.id === 'login-name'")
        page.log_in("Bob")
        page.wait_for("!!document.querySelector('button.contact[data-key=\"##redes\"]')")
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#algebra\"]')")
        assert page.js("!!document.querySelector('#room-list button[data-room=\"#redes\"]')") is False
        page.js("document.querySelector('button.contact[data-key=\"##redes\"]').click()")
        page.wait_for("document.getElementById('conversation-title').textContent === '#redes'")
        page.wait_for("document.getElementById('conversation-presence').textContent === 'prova na sexta · 2 members'")
        assert page.problems() == []


def test_an_invite_only_room_still_says_so_after_a_reload(site, tmp_path: Path) -> None:
    """Carol makes her room #lab3 invite-only with its switch, and reloads the page: the
    page learns its rooms again from ``rooms`` with ``mine``, whose entries carried no
    mode, and the header dropped "invite only" and the switch was off, though the server
    still kept outsiders out. After the reload the header says it and the switch is on."""
    page, web = site
    header = "document.getElementById('conversation-presence').textContent"
    log_in_with_password(page, "Carol", register=True)
    page.focus("#join-room-name")
    page.type("lab3")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#lab3'"
                  " && document.getElementById('room-mode-label').hidden === false")
    page.js("document.getElementById('room-mode').click()")
    page.wait_for(f"{header} === 'invite only · 1 member'")
    page.cdp.send("Page.reload")
    page.cdp.wait_event("Page.loadEventFired", timeout=TIMEOUT)
    online(page, "Carol")  # no form: the account's credential logged in
    page.wait_for("!!document.querySelector('button.contact[data-key=\"##lab3\"]')")
    page.js("document.querySelector('button.contact[data-key=\"##lab3\"]').click()")
    page.wait_for("document.getElementById('conversation-title').textContent === '#lab3'"
                  " && document.getElementById('room-mode-label').hidden === false")
    assert page.js(header) == "invite only · 1 member"
    assert page.js("document.getElementById('room-mode').checked") is True
    shoot(page, tmp_path, "web-client-invite-only-reloaded.png")
    # The server agrees: an outsider is kept out.
    outsider = ChatClient("Vic", "127.0.0.1", web.srv.port)
    try:
        outsider.connect(timeout=WAIT)
        assert "#lab3" not in [entry.room_name for entry in outsider.rooms()]
    finally:
        outsider.close()
    assert page.problems() == []


def test_a_list_of_my_rooms_brings_each_rooms_mode_as_it_is_now(site) -> None:
    """The page's sans-I/O part: a ``mine`` answer after a reconnection sets each listed
    room's mode, made public or invite-only while the page was away (an entry without
    ``invite_only`` is a public room)."""
    page, _web = site
    result = page.js("""(() => {
      const chat = createChat();
      const modes = () => ["##lab3", "##redes"].map((key) => chat.rooms.get(key).inviteOnly);
      const mine = (rooms) => {
        const welcome = receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Bob").id, name: "Bob", version: 2});
        const ask = welcome.send.find((f) => f.type === "rooms" && f.mine === true);
        receiveFrame(chat, {type: "room_list", id: ask.id, mine: true, rooms});
        return modes();
      };
      return [mine([{room: "#lab3", count: 2, topic: "", invite_only: true}, {room: "#redes", count: 2, topic: ""}]),
              mine([{room: "#lab3", count: 2, topic: ""}, {room: "#redes", count: 2, topic: "", invite_only: true}])];
    })()""")
    assert result == [[True, False], [False, True]]


def test_the_page_takes_its_rooms_only_from_an_answer_that_says_mine(site) -> None:
    """The page's sans-I/O part: after a version 2 welcome it asks ``rooms`` with
    ``mine``; an older server's answer (every room, no ``mine``) lists nothing; a
    ``mine`` answer lists its rooms (not the default room) and asks for its next page."""
    page, _web = site
    result = page.js("""(() => {
      const chat = createChat();
      const welcome = receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Bob").id, name: "Bob", version: 2});
      const ask = welcome.send.find((f) => f.type === "rooms" && f.mine === true);
      receiveFrame(chat, {type: "room_list", id: ask.id, rooms: [{room: "#lobby", count: 3, topic: ""},
                                                                 {room: "#redes", count: 2, topic: ""}]});
      const older = [...chat.rooms.keys()];
      const again = receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Bob").id, name: "Bob", version: 2});
      const ask2 = again.send.find((f) => f.type === "rooms" && f.mine === true);
      const out = receiveFrame(chat, {type: "room_list", id: ask2.id, mine: true, next: "#lab3",
                                      rooms: [{room: "#lab3", count: 3, topic: "x"}]});
      const next = out.send.find((f) => f.type === "rooms");
      receiveFrame(chat, {type: "room_list", id: next.id, mine: true, rooms: [{room: "#redes", count: 2, topic: ""}]});
      const listed = {rooms: [...chat.rooms.keys()],
                      lab3: [chat.rooms.get("##lab3").name, chat.rooms.get("##lab3").topic, chat.rooms.get("##lab3").count]};
      // Put out of #lab3 while away: the next welcome's answer has only #redes, and the page
      // joins nothing again (a join would have undone the kick).
      const third = receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Bob").id, name: "Bob", version: 2});
      const ask3 = third.send.find((f) => f.type === "rooms" && f.mine === true);
      const after = receiveFrame(chat, {type: "room_list", id: ask3.id, mine: true,
                                        rooms: [{room: "#redes", count: 2, topic: ""}]});
      return {older, ask: [ask.mine, ask.after], next: [next.mine, next.after], ...listed,
              afterKick: [...chat.rooms.keys()],
              joins: [...third.send, ...after.send].filter((f) => f.type === "join").length};
    })()""")
    assert result["older"] == []
    assert result["ask"] == [True, None]
    assert result["next"] == [True, "#lab3"]
    assert result["rooms"] == ["##lab3", "##redes"]
    assert result["lab3"] == ["#lab3", "x", 3]
    assert result["afterKick"] == ["##redes"] and result["joins"] == 0


def test_the_member_list_is_in_class_list_order(site) -> None:
    """The server pages members in code-point order: the page listed Ângela and Érica
    after Vitória, where a teacher checking who came did not look for them. The list is in
    the order of the contact list beside it (``compareNames``)."""
    page, web = site
    with olga_in_redes(web) as olga:
        students = [ChatClient(name, "127.0.0.1", web.srv.port) for name in ("Vitória", "Érica", "Ângela")]
        try:
            for student in students:
                student.connect(timeout=WAIT)
                student.join("#redes")
            page.log_in("Bob")
            page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
            page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
            page.wait_for("document.querySelectorAll('#member-list li').length === 5")
            assert page.js("[...document.querySelectorAll('#member-list li')].map(e => e.dataset.name)") == \
                ["Ângela", "Bob", "Érica", "Olga", "Vitória"]
            assert olga.connected
        finally:
            for student in students:
                student.close()


@contextlib.contextmanager
def vic_in_redes_and_bob_reading_it(page, web) -> Iterator[ChatClient]:
    """Vic, a library client on ``web``'s chat server, in #redes (Olga's), and Bob logged in
    on ``page`` with #redes open, its three members listed; Vic closed at the end."""
    vic = ChatClient("Vic", "127.0.0.1", web.srv.port)
    try:
        vic.connect(timeout=WAIT)
        vic.join("#redes")
        page.log_in("Bob")
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
        page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
        page.wait_for("document.querySelectorAll('#member-list li').length === 3")
        yield vic
    finally:
        vic.close()


def test_a_moderator_is_offered_mute_or_unmute_as_fits_the_member(site, tmp_path: Path) -> None:
    """Beside every member the page offered both "Mute 10 min" and "Unmute" ("Deixar de
    silenciar"), for someone not muted too: the member list did not say who is muted. It
    does now (``muted``, PROTOCOL.md member_list), and the page offers one of the two as
    fits, following the mutes as they come and go (by another moderator too)."""
    page, web = site

    def offered(name: str) -> list[str]:
        return page.js(f"[...document.querySelectorAll('#member-list li[data-name=\"{name}\"] button')]"
                       ".map(b => b.dataset.act).filter(a => a === 'mute' || a === 'unmute')")

    def offers(name: str, act: str) -> str:
        return (f"(() => {{ const acts = [...document.querySelectorAll('#member-list li[data-name=\"{name}\"] button')]"
                f".map(b => b.dataset.act).filter(a => a === 'mute' || a === 'unmute');"
                f" return acts.length === 1 && acts[0] === '{act}'; }})()")

    with olga_in_redes(web) as olga:
        with vic_in_redes_and_bob_reading_it(page, web) as vic:
            olga.appoint("#redes", "Bob")
            page.wait_for("!!document.querySelector('#member-list li[data-name=\"Vic\"] button')")
            assert offered("Vic") == ["mute"]
            page.js("document.querySelector('#member-list li[data-name=\"Vic\"] button[data-act=\"mute\"]').click()")
            page.wait_for(offers("Vic", "unmute"))
            page.js("document.querySelector('details.members').open = true")
            shoot(page, tmp_path, "web-client-muted-member.png")
            page.js("document.querySelector('#member-list li[data-name=\"Vic\"] button[data-act=\"unmute\"]').click()")
            page.wait_for(offers("Vic", "mute"))
            back = vic.send_to_room("#redes", "voltei")  # unmuted indeed
            assert back.wait_done(WAIT) and back.error is None, back.error
            olga.mute("#redes", "Vic")  # another moderator's mute, until unmuted
            page.wait_for(offers("Vic", "unmute"))
        assert page.problems() == []


def test_inviting_a_name_that_cannot_be_one_says_so(site) -> None:
    # Found walking through the page: "Invite…" with a full name ("João Silva") did nothing
    # at all, no frame and no word, as if the button were dead.
    page, _web = site
    page.log_in("Bob")
    page.focus("#join-room-name")
    page.type("#redes")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#redes'"
                  " && document.getElementById('room-invite').hidden === false")
    page.js("window.prompt = () => 'João Silva'; document.getElementById('room-invite').click()")
    page.wait_for("[...document.querySelectorAll('#messages .notice-text')]"
                  ".some(n => n.textContent === '\"João Silva\" is not a valid name.')")
    assert page.problems() == []


def test_a_refused_join_is_said_where_the_join_was_asked(site, tmp_path: Path) -> None:
    """Found walking through the page: Bob, reading Olga's conversation, typed "#clube" (an
    invite-only room) in the join box; the refusal came as a line in Olga's conversation,
    which the join had nothing to do with, and nothing under the box. It is said under the
    join box (the public rooms' list is under it too), and in no conversation; a join asked
    with the room's own conversation open (banned from it, say) is said there too (on a
    phone the sidebar is a drawer over it)."""
    page, web = site
    error = "document.getElementById('join-room-error')"
    notices = "[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)"
    with olga_in_redes(web) as olga:
        olga.join("#clube", invite_only=True)
        page.log_in("Bob")
        page.open_conversation("Olga")
        page.focus("#join-room-name")
        page.type("#clube")
        page.enter()
        page.wait_for(f"{error}.textContent === '#clube is invite-only: ask its moderators to invite you'"
                      f" && {error}.offsetHeight > 0")
        assert page.js("document.getElementById('join-room-name').getAttribute('aria-invalid')") == "true"
        assert page.js("document.getElementById('conversation-title').textContent") == "Olga"
        assert page.js(notices) == []
        shoot(page, tmp_path, "web-client-join-refused.png")
        # Another join from the list takes the words away; the room opens.
        page.wait_for("!!document.querySelector('#room-list button[data-room=\"#redes\"]')")
        page.js("document.querySelector('#room-list button[data-room=\"#redes\"]').click()")
        page.wait_for(f"document.getElementById('conversation-title').textContent === '#redes'"
                      f" && {error}.textContent === ''")
        # Banned while reading the room: a join asked from there is refused there.
        olga.ban("#redes", "Bob", reason="spam")
        page.wait_for(f"{notices}.some(t => t.startsWith('Olga banned you from #redes'))")
        page.focus("#join-room-name")
        page.type("#redes")
        page.enter()
        page.wait_for(f"{notices}.some(t => t.startsWith('Server: you are banned from #redes'))")
        assert page.js(f"{error}.textContent").startswith("You are banned from #redes")
        assert page.js("document.getElementById('conversation-title').textContent") == "#redes"
    assert page.problems() == []


def test_a_refused_join_puts_the_typed_name_back_in_the_box(site) -> None:
    """Found walking through the page: the join box is emptied when the join is sent, and a
    refusal (here an invite-only room) left it empty, the words under it: to ask again
    once invited, or to fix a typo, the user had to type the name again. The name comes
    back as it was typed, selected (what is typed next replaces it), the refusal under it;
    the next name typed is joined as usual."""
    page, web = site
    box = "document.getElementById('join-room-name')"
    error = "document.getElementById('join-room-error')"
    with olga_in_redes(web) as olga:
        olga.join("#clube", invite_only=True)
        page.log_in("Bob")
        page.focus("#join-room-name")
        page.type("clube")
        page.enter()
        page.wait_for(f"{error}.textContent === '#clube is invite-only: ask its moderators to invite you'")
        page.wait_for(f"{box}.value === 'clube'")
        assert page.js(f"[document.activeElement.id, {box}.selectionStart, {box}.selectionEnd]") == \
            ["join-room-name", 0, 5]
        assert page.js(f"{box}.getAttribute('aria-invalid')") == "true"
        page.type("#redes")
        assert page.js(f"{box}.value") == "#redes"
        page.enter()
        page.wait_for(f"document.getElementById('conversation-title').textContent === '#redes'"
                      f" && {error}.textContent === '' && {box}.value === ''")
        # Gone to write elsewhere before the refusal came: the name is put back, and the
        # focus stays where the user is typing (sent and moved in one go: the answer comes after).
        page.js(f"{box}.value = 'clube'; document.getElementById('join-room').requestSubmit();"
                " document.getElementById('composer-input').focus()")
        page.wait_for(f"{error}.textContent === '#clube is invite-only: ask its moderators to invite you'"
                      f" && {box}.value === 'clube'")
        assert page.js("document.activeElement.id") == "composer-input"
    assert page.problems() == []


def test_the_public_rooms_mark_an_invite_only_one(site, tmp_path: Path) -> None:
    """An administrator's list of rooms has the invite-only ones too (PROTOCOL.md room_list:
    ``invite_only``), but the page listed #clube like any other: a click seemed to promise a
    room anyone may join. It has a lock, and its words for screen readers, in the page's
    language; a public room has neither."""
    page, web = site
    ada = ChatClient("Ada", "127.0.0.1", web.srv.port, password=PASSWORD, register=True)
    ada.connect(timeout=WAIT)
    ada.close()
    web.srv.call(web.srv.server.relay.room_desk.add_admin, "Ada")
    clube = "document.querySelector('#room-list button[data-room=\"#clube\"]')"
    redes = "document.querySelector('#room-list button[data-room=\"#redes\"]')"
    with olga_in_redes(web) as olga:
        olga.join("#clube", invite_only=True)
        log_in_with_password(page, "Ada", register=False)
        page.wait_for(f"!!{clube} && !!{redes}")
        assert page.js(f"{clube}.textContent") == "#clube invite only (1)"
        assert page.js(f"{clube}.querySelector('svg.room-lock').getAttribute('aria-hidden')") == "true"
        assert page.js(f"{clube}.querySelector('svg.room-lock').getBoundingClientRect().width") > 5
        assert page.js(f"{clube}.querySelector('.visually-hidden').offsetWidth <= 1")
        assert page.js(f"{redes}.textContent") == "#redes (1) — prova na sexta"
        assert page.js(f"!{redes}.querySelector('.room-lock')")
        shoot(page, tmp_path, "web-client-invite-only-listed.png")
        page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
                " s.dispatchEvent(new Event('change')); })()")
        page.wait_for(f"{clube}.textContent === '#clube só para convidados (1)'")
    assert page.problems() == []


def as_bob_moderating_redes(page, then: str):
    """Runs in `page` the async script `then` after one making `chat`, a page's chat in English
    (its catalogue's sentences, as a logged-in page has them) logged in as Bob, moderator of
    #redes (Olga its owner, Vic a member) with its member list in (`opened`: the join's
    answer); returns what `then` returns."""
    return page.js("""(async () => {
      await useLanguage("en");
      const chat = createChat();
      receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Bob").id, name: "Bob", version: 2});
      const opened = receiveFrame(chat, {type: "room_info", id: joinRoomFrame(chat, "redes").id, room: "#redes",
                                         count: 3, owner: "Olga"});
      receiveFrame(chat, {type: "member_list", id: opened.send.find((f) => f.type === "members").id, room: "#redes",
                          members: [{name: "Olga", role: "owner"}, {name: "Bob", role: "moderator"},
                                    {name: "Vic", role: "member"}]});
""" + then)


def test_an_act_on_someone_who_left_keeps_the_room_and_says_whom_it_is_about(site) -> None:
    """Bob, a moderator, clicked "Put out" beside Vic just after Vic left #redes: the server
    answered ``not_member`` ("Vic is not in #redes"), which the page took for its own: it
    said "you are not in #redes: join it first" and took the room off its list, though Bob
    was still in it. A moderation act's ``not_member`` may be about the person acted on
    (as the terminal knows): the page says the server's words, keeps the room and asks its
    members again (a members request answers ``not_member`` if it is ours after all)."""
    page, _web = site
    result = as_bob_moderating_redes(page, """
      const kick = roomActFrame(chat, "##redes", "kick", "Vic");
      const out = receiveFrame(chat, {type: "error", id: kick.id, code: "not_member", message: "Vic is not in #redes"});
      const said = chat.conversations.get("##redes").items.filter((i) => i.kind === "notice").map((i) => i.text);
      const kept = chat.rooms.has("##redes");
      const members = out.send.filter((f) => f.type === "members");
      // Our own not_member (put out meanwhile), to the members request, takes the room off the list.
      if (members.length) receiveFrame(chat, {type: "error", id: members[0].id, code: "not_member",
                                              message: "you are not in #redes: join it first"});
      return {said, kept, asked: members.map((f) => f.room), gone: !chat.rooms.has("##redes")};
    })()""")
    assert result["said"] == ["Server: Vic is not in #redes"], result
    assert result["kept"] is True and result["asked"] == ["#redes"] and result["gone"] is True, result
    assert page.problems() == []


def test_an_act_on_someone_who_left_is_said_in_the_pages_words_when_the_error_names_them(site) -> None:
    """The same kick, answered by a server whose not_member says whom it is about (its
    "name", PROTOCOL.md "error"): the page said the server's English on a Portuguese page
    too. It says its own sentence, naming Vic and the room, in the page's language (again
    after a switch); it still keeps the room and asks its members again."""
    page, _web = site
    result = as_bob_moderating_redes(page, """
      const kick = roomActFrame(chat, "##redes", "kick", "vic");
      // (Whatever the server's words: they are not what is said.)
      const out = receiveFrame(chat, {type: "error", id: kick.id, code: "not_member", message: "gone: Vic",
                                      name: "Vic"});
      const notices = () => chat.conversations.get("##redes").items.filter((i) => i.kind === "notice");
      const english = notices().map((i) => i.text);
      await useLanguage("pt_BR");
      const portuguese = notices().map((i) => i.words ? i.words() : i.text);
      await useLanguage("en");
      return {english, portuguese, kept: chat.rooms.has("##redes"),
              asked: out.send.filter((f) => f.type === "members").map((f) => f.room)};
    })()""")
    assert result == {"english": ["Server: Vic is not in #redes"], "portuguese": ["Servidor: Vic não está em #redes"],
                      "kept": True, "asked": ["#redes"]}, result
    assert page.problems() == []


def test_an_act_on_someone_refused_because_we_are_not_in_the_room_drops_the_room_at_once(site) -> None:
    """Bob clicked "Put out" beside Vic after Bob himself had been put out of #redes: the
    server's not_member is his own, and says so (its "room", no "name": PROTOCOL.md
    "error"). The page still took it for maybe Vic's: it kept #redes on its list and asked
    its members again, for another not_member, where a send's or a leave's not_member drops
    the room at once. It drops it at once, and says the page's sentence about Bob."""
    page, _web = site
    result = as_bob_moderating_redes(page, """
      const kick = roomActFrame(chat, "##redes", "kick", "Vic");
      // (Whatever the server's words: they are not what is said.)
      const out = receiveFrame(chat, {type: "error", id: kick.id, code: "not_member", message: "not in: #redes",
                                      room: "#redes"});
      const said = chat.conversations.get("##redes").items.filter((i) => i.kind === "notice").map((i) => i.text);
      return {said, kept: chat.rooms.has("##redes"), asked: out.send.filter((f) => f.type === "members").length};
    })()""")
    assert result == {"said": ["Server: you are not in #redes: join it first"], "kept": False, "asked": 0}, result
    assert page.problems() == []


def test_an_invitation_refused_for_a_name_with_no_account_is_said_in_the_pages_words(site) -> None:
    """A server that admits only accounts refuses to invite a name with no account
    (``unknown_recipient``, PROTOCOL.md "invite"): the page named the room in the
    catalogue's sentence for it, "nobody called #secret has ever logged in here"; then it
    said the server's words, which name the person, but in English on a Portuguese page.
    It says its own words, which name the person, in the page's language (again after a
    switch)."""
    page, _web = site
    said = page.js("""(async () => {
      await useLanguage("en");
      const chat = createChat();
      receiveFrame(chat, {type: "welcome", id: helloFrame(chat, "Olga").id, name: "Olga", version: 2});
      receiveFrame(chat, {type: "room_info", id: joinRoomFrame(chat, "secret").id, room: "#secret", count: 1,
                          owner: "Olga", invite_only: true});
      const invite = roomActFrame(chat, "##secret", "invite", "Mla");
      // (Whatever the server's words: they are not what is said.)
      receiveFrame(chat, {type: "error", id: invite.id, code: "unknown_recipient", message: "no account: Mla"});
      const notices = () => chat.conversations.get("##secret").items.filter((i) => i.kind === "notice");
      const english = notices().map((i) => i.text);
      await useLanguage("pt_BR");
      const portuguese = notices().map((i) => i.words ? i.words() : i.text);
      await useLanguage("en");
      return [english, portuguese];
    })()""")
    assert said == [["Server: Mla has no account here, and only accounts log in on this server: check the name, "
                     "or invite them once they have registered"],
                    ["Servidor: Mla não tem conta aqui, e só contas entram neste servidor: confira o nome, ou "
                     "convide a pessoa depois que ela se registrar"]], said


def test_an_invitation_refused_on_an_accounts_only_server_is_said_in_portuguese(tmp_path: Path) -> None:
    """Conceição, on a server started with --require-accounts, invited "Joao" (no account)
    to her invite-only room from a Portuguese page: the refusal came in the server's
    English. It is said in Portuguese, naming the name she typed, in the room's
    conversation."""
    from browserpage import open_page
    from server import ServerConfig
    from test_web_small_screens import claim_and_log_in, speak_portuguese

    with open_page(tmp_path, ServerConfig(host="127.0.0.1", port=0, require_accounts=True)) as page:
        speak_portuguese(page)
        claim_and_log_in(page, "Conceição")
        page.focus("#join-room-name")
        page.type("#secreta")
        page.enter()
        page.wait_for("document.getElementById('conversation-title').textContent === '#secreta'"
                      " && document.getElementById('room-invite').hidden === false")
        page.js("window.prompt = () => 'Joao'; document.getElementById('room-invite').click()")
        words = ("Servidor: Joao não tem conta aqui, e só contas entram neste servidor: confira o nome, ou convide a "
                 "pessoa depois que ela se registrar")
        page.wait_for("[...document.querySelectorAll('#messages .notice-text')].some(n => n.textContent.includes('Joao'))")
        assert page.js("[...document.querySelectorAll('#messages .notice-text')].map(n => n.textContent)"
                       ".filter(t => t.includes('Joao'))") == [words]
        assert page.problems() == []


def test_the_member_list_says_who_is_muted_in_the_pages_language(site, tmp_path: Path) -> None:
    """The member list carries ``muted`` (PROTOCOL.md member_list), but the page showed it
    only by the Unmute a moderator is offered: a plain member saw nothing, and wondered why
    Vic did not answer. "(muted)" stands beside a muted member's name, for every member, in
    the page's language, and goes with the mute."""
    page, web = site
    label = "document.querySelector('#member-list li[data-name=\"Vic\"] .member-name').textContent"
    with olga_in_redes(web) as olga:
        with vic_in_redes_and_bob_reading_it(page, web) as vic:
            assert page.js(label) == "Vic"
            olga.mute("#redes", "Vic")
            page.wait_for(f"{label} === 'Vic (muted)'")
            assert page.js("document.querySelector('#member-list li[data-name=\"Olga\"] .member-name')"
                           ".textContent") == "Olga (owner)"
            page.js("document.querySelector('details.members').open = true")
            shoot(page, tmp_path, "web-client-muted-label.png")
            page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
                    " s.dispatchEvent(new Event('change')); })()")
            page.wait_for(f"{label} === 'Vic (sem voz)'")  # not "silenciado": Rita, Vic alike
            shoot(page, tmp_path, "web-client-muted-label-pt.png")
            olga.unmute("#redes", "Vic")
            page.wait_for(f"{label} === 'Vic'")
    assert page.problems() == []


def test_the_member_list_stays_on_screen_while_it_is_asked_again(site) -> None:
    """Each room notice (a join, a mute, a kick) asks the member list again, and the page
    emptied the list it showed until the answer came: in a busy room it blinked out at
    every join, and a test reading a member's row between saw none. What is shown stays
    until the new list replaces it."""
    page, web = site
    with olga_in_redes(web) as olga:
        with vic_in_redes_and_bob_reading_it(page, web) as vic:
            page.js("""(() => { window.fewestMembers = 3;
              new MutationObserver(() => { window.fewestMembers = Math.min(window.fewestMembers,
                document.querySelectorAll('#member-list li').length); })
                .observe(document.getElementById('member-list'), { childList: true }); })()""")
            olga.mute("#redes", "Vic")
            page.wait_for("document.querySelector('#member-list li[data-name=\"Vic\"]')"
                          ".textContent.includes('(muted)')")
            olga.unmute("#redes", "Vic")
            page.wait_for("!document.querySelector('#member-list li[data-name=\"Vic\"]')"
                          ".textContent.includes('(muted)')")
            assert page.js("window.fewestMembers") == 3
    assert page.problems() == []


def test_a_topic_longer_than_the_server_takes_is_asked_again_before_it_is_sent(site, tmp_path: Path) -> None:
    """The window checks a topic's length (const.MAX_TOPIC_CHARS) before sending it; the
    page sent any, and the server's refusal (``bad_field``) came in its English. The page
    asks again, saying the limit and the length in its own words, the text kept to be
    shortened; one of the limit's length in code points (emoji: two UTF-16 units each) is
    taken."""
    page, _web = site
    page.log_in("Bob")
    page.focus("#join-room-name")
    page.type("#lab3")
    page.enter()
    page.wait_for("document.getElementById('conversation-title').textContent === '#lab3'"
                  " && document.getElementById('room-topic').hidden === false")
    limit = const.MAX_TOPIC_CHARS
    too_long, fits = "a" * (limit + 1), "😀" * limit
    # The user types a topic too long, is asked again, and gives up (Cancel); then one that fits.
    page.js(f"window.asked = []; window.answers = [{json.dumps(too_long)}, null, {json.dumps(fits)}];"
            "window.prompt = (question, value) => {"
            " window.asked.push([question, value]); return window.answers.shift(); };"
            "window.sent = []; const send = WebSocket.prototype.send;"
            "WebSocket.prototype.send = function (data) {"
            " window.sent.push(JSON.parse(data)); return send.call(this, data); };"
            "document.getElementById('room-topic').click()")
    asked = page.js("window.asked")
    assert asked == [["The topic of #lab3:", ""],
                     [f"The topic of #lab3 (at most {limit} characters; this one has {limit + 1}: shorten it):",
                      too_long]]
    assert [f for f in page.js("window.sent") if f["type"] == "topic"] == []
    page.js("(() => { const s = document.getElementById('lang-switch'); s.value = 'pt_BR';"
            " s.dispatchEvent(new Event('change')); })()")
    page.wait_for("document.documentElement.lang === 'pt-BR'")
    page.js("document.getElementById('room-topic').click()")
    assert page.js("window.asked.slice(2)") == [["O tema de #lab3:", ""]]
    page.wait_for(f"document.querySelector('#conversation-presence .topic-text')?.textContent === {json.dumps(fits)}")
    assert page.problems() == []


def test_a_list_of_our_rooms_refused_for_now_is_asked_again(site) -> None:
    """After a reconnection the page asks for its rooms ("rooms" with "mine"); asked while a
    change of one of them is being stored, the list waits for it and, the store failing it,
    is answered ``unavailable``. The page said so and never asked again: a room it was put
    out of while away stayed listed until the next welcome. It asks again after the
    server's wait. The store here holds a save until the list waits, then fails it once."""
    page, web = site
    srv = web.srv
    desk, store = srv.server.relay.room_desk, srv.server.store
    with olga_in_redes(web) as olga:
        olga.join("#lab")
        page.log_in("Bob")
        for room in ("#lab", "#redes"):  # #redes on screen (a read of #lab would say not_member)
            page.wait_for(f"!!document.querySelector('#room-list button[data-room=\"{room}\"]')")
            page.js(f"document.querySelector('#room-list button[data-room=\"{room}\"]').click()")
            page.wait_for(f"!!document.querySelector('button.contact[data-key=\"#{room}\"]')")
        web.stop()  # Bob's page is away
        olga.kick("#lab", "Bob")  # stored: the server has Bob out of #lab
        held: list = []

        def hold(key, record, callback=None, on_error=None) -> None:
            held.append(on_error)

        srv.call(lambda: setattr(store, "save_room", hold))
        failures: list = []
        topic = threading.Thread(target=lambda: failures.append(_failure_of(olga.set_topic, "#redes", "held")))
        topic.start()
        try:
            wait_until(lambda: srv.call(lambda: len(held)) == 1, TIMEOUT)
            web.start()  # the page comes back and asks for its rooms: the answer waits for the topic's save
            wait_until(lambda: srv.call(lambda: len(desk._lists_waiting)) == 1, TIMEOUT)
            assert page.js("!!document.querySelector('button.contact[data-key=\"##lab\"]')")

            def fail() -> None:
                delattr(store, "save_room")  # the class's own again
                held[0](StoreUnavailable("disk full", storage=True))

            srv.call(fail)
            # Asked again after the server's wait (5 s): #lab goes, as the server has it.
            page.wait_for("!document.querySelector('button.contact[data-key=\"##lab\"]')", TIMEOUT + 5)
            assert page.js("!!document.querySelector('button.contact[data-key=\"##redes\"]')")
        finally:
            topic.join(TIMEOUT)
        assert failures == [ErrorCode.UNAVAILABLE]
    assert page.problems() == []


def _failure_of(request, *args) -> ErrorCode | None:
    """The error code ``request(*args)`` raised (RequestFailed), or None if it was done."""
    from client.library import RequestFailed

    try:
        request(*args)
    except RequestFailed as failed:
        return failed.code
    return None
