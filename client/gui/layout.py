"""How the chat view yields to a small window: where a room's member column goes, and how
much of the keyboard hint is shown. The rules, in pixels, with no tkinter (unit-tested).

The column (the room's buttons, then its members) has a fixed modest width. It sits beside
the messages while the conversation's area is wide enough to leave them
:data:`MESSAGES_MIN` pixels, as in a desktop chat app; in a narrower window (half a laptop
screen, the minimum size) it is hidden, and the header's Members button shows it over the
right of the messages, as a drawer, so that the messages and the input box never get
squeezed to a sliver. The button's choice holds until the window crosses that width;
then the column goes back to what the width says (a drawer opened in a narrow window does
not come back unasked after the window was wide, nor does a column hidden in a wide one).
"""

from __future__ import annotations

from i18n import _

# The member column's width, its left margin included (pixels): "Lúcia (moderator)", the
# Portuguese "Mensagens anteriores" button, "Topic…" and "Invite…" side by side.
MEMBERS_WIDTH = 200
# The least the messages keep beside the column: lines of a few words each.
MESSAGES_MIN = 320

BESIDE, OVER, HIDDEN = "beside", "over", "hidden"


class MemberColumn:
    """Where the member column goes in a conversation area ``width`` pixels wide (the
    column's and the messages' together), given what the Members button asked."""

    def __init__(self) -> None:
        self.wanted: bool | None = None  # the button's choice: shown or not; None: as the width says
        self._wide: bool | None = None  # which side of the threshold the last width was

    def place(self, width: int) -> str:
        """:data:`BESIDE`, :data:`OVER` or :data:`HIDDEN` for an area ``width`` wide."""
        wide = width - MEMBERS_WIDTH >= MESSAGES_MIN
        if wide != self._wide:  # crossed the threshold: as the width says again
            self._wide, self.wanted = wide, None
        shown = wide if self.wanted is None else self.wanted
        if not shown:
            return HIDDEN
        return BESIDE if wide else OVER

    def toggle(self, width: int) -> str:
        """The Members button pressed: show the column if it is hidden, else hide it;
        return where it goes now."""
        self.wanted = self.place(width) == HIDDEN
        return self.place(width)


# The least height the messages keep under the keyboard hint below the input box: a few
# lines. A short window (the minimum, 380 px) shows fewer lines of the hint instead.
MESSAGES_MIN_HEIGHT = 120


def hint_form(heights: list[int], room: int) -> int:
    """Which form of the hint to show: the index of the first of ``heights`` (the forms'
    heights as wrapped, the longest form first) that leaves the messages
    :data:`MESSAGES_MIN_HEIGHT` of ``room`` (the height they and the hint share); the last
    form (the shortest: none) when none does."""
    for index, height in enumerate(heights):
        if room - height >= MESSAGES_MIN_HEIGHT:
            return index
    return len(heights) - 1


def hint_forms() -> tuple[str, str, str]:
    """The keyboard hint's forms, longest first (:func:`hint_form` picks one): its three
    lines (the keys for writing, for changing one's messages, for the list), the first
    line alone, none. In the window's language; in Portuguese every key "does" something
    (third person, as "Enter envia"), and the right button is named one way."""
    first = _("Enter sends · Shift+Enter new line · Ctrl+1…9 or Alt+↑/↓ switch conversation · Ctrl+R reply · "
              "Esc: list")
    changes = _("Ctrl+E edit your last message · Ctrl+Delete delete it · right click: edit or delete any of yours")
    others = _("Ctrl+N write to someone by name · Ctrl+J join a room · right click or Shift+F10 on a person in the "
               "list: block or unblock")
    return "\n".join((first, changes, others)), first, ""
