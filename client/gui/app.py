"""The chat window: the login form, then contacts, conversations, an input box, a status bar.

Threads (STYLE.md, section 2). Only the Tk thread touches widgets. The client library's
receiver thread calls ``on_event``, which is :meth:`TkBridge.put`: it only queues the
event. Blocking calls (``connect``, ``who``, history) run on short-lived worker threads
that hand their results back with :meth:`TkBridge.call`. Sending is done on the Tk thread:
``send_direct``/``send_room`` return at once with a tracker whose progress arrives later
as ``MessageUpdate`` events.

Keyboard:
    Enter            send (in the input box); Shift+Enter: a new line
    Ctrl+1 … Ctrl+9  open the room (1) or the n-th conversation of the list
    Alt+Up/Down, Ctrl+PgUp/PgDn   previous / next conversation
    Up/Down          move through the list when it has the focus; Enter: back to typing
    Ctrl+R           reply: open the conversation of the latest direct message
    Escape           from the input box to the list, and back; from the messages to the input box
    PgUp/PgDn        scroll the conversation (in the input box; in the messages, the arrows too)
    Tab / Shift+Tab  the order of ChatApp.tab_order: list → the conversation's header and a
                     room's column → its messages → input box → Send → the status bar → list
    Shift+F10        on a person in the list: the Block / Unblock menu (client/gui/blocks.py)
    Ctrl+N           the box to write to someone by name (client/gui/newchat.py)
    Ctrl+J           the join box of rooms (client/gui/rooms.py)
    Ctrl+Q           quit
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import messagebox, ttk
from typing import Any

import const
from i18n import _, ngettext
from protocol import ConnectionClosed, Settings

from ..core import login_outcome
from ..display import explain_refusal, sanitize
from ..errors import NotConnected, RequestFailed
from ..events import AnsweredLate
from ..library import CATCH_UP_PATIENCE
from ..servers import format_address
from .blocks import BlockControls
from .bridge import TkBridge, TurnTimer
from .layout import hint_form, hint_forms
from .login import LoginForm, LoginRequest
from .newchat import NewChatBox
from .password import PasswordDialog
from .unregister import UnregisterDialog
from .model import (
    CONNECTED,
    broadcast_subtitle,
    DISCONNECTED,
    ROOM,
    UNKNOWN,
    ChatModel,
    is_room_key,
    connection_ended_text,
    cut_to_fit,
    fit_first,
)
from .changes import (
    CatchUpWanted,
    SinceWanted,
    ContactsChanged,
    HistoryWanted,
    LineAdded,
    LineChanged,
    LinesInserted,
    LinesPrepended,
    MembersChanged,
    MembersWanted,
    ReceiptsChanged,
    RoomInfoWanted,
    StateChanged,
    StatusChanged,
    TypingChanged,
    WatchWanted,
    WhereWanted,
)
from .colors import BACKGROUNDS, COLORS, SIDE, SIDE_TEXT
from .panes import ContactList, ConversationPane
from .rooms import RoomPanel
from .session import (as_sentence, change_failed, failure_words, fetch_history, fetch_room_page, log_in,
                      login_error_text, maybe_done, password_unused)

_log = logging.getLogger(__name__)

# The least width (pixels) the status bar's text keeps beside the switch and the account's
# buttons; with less, they go below it (ChatApp._wrap_status).
STATUS_MIN = 120
STATUS_COLORS = {"connected": COLORS["online"], "connecting": COLORS["queued"],
                 "reconnecting": COLORS["queued"], "disconnected": COLORS["failed"]}


def _fonts(root: tk.Misc) -> dict[str, Any]:
    """The platform's named fonts, and a few variants of them."""
    default = tkfont.nametofont("TkDefaultFont", root=root)
    text = tkfont.nametofont("TkTextFont", root=root)
    size = default.actual("size")
    bold = default.copy()
    bold.configure(weight="bold")
    italic = text.copy()
    italic.configure(slant="italic")
    small = default.copy()
    small.configure(size=size - 1 if size > 0 else size + 1)
    heading = default.copy()
    heading.configure(weight="bold", size=round(size * 1.35))  # negative sizes are pixels: scaled alike
    return {"default": default, "text": text, "bold": bold, "italic": italic, "small": small,
            "heading": heading, "fixed": tkfont.nametofont("TkFixedFont", root=root)}


def _style(root: tk.Tk, fonts: dict[str, Any]) -> None:
    style = ttk.Style(root)
    # The native themes on Windows and macOS; "clam" is the clean one on X11.
    if root.tk.call("tk", "windowingsystem") == "x11" and "clam" in style.theme_names():
        style.theme_use("clam")
    page, side, card = BACKGROUNDS["page"], SIDE, BACKGROUNDS["pane"]
    style.configure("TFrame", background=page)
    style.configure("TLabel", background=page)
    style.configure("TCheckbutton", background=page)
    style.configure("Card.TFrame", background=card, relief="solid", borderwidth=1)
    style.configure("Card.TLabel", background=card)
    style.configure("Heading.TLabel", font=fonts["heading"], background=card)
    style.configure("Hint.TLabel", font=fonts["small"], foreground=COLORS["meta"], background=card)
    style.configure("Prompt.TLabel", foreground=COLORS["me"], background=card)
    style.configure("Side.TFrame", background=side)
    style.configure("SideHeading.TLabel", background=side, font=fonts["bold"], foreground=SIDE_TEXT)
    style.configure("Pane.TFrame", background=card)
    style.configure("Title.TLabel", font=fonts["heading"], background=page)
    style.configure("Sub.TLabel", foreground=COLORS["meta"], background=page)
    style.configure("Status.TFrame", background=side)
    style.configure("Status.TLabel", background=side)
    style.configure("Dot.TLabel", background=side)
    style.configure("Contacts.Treeview", rowheight=max(22, fonts["default"].metrics("linespace") + 8),
                    background=BACKGROUNDS["list"], fieldbackground=BACKGROUNDS["list"], borderwidth=0)
    style.map("Contacts.Treeview", background=[("selected", "#2563eb")], foreground=[("selected", "#ffffff")])
    style.configure("Accent.TButton", font=fonts["bold"])
    style.configure("Card.TCheckbutton", background=card)
    # A room's member column over the messages (a narrow window): set apart by a border.
    style.configure("Drawer.TFrame", background=page, relief="solid", borderwidth=1)


