"""A simulated community on one Mosquitto broker: transfers between households' instances.

Prints one ``metric: value unit`` line per metric. Needs the project's environment (the
integration's pure modules, paho-mqtt and Debian's mosquitto, all provided by scripts/setup):

    scripts/bench community [--households 1000] [--transfers 5000] [--workers 2]

Each household is what an instance runs, less Home Assistant: the real economy on a real
ledger (fsync'd commits) with one device, and the integration's ``trading.Trader`` speaking the
protocol of ``ledger/trade.py`` over the broker: signed offers, receipts and decisions, each
verified against the sender's key, each step made durable before its message is published.
Worker processes host the households, each worker with one MQTT client; every household may
send to every other. Each worker keeps up to ``--window`` of its transfers under way and sends
from random households of its own to random households of the community until ``--transfers``
have been sent in all.

Measured: transfers completed per second (from the first offer to the last conclusion) and, for
every transfer, the time from the sender calling ``send`` to the receiver's conclusion, when
both ledgers hold every side of it (p50, p99). Two baselines in the same run: the same steps on
the same kind of ledgers delivered in one process with no broker (what the network and the
second process cost), and a bare QoS 1 message through the same broker (a transfer needs three
messages one after another). At the end every ledger is verified, the pairs that traded are
matched (``energy-tokens-ledger match``), nothing is left in escrow or incoming, and the
community's tokens are conserved; the run fails otherwise.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
import multiprocessing
from pathlib import Path
import random
import statistics
import sys
import tempfile
import threading
import time
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger import emit
from bench.witnessing import Broker, bare_latencies, percentile
from custom_components.energy_tokens.const import DEFAULTS
from custom_components.energy_tokens.economy import Economy
from custom_components.energy_tokens.ledger import Cause, CauseKind, iter_entries, verify_ledger
from custom_components.energy_tokens.ledger.community import CommunityError
from custom_components.energy_tokens.ledger.match import match_ledgers
from custom_components.energy_tokens.ledger.trade import (
    TradeTopic,
    parse_trade_topic,
    trade_subscriptions,
)
from custom_components.energy_tokens.restore import LEDGER_FOLDER, open_economy
from custom_components.energy_tokens.settings import DeviceSettings, HouseholdSettings
from custom_components.energy_tokens.trading import Publish, Step, TradeBook, Trader

PREFIX = "bench/trade"
QOS = 1
DAY_MS = 86_400_000
USER = Cause(CauseKind.USER, "bench")
ALLOWANCE = 10_000  # tokens a household's device gets: it never runs short in a run
HELD = ("device", "pool", "escrow", "incoming")  # the accounts whose tokens are the household's


def household_id(number: int) -> str:
    """A household id as the integration's (topic-safe)."""
    return f"H{number:05d}"


def now_ms() -> int:
    return int(time.time() * 1000)


class Home:
    """One household: its economy, ledger and trader."""

    def __init__(self, root: Path, hid: str, keys: dict[str, bytes]) -> None:
        self.hid = hid
        self.folder = root / hid
        device = DeviceSettings.from_data(
            "heater",
            {
                "name": "Heater",
                "meter": "sensor.heater_energy",
                "allowance": ALLOWANCE,
                "priority": "normal",
                "may_lend": True,
                "cut_policy": "never",
            },
        )
        self.economy: Economy = open_economy(
            self.folder,
            HouseholdSettings.from_data(dict(DEFAULTS)),
            [device],
            household_id=hid,
            name=hid,
            clock=now_ms,
            zone=ZoneInfo("UTC"),
        )
        self.economy.settle()
        self.economy.ledger.commit()
        self.device = self.economy.devices["heater"]
        ledger = self.economy.ledger
        self.trader = Trader(
            self.economy,
            TradeBook.read(ledger.iter_entries()),
            household=hid,
            prefix=PREFIX,
            keys=lambda h: None if h == hid else keys.get(h),
            sign=ledger.sign,
            clock=now_ms,
        )

    def tokens(self) -> int:
        return sum(
            balance
            for account, balance in self.economy.ledger.balances().items()
            if account.split(":")[0] in HELD
        )

    def open(self) -> int:
        """Transfers of this household under way: its open offers and receipts."""
        return len(self.trader.book.offers) + len(self.trader.book.receipts)

    def send(self, receiver: str, amount: int) -> tuple[str, Step]:
        """Offer tokens; durable before it returns; the offer's id and what to publish."""
        step = self.trader.send(
            self.device, receiver, amount, USER, "", expires_ms=now_ms() + DAY_MS
        )
        self.economy.ledger.commit()
        return step.result.entries[-1].hash.hex(), step

    def receive(self, name: str, payload: bytes | str) -> tuple[TradeTopic, str, Step] | None:
        """A message addressed to this household, acted on and made durable."""
        parsed = parse_trade_topic(PREFIX, name)
        if parsed is None:
            return None
        kind, _to, sender, offer_id = parsed
        try:
            step = self.trader.receive(kind, sender, offer_id, payload)
        except CommunityError:
            return None
        if step.result.entries:
            self.economy.ledger.commit()
        return kind, offer_id, step


