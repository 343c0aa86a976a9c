"""A simulated community on one Mosquitto broker: time until each checkpoint has 3 cosignatures.

Prints one ``metric: value unit`` line per metric. Needs the installed ledger package, paho-mqtt
and Debian's mosquitto (all provided by scripts/setup), not Home Assistant:

    scripts/bench witnessing [--households 1000] [--witnesses 3] [--rounds 3] [--spread 10]

Each household is a real ledger (the ledger package, fsync'd commits) with its own signing and
witness keys; worker processes host the households, each worker with one MQTT client. Household
``h`` is witnessed by the ``--witnesses`` households after it (in a ring), and witnesses those
before it; they speak the community's protocol (energy_tokens_ledger.community) over the broker
as the integration does: retained checkpoint messages with consistency proofs from the sizes
the witnesses hold, cosignature messages back, every signature and proof verified.

In each round every household appends ``--entries`` entries, signs a checkpoint at a random
moment within ``--spread`` seconds and publishes it; the time from publishing to holding
``--witnesses`` verified cosignatures is measured for every checkpoint (p50, p99, max). The
baseline, measured on the same broker in the same run, is a bare QoS 1 message's time from
publish to delivery: the ratios say what witnessing adds to the broker's own latency.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
import hashlib
import multiprocessing
from pathlib import Path
import queue
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from energy_tokens_ledger import Kind, Ledger
from energy_tokens_ledger.checkpoints import open_checkpoint_note, origin_for
from energy_tokens_ledger.community import (
    CheckpointMessage,
    CosignedMessage,
    Topic,
    proof_sizes,
    topic,
    witness_name,
)
from energy_tokens_ledger.cosignature import WitnessKey, parse_cosignature
from energy_tokens_ledger.keys import public_key_bytes
from energy_tokens_ledger.note import note_text
from energy_tokens_ledger.proofs import consistency_proof
from energy_tokens_ledger.witness import Witness
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.ledger import emit

PREFIX = "bench/community"
QOS = 1


def _key(label: str) -> Ed25519PrivateKey:
    """Deterministic keys: every worker knows every household's public keys (admitted)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def household_id(number: int) -> str:
    """A household id as the integration's (topic-safe)."""
    return f"H{number:05d}"


@dataclass
class Household:
    """One simulated household: its ledger, its witness, what it published and received."""

    number: int
    ledger: Ledger
    witness: Witness
    asked: dict[str, int] = field(default_factory=dict)  # witness: the size it holds
    notes: dict[int, str] = field(default_factory=dict)  # own checkpoints by size
    published_at: dict[int, float] = field(default_factory=dict)
    cosigned: dict[int, set[str]] = field(default_factory=dict)


