"""The household's Ed25519 signing key and the C2SP signed-note key formats.

The private key lives in a 0600 file beside the ledger directory, never inside it, so a copy of
the ledger handed to an auditor carries no secret.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from .framing import replace_durably

ED25519_ALG = b"\x01"  # signed-note algorithm byte for Ed25519


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load the key at ``path``, creating it (0600, synced) when absent."""
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except ValueError as err:
            raise ValueError(f"{path} does not hold a PEM private key: {err}") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_durably(path, pem)
    return key


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32-byte public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: bytes, algorithm: bytes = ED25519_ALG) -> bytes:
    """C2SP signed-note key hash: SHA-256(name || 0x0A || algorithm || key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + algorithm + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes, algorithm: bytes = ED25519_ALG) -> str:
    """The signed-note verifier key text: ``name+hexid+base64(algorithm || key)``."""
    encoded = base64.b64encode(algorithm + public_key).decode()
    return f"{name}+{key_id(name, public_key, algorithm).hex()}+{encoded}"


def valid_key_name(name: str) -> bool:
    """Whether ``name`` may name a signed-note key: not empty, no spaces and no plus sign."""
    return bool(name) and "+" not in name and not any(char.isspace() for char in name)


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A signed-note verifier: a key name, its 4-byte key id and the raw Ed25519 public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def of(cls, name: str, public_key: bytes) -> VerifierKey:
        """The verifier of ``public_key`` under ``name``."""
        return cls(name, key_id(name, public_key), public_key)

    def __str__(self) -> str:
        """The verifier key text (``name+hexid+base64``)."""
        return verifier_key(self.name, self.public_key)


def parse_verifier_key(text: str) -> VerifierKey:
    """Read a signed-note verifier key ``name+hexid+base64(0x01 || key)``; ValueError if bad."""
    name, public_key = read_vkey(text, ED25519_ALG, "verifier key")
    return VerifierKey(name, key_id(name, public_key), public_key)


def read_vkey(text: str, algorithm: bytes, what: str) -> tuple[str, bytes]:
    """Name and Ed25519 key of a vkey ``name+hexid+base64(algorithm || key)``; ValueError if bad.

    ``what`` names the kind of key in the messages (a verifier key, a witness key).
    """
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise ValueError(f"expected a {what}: name+id+key")
    name, hex_id, encoded = parts
    if not valid_key_name(name):
        raise ValueError(f"the {what}'s name is empty or holds a space")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as err:
        raise ValueError(f"the {what} is not valid base64: {err}") from err
    if len(raw) != 33 or raw[:1] != algorithm:
        raise ValueError(f"the {what} is not an Ed25519 key of its kind (0x{algorithm.hex()})")
    public_key = raw[1:]
    if key_id(name, public_key, algorithm).hex() != hex_id:
        raise ValueError(f"the {what}'s id does not match its key")
    return name, public_key


def parse_public_key(text: str) -> bytes:
    """Read a public key given as a verifier key, a PEM public key or base64 of the raw key."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM key is not an Ed25519 public key")
        return public_key_bytes(key)
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) == 32:  # checked first: a verifier key never decodes as plain base64 of 32 bytes
        return raw
    parts = text.split("+", 2)
    if len(parts) != 3 or len(parts[1]) != 8:
        raise ValueError("expected a verifier key, a PEM public key or a base64 32-byte key")
    return parse_verifier_key(text).public_key
