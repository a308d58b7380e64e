"""One person's panel in the page: reference photos, face box, pose and expression, and the person they
describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from ..layout import BOX_COLORS
from ..persons import Person
from .handlers import page_errors
from .previews import landmark_preview

DEFAULT_BOXES = ((0.5, 0.4, 0.3), (0.25, 0.45, 0.2), (0.75, 0.45, 0.14), (0.5, 0.75, 0.1))
"""Initial ``(cx, cy, size)`` of each panel's box, so added persons do not start on one spot."""


@dataclass
class PersonPanel:
    """The components of one person's panel."""

    group: gr.Group
    photo: gr.Image
    conditions: gr.State
    face: gr.Image
    status: gr.Markdown
    face_index: gr.Number
    more_photos: gr.File
    more_conditions: gr.State
    more_faces: gr.Gallery
    more_status: gr.Markdown
    cx: gr.Slider
    cy: gr.Slider
    size: gr.Slider
    pose_photo: gr.Image
    pose: gr.State
    pose_status: gr.Markdown
    yaw: gr.Slider
    pitch: gr.Slider
    roll: gr.Slider
    drawing: gr.Image

    @property
    def values(self) -> set[gr.components.Component]:
        """The inputs :meth:`person` reads."""
        return {
            self.conditions, self.more_conditions, self.cx, self.cy, self.size, self.pose, self.yaw, self.pitch,
            self.roll,
        }

    def person(self, values: dict) -> Person:
        """The person this panel describes, from the event's input ``values``: the reference photo's face
        first, then those of the further photos."""
        references = [values[self.conditions], *(values[self.more_conditions] or [])]
        return Person(
            [face for face in references if face is not None] or None,
            box=(values[self.cx], values[self.cy], values[self.size]),
            pose=values[self.pose],
            yaw=values[self.yaw],
            pitch=values[self.pitch],
            roll=values[self.roll],
        )

    @page_errors()
    def drawing_of(self, values: dict) -> Image.Image | None:
        """Event handler: the person's landmark drawing."""
        return landmark_preview(self.person(values))


def _photo_upload(label: str, height: int, elem_id: str) -> gr.Image:
    """A photo upload as given: ``load_photo`` composites transparency onto white, as on the command line."""
    return gr.Image(
        label=label, type="pil", image_mode=None, sources=["upload", "clipboard"], height=height, elem_id=elem_id
    )


def person_panel(index: int, visible: bool, examples: Sequence[str | Path]) -> PersonPanel:
    red, green, blue = BOX_COLORS[index % len(BOX_COLORS)]
    cx, cy, size = DEFAULT_BOXES[index]
    with gr.Group(visible=visible, elem_id=f"person-{index}") as group:
        gr.HTML(
            f'<div class="person-title"><span class="swatch" style="background: rgb({red},{green},{blue})">'
            f"</span>Person {index}</div>",
            js_on_load=None,
            padding=True,
        )
        with gr.Row():
            photo = _photo_upload("Reference photo", 200, f"p{index}-photo")
            face = gr.Image(label="Detected faces", interactive=False, height=200)
        if examples:
            gr.Examples(
                [[str(path)] for path in examples],
                [photo],
                label="Example people",
                examples_per_page=len(examples),
                elem_id=f"p{index}-examples",
            )
        with gr.Row(equal_height=True):
            status = gr.Markdown(elem_id=f"p{index}-status", padding=True)
            face_index = gr.Number(
                0, precision=0, minimum=0, label="Face (0 = largest)", scale=0, min_width=140,
                elem_id=f"p{index}-face-index",
            )
        more_title = "More photos of this person (ID averaged)"
        with gr.Accordion(more_title, open=False, elem_id=f"p{index}-more-settings"):
            with gr.Row():
                more_photos = gr.File(
                    label="Further photos (largest face of each)",
                    file_count="multiple",
                    file_types=["image"],
                    type="filepath",
                    height=160,
                    elem_id=f"p{index}-more",
                )
                more_faces = gr.Gallery(
                    label="Faces used", columns=4, height=160, interactive=False, elem_id=f"p{index}-more-faces"
                )
            more_status = gr.Markdown(elem_id=f"p{index}-more-status", padding=True)
        with gr.Row():
            cx = gr.Slider(-0.2, 1.2, cx, step=0.01, label="Centre x", elem_id=f"p{index}-cx")
            cy = gr.Slider(-0.2, 1.2, cy, step=0.01, label="Centre y", elem_id=f"p{index}-cy")
            size = gr.Slider(0.03, 1.0, size, step=0.01, label="Size", elem_id=f"p{index}-size")
        with gr.Accordion("Pose and expression", open=False, elem_id=f"p{index}-pose-settings"):
            with gr.Row():
                pose_photo = _photo_upload("Driving photo (optional)", 160, f"p{index}-pose")
                drawing = gr.Image(
                    label="Landmarks drawn (c_p&e)",
                    interactive=False,
                    height=160,
                    elem_id=f"p{index}-drawing",
                )
            pose_status = gr.Markdown(padding=True)
            with gr.Row():
                yaw = gr.Slider(-60, 60, 0, step=1, label="Yaw °", elem_id=f"p{index}-yaw")
                pitch = gr.Slider(-45, 45, 0, step=1, label="Pitch °")
                roll = gr.Slider(-45, 45, 0, step=1, label="Roll °")
    return PersonPanel(
        group,
        photo,
        gr.State(),
        face,
        status,
        face_index,
        more_photos,
        gr.State([]),
        more_faces,
        more_status,
        cx,
        cy,
        size,
        pose_photo,
        gr.State(),
        pose_status,
        yaw,
        pitch,
        roll,
        drawing,
    )
