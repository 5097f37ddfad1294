"""The Asterisk fixtures live in the project, unmodified since they were copied in."""

from __future__ import annotations

import hashlib

from tests.fixtures import ARI_SPEC, ASTERISK, CAPTURES

MANIFEST = ASTERISK / "SHA256SUMS"


def test_the_spec_and_the_captures_are_inside_the_project() -> None:
    assert (ASTERISK / "ari-spec" / "resources.json").is_file()
    assert len(list(ARI_SPEC.glob("*.json"))) == 11
    assert (CAPTURES / "fastagi-sessions.jsonl").is_file()
    assert len(list(CAPTURES.glob("ari-*.jsonl"))) == 4


def test_each_fixture_is_byte_for_byte_the_file_recorded_in_the_manifest() -> None:
    """Asterisk's API description and the captures are evidence: a fixture edited to make
    a test pass would hold the code to something Asterisk never said."""
    recorded = dict(
        reversed(line.split(maxsplit=1)) for line in MANIFEST.read_text().splitlines()
    )
    present = {
        path.relative_to(ASTERISK).as_posix()
        for folder in ("ari-spec", "captures")
        for path in (ASTERISK / folder).rglob("*")
        if path.is_file()
    }
    assert sorted(present) == sorted(recorded)
    for name, digest in recorded.items():
        assert hashlib.sha256((ASTERISK / name).read_bytes()).hexdigest() == digest, name
