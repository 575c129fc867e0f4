"""Writing to someone by name: a box under the list of conversations, as the web page's
"Write to someone by name". The list shows who is online and whom we talked with; anyone
else (an offline classmate we never wrote to) is reached here.

Keyboard: Ctrl+N goes to the box (the input box's hint says so), and Tab does after the
list of conversations (ChatApp.tab_order, as the page's order); Enter opens, Escape goes
back to typing. The name is checked by the naming rules first (said at once, nothing
asked), then looked up on the server (``whois``, on a worker thread, as the terminal's /to
does): a name somebody has opens their conversation, as the server spells it, listed even
while they are offline (a message to them waits for their next login: the server answers
``queued``); a name nobody has logged in with opens nothing and says so (and, for a name
that looks like one the window knows, asks "did you mean João?" with that name put in the
box); when the server cannot answer (no connection, no answer in time), the conversation
opens as typed and says the name was not checked.
"""

from __future__ import annotations

import threading
import tkinter as tk
from tkinter import ttk
from typing import TYPE_CHECKING, Any

from i18n import _
from registry import InvalidName, validate_name
from registry.names import not_a_name

from ..display import explain_error, sanitize
from .session import failure_words

if TYPE_CHECKING:
    from .app import ChatApp


class NewChatBox:
    """The name box and its button, in row ``row`` of ``contacts`` (the list's frame)."""

    def __init__(self, app: ChatApp, contacts: ttk.Frame, row: int) -> None:
        self.app = app
        box = ttk.Frame(contacts, style="Side.TFrame")
        box.grid(row=row, column=0, sticky="ew", pady=(6, 0))
        box.columnconfigure(0, weight=1)
        self.name_var = tk.StringVar(app.root, "")
        self.entry = ttk.Entry(box, textvariable=self.name_var, width=14)
        self.entry.grid(row=0, column=0, sticky="ew")
        for sequence in ("<Return>", "<KP_Enter>"):
            self.entry.bind(sequence, lambda e: self.open())
        self.entry.bind("<Escape>", lambda e: app._focus_input())
        # (bound for the whole window: after a sign-out, until the next chat view, there is no box)
        app.root.bind_all("<Control-n>", lambda e: self.entry.focus_set() if self.entry.winfo_exists() else None)
        self.button = ttk.Button(box, text=_("New chat"), command=self.open)
        self.button.grid(row=0, column=1, padx=(4, 0))
        self._asking = False  # a lookup on its way: one at a time

    def open(self) -> None:
        """Check the name typed, then look it up on a worker thread; :meth:`_found` goes on."""
        typed = self.name_var.get().strip()
        client = self.app.client
        if client is None or self._asking:
            return
        if not typed:  # pressed before typing: say what goes in the box, and put the cursor there
            self.entry.focus_set()
            self.app.alert(_("New chat"), _("Type the name of the person you want to write to in the box beside "
                                            "New chat, then press Enter."))
            return
        try:
            validate_name(typed)
        except InvalidName as exc:
            self.app.alert(_("New chat"), not_a_name(typed, exc, _))
            return
        self._asking = True
        self.button.state(["disabled"])

        def work() -> None:
            try:
                result = client.lookup(typed)
            except Exception as exc:  # not connected, no answer in time, refused
                self.app.bridge.call(self._found, typed, None, exc)
                return
            self.app.bridge.call(self._found, typed, result, None)
        threading.Thread(target=work, name="gui-new-chat", daemon=True).start()

    def _found(self, typed: str, result: Any, error: BaseException | None) -> None:
        """The lookup's answer (``result``), or why there is none (``error``)."""
        self._asking = False
        if not self.button.winfo_exists():
            return  # the chat view went (back to the login form)
        self.button.state(["!disabled"])
        app, model = self.app, self.app.model
        if model is None:
            return
        if result is not None and result.status == "unknown":
            # The sentence a message to them would be refused with (display.ERROR_TEXTS),
            # with "did you mean João?" for the whois answer's look-alike, else one the
            # window knows (our own is said as ours, "Conceição (you)"); the box then
            # holds someone else's name: Enter opens it.
            like = model.like(typed, told=result.like)
            app.alert(_("New chat"), explain_error("unknown_recipient", "", to=typed,
                                                   like=model.like(typed, yourself=True, told=result.like)))
            if like is not None and self.name_var.get().strip() == typed:
                self.name_var.set(like)
                self.entry.icursor("end")
            return
        name = result.name if result is not None else typed  # as the server spells it
        if self.name_var.get().strip() == typed:
            self.name_var.set("")
        key = model.start_conversation(name)
        if error is not None:
            model.notice(key, _("The name {name} could not be checked: {why}").format(
                name=sanitize(name), why=failure_words(error, name)))
        from_box = app.root.focus_get() is self.entry
        app.open_conversation(key)
        if from_box:  # ready to write in
            app._focus_input()
