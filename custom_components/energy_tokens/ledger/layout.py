"""Names of the files in a ledger directory."""

from __future__ import annotations

from pathlib import Path

CHECKPOINTS_FILE = "checkpoints.log"
VERIFIER_KEY_FILE = "public.vkey"
SEGMENT_SUFFIX = ".seg"


def segment_name(first_seq: int) -> str:
    """File name of the segment whose first entry is ``first_seq``."""
    return f"{first_seq:016d}{SEGMENT_SUFFIX}"


def segment_first_seq(path: Path) -> int:
    """The first entry of a segment, from its name (-1 when the name is not a number)."""
    stem = path.name.removesuffix(SEGMENT_SUFFIX)
    return int(stem) if stem.isdigit() else -1


def list_segments(directory: Path) -> list[Path]:
    """The segment files of a ledger directory, in order."""
    return sorted(directory.glob(f"*{SEGMENT_SUFFIX}"))
