"""The window's "Delete account" dialog (PROTOCOL.md, "unregister"): what is deleted and
what stays, said as the page says it, and the password, typed hidden, as the
confirmation. Widgets only: :class:`UnregisterDialog` hands the password to
``on_submit``; the caller asks the server (off the Tk thread) and then calls
:meth:`UnregisterDialog.failed` or :meth:`UnregisterDialog.close` (the session then ends:
the window goes back to its login form). However it closes (deleted, Cancel, Escape),
``on_close`` runs: the window gives the keys back to its input box.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from i18n import _

from .session import as_sentence


class UnregisterDialog(tk.Toplevel):
    """A modal dialog over ``parent``; ``on_submit(password)`` once the form is sent;
    ``on_close()`` once it is closed, whichever way."""

    def __init__(self, parent: tk.Misc, on_submit: Callable[[str], None],
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.on_close = on_close
        self.title(_("Delete account"))
        self.transient(parent)
        self.resizable(False, False)
        self.on_submit = on_submit
        frame = ttk.Frame(self, padding=16)
        frame.grid(row=0, column=0, sticky="nsew")
        # The page's words (webclient/index.html), one wording in locale/ for both.
        self.warning = ttk.Label(frame, wraplength=320, justify="left", text=_(
            "Your account, its settings, blocks and rooms, and the messages waiting for you are deleted "
            "for good; what you sent stays with its recipients. Your name is held for a while, then "
            "anyone may take it."))
        self.warning.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 12))
        ttk.Label(frame, text=_("Type your password to confirm")).grid(row=1, column=0, columnspan=2, sticky="w")
        self.entry = ttk.Entry(frame, show="•", width=32)
        self.entry.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(0, 8))
        self.entry.bind("<Return>", lambda e: self.submit())
        self.error_var = tk.StringVar(self, "")
        ttk.Label(frame, textvariable=self.error_var, foreground="#b91c1c", wraplength=320).grid(
            row=3, column=0, columnspan=2, sticky="w")
        self.submit_button = ttk.Button(frame, text=_("Delete account"), command=self.submit,
                                        style="Accent.TButton")
        self.submit_button.grid(row=4, column=0, sticky="w", pady=(8, 0))
        self.cancel_button = ttk.Button(frame, text=_("Cancel"), command=self.close)
        self.cancel_button.grid(row=4, column=1, sticky="e", pady=(8, 0))
        self.bind("<Escape>", lambda e: self.close())
        self.entry.focus_set()
        self.grab_set()

    def close(self) -> None:
        """Close the dialog, then ``on_close``."""
        self.grab_release()
        self.destroy()
        self.on_close()

    def submit(self) -> None:
        password = self.entry.get()
        if not password:
            self.error_var.set(as_sentence(_("Type your password to confirm")))
            return
        self.error_var.set("")
        self.submit_button.state(["disabled"])  # one request at a time: its answer re-enables it
        self.on_submit(password)

    def failed(self, why: str) -> None:
        """The server refused (or could not be asked): say why (as a sentence); the form stays."""
        self.error_var.set(as_sentence(why))
        self.submit_button.state(["!disabled"])
        self.entry.select_range(0, "end")
