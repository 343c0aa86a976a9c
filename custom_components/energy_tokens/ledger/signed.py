"""Messages a household signs with its ledger key for the community: the shared machinery.

A message is a frozen dataclass of checked fields. What is signed is a context naming the
protocol and its version, the message's kind and its fields as canonical JSON (sorted keys, no
spaces), so no signature of one kind or protocol is valid for another, nor for a checkpoint or
a cosignature. The payload is the community's JSON envelope (``community.encode``) holding the
fields (``body``) and the signature (``sig``, base64).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import asdict
import json
import re
from typing import Any, ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .community import CommunityError, Payload, decode, encode

HASH = re.compile(r"^[0-9a-f]{64}$")  # an entry's hash, hex
HOUSEHOLD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # a household id, as in topics


def whole(data: Mapping[str, Any], name: str, low: int, high: int) -> int:
    """The field ``name``: an integer (not a bool) from ``low`` to ``high``."""
    value = data.get(name)
    if type(value) is not int or not low <= value <= high:
        raise CommunityError(f"{name} is not a whole number from {low} to {high}")
    return value


def text(data: Mapping[str, Any], name: str, pattern: re.Pattern[str]) -> str:
    """The field ``name``: text that ``pattern`` matches."""
    value = data.get(name)
    if not isinstance(value, str) or not pattern.match(value):
        raise CommunityError(f"{name} is not one")
    return value


def fields(body: Mapping[str, Any], names: set[str], what: str) -> None:
    """Exactly these fields: a message with others is not this one."""
    if set(body) != names:
        raise CommunityError(f"{what} has other fields")


class SignedMessage:
    """Base of a signed message (a frozen dataclass): signing, encoding, verifying."""

    __slots__ = ()
    CONTEXT: ClassVar[bytes]  # the protocol and its version, ending in a newline
    KIND: ClassVar[str]

    def body(self) -> dict[str, Any]:
        """The fields that are signed."""
        return asdict(self)  # type: ignore[call-overload, no-any-return]

    def signed_bytes(self) -> bytes:
        """What the signature covers: the context, the kind and the body as canonical JSON."""
        body = json.dumps(self.body(), separators=(",", ":"), sort_keys=True)
        return self.CONTEXT + self.KIND.encode() + b"\n" + body.encode()

    def encode(self, sign: Callable[[bytes], bytes]) -> str:
        """The payload, signed by ``sign`` (the household's ledger key: ``Ledger.sign``)."""
        signature = base64.b64encode(sign(self.signed_bytes())).decode()
        return encode({"body": self.body(), "sig": signature})

    @classmethod
    def decode(cls, payload: Payload, public_key: bytes) -> Self:
        """Read one and check its signature; CommunityError if malformed or not signed so."""
        data = decode(payload)
        body, signature = data.get("body"), data.get("sig")
        if not isinstance(body, dict) or not isinstance(signature, str):
            raise CommunityError(f"not a signed {cls.KIND} message")
        message = cls.from_body(body)
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                base64.b64decode(signature, validate=True), message.signed_bytes()
            )
        except (InvalidSignature, binascii.Error, ValueError) as err:
            raise CommunityError(f"the {cls.KIND}'s signature does not verify") from err
        return message

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        """The message from its fields, each checked."""
        raise NotImplementedError
