"""The RealisID model: box geometry, ID encoder, the two branches and the adapter bundling them,
and the InstantID-style baseline (one whole-latent branch): identity adapters both, loaded by tag."""

from .adapter import RealisIDAdapter
from .branches import GlobalBranch, LocalBranch, Residuals
from .checkpoint import load_adapter
from .config import RealisIDConfig
from .geometry import crop, location_mask, relocate
from .id_encoder import clip_pixels, face_features, penultimate_features
from .identity_adapter import IdentityAdapter
from .instantid_style import InstantIDStyleAdapter

__all__ = [
    "GlobalBranch",
    "IdentityAdapter",
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
