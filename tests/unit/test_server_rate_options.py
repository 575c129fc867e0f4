"""The rate limits' options refuse what is no limit: a rate of zero or less would refuse
every request forever (and the token bucket would divide by zero), infinity none."""

import pytest

import chatserver
import const


@pytest.mark.parametrize("option", ["--rate-per-connection", "--rate-per-address"])
@pytest.mark.parametrize("value", ["0", "-3", "inf", "nan"])
def test_a_rate_that_is_no_limit_is_refused_with_a_clear_error(option, value, capsys):
    with pytest.raises(SystemExit) as stopped:
        chatserver.parse_args([option, value])
    assert stopped.value.code == 2
    assert f"{option} is requests per second, more than 0, not " in capsys.readouterr().err


def test_const_py_s_rate_is_checked_too(monkeypatch, capsys):
    """What const.py gives is not converted by argparse, so it is checked after parsing."""
    monkeypatch.setattr(const, "RATE_PER_CONNECTION", 0.0)
    with pytest.raises(SystemExit):
        chatserver.parse_args([])
    assert "--rate-per-connection is requests per second, more than 0, not 0" in capsys.readouterr().err


def test_a_positive_rate_feeds_the_config():
    config = chatserver.config_from(chatserver.parse_args(["--rate-per-connection", "0.3",
                                                           "--rate-per-address", "7"]))
    assert (config.rate_per_connection, config.burst_per_connection) == (0.3, 0.6)
    assert (config.rate_per_address, config.burst_per_address) == (7.0, 14.0)
    assert const.RATE_PER_CONNECTION > 0 and const.RATE_PER_ADDRESS > 0
