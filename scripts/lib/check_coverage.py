"""Fail when any module of the integration is under its coverage floor.

Reads the JSON report pytest-cov writes; pytest-cov's own --cov-fail-under only checks the total.
"""

import json
from pathlib import Path
import sys

FLOOR = 95.0
# Flows are the users' first contact: every branch is tested.
FULL_COVERAGE = ("config_flow.py", "community_flow.py")


def main(report_path: str) -> int:
    """Print the modules under their floor and return the exit code."""
    files = json.loads(Path(report_path).read_text(encoding="utf-8"))["files"]
    failures = []
    for name, data in sorted(files.items()):
        percent = data["summary"]["percent_covered"]
        floor = 100.0 if name.endswith(FULL_COVERAGE) else FLOOR
        if percent < floor:
            failures.append(f"  {name}: {percent:.1f}% < {floor:.0f}%")
    if failures:
        print("Coverage below the floor:", *failures, sep="\n")
        return 1
    print(f"Coverage: every one of {len(files)} modules is at or above its floor.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
