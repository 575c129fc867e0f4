"""A loopback control channel for tests of the real window (``CHAT_GUI_TEST_CONTROL=PORT``).

The GUI connects to ``127.0.0.1:PORT`` (the test listens there) and answers one JSON
object per line with one JSON object per line. Each command runs on the Tk thread through
the same :class:`~client.gui.bridge.TkBridge` as the chat events, so it sees the window
exactly as the user does, and typing goes through the real bindings:

- ``{"cmd": "dump"}``: view, title, alerts, contact rows, status bar, focus, input box
  and its button's text, the pane on top (``pane_shown``), pane texts (``"panes":
  false`` leaves them out; ``"panes": [keys]`` only those), states; ``"layout": true``
  adds the chat view's sizes in pixels (:func:`layout`: it lays the window out first,
  which the other dumps leave to Tk);
- ``{"cmd": "type", "text": T}``: focus the input box, insert T, then generate a real
  ``<Return>`` key event on it (``"enter": false`` leaves it unsent; ``"clear": true``
  empties the box first);
- ``{"cmd": "key", "sequence": "<Control-Key-2>"}``: generate a key event on the focused widget;
  ``"dump": true`` adds the dump (no panes) taken right after its handlers, before any idle task;
- ``{"cmd": "receipts"}``: click the read receipts switch;
- ``{"cmd": "password", "old": O, "new": N, "again": A}``: click "Change password…", fill
  the dialog and press its button (the dump's ``password`` says what came of it);
- ``{"cmd": "password_close", "how": "escape"|"cancel"}``: click "Change password…",
  wait until its first field has the focus, then press Escape in it (a real key event
  through its bindings) or click Cancel;
- ``{"cmd": "unregister", "password": P}``: click "Delete account…", type P in the
  dialog and press its button (the dump's ``unregister`` says what came of it);
- ``{"cmd": "unregister_close"}``: press the "Delete account" dialog's Cancel button;
- ``{"cmd": "login", "name": ..., "host": ..., "port": ..., "password": ...}``: fill the
  login form, then press Enter in it (``"enter": false``: only fill it);
- ``{"cmd": "focus", "field": "password"}``: give a login field the keyboard focus (the
  window's too), as a click in it would, so that real X key events land there;
- ``{"cmd": "dismiss"}``: press OK in an open error dialog;
- ``{"cmd": "max_gap", "reset": bool}``: the longest gap between event-loop turns (ms);
- ``{"cmd": "screenshot", "path": P}``: save the window as a PNG (needs ``xwd``);
- ``{"cmd": "window"}``: the toplevel's X window id and geometry (for xdotool);
- ``{"cmd": "join", "room": R}``: type R into the join box and press Enter there;
- ``{"cmd": "new_chat", "name": N}``: type N into the box to write to someone by name and
  press Enter there (the dump's ``new_chat`` is what the box holds);
- ``{"cmd": "members"}``: click the header's Members button (a room's column shown or hidden);
- ``{"cmd": "room_act", "act": A, "name": N}``: what the member menu's entry A does for N;
- ``{"cmd": "member_tip", "name": N}``: the pointer moved over member N's row: the
  tooltip's text (None: none shown); ``"key": true``: the list focused and its keyboard
  focus moved to N's row by the Down key's handlers (Treeview's and the window's);
- ``{"cmd": "room_leave"}``: click the room column's Leave button;
- ``{"cmd": "topic"}``: click the room column's Topic… button (its dialog opens on a later turn);
- ``{"cmd": "topic_dialog", "text": T}``: the open topic dialog's prompt and text (``"open":
  false`` when none is open yet), then, given T, T typed in it in place of its text and
  Enter pressed there; "Lift a ban…"'s dialog alike;
- ``{"cmd": "lift_ban"}``: click the room column's "Lift a ban…" button (``"ok": false``
  when it is hidden; its dialog opens on a later turn);
- ``{"cmd": "message_act", "act": "edit"|"delete", "text": T}``: a right click on the first
  place the open conversation shows T, then the message menu's entry (``"ok": false`` when
  the click finds none of our messages that may still change);
- ``{"cmd": "block"}``: click the header's Block / Unblock button (``"ok": false`` when it
  is hidden or waits for an answer);
- ``{"cmd": "contact_menu", "key": K, "choose": bool}``: the entries a right click on
  person K in the list offers, and (``choose``) the first one chosen;
- ``{"cmd": "unavailable", "retry_in": S}``: the client's word that the server could not
  store a message (client.events.ServerUnavailable), through the window's event path;
- ``{"cmd": "quit"}``.

Never enabled unless the environment variable is set; it only ever connects to loopback.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import tkinter as tk
from typing import Any

from ..events import ServerUnavailable
from .app import ChatApp
from .screenshot import capture

REPLY_TIMEOUT = 30.0


class ControlChannel(threading.Thread):
    def __init__(self, app: ChatApp, port: int) -> None:
        super().__init__(name="gui-test-control", daemon=True)
        self.app = app
        self.port = port

    def run(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.settimeout(None)
            reader = sock.makefile("r", encoding="utf-8")
            for line in reader:
                if not line.strip():
                    continue
                command: dict[str, Any] = {}
                try:
                    command = json.loads(line)
                    reply = self.execute(command)
                except Exception as exc:  # report it to the test instead of dying
                    reply = {"error": f"{type(exc).__name__}: {exc}"}
                sock.sendall(json.dumps(reply).encode("utf-8") + b"\n")
                if command.get("cmd") == "quit":
                    return

    def execute(self, command: dict[str, Any]) -> dict[str, Any]:
        if command.get("cmd") == "screenshot":
            where = self.on_tk(window_info, self.app)
            capture(command["path"], rect=(where["x"], where["y"], where["width"], where["height"]))
            return {"ok": True, "path": command["path"], **where}
        return self.on_tk(handle, self.app, command)

    def on_tk(self, func, *args) -> dict[str, Any]:
        """Run ``func(*args)`` on the Tk thread and return its result."""
        answers: queue.Queue = queue.Queue(1)

        def call() -> None:
            try:
                answers.put(func(*args))
            except Exception as exc:
                answers.put({"error": f"{type(exc).__name__}: {exc}"})
        self.app.bridge.call(call)
        try:
            return answers.get(timeout=REPLY_TIMEOUT)
        except queue.Empty:
            return {"error": f"the Tk thread did not answer within {REPLY_TIMEOUT:g} s"}


def window_info(app: ChatApp) -> dict[str, Any]:
    root = app.root
    root.update_idletasks()
    return {"id": int(root.wm_frame(), 16), "x": root.winfo_rootx(), "y": root.winfo_rooty(),
            "width": root.winfo_width(), "height": root.winfo_height(), "viewable": bool(root.winfo_viewable())}


def _role(app: ChatApp, widget: Any) -> str:
    if widget is None:
        return ""
    roles = {}
    if app.chat is not None:
        rooms = app.rooms
        roles = {str(app.input): "input", str(app.contacts.tree): "contacts", str(app.send_button): "send",
                 str(app.receipts_button): "receipts", str(app.password_button): "password-button",
                 str(app.blocks.button): "block", str(rooms.join_entry): "join",
                 str(app.new_chat.entry): "new-chat", str(app.new_chat.button): "new-chat-button",
                 str(rooms.join_button): "join-button", str(rooms.toggle): "members-button",
                 str(rooms.topic_button): "room-topic", str(rooms.invite_button): "room-invite",
                 str(rooms.unban_button): "room-unban", str(rooms.leave_button): "room-leave",
                 str(rooms.mode_check): "room-mode",
                 str(rooms.older_button): "room-older", str(rooms.members): "member-list"}
        # The open conversation's messages; another's (hidden under it) by its key.
        roles.update({str(pane.text): "messages" if app.model is not None and key == app.model.active
                      else f"messages of {key}" for key, pane in app._panes.items()})
        if app.unregister_dialog is not None and app.unregister_dialog.winfo_exists():
            roles[str(app.unregister_dialog.entry)] = "unregister-password"
        roles[str(app.unregister_button)] = "unregister-button"
        if app.password_dialog is not None and app.password_dialog.winfo_exists():
            roles.update({str(entry): f"password-{key}" for key, entry in app.password_dialog.entries.items()})
    roles.update({str(entry): f"login-{key}" for key, entry in app.login.entries.items()})
    roles[str(app.login.button)] = "login-button"
    return roles.get(str(widget), str(widget))


def _texts(widget: Any) -> list[str]:
    """The ``text`` of ``widget`` and of everything inside it, in creation order (labels,
    buttons, check boxes): what the reader sees, in the language in use."""
    found = []
    try:
        text = str(widget.cget("text"))
    except (tk.TclError, AttributeError):  # frames have no text
        text = ""
    if text:
        found.append(text)
    for child in widget.winfo_children():
        found.extend(_texts(child))
    return found


def _visible(widget: tk.Misc) -> list[int]:
    """``[width, height]`` of what is on screen of ``widget``: its rectangle cut by the
    rectangle of every window it is inside (a grid column narrower than its widget, or a
    frame shorter than its rows, cuts it without any widget saying so); ``[0, 0]`` unmapped."""
    if not widget.winfo_ismapped():
        return [0, 0]
    left, top = widget.winfo_rootx(), widget.winfo_rooty()
    right, bottom = left + widget.winfo_width(), top + widget.winfo_height()
    outer = widget.master
    while outer is not None:
        x, y = outer.winfo_rootx(), outer.winfo_rooty()
        left, top = max(left, x), max(top, y)
        right, bottom = min(right, x + outer.winfo_width()), min(bottom, y + outer.winfo_height())
        outer = outer.master
    return [max(0, right - left), max(0, bottom - top)]


def layout(app: ChatApp) -> dict[str, Any]:
    """The chat view as drawn, in pixels of what is on screen (:func:`_visible`): the
    window, the open conversation's messages, the input box, the Send button, the room's
    member column (``"members"``: its geometry manager, "" when hidden, "place" over the
    messages; ``"member_list"``: the list's visible size; ``"members_button"``: the header's
    Members button, null when hidden, else whether it is pressed; ``"room_buttons_fit"``:
    its buttons shown whole), whether the header's parts (name, subtitle, typing line, Members
    or Block button) are each shown as wide as they ask (``"header_whole"``), the status bar's
    buttons too (``"status_whole"``) and whether the hint below
    the input box is shown whole (``"hint_fits"``: as wide and as tall as its wrapped text asks)."""
    app.root.update_idletasks()
    hint = _visible(app.hint)
    return {
        "window": [app.root.winfo_width(), app.root.winfo_height()],
        "messages": _visible(app.stack),
        "input": _visible(app.input),
        "send": _visible(app.send_button),
        "members": app.rooms.members_frame.winfo_manager(),
        "member_list": _visible(app.rooms.members),
        "members_button": bool(app.rooms.toggle_var.get()) if app.rooms.toggle.winfo_manager() else None,
        # The column's buttons shown whole (Topic…, Invite…, Leave, the switch, Older messages).
        "room_buttons_fit": all(_visible(button)[0] >= button.winfo_reqwidth()
                                for button in app.rooms.leave_button.master.winfo_children() if button.winfo_manager()),
        "header_whole": all(_visible(part)[0] >= part.winfo_reqwidth()
                            for part in app.header.winfo_children() if part.winfo_manager()),
        # The line above the input box ("To Olga", "Editing your message: Enter saves, Esc
        # cancels") shown as wide and as tall as it asks.
        "recipient_fits": _visible(app.recipient_label)[0] >= app.recipient_label.winfo_reqwidth()
        and _visible(app.recipient_label)[1] >= app.recipient_label.winfo_reqheight(),
        # Each row of the list of conversations shown whole: its text (in the row's font) within
        # what the tree leaves it beside the unread column, its indent and its dot.
        "contacts_fit": all(
            app.fonts["bold" if "unread" in app.contacts.tree.item(key, "tags") else "default"].measure(
                app.contacts.tree.item(key, "text"))
            <= app.contacts.tree.winfo_width() - int(app.contacts.tree.column("unread", "width")) - 20 - 9
            for key in app.contacts.tree.get_children()),
        # Each row of a room's member list shown whole, as the list of conversations' above.
        "members_fit": all(
            app.fonts["default"].measure(app.rooms.members.item(key, "text"))
            <= app.rooms.members.winfo_width() - 20 - 4 for key in app.rooms.members.get_children()),
        # The status bar's buttons and switch each shown as wide as they ask.
        "status_whole": all(_visible(part)[0] >= part.winfo_reqwidth()
                            for part in (app.receipts_button, app.password_button, app.unregister_button)
                            if part.winfo_manager()),
        "hint_fits": hint[0] >= app.hint.winfo_reqwidth() and hint[1] >= app.hint.winfo_reqheight(),
    }


def _member_tip(app: ChatApp) -> str | None:
    """The text of the tooltip shown over a member's row, or None."""
    tip = app.rooms._tip
    return tip.winfo_children()[0].cget("text") if tip is not None else None


