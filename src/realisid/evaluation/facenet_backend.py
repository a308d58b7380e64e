"""FaceNet identity backend (the paper's metric), with weights from a path.

``facenet-pytorch`` pins ``torch<2.3``, so this package does not depend on it. Give either

* a TorchScript file, exported once where facenet-pytorch is installed::

      from facenet_pytorch import InceptionResnetV1
      model = InceptionResnetV1(pretrained="vggface2").eval()
      torch.jit.script(model).save("facenet_vggface2.pt")

* or a state dict (``.safetensors``, or a torch file read with ``weights_only=True``) together with
  the ``module`` to load it into.

The model maps ``(N, 3, 160, 160)`` faces standardised as ``(x - 127.5) / 128`` to ``(N, D)``
embeddings; similarity is their cosine. The paper crops with MTCNN; here the face is dlib's HOG box
widened by ``crop_scale`` (HOG boxes are tighter than MTCNN's).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import RealisIDError
from .dlib_backend import DlibFaceDetector
from .identity_backend import Face
from .images import crop_box, to_array
from .similarity import cosine
from .weights import load_state_dict

FACE_SIZE = 160


def standardize(faces: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 → ``(N, 3, H, W)`` float, FaceNet's ``(x - 127.5) / 128``."""
    return (torch.tensor(faces).permute(0, 3, 1, 2).float() - 127.5) / 128.0


def load_facenet(path: str | Path | None, module: torch.nn.Module | None = None) -> torch.nn.Module:
    """The FaceNet model at ``path``: TorchScript, or a state dict loaded into ``module``."""
    if path is None:
        raise RealisIDError(
            "the FaceNet backend needs weights: set metrics.facenet in the config (or pass "
            "FaceNetBackend(path)) to a TorchScript FaceNet; see realisid.evaluation.facenet_backend"
        )
    path = Path(path)
    if not path.is_file():
        raise RealisIDError(f"FaceNet weights not found: {path}")
    if module is not None:
        module.load_state_dict(load_state_dict(path))
        return module.eval()
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as error:
        raise RealisIDError(
            f"{path} is not a TorchScript FaceNet; for a state dict pass the architecture as `module`"
        ) from error


class FaceNetBackend:
    """dlib HOG box → widened square crop at 160 px → FaceNet embedding; cosine similarity."""

    name = "facenet"

    def __init__(
        self,
        path: str | Path | None,
        module: torch.nn.Module | None = None,
        detector: DlibFaceDetector | None = None,
        crop_scale: float = 1.3,
    ):
        self.model = load_facenet(path, module)
        self.detector = detector or DlibFaceDetector()
        self.crop_scale = crop_scale

    @torch.no_grad()
    def find_face(self, image: Image.Image) -> Face | None:
        box = self.detector(image)
        if box is None:
            return None
        face = crop_box(image, box.expanded(self.crop_scale)).resize((FACE_SIZE, FACE_SIZE), Image.BILINEAR)
        embedding = self.model(standardize(to_array(face)[None]))[0]
        return Face(box=box, embedding=embedding.float().numpy())

    def similarity(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(cosine(torch.from_numpy(a), torch.from_numpy(b)))
