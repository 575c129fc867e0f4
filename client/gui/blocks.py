"""Blocking in the window: a Block / Unblock button in the header of a person's
conversation, the same two entries in a right click (or Shift+F10) on a person in the
contact list, and the list of whom the user blocks asked of the server after each welcome
(PROTOCOL.md, "`blocks`"), so the mark is right after a restart or a change made on
another device while this one was away. A change made on another device while this one is
connected comes at once (feature ``blocks``: the model applies Blocked and Unblocked,
ChatModel.block_told), and the next render shows it.

The model (:mod:`client.gui.model`) holds what the server said and marks people; this
module only draws the button and menu and asks. Every request runs on a short-lived worker
thread and hands its answer back through the bridge; the button waits (disabled) until
then, and the mark follows only an ``ok``. An outcome nobody knows (no answer in time, the
connection ended, the server could not tell) asks for the list again: it says what the
server holds.
"""

from __future__ import annotations

import threading
import tkinter as tk
from tkinter import ttk
from typing import TYPE_CHECKING, Any

from i18n import _

from .model import ROOM, is_room_key

if TYPE_CHECKING:
    from .app import ChatApp


class BlockControls:
    """The header's Block / Unblock button and the contact list's menu, for ``app``."""

    def __init__(self, app: ChatApp, header: ttk.Frame) -> None:
        self.app = app
        # In the Tab order (ChatApp.tab_order: the header, before the messages); Shift+F10 on the list too.
        # Its text's width, as the Send button's (not the theme's eleven characters): the
        # header's subtitle has the rest (where the person is, ChatModel.person_subtitle).
        self.button = ttk.Button(header, text=_("Block"), command=self.toggle_active, width=-6)
        self.menu = tk.Menu(app.root, tearoff=False)
        tree = app.contacts.tree
        tree.bind("<Button-3>", self._menu_at_pointer, add="+")
        tree.bind("<Shift-F10>", self._menu_at_focus, add="+")

    # --- Drawing ------------------------------------------------------------------------

    def label(self, key: str) -> str:
        """The button's and menu entry's text for person ``key``."""
        model = self.app.model
        assert model is not None
        return _("Unblock") if model.is_blocked(key) else _("Block")

    def show(self) -> None:
        """The button for the open conversation: shown for a person, enabled when the model
        may_block (connected, a list from the server, no request of it on its way)."""
        model = self.app.model
        if model is None:
            return
        key = model.active
        if model.blocked is None or key == ROOM or is_room_key(key):  # no list from the server, or a room
            if self.button.winfo_manager():
                self.button.pack_forget()
            return
        self.button.configure(text=self.label(key), state="normal" if model.may_block(key) else "disabled")
        if not self.button.winfo_manager():
            self.button.pack(side="right", padx=(10, 0))

    def header_width(self) -> int:
        """The pixels the button takes of the header (0: hidden)."""
        return self.button.winfo_reqwidth() + 10 if self.button.winfo_manager() else 0

    def menu_items(self) -> list[str]:
        """The entries of the contact menu as last built (for the test hook)."""
        return [self.menu.entrycget(i, "label") for i in range(self.menu.index("end") + 1)] \
            if self.menu.index("end") is not None else []

    def _menu_at_pointer(self, event: Any) -> str | None:
        key = self.app.contacts.tree.identify_row(event.y)
        return self._popup(key, event.x_root, event.y_root) if key else None

    def _menu_at_focus(self, _event: Any) -> str | None:
        tree = self.app.contacts.tree
        key = tree.focus()
        if not key:
            return None
        x, y, _w, h = tree.bbox(key) or (0, 0, 0, 0)
        return self._popup(key, tree.winfo_rootx() + x + 20, tree.winfo_rooty() + y + h)

    def _popup(self, key: str, x: int, y: int) -> str:
        model = self.app.model
        self.menu.delete(0, "end")
        if model is None or not model.may_block(key):
            return "break"
        name = model.title(key)
        text = _("Unblock {name}") if model.is_blocked(key) else _("Block {name}")
        self.menu.add_command(label=text.format(name=name), command=lambda: self.toggle(key))
        self.menu.tk_popup(x, y)
        return "break"

    # --- Asking the server (worker threads; answers back on the Tk thread) ---------------

    def fetch(self) -> None:
        """Ask whom the user blocks (after each welcome). A server older than ``blocks``
        answers unknown_type: nobody is marked and no button is offered then."""
        client = self.app.client
        if client is None or not hasattr(client, "blocked"):
            return

        def work() -> None:
            try:
                names = client.blocked()
            except Exception:
                return  # an older server, or the connection went: the next welcome asks again
            self.app.bridge.call(self._listed, names)
        threading.Thread(target=work, name="gui-blocks", daemon=True).start()

    def _listed(self, names: list[str]) -> None:
        if self.app.model is not None:
            self.app.model.blocks_listed(names)
            self.app._render()

    def toggle_active(self) -> None:
        if self.app.model is not None:
            self.toggle(self.app.model.active)

    def toggle(self, key: str) -> None:
        """Block person ``key``, or unblock them if they are blocked."""
        model, client = self.app.model, self.app.client
        if model is None or client is None or not model.may_block(key):
            return
        name, block = model.title(key), not model.is_blocked(key)
        model.block_asked(key)
        self.app._render()

        def work() -> None:
            try:
                (client.block if block else client.unblock)(name)
            except Exception as exc:
                self.app.bridge.call(self._answered, name, block, exc)
                return
            self.app.bridge.call(self._answered, name, block, None)
        threading.Thread(target=work, name="gui-block", daemon=True).start()

    def _answered(self, name: str, block: bool, error: BaseException | None) -> None:
        model = self.app.model
        if model is None:
            return
        if model.block_answered(name, block, error):
            self.fetch()
        self.app._render()
