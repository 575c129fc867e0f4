"""The window's "Change password" dialog: the current password and the new one twice,
typed hidden. Widgets only: :class:`PasswordDialog` checks that the new one was typed
twice alike and hands ``(old, new)`` to ``on_submit``; the caller asks the server (off the
Tk thread) and then calls :meth:`PasswordDialog.failed` or :meth:`PasswordDialog.close`.
However it closes (sent, Cancel, Escape), ``on_close`` runs: the window gives the keys
back to its input box, as no window manager may do it. The length rule is
the server's (``weak_password``), said here in the user's words like any refusal.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from i18n import _

from .session import as_sentence


class PasswordDialog(tk.Toplevel):
    """A modal dialog over ``parent``; ``on_submit(old, new)`` once the form is sent;
    ``on_close()`` once it is closed, whichever way."""

    def __init__(self, parent: tk.Misc, on_submit: Callable[[str, str], None],
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.on_close = on_close
        self.title(_("Change password"))
        self.transient(parent)
        self.resizable(False, False)
        self.on_submit = on_submit
        frame = ttk.Frame(self, padding=16)
        frame.grid(row=0, column=0, sticky="nsew")
        self.entries: dict[str, ttk.Entry] = {}
        for row, (key, label) in enumerate((("old", _("Current password")), ("new", _("New password")),
                                            ("again", _("The new password again")))):
            ttk.Label(frame, text=label).grid(row=2 * row, column=0, columnspan=2, sticky="w")
            entry = ttk.Entry(frame, show="•", width=32)
            entry.grid(row=2 * row + 1, column=0, columnspan=2, sticky="ew", pady=(0, 8))
            entry.bind("<Return>", lambda e: self.submit())
            self.entries[key] = entry
        self.error_var = tk.StringVar(self, "")
        ttk.Label(frame, textvariable=self.error_var, foreground="#b91c1c", wraplength=300).grid(
            row=6, column=0, columnspan=2, sticky="w")
        self.submit_button = ttk.Button(frame, text=_("Change password"), command=self.submit,
                                        style="Accent.TButton")
        self.submit_button.grid(row=7, column=0, sticky="w", pady=(8, 0))
        self.cancel_button = ttk.Button(frame, text=_("Cancel"), command=self.close)
        self.cancel_button.grid(row=7, column=1, sticky="e", pady=(8, 0))
        self.bind("<Escape>", lambda e: self.close())
        self.entries["old"].focus_set()
        self.grab_set()

    def close(self) -> None:
        """Close the dialog, then ``on_close``."""
        self.grab_release()
        self.destroy()
        self.on_close()

    def submit(self) -> None:
        new = self.entries["new"].get()
        if new != self.entries["again"].get():
            self.error_var.set(_("The two new passwords differ."))
            return
        self.error_var.set("")
        self.submit_button.state(["disabled"])  # one request at a time: its answer re-enables it
        self.on_submit(self.entries["old"].get(), new)

    def failed(self, why: str) -> None:
        """The server refused (or could not be asked): say why (as a sentence); the form stays."""
        self.error_var.set(as_sentence(why))
        self.submit_button.state(["!disabled"])
