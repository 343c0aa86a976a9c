"""Draw the integration's brand images (custom_components/energy_tokens/brand/*.png).

Home Assistant (2026.3 and newer) serves a custom integration's own ``brand/`` folder to its
pickers. The images are drawn here, in plain Python (no imaging library), so they can be made
again exactly: a token (a coin) with a lightning bolt, light and dark.

    python3 scripts/brand.py
"""

from __future__ import annotations

from pathlib import Path
import struct
import zlib

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "energy_tokens" / "brand"
SAMPLES = 4  # per axis: edges are anti-aliased by supersampling

# The bolt, in a unit square (x right, y down).
BOLT = [
    (0.56, 0.16),
    (0.30, 0.56),
    (0.48, 0.56),
    (0.42, 0.86),
    (0.72, 0.42),
    (0.53, 0.42),
    (0.62, 0.16),
]

THEMES = {
    "": {"coin": (0x2E, 0x7D, 0x32), "rim": (0x1B, 0x5E, 0x20), "bolt": (0xFF, 0xD5, 0x4F)},
    "dark_": {"coin": (0x66, 0xBB, 0x6A), "rim": (0x43, 0xA0, 0x47), "bolt": (0xFF, 0xEE, 0x58)},
}


def _inside_bolt(x: float, y: float) -> bool:
    """Even-odd rule over the bolt's polygon."""
    inside = False
    for (x1, y1), (x2, y2) in zip(BOLT, BOLT[1:] + BOLT[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _colour(x: float, y: float, theme: dict[str, tuple[int, int, int]]) -> tuple[int, ...] | None:
    distance = ((x - 0.5) ** 2 + (y - 0.5) ** 2) ** 0.5
    if distance > 0.47:
        return None
    if _inside_bolt(x, y):
        return theme["bolt"]
    return theme["rim"] if distance > 0.41 else theme["coin"]


def draw(size: int, theme: dict[str, tuple[int, int, int]]) -> bytes:
    """An RGBA PNG of ``size`` square pixels."""
    rows = []
    for row in range(size):
        line = bytearray([0])  # no filter
        for column in range(size):
            total = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x = (column + (sx + 0.5) / SAMPLES) / size
                    y = (row + (sy + 0.5) / SAMPLES) / size
                    if (colour := _colour(x, y, theme)) is not None:
                        for index in range(3):
                            total[index] += colour[index]
                        total[3] += 1
            covered = total[3]
            if covered:
                line += bytes([total[0] // covered, total[1] // covered, total[2] // covered])
                line.append(round(255 * covered / SAMPLES**2))
            else:
                line += b"\0\0\0\0"
        rows.append(bytes(line))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main() -> None:
    """Write every brand image, light and dark, single and double size."""
    BRAND.mkdir(exist_ok=True)
    for prefix, theme in THEMES.items():
        for name in ("icon", "logo"):  # the logo is the icon: the mark has no words
            (BRAND / f"{prefix}{name}.png").write_bytes(draw(256, theme))
            (BRAND / f"{prefix}{name}@2x.png").write_bytes(draw(512, theme))


if __name__ == "__main__":
    main()
