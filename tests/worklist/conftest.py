from tests.ingest.conftest import door  # noqa: F401  (the API over HTTP, no call flow)
