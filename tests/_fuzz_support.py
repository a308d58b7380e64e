"""What the fuzz tests share: the one-line error check and broken image files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image

from realisid.cli import main


def cli_error(capsys, argv: list[str]) -> str:
    """Runs ``realisid ARGV``, which must fail with exit status 2 and one line ``realisid CMD: error: ...``
    (the last on stderr); returns that line."""
    code = main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in lines if line.startswith(f"realisid {argv[0]}: error: ")]
    assert code == 2 and len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(side: int = 30_000) -> bytes:
    """A tiny PNG whose header claims ``side×side`` pixels: a decompression bomb to PIL."""
    data = bytearray(png_bytes((1, 1)))
    header = b"IHDR" + struct.pack(">II", side, side) + bytes(data[24:29])
    data[12:33] = header + struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def broken_photos(folder: Path) -> dict[str, Path]:
    """Photo files that cannot make a face: a 1×1 image, an empty file, a truncated PNG and a bomb."""
    folder.mkdir(parents=True, exist_ok=True)
    contents = {
        "one_pixel.png": png_bytes((1, 1)),
        "empty.png": b"",
        "truncated.png": png_bytes((64, 64))[:60],
        "bomb.png": bomb_png(),
    }
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    return {Path(name).stem: folder / name for name in contents}
