"""Numeric settings no server can run with are refused at start, naming the setting and
where it is set (server/config.py, ServerConfig.__post_init__), not met later: a presence
damping of 0 changes or a 0 s window or settle turns the damping off in silence (or holds
everyone), NaN never compares, a 0 s heartbeat pings in a loop."""

import math
import re
from pathlib import Path

import pytest

import const
import overrides
from server.config import ServerConfig

BAD_NUMBERS = [0.0, -1.0, math.nan, math.inf]
SECONDS = ["presence_flap_window", "presence_settle", "heartbeat_interval", "heartbeat_timeout",
           "release_probe", "login_timeout", "frame_timeout", "queue_ttl", "history_retention"]
COUNTS = ["presence_flap_changes", "max_connections", "max_outgoing_bytes", "max_pending_receipts",
          "max_bad_frames"]


@pytest.mark.parametrize("field", SECONDS)
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_a_duration_of_no_time_or_no_number_is_refused(field, value):
    with pytest.raises(ValueError, match=f"^{field} is a number of seconds, more than 0, not "):
        ServerConfig(**{field: value})


@pytest.mark.parametrize("field", COUNTS)
@pytest.mark.parametrize("value", [0, -2, 1.5, math.nan, True])
def test_a_count_below_one_or_not_whole_is_refused(field, value):
    with pytest.raises(ValueError, match=f"^{field} is a whole number, at least 1, not "):
        ServerConfig(**{field: value})


BURSTS = ["burst_per_connection", "burst_per_address", "login_checks_burst", "room_post_burst",
          "late_receipts_burst_per_address", "acks_burst_per_connection", "acks_burst_per_address",
          "bytes_burst_per_connection", "read_bytes_burst_per_connection"]


@pytest.mark.parametrize("field", BURSTS)
@pytest.mark.parametrize("value", BAD_NUMBERS)
def test_a_burst_of_nothing_or_no_number_is_refused(field, value):
    """A token bucket charges a cost above its burst as the burst (server/limits.py): a
    burst of 0 lets every request through, as NaN or infinity does: no limit at all."""
    with pytest.raises(ValueError, match=f"^{field} is a number, more than 0, not "):
        ServerConfig(**{field: value})


def test_the_floor_s_burst_may_be_under_one_which_turns_the_floor_off():
    assert ServerConfig(burst_floor_per_connection=0.0).burst_floor_per_connection == 0.0
    for value in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="^burst_floor_per_connection is a number, 0 or more, not "):
            ServerConfig(burst_floor_per_connection=value)


@pytest.mark.parametrize("field", ["presence_room_limit", "max_watched", "max_blocked", "guest_hold",
                                   "account_resume_ttl", "login_failure_delay", "edit_window", "typing_interval"])
def test_zero_stays_a_setting_where_it_means_none(field):
    """A presence room limit of 0 tells only watchers, a guest hold of 0 holds no name...:
    0 is a choice there, a negative number or NaN is not."""
    assert getattr(ServerConfig(**{field: 0}), field) == 0
    with pytest.raises(ValueError, match=f"^{field} is .*, 0 or more, not "):
        ServerConfig(**{field: -1})
    with pytest.raises(ValueError, match=f"^{field} is "):
        ServerConfig(**{field: math.nan})


def test_the_refusal_names_const_py_or_the_settings_file(monkeypatch):
    with pytest.raises(ValueError, match=re.escape("not 0 (PRESENCE_FLAP_CHANGES in const.py)")):
        ServerConfig(presence_flap_changes=0)
    settings = Path("/etc/chat/const_local.py")
    monkeypatch.setattr(const, "LOCAL_SETTINGS", overrides.Applied(settings, ("PRESENCE_SETTLE",)))
    with pytest.raises(ValueError, match=re.escape(f"not nan (PRESENCE_SETTLE in {settings})")):
        ServerConfig(presence_settle=math.nan)


def test_the_defaults_and_the_tests_small_values_pass():
    ServerConfig()
    ServerConfig(presence_flap_changes=2, presence_flap_window=60.0, presence_settle=1.5, heartbeat_interval=0.05,
                 frame_timeout=0.3, max_outgoing_bytes=8, queue_ttl=0.3, guest_hold=0.0, presence_room_limit=0)
