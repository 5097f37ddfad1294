"""Why the platform refuses a change, in the domain's words; the CLI and HTTP pick the form."""

from __future__ import annotations


class PlatformError(Exception):
    """A platform change refused by a rule."""


class Invalid(PlatformError):
    """Inputs that break the rules, each as (field, problem): all of them, not the first."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{field}: {problem}" for field, problem in problems))
        self.problems = problems


class UnknownTenant(PlatformError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"no business {slug!r}")
        self.slug = slug


class SlugTaken(PlatformError):
    def __init__(self, slug: str) -> None:
        super().__init__(f"the slug {slug!r} is already another business's")
        self.slug = slug


class DidTaken(PlatformError):
    """The number is another business's (the message does not say whose)."""

    def __init__(self, did: str) -> None:
        super().__init__(f"{did} is already another business's number")
        self.did = did


class TokenNameTaken(PlatformError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a platform token named {name!r} already exists")


class UnknownToken(PlatformError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no active platform token named {name!r}")


class LinkNotValid(PlatformError):
    """A one-time link that is unknown, used already, expired, or whose user or business can
    no longer sign in: deliberately one message."""

    def __init__(self) -> None:
        super().__init__("this link is not valid: it was used already, has expired, or is unknown")


class LinkRefused(PlatformError):
    """An admin asked for a link the user's state does not allow (an invitation for a user
    who has a password already, a link for an inactive user)."""
