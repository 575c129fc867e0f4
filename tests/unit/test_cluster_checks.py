"""server/cluster/checks.py: what a node makes of Redis's memory settings (pure)."""

from __future__ import annotations

import pytest

from server.cluster.checks import eviction_verdict

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
