"""Face-mesh landmarks (MediaPipe, 478 points with irises) of one face, found on its padded crop."""

from __future__ import annotations

import numpy as np
from mediapipe.python.solutions import face_mesh as mp_face_mesh
from PIL import Image

from ..boxes import Box
from .photo import crop_square


class MeshLandmarker:
    """MediaPipe face mesh in static-image mode, run on a square crop around a detected box.

    The crop is the box enlarged ``context`` times about its centre (the mesh's own detector needs
    the head's surroundings) and resampled to ``crop_size`` pixels, so small faces are upscaled and
    large ones downscaled to the size the mesh model works at. A crop may hold parts of other faces:
    the mesh whose centre lies inside the box, nearest its centre, is taken. No such mesh means the
    box holds no face, which makes the landmarker a verifier of detections too.
    """

    def __init__(
        self, context: float = 2.0, crop_size: int = 256, irises: bool = True, min_score: float = 0.5
    ):
        self.context = context
        self.crop_size = crop_size
        self._mesh = mp_face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=3,
            refine_landmarks=irises,
            min_detection_confidence=min_score,
        )

    def __call__(self, image: Image.Image, box: Box) -> np.ndarray | None:
        """Landmarks ``(N, 3)`` in ``image`` pixels (``z`` in the same pixel scale, smaller = nearer
        the camera), or ``None`` when no face is found in the box. ``N`` is 478 with irises, else 468.
        """
        region = box.expanded(self.context)
        crop = np.asarray(crop_square(image, region, self.crop_size))
        meshes = self._mesh.process(crop).multi_face_landmarks or ()
        candidates = []
        for mesh in meshes:
            points = np.array([(p.x, p.y, p.z) for p in mesh.landmark], dtype=np.float32) * region.size
            points[:, 0] += region.x0
            points[:, 1] += region.y0
            centre = points[:, :2].mean(axis=0)
            if box.x0 <= centre[0] <= box.x0 + box.size and box.y0 <= centre[1] <= box.y0 + box.size:
                candidates.append((float(np.hypot(*(centre - box.center))), points))
        return min(candidates, key=lambda c: c[0])[1] if candidates else None

    def close(self) -> None:
        self._mesh.close()
