"""The screen-pop token and the installation secret that signs it: generated per
installation, stored, the same in every process, never a shipped constant."""

from __future__ import annotations

import hmac
import os
import stat
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import pytest
from redis.asyncio import Redis

from agi_scripts import pop_token
from agi_scripts.pop_token import (
    PURPOSE,
    Keyed,
    PopTokenError,
    PopTokenMismatch,
    PopTokens,
    VouchedCaller,
    check,
    sign,
)
from pbx.bootstrap import build_services, check_dependencies
from pbx.installation_secret import (
    REDIS_CACHE_S,
    REDIS_KEY,
    RELOAD_EVERY_S,
    FileSecret,
    MemorySecret,
    RedisSecret,
    SecretError,
    derive,
)
from pbx.settings import SettingsError, load_settings

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
KEY = b"k" * 32
SARA = VouchedCaller(tenant_id=7, uniqueid="1795430000.42", customer_id=1234)


def test_a_token_says_which_business_vouched_for_the_caller_and_customer() -> None:
    token = sign(KEY, SARA, int(NOW.timestamp()) + 60)
    assert check(KEY, token, SARA.uniqueid, SARA.customer_id, NOW) == 7


# Fixed keys (the parameters' ids must be the same in every test worker): empty, one block,
# exactly a block, one byte over (hashed down first), much longer, every byte value.
@pytest.mark.parametrize("key", [b"", b"k" * 32, b"k" * 64, bytes(range(65)),
                                 bytes(range(256)) * 2 + b"x"],
                         ids=["empty", "32", "64", "65", "513"])  # fmt: skip
def test_the_mac_with_the_key_prepared_once_is_hmac_sha256_of_the_fields(key: bytes) -> None:
    expires = int(NOW.timestamp()) + 60
    fields = f"7\x00{SARA.uniqueid}\x001234\x00{expires}".encode()
    assert Keyed(key).hexdigest(fields) == hmac.new(key, fields, sha256).hexdigest()
    mac = hmac.new(key, fields, sha256).hexdigest()[:32]
    assert sign(key, SARA, expires) == sign(Keyed(key), SARA, expires) == f"7.{expires}.{mac}"


@pytest.mark.parametrize(
    ("uniqueid", "customer_id"), [("1795430000.43", 1234), ("1795430000.42", 1235),
                                  ("1795430000.42", None)],
)  # fmt: skip
def test_a_token_is_worth_nothing_for_another_caller_or_customer(
    uniqueid: str, customer_id: int | None
) -> None:
    token = sign(KEY, SARA, int(NOW.timestamp()) + 60)
    with pytest.raises(PopTokenMismatch):
        check(KEY, token, uniqueid, customer_id, NOW)


def test_a_token_for_another_business_or_expiry_does_not_verify() -> None:
    tenant, expires, mac = sign(KEY, SARA, int(NOW.timestamp()) + 60).split(".")
    for forged in (f"8.{expires}.{mac}", f"{tenant}.{int(expires) + 3600}.{mac}"):
        with pytest.raises(PopTokenMismatch):
            check(KEY, forged, SARA.uniqueid, SARA.customer_id, NOW)
    with pytest.raises(PopTokenMismatch):
        check(b"x" * 32, sign(KEY, SARA, int(expires)), SARA.uniqueid, SARA.customer_id, NOW)


def test_an_expired_or_malformed_token_is_refused() -> None:
    expired = sign(KEY, SARA, int(NOW.timestamp()))
    for token in (expired, "", "7.1.xyz", "7." + "1" * 5000 + ".00", "٧.1.00"):
        with pytest.raises(PopTokenError):
            check(KEY, token, SARA.uniqueid, SARA.customer_id, NOW)


async def test_a_token_from_a_secret_another_process_made_verifies_after_one_reload() -> None:
    issuer = MemorySecret()
    token = await PopTokens(issuer).issue(SARA, NOW)

    class Outdated(MemorySecret):  # cached an older secret; the store now holds the issuer's
        reloads = 0

        async def reload(self) -> bytes:
            self.reloads += 1
            self.value = issuer.value
            return self.value

    checker = Outdated()
    assert await PopTokens(checker).verify(token, SARA.uniqueid, SARA.customer_id, NOW) == 7
    assert checker.reloads == 1


