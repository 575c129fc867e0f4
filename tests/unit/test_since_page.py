"""``mailbox.since_page``: the page of a ``since`` walk and its cursor, as every store
cuts it (PROTOCOL.md, "since"). Pure function: entries in, page and cursor out."""

from __future__ import annotations

from server.mailbox import history_entry, since_page


def entries(*ids: int):
    return [history_entry(msg_id, "João", "Conceição", f"#{msg_id}", 1.0, "delivered", None, False) for msg_id in ids]


def test_more_than_a_page_found_ends_the_page_at_its_last_entry():
    page, cursor = since_page(entries(3, 5, 8), 2, 20, 20)
    assert [e.msg_id for e in page] == [3, 5] and cursor == 5


def test_exactly_a_page_found_by_a_walk_to_the_top_is_the_last_page():
    page, cursor = since_page(entries(3, 5), 2, 20, 20)
    assert [e.msg_id for e in page] == [3, 5] and cursor is None


def test_a_walk_that_stopped_short_of_the_top_goes_on_from_where_it_stopped():
    page, cursor = since_page(entries(3), 2, 12, 20)
    assert [e.msg_id for e in page] == [3] and cursor == 12
    assert since_page([], 2, 12, 20) == ([], 12)