def dump(app: ChatApp, panes: Any = True, sizes: bool = False) -> dict[str, Any]:
    root = app.root
    try:
        focus = root.focus_get()
    except (KeyError, tk.TclError):  # focus in a dialog Python did not create
        focus = None
    result: dict[str, Any] = {
        "view": "chat" if app.chat is not None else "login",
        "title": root.title(),
        "viewable": bool(root.winfo_viewable()),
        "alerts": [list(alert) for alert in app.alerts],
        "alert_open": app.alert_open,
        "login_busy": app.login.busy,
        "passwords": app.login.passwords,
        "login_progress": app.login.progress_var.get(),
        "login_prompt": app.login.prompt_var.get(),
        "login_fields": {"name": app.login.name_var.get(), "password": app.login.password_var.get(),
                         "register": app.login.register_var.get()},
        "login_texts": _texts(app.login),
        "focus": _role(app, focus),
        "turns": app.bridge.turns,
    }
    model = app.model
    if model is not None and app.chat is not None:
        result.update({
            "me": model.me,
            "active": model.active,
            "header": [app.title_var.get(), app.subtitle_var.get()],
            # Whether the header's texts fit its width (nothing cut off at the right).
            "header_fits": app.title_label.winfo_reqwidth() + app.subtitle_label.winfo_reqwidth() + 10
            + app.typing_label.winfo_reqwidth() + app.rooms.header_width() + app.blocks.header_width()
            <= app.header.winfo_width(),
            "recipient": app.recipient_var.get(),
            "status": app.status_var.get(),
            # Whether the status bar's text is shown whole: as wide as it asks, and left of
            # the switch, which keeps its own width (nothing cut off at the window's edge).
            # (the switch and the account's buttons right of it, or below it)
            "status_fits": app.status_label.winfo_width() >= app.status_label.winfo_reqwidth()
            and (app.status_label.winfo_rootx() + app.status_label.winfo_width() <= app.status_controls.winfo_rootx()
                 or app.status_label.winfo_rooty() + app.status_label.winfo_height()
                 <= app.status_controls.winfo_rooty())
            and app.receipts_button.winfo_width() >= app.receipts_button.winfo_reqwidth(),
            "state": model.state,
            "contacts": app.contacts.rows(),
            "input": app.input.get("1.0", "end-1c"),
            "send_button": str(app.send_button.cget("text")),
            "typing": app.typing_var.get(),
            "hint": str(app.hint.cget("text")),
            "new_chat": app.new_chat.name_var.get(),
            # The texts under the list of conversations (its heading, the boxes' buttons).
            "sidebar_texts": _texts(app.contacts),
            "read_receipts": [app.receipts_var.get(), model.read_receipts],
            "password": {"button": bool(app.password_button.winfo_manager()),
                         "dialog": app.password_dialog is not None and bool(app.password_dialog.winfo_exists()),
                         "error": app.password_dialog.error_var.get() if app.password_dialog is not None
                         and app.password_dialog.winfo_exists() else ""},
            "unregister": _unregister_state(app),
            "lines": {key: len(c.lines) for key, c in model.conversations.items()},
            "rooms": {key: {"name": state.name, "topic": state.topic, "count": state.count,
                            "may_moderate": model.may_moderate(key)} for key, state in model.rooms.items()},
            "members": list(app.rooms.shown),
            "member_tip": _member_tip(app),
            "room_menu": app.rooms.menu_items(),
            # The menu each member of the open room gets (a right click on them): {name: acts}.
            "member_menus": {m.name: app.rooms.menu_items(m.name)
                             for m in getattr(model.rooms.get(model.active), "members", None) or ()},
            # The conversation whose pane is on top of the stack (what the user sees), by
            # Tk's stacking order of the panes (winfo children: the lowest first).
            "pane_shown": next((key for child in reversed(app.stack.winfo_children())
                                for key, pane in app._panes.items() if pane is child), None),
            "block_button": ({"text": str(app.blocks.button.cget("text")),
                              "state": str(app.blocks.button.cget("state"))}
                             if app.blocks.button.winfo_manager() else None),
            "blocked": sorted(model.blocked) if model.blocked is not None else None,
            # The room column's switch and button, as shown (grid_remove()d: no manager;
            # mapping itself waits for Tk's idle time).
            "room_controls": {"mode": bool(app.rooms.mode_check.winfo_manager()),
                              "invite_only": bool(app.rooms.invite_only_var.get()),
                              "older": bool(app.rooms.older_button.winfo_manager())},
            "outgoing": [{"key": key, "text": line.text, "state": line.state, "request_id": line.request_id}
                         for key, c in model.conversations.items() for line in c.lines
                         if line.kind == "out" and line.request_id is not None],
        })
        if sizes:
            result["layout"] = layout(app)
        if panes:
            keys = panes if isinstance(panes, list) else list(app._panes)
            result["panes"] = {key: app._panes[key].content() for key in keys if key in app._panes}
        # The delivery labels of the open conversation that a wrap cut in two ("✓" at a
        # line's end, "sent" under the time column): their texts.
        pane = app._panes.get(model.active)
        result["labels_cut"] = [] if pane is None else pane.labels_cut()
    return result


