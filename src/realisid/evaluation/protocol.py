"""The paper's evaluation protocol, independent of any generation method.

Identities are reference photos in a folder (one per file, the stem names the identity); prompts
are lines of a text file with a ``{subject}`` placeholder. Each method generates ``n_per_prompt``
images per prompt per identity in each scenario: *regular* (relative face size drawn uniformly in
[1/4, 1/2]), *small* ([1/7, 1/6]) and fixed sizes for the sweep. Seeds and boxes depend only on
(identity, prompt, scenario, sample), so every method gets the same noise seed and face box. A
method that cannot set the face size is asked for small faces as the paper does, with
:data:`SMALL_FACE_PROMPT` added to its prompt; CLIP-T still scores the protocol's prompt. Outputs
land at deterministic paths; existing ones are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from ..boxes import SMALL_FACE
from ..errors import RealisIDError
from ..faces.photo import IMAGE_SUFFIXES

SUBJECT = "{subject}"
DEFAULT_PROMPTS = Path(__file__).with_name("prompts.txt")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Scenario:
    """Face sizes (relative to the long image edge) drawn uniformly in ``size_range``."""

    name: str
    label: str
    size_range: tuple[float, float]


REGULAR = Scenario("regular", "regular", (1 / 4, 1 / 2))
SMALL = Scenario("small", "small", (1 / 7, SMALL_FACE))
SWEEP_SIZES = ("1/4", "1/5", "1/6", "1/7")
SMALL_FACE_PROMPT = "a full-body people image"
"""Added to the prompt of a method that cannot set the face size, in scenarios of small faces."""


def parse_size(value: str | float) -> float:
    """``"1/6"``, ``"0.25"`` or ``0.25`` → a relative size in (0, 1]."""
    try:
        size = float(Fraction(str(value)))
    except (ValueError, ZeroDivisionError) as error:
        raise RealisIDError(f"not a relative face size: {value!r}") from error
    if not 0 < size <= 1:
        raise RealisIDError(f"relative face size must be in (0, 1], got {value!r}")
    return size


def size_scenario(value: str | float) -> Scenario:
    """The sweep scenario of one fixed relative face size, labelled as given (e.g. ``"1/5"``)."""
    size = parse_size(value)
    return Scenario(f"size-{size:.4f}", str(value), (size, size))


@dataclass(frozen=True)
class GenerationRequest:
    """One image to generate: ``box`` is ``(cx, cy, rel_size)`` as in ``Box.from_relative``; ``prompt``
    is what the method is given."""

    method: str
    reference: Path
    prompt: str
    box: tuple[float, float, float]
    seed: int
    height: int
    width: int


Generator = Callable[[GenerationRequest], Image.Image]


@dataclass(frozen=True)
class Job:
    """A request with its place in the protocol; ``prompt`` is the protocol's (what CLIP-T scores)."""

    identity: str
    prompt_index: int
    scenario: Scenario
    sample: int
    request: GenerationRequest
    prompt: str

    @property
    def relpath(self) -> Path:
        """Where the image goes, relative to the output folder."""
        return (
            Path("images")
            / self.request.method
            / self.scenario.name
            / self.identity
            / f"p{self.prompt_index:02d}_s{self.sample}.png"
        )


