"""``realisid generate``: images of one or more persons from their photos and a prompt.

Each ``--person`` is ``ref=PHOTO[,box=CX,CY,SIZE][,pose=PHOTO][,yaw=DEG][,pitch=DEG][,roll=DEG]``;
the box is relative (centre as fractions of width/height, size over the long edge). A scene file
(JSON) holds the same: ``{"prompt": ..., "persons": [{"ref": ..., "box": [cx, cy, size], ...}]}``;
its relative paths are read from the scene file's folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import RealisIDError

PERSON_KEYS = {"ref", "box", "pose", "yaw", "pitch", "roll"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="generate images of persons from photos", description=__doc__)
    add_generation_arguments(parser)
    parser.add_argument("--prompt", help="text prompt (or in --scene)")
    parser.add_argument("--negative-prompt", default=None)
    parser.add_argument("--person", action="append", default=[], metavar="SPEC", help="ref=PHOTO[,box=cx,cy,s][,...]")
    parser.add_argument("--scene", type=Path, help="scene JSON with prompt and persons")
    parser.add_argument("--out", type=Path, default=Path("outputs/generate"), help="output folder")
    parser.set_defaults(run=run)


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    """Model and sampling options shared by ``generate`` and ``demo``."""
    model = parser.add_argument_group("model")
    model.add_argument("--base", help="SDXL base: hub id or folder (omit for the offline tiny stack)")
    model.add_argument("--adapter", help="trained RealisID adapter folder")
    model.add_argument("--image-encoder", help="CLIP ViT-H/14 vision model folder or hub id")
    model.add_argument("--tiny", action="store_true", help="use the offline tiny stack (random weights)")
    model.add_argument("--device", default="cpu")
    model.add_argument("--fp16", action="store_true", help="half precision (GPU)")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--height", type=int, default=None, help="pixels, multiple of 8")
    sampling.add_argument("--width", type=int, default=None, help="pixels, multiple of 8")
    sampling.add_argument("--steps", type=int, default=30, help="DDIM steps (paper: 30)")
    sampling.add_argument("--seed", type=int, default=0)
    sampling.add_argument("--num-images", type=int, default=1)
    sampling.add_argument("--text-scale", type=float, default=7.5, help="λ_t of Eq. 8")
    sampling.add_argument("--id-scale", type=float, default=5.0, help="λ_i of Eq. 8")
    sampling.add_argument("--id-start", type=float, default=0.2, help="fraction of steps before the ID joins")
    sampling.add_argument("--local-scale", type=float, default=1.0, help="local branch weight (0 = off)")
    sampling.add_argument("--global-scale", type=float, default=1.0, help="global branch weight (0 = off)")


def names_no_model(args: argparse.Namespace) -> bool:
    """Whether the command line leaves the models to the default, the shipped toy weights (no
    ``--base``, ``--adapter`` or ``--tiny``); ``demo`` and ``app`` read it."""
    return args.base is None and args.adapter is None and not args.tiny


def parse_person(spec: str, base_dir: Path | None = None) -> dict:
    """``"ref=a.jpg,box=0.3,0.4,0.2,yaw=15"`` → ``{"ref": "a.jpg", "box": [0.3, 0.4, 0.2], "yaw": 15.0}``."""
    fields: dict[str, list[str]] = {}
    key = None
    for token in spec.split(","):
        if "=" in token:
            key, value = token.split("=", 1)
            key = key.strip()
            if key not in PERSON_KEYS:
                raise RealisIDError(f"--person {spec!r}: unknown key {key!r} (known: {', '.join(sorted(PERSON_KEYS))})")
            fields[key] = [value]
        elif key is None:
            raise RealisIDError(f"--person {spec!r}: expected key=value pairs, starting with ref=PHOTO")
        else:
            fields[key].append(token)
    return person_entry({k: v if k == "box" else ",".join(v) for k, v in fields.items()}, base_dir)


def person_entry(entry: dict, base_dir: Path | None = None) -> dict:
    """Validates one person of a scene: paths resolved, box three numbers, angles numbers."""
    if "ref" not in entry:
        raise RealisIDError(f"person {entry} has no ref=PHOTO")
    out = {}
    for key, value in entry.items():
        if key not in PERSON_KEYS:
            raise RealisIDError(f"person {entry}: unknown key {key!r}")
        try:
            if key in ("ref", "pose"):
                out[key] = str(Path(base_dir, value) if base_dir else Path(value))
            elif key == "box":
                out[key] = [float(v) for v in value]
                if len(out[key]) != 3:
                    raise ValueError
            else:
                out[key] = float(value)
        except (TypeError, ValueError):
            raise RealisIDError(f"person {entry}: bad {key} {value!r}") from None
    return out


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
    persons = scene.get("persons", []) + [parse_person(spec) for spec in args.person]
    prompt = args.prompt or scene.get("prompt")
    if not prompt:
        raise RealisIDError("no prompt: give --prompt or a scene with a prompt")
    if not persons:
        raise RealisIDError("no person: give --person ref=PHOTO or a scene with persons")
    return {**scene, "prompt": prompt, "persons": persons,
            "negative_prompt": args.negative_prompt or scene.get("negative_prompt")}


def run(args: argparse.Namespace) -> int:
    scene = read_scene(args)
    from ..persons import Person

    persons = [
        Person(p["ref"], box=tuple(p["box"]) if "box" in p else None, pose=p.get("pose"),
               yaw=p.get("yaw"), pitch=p.get("pitch"), roll=p.get("roll"))
        for p in scene["persons"]
    ]
    generate(args, scene["prompt"], persons, scene.get("negative_prompt"), scene)
    return 0


def generate(args: argparse.Namespace, prompt: str, persons: list, negative_prompt: str | None, scene: dict) -> list[Path]:
    """Loads the pipeline the arguments ask for, generates, and writes images, layout and settings."""
    import torch

    from ..presets import load_pipeline

    tiny = args.tiny or args.base is None
    height = args.height or scene.get("height") or (256 if tiny else 1024)
    width = args.width or scene.get("width") or (256 if tiny else 1024)
    pipe = load_pipeline(None if tiny else args.base, args.adapter, args.image_encoder, args.device,
                         torch.float16 if args.fp16 else None, seed=args.seed)
    output = pipe(
        prompt, persons, negative_prompt=negative_prompt, height=height, width=width,
        num_inference_steps=args.steps, text_scale=args.text_scale, id_scale=args.id_scale,
        id_start=args.id_start, local_scale=args.local_scale, global_scale=args.global_scale,
        num_images_per_prompt=args.num_images, generator=torch.Generator().manual_seed(args.seed),
        return_layout=True,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(output.images):
        paths.append(args.out / f"image_{index:03d}.png")
        image.save(paths[-1])
    output.layout.save(args.out / "layout.png")
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "run"}
    record = {"prompt": prompt, "negative_prompt": negative_prompt, "height": height, "width": width,
              "persons": scene["persons"], "settings": settings, "random_weights": tiny}
    (args.out / "scene.json").write_text(json.dumps(record, indent=2) + "\n")
    for path in (*paths, args.out / "layout.png"):
        print(f"wrote {path}")
    return paths
