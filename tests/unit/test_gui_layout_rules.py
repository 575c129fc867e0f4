"""The rules by which the window's chat view yields to a small window (client/gui/layout.py):
where a room's member column goes, and how much of the keyboard hint is shown."""

from __future__ import annotations

import pytest

from client.gui.layout import BESIDE, HIDDEN, MEMBERS_WIDTH, MESSAGES_MIN, MESSAGES_MIN_HEIGHT, OVER, MemberColumn, \
    hint_form

WIDE = MEMBERS_WIDTH + MESSAGES_MIN  # the narrowest area with the column beside the messages


@pytest.mark.parametrize("area, where", [(WIDE + 400, BESIDE), (WIDE, BESIDE), (WIDE - 1, HIDDEN), (270, HIDDEN)])
def test_the_column_is_beside_the_messages_only_while_they_keep_their_width(area: int, where: str) -> None:
    assert MemberColumn().place(area) == where


def test_the_button_shows_the_column_over_the_messages_in_a_narrow_window_and_hides_it_again() -> None:
    column = MemberColumn()
    assert column.place(270) == HIDDEN
    assert column.toggle(270) == OVER
    assert column.place(280) == OVER  # a resize on the same side keeps what the button asked
    assert column.toggle(280) == HIDDEN


def test_the_button_hides_the_column_in_a_wide_window_and_shows_it_beside_again() -> None:
    column = MemberColumn()
    assert column.place(WIDE + 100) == BESIDE
    assert column.toggle(WIDE + 100) == HIDDEN
    assert column.place(WIDE + 300) == HIDDEN
    assert column.toggle(WIDE + 300) == BESIDE


def test_crossing_the_threshold_goes_back_to_what_the_width_says() -> None:
    """A drawer opened in a narrow window does not come back unasked after the window was
    wide; a column hidden in a wide window comes back beside after it was narrow."""
    column = MemberColumn()
    column.place(270)
    column.toggle(270)
    assert column.place(WIDE + 100) == BESIDE
    assert column.place(270) == HIDDEN
    column.toggle(270)
    column.toggle(270)
    column.place(WIDE + 100)
    column.toggle(WIDE + 100)
    assert column.place(WIDE + 100) == HIDDEN
    column.place(270)
    assert column.place(WIDE + 100) == BESIDE


@pytest.mark.parametrize("heights, room, form", [
    ([50, 20, 0], MESSAGES_MIN_HEIGHT + 50, 0),  # all of it
    ([110, 50, 0], MESSAGES_MIN_HEIGHT + 60, 1),  # its first line
    ([110, 50, 0], MESSAGES_MIN_HEIGHT + 10, 2),  # none
    ([110, 50, 0], 10, 2),  # not even the messages' least: none still
])
def test_the_hint_shows_the_longest_form_that_leaves_the_messages_room(heights: list[int], room: int,
                                                                        form: int) -> None:
    assert hint_form(heights, room) == form


def test_the_keyboard_hint_speaks_one_way_in_portuguese() -> None:
    """A newcomer reading the Portuguese hint under the input box met two voices: "Enter
    envia", "Ctrl+E edita" (what each key does), then "Ctrl+N escrever a alguém", "Ctrl+J
    entrar numa sala", "bloquear" (infinitives), and the right button named "clique com o
    botão direito" in one line and "clique direito" in the next. Every key does something,
    and the right button is named one way."""
    import i18n
    from client.gui.layout import hint_forms

    i18n.use("pt_BR")
    try:
        whole, first, none = hint_forms()
    finally:
        i18n.use("en")
    assert whole.startswith(first + "\n") and none == "" and whole.count("\n") == 2
    for infinitive in ("escrever", "entrar", "bloquear"):
        assert infinitive not in whole, whole
    assert "Ctrl+N escreve a alguém pelo nome · Ctrl+J entra numa sala" in whole, whole
    assert whole.count("clique com o botão direito") == 2 and "clique direito" not in whole, whole
    assert whole.endswith("bloqueia ou desbloqueia"), whole
