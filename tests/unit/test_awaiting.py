"""server/awaiting.py: what a cluster node remembers its senders wait for, and its bound."""

from server.awaiting import Awaiting


def test_a_message_is_awaited_until_its_outcome_is_told():
    awaiting = Awaiting()
    awaiting.sent("ana", 7, "r-7")
    awaiting.sent("ana", 9, "r-9")
    awaiting.sent("bia", 8, "r-8")
    awaiting.told("ana", 7)
    awaiting.told("ana", 99)  # not awaited: nothing happens
    assert sorted(awaiting.all()) == [("ana", 9, "r-9"), ("bia", 8, "r-8")]
    awaiting.told("ana", 9)
    assert list(awaiting.all()) == [("bia", 8, "r-8")] and len(awaiting) == 1


def test_a_sender_who_left_is_forgotten_and_the_oldest_go_past_the_bound():
    awaiting = Awaiting(per_sender=2)
    for msg_id in (1, 2, 3):
        awaiting.sent("ana", msg_id, f"r-{msg_id}")
    awaiting.sent("bia", 4, "r-4")
    assert sorted(awaiting.all()) == [("ana", 2, "r-2"), ("ana", 3, "r-3"), ("bia", 4, "r-4")]
    awaiting.forget("ana")
    assert list(awaiting.all()) == [("bia", 4, "r-4")]


def test_the_list_is_a_copy_the_answers_may_change_it_meanwhile():
    awaiting = Awaiting()
    awaiting.sent("ana", 1, "r-1")
    awaiting.sent("ana", 2, "r-2")
    for key, msg_id, _request_id in awaiting.all():
        awaiting.told(key, msg_id)
    assert len(awaiting) == 0
