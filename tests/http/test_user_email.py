"""A user's email address: set by an admin when creating or changing the user, checked as
the customer import checks a customer's, audited with the change, shown in the listing."""

from __future__ import annotations

from sqlalchemy import select

from pbx.db.models import AuditEntry, User
from tests.http.conftest import Site
from tests.http.support import ApiClient

DANA = {"username": "dana", "display_name": "Dana Levi", "role": "admin"}


async def test_an_admin_sets_a_user_s_address_and_it_is_listed_and_audited(
    admin: ApiClient, site: Site
) -> None:
    status, made = await admin.call("POST", "/agents", DANA | {"email": "dana@ofek.example"})
    assert status == 201 and made["email"] == "dana@ofek.example"
    status, changed = await admin.call("PUT", f"/agents/{made['id']}",
                                       DANA | {"email": "dana.levi@ofek.example"})  # fmt: skip
    assert status == 200 and changed["email"] == "dana.levi@ofek.example"

    _, listed = await admin.call("GET", "/agents")
    assert {u["username"]: u["email"] for u in listed["items"]} == {
        "boss": None, "dana": "dana.levi@ofek.example"}  # fmt: skip
    async with site.world.database.tenant_session(site.world.tenant_id) as session:
        stored = await session.scalar(select(User.email).where(User.id == made["id"]))
        audit = list(await session.scalars(select(AuditEntry).where(
            AuditEntry.action.like("agent.%")).order_by(AuditEntry.id)))  # fmt: skip
    assert stored == "dana.levi@ofek.example"
    assert [(e.action, e.details["email"]) for e in audit] == [
        ("agent.create", "dana@ofek.example"),
        ("agent.update", "dana.levi@ofek.example"),
    ]


async def test_a_user_changed_without_an_address_has_none(admin: ApiClient) -> None:
    _, made = await admin.call("POST", "/agents", DANA | {"email": "dana@ofek.example"})
    status, changed = await admin.call("PUT", f"/agents/{made['id']}", DANA)
    assert status == 200 and changed["email"] is None


BAD_ADDRESSES = [
    "dana", "dana@ofek", "dana@@ofek.example", "dana levi@ofek.example", " dana@ofek.example",
    "dana@ofek.example\u202e", "dana\x00@ofek.example", "d" * 250 + "@ofek.example", "",
    5, True,
]  # fmt: skip


async def test_a_bad_address_is_a_422_naming_the_field_and_changes_nothing(
    admin: ApiClient, site: Site
) -> None:
    _, made = await admin.call("POST", "/agents", DANA | {"email": "dana@ofek.example"})
    for address in BAD_ADDRESSES:
        another = DANA | {"username": "dana2", "email": address}
        status, error = await admin.call("POST", "/agents", another)
        assert status == 422, address
        assert [d["field"] for d in error["error"]["details"]] == ["email"], address
        status, _ = await admin.call("PUT", f"/agents/{made['id']}", DANA | {"email": address})
        assert status == 422, address
        _, read = await admin.call("GET", f"/agents/{made['id']}")
        assert read["email"] == "dana@ofek.example", address
    _, listed = await admin.call("GET", "/agents")
    assert "dana2" not in {u["username"] for u in listed["items"]}
