"""The widgets that show the model: a conversation pane and the contact list.

Both are drawn incrementally from the model's :class:`~client.gui.model.Change` records:
a new message is one insert at the end of its pane, a delivery state change replaces the
few characters between two marks, a presence change updates one row of the list. Nothing
is redrawn whole, so a burst of messages costs the same per message at the thousandth as
at the first.

Text from the network goes into widgets only as arguments of ``insert`` (never inside a
Tcl script) after :func:`~client.gui.model.clean_text` replaced control and format
characters, so no message can run Tcl code or disturb the display.
"""

from __future__ import annotations

import itertools
import tkinter as tk
from tkinter import ttk

from i18n import _

from ..display import DayBreaks, day_label, format_clock
from .colors import BACKGROUNDS, COLORS
from .model import NOBODY, OFFLINE, ROOM, ROOM_TITLE, UNKNOWN, ChatModel, Line, cut_to_fit, is_room_key

_marks = itertools.count(1)


# Tk wraps a Text's words at spaces only: a label's own spaces made no-break ones.
NO_BREAK = "\u00a0"


def unbroken(label: str) -> str:
    """A delivery label as drawn: each of its parts ("✓ sent", "read by 2") kept on one
    line, by no-break spaces; a wrap may still come between parts, at " · ". A wrap
    inside one left "✓" at a line's end, or "1" of "lida por 1" alone under the time."""
    return " · ".join(part.replace(" ", NO_BREAK) for part in label.split(" · "))