async def test_tokens_are_signed_with_the_secret_as_it_is_now_when_it_changes() -> None:
    secret = MemorySecret()
    tokens = PopTokens(secret)
    before = await tokens.issue(SARA, NOW)
    secret.value = os.urandom(32)  # a Redis that lost its data: a new installation secret
    after = await tokens.issue(SARA, NOW)
    assert after != before
    assert check(derive(secret.value, PURPOSE), after, SARA.uniqueid, SARA.customer_id, NOW) == 7


async def test_the_key_is_derived_once_per_secret_not_once_per_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    derived: list[bytes] = []

    def counting(secret: bytes, purpose: str) -> bytes:
        derived.append(secret)
        return derive(secret, purpose)

    monkeypatch.setattr(pop_token, "derive", counting)
    tokens = PopTokens(MemorySecret())
    issued = [await tokens.issue(SARA, NOW) for _ in range(3)]
    assert await tokens.verify(issued[0], SARA.uniqueid, SARA.customer_id, NOW) == 7
    assert len(derived) == 1


async def test_the_file_secret_is_generated_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ledgerline.secret"
    first = await FileSecret(path).get()
    again = await FileSecret(path).get()  # the next start, or a second process on this host

    assert first == again and len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["ledgerline.secret"]  # no drafts left


async def test_two_installations_get_different_secrets(tmp_path: Path) -> None:
    one = await FileSecret(tmp_path / "a" / "s").get()
    two = await FileSecret(tmp_path / "b" / "s").get()
    assert one != two


@pytest.mark.parametrize("content", ["", "ledgerline-sandbox", "ab" * 16 + "\n" + "zz"])
async def test_a_secret_file_that_we_did_not_generate_is_refused(
    tmp_path: Path, content: str
) -> None:
    path = tmp_path / "s"
    path.write_text(content)
    with pytest.raises(SecretError):
        await FileSecret(path).get()


async def test_every_process_sharing_redis_gets_the_same_secret(redis: Redis) -> None:
    one = await RedisSecret(redis).get()
    two = await RedisSecret(redis).get()
    assert one == two and len(one) == 32
    assert bytes.fromhex((await redis.get(REDIS_KEY)).decode()) == one


async def test_a_redis_that_lost_the_secret_gets_a_new_one_that_every_process_reads(
    redis: Redis,
) -> None:
    now = [0.0]
    checker = RedisSecret(redis, clock=lambda: now[0])
    old = await checker.get()
    await redis.flushdb()  # Redis restarted without persistence
    new = await RedisSecret(redis).get()  # a process that starts now makes a new one
    now[0] += RELOAD_EVERY_S

    assert new != old
    assert await checker.reload() == new
    now[0] += REDIS_CACHE_S
    assert await checker.get() == new


async def test_serve_generates_the_secret_on_first_start_and_refuses_one_it_did_not_make(
    tmp_path: Path,
) -> None:
    def services_with(secret_file: Path):  # type: ignore[no-untyped-def]
        return build_services(load_settings(environ={
            "LEDGERLINE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'll.db'}",
            "LEDGERLINE_SERVICE_SECRET_FILE": str(secret_file),
        }))  # fmt: skip

    fresh = services_with(tmp_path / "var" / "ledgerline.secret")
    try:
        await check_dependencies(fresh, require_schema=False)
    finally:
        await fresh.close()
    assert len(bytes.fromhex((tmp_path / "var" / "ledgerline.secret").read_text())) == 32

    shipped = tmp_path / "shipped.secret"
    shipped.write_text("ledgerline-sandbox\n")
    refused = services_with(shipped)
    try:
        with pytest.raises(SettingsError, match=r"service\.secret_file"):
            await check_dependencies(refused, require_schema=False)
    finally:
        await refused.close()
