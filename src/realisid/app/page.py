"""The page: prompt, person panels and sampling controls beside the layout canvas and the gallery, and the
events that tie them together."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from ..errors import whole_number
from ..persons import Person
from ..pipeline import RealisIDPipeline
from .controls import Sampling
from .handlers import (
    generate_in_page,
    message,
    page_errors,
    upload_face,
    upload_more,
    upload_pose,
    uploaded_file,
)
from .panels import PersonPanel, person_panel
from .previews import box_legend, layout_preview

MAX_PERSONS = 4
"""Person panels in the page (the first one shown, the others added on demand)."""

UPLOAD_CACHE = (600, 3600)
"""Gradio's ``delete_cache``: every 10 minutes, the uploads and outputs older than an hour are deleted."""


@dataclass
class Page:
    """The components of the page that events read or update."""

    count: gr.State
    """How many person panels are shown."""
    prompt: gr.Textbox
    panels: list[PersonPanel]
    add: gr.Button
    remove: gr.Button
    controls: dict[str, gr.components.Component]
    """The sampling controls, named by :class:`Sampling`'s fields."""
    canvas: gr.Image
    canvas_status: gr.Markdown
    run: gr.Button
    gallery: gr.Gallery

    @property
    def person_inputs(self) -> set[gr.components.Component]:
        """The inputs :meth:`persons` reads."""
        return {self.count} | set().union(*(panel.values for panel in self.panels))

    def persons(self, values: dict) -> list[Person]:
        """The persons of the shown panels, from the event's input ``values``."""
        return [panel.person(values) for panel in self.panels[: values[self.count]]]

    @page_errors()
    def show_layout(self, values: dict) -> tuple[Image.Image, str]:
        """Event handler: the layout canvas, and its legend or the boxes that cannot place a face."""
        width, height = (whole_number(name, values[self.controls[name]]) for name in ("width", "height"))
        persons = self.persons(values)
        picture, problems = layout_preview(persons, width, height)
        return picture, "\n\n".join(message(p, error=True) for p in problems) or box_legend(
            persons, width, height
        )


def _sampling_controls(sampling: Sampling) -> dict[str, gr.components.Component]:
    """The negative prompt and the sampling sliders, named by :class:`Sampling`'s fields."""
    controls = {}
    with gr.Accordion("Sampling", open=True):
        controls["negative_prompt"] = gr.Textbox(label="Negative prompt", value=sampling.negative_prompt)
        with gr.Row():
            controls["width"] = gr.Slider(64, 2048, sampling.width, step=64, label="Width")
            controls["height"] = gr.Slider(64, 2048, sampling.height, step=64, label="Height")
        with gr.Row():
            controls["steps"] = gr.Slider(1, 100, sampling.steps, step=1, label="Steps")
            # No rounding by Gradio (it fails on NaN with a blank message): Sampling checks the seed.
            controls["seed"] = gr.Number(sampling.seed, precision=None, label="Seed", minimum=0)
            controls["num_images"] = gr.Slider(1, 4, sampling.num_images, step=1, label="Images")
        with gr.Row():
            controls["text_scale"] = gr.Slider(0, 15, sampling.text_scale, step=0.5, label="λ_t · text")
            controls["id_scale"] = gr.Slider(0, 15, sampling.id_scale, step=0.5, label="λ_i · ID")
            controls["id_start"] = gr.Slider(0, 1, sampling.id_start, step=0.05, label="id_start")
        with gr.Row():  # 0 switches a branch off: the paper's ablations
            controls["local_scale"] = gr.Slider(0, 2, sampling.local_scale, step=0.1, label="local branch")
            controls["global_scale"] = gr.Slider(0, 2, sampling.global_scale, step=0.1, label="global branch")
            # below 1, Eq. 8's ID row stops early (0.8: the efficient mode)
            controls["id_stop"] = gr.Slider(0, 1, sampling.id_stop, step=0.05, label="id_stop")
    return controls


def build_demo(
    pipe: RealisIDPipeline,
    sampling: Sampling | None = None,
    notice: str | None = None,
    examples: Sequence[str | Path] = (),
    prompt: str = "a photo of a person in a sunny park",
) -> gr.Blocks:
    """The page, serving ``pipe``. ``notice`` (Markdown) says what the weights are, e.g.
    :data:`realisid.commands.app.RANDOM_WEIGHTS_NOTICE`; ``examples`` are reference photos offered in every person panel;
    ``prompt`` is the initial prompt."""
    with gr.Blocks(title="RealisID", analytics_enabled=False, delete_cache=UPLOAD_CACHE) as demo:
        _title(notice)
        page = _page(sampling or Sampling(), examples, prompt)
        layout_event = _layout_event(page)
        for panel in page.panels:
            _wire_panel(panel, layout_event)
        gr.on([demo.load, page.controls["width"].change, page.controls["height"].change], **layout_event)
        _wire_person_count(page, layout_event)
        _wire_generate(pipe, page)
    return demo


