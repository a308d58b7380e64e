"""The MediaPipe face-mesh topology: which landmark indices outline which part of the face.

Parts are named from the subject's point of view (``left_eye`` is the subject's left eye, on the
image's right in a frontal photo), as MediaPipe names them. Each part is a list of polylines (index
lists); a closed contour repeats its first index at the end.
"""

from __future__ import annotations

from collections import defaultdict

from mediapipe.python.solutions import face_mesh_connections as _mesh

MESH_POINTS = 468
"""Landmarks of the face mesh; 478 with the 10 iris points (``refine_landmarks``)."""
MESH_POINTS_WITH_IRISES = 478
NOSE_TIP = 1


def chain(edges: frozenset[tuple[int, int]]) -> list[list[int]]:
    """Edges joined into as few polylines as a greedy walk finds; deterministic (sorted) order."""
    neighbours: dict[int, list[int]] = defaultdict(list)
    for a, b in sorted(edges):
        neighbours[a].append(b)
        neighbours[b].append(a)
    unused = {frozenset(edge) for edge in edges}
    polylines = []
    while unused:
        # Start at an open end if there is one, so open paths are not split in two.
        starts = sorted(n for n in neighbours if _free_degree(n, neighbours, unused) % 2 == 1)
        start = starts[0] if starts else min(n for n in neighbours if _free_degree(n, neighbours, unused))
        line = [start]
        while True:
            step = next((n for n in neighbours[line[-1]] if frozenset((line[-1], n)) in unused), None)
            if step is None:
                break
            unused.discard(frozenset((line[-1], step)))
            line.append(step)
        polylines.append(line)
    return polylines


def _free_degree(node: int, neighbours: dict[int, list[int]], unused: set[frozenset[int]]) -> int:
    return sum(frozenset((node, n)) in unused for n in neighbours[node])


PARTS: dict[str, list[list[int]]] = {
    "face_oval": chain(_mesh.FACEMESH_FACE_OVAL),
    "right_eyebrow": chain(_mesh.FACEMESH_RIGHT_EYEBROW),
    "left_eyebrow": chain(_mesh.FACEMESH_LEFT_EYEBROW),
    "right_eye": chain(_mesh.FACEMESH_RIGHT_EYE),
    "left_eye": chain(_mesh.FACEMESH_LEFT_EYE),
    "right_iris": chain(_mesh.FACEMESH_RIGHT_IRIS),
    "left_iris": chain(_mesh.FACEMESH_LEFT_IRIS),
    "nose": chain(_mesh.FACEMESH_NOSE),
    "lips": chain(_mesh.FACEMESH_LIPS),
}
"""Polylines of each drawn part, in drawing order (later parts are drawn over earlier ones)."""

FACE_OVAL: list[int] = PARTS["face_oval"][0]
"""The closed face-oval contour (first index repeated at the end)."""
