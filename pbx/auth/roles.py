"""Roles and what each may do. A supervisor can do what an agent can; an admin what both can."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user behind a request."""

    user_id: int
    tenant_id: int
    username: str
    role: Role

    def at_least(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]

    @property
    def label(self) -> str:
        return f"{self.role.value}:{self.username}"
