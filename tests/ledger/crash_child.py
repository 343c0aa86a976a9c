"""Appends units in batches forever, printing each durable seq; the crash test SIGKILLs it.

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
unit = 0
while True:
    for _ in range(rng.randint(1, 30)):
        # Units of 1 to 20 entries, each entry naming its unit: after a kill, a unit is in the
        # ledger whole or not at all (but for a period boundary's part in the new segment).
        unit += 1
        size = rng.randint(1, 20)
        boundary = rng.random() < 0.05
        with ledger.unit():
            for index in range(size):
                if boundary and index == size // 2:
                    ledger.append(Kind.PERIOD_CLOSE, data={"unit": f"{seed}-{unit}", "of": size})
                    ledger.append(Kind.PERIOD_OPEN, data={"unit": f"{seed}-{unit}", "of": size})
                ledger.append(
                    Kind.DEBIT,
                    from_account=f"device:{rng.randint(1, 5)}",
                    to_account="consumed",
                    amount=rng.randint(1, 5000),
                    cause=Cause(CauseKind.METERING),
                    data={
                        "meter": "sensor.meter",
                        "wh": [meter, meter + 7],
                        "unit": f"{seed}-{unit}",
                        "of": size,
                    },
                )
                meter += 7
    print(ledger.commit(), flush=True)
