"""The whole evaluation from a config: plan → generate (resumable) → score (resumable) → report."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .aesthetic import AestheticPredictor
from .clip_metrics import ClipEmbedder
from .config import EvaluationConfig, MetricsConfig
from .generators import check_method, make_generator
from .identity import load_backend
from .protocol import Generator, Job, generate, list_identities, plan_jobs, read_prompts
from .report import Row, summarize, write_report
from .scoring import Scorer, score_all

IDENTITY_LABELS = {"dlib": "ID (dlib)", "facenet": "FaceNet"}


def plan(config: EvaluationConfig) -> list[Job]:
    """Every job of the config, each image once even when a method is also an ablation row."""
    identities = list_identities(config.identities)
    prompts = read_prompts(config.prompts)
    sizeless = {spec.name for spec in config.method_specs().values() if not spec.sets_face_size}
    jobs: dict[Path, Job] = {}
    for specs, scenarios in config.method_scenarios():
        for job in plan_jobs(
            [spec.name for spec in specs],
            identities,
            prompts,
            scenarios,
            n_per_prompt=config.n_per_prompt,
            subject=config.subject,
            seed=config.seed,
            height=config.height,
            width=config.width,
            sizeless=sizeless,
        ):
            jobs.setdefault(job.relpath, job)
    return list(jobs.values())


def load_scorer(metrics: MetricsConfig) -> Scorer:
    """The metric models named by the config (CLIP and ASP are optional)."""
    clip = ClipEmbedder.from_pretrained(metrics.clip) if metrics.clip else None
    return Scorer(
        backend=load_backend(metrics.identity_backend, metrics.identity_weights),
        clip=clip,
        aesthetic=AestheticPredictor.from_file(metrics.aesthetic) if metrics.aesthetic else None,
        aesthetic_clip=ClipEmbedder.from_pretrained(metrics.aesthetic_clip)
        if metrics.aesthetic_clip
        else clip,
        settings=json.dumps(dataclasses.asdict(metrics), default=str, sort_keys=True),
    )


def evaluate(
    config: EvaluationConfig,
    generator_factory: Callable[[Mapping[str, Any]], Generator] = make_generator,
    scorer: Scorer | None = None,
) -> Path:
    """Run the evaluation of ``config``; returns the path of ``report.md``."""
    scorer = scorer or load_scorer(config.metrics)  # load first: a bad metric path fails before generating
    jobs = plan(config)
    specs = config.method_specs()
    if generator_factory is make_generator:  # a bad option of any method fails before the first generates
        for spec in specs.values():
            check_method(spec.options)
    generate(jobs, lambda method: generator_factory(specs[method].options), config.output_dir)
    summary = summarize(score_all(jobs, scorer, config.output_dir))
    return write_report(
        summary,
        config.output_dir,
        methods=[Row(s.name, s.label) for s in config.methods],
        scenarios=config.scenarios,
        sizes=config.sizes,
        ablations=[Row(s.name, s.label) for s in config.ablations],
        ablation_scenarios=config.ablation_scenarios,
        identity_label=IDENTITY_LABELS.get(scorer.backend.name, scorer.backend.name),
    )
