"""The evaluation config (YAML). Relative paths are resolved against the YAML file's folder.

.. code-block:: yaml

    identities: refs/                 # one reference photo per identity
    prompts: prompts.txt              # optional: default is the shipped 35-prompt list
    subject: a person                 # replaces {subject} in every prompt
    output_dir: eval/
    n_per_prompt: 2
    seed: 0
    height: 1024
    width: 1024
    scenarios: {regular: [1/4, 1/2], small: [1/7, 1/6]}
    sizes: [1/4, 1/5, 1/6, 1/7]       # the face-size sweep (Table 3)
    ablation_scenarios: [small]       # Table 2
    metrics:
      identity_backend: dlib          # or facenet, or one an installed package adds (the toy world's synthetic)
      identity_weights: null          # the backend's weights (facenet: a file; synthetic: a folder)
      clip: models/clip-vit-large-patch14
      aesthetic: models/sac+logos+ava1-l14-linearMSE.safetensors
      aesthetic_clip: null            # CLIP ViT-L/14 for ASP; defaults to `clip`
    methods:                          # Table 1 and Table 3 (options: realisid.evaluation.generators)
      - {name: realisid, label: RealisID, base: sdxl/, adapter: ckpt/, dtype: float16}
      - {name: instantid, kind: python, target: "my_baselines:instantid"}
      - {name: photomaker, kind: python, target: "my_baselines:photomaker", sets_face_size: false}
                                      # ^ cannot place a face: small faces are asked for in words
    ablations:                        # Table 2; a bare name reuses that method (the full model's row)
      - {name: no-local, label: "w/o B_local", base: sdxl/, adapter: ckpt/, dtype: float16, local_scale: 0.0}
      - {name: no-global, label: "w/o B_global", base: sdxl/, adapter: ckpt/, dtype: float16, global_scale: 0.0}
      - {name: realisid}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import RealisIDError, whole_number
from .protocol import (
    DEFAULT_PROMPTS,
    REGULAR,
    SMALL,
    SWEEP_SIZES,
    Scenario,
    check_name,
    parse_size,
    size_scenario,
)


@dataclass(frozen=True)
class MethodSpec:
    """A method to evaluate: folder ``name``, display ``label``, its generator options (the
    mapping's other keys, e.g. ``kind``, ``checkpoint``) and whether it ``sets_face_size`` from the
    request's box (if not, the paper's small-face prompt is added for it)."""

    name: str
    label: str
    options: dict[str, Any]
    sets_face_size: bool = True


@dataclass(frozen=True)
class MetricsConfig:
    identity_backend: str = "dlib"
    clip: Path | None = None
    aesthetic: Path | None = None
    aesthetic_clip: Path | None = None
    identity_weights: Path | None = None


@dataclass(frozen=True)
class EvaluationConfig:
    identities: Path
    output_dir: Path
    methods: tuple[MethodSpec, ...]
    prompts: Path = DEFAULT_PROMPTS
    subject: str = "a person"
    n_per_prompt: int = 2
    seed: int = 0
    height: int = 1024
    width: int = 1024
    scenarios: tuple[Scenario, ...] = (REGULAR, SMALL)
    sizes: tuple[Scenario, ...] = tuple(size_scenario(s) for s in SWEEP_SIZES)
    ablations: tuple[MethodSpec, ...] = ()
    ablation_scenarios: tuple[Scenario, ...] = (SMALL,)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    @classmethod
    def from_yaml(cls, path: str | Path) -> EvaluationConfig:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as error:
            raise RealisIDError(f"cannot read config {path}: {error}") from error
        if not isinstance(data, dict):
            raise RealisIDError(f"config {path} must be a mapping of keys, not a {type(data).__name__}")
        return cls.from_dict(data, base=path.parent)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path = Path(".")) -> EvaluationConfig:
        data = dict(data)
        unknown = set(data) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise RealisIDError(f"unknown config keys: {', '.join(sorted(unknown))}")
        for key in ("identities", "output_dir", "methods"):
            if key not in data:
                raise RealisIDError(f"config needs `{key}`")

        def resolve(key: str, value: Any) -> Path | None:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                raise RealisIDError(f"config key {key} must be a path, got {value!r}")
            return base / str(value)

        scenarios = {"regular": REGULAR, "small": SMALL}
        if "scenarios" in data:
            scenarios = _scenarios(data.pop("scenarios"))
        default_ablation_scenarios = ["small"] if data.get("ablations") else []
        ablation_names = _names("ablation_scenarios", data.pop("ablation_scenarios", default_ablation_scenarios))
        missing_scenarios = set(ablation_names) - set(scenarios)
        if missing_scenarios:
            raise RealisIDError(
                f"ablation_scenarios not among scenarios: {', '.join(sorted(missing_scenarios))}"
            )
        metrics = data.pop("metrics", None) or {}
        if not isinstance(metrics, dict):
            raise RealisIDError(f"config key metrics must be a mapping of keys, got {metrics!r}")
        metrics = dict(metrics)
        unknown = set(metrics) - set(MetricsConfig.__dataclass_fields__)
        if unknown:
            raise RealisIDError(f"unknown metrics keys: {', '.join(sorted(unknown))}")
        backend = _text("metrics.identity_backend", metrics.pop("identity_backend", "dlib"))
        data.update(_scalars(data))
        methods = _methods(data.pop("methods"))
        by_name = {spec.name: spec for spec in methods}
        ablations = tuple(  # a bare `name` entry is the method of that name (e.g. the full model's row)
            by_name.get(spec.name, spec) if not spec.options and spec.label == spec.name else spec
            for spec in _methods(data.pop("ablations", None) or [])
        )
        return cls(
            identities=resolve("identities", data.pop("identities")),
            output_dir=resolve("output_dir", data.pop("output_dir")),
            prompts=resolve("prompts", data.pop("prompts", None)) or DEFAULT_PROMPTS,
            methods=methods,
            ablations=ablations,
            scenarios=tuple(scenarios.values()),
            ablation_scenarios=tuple(scenarios[name] for name in ablation_names),
            sizes=tuple(size_scenario(s) for s in _names("sizes", data.pop("sizes", SWEEP_SIZES))),
            metrics=MetricsConfig(
                identity_backend=backend, **{k: resolve(f"metrics.{k}", v) for k, v in metrics.items()}
            ),
            **data,
        )

    def method_scenarios(self) -> list[tuple[tuple[MethodSpec, ...], tuple[Scenario, ...]]]:
        """Which methods run in which scenarios: methods in all, ablations in theirs."""
        return [(self.methods, self.scenarios + self.sizes), (self.ablations, self.ablation_scenarios)]

    def method_specs(self) -> dict[str, MethodSpec]:
        """Every method and ablation by name. A name used again with no options refers to the
        first definition; with options, they must be the same."""
        specs: dict[str, MethodSpec] = {}
        for spec in self.methods + self.ablations:
            known = specs.setdefault(spec.name, spec)
            if spec.options and known.options != spec.options:
                raise RealisIDError(f"method {spec.name!r} is defined twice with different options")
        return specs


def _scenarios(items: Any) -> dict[str, Scenario]:
    """``{name: [min, max]}`` → scenarios of those relative face sizes."""
    if not isinstance(items, dict) or not all(isinstance(v, list) and len(v) == 2 for v in items.values()):
        raise RealisIDError(f"scenarios maps each name to [min, max] relative sizes, got {items!r}")
    return {
        name: Scenario(check_name(str(name), "scenario"), str(name), (parse_size(lo), parse_size(hi)))
        for name, (lo, hi) in items.items()
    }


def _methods(items: list[dict[str, Any]]) -> tuple[MethodSpec, ...]:
    if not isinstance(items, list) or not all(isinstance(i, dict) and "name" in i for i in items):
        raise RealisIDError("methods and ablations are lists of mappings, each with a `name`")
    for i in items:
        if not isinstance(i.get("sets_face_size", True), bool):
            raise RealisIDError(f"method {i['name']!r}: sets_face_size must be true or false")
    return tuple(
        MethodSpec(
            check_name(str(i["name"]), "method"),
            str(i.get("label", i["name"])),
            {k: v for k, v in i.items() if k not in ("name", "label", "sets_face_size")},
            i.get("sets_face_size", True),
        )
        for i in items
    )


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    """The config's number and text keys that ``data`` sets, checked (a one-line error for a bad one)."""
    least = {"n_per_prompt": 1, "seed": 0, "height": 8, "width": 8}
    checked = {key: whole_number(f"config key {key}", data[key], least[key]) for key in least if key in data}
    if "subject" in data:
        checked["subject"] = _text("subject", data["subject"])
    height, width = checked.get("height", EvaluationConfig.height), checked.get("width", EvaluationConfig.width)
    if height % 8 or width % 8:
        raise RealisIDError(f"height and width must be multiples of 8, got {height} and {width}")
    return checked


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RealisIDError(f"config key {key} must be text, got {value!r}")
    return value


def _names(key: str, value: Any) -> list:
    """A YAML list (of scenario names or sizes); a one-line error for anything else."""
    if not isinstance(value, (list, tuple)):
        raise RealisIDError(f"config key {key} must be a list, got {value!r}")
    return list(value)
