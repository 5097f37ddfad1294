"""How much SQL the HTTP handler modules still hold: a count, per module, of `select(`,
`session.execute`, `session.get` and `.scalar(`/`.scalars(` in `pbx/http/*.py`, and of the
audit entries they write themselves (`audit(` or `record(session`) rather than a service.

Issue 16 asks that handlers hold no rules or SQL; this is a yardstick to read before and
after a change, not a test (a count of zero is a goal, not a rule a test could keep true).

    python tools/handler_sql.py            # the table
    python tools/handler_sql.py --total    # one number: every count added up
    python tools/handler_sql.py DIR        # another copy of pbx/http (e.g. an older commit's)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HANDLERS = Path(__file__).resolve().parent.parent / "pbx" / "http"
PATTERNS = {
    "select(": re.compile(r"\bselect\("),
    "session.execute": re.compile(r"\b\w*session\.execute\("),
    "session.get": re.compile(r"\b\w*session\.get\("),
    "scalar(s)": re.compile(r"\.scalars?\("),
    "audit entries": re.compile(r"^\s*audit\(|\brecord\(session", re.MULTILINE),
}


def counts(path: Path) -> dict[str, int]:
    text = path.read_text(encoding="utf-8")
    return {name: len(pattern.findall(text)) for name, pattern in PATTERNS.items()}


def main(argv: list[str]) -> int:
    folders = [Path(arg) for arg in argv if not arg.startswith("--")]
    folder = folders[0] if folders else HANDLERS
    rows = {path.name: counts(path) for path in sorted(folder.glob("*.py"))}
    total = sum(sum(row.values()) for row in rows.values())
    if "--total" in argv:
        print(total)
        return 0
    print(f"{'module':<20}" + "".join(f"{name:>17}" for name in PATTERNS))
    for name, row in rows.items():
        if any(row.values()):
            print(f"{name:<20}" + "".join(f"{row[key]:>17}" for key in PATTERNS))
    sums = {key: sum(row[key] for row in rows.values()) for key in PATTERNS}
    print(f"{'total':<20}" + "".join(f"{sums[key]:>17}" for key in PATTERNS))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
