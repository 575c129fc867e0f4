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

from .accountdialog import AccountDialog


class PasswordDialog(AccountDialog):
    """A modal dialog over ``parent``; ``on_submit(old, new)`` once the form is sent;
    ``on_close()`` once it is closed, whichever way."""

    def __init__(self, parent: tk.Misc, on_submit: Callable[[str, str], None],
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent, _("Change password"), on_close)
        self.on_submit = on_submit
        self.entries: dict[str, ttk.Entry] = {}
        for row, (key, label) in enumerate((("old", _("Current password")), ("new", _("New password")),
                                            ("again", _("The new password again")))):
            ttk.Label(self.form, text=label).grid(row=2 * row, column=0, columnspan=2, sticky="w")
            entry = ttk.Entry(self.form, show="•", width=32)
            entry.grid(row=2 * row + 1, column=0, columnspan=2, sticky="ew", pady=(0, 8))
            entry.bind("<Return>", lambda e: self.submit())
            self.entries[key] = entry
        self.finish(6, _("Change password"), _("Cancel"), self.entries["old"])

    def submit(self) -> None:
        new = self.entries["new"].get()
        if new != self.entries["again"].get():
            self.error_var.set(_("The two new passwords differ."))
            return
        self.sending()
        self.on_submit(self.entries["old"].get(), new)
