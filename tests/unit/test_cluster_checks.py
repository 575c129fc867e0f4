"""server/cluster/checks.py: what a node makes of Redis's settings, at start and while it
runs (pure)."""

from __future__ import annotations

import pytest

from server.cluster.checks import SettingsWatch, eviction_verdict

ADDRESS = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_a_limit_with_an_allkeys_policy_is_refused_naming_the_policy_and_the_fix(policy):
    verdict = eviction_verdict(ADDRESS, "104857600", policy)
    assert verdict.level == "refuse"
    assert policy in verdict.text and "noeviction" in verdict.text and ADDRESS in verdict.text


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_a_limit_with_a_volatile_policy_is_a_warning(policy):
    verdict = eviction_verdict(ADDRESS, "104857600", policy)
    assert verdict.level == "warn" and policy in verdict.text and "noeviction" in verdict.text


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "noeviction"])
def test_no_limit_evicts_nothing_whatever_the_policy(policy):
    assert eviction_verdict(ADDRESS, "0", policy).level == "info"


def test_a_limit_with_noeviction_is_said_not_warned():
    verdict = eviction_verdict(ADDRESS, "104857600", "noeviction")
    assert verdict.level == "info" and "unavailable" in verdict.text


def test_settings_that_could_not_be_read_are_a_warning_not_a_refusal():
    for values in ((None, None), ("0", None), (None, "noeviction")):
        verdict = eviction_verdict(ADDRESS, *values)
        assert verdict.level == "warn" and "cannot read" in verdict.text


def test_settings_that_could_not_be_read_say_redis_s_answer():
    verdict = eviction_verdict(ADDRESS, None, None, why="NOPERM this user has no permissions to run 'config|get'")
    assert "NOPERM" in verdict.text


SAFE = {"appendonly": "yes", "appendfsync": "always", "maxmemory": "0", "maxmemory-policy": "noeviction"}


def test_a_running_node_is_told_nothing_until_a_setting_changes():
    watch = SettingsWatch(ADDRESS)
    assert watch.read(SAFE) == []  # the first reading: the start said its own
    assert watch.read(dict(SAFE)) == []


def test_a_weaker_sync_set_while_the_node_runs_is_a_warning_once_and_its_return_is_said():
    watch = SettingsWatch(ADDRESS)
    watch.read(SAFE)
    [said] = watch.read({**SAFE, "appendfsync": "everysec"})
    assert said.level == "warn" and "changed" in said.text and "about the last second" in said.text
    assert watch.read({**SAFE, "appendfsync": "everysec"}) == []  # once, not at every reading
    [back] = watch.read(SAFE)
    assert back.level == "info" and "again" in back.text


def test_an_evicting_policy_set_while_the_node_runs_is_an_error_naming_the_fix():
    watch = SettingsWatch(ADDRESS)
    watch.read(SAFE)
    [said] = watch.read({**SAFE, "maxmemory": "104857600", "maxmemory-policy": "allkeys-lru"})
    assert said.level == "error" and "allkeys-lru" in said.text and "noeviction" in said.text


def test_a_reading_that_fails_changes_nothing_and_says_nothing():
    watch = SettingsWatch(ADDRESS)
    watch.read(SAFE)
    assert watch.read({**SAFE, "appendfsync": None}) == []
    assert watch.read(SAFE) == []  # still as first read: no change to tell
    [said] = watch.read({**SAFE, "appendonly": "no"})
    assert said.level == "warn" and "appendonly no" in said.text
