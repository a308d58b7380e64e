"""An identity metric for the synthetic world, independent of any generator.

:class:`IdentityNet` maps a face crop (the face box widened by :data:`CROP_SCALE`, 64 px) to a 64-D
L2-normalised embedding. :func:`train_identity_net` trains it with a CosFace (additive-margin
softmax) loss over training identities rendered at random boxes, poses, expressions and scenes, with
jittered crops, so that one identity is close to itself in any scene. :func:`verification_accuracy`
measures it on identities it never saw. Everything runs offline on a CPU in minutes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from realisid.boxes import Box
from realisid.faces.photo import crop_square

from .render import Rendering
from .sampling import sample_rendering
from .traits import Identity, Paint

CROP_SCALE = 1.3
"""Face crops are the face box widened by this factor (as the evaluation's CLIP-I crops)."""
HELD_OUT_SEED = 1_000_000
"""Identity seeds from here on are never used for training."""

Embedding = Callable[[torch.Tensor], torch.Tensor]
"""Face crops ``(N, 3, S, S)`` in ``[-1, 1]`` → ``(N, ...)``, flattened to one vector per crop."""
Crop = Callable[[Rendering, Box, int], Image.Image]
"""``(rendering, face box, side)`` → a square face crop of that side: what an embedding is shown."""


class IdentityNet(nn.Module):
    """Four stride-2 conv blocks and a linear head: ``(N, 3, S, S)`` in ``[-1, 1]`` → ``(N, D)``, unit norm."""

    def __init__(self, dim: int = 64, width: int = 16, crop_size: int = 64):
        super().__init__()
        self.config = {"dim": dim, "width": width, "crop_size": crop_size}
        channels = [3, width, 2 * width, 4 * width, 4 * width]
        blocks: list[nn.Module] = []
        for c_in, c_out in pairwise(channels):
            blocks += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            blocks += [nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Linear(channels[-1] * (crop_size // 16) ** 2, dim)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.head(self.features(faces).flatten(1)), dim=-1)

    @torch.no_grad()
    def embed(self, crops: Sequence[Image.Image]) -> np.ndarray:
        """Embeddings ``(N, D)`` of face crops (any size; resized to the net's crop size)."""
        size = self.config["crop_size"]
        batch = torch.stack([to_tensor(crop.resize((size, size), Image.BILINEAR)) for crop in crops])
        return self.eval()(batch).numpy()

    def save(self, path: str | Path) -> None:
        """Weights in safetensors, config in its metadata."""
        state = {k: v.contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata={"config": json.dumps(self.config)})

    @classmethod
    def load(cls, path: str | Path) -> IdentityNet:
        with safe_open(str(path), "pt") as file:
            config = json.loads(file.metadata()["config"])
        net = cls(**config)
        net.load_state_dict(load_file(str(path)))
        return net.eval()


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image → ``(3, H, W)`` float in ``[-1, 1]``."""
    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)


def face_crop(image: Image.Image, box: Box, size: int = 64) -> Image.Image:
    """The face ``box`` widened by :data:`CROP_SCALE`, resampled to ``size×size``."""
    return crop_square(image, box.expanded(CROP_SCALE), size)


def metric_crop(rendering: Rendering, box: Box, size: int) -> Image.Image:
    """The metric's crop of the face at ``box``: :func:`face_crop`, background kept."""
    return face_crop(rendering.image, box, size)


def _jittered(box: Box, rng: np.random.Generator, amount: float) -> Box:
    """``box`` moved and rescaled by up to ``amount`` of its size, as a detector's error would."""
    dx, dy = rng.uniform(-amount, amount, 2) * box.size
    return Box(box.x0 + dx, box.y0 + dy, box.size).expanded(float(np.exp(rng.uniform(-amount, amount))))


def softened(crop: Image.Image, rng: np.random.Generator, smallest: int) -> Image.Image:
    """``crop`` resampled down to a random side in ``[smallest, its side]`` and back: the detail a
    smaller, softer or decoded face has lost."""
    side = int(rng.integers(smallest, crop.width + 1))
    return crop.resize((side, side), Image.BILINEAR).resize(crop.size, Image.BILINEAR)


def render_faces(
    identity_seeds: Sequence[int],
    per_identity: int,
    seed: int,
    crop_size: int = 64,
    jitter: float = 0.08,
    soften: float = 0.0,
    paint: Paint = "none",
    crop: Crop = metric_crop,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Face crops ``(N, 3, S, S)`` (``crop``, the metric's unless given) and identity labels ``(N,)``
    (positions in ``identity_seeds``) from random scenes of each identity wearing ``paint``; boxes
    jittered by ``jitter``; a fraction ``soften`` of the crops loses detail (:func:`softened`, down to
    a quarter of the side)."""
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for label, identity_seed in enumerate(identity_seeds):
        identity = Identity.sample(identity_seed, paint)
        for _ in range(per_identity):
            rendering = sample_rendering(int(rng.integers(2**31)), identity, size=128, supersample=2)
            face = crop(rendering, _jittered(rendering.box, rng, jitter), crop_size)
            if rng.random() < soften:
                face = softened(face, rng, crop_size // 4)
            crops.append(to_tensor(face))
            labels.append(label)
    return torch.stack(crops), torch.tensor(labels)


@dataclass(frozen=True)
class TrainingConfig:
    """Identities, images and optimisation of :func:`train_identity_net`."""

    identities: int = 300
    per_identity: int = 10
    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    margin: float = 0.25
    scale: float = 16.0
    dim: int = 64
    width: int = 16
    soften: float = 0.5
    """Fraction of training crops that lose detail (so a soft decoded face is judged by its traits)."""
    seed: int = 0


def train_identity_net(
    config: TrainingConfig | None = None, output: str | Path | None = None, paint: Paint = "none"
) -> IdentityNet:
    """An :class:`IdentityNet` trained on identities ``0 … config.identities - 1`` (wearing ``paint``)
    with a CosFace loss; saved to ``output`` (safetensors) when given."""
    config = config or TrainingConfig()
    torch.manual_seed(config.seed)
    faces, labels = render_faces(
        range(config.identities),
        config.per_identity,
        config.seed,
        soften=config.soften,
        paint=paint,
    )
    net = IdentityNet(config.dim, config.width)
    classes = nn.Parameter(torch.randn(config.identities, config.dim) * 0.01)
    optimizer = torch.optim.AdamW([*net.parameters(), classes], lr=config.lr, weight_decay=5e-4)
    steps = config.epochs * -(-len(faces) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps)
    net.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(faces))
        for start in range(0, len(faces), config.batch_size):
            index = order[start : start + config.batch_size]
            cosine = net(faces[index]) @ nn.functional.normalize(classes, dim=-1).T
            margin = nn.functional.one_hot(labels[index], config.identities) * config.margin
            loss = nn.functional.cross_entropy(config.scale * (cosine - margin), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    net.eval()
    if output is not None:
        net.save(output)
    return net


@dataclass(frozen=True)
class Verification:
    """Same/different verification on held-out identities: threshold from a validation split."""

    threshold: float
    validation_accuracy: float
    test_accuracy: float
    test_pairs: int

    def __str__(self) -> str:
        return json.dumps(asdict(self))


def _pair_scores(
    embed: Embedding,
    seeds: Sequence[int],
    per_identity: int,
    seed: int,
    crop_size: int,
    paint: Paint,
    crop: Crop,
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores and same-identity flags of all pairs of crops of ``seeds``' identities."""
    faces, labels = render_faces(seeds, per_identity, seed, crop_size, jitter=0.05, paint=paint, crop=crop)
    with torch.no_grad():
        embeddings = nn.functional.normalize(embed(faces).flatten(1).float(), dim=-1).numpy()
    i, j = np.triu_indices(len(faces), k=1)
    scores = (embeddings @ embeddings.T)[i, j]  # not a product per pair: features may be thousands wide
    same = labels.numpy()[i] == labels.numpy()[j]
    return scores, same


def _balanced_accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    predicted = scores >= threshold
    return float((predicted[same].mean() + (~predicted[~same]).mean()) / 2)


def verification_accuracy(
    embed: IdentityNet | Embedding,
    identities: int = 100,
    per_identity: int = 6,
    seed: int = 1,
    paint: Paint = "none",
    crop_size: int = 64,
    crop: Crop = metric_crop,
) -> Verification:
    """Balanced verification accuracy of ``embed`` (the metric, or any map of face crops to vectors,
    compared by cosine) on held-out identities wearing ``paint``: the threshold is the best one on a
    validation split of ``identities`` unseen identities, applied to another ``identities``. An
    :class:`IdentityNet` sees crops of its own size, anything else ``crop_size`` (made by ``crop``)."""
    if isinstance(embed, IdentityNet):
        embed, crop_size = embed.eval(), embed.config["crop_size"]
    validation = range(HELD_OUT_SEED, HELD_OUT_SEED + identities)
    test = range(HELD_OUT_SEED + identities, HELD_OUT_SEED + 2 * identities)
    scores, same = _pair_scores(embed, validation, per_identity, seed, crop_size, paint, crop)
    candidates = np.quantile(scores, np.linspace(0, 1, 201))
    threshold = float(max(candidates, key=lambda t: _balanced_accuracy(scores, same, t)))
    test_scores, test_same = _pair_scores(embed, test, per_identity, seed + 1, crop_size, paint, crop)
    return Verification(
        threshold=threshold,
        validation_accuracy=_balanced_accuracy(scores, same, threshold),
        test_accuracy=_balanced_accuracy(test_scores, test_same, threshold),
        test_pairs=len(test_scores),
    )
