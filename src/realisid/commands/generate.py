"""realisid generate: images of one or more persons from their photos and a prompt.

Each --person is ref=PHOTO[+PHOTO...][,face=N][,box=CX,CY,SIZE][,pose=PHOTO][,yaw=DEG][,pitch=DEG][,roll=DEG].
Several photos of one person, joined by +, are averaged into one identity (the first places the face
and draws its landmarks by default); face=N picks the N-th largest face of a photo with several
(0, the largest, by default; N+M gives one per photo). The box is relative (centre as fractions of
width/height, size over the long edge). A scene file (JSON) holds the same: {"prompt": ..., "persons":
[{"ref": "a.jpg" or ["a.jpg", "b.jpg"], "face": 0, "box": [cx, cy, size], ...}]}; its relative paths
are read from the scene file's folder. The faces used are printed and recorded in scene.json.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ..errors import RealisIDError, whole_number
from ..sampling import check_seed
from .options import (
    MODELS_RULE,
    add_image_arguments,
    add_model_arguments,
    add_sampling_arguments,
    check_output_folder,
    load_models,
    sampling_options,
)

PERSON_KEYS = {"ref", "face", "box", "pose", "yaw", "pitch", "roll"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate", help="generate images of persons from photos", description=__doc__, epilog=MODELS_RULE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_generation_arguments(parser)
    parser.add_argument("--prompt", help="text prompt (or in --scene)")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument(
        "--person", action="append", default=[], metavar="SPEC", help="ref=PHOTO[+PHOTO][,face=N][,box=cx,cy,s][,...]"
    )
    parser.add_argument("--scene", type=Path, help="scene JSON with prompt and persons")
    parser.add_argument("--out", type=Path, default=Path("outputs/generate"), help="output folder")
    parser.set_defaults(run=run)


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Model, image and sampling options shared by ``generate``, ``demo`` and ``app``."""
    add_model_arguments(parser)
    add_image_arguments(parser)
    add_sampling_arguments(parser)


def parse_person(spec: str, base_dir: Path | None = None) -> dict:
    """``"ref=a.jpg,box=0.3,0.4,0.2,yaw=15"`` → ``{"ref": "a.jpg", "box": [0.3, 0.4, 0.2], "yaw": 15.0}``;
    ``ref=a.jpg+b.jpg`` and ``face=1+0`` give lists, one item per photo."""
    fields: dict[str, list[str]] = {}
    key = None
    for token in spec.split(","):
        if "=" in token:
            key, value = token.split("=", 1)
            key = key.strip()
            if key not in PERSON_KEYS:
                raise RealisIDError(f"--person {spec!r}: unknown key {key!r} (known: {', '.join(sorted(PERSON_KEYS))})")
            if key in fields:
                raise RealisIDError(f"--person {spec!r}: {key} is given twice")
            fields[key] = [value]
        elif key is None:
            raise RealisIDError(f"--person {spec!r}: expected key=value pairs, starting with ref=PHOTO")
        else:
            fields[key].append(token)
    joined = {k: v if k == "box" else ",".join(v) for k, v in fields.items()}
    for key in ("ref", "face"):
        if key in joined and "+" in joined[key]:
            joined[key] = joined[key].split("+")
    return person_entry(joined, base_dir)


def person_entry(entry: dict, base_dir: Path | None = None) -> dict:
    """Validates one person of a scene: paths resolved (``ref`` one or a list), ``face`` whole numbers
    (one or a list), box three numbers, angles numbers."""
    if "ref" not in entry:
        raise RealisIDError(f"person {entry} has no ref=PHOTO")
    out = {}
    for key, value in entry.items():
        if key not in PERSON_KEYS:
            raise RealisIDError(f"person {entry}: unknown key {key!r}")
        try:
            if key == "ref" and isinstance(value, list):
                if not value:
                    raise ValueError
                out[key] = [_path(v, base_dir) for v in value]
            elif key in ("ref", "pose"):
                out[key] = _path(value, base_dir)
            elif key == "face":
                out[key] = [_face_index(v) for v in value] if isinstance(value, list) else _face_index(value)
            elif key == "box":
                if not isinstance(value, (list, tuple)) or len(value) != 3:
                    raise ValueError
                out[key] = [float(v) for v in value]
            else:
                out[key] = float(value)
        except (TypeError, ValueError):
            raise RealisIDError(f"person {entry}: bad {key} {value!r}") from None
    return out


def _path(value: str, base_dir: Path | None) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return str(Path(base_dir, value) if base_dir else Path(value))


