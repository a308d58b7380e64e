"""Scoring generated images: identity similarity, CLIP-I, CLIP-T and ASP per image.

The identity backend's detector finds the face in the generated image; its widened square crop is
compared with the reference's for CLIP-I. An image without a detected face is a *miss*: its
identity and CLIP-I scores are ``None`` (CLIP-T and ASP, whole-image metrics, are still scored).
Scores are appended to a JSON-lines file as they are computed, so scoring resumes too; a record is
reused only for the same metric models and the same image file (else it is scored again).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import RealisIDError
from ..faces.photo import load_photo
from .aesthetic import AestheticPredictor
from .clip_metrics import ClipEmbedder, clip_i, clip_t
from .identity_backend import Face, IdentityBackend
from .images import crop_box
from .protocol import Job

FACE_CROP_SCALE = 1.3
SCORES_FILE = "scores.jsonl"


@dataclass
class Scorer:
    """The metric models; ``clip`` gives CLIP-T/CLIP-I, ``aesthetic_clip`` + ``aesthetic`` give ASP."""

    backend: IdentityBackend
    clip: ClipEmbedder | None = None
    aesthetic: AestheticPredictor | None = None
    aesthetic_clip: ClipEmbedder | None = None
    settings: str = ""
    """What the models are (e.g. the metrics config): records scored with other settings are redone."""

    _references: dict[Path, tuple[Face, Image.Image]] = field(default_factory=dict, init=False, repr=False)

    def _reference(self, path: Path) -> tuple[Face, Image.Image]:
        """The reference photo's face and its crop (cached per photo)."""
        if path in self._references:
            return self._references[path]
        image = load_photo(path)
        face = self.backend.find_face(image)
        if face is None:
            raise RealisIDError(f"no face found in the reference photo {path}")
        self._references[path] = face, crop_box(image, face.box.expanded(FACE_CROP_SCALE))
        return self._references[path]

    @torch.no_grad()
    def score(self, job: Job, image: Image.Image) -> dict:
        """One record: the job's keys and ``identity``, ``clip_i``, ``clip_t``, ``asp`` (or ``None``)."""
        reference, reference_crop = self._reference(job.request.reference)
        face = self.backend.find_face(image)
        record = {
            "image": job.relpath.as_posix(),
            "method": job.request.method,
            "scenario": job.scenario.name,
            "identity_name": job.identity,
            "prompt_index": job.prompt_index,
            "sample": job.sample,
            "rel_size": job.request.box[2],
            "detected": face is not None,
            "identity": None,
            "clip_i": None,
            "clip_t": None,
            "asp": None,
        }
        if face is not None:
            record["identity"] = self.backend.similarity(reference.embedding, face.embedding)
            if self.clip is not None:
                crop = crop_box(image, face.box.expanded(FACE_CROP_SCALE))
                record["clip_i"] = float(clip_i(self.clip, [crop], [reference_crop])[0])
        if self.clip is not None:
            record["clip_t"] = float(clip_t(self.clip, [image], [job.prompt])[0])
        if self.aesthetic is not None:
            embedder = self.aesthetic_clip or self.clip
            if embedder is None:
                raise RealisIDError(
                    "ASP needs a CLIP ViT-L/14 model (metrics.aesthetic_clip or metrics.clip)"
                )
            record["asp"] = float(self.aesthetic(embedder.embed_images([image]))[0])
        return record


def read_scores(path: Path) -> dict[str, dict]:
    """Records in ``path`` by image path; a line torn by an interruption is ignored."""
    if not path.is_file():
        return {}
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        records[record["image"]] = record
    return records


def score_all(jobs: Sequence[Job], scorer: Scorer, output_dir: str | Path) -> list[dict]:
    """Scores for every job in ``output_dir/scores.jsonl``; an image scored before by the same
    models (``scorer.settings``) from the same file (its modification time) is not scored again."""
    output_dir = Path(output_dir)
    path = output_dir / SCORES_FILE
    known = {}
    for image, record in read_scores(path).items():
        if all(record.get(key) == value for key, value in _stamp(scorer, output_dir / image).items()):
            known[image] = record
    path.write_text("".join(json.dumps(record) + "\n" for record in known.values()), encoding="utf-8")
    todo = [job for job in jobs if job.relpath.as_posix() not in known]
    with path.open("a", encoding="utf-8") as out:
        for job in tqdm(todo, desc="score", unit="img", disable=not todo):
            image = output_dir / job.relpath
            record = {**scorer.score(job, load_photo(image)), **_stamp(scorer, image)}
            out.write(json.dumps(record) + "\n")
            out.flush()
            known[record["image"]] = record
    return [known[job.relpath.as_posix()] for job in jobs]


def _stamp(scorer: Scorer, image: Path) -> dict:
    """What a record was scored from: the models' settings and the image file's modification time."""
    mtime = image.stat().st_mtime_ns if image.is_file() else None
    return {"scored_with": scorer.settings, "image_mtime_ns": mtime}
