"""Evaluation: the paper's metrics (ASP, CLIP-T, identity similarity, CLIP-I), its protocol
(regular / small-face scenarios, face-size sweep, ablations) and report tables and plots."""

from .aesthetic import AestheticPredictor
from .clip_metrics import ClipEmbedder, clip_i, clip_t
from .config import EvaluationConfig, MethodSpec, MetricsConfig
from .generators import make_generator
from .identity import face_similarity, load_backend
from .identity_backend import Face, IdentityBackend
from .protocol import GenerationRequest, Generator, Job, Scenario, generate, plan_jobs, read_prompts
from .runner import evaluate, load_scorer, plan
from .scoring import Scorer, score_all
from .similarity import cosine

__all__ = [
    "AestheticPredictor",
    "ClipEmbedder",
    "EvaluationConfig",
    "Face",
    "GenerationRequest",
    "Generator",
    "IdentityBackend",
    "Job",
    "MethodSpec",
    "MetricsConfig",
    "Scenario",
    "Scorer",
    "clip_i",
    "clip_t",
    "cosine",
    "evaluate",
    "face_similarity",
    "generate",
    "load_backend",
    "load_scorer",
    "make_generator",
    "plan",
    "plan_jobs",
    "read_prompts",
    "score_all",
]
