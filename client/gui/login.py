"""The login form: name, server host and port, password (masked), and a Log in button.

It only collects and checks what the user typed; :class:`~client.gui.app.ChatApp` does the
connecting (on a worker thread) and calls :meth:`LoginForm.set_busy` around it. Enter in
any field submits; the form stays on screen after a failure so the user can try again. A
registered name logged in without its password is not a failure: :meth:`LoginForm.ask_password`
says so under the password field and puts the cursor there.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from tkinter import ttk

from i18n import _

from ..servers import parse_server
from .session import as_sentence


@dataclass(frozen=True, slots=True)
class LoginRequest:
    name: str
    host: str
    port: int
    password: str
    register: bool


class LoginForm(ttk.Frame):
    """The login page of the main window. ``on_submit(LoginRequest)`` runs on Enter or the
    button; ``on_invalid(title, message)`` when a field cannot be used as typed."""

    def __init__(self, master: tk.Misc, *, name: str, host: str, port: int,
                 on_submit: Callable[[LoginRequest], None], on_invalid: Callable[[str, str], None],
                 passwords: bool, registering: bool) -> None:
        super().__init__(master, padding=24)
        self._on_submit = on_submit
        self._on_invalid = on_invalid
        self.passwords = passwords
        self.name_var = tk.StringVar(self, name)
        self.host_var = tk.StringVar(self, host)
        self.port_var = tk.StringVar(self, str(port))
        self.password_var = tk.StringVar(self, "")
        self.register_var = tk.BooleanVar(self, False)
        self.progress_var = tk.StringVar(self, "")
        self.prompt_var = tk.StringVar(self, "")  # what the form asks for now (a password)

        # A card in the middle of the window, whatever its size.
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        card = ttk.Frame(self, padding=20, style="Card.TFrame")
        card.grid(row=0, column=0)
        card.columnconfigure(1, weight=1)

        ttk.Label(card, text=_("Log in to the chat"), style="Heading.TLabel").grid(
            row=0, column=0, columnspan=2, sticky="w", pady=(0, 14))
        self.entries: dict[str, ttk.Entry] = {}
        rows = [("name", _("Name:"), self.name_var, {}),
                ("host", _("Server:"), self.host_var, {}),
                ("port", _("Port:"), self.port_var, {"width": 8}),
                ("password", _("Password:"), self.password_var, {"show": "•"})]
        for row, (key, label, variable, options) in enumerate(rows, start=1):
            ttk.Label(card, text=label, style="Card.TLabel").grid(row=row, column=0, sticky="w", padx=(0, 10), pady=3)
            entry = ttk.Entry(card, textvariable=variable, width=options.get("width", 28),
                              show=options.get("show", ""))
            entry.grid(row=row, column=1, sticky="w" if key == "port" else "ew", pady=3)
            entry.bind("<Return>", self.submit)
            entry.bind("<KP_Enter>", self.submit)
            self.entries[key] = entry
        row = len(rows) + 1
        hint = (_("Only for a registered name; leave it empty to log in as a guest.") if passwords else
                _("This client cannot send passwords yet: leave it empty."))
        ttk.Label(card, text=hint, style="Hint.TLabel").grid(row=row, column=1, sticky="w")
        row += 1
        self.prompt = ttk.Label(card, textvariable=self.prompt_var, style="Prompt.TLabel", wraplength=400)
        self.prompt.grid(row=row, column=1, sticky="w", pady=(4, 0))
        self.prompt.grid_remove()  # shown by ask_password()
        row += 1
        if registering:
            check = ttk.Checkbutton(card, text=_("Claim this name with the password"), variable=self.register_var,
                                    style="Card.TCheckbutton")
            check.grid(row=row, column=1, sticky="w", pady=(6, 0))
            check.bind("<Return>", self.submit)
            row += 1
        self.button = ttk.Button(card, text=_("Log in"), command=self.submit, style="Accent.TButton")
        self.button.grid(row=row, column=1, sticky="e", pady=(14, 0))
        self.button.bind("<Return>", self.submit)
        ttk.Label(card, textvariable=self.progress_var, style="Hint.TLabel").grid(
            row=row, column=0, sticky="w", pady=(14, 0))

    def focus_first(self) -> None:
        """Focus the first empty field (or the password field for a known name)."""
        for key in ("name", "host", "port"):
            if not self.entries[key].get().strip():
                self.entries[key].focus_set()
                return
        self.entries["password"].focus_set()

    def ask_password(self, text: str) -> None:
        """Ask for the password in the form (``text`` says why, shown as a sentence), the
        cursor in its field. Editing the name takes the question away."""
        self.say(text, focus="password")

    def say(self, text: str, focus: str) -> None:
        """Show ``text`` in the form as a sentence, the cursor in field ``focus``. Editing the
        name takes the words away."""
        self.prompt_var.set(as_sentence(text))
        self.prompt.grid()
        self.focus_field(focus)
        if not self._prompt_traced:
            self._prompt_traced = True
            self.name_var.trace_add("write", lambda *_args: self._clear_prompt())

    def _clear_prompt(self) -> None:
        self.prompt_var.set("")
        self.prompt.grid_remove()

    _prompt_traced = False

    def focus_field(self, key: str) -> None:
        self.entries[key].focus_set()
        self.entries[key].select_range(0, "end")

    def set_busy(self, busy: bool, text: str = "") -> None:
        """Disable the form while a login is under way (and say so)."""
        state = ["disabled"] if busy else ["!disabled"]
        for entry in self.entries.values():
            entry.state(state)
        self.button.state(state)
        self.progress_var.set(text)

    @property
    def busy(self) -> bool:
        return self.button.instate(["disabled"])

    def fill(self, **values: object) -> None:
        """Set fields by name (name, host, port, password, register): for the test hook."""
        variables = {"name": self.name_var, "host": self.host_var, "port": self.port_var,
                     "password": self.password_var, "register": self.register_var}
        for key, value in values.items():
            variables[key].set(value)

    def submit(self, _event: object = None) -> str:
        """Check the fields and hand them to ``on_submit`` (Enter, the button)."""
        if self.busy:
            return "break"
        name = self.name_var.get().strip()
        host = self.host_var.get().strip()
        try:
            port = int(self.port_var.get().strip())
            if not 1 <= port <= 65535:
                raise ValueError
        except ValueError:
            self._on_invalid(_("Invalid port"), _("The port is a number between 1 and 65535."))
            self.focus_field("port")
            return "break"
        if not name:
            self._on_invalid(_("Name needed"), _("Enter the name you want to chat as."))
            self.focus_field("name")
            return "break"
        if not host:
            self._on_invalid(_("Server needed"), _("Enter the chat server's address (a host name or an IP address)."))
            self.focus_field("host")
            return "break"
        try:  # as the command line takes it: HOST:PORT and [IPv6]:PORT (the log's words) too
            host, port = parse_server(host, port)
        except ValueError as exc:
            self._on_invalid(_("Invalid server"), str(exc))
            self.focus_field("host")
            return "break"
        self._on_submit(LoginRequest(name, host, port, self.password_var.get(), bool(self.register_var.get())))
        return "break"