class ChatApp:
    """The whole window. ``autologin``: try to log in at once with the given values (the
    form stays on screen, filled in, if that fails)."""

    def __init__(self, root: tk.Tk, name: str = "", host: str = const.SERVER_HOST,
                 port: int = const.SERVER_PORT, *, autologin: bool = False, password: str | None = None,
                 register: bool = False, options: dict[str, Any] | None = None) -> None:
        self.root = root
        self.options = dict(options or {})  # more ChatClient arguments: tls, cafile, reconnect
        self.fonts = _fonts(root)
        _style(root, self.fonts)
        root.title(_("Chat"))
        root.geometry("980x640")
        root.minsize(560, 380)
        root.protocol("WM_DELETE_WINDOW", self.quit)
        root.bind_all("<Control-q>", lambda e: self.quit())
        root.columnconfigure(0, weight=1)
        root.rowconfigure(0, weight=1)

        self.bridge = TkBridge(root, self._on_events)
        self.timer = TurnTimer(root)
        self.client: Any = None
        self.model: ChatModel | None = None
        self.alerts: list[tuple[str, str]] = []
        self.alert_open = False
        self._early: list[Any] = []
        self._closing = False
        self._closer: threading.Thread | None = None
        self._panes: dict[str, ConversationPane] = {}
        self._shown: str | None = None  # the conversation whose pane is on top (_show_active)
        self._ticking = False
        # After delivered (issue 13): our message being edited in the input box, as
        # (conversation key, line); when we last said we type, per conversation; whether
        # a tick of the typing line is due.
        self._editing: tuple[str, Any] | None = None
        self._typing_sent: dict[str, float] = {}
        self._typing_tick = False

        self.login = LoginForm(root, name=name, host=host, port=port, on_submit=self._submit_login,
                               on_invalid=self.alert, passwords=True, registering=True)
        self.login.grid(row=0, column=0, sticky="nsew")
        self.login.fill(password=password or "", register=register)
        self.chat: ttk.Frame | None = None
        self.bridge.start()
        self.timer.start()
        self.login.focus_first()
        if autologin and name:
            root.after(0, self.login.submit)

    # --- Dialogs ------------------------------------------------------------------------

    def alert(self, title: str, message: str) -> None:
        """Show an error dialog: ``message`` is a headline, then, after a blank line, an
        optional detail; the headline is shown as a sentence (:func:`as_sentence`). Shown
        from its own after() turn, never from inside the bridge's turn, so the event queue
        keeps being drained while it is open."""
        headline, _, detail = message.partition("\n\n")
        headline = as_sentence(headline)
        self.alerts.append((title, headline + (f"\n\n{detail}" if detail else "")))

        def show() -> None:
            self.alert_open = True
            try:
                messagebox.showerror(title, headline, detail=detail, parent=self.root)
            except tk.TclError:
                pass  # the window was closed meanwhile
            finally:
                self.alert_open = False
        self.root.after(0, show)

    # --- Logging in ---------------------------------------------------------------------

    def _submit_login(self, request: LoginRequest) -> None:
        self.login.set_busy(True, _("Connecting to {address}…").format(
            address=format_address(request.host, request.port)))
        threading.Thread(target=self._login_worker, args=(request,), name="gui-login", daemon=True).start()

    def _login_worker(self, request: LoginRequest) -> None:
        """On a worker thread: connect, then ask who is online; hand the outcome over."""
        try:
            client, welcome = log_in(request.name, request.host, request.port, self.bridge.put,
                                     password=request.password, register=request.register, options=self.options)
        except Exception as exc:  # LoginRefused, ServerUnreachable, bugs
            self.bridge.call(self._login_failed, request, exc)
            return
        try:
            users: Any = client.who()
        except Exception as exc:  # the chat works without the list; say why it is empty
            users = exc
        self.bridge.call(self._logged_in, request, client, welcome, users)

    def _login_failed(self, request: LoginRequest, error: BaseException) -> None:
        self.login.set_busy(False)
        self._early.clear()
        title, message = login_error_text(error, request.name, format_address(request.host, request.port))
        if getattr(error, "code", "") == "auth_required" and not request.password:
            # Not an error: a registered name needs its password, which the form asks for.
            self.login.ask_password(message.partition("\n\n")[0])
            return
        self.alert(title, message)
        self.login.focus_field(login_outcome(getattr(error, "code", "")).field or "host")

    def _logged_in(self, request: LoginRequest, client: Any, welcome: Any, users: Any) -> None:
        if self._closing:
            threading.Thread(target=client.close, daemon=True).start()
            return
        self.client = client
        me = getattr(welcome, "name", request.name) or request.name
        # The password: the library keeps it (for reconnecting), the form need not. The name
        # as the server spells it ("João" for "joão" typed): the form says it if it comes
        # back (a password reset, a deleted account).
        self.login.fill(password="", name=me)
        self.model = ChatModel(me, client.address)
        self.model.read_receipts = getattr(welcome, "read_receipts", None) is not False
        began = getattr(welcome, "last_id", None)  # (feature since: where this window began)
        self.model.began_after = began if type(began) is int else None
        self.model.set_state(CONNECTED)
        if isinstance(users, BaseException):
            self.model.notice(ROOM, _("Could not get the list of users online: {why}").format(why=sanitize(users)))
        else:
            self.model.set_online(users)
        if request.password and not request.register and not getattr(welcome, "registered", True):
            self.model.notice(ROOM, password_unused(me))  # a guest: the password guards nothing
        self.login.grid_remove()
        self._build_chat()
        self.root.title(_("Chat — {name}").format(name=me))
        early, self._early = self._early, []
        for event in early:
            self.model.apply(event)
        self.rooms.fetch_mine()  # the rooms the server kept us in, quiet ones too
        self.blocks.fetch()  # whom the user blocks, as the server keeps it
        self.open_conversation(ROOM)
        self.input.focus_set()

    # --- The chat page ------------------------------------------------------------------

    def _build_chat(self) -> None:
        root = self.root
        chat = self.chat = ttk.Frame(root)
        chat.grid(row=0, column=0, sticky="nsew")
        chat.columnconfigure(0, weight=1)
        chat.rowconfigure(0, weight=1)

        panes = ttk.Panedwindow(chat, orient="horizontal")
        panes.grid(row=0, column=0, sticky="nsew")
        # The list left of the conversation; Tab visits them as tab_order says.
        self.contacts = ContactList(panes, self.fonts, self.open_conversation)
        side = 10  # the conversation area's margin left and right
        right = ttk.Frame(panes, padding=(side, 8, side, 8))
        panes.add(self.contacts, weight=0)
        panes.add(right, weight=1)
        right.columnconfigure(0, weight=1)
        right.rowconfigure(1, weight=1)

        header = self.header = ttk.Frame(right)
        header.grid(row=0, column=0, sticky="ew", pady=(0, 6))
        self.title_var = tk.StringVar(root, "")
        self.subtitle_var = tk.StringVar(root, "")
        self.title_label = ttk.Label(header, textvariable=self.title_var, style="Title.TLabel")
        self.title_label.pack(side="left")
        self.subtitle_label = ttk.Label(header, textvariable=self.subtitle_var, style="Sub.TLabel")
        self.subtitle_label.pack(side="left", padx=(10, 0))
        # "Alice is typing…" (issue 13): expires by itself (see _show_typing); it has what the
        # header's other parts leave (_fit_typing).
        self.typing_var = tk.StringVar(root, "")
        self.typing_label = ttk.Label(header, textvariable=self.typing_var, style="Sub.TLabel",
                                      font=self.fonts["italic"])
        self.typing_label.pack(side="right")
        # A room's topic is cut to the header's width (its member count stays whole).
        header.bind("<Configure>", lambda e: self._update_header(typing=True) if self.model is not None else None)

        # The conversation panes are stacked in one cell; the open one is raised.
        self.stack = ttk.Frame(right, style="Pane.TFrame", relief="solid", borderwidth=1)
        self.stack.grid(row=1, column=0, sticky="nsew")
        self.stack.rowconfigure(0, weight=1)
        self.stack.columnconfigure(0, weight=1)

        compose = ttk.Frame(right)
        compose.grid(row=2, column=0, sticky="ew", pady=(8, 0))
        compose.columnconfigure(0, weight=1)
        # Where Enter sends, said next to where one types: the open conversation, always.
        self.recipient_var = tk.StringVar(root, "")
        self.recipient_label = ttk.Label(compose, textvariable=self.recipient_var, style="Sub.TLabel")
        self.recipient_label.grid(row=0, column=0, columnspan=2, sticky="w", pady=(0, 3))
        self.input = tk.Text(compose, height=3, wrap="word", undo=True, font=self.fonts["text"],
                             padx=8, pady=6, relief="flat", borderwidth=0, highlightthickness=2,
                             highlightcolor="#2563eb", highlightbackground="#d1d5db", background="#ffffff",
                             foreground="#111827", insertbackground="#111827")
        self.input.grid(row=1, column=0, sticky="ew")
        # Its text's width (not the theme's eleven characters): the input box keeps the rest.
        self.send_button = ttk.Button(compose, text=_("Send"), command=self.send_input, style="Accent.TButton",
                                      width=-6)
        self.send_button.grid(row=1, column=1, padx=(8, 0))
        # The keys, said under the input box: all of it, its first line, or nothing, as the
        # window's height leaves the messages room (client/gui/layout.py, hint_form).
        self._hints = hint_forms()
        self.hint = ttk.Label(compose, text=self._hints[0], style="Sub.TLabel", font=self.fonts["small"])
        self.hint.grid(row=2, column=0, columnspan=2, sticky="w", pady=(4, 0))
        compose.bind("<Configure>", lambda e: self._fit_hint(), add="+")
        self.stack.bind("<Configure>", lambda e: self._fit_hint(), add="+")

        status = ttk.Frame(chat, style="Status.TFrame", padding=(10, 3))
        status.grid(row=1, column=0, sticky="ew")
        self.status_dot = ttk.Label(status, text="●", style="Dot.TLabel")
        self.status_dot.pack(side="left")
        self.status_var = tk.StringVar(root, "")
        self.status_label = ttk.Label(status, textvariable=self.status_var, style="Status.TLabel")
        self.status_label.pack(side="left", padx=(6, 0))
        # The switch and the account's buttons: right of the status, or below it where they
        # do not fit beside it (_wrap_status).
        controls = self.status_controls = ttk.Frame(status, style="Status.TFrame")
        controls.pack(side="right")
        self._status_below = False
        # Read receipts and typing on or off (issue 13): a setting the server keeps for the user.
        self.receipts_var = tk.BooleanVar(root, self.model.read_receipts if self.model is not None else True)
        self.receipts_button = ttk.Checkbutton(controls, text=_("Read receipts"), variable=self.receipts_var,
                                               command=self._toggle_receipts)
        self.receipts_button.pack(side="right")
        # An account's password can be changed here (a guest has none: no button).
        self.password_dialog: PasswordDialog | None = None
        self.password_button = ttk.Button(controls, text=_("Change password…"), command=self.open_password_dialog)
        # And deleted (PROTOCOL.md, "unregister"): left of "Change password…".
        self.unregister_dialog: UnregisterDialog | None = None
        self.unregister_button = ttk.Button(controls, text=_("Delete account…"), command=self.open_unregister_dialog)
        if getattr(self.client, "registered", False):
            self.password_button.pack(side="right", padx=(0, 8))
            self.unregister_button.pack(side="right", padx=(0, 8))
        # Wrapped at what the switch and the button leave of the bar: a long status (the
        # server unavailable, in Portuguese) was cut off at the window's edge.
        status.bind("<Configure>", lambda e: self._wrap_status(e.width), add="+")

        # Under the list: writing to someone by name, then joining a room (the page's order).
        self.new_chat = NewChatBox(self, self.contacts, row=2)
        self.rooms = RoomPanel(self, self.contacts, right)
        # The member column yields to the messages in a narrow window (client/gui/layout.py):
        # told the width the messages and the column share, inside the frame's padding.
        right.bind("<Configure>", lambda e: self.rooms.fit(e.width - 2 * side), add="+")
        self.blocks = BlockControls(self, header)  # its button right of the typing line
        self.message_menu = tk.Menu(self.root, tearoff=False)  # Edit, Delete: _message_menu
        self._bind_keys()
        self._render()

    def _bind_keys(self) -> None:
        text = self.input
        text.bind("<Return>", self.send_input)
        text.bind("<KP_Enter>", self.send_input)
        text.bind("<Shift-Return>", self._newline)
        text.bind("<Shift-KP_Enter>", self._newline)
        for widget in (self.contacts.tree, *self._side_stops(), self.blocks.button, self.rooms.toggle,
                       *self.rooms.tab_stops(), text,
                       self.send_button, self.unregister_button, self.password_button, self.receipts_button):
            self._bind_tab(widget)
        text.bind("<Escape>", lambda e: self._stop_editing() if self._editing else self._focus_list())
        text.bind("<KeyPress>", self._typed)
        text.bind("<Prior>", lambda e: self._scroll(-1))
        text.bind("<Next>", lambda e: self._scroll(+1))
        tree = self.contacts.tree
        tree.bind("<Return>", lambda e: self._focus_input())
        tree.bind("<KP_Enter>", lambda e: self._focus_input())
        tree.bind("<Escape>", lambda e: self._focus_input())
        for widget in (self.root, text):
            self._bind_window_keys(widget)

    def _bind_window_keys(self, widget: tk.Misc) -> None:
        """The window's keys (Ctrl+1…9, Ctrl+R, Ctrl+E...) in ``widget``: bound on the
        widget itself too where its own bindings (a Text's) would take them first."""
        for n in range(1, 10):
            widget.bind(f"<Control-Key-{n}>", lambda e, n=n: self._open_nth(n))
        widget.bind("<Control-r>", self._reply)
        widget.bind("<Control-e>", self._edit_last)
        widget.bind("<Control-Delete>", self._delete_last)
        for sequence, step in (("<Alt-Up>", -1), ("<Alt-Down>", +1),
                               ("<Control-Prior>", -1), ("<Control-Next>", +1)):
            widget.bind(sequence, lambda e, step=step: self._open_step(step))

    def _newline(self, _event: object) -> str:
        self.input.insert("insert", "\n")
        self.input.see("insert")
        return "break"

    def tab_order(self) -> list[tk.Misc]:
        """The widgets Tab visits in the chat view, in order (Shift+Tab: backwards), of
        those shown and enabled now. It is the web page's (webclient/index.html), the order
        one reads the window in: the list of conversations; the boxes under it (write to
        someone by name, join a room: each its entry, then its button); the open one's header button
        (Block, or a room's Members); a room's column when shown (its buttons, its switch,
        Older messages, its members); its messages; the input box; Send; then the account's
        controls (the page has them at its top, the window in its status bar, left to
        right), and the list again. Not Tk's own order, which follows how the widgets are
        nested and would visit the hidden panes of other conversations too."""
        model = self.model
        ring: list[tk.Misc] = [self.contacts.tree, *self._side_stops(), self.blocks.button, self.rooms.toggle,
                               *self.rooms.tab_stops()]
        if model is not None and model.active in self._panes:
            ring.append(self._panes[model.active].text)
        ring += [self.input, self.send_button, self.unregister_button, self.password_button, self.receipts_button]
        # (The messages' Text is "disabled": read-only, yet one reads and selects in it.)
        return [widget for widget in ring
                if widget.winfo_viewable() and not (isinstance(widget, ttk.Widget) and widget.instate(["disabled"]))]

    def _side_stops(self) -> list[tk.Misc]:
        """The boxes under the list of conversations, in the order Tab visits them."""
        return [self.new_chat.entry, self.new_chat.button, self.rooms.join_entry, self.rooms.join_button]

    def _bind_tab(self, widget: tk.Misc) -> None:
        """Tab and Shift+Tab in ``widget`` go along :meth:`tab_order`."""
        widget.bind("<Tab>", lambda e: self._tab(widget, +1))
        for sequence in ("<Shift-Tab>", "<ISO_Left_Tab>"):
            widget.bind(sequence, lambda e: self._tab(widget, -1))

    def _tab(self, widget: tk.Misc, step: int) -> str:
        ring = self.tab_order()
        if ring:
            names = [str(w) for w in ring]
            at = names.index(str(widget)) if str(widget) in names else (-1 if step > 0 else 0)
            ring[(at + step) % len(ring)].focus_set()
        return "break"

    def _focused(self) -> str:
        """The path of the widget with the keyboard focus ("" if none, or one Python did
        not make: a message box)."""
        try:
            return str(self.root.focus_get() or "")
        except (KeyError, tk.TclError):
            return ""

    def _typed_in_messages(self, event: Any) -> str | None:
        """A key in the messages: a character goes to the input box, and the focus with it
        (as desktop chat windows do: one starts typing where one reads); the other keys
        scroll, select or copy there (ConversationPane), or are the window's."""
        if not event.char or not event.char.isprintable() or event.state & 0x4 or event.state & 0x8:
            return None  # not a character, or with Ctrl or Alt: the messages' and the window's keys
        self.input.focus_set()
        self.input.insert("insert", event.char)
        self.input.see("insert")
        return "break"

    def _focus_list(self) -> str:
        self.contacts.tree.focus_set()
        if self.model is not None:
            self.contacts.tree.focus(self.model.active)
        return "break"

    def _focus_input(self) -> str:
        self.input.focus_set()
        return "break"

    def _focus_input_again(self) -> None:
        """A dialog of ours closed: the keys go to the input box again. Forced, because
        the closed dialog had the window system's focus, and without a window manager
        nobody hands it back (the keys would go nowhere)."""
        if self.chat is not None and not self._closing:
            self.input.focus_force()

    def _scroll(self, pages: int) -> str:
        if self.model is not None:
            self._pane(self.model.active).scroll_pages(pages)
        return "break"

    def _open_nth(self, n: int) -> str:
        if self.model is not None:
            order = self.model.contact_order()
            if n <= len(order):
                self.open_conversation(order[n - 1])
                self.input.focus_set()
        return "break"

    def _reply(self, _event: object = None) -> str:
        """Open the conversation of the latest direct message from someone, to answer it."""
        if self.model is not None and self.model.reply_to is not None:
            self.open_conversation(self.model.reply_to)
            self.input.focus_set()
        return "break"

    def _open_step(self, step: int) -> str:
        if self.model is not None:
            order = self.model.contact_order()
            index = order.index(self.model.active) if self.model.active in order else 0
            self.open_conversation(order[(index + step) % len(order)])
        return "break"

    # --- Conversations ------------------------------------------------------------------

    def _pane(self, key: str) -> ConversationPane:
        pane = self._panes.get(key)
        if pane is None:
            pane = self._panes[key] = ConversationPane(self.stack, key, self.fonts)
            pane.text.bind("<Button-3>", lambda e, pane=pane: self._message_menu(pane, e))
            # In the Tab order while open (tab_order); what one types there goes to the input box.
            self._bind_tab(pane.text)
            self._bind_window_keys(pane.text)  # before its arrows and PgUp/PgDn, which scroll
            for sequence in ("<Escape>", "<Return>", "<KP_Enter>"):
                pane.text.bind(sequence, lambda e: self._focus_input())
            pane.text.bind("<KeyPress>", self._typed_in_messages)
            pane.grid(row=0, column=0, sticky="nsew")
            pane.lower()
        return pane

    def open_conversation(self, key: str) -> None:
        """Show conversation ``key`` (the room or a user's)."""
        if self.model is None:
            return
        if key != self.model.active or self._shown is None:  # (None: the first, as the window opens)
            self.model.open(key)
            self._ask_where(key)
        self._show_active()
        self._render()

    def _show_active(self) -> None:
        """Put the open conversation's pane on top, whoever opened it: the user (a click,
        a key: open_conversation), or the model itself (a room we left or were put out of
        gives way to the room for everyone: ChatModel.room_left). Only the first did: then
        the header said "Everyone" over the messages of the room left."""
        key = self.model.active if self.model is not None else None
        if key is None or (key == self._shown and key in self._panes):
            return
        if self._editing is not None and self._editing[0] != key:
            self._stop_editing()  # Enter there would save this edit of a message here
        reading = self._focused() in [str(pane.text) for pane in self._panes.values()]
        self._pane(key).tkraise()
        self._shown = key
        if reading:  # the keys were in the messages of the one left: now in these
            self._pane(key).text.focus_set()

    def _ask_where(self, key: str) -> None:
        """Ask the registry where person ``key``'s connection comes from (a lookup, off the
        Tk thread), for the header: the class's /whois, in the window. When their
        conversation opens, and again when the model says (:class:`WhereWanted`)."""
        contact = self.model.contacts.get(key) if self.model is not None else None
        client = self.client
        if contact is None or not contact.online or client is None:
            return
        self._off_tk(lambda: client.lookup(contact.name), self._where_known, "gui-whois")

    def _where_known(self, result: Any) -> None:
        if self.model is not None:
            self.model.set_where(result)
            self._render()

    def _update_header(self, typing: bool = False) -> None:
        """The header's name, subtitle and window title for the open conversation (and, with
        ``typing``, its typing line cut to what they leave: _fit_typing)."""
        model = self.model
        assert model is not None
        key = model.active
        self.title_var.set(self._fit_title(model.title(key)))
        self._show_compose()
        if model.presence(key) == UNKNOWN:
            self.subtitle_var.set("")  # while disconnected, what we knew of presence may be stale
        elif is_room_key(key):
            self.subtitle_var.set(self.rooms.subtitle(key, *self._subtitle_room()))
        elif key == ROOM:
            online = sum(1 for c in model.contacts.values() if c.online) + 1
            self.subtitle_var.set(fit_first([broadcast_subtitle(online), broadcast_subtitle(online, short=True)],
                                            *self._subtitle_room()))
        else:  # blocked, or where they are (the registry's entry, as /whois says it): the most that fits
            self.subtitle_var.set(fit_first(model.person_subtitle(key), *self._subtitle_room()))
        unread = model.total_unread
        self.root.title(_("Chat — {name}").format(name=model.me) + (
            ngettext(" ({n} unread)", " ({n} unread)", unread).format(n=unread) if unread else ""))
        if typing:
            self._fit_typing()

    def _fit_title(self, title: str) -> str:
        """``title`` (a name: up to 32 characters in the large font), cut at the end with "…"
        to what the header leaves beside its Members or Block button and a room's member
        count (_subtitle_least), so that the button stays on screen; whole before the
        header is laid out. The name goes before the rest of the subtitle, which has what
        is left (_subtitle_room), and the typing line after both (_fit_typing)."""
        width = self.header.winfo_width()
        if width <= 1:
            return title
        font = self.fonts["heading"]  # the Title.TLabel style's
        # The label's own padding: what it asks beyond its text's width.
        padding = max(0, self.title_label.winfo_reqwidth() - font.measure(self.title_var.get()))
        # The subtitle's label stays packed, if empty: its padx and its own padding.
        room = width - 10 - padding - self._typing_padding() - 4  # a margin, as the subtitle's
        room -= self.rooms.header_width() + self.blocks.header_width()  # a room's button, or a person's
        room -= self._subtitle_least()  # the subtitle's text, beyond that padding
        return cut_to_fit(title, room, lambda text: font.measure(text) + padding) or title[:1] + "…"

    def _subtitle_least(self) -> int:
        """The pixels the subtitle's text takes however narrow the header: a room's member count,
        which is never cut (RoomPanel.subtitle); nothing for the others, whose subtitle
        goes before the name does (fit_first). The name leaves it that: else the count
        went past the header's edge, and the Members button was squeezed to a sliver."""
        model = self.model
        if model is None or not is_room_key(model.active) or model.presence(model.active) == UNKNOWN:
            return 0
        font = tkfont.nametofont(str(self.subtitle_label.cget("font") or "TkDefaultFont"))
        return font.measure(self.rooms.subtitle(model.active, 0, font.measure))

    def _subtitle_room(self) -> tuple[int | None, Any]:
        """``(width, measure)``: the pixels the header leaves the subtitle, and how its
        font measures text; ``(None, None)`` before the header is laid out."""
        width = self.header.winfo_width()
        if width <= 1:
            return None, None
        font = tkfont.nametofont(str(self.subtitle_label.cget("font") or "TkDefaultFont"))
        used = self.title_label.winfo_reqwidth() + 10 + self._typing_padding() + 4  # padx, a margin
        used += self.rooms.header_width() + self.blocks.header_width()  # a room's button, or a person's
        return max(0, width - used), font.measure

    def _fit_typing(self) -> None:
        """The open conversation's typing line ("Olga is typing…") in what the header's name,
        subtitle and button leave it, cut short with "…" or left out: it says for a few
        seconds what the rest says for good. Whole before the header is laid out."""
        model = self.model
        text = model.typing_text(model.active) if model is not None else ""
        width = self.header.winfo_width()
        if text and width > 1:
            font, padding = self.fonts["italic"], self._typing_padding()
            used = self.title_label.winfo_reqwidth() + self.subtitle_label.winfo_reqwidth() + 10 + 4
            used += self.rooms.header_width() + self.blocks.header_width() + 10  # and a gap before it
            text = cut_to_fit(text, width - used, lambda shown: font.measure(shown) + padding)
        self.typing_var.set(text)

    def _typing_padding(self) -> int:
        """The pixels the typing label asks beyond its text's (it stays packed, if empty)."""
        return max(0, self.typing_label.winfo_reqwidth() - self.fonts["italic"].measure(self.typing_var.get()))

    # --- Events -------------------------------------------------------------------------

    def _on_events(self, events: list[Any]) -> None:
        """A batch of library events, on the Tk thread (from the bridge)."""
        if self.model is None:
            self._early.extend(events)  # before the login finished: applied after it
            return
        for event in events:
            self.model.apply(event)
            name = type(event).__name__
            if name == "Reconnected":
                self._refresh_users()  # who came and went while we were away
                self.rooms.fetch_mine()  # joined from another device meanwhile, say
                self.blocks.fetch()  # and blocked or unblocked there
            elif isinstance(event, AnsweredLate) and event.request == Settings.TYPE and self.client is not None:
                self.model.receipts_settled(getattr(self.client, "read_receipts", None))  # the switch follows
            elif isinstance(event, ConnectionClosed) and self.model.signed_out is not None:
                self._back_to_login(self.model.signed_out, account_gone=self.model.account_gone)
                return
            elif isinstance(event, ConnectionClosed) and self.model.status_detail == connection_ended_text():
                reason = self.client.close_reason if self.client is not None else ""
                if reason:
                    self.model.set_state(DISCONNECTED, sanitize(reason))
        self._render()

    def _back_to_login(self, why: str, account_gone: bool = False) -> None:
        """The server signed this session out for its password (reset by the operator, or
        changed on another device) or deleted its account: the chat goes, and the login
        form says ``why``. For a password it asks for the new one (the library does not log
        in again with the old one); for a deleted account (``account_gone``) there is no
        password to ask: the claim box is cleared and the name field has the cursor (the
        name stays held a while, PROTOCOL.md "unregister": another, or later)."""
        self.model = None
        self.client = None  # its session is over (ConnectionClosed came)
        self._panes.clear()
        self._shown = None
        self._editing = None
        if self.chat is not None:
            self.chat.destroy()
            self.chat = None
        self.root.title(_("Chat"))
        self.login.grid()
        self.login.set_busy(False)
        if account_gone:
            self.login.fill(password="", register=False)
            self.login.say(why, focus="name")
        else:
            self.login.fill(password="")
            self.login.ask_password(why)

    def _render(self) -> None:
        """Apply the model's changes to the widgets."""
        model = self.model
        if model is None or self.chat is None:
            return
        if self._shown is not None:  # (before the first open_conversation, nothing to show)
            self._show_active()  # the model may have opened another (a room left)
        touched: dict[str, ConversationPane] = {}
        # Panes drawn again whole in this batch: from the model's lines as they are now, so
        # lines added or put on top after that change are drawn already.
        redrawn: set[str] = set()
        catch_up: list[CatchUpWanted] = []
        since: SinceWanted | None = None
        contacts = status = False
        for change in model.take_changes():
            if isinstance(change, LineAdded):
                if change.key not in redrawn:
                    self._touch(touched, change.key).append(change.line)
            elif isinstance(change, StateChanged):
                self._touch(touched, change.key).set_state(change.line)
            elif isinstance(change, (LineChanged, LinesInserted)):
                self._touch(touched, change.key).redraw(model.conversations[change.key].lines)
                redrawn.add(change.key)
            elif isinstance(change, TypingChanged):
                pass  # the typing line is drawn below, every time
            elif isinstance(change, LinesPrepended):
                if change.key not in redrawn:
                    self._touch(touched, change.key).prepend(change.lines, change.paged)
                elif change.paged:
                    self._touch(touched, change.key).show_top()  # drawn already, by the redraw
            elif isinstance(change, CatchUpWanted):
                catch_up.append(change)
            elif isinstance(change, SinceWanted):
                since = change
            elif isinstance(change, ContactsChanged):
                contacts = True
            elif isinstance(change, StatusChanged):
                status = True
            elif isinstance(change, ReceiptsChanged):
                self.receipts_var.set(model.read_receipts)  # changed on another device
            elif isinstance(change, HistoryWanted):
                self._fetch_history(change.key, change.peer, change.before)
            elif isinstance(change, MembersChanged):
                status = status or change.key == model.active  # the header and list redraw below
            elif isinstance(change, MembersWanted):
                self.rooms.fetch_members(change.room)
            elif isinstance(change, RoomInfoWanted):
                self.rooms.fetch_info(change.room)
            elif isinstance(change, WatchWanted):
                if self.client is not None:
                    self.client.watch_soon([change.peer])  # never blocks
            elif isinstance(change, WhereWanted):
                self._ask_where(change.key)  # as when the conversation opened
        if catch_up or since is not None:
            self._catch_up(catch_up, since)
        for pane in touched.values():
            pane.end()
        if contacts or touched:
            self.contacts.refresh(model)
        else:
            self.contacts.show_active(model)  # another conversation opened, nothing else changed
        if status or not self.status_var.get():
            self._show_status()
        # The header's buttons first: it leaves the subtitle the width that the Members
        # button (a room's, rooms.show()) or the Block button (a person's) does not take.
        self.rooms.show()
        self.blocks.show()
        self._update_header()
        self._show_typing()
        self._send_read()

    def _fit_hint(self) -> None:
        """Wrap the hint and the line above the input box at the input column's width (less
        the label's own padding, or a line's last word is cut off), the hint in the longest
        of its forms that leaves the messages room (layout.hint_form) of the height they and
        the hint share."""
        hint, stack = self.hint, self.stack
        width, pady = hint.master.winfo_width(), 4
        if width <= 1 or stack.winfo_height() <= 1:
            return  # not laid out yet
        # The line above the input box too: a long name, or how to end an edit ("Esc
        # cancels"), was cut off at the minimum width.
        self.recipient_label.configure(wraplength=max(1, width - 4))
        room = stack.winfo_height() + (hint.winfo_height() + pady if hint.winfo_manager() else 0)
        heights = []
        for text in self._hints[:-1]:
            hint.configure(text=text, wraplength=max(1, width - 4))
            heights.append(hint.winfo_reqheight() + pady)
        form = hint_form([*heights, 0], room)
        if self._hints[form]:
            hint.configure(text=self._hints[form])
            hint.grid()
        else:
            hint.grid_remove()

    def _wrap_status(self, width: int) -> None:
        """Wrap the status bar's text at the width the bar (``width`` wide) leaves it: beside
        the switch and the account's buttons while the status keeps STATUS_MIN pixels there,
        else the whole bar's, with them on a row of their own below it (an account's three
        did not fit beside it at the window's minimum width: "Delete account…" was cut)."""
        used = 20 + self.status_dot.winfo_reqwidth() + 6 + 4
        controls = self.status_controls
        below = width < used + controls.winfo_reqwidth() + STATUS_MIN
        if below != self._status_below:
            self._status_below = below
            if below:  # packed first, it has the bar's whole width at the bottom
                controls.pack_configure(side="bottom", anchor="e", before=self.status_dot)
            else:
                controls.pack_configure(side="right", anchor="center", after=self.status_label)
        if not below:
            used += controls.winfo_reqwidth()
        self.status_label.configure(wraplength=max(STATUS_MIN, width - used))

    def _show_status(self) -> None:
        """The status bar from the model; while a reconnection is awaited, again every
        half second so that "Reconnecting in 3 s…" (or "trying again in 3 s") counts down."""
        model = self.model
        if model is None or self.chat is None or self._closing:
            self._ticking = False
            return
        self.status_var.set(model.status_text())
        self.status_dot.configure(foreground=STATUS_COLORS.get(model.state, COLORS["meta"]))
        if model.counting_down and not self._ticking:
            self._ticking = True  # one chain of ticks at a time
            self.root.after(500, self._tick)

    def _tick(self) -> None:
        self._ticking = False
        self._show_status()

    def _touch(self, touched: dict[str, ConversationPane], key: str) -> ConversationPane:
        pane = touched.get(key)
        if pane is None:
            pane = touched[key] = self._pane(key)
            pane.begin()
        return pane

    def _refresh_users(self) -> None:
        if self.client is not None:
            self._off_tk(self.client.who, self._users, "gui-who")

    def _off_tk(self, ask: Callable[[], Any], then: Callable[[Any], None], name: str) -> None:
        """Run ``ask`` (a blocking request of the client) on a worker thread called ``name``,
        then ``then`` with its answer on the Tk thread; a request that fails (the connection
        went, an older server) is dropped: what it would have shown stays as it was."""
        def work() -> None:
            try:
                answer = ask()
            except Exception:
                return
            self.bridge.call(then, answer)
        threading.Thread(target=work, name=name, daemon=True).start()

    def _off_tk_told(self, ask: Callable[[], Any], then: Callable[..., None], name: str, *args: Any) -> None:
        """Run ``ask`` (a blocking request of the client) on a worker thread called ``name``,
        then ``then(*args, error)`` on the Tk thread: ``error`` None once it is done, else
        what it raised (RequestFailed, the connection lost, a timeout), for ``then`` to say."""
        def work() -> None:
            try:
                ask()
            except Exception as exc:
                self.bridge.call(then, *args, exc)
                return
            self.bridge.call(then, *args, None)
        threading.Thread(target=work, name=name, daemon=True).start()

    def _users(self, users: Any) -> None:
        if self.model is not None:
            self.model.set_online(users)
            self._render()

    def _fetch_history(self, key: str, peer: str, before: int | None = None) -> None:
        """Fetch a conversation's history on a worker thread: a user's whole (up to
        HISTORY_LIMIT), a named room's a page at a time (``before``: older than that)."""
        client = self.client

        def work() -> None:
            try:
                if peer.startswith("#"):
                    page = fetch_room_page(client, peer, before)
                    self.bridge.call(self._room_history, key, peer, page, before is not None)
                    return
                entries = fetch_history(client, peer)
            except Exception as exc:
                self.bridge.call(self._history, key, peer, None, exc)
                return
            self.bridge.call(self._history, key, peer, entries, None)
        threading.Thread(target=work, name="gui-history", daemon=True).start()

    def _catch_up(self, wanted: list[CatchUpWanted], since: SinceWanted | None) -> None:
        """After a reconnection, on one worker thread: with the feature since, every
        conversation's messages after ``since.after`` (ChatClient.since), handed to the
        model to merge; else the newest page of each conversation ``wanted`` names (the
        most recent first), one after the other, each handed on as it comes. A since
        page refused for now is asked again (CATCH_UP_PATIENCE); another failure ends it
        quietly: the connection went again (the next reconnection asks again) or the
        server refused."""
        client = self.client

        def work() -> None:
            if since is not None and client.since_supported:
                try:
                    entries = client.since(since.after, patience=CATCH_UP_PATIENCE)
                except Exception:
                    return
                self.bridge.call(self._caught_up_since, entries)
                return
            for change in wanted:
                try:
                    entries = fetch_history(client, change.peer)
                except Exception:
                    return
                self.bridge.call(self._caught_up, change.peer, entries)
        threading.Thread(target=work, name="gui-catch-up", daemon=True).start()

    def _caught_up_since(self, entries: Any) -> None:
        if self.model is not None:
            self.model.catch_up_since(entries)
            self._render()

    def _caught_up(self, peer: str, entries: Any) -> None:
        if self.model is not None:
            self.model.catch_up(peer, entries)
            self._render()

    def _room_history(self, key: str, room: str, page: Any, paged: bool) -> None:
        if self.model is not None:
            self.model.add_history(room, page.messages, page.before, paged)
            self._render()

    def _history(self, key: str, peer: str, entries: Any, error: BaseException | None) -> None:
        if self.model is None:
            return
        if isinstance(error, NotConnected):  # asked again once the connection is back
            self.model.history_not_loaded(key)
        elif entries is None:
            # The history could not be fetched: the conversation simply starts empty,
            # and says why.
            self.model.history_unavailable(key)
            if error is not None:
                self.model.notice(key, _("Could not load earlier messages: {why}").format(why=failure_words(error)))
        else:
            self.model.add_history(peer, entries)
        self._render()

    # --- After delivered (issue 13) -----------------------------------------------------

    def _show_typing(self) -> None:
        """The typing line of the open conversation; while someone types, again every
        second, so that it goes by itself."""
        model = self.model
        if model is None or self.chat is None or self._closing:
            return
        self._fit_typing()
        if model.typing and not self._typing_tick:
            self._typing_tick = True

            def tick() -> None:
                self._typing_tick = False
                self._show_typing()
            self.root.after(1000, tick)

    def _toggle_receipts(self) -> None:
        """The switch was clicked: ask the server (on a worker thread); the model follows
        once it said ok, the switch goes back if it did not."""
        client, on = self.client, bool(self.receipts_var.get())

        self._off_tk_told(lambda: client.set_read_receipts(on), self._receipts_set, "gui-settings", on)

    def open_password_dialog(self) -> None:
        if self.password_dialog is None or not self.password_dialog.winfo_exists():
            self.password_dialog = PasswordDialog(self.root, self._change_password, on_close=self._focus_input_again)

    def _change_password(self, old: str, new: str) -> None:
        """The dialog was sent: ask the server on a worker thread; its answer comes back to
        :meth:`_password_changed` on the Tk thread."""
        client, dialog = self.client, self.password_dialog

        self._off_tk_told(lambda: client.change_password(old, new), self._password_changed, "gui-password", dialog)

    def _password_changed(self, dialog: PasswordDialog, error: BaseException | None) -> None:
        if error is not None:
            if not dialog.winfo_exists():
                return
            if isinstance(error, RequestFailed):
                dialog.failed(explain_refusal(error))
            elif maybe_done(error):
                # The library settles it at its next login with a password, the new one
                # first (client.library, change_password); a login elsewhere has to do the same.
                dialog.failed(_("The server's answer did not come: the password may or may not have been changed. "
                                "This window keeps working either way: when it must log in again with a password, it "
                                "tries the new one first, then the old one. To log in elsewhere, do the same."))
            else:  # not sent (no connection): in the window's words, as its other requests say it
                dialog.failed(failure_words(error))
            return
        if dialog.winfo_exists():
            dialog.close()
        if self.model is not None:
            self.model.notice(self.model.active, _("Your password is changed: log in with the new one from now on."))
            self._render()

    def open_unregister_dialog(self) -> None:
        if self.unregister_dialog is None or not self.unregister_dialog.winfo_exists():
            self.unregister_dialog = UnregisterDialog(self.root, self._unregister, on_close=self._focus_input_again)

    def _unregister(self, password: str) -> None:
        """The dialog was sent: ask the server on a worker thread; its answer comes back to
        :meth:`_unregistered` on the Tk thread. Once deleted, the session ends
        (``account_deleted``): the model's ``signed_out`` takes the window to its login form."""
        client, dialog = self.client, self.unregister_dialog

        self._off_tk_told(lambda: client.unregister(password), self._unregistered, "gui-unregister", dialog)

    def _unregistered(self, dialog: UnregisterDialog, error: BaseException | None) -> None:
        if not dialog.winfo_exists():
            return  # closed meanwhile, or the window went back to its login form
        if error is None:
            dialog.close()
        elif isinstance(error, RequestFailed):
            dialog.failed(explain_refusal(error))  # bad_password, unavailable...: nothing deleted
        elif maybe_done(error):  # sent, no answer: it may have been done (the page's words)
            dialog.failed(_("The connection was lost before the server answered: the account may or may not "
                            "have been deleted. Log in again to find out."))
        else:  # not sent (no connection): in the window's words, as its other requests say it
            dialog.failed(failure_words(error))

    def _receipts_set(self, on: bool, error: BaseException | None) -> None:
        if self.model is None:
            return
        if error is None:
            self.model.read_receipts = on
        else:
            self.receipts_var.set(self.model.read_receipts)
            self.model.notice(self.model.active, change_failed(error))
        self._render()

    def _send_read(self) -> None:
        """Tell the server what the open conversation shows, if the window has the focus."""
        model, client = self.model, self.client
        if model is None or client is None or not hasattr(client, "mark_read"):
            return
        due = model.read_due(self.root.focus_get() is not None)
        if due is not None:
            client.mark_read(*due)
        room_due = model.room_read_due(self.root.focus_get() is not None)
        if room_due is not None and hasattr(client, "mark_read_in_room"):
            client.mark_read_in_room(*room_due)

    def _typed(self, event: Any) -> None:
        """A key in the input box: say we are typing (at most every TYPING_INTERVAL s)."""
        model, client = self.model, self.client
        if (model is None or client is None or model.active == ROOM or self._editing or not model.read_receipts
                or not getattr(event, "char", "") or not hasattr(client, "typing")):
            return
        now = time.monotonic()
        if now - self._typing_sent.get(model.active, -1e9) < const.TYPING_INTERVAL:
            return
        self._typing_sent[model.active] = now
        if is_room_key(model.active):  # in a named room (issue 13); none in one we are out of or leaving
            if hasattr(client, "typing_in_room") and model.may_tell_room(model.active):
                client.typing_in_room(model.title(model.active))
            return
        client.typing(model.title(model.active))

    def _message_menu(self, pane: ConversationPane, event: Any) -> str:
        """A right click on one of our messages that may still change: Edit and Delete for it
        (as the web page's buttons; Ctrl+E and Ctrl+Delete act on the last one)."""
        line = self.own_message_at(pane, event.x, event.y)
        if line is None:
            return "break"
        self.message_menu.delete(0, "end")
        acts = (("edit", _("Edit")), ("delete", _("Delete")))
        if self.model is not None and self.model.is_out_of(pane.key):  # put out of the room: a delete is allowed
            acts = acts[1:]
        for act, label in acts:
            self.message_menu.add_command(label=label, command=lambda act=act: self.message_act(act, pane.key, line))
        self.message_menu.tk_popup(event.x_root, event.y_root)
        return "break"

    def own_message_at(self, pane: ConversationPane, x: int, y: int) -> Any:
        """Our message drawn at pixel ``x``, ``y`` of ``pane``, if it may still change."""
        clicked = pane.own_line_at(x, y)
        if self.model is None or clicked is None or clicked.msg_id is None:
            return None
        return self.model.editable(pane.key, msg_id=clicked.msg_id)

    def message_act(self, act: str, key: str, line: Any) -> None:
        """What the message menu's entry ``act`` ("edit" or "delete") does for our ``line``."""
        if act == "delete":
            self._change(key, line, None)
        else:
            self._edit(key, line)

    def _edit_last(self, _event: object = None) -> str:
        """Ctrl+E: our last message of the open conversation into the input box; Enter saves."""
        model = self.model
        line = model.editable(model.active) if model is not None else None
        if line is None:
            self.root.bell()
            return "break"
        return self._edit(model.active, line)

    def _edit(self, key: str, line: Any) -> str:
        """Our message ``line`` of conversation ``key`` into the input box; Enter (or the
        button, which says "Save" meanwhile) saves. Not in a room we were put out of: there,
        the conversation says why instead (an edit there could not be saved)."""
        if self.model is not None and self.model.edit_refused(key, saving=False):
            self.root.bell()
            self._render()
            return "break"
        self._editing = (key, line)
        self.input.delete("1.0", "end")
        self.input.insert("1.0", line.text)
        self._show_compose()
        self.input.focus_set()
        return "break"

    def _stop_editing(self) -> str:
        self._editing = None
        self.input.delete("1.0", "end")
        self._update_header()
        return "break"

    def _show_compose(self) -> None:
        """The line above the input box and the button beside it say what Enter does now:
        send to the open conversation, or save the message being edited. Called with every
        redraw of the header, so that an event during an edit does not make them say
        "Send" while Enter saves."""
        if self._editing is not None:
            self.recipient_var.set(_("Editing your message: Enter saves, Esc cancels"))
            self.send_button.configure(text=_("Save"))
        else:
            self.recipient_var.set(self.model.recipient(self.model.active) if self.model is not None else "")
            self.send_button.configure(text=_("Send"))

    def _delete_last(self, _event: object = None) -> str:
        """Ctrl+Delete: delete our last message of the open conversation."""
        model = self.model
        line = model.editable(model.active) if model is not None else None
        if line is None:
            self.root.bell()
            return "break"
        self._change(model.active, line, None)
        return "break"

    def _change(self, key: str, line: Any, text: str | None) -> None:
        """Edit (``text``) or delete (None) our message ``line`` on a worker thread."""
        client = self.client

        def work() -> None:
            try:
                at = client.delete(line.msg_id) if text is None else client.edit(line.msg_id, text)
            except Exception as exc:
                self.bridge.call(self._changed, key, line, text, exc)
                return
            self.bridge.call(self._changed, key, line, text, None, at)
        threading.Thread(target=work, name="gui-change", daemon=True).start()

    def _changed(self, key: str, line: Any, text: str | None, error: BaseException | None,
                 at: float | None = None) -> None:
        if self.model is None:
            return
        if error is not None:
            self.model.notice(key, change_failed(error))
        else:
            self.model.changed_own(key, line, text, at)
        self._render()

    # --- Sending ------------------------------------------------------------------------

    def send_input(self, _event: object = None) -> str:
        """Send what the input box holds to the open conversation (Enter, or the button)."""
        text = self.input.get("1.0", "end-1c")
        if not text.strip() or self.model is None or self.client is None:
            return "break"
        if self._editing is not None:  # Enter saves the edit of our message
            key, line = self._editing
            if self.model.edit_refused(key, saving=True):  # put out of its room: the edit kept in the box
                self._render()
                return "break"
            self._stop_editing()
            if text != line.text:
                self._change(key, line, text)
            return "break"
        key = self.model.active
        if self.model.send_refused(key):  # put out of this room: nothing sent, the text kept
            self._render()
            return "break"
        to = None if key == ROOM else self.model.title(key)
        if is_room_key(key):
            message = self.client.send_to_room(self.model.title(key), text)
        elif to is None:
            message = self.client.send_room(text)
        else:
            message = self.client.send_direct(to, text)
        # Refused inside send_* (longer than a message may be, too many waiting): the text
        # stays in the box to be shortened or sent again; its line in the conversation says why.
        if message.state != "failed":
            self.input.delete("1.0", "end")
            self.input.edit_reset()
        self.model.sent(message)
        self._render()
        return "break"

    # --- Leaving ------------------------------------------------------------------------

    def quit(self) -> None:
        """Close the connection (on a thread: it may wait a little) and the window."""
        if self._closing:
            return
        self._closing = True
        self.bridge.stop()
        client = self.client
        if client is not None:
            self._closer = threading.Thread(target=client.close, name="gui-close", daemon=True)
            self._closer.start()
        try:
            self.root.destroy()
        except tk.TclError:
            pass

    def wait_closed(self, timeout: float = 5.0) -> None:
        if self._closer is not None:
            self._closer.join(timeout)

    @property
    def connected(self) -> bool:
        return self.model is not None and self.model.state != DISCONNECTED


def run(name: str = "", host: str = const.SERVER_HOST, port: int = const.SERVER_PORT, *,
        password: str | None = None, register: bool = False, **options: Any) -> int:
    """Open the chat window (logging in at once as ``name`` if given); return when it
    closes. ``password`` and ``register`` fill the login form; ``options`` (``tls``,
    ``cafile``, ``reconnect``...) go to ``ChatClient``."""
    try:
        root = tk.Tk(className="Chat")
    except tk.TclError as exc:
        print(_("chatclient.py: cannot open a window: {why} (is DISPLAY set?)").format(why=exc), file=sys.stderr)
        return 2
    app = ChatApp(root, name, host, port, autologin=bool(name), password=password, register=register,
                  options=options)
    control = os.environ.get("CHAT_GUI_TEST_CONTROL")
    if control:
        from .testhook import ControlChannel

        ControlChannel(app, int(control)).start()
    try:
        root.mainloop()
    except KeyboardInterrupt:
        app.quit()
    app.wait_closed()
    return 0
