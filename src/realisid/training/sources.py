"""Listing a captioned photo collection: a folder with sidecar ``.txt`` captions, or a JSONL/CSV file."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import RealisIDError
from ..faces.photo import IMAGE_SUFFIXES

_PATH_KEYS = ("path", "image", "file_name", "file")
_CAPTION_KEYS = ("caption", "text", "prompt")


@dataclass(frozen=True)
class SourceItem:
    """One photo and its caption (``None`` when the caption file is missing)."""

    path: Path
    caption: str | None


def list_sources(source: str | Path) -> list[SourceItem]:
    """Every photo of ``source`` in a stable order (sorted paths), so shard ``i`` is the same everywhere.

    ``source`` is a folder (images anywhere below it, each captioned by the ``.txt`` beside it with
    the same stem), or a ``.jsonl`` / ``.csv`` file of rows with a path (``path``/``image``/``file_name``,
    relative to the file's folder) and a caption (``caption``/``text``/``prompt``).
    """
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        captions, bad = {}, []
        for path in paths:
            try:
                captions[path] = _read_caption(path.with_suffix(".txt"))
            except UnicodeDecodeError as error:
                bad.append(f"{path.with_suffix('.txt')} ({error.reason} at byte {error.start})")
        if bad:
            raise RealisIDError(f"{len(bad)} caption(s) are not UTF-8 text, the first: {bad[0]}")
        items = [SourceItem(p, captions[p]) for p in paths]
    elif source.is_file() and source.suffix.lower() in (".jsonl", ".csv"):
        items = sorted(_rows(source), key=lambda item: str(item.path))
    elif source.exists():
        raise RealisIDError(f"{source} is neither a folder of photos nor a .jsonl/.csv list of them")
    else:
        raise RealisIDError(f"data source {source} does not exist")
    if not items:
        raise RealisIDError(f"no photos found in {source}")
    return items


def _read_caption(path: Path) -> str | None:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _rows(path: Path) -> list[SourceItem]:
    try:
        if path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            rows = [json.loads(line) for line in lines if line.strip()]
    except UnicodeDecodeError as error:
        raise RealisIDError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise RealisIDError(f"{path} is not valid JSONL: {error}") from None
    items = []
    for number, row in enumerate(rows, start=1):
        key = next((k for k in _PATH_KEYS if k in row), None) if isinstance(row, dict) else None
        if key is None:
            raise RealisIDError(f"{path} row {number} has no image path (one of {', '.join(_PATH_KEYS)})")
        caption = next((str(row[k]) for k in _CAPTION_KEYS if row.get(k) is not None), None)
        items.append(SourceItem(path.parent / row[key], caption))
    return items
