"""Appends batches forever, printing each durable seq; the crash test SIGKILLs it.

It imports the installed package, not the integration: importing the integration would load
Home Assistant, and the child must be writing within milliseconds of its start.
"""

from pathlib import Path
import random
import sys

from energy_tokens_ledger import Cause, CauseKind, Kind, Ledger, load_or_create_signing_key

directory, key_file, seed = sys.argv[1:4]
rng = random.Random(int(seed))
ledger = Ledger.open_or_create(
    Path(directory), load_or_create_signing_key(Path(key_file)), "crash", checkpoint_every=97
)
print(ledger.durable_seq, flush=True)
meter = 0
while True:
    for _ in range(rng.randint(1, 300)):
        if rng.random() < 0.01:
            ledger.append(Kind.PERIOD_CLOSE)
            ledger.append(Kind.PERIOD_OPEN)
        ledger.append(
            Kind.DEBIT,
            from_account=f"device:{rng.randint(1, 5)}",
            to_account="consumed",
            amount=rng.randint(1, 5000),
            cause=Cause(CauseKind.METERING),
            data={"meter": "sensor.meter", "wh": [meter, meter + 7]},
        )
        meter += 7
    print(ledger.commit(), flush=True)
