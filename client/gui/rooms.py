"""The window's rooms (protocol version 2): a join box under the contact list, and for the
open room its member list beside the conversation, with a context menu of moderation acts
for those who may (owner, moderators), and buttons to set the topic and to leave.

Like the rest of the window, only the Tk thread touches widgets; every request to the
server (join, leave, members, the acts) runs on a short-lived worker thread and hands its
result back through the bridge, so the window never waits for the network. The model
(:mod:`client.gui.model`) decides what is shown; this module only draws it and asks.
Keyboard: Ctrl+J goes to the join box (Enter joins, Escape goes back to typing); in the
member list, Shift+F10 opens the menu as a right click does. Where the room's column goes
(beside the messages, over them, hidden) is :mod:`client.gui.layout`'s rule; the header's
Members button switches it.
"""

from __future__ import annotations

import threading
import tkinter as tk
from collections.abc import Callable
from tkinter import simpledialog, ttk
from typing import TYPE_CHECKING, Any

import const
from i18n import N_, _, ngettext

from ..commands import check_room
from ..display import JOIN_ROOM_BUTTON, describe_role, sanitize
from .layout import BESIDE, HIDDEN, MEMBERS_WIDTH, MESSAGES_MIN, OVER, MemberColumn
from .model import cut_to_fit, fit_topic, is_room_key, room_key
from .session import act_failure_words, failure_words, maybe_done

if TYPE_CHECKING:
    from .app import ChatApp

# The acts of the member menu: (act, label). Shown through _(). Not "unban": a banned
# person is in no member list (a ban puts one out and keeps one out: PROTOCOL.md, "ban"):
# the column's "Lift a ban…" asks for the name.
ACTS = (
    ("kick", N_("Put out of the room")),
    ("ban", N_("Ban from the room")),
    ("mute", N_("Mute for 10 minutes")),
    ("unmute", N_("Unmute")),
    ("appoint", N_("Make moderator")),
    ("dismiss", N_("Make plain member")),
    ("delete_post", N_("Delete their last post")),  # issue 13
)
# What a failed act is called in its notice: the menu's entry, or the button's.
ACT_NAMES = {**dict(ACTS), "topic": N_("Topic"), "invite": N_("Invite"), "unban": N_("Lift a ban")}
# How long "Mute for 10 minutes" mutes (seconds).
MUTE_SECONDS = 600
# A member's role in one character, for a row where its word would cut the name short
# ("Concei… (responsável)"): the word is in the row's tooltip then (RoomPanel.role_tip).
ROLE_MARKS = {"owner": "★", "moderator": "◆"}


