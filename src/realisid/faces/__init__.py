"""Condition extraction from real photos (paper Fig. 2b): faces, square boxes, face masks, landmarks,
and the pose-expression drawing ``c_p&e``.

``detect_faces`` finds faces (MediaPipe detectors plus face-mesh verification); ``extract_conditions``
turns one face into a :class:`FaceConditions`; ``draw_landmarks`` draws ``c_p&e``; ``rotate_landmarks``
and ``transfer_pose`` edit pose and expression. The location mask ``c_loc`` lives in ``models``.
"""

from .conditions import CROP_SIZE, FaceConditions, extract_conditions, face_conditions, pick_face
from .detection import Detection, FaceDetector, MediaPipeDetector
from .drawing import PART_COLORS, draw_landmarks, landmark_image_tensor
from .errors import FaceIndexError, NoFaceError, PhotoError
from .face import DETECTION_MAX_SIDE, Face, detect_faces
from .mesh import MeshLandmarker
from .parsing import FaceParser, MeshOvalParser
from .photo import crop_square, load_photo
from .pose import rotate_landmarks, rotation_matrix, transfer_pose

__all__ = [
    "CROP_SIZE",
    "DETECTION_MAX_SIDE",
    "PART_COLORS",
    "Detection",
    "Face",
    "FaceConditions",
    "FaceDetector",
    "FaceIndexError",
    "FaceParser",
    "MediaPipeDetector",
    "MeshLandmarker",
    "MeshOvalParser",
    "NoFaceError",
    "PhotoError",
    "crop_square",
    "detect_faces",
    "draw_landmarks",
    "extract_conditions",
    "face_conditions",
    "landmark_image_tensor",
    "load_photo",
    "pick_face",
    "rotate_landmarks",
    "rotation_matrix",
    "transfer_pose",
]
