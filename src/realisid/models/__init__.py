"""The RealisID model: box geometry, ID encoder, the two branches and the adapter bundling them
(and the InstantID-style baseline: one whole-latent branch)."""

from .adapter import RealisIDAdapter, RealisIDConfig, load_adapter
from .branches import GlobalBranch, LocalBranch, Residuals
from .geometry import crop, location_mask, relocate
from .id_encoder import clip_pixels, face_features, penultimate_features
from .instantid_style import InstantIDStyleAdapter

__all__ = [
    "GlobalBranch",
    "InstantIDStyleAdapter",
    "LocalBranch",
    "RealisIDAdapter",
    "RealisIDConfig",
    "Residuals",
    "clip_pixels",
    "crop",
    "face_features",
    "load_adapter",
    "location_mask",
    "penultimate_features",
    "relocate",
]
