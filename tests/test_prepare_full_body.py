"""``realisid prepare`` on full-body compositions: faces 1/8 to 1/16 of the image are kept, with boxes,
landmarks and masks where the face is; what is skipped is counted by reason."""

from __future__ import annotations

import io
import json
import tarfile
from contextlib import redirect_stdout

import numpy as np
import pytest
from PIL import Image

from realisid.boxes import Box
from realisid.cli import main
from realisid.faces import MediaPipeDetector, samples

# name: (photo, relative face size, backdrop, position, canvas (w, h))
PEOPLE = {
    "astronaut_1_8": (samples.astronaut, 1 / 8, "scene", "centre", (1024, 1024)),
    "hopper_1_12": (samples.grace_hopper, 1 / 12, "flat", "left edge", (1024, 1024)),
    "camera_1_16": (samples.cameraman, 1 / 16, "noise", "bottom edge", (1024, 1024)),
    "hopper_1_16_wide": (samples.grace_hopper, 1 / 16, "scene", "top-right corner", (1536, 1024)),
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The collection's truths (training-image pixels), the shards' samples and the command's output."""
    root = tmp_path_factory.mktemp("full_body")
    photos, out = root / "photos", root / "shards"
    photos.mkdir()
    reference = MediaPipeDetector(tiles=(1.0,), full_range=True)
    truths = {}
    for name, (photo, relative, kind, position, size) in PEOPLE.items():
        photo = photo()
        image, box = samples.composed(
            photo, samples.reference_box(photo, reference), relative, kind, position, size
        )
        image.save(photos / f"{name}.png")
        (photos / f"{name}.txt").write_text(f"a full-body photo of {name}\n")
        side = min(size)  # the training image is the photo's largest square, centred on the face
        left = int(np.clip(round(box.center[0] - side / 2), 0, size[0] - side))
        truths[name] = Box(box.x0 - left, box.y0, box.size).scaled(1024 / side)
    tiny, _ = samples.composed(samples.astronaut(), samples.ASTRONAUT_FACE, 1 / 32, "flat", "centre")
    skipped = {"skip_tiny": tiny, "skip_no_face": samples.backdrop("scene", (1024, 1024))}
    for name, image in skipped.items():
        image.save(photos / f"{name}.png")
        (photos / f"{name}.txt").write_text("a photo\n")
    samples.backdrop("flat", (64, 64)).save(photos / "skip_uncaptioned.png")
    reference.close()

    output = io.StringIO()
    with redirect_stdout(output):
        assert main(["prepare", str(photos), "--out", str(out), "--workers", "1", "--crop-size", "128"]) == 0
    samples_by_name = {}
    with tarfile.open(out / "shard-000000.tar") as tar:
        members = {member.name: tar.extractfile(member).read() for member in tar.getmembers()}
    for name, data in members.items():
        if name.endswith(".json"):
            meta = json.loads(data)
            key = name.removesuffix(".json")
            stem = meta["source"].rsplit("/", 1)[-1].removesuffix(".png")
            samples_by_name[stem] = {
                "meta": meta,
                "mask": np.asarray(Image.open(io.BytesIO(members[f"{key}.mask.png"]))),
                "image": Image.open(io.BytesIO(members[f"{key}.jpg"])),
            }
    return truths, samples_by_name, json.loads((out / "manifest.json").read_text()), output.getvalue()


def test_full_body_photos_are_kept_and_skips_counted(prepared):
    _, kept, manifest, output = prepared
    assert sorted(kept) == sorted(PEOPLE)
    assert manifest["samples"] == len(PEOPLE) and manifest["photos"] == len(PEOPLE) + 3
    assert manifest["skipped"] == {"face_too_small": 1, "no_caption": 1, "no_face": 1}
    assert "skipped      1  face_too_small" in output


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_full_body_boxes_landmarks_and_masks_are_on_the_face(prepared, name):
    truths, kept, _, _ = prepared
    sample, truth = kept[name], truths[name]
    assert sample["image"].size == (1024, 1024)
    box = Box(*sample["meta"]["box"])
    assert box.iou(truth) > 0.8
    assert abs(box.size / truth.size - 1) < 0.1
    landmarks = np.array(sample["meta"]["landmarks"])  # normalised to the box
    assert landmarks.shape == (478, 3)
    assert ((landmarks[:, :2] > -0.1) & (landmarks[:, :2] < 1.1)).all()
    mask = sample["mask"] / 255.0  # the face oval fills most of its square box, not its corners
    assert mask.shape == (128, 128) and 0.4 < mask.mean() < 0.85
    points = np.clip(np.floor(landmarks[:, :2] * 128).astype(int), 0, 127)
    assert (mask[points[:, 1], points[:, 0]] > 0.5).mean() > 0.9  # mask and landmarks in one frame
    centre_x, centre_y = points.mean(axis=0).astype(int)
    assert mask[centre_y - 8 : centre_y + 9, centre_x - 8 : centre_x + 9].min() > 0.99
    assert max(mask[:6, :6].max(), mask[:6, -6:].max(), mask[-6:, :6].max(), mask[-6:, -6:].max()) < 0.01