def _unregister_state(app: ChatApp) -> dict[str, Any]:
    """The "Delete account…" button (shown?) and its dialog: open?, its refusal, its texts."""
    dialog = app.unregister_dialog
    shown = dialog is not None and bool(dialog.winfo_exists())
    return {"button": bool(app.unregister_button.winfo_manager()), "dialog": shown,
            "error": dialog.error_var.get() if shown else "", "texts": _texts(dialog) if shown else []}


def _focus(root: tk.Misc, widget: tk.Misc, timeout: float = 5.0) -> None:
    """Give ``widget`` the keyboard focus and wait (bounded) until Tk has it. A generated
    key event goes to the widget Tk thinks has the focus, and focus_force only asks the X
    server: until its FocusIn comes back (slow under load), a <Return> would be lost."""
    widget.focus_force()
    deadline = time.monotonic() + timeout
    while root.focus_get() is not widget and time.monotonic() < deadline:
        root.update()
        if root.focus_get() is not widget:
            time.sleep(0.01)
            widget.focus_force()


def handle(app: ChatApp, command: dict[str, Any]) -> dict[str, Any]:
    cmd = command.get("cmd")
    root = app.root
    if cmd == "dump":
        return dump(app, command.get("panes", True), bool(command.get("layout", False)))
    if cmd == "type":
        if app.chat is None:
            return {"error": "not logged in"}
        _focus(root, app.input)
        if command.get("clear"):
            app.input.delete("1.0", "end")
        app.input.insert("end", command["text"])
        if command.get("enter", True):
            # A real key event through the widget's bindings, as a keyboard makes.
            app.input.event_generate("<KeyPress-Return>", when="now")
            app.input.event_generate("<KeyRelease-Return>", when="now")
        return {"ok": True, "input": app.input.get("1.0", "end-1c")}
    if cmd == "password":  # "Change password…", the dialog filled, its button pressed
        app.password_button.invoke()
        dialog = app.password_dialog
        for key in ("old", "new", "again"):
            dialog.entries[key].delete(0, "end")
            dialog.entries[key].insert(0, command[key])
        dialog.submit_button.invoke()
        return {"ok": True}
    if cmd == "password_close":  # "Change password…", then Escape in it or its Cancel button
        app.password_button.invoke()
        dialog = app.password_dialog
        _focus(root, dialog.entries["old"])
        if command["how"] == "escape":
            dialog.entries["old"].event_generate("<KeyPress-Escape>", when="now")
        else:
            dialog.cancel_button.invoke()
        return {"ok": True}
    if cmd == "unregister":  # "Delete account…", the password typed, its button pressed
        app.unregister_button.invoke()
        dialog = app.unregister_dialog
        dialog.entry.delete(0, "end")
        dialog.entry.insert(0, command["password"])
        dialog.submit_button.invoke()
        return {"ok": True}
    if cmd == "unregister_close":  # the open "Delete account" dialog's Cancel button
        app.unregister_dialog.cancel_button.invoke()
        return {"ok": True}
    if cmd == "receipts":  # a click on the read receipts switch
        app.receipts_button.invoke()
        return {"ok": True, "on": app.receipts_var.get()}
    if cmd == "key":
        target = root.focus_get() or root
        target.event_generate(command["sequence"], when="now")
        result = {"ok": True, "focus": _role(app, root.focus_get())}
        if command.get("dump"):  # the window as the key's handlers left it, before any idle task
            result["state"] = dump(app, panes=False)
        return result
    if cmd == "login":
        fields = {k: command[k] for k in ("name", "host", "port", "password", "register") if k in command}
        app.login.fill(**fields)
        if command.get("enter", True):
            entry = app.login.entries["name"]
            _focus(root, entry)
            entry.event_generate("<Return>", when="now")
        return {"ok": True}
    if cmd == "focus":
        app.login.entries[command["field"]].focus_force()
        root.update()  # let the X focus events through before the test types
        return {"ok": True, "focus": _role(app, root.focus_get())}
    if cmd == "dismiss":
        # tk_messageBox (Tk's own on X11) is the toplevel .__tk__messagebox with an "ok" button.
        for path in (".__tk__messagebox.ok",):
            try:
                root.tk.call(path, "invoke")
                return {"ok": True}
            except tk.TclError:
                continue
        return {"ok": False}
    if cmd == "max_gap":
        gap, ticks = app.timer.max_gap, app.timer.ticks
        if command.get("reset"):
            app.timer.reset()
        return {"max_gap_ms": round(gap * 1000, 1), "ticks": ticks}
    if cmd == "window":
        return window_info(app)
    if cmd == "unavailable":
        app._on_events([ServerUnavailable(command["retry_in"])])
        return {"ok": True}
    if cmd == "join":
        app.rooms.join_var.set(command["room"])
        if command.get("click"):  # the "Join room" button (a key event needs the X focus)
            app.rooms.join()
            return {"ok": True}
        _focus(root, app.rooms.join_entry)
        app.rooms.join_entry.event_generate("<Return>", when="now")
        return {"ok": True}
    if cmd == "new_chat":
        app.new_chat.name_var.set(command["name"])
        _focus(root, app.new_chat.entry)
        app.new_chat.entry.event_generate("<Return>", when="now")
        return {"ok": True}
    if cmd == "members":  # a click on the header's Members button
        app.rooms.toggle.invoke()
        return {"ok": True}
    if cmd == "room_act":
        app.rooms.act(command["act"], command["name"])
        return {"ok": True}
    if cmd == "message_act":
        pane = app._panes[app.model.active]
        index = pane.text.search(command["text"], "1.0", "end")
        if not index:
            return {"error": f"{command['text']!r} is not shown"}
        pane.text.see(index)
        pane.text.update_idletasks()
        x, y, _width, _height = pane.text.bbox(index)
        line = app.own_message_at(pane, x + 1, y + 1)
        if line is None:
            return {"ok": False}
        app.message_act(command["act"], pane.key, line)
        return {"ok": True}
    if cmd == "topic":  # a click on Topic…: its dialog waits for an answer, so it opens on a turn of its own
        root.after(0, app.rooms.topic_button.invoke)
        return {"ok": True}
    if cmd == "lift_ban":  # a click on "Lift a ban…": its dialog opens on a turn of its own, as Topic…'s
        if not app.rooms.unban_button.winfo_manager():
            return {"ok": False}
        root.after(0, app.rooms.unban_button.invoke)
        return {"ok": True}
    if cmd == "topic_dialog":
        dialog = next((child for child in root.winfo_children()
                       if isinstance(child, tk.Toplevel) and hasattr(child, "entry") and child.winfo_exists()), None)
        if dialog is None or not dialog.winfo_viewable():
            return {"open": False}
        found = {"open": True, "prompt": dialog.prompt, "text": dialog.entry.get()}
        if "text" in command:
            dialog.entry.delete(0, "end")
            dialog.entry.insert(0, command["text"])
            _focus(dialog, dialog.entry)
            dialog.entry.event_generate("<Return>", when="now")
        return found
    if cmd == "member_tip":  # the pointer over a member's row, through the list's own binding
        tree = app.rooms.members
        tree.see(command["name"])
        tree.update_idletasks()
        if command.get("key"):
            _focus(root, tree)
            children = list(tree.get_children())
            tree.focus(children[max(0, children.index(command["name"]) - 1)])
            if children.index(command["name"]) > 0:
                tree.event_generate("<KeyPress-Down>", when="now")
            tree.event_generate("<KeyRelease-Down>", when="now")
            return {"ok": True, "tip": _member_tip(app), "focus": tree.focus()}
        x, y, _w, h = tree.bbox(command["name"])
        tree.event_generate("<Motion>", x=x + 10, y=y + h // 2, when="now")
        return {"ok": True, "tip": _member_tip(app)}
    if cmd == "room_leave":  # a click on the room column's Leave button
        app.rooms.leave_button.invoke()
        return {"ok": True}
    if cmd == "room_mode":  # a click on the invite-only switch
        app.rooms.mode_check.invoke()
        return {"ok": True, "on": app.rooms.invite_only_var.get()}
    if cmd == "room_older":  # a click on "Older messages"
        app.rooms.older_button.invoke()
        return {"ok": True}
    if cmd == "see_end":  # scroll the open conversation to its newest line
        app._panes[app.model.active].text.see("end")
        return {"ok": True}
    if cmd == "block":  # a click on the header's Block / Unblock button
        if not app.blocks.button.winfo_manager() or str(app.blocks.button.cget("state")) == "disabled":
            return {"ok": False}
        app.blocks.button.invoke()
        return {"ok": True}
    if cmd == "contact_menu":  # a right click on person KEY in the list: its menu's entries, and the first chosen
        key = command["key"]
        tree = app.contacts.tree
        tree.see(key)
        x, y, _w, h = tree.bbox(key)
        app.blocks._popup(key, tree.winfo_rootx() + x + 10, tree.winfo_rooty() + y + h // 2)
        items = app.blocks.menu_items()
        app.blocks.menu.unpost()
        if items and command.get("choose", False):
            app.blocks.menu.invoke(0)
        return {"ok": True, "items": items}
    if cmd == "quit":
        root.after(20, app.quit)
        return {"ok": True}
    return {"error": f"unknown command {cmd!r}"}