class ConversationPane(ttk.Frame):
    """One conversation: a read-only Text with a scrollbar. Call :meth:`begin` before and
    :meth:`end` after a batch of changes (they unlock the widget, and scroll to the newest
    line if the user was looking at the bottom)."""

    def __init__(self, master: tk.Misc, key: str, fonts: dict[str, object]) -> None:
        super().__init__(master, style="Pane.TFrame")
        self.key = key
        self.rowconfigure(0, weight=1)
        self.columnconfigure(0, weight=1)
        # Out of Tk's own Tab order (the hidden panes would be in it): the window's has the
        # open one (ChatApp.tab_order), and its ring shows where the keys are.
        self.text = tk.Text(self, wrap="word", state="disabled", takefocus=0, font=fonts["text"],
                            padx=10, pady=8, spacing1=2, spacing3=2, borderwidth=0, highlightthickness=2,
                            highlightcolor="#2563eb", highlightbackground=BACKGROUNDS["pane"],
                            background=BACKGROUNDS["pane"], foreground="#111827", cursor="arrow",
                            selectbackground="#bfdbfe", inactiveselectbackground="#dbeafe")
        # Read-only, it shows no cursor, so the keys that would move one scroll it (Ctrl+C
        # still copies what the mouse selected, as Tk's Text does).
        for sequence, amount, what in (("<Up>", -1, "units"), ("<Down>", 1, "units"),
                                       ("<Prior>", -1, "pages"), ("<Next>", 1, "pages")):
            self.text.bind(sequence, lambda e, amount=amount, what=what: self._scroll(amount, what))
        for sequence, where in (("<Home>", 0.0), ("<Control-Home>", 0.0), ("<End>", 1.0), ("<Control-End>", 1.0)):
            self.text.bind(sequence, lambda e, where=where: self._scroll_to(where))
        scroll = ttk.Scrollbar(self, orient="vertical", command=self.text.yview)
        self.text.configure(yscrollcommand=scroll.set)
        self.text.grid(row=0, column=0, sticky="nsew")
        scroll.grid(row=0, column=1, sticky="ns")
        indent = fonts["text"].measure("00:00  ")
        self.text.tag_configure("meta", foreground=COLORS["meta"], font=fonts["small"])
        self.text.tag_configure("me", foreground=COLORS["me"], font=fonts["bold"])
        self.text.tag_configure("them", foreground=COLORS["them"], font=fonts["bold"])
        self.text.tag_configure("body", lmargin2=indent)
        self.text.tag_configure("cont", lmargin1=indent, lmargin2=indent)  # lines after a typed newline
        self.text.tag_configure("notice", foreground=COLORS["notice"], font=fonts["italic"], justify="center")
        self.text.tag_configure("old", foreground="#4b5563")
        self.text.tag_configure("day", foreground=COLORS["meta"], font=fonts["bold"], justify="center", spacing1=8)
        for state in ("sending", "sent", "queued", "delivered", "failed"):
            self.text.tag_configure("state-" + state, foreground=COLORS[state], font=fonts["small"])
        self.text.mark_set("ins", "1.0")
        # id(line) -> (line, start mark, end mark) around the delivery state of each of our
        # messages: by the line itself, not its request_id, since our messages sent from
        # another device (carbons, history, room posts) have none and their state moves too.
        # The line is held so that its id cannot be reused while the marks are.
        self._labels: dict[int, tuple[Line, str, str]] = {}
        # The tag over each of our messages -> its line (the message menu finds it by a click).
        self._own: dict[str, Line] = {}
        self._follow = True
        # Day separators (client.display.DayBreaks: the terminal's and the page's rule): the
        # bottom's, for lines appended; every label's marks (start -> end, the time it names),
        # said again when a new day begins ("Today" becomes "Yesterday"); the top line's time
        # and its label's start mark, which an older page put above it takes away or sets anew.
        self._days = DayBreaks()
        self._rules: dict[str, tuple[str, float]] = {}
        self._top: tuple[float, str | None] | None = None

    # --- Batches ------------------------------------------------------------------------

    def begin(self) -> None:
        self._follow = self.text.yview()[1] >= 0.999
        self.text.configure(state="normal")

    def end(self) -> None:
        self.text.configure(state="disabled")
        if self._follow:
            self.text.see("end")

    # --- Drawing ------------------------------------------------------------------------

    def append(self, line: Line) -> None:
        """Draw ``line`` below everything, under its day's name if its day is not the last
        line's (or, the first line, not today)."""
        self.text.mark_set("ins", "end-1c")
        day = self._days.before(line.at)
        if day is not None:
            self._relabel()
        rule = None if day is None else self._draw_day(day, line.at)
        if self._top is None:
            self._top = (line.at, rule)
        self._draw(line)

    def prepend(self, lines: tuple[Line, ...], paged: bool = False) -> None:
        """Draw ``lines`` above everything, with the names of their days; the line that was
        on top keeps a name above it only if its day is not the last of these lines'.
        ``paged`` (the user asked for older ones): show the top, where they are, rather
        than follow the newest."""
        if not lines:
            return
        self.text.mark_set("ins", "1.0")
        days, top = DayBreaks(), None
        for index, line in enumerate(lines):
            day = days.before(line.at)
            rule = None if day is None else self._draw_day(day, line.at)
            if index == 0:
                top = (line.at, rule)
            self._draw(line)
        if self._top is None:  # nothing shown before: the bottom goes on from these lines' last day
            self._days.before(lines[-1].at)
        else:
            was_at, was_rule = self._top
            if was_rule is not None:
                end, _at = self._rules.pop(was_rule)
                self.text.delete(was_rule, end)
                self.text.mark_unset(was_rule, end)
            day = days.before(was_at)
            if day is not None:
                self._draw_day(day, was_at)
        self._top = top
        if paged:
            self.show_top()

    def _draw_day(self, label: str, at: float) -> str:
        """Insert the name of ``at``'s day on its own centred line at the ``ins`` mark;
        return its start mark. The start mark moves with what is put before it (right
        gravity: an older page above), the end stays before the line drawn after it (left)."""
        start = self.text.index("ins")
        self.text.insert("ins", label + "\n", ("day",))
        n = next(_marks)
        self.text.mark_set(f"ds{n}", start)
        self.text.mark_gravity(f"ds{n}", "right")
        self.text.mark_set(f"de{n}", "ins")
        self.text.mark_gravity(f"de{n}", "left")
        self._rules[f"ds{n}"] = (f"de{n}", at)
        return f"ds{n}"

    def _relabel(self) -> None:
        """Say every day's name as it is now (a new day began since some were drawn: the
        window was open at midnight)."""
        for start, (end, at) in self._rules.items():
            label = day_label(at)
            if self.text.get(start, end) != label + "\n":
                where = self.text.index(start)
                self.text.delete(start, end)
                self.text.insert(where, label + "\n", ("day",))
                self.text.mark_set(start, where)
                self.text.mark_set(end, f"{where} + {len(label) + 1} chars")

    def show_top(self) -> None:
        """Show the oldest lines (an older page the user asked for), not the newest."""
        self._follow = False
        self.text.see("1.0")

    def _draw(self, line: Line) -> None:
        """Insert ``line`` and a newline at the ``ins`` mark (which moves past them)."""
        text = self.text
        if line.kind == "notice":
            text.insert("ins", f"{format_clock(line.at)} · {line.text}\n", ("notice",))
            return
        if line.kind == "out":
            own = f"own{next(_marks)}"
            self._own[own] = line
            start = text.index("ins")
            self._draw_message(line)
            text.tag_add(own, start, "ins")
            return
        self._draw_message(line)

    def _draw_message(self, line: Line) -> None:
        text = self.text
        body = ("body", "old") if line.old else ("body",)
        first, newline, rest = line.shown_text.partition("\n")
        text.insert("ins", format_clock(line.at) + "  ", ("meta", "body"),
                    (_("You") if line.kind == "out" else line.sender), ("me" if line.kind == "out" else "them", "body"),
                    ": " + first, body, newline + rest, body + ("cont",))
        if line.kind == "out" and line.state is not None:
            text.insert("ins", "   ", body)
            n = next(_marks)
            start, stop = f"s{n}", f"e{n}"
            # [start]label[stop]\n: start stays left of what is inserted at it, stop
            # moves right of it, so set_state can delete and insert between them.
            text.mark_set(start, "ins")
            text.mark_gravity(start, "left")
            text.insert("ins", unbroken(line.label), ("state-" + line.state, "body"), "\n", ())
            text.mark_set(stop, "ins - 1 chars")
            text.mark_gravity(stop, "right")
            self._labels[id(line)] = (line, start, stop)
            return
        text.insert("ins", "\n")

    def set_state(self, line: Line) -> None:
        """Replace the delivery state shown for our message ``line`` (any of ours drawn
        with a state: sent here or from another device)."""
        found = self._labels.get(id(line))
        if found is None or found[0] is not line:
            return
        _line, start, stop = found
        self.text.delete(start, stop)
        self.text.insert(start, unbroken(line.label), ("state-" + (line.state or "sent"), "body"))

    def redraw(self, lines: list[Line]) -> None:
        """Draw every line again (a message was edited or deleted)."""
        self.text.delete("1.0", "end")
        for _line, *marks in self._labels.values():
            self.text.mark_unset(*marks)
        self._labels.clear()
        if self._own:
            self.text.tag_delete(*self._own)
            self._own.clear()
        for start, (end, _at) in self._rules.items():
            self.text.mark_unset(start, end)
        self._rules.clear()
        self._days, self._top = DayBreaks(), None
        for line in lines:
            self.append(line)

    def own_line_at(self, x: int, y: int) -> Line | None:
        """Our message drawn at pixel ``x``, ``y`` of the text (a click's), if any."""
        index = self.text.index(f"@{x},{y}")
        for tag in self.text.tag_names(index):
            if tag in self._own:
                return self._own[tag]
        return None

    def content(self) -> str:
        """The text shown, as read (a label's no-break spaces as spaces: :func:`unbroken`)."""
        return self.text.get("1.0", "end-1c").replace(NO_BREAK, " ")

    def labels_cut(self) -> list[str]:
        """The delivery labels that wrapping put on two display lines (for tests)."""
        cut = []
        for line, start, stop in self._labels.values():
            counted = self.text.count(start, stop, "update", "displaylines")
            if (counted[0] if isinstance(counted, tuple) else counted):
                cut.append(line.label)
        return cut

    def scroll_pages(self, pages: int) -> None:
        self.text.yview_scroll(pages, "pages")

    def _scroll(self, amount: int, what: str) -> str:
        self.text.yview_scroll(amount, what)
        return "break"

    def _scroll_to(self, fraction: float) -> str:
        self.text.yview_moveto(fraction)
        return "break"


