"""The events feed's HTTP tests run against the API with businesses provisioned as the
platform's tests provision them, and its call tests in the call-flow tests' world (the same
fixtures, not copies)."""

from tests.callflow.conftest import world
from tests.platform.conftest import platform

__all__ = ["platform", "world"]
