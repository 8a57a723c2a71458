"""Summarise a JUnit XML file from the caldav library's functional tests.

Usage: python caldav_functional_summary.py RESULTS.xml [HEADER]

Prints counts, then one line per test: outcome, name and, for failures,
errors and skips, the first line of the reason. Two summaries diff line by
line, since the test names no longer carry the server's name.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

OUTCOMES = ("failure", "error", "skipped")


def outcome(case: ET.Element) -> tuple[str, str]:
    for tag in OUTCOMES:
        found = case.find(tag)
        if found is not None:
            reason = (found.get("message") or found.text or "").strip()
            return tag, reason.splitlines()[0] if reason else ""
    return "passed", ""


def main(path: str, header: str = "") -> None:
    cases = ET.parse(path).getroot().iter("testcase")
    rows = sorted((case.get("name", "?"), *outcome(case), float(case.get("time", 0))) for case in cases)
    counts = {name: sum(1 for row in rows if row[1] == name) for name in ("passed", *OUTCOMES)}
    if header:
        print(f"# {header}")
    print(
        f"# {counts['passed']} passed, {counts['failure']} failed, "
        f"{counts['error']} errors, {counts['skipped']} skipped "
        f"({len(rows)} tests, {sum(row[3] for row in rows):.0f} s)"
    )
    for name, result, reason, _ in rows:
        print(f"{result:8} {name}" + (f"  -- {reason[:300]}" if reason else ""))


if __name__ == "__main__":
    main(*sys.argv[1:3])
