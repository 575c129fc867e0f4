"""Screenshots of an X display without ImageMagick: ``xwd`` (Debian's x11-apps) for the
capture, and a few lines of standard-library code to turn its XWD image into a PNG.

Used by the GUI's test hook; no tkinter here.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

_HEADER = struct.Struct(">25I")


def xwd_to_rgb(data: bytes) -> tuple[int, int, bytes]:
    """Decode a TrueColor ZPixmap XWD image (what ``xwd`` writes for a 24- or 32-bit
    screen) into ``(width, height, rgb_bytes)``. Raises ValueError for anything else."""
    if len(data) < _HEADER.size:
        raise ValueError("not an XWD image: too short")
    (header_size, version, pixmap_format, _depth, width, height, _xoffset, byte_order, _unit, _bit_order,
     _pad, bits_per_pixel, bytes_per_line, _visual, red_mask, green_mask, blue_mask, _bits_rgb,
     _map_entries, ncolors, *_rest) = _HEADER.unpack_from(data)
    if version != 7 or pixmap_format != 2:
        raise ValueError(f"unsupported XWD image (version {version}, format {pixmap_format})")
    if bits_per_pixel not in (24, 32):
        raise ValueError(f"unsupported XWD image: {bits_per_pixel} bits per pixel")
    offset = header_size + 12 * ncolors
    need = offset + bytes_per_line * height
    if len(data) < need:
        raise ValueError("truncated XWD image")
    step = bits_per_pixel // 8
    # Where each colour's byte sits inside a pixel, from its mask and the byte order.
    def position(mask: int) -> int:
        shift = (mask & -mask).bit_length() - 1
        index = shift // 8
        return index if byte_order == 0 else step - 1 - index
    r, g, b = position(red_mask), position(green_mask), position(blue_mask)
    out = bytearray(width * height * 3)
    row_bytes = width * step
    for y in range(height):
        row = data[offset + y * bytes_per_line: offset + y * bytes_per_line + row_bytes]
        base = y * width * 3
        line = bytearray(width * 3)
        line[0::3], line[1::3], line[2::3] = row[r::step], row[g::step], row[b::step]
        out[base:base + width * 3] = line
    return width, height, bytes(out)


def png_bytes(width: int, height: int, rgb: bytes) -> bytes:
    """An 8-bit RGB PNG of the given pixels."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    stride = width * 3
    raw = b"".join(b"\x00" + rgb[y * stride:(y + 1) * stride] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def crop(width: int, height: int, rgb: bytes, x: int, y: int, w: int, h: int) -> tuple[int, int, bytes]:
    """The rectangle ``(x, y, w, h)`` of an RGB image, clipped to it."""
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the rectangle is outside the image")
    rows = [rgb[(row * width + x0) * 3:(row * width + x1) * 3] for row in range(y0, y1)]
    return x1 - x0, y1 - y0, b"".join(rows)


def capture(path: str | Path, display: str | None = None,
            rect: tuple[int, int, int, int] | None = None, timeout: float = 20.0) -> Path:
    """Save the X screen (or the rectangle ``(x, y, w, h)`` of it) as a PNG at ``path``.

    Needs the ``xwd`` program; raises FileNotFoundError without it, and
    subprocess.CalledProcessError / ValueError if the capture fails.
    """
    program = shutil.which("xwd")
    if program is None:
        raise FileNotFoundError("xwd is not installed (Debian package x11-apps)")
    command = [program, "-root", "-silent"] + (["-display", display] if display else [])
    data = subprocess.run(command, capture_output=True, check=True, timeout=timeout).stdout
    width, height, rgb = xwd_to_rgb(data)
    if rect is not None:
        width, height, rgb = crop(width, height, rgb, *rect)
    path = Path(path)
    path.write_bytes(png_bytes(width, height, rgb))
    return path
