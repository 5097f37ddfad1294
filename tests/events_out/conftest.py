"""The events feed's HTTP tests run against the API with businesses provisioned as the
platform's tests provision them (the same fixture, not a copy)."""

from tests.platform.conftest import platform

__all__ = ["platform"]
