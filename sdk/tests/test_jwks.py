"""The JWKS cache: Cache-Control lifetime, bounded single-flight refetch, offline, rotation."""

from __future__ import annotations

import asyncio
import time

import pytest
from support import FakeClock, FakeUserService, mint, user_claims

from quantagro_auth import AuthServiceUnavailable, JwksCache, TokenInvalid, verify_access_token
from quantagro_auth.jwks import cache_lifetime, parse_jwks

pytestmark = pytest.mark.anyio

JWKS_PATH = "/v1/.well-known/jwks.json"


def cache_for(service: FakeUserService, clock: FakeClock | None = None) -> JwksCache:
    return JwksCache(f"http://users.test{JWKS_PATH}", service.http(), clock=clock or FakeClock())


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=300", 300),
        ("max-age=60, must-revalidate", 60),
        ('max-age="120"', 120),
        ("max-age=1", 10),
        ("max-age=99999999", 86400),
        ("no-store", 10),
        ("public", 300),
        (None, 300),
        ("s-maxage=20", 300),
    ],
)
def test_cache_lifetime_follows_max_age_within_bounds(header, seconds):
    assert cache_lifetime(header) == seconds


def test_only_rsa_signature_keys_for_rs256_are_kept(keys):
    good = keys[0].jwk
    document = {
        "keys": [
            good,
            {**keys[1].jwk, "use": "enc"},
            {**keys[1].jwk, "alg": "RS512"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**keys[1].jwk, "kid": ""},
            {**keys[1].jwk, "kid": "broken", "n": "!!"},
            "garbage",
        ]
    }
    assert set(parse_jwks(document)) == {keys[0].kid}
    with pytest.raises(ValueError):
        parse_jwks({"keys": "nope"})


async def test_keys_are_cached_for_max_age_then_refetched(keys):
    service = FakeUserService(published=[keys[0]], jwks_cache_control="public, max-age=300")
    clock = FakeClock()
    cache = cache_for(service, clock)
    token = mint(keys[0], user_claims())
    for _ in range(20):
        await verify_access_token(token, cache)
    assert service.count(JWKS_PATH) == 1
    clock.advance(301)
    await verify_access_token(token, cache)  # served at once, refreshed in the background
    await asyncio.sleep(0.01)
    assert service.count(JWKS_PATH) == 2
    assert cache.fresh


async def test_fifty_concurrent_unknown_kids_make_one_request(keys):
    service = FakeUserService(published=[keys[0]], jwks_delay=0.05)
    clock = FakeClock()
    cache = cache_for(service, clock)
    await cache.load()
    clock.advance(11)
    service.published = [keys[0], keys[1]]  # rotation: the new key is published
    new_tokens = [mint(keys[1], user_claims()) for _ in range(50)]
    results = await asyncio.gather(*(verify_access_token(t, cache) for t in new_tokens))
    assert len(results) == 50
    assert service.count(JWKS_PATH) == 2  # the initial load + exactly one refetch


async def test_unknown_kids_refetch_at_most_once_per_ten_seconds(keys):
    service = FakeUserService(published=[keys[0]])
    clock = FakeClock()
    cache = cache_for(service, clock)
    await cache.load()
    forged = mint(keys[2], user_claims())  # a kid the issuer never publishes
    clock.advance(11)
    for _ in range(30):
        with pytest.raises(TokenInvalid):
            await verify_access_token(forged, cache)
        clock.advance(0.2)
    assert service.count(JWKS_PATH) == 2
    clock.advance(5)
    with pytest.raises(TokenInvalid):
        await verify_access_token(forged, cache)
    assert service.count(JWKS_PATH) == 3


async def test_an_unknown_kid_right_after_a_fetch_waits_for_the_interval(keys):
    service = FakeUserService(published=[keys[0]])
    clock = FakeClock()
    cache = cache_for(service, clock)
    await cache.load()
    service.published = [keys[0], keys[1]]
    token = mint(keys[1], user_claims())
    with pytest.raises(TokenInvalid):
        await verify_access_token(token, cache)
    clock.advance(10)
    assert await verify_access_token(token, cache)
    assert service.count(JWKS_PATH) == 2


async def test_cached_keys_keep_working_while_the_issuer_is_down(keys):
    service = FakeUserService(published=[keys[0]], jwks_cache_control="max-age=10")
    clock = FakeClock()
    cache = cache_for(service, clock)
    token = mint(keys[0], user_claims())
    await verify_access_token(token, cache)
    service.jwks_down = True
    for _ in range(5):
        clock.advance(30)
        assert await verify_access_token(token, cache)
        await asyncio.sleep(0)
    assert cache.kids == {keys[0].kid}
    assert service.count(JWKS_PATH) > 1  # it kept trying, and kept the old keys


async def test_no_keys_at_all_is_unavailable_not_invalid(keys):
    service = FakeUserService(published=[keys[0]], jwks_down=True)
    cache = cache_for(service)
    with pytest.raises(AuthServiceUnavailable):
        await verify_access_token(mint(keys[0], user_claims()), cache)
    with pytest.raises(AuthServiceUnavailable):
        await cache.load()


async def test_a_rotation_fails_no_verification(keys):
    """The service publishes the next key a cache lifetime before signing with it, and keeps
    the retired key until its tokens expire; verifiers never refuse a genuine token."""
    old, new = keys[0], keys[1]
    service = FakeUserService(published=[old], jwks_cache_control="max-age=300")
    clock = FakeClock()
    cache = cache_for(service, clock)
    now = int(time.time())
    failures = 0
    signer, timeline = old, []
    for step in range(0, 1500, 5):  # 25 minutes of traffic, a token every 5 s
        clock.now = 1000.0 + step
        if step == 100:
            service.published = [old, new]  # published first…
        if step == 500:
            signer = new  # …signs only after a full cache lifetime
        if step == 1200:
            service.published = [new]  # old tokens have expired by now
        timeline.append(mint(signer, user_claims(iat=now, exp=now + 900)))
        for token in timeline[-3:]:
            try:
                await verify_access_token(token, cache)
            except TokenInvalid:
                failures += 1
        await asyncio.sleep(0)
    assert failures == 0
    assert cache.kids == {new.kid}


async def test_a_key_rotation_without_pre_publication_costs_one_refetch(keys):
    old, new = keys[0], keys[1]
    service = FakeUserService(published=[old])
    clock = FakeClock()
    cache = cache_for(service, clock)
    await verify_access_token(mint(old, user_claims()), cache)
    clock.advance(30)
    service.published = [old, new]
    assert await verify_access_token(mint(new, user_claims()), cache)
    assert await verify_access_token(mint(old, user_claims()), cache)
    assert service.count(JWKS_PATH) == 2
