"""The window's colour table: the text colours and the backgrounds they are drawn on.

Plain data (no tkinter), so that a unit test can hold every pair to WCAG AA: text at
least 4.5:1 against each background it is shown on (the window's hint and sub-labels use
a small font, so the large-text allowance of 3:1 does not apply).
"""

from __future__ import annotations

# One grey for secondary text (times, notices, states on their way, people offline, the
# header's sub-label, the hint): the lightest that still reads 4.5:1 on the page's grey.
GREY = "#596170"

# Text colours (delivery states, names, notices, presence).
COLORS = {
    "meta": GREY,
    "me": "#1d4ed8",
    "them": "#065f46",
    "notice": GREY,
    "sending": GREY,
    "sent": GREY,
    "queued": "#b45309",
    "delivered": "#15803d",
    "failed": "#b91c1c",
    "online": "#15803d",
    "offline": GREY,
}

# Backgrounds: the page behind the header and the input box, the conversation panes and
# cards, the contact list.
BACKGROUNDS = {
    "page": "#f3f4f6",
    "pane": "#ffffff",
    "list": "#f9fafb",
}
# The sidebar and status bar: black text and headings only (SIDE_TEXT), no table colour.
SIDE = "#e5e7eb"
SIDE_TEXT = "#374151"