def _face_index(value: int | str) -> int:
    """A face index from JSON (an integer) or the command line (digits)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or int(value) < 0:
        raise ValueError
    return int(value)


def read_scene(args: argparse.Namespace) -> dict:
    scene: dict = {}
    if args.scene:
        try:
            scene = json.loads(args.scene.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise RealisIDError(f"cannot read scene {args.scene}: {error}") from None
        persons = scene.get("persons", []) if isinstance(scene, dict) else None
        if not isinstance(persons, list) or not all(isinstance(p, dict) for p in persons):
            raise RealisIDError(f"scene {args.scene} must be an object whose `persons` is a list of objects")
        scene["persons"] = [person_entry(p, args.scene.parent) for p in persons]
        for key in ("prompt", "negative_prompt"):
            if scene.get(key) is not None and not isinstance(scene[key], str):
                raise RealisIDError(f"scene {args.scene}: {key} must be a string, got {scene[key]!r}")
    persons = scene.get("persons", []) + [parse_person(spec) for spec in args.person]
    prompt = args.prompt or scene.get("prompt")
    if not prompt:
        raise RealisIDError("no prompt: give --prompt or a scene with a prompt")
    if not persons:
        raise RealisIDError("no person: give --person ref=PHOTO or a scene with persons")
    sides = {key: image_side(key, getattr(args, key), scene.get(key)) for key in ("height", "width")}
    return {**scene, **sides, "prompt": prompt, "persons": persons,
            "negative_prompt": args.negative_prompt or scene.get("negative_prompt")}


def image_side(name: str, given: object, in_scene: object) -> int | None:
    """The image ``name`` (height or width) given on the command line, else in the scene, if any."""
    value = given if given is not None else in_scene
    return None if value is None else whole_number(f"{name} in pixels", value, 1)


def run(args: argparse.Namespace) -> int:
    scene = read_scene(args)
    persons = [chosen_faces(index, entry) for index, entry in enumerate(scene["persons"])]
    generate(args, scene["prompt"], persons, scene.get("negative_prompt"), scene)
    return 0


def chosen_faces(index: int, entry: dict):
    """Person ``index`` of a scene with its reference and driving faces found (before any model loads, so
    a bad photo fails fast); prints which face of each photo is used and records it in ``entry["face"]``."""
    from ..persons import Person, as_conditions, reference_faces

    person = Person(
        entry["ref"], box=tuple(entry["box"]) if "box" in entry else None, pose=entry.get("pose"),
        yaw=entry.get("yaw"), pitch=entry.get("pitch"), roll=entry.get("roll"), face=entry.get("face", 0),
    )
    faces = reference_faces(person, index)
    photos = entry["ref"] if isinstance(entry["ref"], list) else [entry["ref"]]
    used = ", ".join(f"{face.describe()} in {photo}" for face, photo in zip(faces, photos))
    print(f"person {index}: {used}")
    entry["face"] = [face.face for face in faces] if isinstance(entry["ref"], list) else faces[0].face
    pose = None if person.pose is None else as_conditions(person.pose, f"person {index} pose")
    return replace(person, reference=[face.conditions for face in faces], pose=pose)


def generate(args: argparse.Namespace, prompt: str, persons: list, negative_prompt: str | None, scene: dict) -> list[Path]:
    """Loads the models the arguments ask for, generates, and writes images, layout and settings."""
    import torch

    sampling, seed = sampling_options(args), check_seed(args.seed)
    check_output_folder(args.out)
    models = load_models(args)
    height = scene.get("height") or args.height or models.side
    width = scene.get("width") or args.width or models.side
    output = models.pipe(
        prompt, persons, negative_prompt=negative_prompt, height=height, width=width, sampling=sampling,
        num_images_per_prompt=args.num_images, generator=torch.Generator().manual_seed(seed),
        return_layout=True,
    )
    paths = [args.out / f"image_{index:03d}.png" for index in range(len(output.images))]
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "run"}
    record = {"prompt": prompt, "negative_prompt": negative_prompt, "height": height, "width": width,
              "persons": scene["persons"], "settings": settings, "models": models.kind,
              "random_weights": models.kind == "tiny"}
    writes = [*zip(paths, (image.save for image in output.images)),
              (args.out / "layout.png", output.layout.save),
              (args.out / "scene.json", lambda path: path.write_text(json.dumps(record, indent=2) + "\n"))]
    write_all(args.out, writes)
    for path in (*paths, args.out / "layout.png", args.out / "scene.json"):
        print(f"wrote {path}")
    return paths


def write_all(out: Path, writes: list) -> None:
    """Runs each ``(path, save)`` in folder ``out``; on a failed write (disk full), removes what it wrote
    and raises a one-line error."""
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for path, save in writes:
            written.append(path)
            save(path)
    except OSError as error:
        for path in written:
            path.unlink(missing_ok=True)
        raise RealisIDError(f"cannot write the results to {out}: {error.strerror or error}") from None