def _concluded(kind: TradeTopic, step: Step) -> bool:
    """Whether the step was the receiver's conclusion (the transfer's last entry)."""
    return kind is TradeTopic.DECISION and bool(step.result.entries)


def open_homes(root: Path, numbers: Iterable[int], keys: dict[str, bytes]) -> dict[str, Home]:
    return {household_id(n): Home(root, household_id(n), keys) for n in numbers}


class Worker:
    """Households hosted by one process, behind one MQTT client."""

    def __init__(self, homes: dict[str, Home]) -> None:
        self.homes = homes
        self.lock = threading.Lock()  # paho's thread delivers; the main thread sends
        self.started: dict[str, float] = {}  # offer id: when send was called
        self.concluded: dict[str, float] = {}  # offer id: when the receiver concluded
        self.pairs: set[tuple[str, str]] = set()
        self.decided = 0  # of this worker's offers: the sender settled them
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.client.on_connect = lambda *_: self.connected.set()

    def connect(self, port: int) -> None:
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()
        if not self.connected.wait(30):
            raise RuntimeError("no connection to the broker")
        filters = [(f, QOS) for hid in self.homes for f in trade_subscriptions(PREFIX, hid)]
        for start in range(0, len(filters), 100):
            result, _ = self.client.subscribe(filters[start : start + 100])
            assert result == mqtt.MQTT_ERR_SUCCESS

    def publish(self, messages: list[Publish]) -> None:
        for name, payload, retain in messages:
            self.client.publish(name, payload, qos=QOS, retain=retain)

    def send(self, sender: Home, receiver: str, amount: int) -> None:
        with self.lock:
            started = time.monotonic()
            offer_id, step = sender.send(receiver, amount)
            self.started[offer_id] = started
            self.pairs.add((sender.hid, receiver))
        self.publish(step.publish)

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        home = self.homes.get(message.topic.split("/")[3])
        if home is None:
            return
        with self.lock:
            done = home.receive(message.topic, message.payload)
            if done is None:
                return
            kind, offer_id, step = done
            if _concluded(kind, step):
                self.concluded[offer_id] = time.monotonic()
            elif kind is TradeTopic.RECEIPT and step.result.entries:
                self.decided += 1
        self.publish(step.publish)

    def open(self) -> int:
        with self.lock:
            return sum(home.open() for home in self.homes.values())

    def republish(self) -> None:
        """What a minute's tick does: open offers and receipts published again."""
        with self.lock:
            messages = [m for home in self.homes.values() for m in home.trader.outstanding()]
        self.publish(messages)