def read_prompts(path: str | Path = DEFAULT_PROMPTS) -> list[str]:
    """Non-empty, non-``#`` lines of ``path``; each must contain ``{subject}``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise RealisIDError(f"cannot read prompts file {path}: {error}") from error
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise RealisIDError(f"no prompts in {path}")
    for prompt in prompts:
        if SUBJECT not in prompt:
            raise RealisIDError(f"prompt without the {SUBJECT} placeholder in {path}: {prompt!r}")
    return prompts


def list_identities(folder: str | Path) -> dict[str, Path]:
    """Reference photos in ``folder`` by identity name (the file stem), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RealisIDError(f"identities folder not found: {folder}")
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise RealisIDError(f"no reference photos ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    for photo in photos:
        check_name(photo.stem, "identity")
    return {photo.stem: photo for photo in photos}


def check_name(name: str, what: str) -> str:
    """``name`` if it is safe as a folder name, else a clear error."""
    if not _SAFE_NAME.match(name):
        raise RealisIDError(f"{what} name {name!r} must be letters, digits, '_', '.', '-'")
    return name


def derive_seed(base_seed: int, *parts: object) -> int:
    """A 31-bit seed fixed by ``base_seed`` and ``parts`` (stable across runs and machines)."""
    key = "/".join(str(part) for part in (base_seed, *parts)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "big") & 0x7FFFFFFF


def sample_box(
    seed: int, size_range: tuple[float, float], width: int, height: int
) -> tuple[float, float, float]:
    """``(cx, cy, rel_size)``: size uniform in ``size_range``, centre uniform with the box inside the image."""
    rng = random.Random(seed)
    rel = rng.uniform(*size_range)
    half_w = rel * max(width, height) / 2 / width
    half_h = rel * max(width, height) / 2 / height
    return (rng.uniform(half_w, 1 - half_w), rng.uniform(half_h, 1 - half_h), rel)


def plan_jobs(
    methods: Sequence[str],
    identities: dict[str, Path],
    prompts: Sequence[str],
    scenarios: Sequence[Scenario],
    *,
    n_per_prompt: int = 2,
    subject: str = "a person",
    seed: int = 0,
    height: int = 1024,
    width: int = 1024,
    sizeless: Collection[str] = (),
) -> list[Job]:
    """Every (method, identity, prompt, scenario, sample) job, in that nesting order; methods in
    ``sizeless`` cannot set the face size (see :data:`SMALL_FACE_PROMPT`)."""
    jobs = []
    for method in methods:
        check_name(method, "method")
        for identity, reference in identities.items():
            for p, prompt in enumerate(prompts):
                text = prompt.replace(SUBJECT, subject)
                for scenario in scenarios:
                    small = method in sizeless and scenario.size_range[1] <= SMALL_FACE
                    for sample in range(n_per_prompt):
                        job_seed = derive_seed(seed, identity, p, scenario.name, sample)
                        request = GenerationRequest(
                            method=method,
                            reference=reference,
                            prompt=f"{text}, {SMALL_FACE_PROMPT}" if small else text,
                            box=sample_box(job_seed, scenario.size_range, width, height),
                            seed=job_seed,
                            height=height,
                            width=width,
                        )
                        jobs.append(Job(identity, p, scenario, sample, request, text))
    return jobs


def missing(jobs: Iterable[Job], output_dir: Path) -> list[Job]:
    """The jobs whose image does not exist yet."""
    return [job for job in jobs if not (output_dir / job.relpath).is_file()]


def generate(jobs: Sequence[Job], generator_for: Callable[[str], Generator], output_dir: str | Path) -> int:
    """Generate the missing images; ``generator_for(method)`` is called only for methods with work.

    One method's generator is held at a time (its jobs run together), so its models are released
    before the next method loads its own. Each image is written to a temporary name and renamed,
    so an interruption never leaves a partial file. Returns the number of images generated.
    """
    output_dir = Path(output_dir)
    todo = missing(jobs, output_dir)
    first = {m: i for i, m in enumerate(dict.fromkeys(job.request.method for job in todo))}
    todo.sort(key=lambda job: first[job.request.method])  # each method's jobs together, in plan order
    method, generator = None, None
    for job in tqdm(todo, desc="generate", unit="img", disable=not todo):
        if job.request.method != method:
            generator = None  # release the last method's models before the next loads its own
            method = job.request.method
            generator = generator_for(method)
        image = generator(job.request)
        target = output_dir / job.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.stem + ".partial.png")
        image.save(partial)
        partial.replace(target)
    return len(todo)
