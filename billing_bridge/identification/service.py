"""Caller identification: from a dialed number and a caller ID to who is calling.

The dialed number (DID) names the business; the caller ID, read in that business's region,
names the customer. A number shared by a household is `ambiguous`, not a guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from billing_bridge.identification.cache import IdentificationCache, NoCache
from billing_bridge.identification.directory import CustomerDirectory, TenantInfo
from billing_bridge.identification.model import (
    CallerIdentity,
    Identification,
    Match,
    NoMatchReason,
)
from billing_bridge.phones import CallerNumber, NumberProblem, normalise_caller_id

_REASON_FOR_PROBLEM = {
    NumberProblem.WITHHELD: NoMatchReason.WITHHELD,
    NumberProblem.MISSING: NoMatchReason.MISSING,
    NumberProblem.INVALID: NoMatchReason.INVALID,
}


@dataclass(frozen=True, slots=True)
class IdentifiedCaller:
    """The caller of a call to a known business: their number and who they are."""

    e164: str | None  # None when withheld, missing or not a number
    identity: CallerIdentity


class CallerIdentification:
    def __init__(
        self,
        directory: CustomerDirectory,
        cache: IdentificationCache,
        fallback_region: str,
        max_candidates: int = 10,
        default_tenant: str = "",
        did_ttl_seconds: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._directory = directory
        self._cache = cache
        self._fallback_region = fallback_region
        self._max_candidates = max_candidates
        self._default_tenant = default_tenant
        self._did_ttl = did_ttl_seconds
        self._clock = clock
        # DIDs change rarely and are read on every call: keep them briefly in process. When
        # one expires, the calls arriving meanwhile share one read of it (`_resolving`), not
        # one each; only the read registered there is kept (`forget_dids` empties it).
        self._tenants: dict[str, tuple[float, TenantInfo | None]] = {}
        self._resolving: dict[str, asyncio.Future[TenantInfo | None]] = {}

    @property
    def keeps_results(self) -> bool:
        """Whether a result may be handed out again (a cache keeps it): only then is what is
        derived from it worth keeping too. Without a cache every result is new."""
        return not isinstance(self._cache, NoCache)

    async def identify(
        self, caller_id: str | None, dialed: str | None, presentation: int | str | None = None
    ) -> Identification:
        tenant = await self.tenant_for(dialed)
        if tenant is None:
            return Identification.nobody(NoMatchReason.UNKNOWN_DID)
        caller = normalise_caller_id(caller_id, tenant.default_region, presentation)
        return await self._identify(tenant, caller)

    async def identify_caller(
        self, tenant: TenantInfo, caller_id: str | None, told: CallerIdentity | None = None
    ) -> IdentifiedCaller:
        """A call to `tenant`'s number (resolved once, by `tenant_for`): the caller's number,
        normalised once, and who they are: as caller-lookup `told` (its LL_* variables), or
        looked up here when it did not run (ARI-only setups): the same typed value."""
        caller = normalise_caller_id(caller_id, tenant.default_region)
        if told is None:
            told = (await self._identify(tenant, caller)).identity()
        return IdentifiedCaller(caller.e164, told)

    async def _identify(self, tenant: TenantInfo, caller: CallerNumber) -> Identification:
        if caller.e164 is None:
            reason = _REASON_FOR_PROBLEM[caller.problem or NumberProblem.INVALID]
            return Identification.nobody(reason, tenant.tenant_id)
        cached = await self._cache.get(tenant.tenant_id, caller.e164)
        if cached is not None:
            return cached
        result = await self._look_up(tenant, caller.e164)
        await self._cache.put(tenant.tenant_id, caller.e164, result)
        return result

    async def warm(self) -> None:
        """Before the first caller: what a first lookup would set up, done. The database
        connections open with the lookups' statements prepared on each
        (`CustomerDirectory.warm`), the dialled number's statement compiled, and the
        cache's connection open (for a number no business has)."""
        await self._directory.warm()
        await self._directory.tenant_for_did("+0", self._fallback_region)
        await self._cache.get(0, "+0")

    async def forget_numbers(self, tenant_id: int, numbers: Iterable[str]) -> None:
        """Call after a customer's numbers, accounts or invoices change."""
        await self._cache.forget(tenant_id, numbers)

    async def close(self) -> None:
        await self._cache.close()

    def forget_dids(self) -> None:
        self._tenants.clear()
        self._resolving.clear()  # reads begun before this are neither shared nor kept

    async def tenant_for(self, dialed: str | None) -> TenantInfo | None:
        key = (dialed or "").strip()
        hit = self._tenants.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        reading = self._resolving.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._resolve(key))
            self._resolving[key] = reading
            reading.add_done_callback(lambda done: self._finished(key, done))
        # Shielded: a call that hangs up cancels its own wait, not the read the others share.
        return await asyncio.shield(reading)

    async def _resolve(self, key: str) -> TenantInfo | None:
        tenant = None
        if key and key.lower() != "unknown":
            tenant = await self._directory.tenant_for_did(key, self._fallback_region)
        if tenant is None and self._default_tenant:
            tenant = await self._directory.tenant_by_slug(self._default_tenant)
        if self._resolving.get(key) is asyncio.current_task():  # not forgotten meanwhile
            if len(self._tenants) > 10_000:  # garbage DIDs must not grow this without bound
                self._tenants.clear()
            self._tenants[key] = (time.monotonic() + self._did_ttl, tenant)
        return tenant

    def _finished(self, key: str, reading: asyncio.Future[TenantInfo | None]) -> None:
        if self._resolving.get(key) is reading:
            del self._resolving[key]
        if not reading.cancelled():
            reading.exception()  # a failed read is each waiter's error, never "never retrieved"

    async def _look_up(self, tenant: TenantInfo, e164: str) -> Identification:
        candidates, profile = await self._directory.owners_of(
            tenant, e164, self._max_candidates, self._today(tenant)
        )
        if not candidates:
            return Identification.nobody(NoMatchReason.NOT_FOUND, tenant.tenant_id, e164)
        if len(candidates) > 1:
            return Identification(
                Match.AMBIGUOUS, e164, tenant.tenant_id, candidates=tuple(candidates)
            )
        return Identification(Match.UNIQUE, e164, tenant.tenant_id, customer=profile)

    def _today(self, tenant: TenantInfo) -> date:
        """An invoice is overdue from the day after its due date in the business's time zone."""
        return self._clock().astimezone(ZoneInfo(tenant.timezone)).date()
