"""A small captioned real-photo collection for the training tests, built from photos shipped in packages.

Augmentations (scale, position, flips) of three public-domain portraits, plus photos that must be
skipped: no face, a face too small, several faces of similar size, an unreadable file, a photo
without caption.
"""

from __future__ import annotations

from pathlib import Path

from PIL import ImageOps

from realisid.boxes import Box
from realisid.faces import samples

PORTRAITS = {
    "astronaut": (samples.astronaut, samples.ASTRONAUT_FACE),
    "grace": (samples.grace_hopper, samples.GRACE_HOPPER_FACE),
    "cameraman": (samples.cameraman, samples.CAMERAMAN_FACE),
}
KEPT = 7
"""Photos of :func:`photo_folder` that make a sample."""
SKIPPED = {"face_too_small": 1, "no_caption": 1, "no_face": 1, "several_faces": 1, "unreadable": 1}


def photo_folder(root: Path) -> Path:
    """Writes the collection under ``root`` and returns it; file names say what each photo is."""
    root.mkdir(parents=True, exist_ok=True)

    def save(name: str, image, caption: str | None = "a photo of a person") -> None:
        image.save(root / f"{name}.jpg", quality=92)
        if caption is not None:
            (root / f"{name}.txt").write_text(caption + "\n")

    for name, (photo, _) in PORTRAITS.items():
        save(f"{name}", photo(), f"a portrait of {name}")
    save("astronaut_flipped", ImageOps.mirror(samples.astronaut()), "a mirrored portrait")
    image, _ = samples.place_face(
        samples.grace_hopper(), samples.GRACE_HOPPER_FACE, 0.12, (768, 512), (0.3, 0.6)
    )
    save("grace_small_left", image, "a woman at a rocket launch")
    image, _ = samples.place_face(samples.astronaut(), samples.ASTRONAUT_FACE, 0.2, (512, 768), (0.5, 0.25))
    save("astronaut_tall", image, "an astronaut, full figure")
    image, _ = samples.place_face(samples.cameraman(), samples.CAMERAMAN_FACE, 0.3, (640, 640), (0.7, 0.7))
    save("cameraman_corner_mirrored", ImageOps.mirror(image), "a cameraman outdoors")
    save("skip_no_face", samples.background((512, 512)), "a rocket launch")
    image, _ = samples.place_face(
        samples.astronaut(), samples.ASTRONAUT_FACE, 0.035, (1024, 1024), (0.4, 0.5)
    )
    save("skip_tiny_face", image, "a distant astronaut")
    canvas = samples.background((900, 600))
    for (photo, face), target in zip(PORTRAITS.values(), (Box(100, 150, 150), Box(500, 180, 130))):
        samples.paste_face(canvas, photo(), face, target)
    save("skip_two_faces", canvas, "two people")
    save("skip_no_caption", samples.astronaut(), None)
    (root / "skip_broken.jpg").write_bytes(b"not a jpeg")
    (root / "skip_broken.txt").write_text("broken\n")
    return root