def _title(notice: str | None) -> None:
    """The page's title and what it does, then ``notice`` when given."""
    gr.Markdown(
        "# RealisID\nZero-shot identity customization for SDXL: place each person by a face box "
        "(location and size), with pose and expression from landmarks."
    )
    if notice:
        gr.Markdown(notice, elem_id="weights-notice", container=True)


def _page(sampling: Sampling, examples: Sequence[str | Path], prompt: str) -> Page:
    """The prompt, person panels and sampling controls on the left; the layout canvas, the Generate
    button and the gallery on the right."""
    count = gr.State(1)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            prompt_box = gr.Textbox(label="Prompt", value=prompt, lines=2)
            panels = [person_panel(index, index == 0, examples) for index in range(MAX_PERSONS)]
            with gr.Row():
                add = gr.Button("Add person", size="sm", elem_id="add-person")
                remove = gr.Button(
                    "Remove last person", size="sm", interactive=False, elem_id="remove-person"
                )
            controls = _sampling_controls(sampling)
        with gr.Column(scale=4):
            canvas = gr.Image(
                label="Layout on the output canvas",
                interactive=False,
                format="png",
                elem_id="canvas",
                buttons=[],
            )
            canvas_status = gr.Markdown(elem_id="canvas-status")
            run = gr.Button("Generate", variant="primary", elem_id="generate")
            gallery = gr.Gallery(
                label="Images, each with its layout",
                columns=2,
                format="png",
                object_fit="contain",
                elem_id="gallery",
            )
    return Page(count, prompt_box, panels, add, remove, controls, canvas, canvas_status, run, gallery)


def _layout_event(page: Page) -> dict[str, Any]:
    """The arguments of an event that redraws the layout canvas and its legend (latest change only)."""
    return {
        "fn": page.show_layout,
        "inputs": page.person_inputs | {page.controls["width"], page.controls["height"]},
        "outputs": [page.canvas, page.canvas_status],
        "show_progress": "hidden",
        "trigger_mode": "always_last",
    }


def _wire_panel(panel: PersonPanel, layout_event: dict[str, Any]) -> None:
    """A panel's events: an uploaded photo is detected (one face detection at a time), then each change
    redraws the person's landmarks and the layout."""
    drawing_event = {
        "fn": panel.drawing_of,
        "inputs": panel.values,
        "outputs": panel.drawing,
        "show_progress": "hidden",
        "trigger_mode": "always_last",
    }
    gr.on(
        [panel.photo.change, panel.face_index.change],
        lambda payload, face: upload_face(uploaded_file(payload), face),
        [panel.photo, panel.face_index],
        [panel.conditions, panel.face, panel.status],
        concurrency_id="faces",
        concurrency_limit=1,
        preprocess=False,
    ).then(**drawing_event).then(**layout_event)
    panel.more_photos.change(
        upload_more,
        panel.more_photos,
        [panel.more_conditions, panel.more_faces, panel.more_status],
        concurrency_id="faces",
        concurrency_limit=1,
    ).then(**drawing_event).then(**layout_event)
    panel.pose_photo.change(
        lambda payload: upload_pose(uploaded_file(payload)),
        panel.pose_photo,
        [panel.pose, panel.pose_status],
        concurrency_id="faces",
        concurrency_limit=1,
        preprocess=False,
    ).then(**drawing_event).then(**layout_event)
    gr.on([panel.yaw.change, panel.pitch.change, panel.roll.change], **drawing_event).then(**layout_event)
    gr.on([panel.cx.change, panel.cy.change, panel.size.change], **layout_event)


def _wire_person_count(page: Page, layout_event: dict[str, Any]) -> None:
    """The Add and Remove buttons: show one panel more or fewer (1 to :data:`MAX_PERSONS`), then redraw
    the layout."""

    def resize(current: int, delta: int) -> list:
        new = min(max(current + delta, 1), MAX_PERSONS)
        groups = [gr.Group(visible=index < new) for index in range(MAX_PERSONS)]
        return [new, *groups, gr.Button(interactive=new < MAX_PERSONS), gr.Button(interactive=new > 1)]

    outputs = [page.count, *(panel.group for panel in page.panels), page.add, page.remove]
    page.add.click(lambda n: resize(n, 1), page.count, outputs).then(**layout_event)
    page.remove.click(lambda n: resize(n, -1), page.count, outputs).then(**layout_event)


def _wire_generate(pipe: RealisIDPipeline, page: Page) -> None:
    """The Generate button: the prompt, persons and sampling controls → the gallery, with a progress bar;
    one generation at a time."""

    @page_errors()
    def on_generate(
        values: dict,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (how Gradio asks for a progress bar)
    ) -> list[tuple[Image.Image, str]]:
        chosen = Sampling.from_controls(
            **{name: values[component] for name, component in page.controls.items()}
        )
        progress(0, desc="encoding")
        return generate_in_page(
            pipe,
            values[page.prompt],
            page.persons(values),
            chosen,
            lambda done, total: progress((done, total), desc="denoising", unit="steps"),
        )

    page.run.click(
        on_generate,
        page.person_inputs | {page.prompt} | set(page.controls.values()),
        page.gallery,
        concurrency_id="pipeline",
        concurrency_limit=1,
    )
