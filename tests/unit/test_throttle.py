"""Failure backoff (livepatch_app/throttle.py) and the login/token throttling built on it
(livepatch_app/auth_throttle.py), on a fake clock."""

import pytest

from livepatch_app.auth_throttle import ADMIN_SOURCE, ADMIN_USER, CLIENT_SOURCE, AuthThrottle, Throttled, source_key
from livepatch_app.throttle import Backoff, Policy, Recent


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


POLICY = Policy(free=3, base=1.0, cap=8.0, forget=60.0)


def fail(backoff, key):
    assert backoff.begin(key) == 0
    return backoff.fail(key)


def test_free_failures_then_exponential_backoff_up_to_the_cap(clock):
    backoff = Backoff(POLICY, max_keys=100, clock=clock)
    assert [fail(backoff, "k") for _ in range(2)] == [0, 0]
    delays = []
    for _ in range(6):
        delays.append(fail(backoff, "k"))
        assert backoff.begin("k") == pytest.approx(delays[-1])  # refused while it lasts
        clock.advance(delays[-1])
    assert delays == [1, 2, 4, 8, 8, 8]  # bounded


def test_success_resets(clock):
    backoff = Backoff(POLICY, max_keys=100, clock=clock)
    for _ in range(3):
        fail(backoff, "k")
    clock.advance(1)
    assert backoff.begin("k") == 0
    backoff.succeed("k")
    assert [fail(backoff, "k") for _ in range(3)] == [0, 0, 1]


def test_idle_keys_are_forgotten(clock):
    backoff = Backoff(POLICY, max_keys=100, clock=clock)
    for _ in range(5):
        fail(backoff, "k")
        clock.advance(10)
    clock.advance(61)
    assert [fail(backoff, "k") for _ in range(3)] == [0, 0, 1]


def test_one_probe_at_a_time_once_failing(clock):
    """Parallel guesses cannot slip through between the check and the failure."""
    backoff = Backoff(POLICY, max_keys=100, clock=clock)
    fail(backoff, "k")
    assert backoff.begin("k") == 0
    assert backoff.begin("k") == 0
    assert backoff.begin("k") == 1.0  # 1 failure + 2 in flight: the allowance is used up
    backoff.abandon("k")
    backoff.abandon("k")
    for _ in range(2):
        fail(backoff, "k")
    clock.advance(1)
    assert backoff.begin("k") == 0
    assert backoff.begin("k") > 0  # after a block, one attempt at a time


def test_a_clean_key_is_not_limited_in_parallel(clock):
    backoff = Backoff(POLICY, max_keys=100, clock=clock)
    assert [backoff.begin("k") for _ in range(10)] == [0] * 10
    for _ in range(10):
        backoff.succeed("k")
    assert backoff.begin("k") == 0


def test_memory_is_bounded(clock):
    backoff = Backoff(POLICY, max_keys=50, clock=clock)
    for i in range(10_000):
        fail(backoff, f"user-{i}")
    assert len(backoff) == 50
    recent = Recent(max_keys=20, ttl=60, clock=clock)
    for i in range(1000):
        recent.add(i)
    assert len(recent) == 20 and 999 in recent and 0 not in recent
    clock.advance(61)
    assert 999 not in recent


# --- the policies of the server --------------------------------------------------------------


def test_per_source_limits_weigh_more_than_per_user_ones():
    assert ADMIN_SOURCE.free < ADMIN_USER.free
    assert ADMIN_USER.cap <= 60 < ADMIN_SOURCE.cap
    assert CLIENT_SOURCE.free > ADMIN_SOURCE.free  # whole fleets behind one NAT


def admin_failures(guard, source, user, count):
    for _ in range(count):
        attempt = guard.begin("admin", source, user)
        attempt.failed()


def test_an_attacker_elsewhere_does_not_lock_out_a_source_that_logged_in_before(clock):
    guard = AuthThrottle(clock=clock)
    guard.begin("admin", "10.0.0.1", "admin").succeeded()  # the admin, earlier
    # Attackers from many addresses, a few guesses each: the per-user limit trips.
    for n in range(40):
        try:
            admin_failures(guard, f"203.0.113.{n}", "admin", 1)
        except Throttled:
            pass
    with pytest.raises(Throttled) as caught:
        guard.begin("admin", "198.51.100.1", "admin")
    assert 0 < caught.value.retry_after <= ADMIN_USER.cap
    # The admin's own source is not held by the per-user limit.
    guard.begin("admin", "10.0.0.1", "admin").succeeded()


def test_a_source_is_throttled_for_every_user_name(clock):
    guard = AuthThrottle(clock=clock)
    admin_failures(guard, "203.0.113.5", "a", ADMIN_SOURCE.free)
    with pytest.raises(Throttled) as caught:
        guard.begin("admin", "203.0.113.5", "b")
    assert caught.value.retry_after == pytest.approx(ADMIN_SOURCE.base)
    guard.begin("admin", "203.0.113.6", "a").succeeded()  # another source: not held
    # Client tokens are counted apart: a fleet's stale machines never block the admin.
    for _ in range(CLIENT_SOURCE.free):
        guard.begin("client", "198.51.100.7").failed()
    with pytest.raises(Throttled):
        guard.begin("client", "198.51.100.7")
    guard.begin("admin", "198.51.100.7", "admin").succeeded()


def test_a_refused_user_check_releases_the_source_attempt(clock):
    guard = AuthThrottle(clock=clock)
    admin_failures(guard, "203.0.113.1", "admin", 3)
    admin_failures(guard, "203.0.113.2", "admin", 3)
    admin_failures(guard, "203.0.113.3", "admin", 4)  # the user's 10th failure
    for _ in range(20):
        with pytest.raises(Throttled):
            guard.begin("admin", "198.51.100.9", "admin")
    # Those refusals left nothing in flight for the source: it has its full allowance.
    clock.advance(ADMIN_USER.base)
    for _ in range(ADMIN_SOURCE.free):
        guard.begin("admin", "198.51.100.9", "someone-else").failed()


def test_ipv6_sources_count_per_64():
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert source_key("203.0.113.5") == "203.0.113.5"
    assert source_key("") == ""


def test_free_failures_option_scales_every_counter():
    from livepatch_app.auth_throttle import AuthThrottle
    from livepatch_app.config import load_config

    assert load_config(None, environ={}).auth_throttle_free_failures == 5
    throttle = AuthThrottle(free_failures=50)
    assert (throttle.admin_sources.policy.free, throttle.admin_users.policy.free,
            throttle.client_sources.policy.free) == (50, 100, 200)
    default = AuthThrottle()
    assert (default.admin_sources.policy.free, default.admin_users.policy.free,
            default.client_sources.policy.free) == (5, 10, 20)