class Worker:
    """Households hosted by one process, behind one MQTT client."""

    def __init__(self, args: argparse.Namespace, numbers: list[int], folder: Path) -> None:
        self.args = args
        self.count = args.households
        self.lock = threading.Lock()  # paho's thread delivers; the main thread publishes
        self.households: dict[str, Household] = {}
        for number in numbers:
            hid = household_id(number)
            ledger = Ledger.create(folder / hid, _key(f"log {number}"), hid, checkpoint_every=10**9)
            witness = Witness(witness_name(hid), _key(f"witness {number}"))
            self.households[hid] = Household(number, ledger, witness)
        self.log_keys = {
            household_id(n): public_key_bytes(_key(f"log {n}").public_key())
            for n in range(self.count)
        }
        self.latencies: list[float] = []
        self.completed = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.max_inflight_messages_set(1000)
        self.client.on_message = self._on_message
        self.connected = threading.Event()
        self.client.on_connect = lambda *_: self.connected.set()

    def witnesses_of(self, number: int) -> list[str]:
        """The households that admitted ``number`` (the ones after it, in a ring)."""
        return [household_id((number + k) % self.count) for k in range(1, self.args.witnesses + 1)]

    def witnessed_by(self, number: int) -> list[str]:
        """The households ``number`` admitted (the ones before it)."""
        return [household_id((number - k) % self.count) for k in range(1, self.args.witnesses + 1)]

    def connect(self, port: int) -> None:
        self.client.connect("127.0.0.1", port, keepalive=60)
        self.client.loop_start()
        self.connected.wait(30)
        filters = set()
        for hid, household in self.households.items():
            filters.add((topic(PREFIX, Topic.COSIGNED, hid) + "/+", QOS))
            for other in self.witnessed_by(household.number):
                filters.add((topic(PREFIX, Topic.CHECKPOINT, other), QOS))
        result, _ = self.client.subscribe(sorted(filters))
        assert result == mqtt.MQTT_ERR_SUCCESS

    def publish_checkpoint(self, household: Household) -> None:
        """Append entries, sign a checkpoint, publish it with proofs from the witnesses' sizes."""
        ledger = household.ledger
        for _ in range(self.args.entries):
            ledger.append(Kind.PURCHASE, from_account="provider", to_account="pool", amount=1000)
        ledger.request_checkpoint()
        ledger.commit()
        note = ledger.latest_note
        assert note is not None
        size = ledger.checkpoint_size
        with self.lock:
            sizes = proof_sizes(size, list(household.asked.values()))
            household.notes[size] = note
        proofs = {old: consistency_proof(ledger.directory, old, size) for old in sizes}
        payload = CheckpointMessage(note, proofs).encode()
        with self.lock:
            household.published_at[size] = time.monotonic()
            household.cosigned[size] = set()
        name = topic(PREFIX, Topic.CHECKPOINT, ledger.household_id)
        self.client.publish(name, payload, qos=QOS, retain=True)

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        levels = message.topic.split("/")
        kind, hid = levels[2], levels[3]
        with self.lock:
            if kind == Topic.CHECKPOINT:
                self._witness(hid, message.payload)
            elif kind == Topic.COSIGNED and hid in self.households:
                self._cosigned(self.households[hid], levels[4], message.payload)

    def _witness(self, hid: str, payload: bytes) -> None:
        checkpoint = CheckpointMessage.decode(payload)
        log_key = self.log_keys[hid]
        number = int(hid[1:])
        for witness_hid in self.witnesses_of(number):
            mine = self.households.get(witness_hid)
            if mine is None:
                continue
            last = mine.witness.cosigned.get(origin_for(hid))
            size = open_checkpoint_note(checkpoint.note, log_key).size
            if last is not None and last.size == size:
                continue
            proof = [] if last is None else checkpoint.proofs.get(last.size)
            if proof is None:
                continue  # its cosignature asks for the proof from its size
            line = mine.witness.witness(checkpoint.note, proof, log_key, int(time.time()))
            self.client.publish(
                topic(PREFIX, Topic.COSIGNED, hid, witness_hid),
                CosignedMessage(size, line).encode(),
                qos=QOS,
                retain=True,
            )

    def _cosigned(self, household: Household, witness_hid: str, payload: bytes) -> None:
        message = CosignedMessage.decode(payload)
        household.asked[witness_hid] = message.size
        note = household.notes.get(message.size)
        if note is None:
            return
        witness = WitnessKey(
            witness_name(witness_hid),
            public_key_bytes(_key(f"witness {int(witness_hid[1:])}").public_key()),
        )
        parse_cosignature(message.cosignature).verify(note_text(note), witness)
        got = household.cosigned.setdefault(message.size, set())
        if witness_hid in got:
            return
        got.add(witness_hid)
        if len(got) == self.args.witnesses:
            self.latencies.append(time.monotonic() - household.published_at[message.size])
            self.completed += 1


