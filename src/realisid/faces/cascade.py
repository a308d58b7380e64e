"""OpenCV's frontal-face Haar cascade: cheap face proposals for another detector to confirm."""

from __future__ import annotations

import cv2
import numpy as np

from ..boxes import Box

CASCADE = "haarcascade_frontalface_alt2.xml"
"""The cascade file in OpenCV's wheel (Intel's BSD-style licence)."""


class HaarCascade:
    """OpenCV's Viola-Jones frontal-face cascade on the greyscale image shrunk to ``max_side`` pixels.

    It keys on the eye-nose-mouth contrast of a frontal face, not on the head as MediaPipe's network
    does, so it fails on other faces than the network, and finds many things that are no face: its
    boxes (squares from brows to mouth, in the input's pixels, no confidence) are proposals to confirm.
    """

    def __init__(
        self, max_side: int = 768, min_face: int = 20, scale_factor: float = 1.1, min_neighbors: int = 2
    ):
        self.max_side = max_side
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)

    def __call__(self, image: np.ndarray) -> list[Box]:
        """Face boxes in an RGB ``uint8`` array ``(H, W, 3)``."""
        grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        factor = min(1.0, self.max_side / max(grey.shape))
        if factor < 1.0:
            size = (max(1, round(grey.shape[1] * factor)), max(1, round(grey.shape[0] * factor)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        rectangles = self._cascade.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face, self.min_face),
        )
        return [Box(x, y, max(w, h)).scaled(1 / factor) for x, y, w, h in rectangles]