def run_worker(
    args: argparse.Namespace,
    root: Path,
    numbers: list[int],
    port: int,
    barrier: Any,
    keys_out: Any,
    keys_in: Any,
    sending_done: Any,
    open_count: Any,
    stop: Any,
    results: Any,
) -> None:
    """One worker process: its households send until the run's transfers are all sent."""
    keys: dict[str, bytes] = {}
    homes = open_homes(root, numbers, keys)
    keys_out.put({hid: home.economy.ledger.public_key for hid, home in homes.items()})
    keys.update(keys_in.get())
    worker = Worker(homes)
    worker.connect(port)
    tokens_before = sum(home.tokens() for home in homes.values())
    rng = random.Random(numbers[0])
    everyone = [household_id(n) for n in range(args.households)]
    mine = list(homes.values())
    quota = args.transfers // args.workers + (numbers[0] < args.transfers % args.workers)
    barrier.wait()
    sent = 0
    while sent < quota:
        with worker.lock:
            under_way = len(worker.started) - worker.decided
        if under_way >= args.window:
            time.sleep(0.001)
            continue
        sender = rng.choice(mine)
        receiver = rng.choice(everyone)
        if receiver == sender.hid:
            continue
        worker.send(sender, receiver, rng.randint(1, 5) * 1000)
        sent += 1
    sending_done.set()
    last_republish = time.monotonic()
    while not stop.is_set():
        open_count.value = worker.open()
        if time.monotonic() - last_republish > 5:
            worker.republish()
            last_republish = time.monotonic()
        time.sleep(0.05)
    worker.client.loop_stop()
    worker.client.disconnect()
    with worker.lock:
        tokens_after = sum(home.tokens() for home in homes.values())
        under_way = sum(
            balance
            for home in homes.values()
            for account, balance in home.economy.ledger.balances().items()
            if account.startswith(("escrow:", "incoming:"))
        )
        for home in homes.values():
            home.economy.ledger.close()
    results.put(
        (worker.started, worker.concluded, worker.pairs, tokens_before, tokens_after, under_way)
    )


def in_process_baseline(root: Path, households: int, transfers: int) -> tuple[float, list[float]]:
    """The same steps on the same kind of ledgers, delivered in one process: no broker.

    Messages are handed to the addressee in the order they were published, one transfer at a
    time; the rate and the latency of each transfer, from ``send`` to the conclusion.
    """
    keys: dict[str, bytes] = {}
    homes = open_homes(root, range(households), keys)
    keys.update({hid: home.economy.ledger.public_key for hid, home in homes.items()})
    rng = random.Random(7)
    names = list(homes)
    latencies = []
    started = time.monotonic()
    for _ in range(transfers):
        sender, receiver = rng.sample(names, 2)
        begin = time.monotonic()
        _offer_id, step = homes[sender].send(receiver, rng.randint(1, 5) * 1000)
        queue = [m for m in step.publish if m[1]]
        while queue:
            name, payload, _retain = queue.pop(0)
            done = homes[name.split("/")[3]].receive(name, payload)
            assert done is not None
            kind, _offer, reply = done
            if _concluded(kind, reply):
                latencies.append(time.monotonic() - begin)
            queue += [m for m in reply.publish if m[1]]
    elapsed = time.monotonic() - started
    for home in homes.values():
        home.economy.ledger.close()
    return transfers / elapsed, latencies


