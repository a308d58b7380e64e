"""Reading prepared shards as an endless, deterministic, resumable stream of training batches.

The order depends only on the seed, the epoch and the process layout: shards are shuffled per epoch
and dealt to processes (or, with fewer shards than processes, samples are dealt), then mixed by a
seeded shuffle buffer. A process's position is the number of raw samples it has drawn; resuming
skips that many undecoded samples and continues with exactly the batches an uninterrupted run sees.
Samples or shards that cannot be read are skipped and counted, never fatal. Shards prepared at a
larger side than the run's resolution are scaled down as they are read (images, boxes, crop offsets).
"""

from __future__ import annotations

import io
import json
import logging
import random
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count, islice
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..boxes import Box
from ..errors import RealisIDError
from ..faces import FaceConditions, landmark_image_tensor
from .data import FORMAT, MANIFEST

logger = logging.getLogger(__name__)

FROZEN_KEYS = ("latent", "prompt", "pooled", "clip")
"""Entries ``<name>.npy`` that :mod:`~realisid.training.precompute` adds: VAE latent mean and std ``(2, 4, h, w)``, text
embeddings ``(77, C)``, pooled text ``(d,)`` and CLIP features of the masked crop ``(T, D)``."""
_MAX_BAD_IN_A_ROW = 10_000
DECODE_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    Image.DecompressionBombError,
)


@dataclass
class Batch:
    """Collated samples. Image-space tensors are absent where precomputed entries replace them.

    ``pixels (B, 3, R, R)`` in ``[-1, 1]``; ``faces (B, 3, c, c)`` masked crops in ``[0, 1]``;
    ``landmark_images (B, 3, 8L, 8L)``; ``boxes (B, 3)`` pixels; ``time_ids (B, 6)``;
    ``frozen``: stacked :data:`FROZEN_KEYS` entries.
    """

    keys: list[str]
    captions: list[str]
    boxes: Tensor
    time_ids: Tensor
    landmark_images: Tensor
    pixels: Tensor | None = None
    faces: Tensor | None = None
    frozen: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


