"""The procedural world of synthetic people: renderer, traits and the toy identity metric.

An :class:`Identity` is a vector of face traits sampled from a seed; :func:`render_scene` draws it
at any face box, :class:`Pose` and :class:`Expression` in a :class:`Scene`, returning the image with
its exact box, MediaPipe-layout landmarks, face mask and caption; :func:`sample_rendering` draws
random scenes for data sets. A world's people wear its :data:`Paint` on the face: none, painted
regions or a grid of tiles (:func:`identity_caption` names them, the scene caption does not).
"""

from .render import Rendering, render_scene
from .sampling import random_box, sample_rendering
from .scenes import BACKGROUNDS, Scene, caption, identity_caption
from .traits import PAINTS, Expression, Identity, Paint, Pose, sample_expression, sample_identity, sample_pose

__all__ = [
    "BACKGROUNDS",
    "PAINTS",
    "Expression",
    "Identity",
    "Paint",
    "Pose",
    "Rendering",
    "Scene",
    "caption",
    "identity_caption",
    "random_box",
    "render_scene",
    "sample_expression",
    "sample_identity",
    "sample_pose",
    "sample_rendering",
]
