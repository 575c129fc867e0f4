"""The default room's edits and deletes in the web page (headless Chromium, see
test_web_session.py for the harness): they change the message in "Everyone"."""

from __future__ import annotations

from pathlib import Path

from client.library import ChatClient
from clientkit import WAIT
from test_web_rooms import _text_in, edit_our_message
from test_web_session import chromium_installed, site  # noqa: F401  (fixtures)


def everyone(page, web) -> ChatClient:
    """Ana connected with the client library, and Bob logged in to the page, which opens
    on Everyone (the default room)."""
    ana = ChatClient("Ana", "127.0.0.1", web.srv.port)
    try:
        ana.connect(timeout=WAIT)
        page.log_in("Bob")
        page.wait_for("document.getElementById('conversation-title').textContent === 'Everyone'")
    except BaseException:
        ana.close()
        raise
    return ana


def test_an_edit_and_a_delete_of_a_default_room_message_show_in_everyone(site, tmp_path: Path) -> None:
    page, web = site
    ana = everyone(page, web)
    try:
        first = ana.send_room("a prova é na quinta")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "a prova é na quinta"))
        # The page may show the post before Ana's client has read its msg_id.
        assert first.wait_done(WAIT) and first.msg_id is not None, first
        ana.edit(first.msg_id, "a prova é na sexta")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "a prova é na sexta"))
        assert page.js("document.querySelector('#messages .msg-in').dataset.edited") == "true"
        oops = ana.send_room("ops, sala errada")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "ops, sala errada"))
        assert oops.wait_done(WAIT) and oops.msg_id is not None, oops
        ana.delete(oops.msg_id)
        page.wait_for(_text_in("#messages .msg-in .msg-text", "This message was deleted"))
        assert page.js("[...document.querySelectorAll('#messages .msg-in')].at(-1).dataset.deleted") == "true"
    finally:
        ana.close()


def test_our_own_default_room_message_has_edit_and_delete_in_the_page(site) -> None:
    """The page's Edit and Delete buttons on our message to "Everyone", as on a direct
    message or a room post (they were left out for the default room)."""
    from protocol import RoomDeleted, RoomEdited

    page, web = site
    ana = everyone(page, web)
    try:
        page.focus("#composer-input")
        page.type("a reunião é às 10h")
        page.enter()
        edit_our_message(page, "a reunião é às 11h")
        while not isinstance(event := ana.events.get(timeout=WAIT), RoomEdited):
            pass
        assert (event.sender, event.text) == ("Bob", "a reunião é às 11h")
        page.js("document.querySelector('#messages .msg-out .msg-delete').click()")
        page.wait_for("document.querySelector('#messages .msg-out')?.dataset.deleted === 'true'")
        while not isinstance(event := ana.events.get(timeout=WAIT), RoomDeleted):
            pass
        assert event.msg_id is not None
    finally:
        ana.close()
