"""The RealisID model: box geometry, ID encoder, the two branches and the adapter bundling them."""

from .adapter import RealisIDAdapter, RealisIDConfig
from .branches import GlobalBranch, LocalBranch, Residuals
from .geometry import crop, location_mask, relocate
from .id_encoder import clip_pixels, face_features, penultimate_features

__all__ = [
    "GlobalBranch",
    "LocalBranch",
    "RealisIDAdapter",
    "RealisIDConfig",
    "Residuals",
    "clip_pixels",
    "crop",
    "face_features",
    "location_mask",
    "penultimate_features",
    "relocate",
]
