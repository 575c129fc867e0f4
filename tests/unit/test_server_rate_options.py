"""The rate limits refuse what is no limit: a rate of zero or less would refuse every
request forever (and the token bucket would divide by zero), infinity none."""

import logging
import re
from pathlib import Path

import pytest

import chatserver
import const
import overrides
from server.config import ServerConfig


@pytest.mark.parametrize("field", ["rate_per_connection", "rate_per_address", "bytes_per_connection",
                                   "login_checks_per_second"])
@pytest.mark.parametrize("value", [0.0, -3.0, float("inf"), float("nan")])
def test_a_rate_that_is_no_limit_is_refused_naming_the_setting(field, value):
    with pytest.raises(ValueError, match=f"^{field} is a number per second, more than 0, not "):
        ServerConfig(**{field: value})


@pytest.mark.parametrize("option", ["--rate-per-connection", "--rate-per-address"])
def test_the_server_says_why_it_cannot_start_and_exits_2(option, caplog):
    caplog.set_level(logging.ERROR)
    assert chatserver.main([option, "0", "--memory", "--port", "0", "--web-port", "0"]) == 2
    assert f"cannot start: {option[2:].replace('-', '_')} is a number per second, more than 0, not 0 " \
           f"({option} or" in caplog.text


def test_const_py_s_rate_is_checked_too(monkeypatch):
    """What const.py gives is not converted by argparse: the config checks it."""
    monkeypatch.setattr(const, "RATE_PER_CONNECTION", 0.0)
    with pytest.raises(ValueError, match="RATE_PER_CONNECTION in const.py"):
        chatserver.config_from(chatserver.parse_args([]))


def test_a_rate_from_the_settings_file_is_said_to_come_from_it(monkeypatch):
    """README tells an operator to put settings in const_local.py: the refusal names that
    file, not const.py, which they did not touch."""
    settings = Path("/etc/chat/const_local.py")
    monkeypatch.setattr(const, "RATE_PER_CONNECTION", 0.0)
    monkeypatch.setattr(const, "LOCAL_SETTINGS", overrides.Applied(settings, ("RATE_PER_CONNECTION",)))
    with pytest.raises(ValueError, match=re.escape(f"RATE_PER_CONNECTION in {settings})")):
        chatserver.config_from(chatserver.parse_args([]))


def test_a_positive_rate_feeds_the_config():
    config = chatserver.config_from(chatserver.parse_args(["--rate-per-connection", "0.3",
                                                           "--rate-per-address", "7"]))
    assert (config.rate_per_connection, config.burst_per_connection) == (0.3, 0.6)
    assert (config.rate_per_address, config.burst_per_address) == (7.0, 14.0)


@pytest.mark.parametrize("rate, burst", [("RATE_PER_CONNECTION", "BURST_PER_CONNECTION"),
                                         ("RATE_PER_ADDRESS", "BURST_PER_ADDRESS")])
def test_a_burst_set_in_const_py_counts(monkeypatch, rate, burst):
    """An operator who edits a burst in const.py (or the settings file) gets that burst,
    with or without a rate on the command line; without a burst of their own, a rate on
    the command line brings twice itself."""
    field = burst.lower()
    assert getattr(chatserver.config_from(chatserver.parse_args([])), field) == getattr(const, burst)
    option = f"--{rate.lower().replace('_', '-')}"
    assert getattr(chatserver.config_from(chatserver.parse_args([option, "7"])), field) == 14.0
    monkeypatch.setattr(const, burst, 3 * getattr(const, burst))
    assert getattr(chatserver.config_from(chatserver.parse_args([])), field) == getattr(const, burst)
    assert getattr(chatserver.config_from(chatserver.parse_args([option, "7"])), field) == getattr(const, burst)


def test_a_burst_named_in_the_settings_file_counts_even_at_twice_the_rate(monkeypatch):
    settings = Path("/etc/chat/const_local.py")
    monkeypatch.setattr(const, "LOCAL_SETTINGS", overrides.Applied(settings, ("BURST_PER_CONNECTION",)))
    config = chatserver.config_from(chatserver.parse_args(["--rate-per-connection", "7"]))
    assert (config.rate_per_connection, config.burst_per_connection) == (7.0, const.BURST_PER_CONNECTION)


def test_a_rate_set_in_const_py_keeps_const_py_s_burst(monkeypatch):
    monkeypatch.setattr(const, "RATE_PER_ADDRESS", 50.0)
    config = chatserver.config_from(chatserver.parse_args([]))
    assert (config.rate_per_address, config.burst_per_address) == (50.0, const.BURST_PER_ADDRESS)
