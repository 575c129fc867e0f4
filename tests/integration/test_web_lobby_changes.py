"""The default room's edits and deletes in the web page (headless Chromium, see
test_web_session.py for the harness): they change the message in "Everyone"."""

from __future__ import annotations

from pathlib import Path

from client.library import ChatClient
from clientkit import WAIT
from test_web_rooms import _text_in
from test_web_session import chromium_installed, site  # noqa: F401  (fixtures)


def test_an_edit_and_a_delete_of_a_default_room_message_show_in_everyone(site, tmp_path: Path) -> None:
    page, web = site
    ana = ChatClient("Ana", "127.0.0.1", web.srv.port)
    try:
        ana.connect(timeout=WAIT)
        page.log_in("Bob")
        page.wait_for("document.getElementById('conversation-title').textContent === 'Everyone'")
        first = ana.send_room("a prova é na quinta")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "a prova é na quinta"))
        ana.edit(first.msg_id, "a prova é na sexta")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "a prova é na sexta"))
        assert page.js("document.querySelector('#messages .msg-in').dataset.edited") == "true"
        oops = ana.send_room("ops, sala errada")
        page.wait_for(_text_in("#messages .msg-in .msg-text", "ops, sala errada"))
        ana.delete(oops.msg_id)
        page.wait_for(_text_in("#messages .msg-in .msg-text", "This message was deleted"))
        assert page.js("[...document.querySelectorAll('#messages .msg-in')].at(-1).dataset.deleted") == "true"
    finally:
        ana.close()
