"""The auditor's command line: verify, balances, match and export, with no Home Assistant.

Installed as ``energy-tokens-ledger`` by ``pip install <this repository>``; ``python -m
energy_tokens_ledger`` and the project's ``scripts/ledger`` run the same.

Exit codes: 0 valid, 1 tampered or corrupt (or two ledgers whose transfers do not match), 2
bad arguments or an unreadable ledger.
"""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, datetime
from decimal import Decimal
import json
from pathlib import Path
import sys
from typing import TextIO

from .cosignature import WitnessKey, check_witnesses, parse_witness_key
from .entries import Entry
from .errors import LedgerError
from .keys import parse_public_key
from .layout import list_segments
from .match import match_ledgers
from .reader import HOUSEHOLD_LABEL, iter_entries, read_checkpoints, read_genesis, read_names
from .verify import VerifyResult, verify_ledger

EXIT_OK = 0
EXIT_TAMPERED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``energy-tokens-ledger`` (and ``scripts/ledger``)."""
    parser = _Parser(prog="ledger", description="Audit an Energy Tokens ledger directory.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    verify = commands.add_parser("verify", help="verify the chain, checksums and checkpoints")
    verify.add_argument("directory", type=Path)
    verify.add_argument(
        "--pubkey",
        type=Path,
        help="file holding the expected public key (verifier key, PEM or base64)",
    )
    verify.add_argument(
        "--checkpoint",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="checkpoints kept elsewhere (signed notes, as `checkpoint` prints them): the "
        "ledger must contain and extend each",
    )
    verify.add_argument(
        "--witness",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY",
        help="a witness's cosignature/v1 verifier key (name+id+base64), or a file holding one",
    )
    verify.add_argument(
        "--quorum",
        type=int,
        metavar="N",
        help="cosignatures the latest checkpoint needs from those witnesses (default: all)",
    )
    verify.add_argument(
        "--every-checkpoint",
        action="store_true",
        help="every checkpoint, not only the latest, needs the quorum",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    checkpoint = commands.add_parser(
        "checkpoint", help="print the latest signed checkpoint, to keep a copy elsewhere"
    )
    checkpoint.add_argument("directory", type=Path)
    balances = commands.add_parser("balances", help="verify, then print every account's balance")
    balances.add_argument("directory", type=Path)
    balances.add_argument("--pubkey", type=Path)
    balances.add_argument("--json", action="store_true", help="print the balances as JSON")
    match = commands.add_parser(
        "match",
        help="verify two households' ledgers, then match each side of the transfers between them",
    )
    match.add_argument("directory", type=Path)
    match.add_argument("other", type=Path, help="the other household's ledger directory")
    match.add_argument("--json", action="store_true", help="print the findings as JSON")
    export = commands.add_parser("export", help="print every entry")
    export.add_argument("directory", type=Path)
    export.add_argument("--format", choices=("csv", "jsonl"), default="jsonl")
    export.add_argument("--json", action="store_true", help="the same as --format jsonl")
    return parser


def tokens(milli: int) -> str:
    """Milli-tokens as a decimal token amount."""
    return str(Decimal(milli).scaleb(-3))


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the auditor; return its exit code."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    directory: Path = args.directory
    if not directory.is_dir():
        print(f"ledger: {directory} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    if not list_segments(directory):
        print(f"ledger: {directory} holds no ledger segments (*.seg)", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "export":
            return _export(directory, "jsonl" if args.json else args.format, out)
        if args.command == "checkpoint":
            return _checkpoint(directory, out)
        if args.command == "match":
            return _match(directory, args.other, out, as_json=args.json)
        public_key = None
        if args.pubkey is not None:
            public_key = parse_public_key(args.pubkey.read_text(encoding="utf-8"))
        kept = [path.read_text(encoding="utf-8") for path in getattr(args, "checkpoint", [])]
        witnesses = [_witness(text) for text in getattr(args, "witness", [])]
        result = verify_ledger(directory, public_key, kept)
        witnessed = None
        if witnesses and result.valid:
            quorum = len(witnesses) if args.quorum is None else args.quorum
            witnessed = check_witnesses(directory, witnesses, quorum, args.every_checkpoint)
    except BrokenPipeError:
        return EXIT_OK  # the reader (e.g. `head`) stopped listening
    except (OSError, ValueError, LedgerError) as err:
        print(f"ledger: cannot read {directory}: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "balances":
        try:  # names are read only from a ledger that verified
            names = read_names(directory) if result.valid else {}
        except (OSError, ValueError, LedgerError) as err:
            print(f"ledger: cannot read {directory}: {err}", file=sys.stderr)
            return EXIT_USAGE
        return _balances(result, names, out, as_json=args.json)
    problem = None if witnessed is None else witnessed.problem
    if args.json:
        document = result.as_dict()
        if witnessed is not None:
            document["witnessed"] = witnessed.as_dict()
        print(json.dumps(document), file=out)
    elif not result.valid:
        print(f"TAMPERED at entry {result.first_bad_seq}: {result.reason}", file=out)
    elif problem is not None:
        print(f"NOT WITNESSED: {problem}", file=out)
    else:
        print(f"OK {result.entries} entries, head {result.head}", file=out)
        if witnessed is not None:
            print(witnessed.summary, file=out)
    return EXIT_OK if result.valid and problem is None else EXIT_TAMPERED


def _match(directory: Path, other: Path, out: TextIO, *, as_json: bool) -> int:
    """Verify both ledgers, then match the transfers between their households."""
    if not other.is_dir() or not list_segments(other):
        print(f"ledger: {other} holds no ledger segments (*.seg)", file=sys.stderr)
        return EXIT_USAGE
    for path in (directory, other):
        result = verify_ledger(path)
        if not result.valid:
            print(f"TAMPERED {path} at entry {result.first_bad_seq}: {result.reason}", file=out)
            return EXIT_TAMPERED
    found = match_ledgers(
        (read_genesis(directory).household_id, iter_entries(directory)),
        (read_genesis(other).household_id, iter_entries(other)),
    )
    if as_json:
        print(json.dumps(found.as_dict()), file=out)
    elif found.problems:
        print("MISMATCH", file=out)
        for problem in found.problems:
            print(f"  {problem}", file=out)
    else:
        a, b = found.households
        print(f"MATCH {found.transfers} transfers between {a} and {b}", file=out)
        if found.in_flight:
            print(f"{len(found.in_flight)} in flight:", file=out)
        for line in found.in_flight:
            print(f"  {line}", file=out)
        if not found.in_flight:
            print(f"net: {tokens(found.net[0])} and {tokens(found.net[1])} tokens", file=out)
    return EXIT_OK if found.matches else EXIT_TAMPERED


def _witness(text: str) -> WitnessKey:
    """A witness key given as its vkey text, or as a file holding it."""
    path = Path(text)
    if "+" not in text and path.is_file():
        text = path.read_text(encoding="utf-8")
    return parse_witness_key(text)


def _checkpoint(directory: Path, out: TextIO) -> int:
    genesis = read_genesis(directory)
    checkpoints, _, _ = read_checkpoints(directory, genesis.public_key)
    if not checkpoints:
        print(f"ledger: {directory} holds no signed checkpoint yet", file=sys.stderr)
        return EXIT_TAMPERED
    print(checkpoints[-1].note, end="", file=out)
    return EXIT_OK


def _balances(result: VerifyResult, names: dict[str, str], out: TextIO, *, as_json: bool) -> int:
    if not result.valid:
        if as_json:
            print(json.dumps(result.as_dict()), file=out)
        else:
            print(f"TAMPERED at entry {result.first_bad_seq}: {result.reason}", file=out)
        return EXIT_TAMPERED
    household = names.get(HOUSEHOLD_LABEL, "")
    accounts = [
        {"account": account, "name": names.get(account, ""), "tokens": tokens(milli)}
        for account, milli in sorted(result.balances.items())
    ]
    if as_json:
        document = {"household": result.household_id, "name": household, "accounts": accounts}
        print(json.dumps(document, ensure_ascii=False), file=out)
        return EXIT_OK
    print(f"household {result.household_id}" + (f" ({household})" if household else ""), file=out)
    account_width = max([len("account")] + [len(row["account"]) for row in accounts])
    name_width = max([len("name")] + [len(row["name"]) for row in accounts])
    print(f"{'account':<{account_width}}  {'name':<{name_width}}  tokens", file=out)
    for row in accounts:
        print(
            f"{row['account']:<{account_width}}  {row['name']:<{name_width}}  {row['tokens']}",
            file=out,
        )
    return EXIT_OK


def _export(directory: Path, fmt: str, out: TextIO) -> int:
    """Every entry, with its accounts' names and its amount in tokens beside the raw fields."""
    names = read_names(directory)
    if fmt == "jsonl":
        for entry in iter_entries(directory):
            row = entry.as_dict() | _named(entry, names)
            print(json.dumps(row, ensure_ascii=False, sort_keys=True), file=out)
        return EXIT_OK
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in iter_entries(directory):
        row = entry.as_dict() | _named(entry, names)
        writer.writerow(
            [
                row["seq"],
                row["ts_ms"],
                row["time"],
                row["kind"],
                row["from"] or "",
                row["from_name"] or "",
                row["to"] or "",
                row["to_name"] or "",
                row["amount_tokens"],
                row["cause"],
                json.dumps(row["data"], sort_keys=True, ensure_ascii=False) if row["data"] else "",
                row["hash"],
            ]
        )
    return EXIT_OK


# The amount is in tokens with three decimals (exact: the ledger counts milli-tokens); the time
# is UTC, beside the raw epoch milliseconds the entry records.
CSV_COLUMNS = [
    "seq",
    "ts_ms",
    "time",
    "kind",
    "from",
    "from_name",
    "to",
    "to_name",
    "amount_tokens",
    "cause",
    "data",
    "hash",
]


def _named(entry: Entry, names: dict[str, str]) -> dict[str, str | None]:
    def name(account: str | None) -> str | None:
        return None if account is None else names.get(account)

    return {
        "time": datetime.fromtimestamp(entry.ts_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        "from_name": name(entry.from_account),
        "to_name": name(entry.to_account),
        "amount_tokens": tokens(entry.amount),
    }
