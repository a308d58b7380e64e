"""Encoding once what the frozen models give: VAE posteriors, text embeddings, CLIP features.

Each shard is copied with ``latent.npy``, ``prompt.npy``, ``pooled.npy`` and ``clip.npy`` added to
every sample (see :data:`~realisid.training.dataset.FROZEN_KEYS`); training then skips the VAE,
both text encoders and the ID encoder. Processes split the shards; finished shards are kept.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import torch

from ..models import face_features
from ..pipeline import RealisIDPipeline
from .data import MANIFEST
from .dataset import DECODE_ERRORS, collate, decode_sample, read_shard


@torch.no_grad()
def precompute_shards(
    pipe: RealisIDPipeline,
    shards: list[Path],
    out: Path,
    landmark_size: int,
    resolution: int | None = None,
    rank: int = 0,
    world: int = 1,
) -> None:
    """Writes this process's share of ``shards`` to ``out`` with the frozen outputs added (latents of
    the images at side ``resolution``, default: as prepared)."""
    import webdataset as wds

    out.mkdir(parents=True, exist_ok=True)
    device = pipe.unet.device
    for index, shard in enumerate(shards):
        target = out / shard.name
        if index % world != rank or target.exists():
            continue
        tmp = out / f"{shard.name}.tmp"
        with wds.TarWriter(str(tmp), encoder=False, mtime=0.0) as sink:
            for raw in read_shard(shard):
                try:
                    batch = collate([decode_sample(raw, landmark_size, resolution)])
                except DECODE_ERRORS:
                    sink.write(raw)  # left as it is: training skips and counts it
                    continue
                posterior = pipe.vae.encode(batch.pixels.to(device, pipe.vae.dtype)).latent_dist
                text, _, pooled, _ = pipe.encode_prompt(
                    batch.captions, device=device, num_images_per_prompt=1, do_classifier_free_guidance=False
                )
                frozen = {
                    "latent": torch.stack([posterior.mean, posterior.std], 1),
                    "prompt": text,
                    "pooled": pooled,
                    "clip": face_features(pipe.image_encoder, batch.faces.to(device)),
                }
                sink.write({**raw, **{f"{k}.npy": _npy(v[0]) for k, v in frozen.items()}})
        tmp.replace(target)
    source_manifest = shards[0].parent / MANIFEST
    if rank == 0 and source_manifest.is_file():
        shutil.copyfile(source_manifest, out / MANIFEST)


def _npy(tensor: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, tensor.float().cpu().numpy())
    return buffer.getvalue()
