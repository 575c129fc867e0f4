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

from .accountdialog import AccountDialog
from .session import as_sentence


class UnregisterDialog(AccountDialog):
    """A modal dialog over ``parent``; ``on_submit(password)`` once the form is sent;
    ``on_close()`` once it is closed, whichever way."""

    def __init__(self, parent: tk.Misc, on_submit: Callable[[str], None],
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent, _("Delete account"), on_close)
        self.on_submit = on_submit
        # The page's words (webclient/index.html), one wording in locale/ for both.
        self.warning = ttk.Label(self.form, wraplength=320, justify="left", text=_(
            "Your account, its settings, blocks and rooms, and the messages waiting for you are deleted "
            "for good; what you sent stays with its recipients. Your name is held for a while, then "
            "anyone may take it."))
        self.warning.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 12))
        ttk.Label(self.form, text=_("Type your password to confirm")).grid(row=1, column=0, columnspan=2, sticky="w")
        self.entry = ttk.Entry(self.form, show="•", width=32)
        self.entry.grid(row=2, column=0, columnspan=2, sticky="ew", pady=(0, 8))
        self.entry.bind("<Return>", lambda e: self.submit())
        self.finish(3, _("Delete account"), _("Cancel"), self.entry, wrap=320)

    def submit(self) -> None:
        password = self.entry.get()
        if not password:
            self.error_var.set(as_sentence(_("Type your password to confirm")))
            return
        self.sending()
        self.on_submit(password)

    def failed(self, why: str) -> None:
        """As any account dialog's, with the password selected, to type again."""
        super().failed(why)
        self.entry.select_range(0, "end")