class ContactList(ttk.Frame):
    """The room and the users, with presence and unread counts (a ttk.Treeview: arrow
    keys move through it natively). ``on_select(key)`` runs when the selection changes."""

    def __init__(self, master: tk.Misc, fonts: dict[str, object], on_select) -> None:
        super().__init__(master, style="Side.TFrame", padding=(8, 8, 4, 8))
        self._on_select = on_select
        self.rowconfigure(1, weight=1)
        self.columnconfigure(0, weight=1)
        ttk.Label(self, text=_("Conversations"), style="SideHeading.TLabel").grid(row=0, column=0, sticky="w",
                                                                              pady=(0, 6))
        self.tree = ttk.Treeview(self, show="tree", columns=("unread",), selectmode="browse",
                                 style="Contacts.Treeview")
        self.tree.column("#0", width=170, stretch=True)
        self.tree.column("unread", width=44, stretch=False, anchor="e")
        # Created first: of two tags that set a colour, the one created first wins.
        self.tree.tag_configure("blocked", foreground=COLORS["failed"])
        self.tree.tag_configure("room", foreground="#111827")
        self.tree.tag_configure("online", foreground="#111827")
        self.tree.tag_configure("offline", foreground=COLORS["offline"])
        self.tree.tag_configure("unknown", foreground=COLORS["offline"])
        self.tree.tag_configure(NOBODY, foreground=COLORS["offline"])
        self.tree.tag_configure("unread", font=fonts["bold"])
        self.tree.grid(row=1, column=0, sticky="nsew")
        self.tree.bind("<<TreeviewSelect>>", self._selected)
        self._fonts = fonts
        self._model: ChatModel | None = None
        self._width = 0  # the tree's width the rows were cut for (_fit)
        self.tree.bind("<Configure>", self._resized, add="+")
        self._shown: dict[str, tuple] = {}
        size = max(9, round(fonts["default"].metrics("linespace") * 0.6))
        self._dots = {"room": _dot(self, "#2563eb", size), "online": _dot(self, COLORS["online"], size),
                      "offline": _dot(self, "#9ca3af", size, ring=True), UNKNOWN: _dot(self, "#9ca3af", size)}
        self._dots[NOBODY] = self._dots["offline"]  # not online; the row's words say why

    def refresh(self, model: ChatModel) -> None:
        """Make the rows match the model: order, presence, unread counts."""
        self._model = model
        self._width = self.tree.winfo_width()
        order = model.contact_order()
        wanted = set(order)
        for key in list(self._shown):
            if key not in wanted:
                self.tree.delete(key)
                del self._shown[key]
        for index, key in enumerate(order):
            unread = model.unread(key)
            presence = model.presence(key)
            if key == ROOM or is_room_key(key):  # cut as a person's name is: "#TurmaDeRedesDeComp…"
                text, tags = self._fit("{name}", _(ROOM_TITLE) if key == ROOM else model.title(key), bool(unread)), \
                    ["room"]
            else:
                contact = model.contacts[key]
                if model.is_blocked(key):
                    # The ring says offline: "(offline, blocked)" would not fit the column.
                    text = self._fit(_("{name}  (blocked)"), contact.name, bool(unread))
                    tags = ["blocked", presence]
                else:
                    form = _("{name}  (offline)") if presence == OFFLINE else \
                        _("{name}  (unknown)") if presence == NOBODY else "{name}"
                    text = self._fit(form, contact.name, bool(unread))
                    tags = [presence]
            # Grey dots while disconnected: what we knew of presence may no longer be true.
            dot = UNKNOWN if presence == UNKNOWN else tags[-1]
            image = self._dots[dot]
            if unread:
                tags.append("unread")
            row = (text, str(unread) if unread else "", tuple(tags), dot)
            if key not in self._shown:
                self.tree.insert("", index, iid=key, text=row[0], values=(row[1],), tags=row[2], image=image)
            else:
                if self._shown[key] != row:
                    self.tree.item(key, text=row[0], values=(row[1],), tags=row[2], image=image)
                if self.tree.index(key) != index:
                    self.tree.move(key, "", index)
            self._shown[key] = row
        self.show_active(model)

    def _fit(self, form: str, name: str, bold: bool) -> str:
        """A row: ``form`` ("{name}  (blocked)") with ``name`` (a person's or a room's), the
        name cut short with "…" (cut_to_fit: between whole characters) so that the row
        stays within the column, and what the form says of them on screen: a long name hid
        "(blocked)" past the column's edge, and a long room's name was clipped there, in
        the middle of a letter. Whole before the list is laid out."""
        before, _name, after = form.partition("{name}")
        width = self._width
        if width <= 1:
            return f" {before}{name}{after}"
        font = self._fonts["bold" if bold else "default"]
        # What the row leaves its text: less the unread column, the indent, the dot, padding.
        room = width - int(self.tree.column("unread", "width")) - 20 - self._dots["room"].width() - 6
        return cut_to_fit(f" {before}{name}", room, font.measure, after) or f" {before}{name[:1]}…{after}"

    def _resized(self, event: tk.Event) -> None:
        if self._model is not None and event.width != self._width:
            self.refresh(self._model)

    def show_active(self, model: ChatModel) -> None:
        """Select the row of the conversation on screen (opened by a key, Ctrl+1…9 or
        Ctrl+R, as well as by a click), so the list never marks another one."""
        if model.active in self._shown and self.tree.selection() != (model.active,):
            self.tree.selection_set(model.active)
            self.tree.focus(model.active)
            self.tree.see(model.active)

    def rows(self) -> list[dict[str, object]]:
        """What the list shows, top to bottom (for the test hook)."""
        return [{"key": key, "text": self.tree.item(key, "text"), "unread": self.tree.set(key, "unread"),
                 "tags": list(self.tree.item(key, "tags")), "dot": self._shown[key][3],
                 "selected": key in self.tree.selection()}
                for key in self.tree.get_children()]

    def _selected(self, _event: object) -> None:
        selection = self.tree.selection()
        if selection:
            self._on_select(selection[0])


def _dot(master: tk.Misc, color: str, size: int, ring: bool = False) -> tk.PhotoImage:
    """A small round presence marker (a ring for offline), as an image for tree rows."""
    image = tk.PhotoImage(master=master, width=size + 4, height=size)
    r = (size - 1) / 2
    for y in range(size):
        for x in range(size):
            d = ((x - r) ** 2 + (y - r) ** 2) ** 0.5
            if d <= r + 0.3 and (not ring or d >= r - 1.4):
                image.put(color, to=(x, y))
    return image