def check_ledgers(root: Path, pairs: set[tuple[str, str]], sample: int) -> tuple[int, int]:
    """Every ledger verifies; a sample of the pairs that traded match. Counts of each."""
    verified = 0
    for folder in sorted(root.iterdir()):
        result = verify_ledger(folder / LEDGER_FOLDER)
        if not result.valid:
            sys.exit(f"{folder.name}'s ledger does not verify: {result.reason}")
        verified += 1
    chosen = random.Random(11).sample(sorted({tuple(sorted(p)) for p in pairs}), sample)
    for a, b in chosen:
        found = match_ledgers(
            (a, iter_entries(root / a / LEDGER_FOLDER)),
            (b, iter_entries(root / b / LEDGER_FOLDER)),
        )
        if found.problems or found.in_flight:
            sys.exit(f"{a} and {b} do not match: {found.problems or found.in_flight}")
    return verified, len(chosen)


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--transfers", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=int, default=100, help="transfers under way per worker")
    parser.add_argument(
        "--probes", type=int, default=200, help="transfers under light load (one per worker)"
    )
    parser.add_argument("--match", type=int, default=100, help="pairs of ledgers to match")
    parser.add_argument("--baseline-households", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    assert args.households >= 2 * args.workers
    with tempfile.TemporaryDirectory(prefix="et-trade-") as work:
        base_rate, base_latencies = in_process_baseline(
            Path(work) / "baseline", args.baseline_households, min(args.transfers, 2000)
        )
        broker = Broker(Path(work))
        root = Path(work) / "community"
        root.mkdir()
        probe = argparse.Namespace(**vars(args) | {"window": 1, "transfers": args.probes})
        try:
            bare = bare_latencies(broker.port, 500)
            outcome = run_community(args, root, broker.port)
            idle = run_community(probe, Path(work) / "probe", broker.port)
        finally:
            broker.stop()
        started, concluded, pairs, before, after, under_way = outcome
        verified, matched = check_ledgers(root, pairs, min(args.match, len(pairs)))
    latencies = [concluded[o] - t for o, t in started.items() if o in concluded]
    elapsed = max(concluded.values()) - min(started.values())  # first offer to last conclusion
    light = [idle[1][o] - t for o, t in idle[0].items() if o in idle[1]]
    print(f"python: {sys.version.split()[0]}; {args.workers} worker processes, one broker")
    emit("households", args.households, "households")
    emit("transfers_sent", len(started), "transfers")
    emit("transfers_concluded_by_both_sides", len(latencies), "transfers")
    rate = len(latencies) / elapsed
    emit("transfers_per_s", rate, "transfers/s")
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    emit("offer_to_both_recorded_p50_ms", p50 * 1000, "ms")
    emit("offer_to_both_recorded_p99_ms", p99 * 1000, "ms")
    idle50 = percentile(light, 0.5)
    emit("light_load_p50_ms", idle50 * 1000, "ms")
    emit("light_load_p99_ms", percentile(light, 0.99) * 1000, "ms")
    emit("in_process_transfers_per_s", base_rate, "transfers/s")
    base50 = statistics.median(base_latencies)
    emit("in_process_p50_ms", base50 * 1000, "ms")
    emit("rate_vs_in_process", rate / base_rate, "x")
    bare50 = statistics.median(bare)
    emit("bare_mqtt_p50_ms", bare50 * 1000, "ms")
    emit("light_load_p50_vs_in_process", idle50 / base50, "x")
    emit("light_load_p50_vs_three_bare_mqtt_messages", idle50 / (3 * bare50), "x")
    emit("tokens_before", before / 1000, "tokens")
    emit("tokens_after", after / 1000, "tokens")
    emit("ledgers_verified", verified, "ledgers")
    emit("pairs_matched", matched, "pairs")
    if len(latencies) != len(started) or len(started) != args.transfers:
        sys.exit(f"{len(latencies)} of {args.transfers} transfers concluded")
    if len(light) != args.probes:
        sys.exit(f"{len(light)} of {args.probes} transfers under light load concluded")
    if before != after or under_way or idle[3] != idle[4] or idle[5]:
        sys.exit(f"tokens not conserved: {before} before, {after} after, {under_way} under way")


def run_community(args: argparse.Namespace, root: Path, port: int) -> tuple[Any, ...]:
    """Start the workers, wait until every transfer is sent and concluded, collect."""
    context = multiprocessing.get_context()
    barrier = context.Barrier(args.workers + 1)
    keys_out: Any = context.Queue()
    results: Any = context.Queue()
    stop = context.Event()
    workers = []
    for w in range(args.workers):
        keys_in: Any = context.Queue()
        done, open_count = context.Event(), context.Value("i", -1)
        numbers = list(range(w, args.households, args.workers))
        process = context.Process(
            target=run_worker,
            args=(
                args,
                root,
                numbers,
                port,
                barrier,
                keys_out,
                keys_in,
                done,
                open_count,
                stop,
                results,
            ),
        )
        process.start()
        workers.append((process, keys_in, done, open_count))
    keys: dict[str, bytes] = {}
    for _ in workers:
        keys.update(keys_out.get(timeout=args.timeout))
    for _process, keys_in, _done, _open in workers:
        keys_in.put(keys)
    barrier.wait(timeout=args.timeout)  # every worker connected and subscribed
    begin = time.monotonic()
    deadline = begin + args.timeout
    quiet = 0
    while time.monotonic() < deadline:
        sending = not all(done.is_set() for _p, _k, done, _o in workers)
        idle = not sending and all(count.value == 0 for _p, _k, _d, count in workers)
        quiet = quiet + 1 if idle else 0
        if quiet >= 3:  # three looks in a row: nothing under way anywhere
            break
        time.sleep(0.05)
    stop.set()
    started: dict[str, float] = {}
    concluded: dict[str, float] = {}
    pairs: set[tuple[str, str]] = set()
    before = after = under_way = 0
    for _ in workers:
        got = results.get(timeout=args.timeout)
        started.update(got[0])
        concluded.update(got[1])
        pairs |= got[2]
        before, after, under_way = before + got[3], after + got[4], under_way + got[5]
    for process, *_ in workers:
        process.join(30)
    return started, concluded, pairs, before, after, under_way


if __name__ == "__main__":
    main()