def list_shards(folder: str | Path, resolution: int | None = None) -> list[Path]:
    """The ``.tar`` shards of a prepared folder; one-line errors for a missing or empty folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RealisIDError(f"data folder {folder} does not exist (write it with `realisid prepare`)")
    shards = sorted(folder.glob("shard-*.tar"))
    manifest_path = folder / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("format") != FORMAT:
            raise RealisIDError(f"{manifest_path} is not a realisid shard manifest")
        if manifest["samples"] == 0:
            raise RealisIDError(f"the shards in {folder} hold no samples (skipped: {manifest['skipped']})")
        prepared = manifest["settings"]["resolution"]
        if resolution is not None and prepared < resolution:
            raise RealisIDError(
                f"{folder} was prepared at {prepared} px; train at resolution={prepared} or less"
            )
    if not shards:
        raise RealisIDError(f"no shards (shard-*.tar) in {folder}")
    return shards


def read_shard(path: Path) -> Iterator[dict[str, bytes]]:
    """The samples of one tar shard: ``{"__key__": key, "<ext>": bytes, ...}`` in file order."""
    sample: dict[str, bytes] = {}
    with tarfile.open(path, "r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = Path(member.name).name.partition(".")
            if sample and sample["__key__"] != key:
                yield sample
                sample = {}
            sample["__key__"] = key
            sample[ext] = tar.extractfile(member).read()
    if sample:
        yield sample


class ShardStream:
    """The endless raw-sample stream of one process (see the module docstring)."""

    def __init__(self, shards: list[Path], seed: int, rank: int = 0, world: int = 1, buffer: int = 256):
        self.shards, self.seed, self.rank, self.world, self.buffer = shards, seed, rank, world, buffer
        self.skipped: Counter[str] = Counter()

    def __iter__(self) -> Iterator[dict[str, bytes]]:
        for epoch in count():
            order = list(self.shards)
            random.Random(f"{self.seed}-{epoch}").shuffle(order)
            if len(order) >= self.world:
                mine = self._samples(order[self.rank :: self.world])
            else:
                mine = islice(self._samples(order), self.rank, None, self.world)
            drawn = 0
            for raw in _shuffled(mine, self.buffer, random.Random(f"{self.seed}-{epoch}-{self.rank}")):
                drawn += 1
                yield raw
            if not drawn:
                raise RealisIDError(
                    f"process {self.rank} got no readable samples from {len(self.shards)} shard(s)"
                )

    def _samples(self, shards: list[Path]) -> Iterator[dict[str, bytes]]:
        for path in shards:
            try:
                yield from read_shard(path)
            except (tarfile.TarError, OSError, EOFError) as error:
                self.skipped["unreadable_shard"] += 1
                logger.warning("skipping the rest of shard %s: %s", path, error)


def _shuffled(items: Iterator, size: int, rng: random.Random) -> Iterator:
    """A shuffle buffer of ``size`` items."""
    buffer = []
    for item in items:
        buffer.append(item)
        if len(buffer) >= size:
            yield buffer.pop(rng.randrange(len(buffer)))
    rng.shuffle(buffer)
    yield from buffer


class Batches:
    """Decoded batches from a :class:`ShardStream` at ``resolution`` (default: as prepared), from raw
    position ``position`` on."""

    def __init__(
        self, stream: ShardStream, batch_size: int, landmark_size: int, position: int = 0,
        resolution: int | None = None,
    ):
        self.stream, self.batch_size, self.landmark_size = stream, batch_size, landmark_size
        self.position, self.resolution = position, resolution
        self._raw = islice(iter(stream), position, None)

    @property
    def skipped(self) -> Counter[str]:
        """Counts of what could not be read, by reason (shared with the stream)."""
        return self.stream.skipped

    def __iter__(self) -> Batches:
        return self

    def __next__(self) -> Batch:
        samples, bad_in_a_row = [], 0
        while len(samples) < self.batch_size:
            raw = next(self._raw)
            self.position += 1
            try:
                samples.append(decode_sample(raw, self.landmark_size, self.resolution))
                bad_in_a_row = 0
            except DECODE_ERRORS as error:
                self.skipped["bad_sample"] += 1
                bad_in_a_row += 1
                logger.warning("skipping sample %s: %s: %s", raw.get("__key__"), type(error).__name__, error)
                if bad_in_a_row >= _MAX_BAD_IN_A_ROW:
                    raise RealisIDError(
                        f"{bad_in_a_row} unreadable samples in a row: are these realisid shards?"
                    )
        return collate(samples)


def decode_sample(raw: dict[str, bytes], landmark_size: int, resolution: int | None = None) -> dict:
    """One raw sample → tensors, its image at side ``resolution`` (default: as stored; the box and crop
    offset scale with it); the ``c_p&e`` drawing is redrawn when stored at another size."""
    meta = json.loads(raw["json"])
    frozen = {
        k: torch.from_numpy(np.load(io.BytesIO(raw[f"{k}.npy"]))) for k in FROZEN_KEYS if f"{k}.npy" in raw
    }
    landmarks = np.asarray(meta["landmarks"], dtype=np.float32)
    pe = _image(raw["pe.png"])
    pe = pe if pe.shape[-1] == landmark_size else landmark_image_tensor(landmarks, landmark_size)
    sample = {"key": raw["__key__"], "caption": raw["txt"].decode("utf-8"), "landmark_image": pe, "frozen": frozen}
    with Image.open(io.BytesIO(raw["jpg"])) as stored:  # reads the header only
        stored_width = stored.width
    if "latent" in frozen:
        size = [s * 8 for s in frozen["latent"].shape[-2:]]
    else:
        pixels = _image(raw["jpg"], resolution)
        sample["pixels"] = pixels * 2 - 1
        size = list(pixels.shape[-2:])
    scale = size[1] / stored_width
    sample["box"] = torch.tensor(meta["box"], dtype=torch.float32) * scale
    crop_top_left = [round(v * scale) for v in meta["crop_top_left"]]
    sample["time_ids"] = torch.tensor(meta["original_size"] + crop_top_left + size, dtype=torch.float32)
    if "clip" not in frozen:
        sample["face"] = _image(raw["face.png"])
    return sample


def collate(samples: list[dict]) -> Batch:
    stack = lambda name: torch.stack([s[name] for s in samples]) if name in samples[0] else None
    return Batch(
        keys=[s["key"] for s in samples],
        captions=[s["caption"] for s in samples],
        boxes=stack("box"),
        time_ids=stack("time_ids"),
        landmark_images=stack("landmark_image"),
        pixels=stack("pixels"),
        faces=stack("face"),
        frozen={k: torch.stack([s["frozen"][k] for s in samples]) for k in samples[0]["frozen"]},
    )


def _image(data: bytes, side: int | None = None) -> Tensor:
    """PNG/JPEG bytes → ``(3, H, W)`` float in ``[0, 1]``; a square of ``side`` when given."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        if side is not None and image.size != (side, side):
            image = image.resize((side, side), Image.Resampling.BICUBIC)
        array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def validation_reference(shard: Path) -> FaceConditions:
    """The face of the first sample of ``shard`` as conditions for :class:`~realisid.Person`
    (the stored crop is the masked one, which is all the ID encoder uses)."""
    raw = next(read_shard(shard))
    meta = json.loads(raw["json"])
    with Image.open(io.BytesIO(raw["face.png"])) as face, Image.open(io.BytesIO(raw["jpg"])) as image:
        masked, size = face.convert("RGB"), image.size
    with Image.open(io.BytesIO(raw["mask.png"])) as mask:
        mask_array = np.asarray(mask, dtype=np.float32) / 255.0
    landmarks = np.asarray(meta["landmarks"], dtype=np.float32)
    return FaceConditions(size, Box(*meta["box"]), meta["score"], masked, mask_array, masked, landmarks)