class RoomPanel:
    """The room widgets of ``app`` (built once the chat view is)."""

    def __init__(self, app: ChatApp, contacts: ttk.Frame, right: ttk.Frame) -> None:
        self.app = app
        join = ttk.Frame(contacts, style="Side.TFrame")
        join.grid(row=3, column=0, sticky="ew", pady=(6, 0))  # under the new-chat box (app.py)
        join.columnconfigure(0, weight=1)
        self.join_var = tk.StringVar(app.root, "")
        # Ctrl+J reaches it (the input box's hint says so), Tab too (ChatApp.tab_order); Enter joins.
        self.join_entry = ttk.Entry(join, textvariable=self.join_var, width=14)
        self.join_entry.grid(row=0, column=0, sticky="ew")
        self.join_entry.bind("<Return>", lambda e: self.join())
        self.join_entry.bind("<Escape>", lambda e: app._focus_input())
        # (bound for the whole window: after a sign-out, until the next chat view, there is no box)
        app.root.bind_all("<Control-j>", lambda e: self.join_entry.focus_set() if self.join_entry.winfo_exists()
                          else None)
        self.join_button = ttk.Button(join, text=_(JOIN_ROOM_BUTTON), command=self.join)
        self.join_button.grid(row=0, column=1, padx=(4, 0))

        # The room's column, beside the conversation or over it: its acts, then its members.
        # Of a fixed width (not its buttons' and names'), so that the rule can count on it.
        members = self.members_frame = ttk.Frame(right, width=MEMBERS_WIDTH)
        members.grid_propagate(False)
        members.rowconfigure(2, weight=1)
        members.columnconfigure(0, weight=1)
        acts = ttk.Frame(members)
        acts.grid(row=0, column=0, sticky="ew", pady=(0, 6))
        self.leave_button = ttk.Button(acts, text=_("Leave"), command=self.leave)
        # Their texts' widths (not the theme's eleven characters each), sharing the column's.
        self.topic_button = ttk.Button(acts, text=_("Topic…"), command=self.ask_topic, width=-1)
        self.invite_button = ttk.Button(acts, text=_("Invite…"), command=self.ask_invite, width=-1)
        # Unbanning, for those who may ban: a banned person is in no member list to click.
        self.unban_button = ttk.Button(acts, text=_("Lift a ban…"), command=self.ask_unban)
        acts.columnconfigure((0, 1), weight=1)
        # The room's mode: the owner's switch (PROTOCOL.md, "Roles"); everyone sees the
        # mode in the header ("invite only").
        self.invite_only_var = tk.BooleanVar(app.root, False)
        self.mode_check = ttk.Checkbutton(acts, text=_("Invite only"), variable=self.invite_only_var,
                                          command=self.switch_mode)
        # Older messages of the room, a page at a time (its newest page comes on opening it).
        self.older_button = ttk.Button(acts, text=_("Older messages"), command=self.load_older)
        ttk.Label(members, text=_("Members"), style="SideHeading.TLabel").grid(row=1, column=0, sticky="w")
        self.members = ttk.Treeview(members, show="tree", selectmode="browse", height=8)
        self.members.column("#0", width=MEMBERS_WIDTH - 30)
        self.members.tag_configure("offline", foreground="#9ca3af")
        self.members.grid(row=2, column=0, sticky="nsew")
        self.members.bind("<Button-3>", self._menu_at)
        self.members.bind("<Shift-F10>", lambda e: self._menu_at(None))
        self.menu = tk.Menu(app.root, tearoff=False)
        self._menu_for: str | None = None
        self.shown: list[str] = []  # what the member list shows, for the test hook
        self._rows: list[tuple[str, str, bool]] | None = None
        # Where the column goes, and the header's button that shows or hides it (rooms only;
        # rightmost, where it stays put whatever the typing line says).
        self.column = MemberColumn()
        self.where = HIDDEN
        self._area: int | None = None  # the conversation area's width, once laid out
        self.toggle_var = tk.BooleanVar(app.root, False)
        self.toggle = ttk.Checkbutton(app.header, text=_("Members"), style="Toolbutton", variable=self.toggle_var,
                                      command=self.toggle_members)
        self.members.bind("<Escape>", self._escape)
        # A member's role in words, under the pointer over their row, or under the row the
        # arrow keys moved to (marked rows say it no other way).
        self._tip: tk.Toplevel | None = None
        self._tip_row = ""
        self.members.bind("<Motion>", self._hover)
        self.members.bind("<Leave>", lambda e: self._hide_tip())
        for key in ("<KeyRelease-Up>", "<KeyRelease-Down>", "<KeyRelease-Home>", "<KeyRelease-End>"):
            self.members.bind(key, self._keyed)
        self.members.bind("<FocusOut>", lambda e: self._hide_tip())

    # --- Drawing ---------------------------------------------------------------------------

    def show(self) -> None:
        """Draw the room parts for the open conversation (hidden for anything but a room)."""
        model = self.app.model
        assert model is not None
        key = model.active
        if not is_room_key(key) or key not in model.rooms:
            self._rows = None
            self._put(HIDDEN)
            if self.toggle.winfo_manager():
                self.toggle.pack_forget()
            return
        if not self.toggle.winfo_manager():
            self.toggle.pack(side="right", padx=(10, 0), before=self.app.typing_label)
        self._put(self.column.place(self._width()))
        moderator = model.may_moderate(key)
        self.topic_button.grid(row=0, column=0, sticky="ew") if moderator else self.topic_button.grid_remove()
        self.invite_button.grid(row=0, column=1, sticky="ew", padx=(4, 0)) if moderator \
            else self.invite_button.grid_remove()
        self.unban_button.grid(row=1, column=0, columnspan=2, sticky="ew", pady=(4, 0)) if moderator \
            else self.unban_button.grid_remove()
        self.leave_button.grid(row=2 if moderator else 0, column=0, columnspan=2, sticky="ew",
                               pady=(4, 0) if moderator else 0)
        self.invite_only_var.set(model.rooms[key].invite_only)
        self.mode_check.grid(row=3, column=0, columnspan=2, sticky="w", pady=(4, 0)) if model.may_set_mode(key) \
            else self.mode_check.grid_remove()
        self.older_button.grid(row=4, column=0, columnspan=2, sticky="ew", pady=(4, 0)) if model.has_older(key) \
            else self.older_button.grid_remove()
        members = model.rooms[key].members or ()
        marked = not all(self._fits(member.name, member.role) for member in members)
        rows = [(member.name, self._fit(member.name, member.role, marked), member.online) for member in members]
        if rows == self._rows:
            return  # redrawn only when it changed (a render comes with every batch of events)
        self._rows = rows
        self._hide_tip()  # its row may be gone
        self.members.delete(*self.members.get_children())
        for name, text, online in rows:
            self.members.insert("", "end", iid=name, text=text, tags=() if online else ("offline",))
        self.shown = [text for _name, text, _online in rows]

    def _room(self) -> int:
        """The pixels a member's row has for its text: the column's own width
        (MEMBERS_WIDTH), not the list's as laid out, which is a few pixels wider or
        narrower beside the messages or over them, less the row's indent and padding."""
        return int(self.members.column("#0", "width")) - 20 - 4

    @staticmethod
    def _role_text(role: str, marked: bool) -> str:
        if role == "member":
            return ""
        return f" {ROLE_MARKS[role]}" if marked and role in ROLE_MARKS else f" ({describe_role(role)})"

    def _fits(self, name: str, role: str) -> bool:
        """True if member ``name``'s row holds their name whole with their role in words."""
        return self.app.fonts["default"].measure(sanitize(name) + self._role_text(role, False)) <= self._room()

    def _fit(self, name: str, role: str, marked: bool) -> str:
        """A member's row: ``name`` and their ``role`` in words ("Olga (owner)"), or, in a
        list where the word would cut some name short (``marked``: "Concei… (responsável)"
        at the default width in Portuguese), the role's mark for every row alike
        (ROLE_MARKS: "Conceição ★"; the word in the row's tooltip, role_tip). A name too
        long even so is cut short with "…" (cut_to_fit: between whole characters, as the
        list of conversations' rows), the role after it whole: a long name was clipped at
        its edge mid-letter, and the role with it."""
        shown, rest = sanitize(name), self._role_text(role, marked)
        return cut_to_fit(shown, self._room(), self.app.fonts["default"].measure, rest) or f"{shown[:1]}…{rest}"

    def role_tip(self, name: str) -> str:
        """The tooltip of member ``name``'s row in the open room: their name and role in
        words ("Conceição — responsável"), or "" for a plain member."""
        model = self.app.model
        state = model.rooms.get(model.active) if model is not None else None
        member = next((m for m in (state.members if state else None) or () if m.name == name), None)
        if member is None or member.role == "member":
            return ""
        return f"{sanitize(member.name)} — {describe_role(member.role)}"

    def _hover(self, event: Any) -> None:
        self._show_tip(self.members.identify_row(event.y), event.x_root + 12, event.y_root + 16)

    def _keyed(self, _event: object) -> None:
        """An arrow key moved the list's focus: the tip of that row, under it."""
        row = self.members.focus()
        box = self.members.bbox(row) if row else ""
        if not box:
            self._hide_tip()
            return
        x, y, _width, height = box
        self._show_tip(row, self.members.winfo_rootx() + x + 20, self.members.winfo_rooty() + y + height + 2)

    def _show_tip(self, row: str, x: int, y: int) -> None:
        """The tip of member ``row`` at ``x``, ``y`` (on the screen), kept within the
        window (the list is at its right edge); none for a plain member or no row."""
        if row == self._tip_row:
            return
        self._hide_tip()
        text = self.role_tip(row) if row else ""
        if not text:
            return
        self._tip_row = row
        tip = self._tip = tk.Toplevel(self.members)
        tip.wm_overrideredirect(True)
        ttk.Label(tip, text=text, padding=(6, 2), relief="solid", borderwidth=1).pack()
        tip.update_idletasks()
        right = self.app.root.winfo_rootx() + self.app.root.winfo_width()
        tip.wm_geometry(f"+{max(0, min(x, right - tip.winfo_reqwidth()))}+{y}")

    def _hide_tip(self) -> None:
        self._tip_row = ""
        if self._tip is not None:
            self._tip.destroy()
            self._tip = None

    def fit(self, area: int) -> None:
        """The conversation area (the messages and this column) is ``area`` pixels wide
        now: put the open room's column where the rule says."""
        self._area = area
        if self.toggle.winfo_manager():  # a room is open
            self._put(self.column.place(area))

    def toggle_members(self) -> None:
        """The Members button: show the column if it is hidden, else hide it."""
        self._put(self.column.toggle(self._width()))

    def _escape(self, _event: object) -> str | None:
        """Escape in the member list over the messages: close it, back to typing."""
        if self.where != OVER:
            return None
        self.toggle_members()
        self.app._focus_input()
        return "break"

    def tab_stops(self) -> list[tk.Misc]:
        """The column's widgets in the order Tab visits them (ChatApp.tab_order), as they
        are laid out: its buttons, its switch, Older messages, then its members."""
        return [self.topic_button, self.invite_button, self.unban_button, self.leave_button, self.mode_check,
                self.older_button, self.members]

    def header_width(self) -> int:
        """The pixels the Members button takes of the header (0: no room open)."""
        return self.toggle.winfo_reqwidth() + 10 if self.toggle.winfo_manager() else 0

    def _width(self) -> int:
        # Before the first layout: wide enough, as the window opens (980 px).
        return self._area if self._area is not None else MEMBERS_WIDTH + MESSAGES_MIN

    def _put(self, where: str) -> None:
        """Show the column ``where`` says (BESIDE, OVER or HIDDEN), and the button as pressed if shown."""
        self.toggle_var.set(where != HIDDEN)
        if where == self.where:
            return
        self.where = where
        self._hide_tip()  # (a list hidden under the pointer has no Leave)
        frame = self.members_frame
        frame.grid_remove()
        frame.place_forget()
        if where == BESIDE:
            frame.configure(style="TFrame", padding=(8, 0, 0, 0))
            frame.grid(row=0, column=1, rowspan=2, sticky="ns")
        elif where == OVER:
            # A drawer at the messages' right edge, above them; the input box stays below.
            frame.configure(style="Drawer.TFrame", padding=(8, 6, 6, 6))
            frame.place(in_=self.app.stack, relx=1.0, x=0, y=0, anchor="ne", relheight=1.0, width=MEMBERS_WIDTH)

    def subtitle(self, key: str, width: int | None = None, measure: Callable[[str], int] | None = None) -> str:
        """The header's second part for room ``key``: its topic and member count, the
        topic cut short ("…") to fit ``width`` pixels as ``measure`` counts them (no cut
        without them), so that a long topic never hides the count."""
        model = self.app.model
        assert model is not None
        state = model.rooms.get(key)
        if state is None:
            return _("you are not in this room")
        count = ngettext("{n} member", "{n} members", state.count).format(n=state.count)
        if state.invite_only:
            count = _("invite only") + " · " + count
        if not state.topic:
            return count
        if width is None or measure is None:
            return f"{sanitize(state.topic)} · {count}"
        return fit_topic(sanitize(state.topic), count, width, measure)

    # --- Asking the server (worker threads; results back on the Tk thread) ----------------

    def _ask(self, work: Callable[[], Any], done: Callable[[Any], None], what: str,
             on_error: Callable[[str, BaseException], None] | None = None, about: str | None = None,
             act: tuple[str, str, str] | None = None) -> None:
        """Run request ``work`` on a worker thread, then ``done`` with its answer on the
        Tk thread; if it fails, ``on_error`` (else a notice, :meth:`_failed`: ``what``
        failed, and why; ``about``, the room the request is about, named by the refusal's
        sentence where it names one; ``act``, the moderation act, the name it was on and
        its room)."""
        client = self.app.client

        def run() -> None:
            try:
                result = work()
            except Exception as exc:
                if on_error is not None:
                    self.app.bridge.call(on_error, what, exc)
                else:
                    self.app.bridge.call(self._failed, what, exc, about, act)
                return
            self.app.bridge.call(done, result)
        if client is not None:
            threading.Thread(target=run, name=f"gui-{what}", daemon=True).start()

    def _failed(self, what: str, error: BaseException, about: str | None = None,
                act: tuple[str, str, str] | None = None) -> None:
        model = self.app.model
        if model is None:
            return
        why = act_failure_words(error, *act) if act is not None else failure_words(error, about)
        # Sent and unanswered (no answer in time, the connection lost first): it may have been
        # done, and a late answer says so (ChatModel._late_done), so it is not said failed.
        text = _("{what} is not confirmed: {why}") if maybe_done(error) else _("{what} failed: {why}")
        model.notice(model.active, text.format(what=what, why=why))
        self.app._render()

    def join(self, room: str | None = None) -> None:
        """Join (or create) the room typed in the join box, then open it. The box empty, the
        room on screen that we were put out of (its words say "join it again (Join room)")."""
        typed = (room if room is not None else self.join_var.get()).strip()
        model = self.app.model
        if not typed and model is not None and model.is_out_of(model.active):
            typed = model.title(model.active)
        if not typed:  # pressed before typing: say what goes in the box, and put the cursor there
            self.join_entry.focus_set()
            self.app.alert(_(JOIN_ROOM_BUTTON), _("Type the room's name in the box beside Join room (#redes, for "
                                             "instance), then press Enter."))
            return
        checked = check_room(typed, _("#ROOM"))  # the usage's placeholder, as the terminal says it
        if not isinstance(checked, str):
            self.app.alert(_(JOIN_ROOM_BUTTON), checked.message)
            return
        self.join_var.set("")
        client = self.app.client
        self._ask(lambda: client.join(checked), self._joined, _("Joining {room}").format(room=checked), about=checked)

    def _joined(self, info: Any) -> None:
        model = self.app.model
        if model is None:
            return
        key = model.room_joined(info)
        self.app.open_conversation(key)
        if self.app.root.focus_get() is self.join_entry:  # joined from the box: ready to write in
            self.app._focus_input()

    def fetch_mine(self) -> None:
        """List the rooms the server kept us in (``rooms`` with ``mine``), quiet ones too,
        without joining them: asked after each welcome (the login, each reconnection).
        A server older than that does not say (RequestFailed), and nothing is listed
        then: a room is listed when something comes from it (see the model's docstring)."""
        client = self.app.client
        if client is None or not client.rooms_supported:
            return
        if self.app.model is not None:
            self.app.model.rooms_asked()
        self._ask(lambda: client.rooms(mine=True), self._mine, "my rooms", on_error=lambda _what, _error: None)

    def _mine(self, entries: Any) -> None:
        if self.app.model is not None:
            self.app.model.rooms_listed(entries)
            self.app._render()

    def fetch_info(self, room: str) -> None:
        """What room ``room``, which we are in (the server sent us its posts), is like:
        a join of a room one is in answers its ``room_info`` and announces nothing
        (PROTOCOL.md, "join"), as the web page does for its rooms after a reconnection.
        The room stays listed if that fails."""
        client = self.app.client
        self._ask(lambda: client.join(room), self._info, "room info", on_error=lambda _what, _error: None)

    def _info(self, info: Any) -> None:
        if self.app.model is not None:
            self.app.model.room_joined(info)
            self.app._render()

    def leave(self) -> None:
        model, client = self.app.model, self.app.client
        if model is None or not is_room_key(model.active) or model.active not in model.rooms:
            return
        room = model.rooms[model.active].name
        model.leave_asked(room)  # no read mark nor typing notice for it until the answer

        def failed(what: str, error: BaseException) -> None:
            if not maybe_done(error) and self.app.model is not None:  # refused: still in it
                self.app.model.leave_not_done(room)
            self._failed(what, error, room)
        self._ask(lambda: client.leave(room), lambda _result: self._left(room), _("Leaving {room}").format(room=room),
                  on_error=failed)

    def _left(self, room: str) -> None:
        if self.app.model is not None:
            self.app.model.room_left(room)
            self.app.open_conversation(self.app.model.active)

    def fetch_members(self, room: str) -> None:
        client = self.app.client
        self._ask(lambda: client.members(room), lambda members: self._members(room, members),
                  _("The member list"), about=room)

    def _members(self, room: str, members: Any) -> None:
        if self.app.model is not None:
            self.app.model.set_members(room, members)
            self.app._render()

    def ask_topic(self) -> None:
        model = self.app.model
        if model is None or model.active not in model.rooms:
            return
        state = model.rooms[model.active]
        topic, prompt = state.topic, _("The topic of {room}:")
        while True:
            topic = simpledialog.askstring(_("Topic"), prompt.format(room=state.name, n=len(topic or ""),
                                                                     limit=const.MAX_TOPIC_CHARS),
                                           initialvalue=topic, parent=self.app.root)
            if topic is None:
                return
            if len(topic) <= const.MAX_TOPIC_CHARS:
                break
            # Longer than the server takes (it would refuse it, bad_field, in English): asked
            # again, the text kept to be shortened, as a message too long stays in the input box.
            prompt = _("The topic of {room} (at most {limit} characters; this one has {n}: shorten it):")
        self.act("topic", topic)

    def switch_mode(self) -> None:
        """The owner turned the invite-only switch: ask the server; the room's notice
        (``invite_only`` or ``public``) updates the model, and a refusal puts it back."""
        model, client = self.app.model, self.app.client
        if model is None or model.active not in model.rooms:
            return
        state, wanted = model.rooms[model.active], self.invite_only_var.get()
        room = state.name

        def failed(what: str, error: BaseException) -> None:
            self.invite_only_var.set(state.invite_only)
            self._failed(what, error, room)
        self._ask(lambda: client.set_mode(room, wanted), lambda _result: self.app._render(),
                  _("Invite only") if wanted else _("Public"), on_error=failed)

    def load_older(self) -> None:
        """Ask for the page of the open room older than what it shows."""
        model = self.app.model
        if model is not None and model.load_older(model.active):
            self.app._render()

    def ask_invite(self) -> None:
        model = self.app.model
        if model is None or model.active not in model.rooms:
            return
        name = simpledialog.askstring(_("Invite"), _("Who may join {room}?").format(room=model.rooms[model.active].name),
                                      parent=self.app.root)
        if name and name.strip():
            self.act("invite", name.strip())

    def ask_unban(self) -> None:
        """"Lift a ban…": whose, asked (the name banned here in this session offered,
        ChatModel.banned_in), then ``unban`` as an act; what came of it is said in the room."""
        model = self.app.model
        if model is None or model.active not in model.rooms:
            return
        name = simpledialog.askstring(_("Lift a ban"), _("Whose ban on {room} to lift?").format(
            room=model.rooms[model.active].name), initialvalue=model.banned_in(model.active), parent=self.app.root)
        if name and name.strip():
            self.act("unban", name.strip())

    def act(self, act: str, name: str) -> None:
        """Moderation act ``act`` (an ACTS entry, or "topic" with the text as ``name``) in
        the open room; the server announces it in the room, which the model shows."""
        model, client = self.app.model, self.app.client
        if model is None or model.active not in model.rooms:
            return
        room = model.rooms[model.active].name
        if act == "delete_post":
            msg_id = model.last_post_of(model.active, name)
            if msg_id is None:
                model.notice(model.active, _("No post of {name} is shown here to delete").format(name=sanitize(name)))
                self.app._render()
                return
            # The server announces it and tells every other session "deleted".
            key = model.active

            def done(_result: object) -> None:
                if self.app.model is not None:
                    self.app.model.deleted_by_us(key, msg_id)
                    self.app._render()

            self._ask(lambda: client.delete(msg_id), done, _(ACT_NAMES[act]))
            return
        calls = {
            "kick": lambda: client.kick(room, name),
            "ban": lambda: client.ban(room, name),
            "unban": lambda: client.unban(room, name),
            "mute": lambda: client.mute(room, name, MUTE_SECONDS),
            "unmute": lambda: client.unmute(room, name),
            "appoint": lambda: client.appoint(room, name, "moderator"),
            "dismiss": lambda: client.appoint(room, name, "member"),
            "topic": lambda: client.set_topic(room, name),
            "invite": lambda: client.invite(room, name),
        }
        # Said by its entry's name ("Put out of the room failed: ..."), not the terminal's
        # command. A refusal of an act on someone (not_member: they left meanwhile) is about
        # them, not the room: named by the error ("Vic is not in #redes"), or, from an older
        # server, in its words, as the terminal and the page say it.
        self._ask(calls[act], lambda _result: self._acted(room, act, name), _(ACT_NAMES[act]),
                  about=room if act == "topic" else None, act=None if act == "topic" else (act, name, room))

    def _acted(self, room: str, act: str, name: str) -> None:
        """The server took ``act`` on ``name`` in ``room``: the model remembers what it
        keeps of it and asks the member list again; an unban's outcome is said (the server
        announces none when there was no ban)."""
        model = self.app.model
        if model is None:
            return
        if act == "unban":
            model.ban_lifted(room_key(room), name)
        else:
            model.act_done(room, act, name)
        self.app._render()

    # --- The member menu -------------------------------------------------------------------

    def menu_items(self, name: str | None = None) -> list[str]:
        """The menu's entries for the open room: the acts, if we may moderate; else none.
        For member ``name``, Mute or Unmute as fits them (the model knows who is muted)."""
        model = self.app.model
        if model is None or not model.may_moderate(model.active):
            return []
        if name is None:
            return [act for act, _label in ACTS]
        skipped = {"mute" if model.is_muted(model.active, name) else "unmute"}
        return [act for act, _label in ACTS if act not in skipped]

    def _menu_at(self, event: Any) -> str:
        if event is not None:
            row = self.members.identify_row(event.y)
            if row:
                self.members.selection_set(row)
        selection = self.members.selection()
        items = self.menu_items(selection[0]) if selection else []
        if not items:
            return "break"
        name = selection[0]
        self.menu.delete(0, "end")
        for act, label in ACTS:
            if act in items:
                self.menu.add_command(label=_(label), command=lambda act=act: self.act(act, name))
        x = event.x_root if event is not None else self.members.winfo_rootx()
        y = event.y_root if event is not None else self.members.winfo_rooty()
        self.menu.tk_popup(x, y)
        return "break"
