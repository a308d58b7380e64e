"""The procedural world of synthetic people: renderer, traits and the toy identity metric.

An :class:`Identity` is a vector of face traits sampled from a seed; :func:`render_scene` draws it
at any face box, :class:`Pose` and :class:`Expression` in a :class:`Scene`, returning the image with
its exact box, MediaPipe-layout landmarks, face mask and caption; :func:`sample_rendering` draws
random scenes for data sets.
"""

from .render import Rendering, render_scene
from .sampling import random_box, sample_rendering
from .scenes import BACKGROUNDS, Scene, caption
from .traits import Expression, Identity, Pose, sample_expression, sample_identity, sample_pose

__all__ = [
    "BACKGROUNDS",
    "Expression",
    "Identity",
    "Pose",
    "Rendering",
    "Scene",
    "caption",
    "random_box",
    "render_scene",
    "sample_expression",
    "sample_identity",
    "sample_pose",
    "sample_rendering",
]
