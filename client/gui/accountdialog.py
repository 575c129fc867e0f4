"""What the window's account dialogs share (Change password, Delete account): a modal
dialog over the window, its form, a line for the server's refusal, the submit and Cancel
buttons, one request at a time. Widgets only: a subclass lays out its fields in
:attr:`form` (rows from 0), then calls :meth:`finish`; the caller asks the server (off the
Tk thread) and then calls :meth:`failed` or :meth:`close`. However it closes (done, Cancel,
Escape), ``on_close`` runs: the window gives the keys back to its input box, as no window
manager may do it.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from tkinter import ttk

from .session import as_sentence


class AccountDialog(tk.Toplevel):
    """A modal dialog titled ``title`` over ``parent``; ``on_close()`` once it is closed."""

    def __init__(self, parent: tk.Misc, title: str, on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__(parent)
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.on_close = on_close
        self.title(title)
        self.transient(parent)
        self.resizable(False, False)
        self.form = ttk.Frame(self, padding=16)
        self.form.grid(row=0, column=0, sticky="nsew")
        self.error_var = tk.StringVar(self, "")

    def finish(self, row: int, submit_text: str, cancel_text: str, first: tk.Widget, wrap: int = 300) -> None:
        """Below the fields (from ``row``): the refusal's line and the buttons; the keys to
        ``first``, and the dialog modal."""
        ttk.Label(self.form, textvariable=self.error_var, foreground="#b91c1c", wraplength=wrap).grid(
            row=row, column=0, columnspan=2, sticky="w")
        self.submit_button = ttk.Button(self.form, text=submit_text, command=self.submit, style="Accent.TButton")
        self.submit_button.grid(row=row + 1, column=0, sticky="w", pady=(8, 0))
        self.cancel_button = ttk.Button(self.form, text=cancel_text, command=self.close)
        self.cancel_button.grid(row=row + 1, column=1, sticky="e", pady=(8, 0))
        self.bind("<Escape>", lambda e: self.close())
        first.focus_set()
        self.grab_set()

    def submit(self) -> None:  # the subclass's form, checked and handed on
        raise NotImplementedError

    def sending(self) -> None:
        """The form goes to the server: one request at a time (its answer re-enables it)."""
        self.error_var.set("")
        self.submit_button.state(["disabled"])

    def close(self) -> None:
        """Close the dialog, then ``on_close``."""
        self.grab_release()
        self.destroy()
        self.on_close()

    def failed(self, why: str) -> None:
        """The server refused (or could not be asked): say why (as a sentence); the form stays."""
        self.error_var.set(as_sentence(why))
        self.submit_button.state(["!disabled"])