def run_worker(
    args: argparse.Namespace,
    numbers: list[int],
    port: int,
    barrier: Any,
    results: Any,
) -> None:
    """One worker process: its households, round after round, in step with the others."""
    with tempfile.TemporaryDirectory(prefix="et-community-") as work:
        worker = Worker(args, numbers, Path(work))
        worker.connect(port)
        rng = random.Random(numbers[0])
        barrier.wait()
        for _round in range(args.rounds):
            barrier.wait()
            start = time.monotonic()
            order = [(rng.uniform(0, args.spread), h) for h in worker.households.values()]
            for offset, household in sorted(order, key=lambda item: item[0]):
                time.sleep(max(0.0, start + offset - time.monotonic()))
                worker.publish_checkpoint(household)
            deadline = time.monotonic() + args.timeout
            target = len(worker.households) * (_round + 1)
            while worker.completed < target and time.monotonic() < deadline:
                time.sleep(0.01)
            barrier.wait()
        worker.client.loop_stop()
        worker.client.disconnect()
        results.put((worker.latencies, worker.completed))


class Broker:
    """Debian's mosquitto on a free loopback port, for this run."""

    def __init__(self, folder: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\nmax_inflight_messages 1000\n"
        )
        executable = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.process = subprocess.Popen(
            [executable, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def bare_latencies(port: int, messages: int) -> list[float]:
    """Publish-to-delivery of bare QoS 1 messages through the broker, one at a time."""
    received: queue.Queue[float] = queue.Queue()
    subscriber = mqtt.Client(CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda *_: received.put(time.monotonic())
    subscriber.connect("127.0.0.1", port)
    subscriber.loop_start()
    subscriber.subscribe("bench/ping", QOS)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", port)
    publisher.loop_start()
    time.sleep(0.5)  # both connected and subscribed
    latencies = []
    for _ in range(messages):
        sent = time.monotonic()
        publisher.publish("bench/ping", b"x" * 600, qos=QOS)  # a checkpoint message's size
        latencies.append(received.get(timeout=10) - sent)
    for client in (publisher, subscriber):
        client.loop_stop()
        client.disconnect()
    return latencies


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1000)
    parser.add_argument("--witnesses", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=20, help="entries per checkpoint")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds each round spans")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    assert args.households > args.witnesses
    with tempfile.TemporaryDirectory(prefix="et-broker-") as work:
        broker = Broker(Path(work))
        try:
            bare = bare_latencies(broker.port, 500)
            barrier = multiprocessing.Barrier(args.workers + 1)
            results: Any = multiprocessing.Queue()
            processes = [
                multiprocessing.Process(
                    target=run_worker,
                    args=(
                        args,
                        list(range(w, args.households, args.workers)),
                        broker.port,
                        barrier,
                        results,
                    ),
                )
                for w in range(args.workers)
            ]
            for process in processes:
                process.start()
            barrier.wait()  # every worker connected and subscribed
            started = time.monotonic()
            for _ in range(args.rounds):
                barrier.wait()
                barrier.wait()
            elapsed = time.monotonic() - started
            latencies: list[float] = []
            completed = 0
            for _ in processes:
                got, done = results.get(timeout=60)
                latencies += got
                completed += done
            for process in processes:
                process.join(30)
        finally:
            broker.stop()
    expected = args.households * args.rounds
    print(f"python: {sys.version.split()[0]}; {args.workers} worker processes, one broker")
    emit("households", args.households, "households")
    emit("checkpoints", expected, "checkpoints")
    emit("checkpoints_with_all_cosignatures", completed, "checkpoints")
    emit("cosignatures_per_s", completed * args.witnesses / elapsed, "cosignatures/s")
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    emit("to_3_cosignatures_p50_ms", p50 * 1000, "ms")
    emit("to_3_cosignatures_p99_ms", p99 * 1000, "ms")
    emit("to_3_cosignatures_max_ms", max(latencies) * 1000, "ms")
    bare50, bare99 = statistics.median(bare), percentile(bare, 0.99)
    emit("bare_mqtt_p50_ms", bare50 * 1000, "ms")
    emit("bare_mqtt_p99_ms", bare99 * 1000, "ms")
    emit("p50_vs_bare_mqtt", p50 / bare50, "x")
    emit("p99_vs_bare_mqtt", p99 / bare99, "x")
    if completed != expected:
        sys.exit(f"only {completed} of {expected} checkpoints got {args.witnesses} cosignatures")


if __name__ == "__main__":
    main()
