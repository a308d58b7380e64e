"""Renderings → the training shards of ``realisid prepare``, with exact boxes and landmarks.

``realisid prepare`` detects faces with MediaPipe; a rendering knows its face box, landmarks and
face mask exactly, so its samples are written directly in the same format (see
:func:`realisid.training.samples.make_sample` for the entries) and read by ``realisid train``.

Their caption is the rendering's :attr:`~realisid_toy.world.render.Rendering.scene_caption`, which
leaves the face out, like the evaluation prompts: the face's traits are the ID's to give, not the
text's (docs/notes/painted-worlds.md measures how much the adapter reads the ID with either caption).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from realisid.faces import FaceConditions
from realisid.faces.photo import crop_square
from realisid.training.data import SETTINGS, shard_name, write_manifest
from realisid.training.samples import PrepareSettings, sample_entries

from ..world.render import Rendering


def rendering_conditions(rendering: Rendering, crop_size: int = 128) -> FaceConditions:
    """The :class:`FaceConditions` of a rendering's face, from its exact box, landmarks and mask."""
    crop = crop_square(rendering.image, rendering.box, crop_size)
    mask_image = Image.fromarray(np.rint(rendering.face_mask * 255).astype(np.uint8))
    mask = np.asarray(crop_square(mask_image, rendering.box, crop_size), dtype=np.float32) / 255.0
    masked = Image.fromarray(np.rint(np.asarray(crop) * mask[..., None]).astype(np.uint8))
    return FaceConditions(rendering.image.size, rendering.box, 1.0, crop, mask, masked, rendering.landmarks)


def training_sample(key: str, rendering: Rendering, settings: PrepareSettings) -> dict[str, bytes]:
    """The webdataset entries of one rendering, as ``make_sample`` writes them for a photo."""
    width, height = rendering.image.size
    meta = {"source": f"synthetic:{key}", "original_size": [height, width], "crop_top_left": [0, 0], "score": 1.0}
    conditions = rendering_conditions(rendering, settings.crop_size)
    return sample_entries(key, rendering.image, rendering.scene_caption, rendering.box, conditions, meta, settings)


def write_shards(
    renderings: Iterable[Rendering], out: str | Path, settings: PrepareSettings, shard_size: int = 1000
) -> dict:
    """Writes ``renderings`` as shards with a manifest into ``out``; returns the manifest."""
    import webdataset as wds

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"settings": dataclasses.asdict(settings), "shard_size": shard_size}
    (out / SETTINGS).write_text(json.dumps(record, indent=2) + "\n")
    items = list(renderings)
    shards = -(-len(items) // shard_size)
    for index in range(shards):
        chunk = items[index * shard_size : (index + 1) * shard_size]
        with wds.TarWriter(str(out / f"{shard_name(index)}.tar"), encoder=False, mtime=0.0) as sink:
            for offset, rendering in enumerate(chunk):
                sink.write(training_sample(f"{index * shard_size + offset:09d}", rendering, settings))
        counts = {"samples": len(chunk), "photos": len(chunk), "skipped": {}}
        (out / f"{shard_name(index)}.json").write_text(json.dumps(counts) + "\n")
    return write_manifest(out, shards)


def render_world(
    folder: str | Path, seeds: Sequence[int], size: int, rel_size: tuple[float, float], paint: str, local_size: int
) -> None:
    """Renders the random scenes of ``seeds`` (``paint`` world, faces of ``rel_size``) into ``folder``:
    ``images.npy``, ``face_masks.npy`` and ``captions.json`` for the base model, and ``shards/`` for the
    adapters (``c_p&e`` drawn at ``8·local_size`` px)."""
    from ..world.sampling import sample_rendering

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    render = functools.partial(sample_rendering, size=size, rel_size=rel_size, paint=paint)
    with multiprocessing.Pool() as pool:
        renderings = pool.map(render, seeds, chunksize=64)
    np.save(folder / "images.npy", np.stack([np.asarray(r.image) for r in renderings]))
    np.save(folder / "face_masks.npy", np.stack([np.rint(r.face_mask * 255).astype(np.uint8) for r in renderings]))
    (folder / "captions.json").write_text(json.dumps([r.caption for r in renderings]))
    settings = PrepareSettings(resolution=size, crop_size=128, landmark_size=8 * local_size, min_face=0.0)
    write_shards(renderings, folder / "shards", settings)
