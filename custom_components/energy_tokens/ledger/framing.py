"""Framed records in files: length, CRC-32 and payload, as LevelDB's log frames them.

The checksum tells a torn write or a flipped bit from a valid record before anything is parsed.
Files are read in fixed-size chunks so memory stays flat whatever a file's length.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import os
from pathlib import Path
import struct
from typing import BinaryIO
import zlib

FRAME = struct.Struct("<II")  # payload length, crc32(payload)
SEGMENT_MAGIC = b"ETLSEG1\n"
CHECKPOINT_MAGIC = b"ETLCKP1\n"
MAGIC_SIZE = 8
MAX_PAYLOAD = 1 << 20
READ_CHUNK = 1 << 20


def frame(payload: bytes | bytearray) -> bytes:
    """Frame one payload for appending."""
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True, slots=True)
class BadFrame:
    """Where a file stops holding valid frames, and why."""

    offset: int
    reason: str


def scan_frames(handle: BinaryIO, start: int) -> Iterator[tuple[int, memoryview] | BadFrame]:
    """Yield ``(end_offset, payload)`` for each valid frame from ``start``.

    Stops at the end of the file, or yields one BadFrame (a short, oversized or corrupt record)
    and stops. A payload view is valid until the next item is requested.
    """
    header_size = FRAME.size
    unpack = FRAME.unpack_from
    crc32 = zlib.crc32
    handle.seek(start)
    buffer = b""
    view = memoryview(buffer)
    base = start  # file offset of buffer[0]
    pos = 0
    while True:
        if len(buffer) - pos < header_size:
            buffer, base, pos = _refill(handle, buffer, base, pos, header_size)
            view = memoryview(buffer)
            if len(buffer) == pos:
                return
            if len(buffer) - pos < header_size:
                yield BadFrame(base + pos, "incomplete record header (torn write)")
                return
        length, crc = unpack(buffer, pos)
        if length == 0:  # what a zero-filled tail looks like; no record is empty
            yield BadFrame(base + pos, "empty record (zero-filled tail or torn write)")
            return
        if length > MAX_PAYLOAD:
            yield BadFrame(base + pos, f"record length {length} is impossible")
            return
        end = pos + header_size + length
        if end > len(buffer):
            buffer, base, pos = _refill(handle, buffer, base, pos, header_size + length)
            view = memoryview(buffer)
            end = pos + header_size + length
            if end > len(buffer):
                yield BadFrame(base + pos, "incomplete record (torn write)")
                return
        payload = view[pos + header_size : end]
        if crc32(payload) != crc:
            yield BadFrame(base + pos, "record checksum mismatch (corrupt or altered)")
            return
        pos = end
        yield base + pos, payload


def _refill(
    handle: BinaryIO, buffer: bytes, base: int, pos: int, need: int
) -> tuple[bytes, int, int]:
    """Drop consumed bytes and read until ``need`` bytes follow ``pos`` or the file ends."""
    buffer = buffer[pos:]
    base += pos
    while len(buffer) < need:
        chunk = handle.read(max(READ_CHUNK, need - len(buffer)))
        if not chunk:
            break
        buffer += chunk
    return buffer, base, 0


def read_magic(handle: BinaryIO, magic: bytes) -> bool:
    """Whether a file starts with the expected magic."""
    handle.seek(0)
    return handle.read(MAGIC_SIZE) == magic


def fsync_directory(directory: Path) -> None:
    """Make a created or renamed file's directory entry durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(path: Path, data: bytes) -> None:
    """Write ``path`` whole (0600) through a synced temporary file.

    After a crash it holds the old bytes or the new ones, never a mix.
    """
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    temp.replace(path)
    fsync_directory(path.parent)


def create_file(path: Path, magic: bytes) -> int:
    """Create a 0600 file holding only its magic, durably; return an append descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    try:
        write_all(fd, magic)
        os.fsync(fd)
        fsync_directory(path.parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_for_append(path: Path) -> int:
    """Open an existing file for appending."""
    return os.open(path, os.O_WRONLY | os.O_APPEND)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write every byte (os.write may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def truncate_durably(path: Path, size: int) -> None:
    """Cut a file to ``size`` bytes and sync it."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)
