"""realisid conditions PHOTO: the faces found in a photo, as a table, JSON and a picture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import RealisIDError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "conditions",
        help="detect faces and extract their conditions (box, landmarks, mask, c_p&e)",
        description=__doc__,
    )
    parser.add_argument("photo", type=Path, help="photo file")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the faces as JSON (image pixels)")
    parser.add_argument(
        "--show", type=Path, metavar="FILE", help="write a picture: boxes, landmarks, masked crops, c_p&e"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..faces import NoFaceError, detect_faces, face_conditions, load_photo
    from ..faces.preview import preview

    photo = load_photo(args.photo)
    faces = detect_faces(photo)
    if not faces:
        raise NoFaceError(f"no face found in {args.photo}")
    print(f"{args.photo}: {photo.width}x{photo.height}, {len(faces)} face(s)")
    print(f"{'#':>2}  {'x0':>7} {'y0':>7} {'size':>7}  {'rel.size':>8}  {'score':>5}  landmarks")
    for index, face in enumerate(faces):
        x0, y0, size = face.box
        print(
            f"{index:>2}  {x0:7.1f} {y0:7.1f} {size:7.1f}  {face.relative_size:8.4f}  {face.score:5.3f}  "
            f"{len(face.landmarks)}"
        )
    if args.json:
        _write(args.json, lambda path: path.write_text(json.dumps(faces_json(faces)) + "\n"))
    if args.show:
        picture = preview(photo, faces, [face_conditions(photo, face) for face in faces])
        _write(args.show, picture.save)
    return 0


def faces_json(faces: list) -> dict:
    """``{"faces": [{"box": [x0, y0, size], "relative_size", "score", "landmarks": [[x, y, z], ...]}]}``."""
    return {
        "faces": [
            {
                "box": [round(float(v), 2) for v in face.box],
                "relative_size": round(face.relative_size, 5),
                "score": round(face.score, 4),
                "landmarks": [[round(float(v), 2) for v in point] for point in face.landmarks],
            }
            for face in faces
        ]
    }


def _write(path: Path, save) -> None:
    try:
        save(path)
    except (OSError, ValueError) as error:
        raise RealisIDError(f"cannot write {path}: {error}") from None
    print(f"wrote {path}")
