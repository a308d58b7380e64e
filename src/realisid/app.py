"""The web UI: compose a scene of several people, each placed by a face box, and generate it.

The module has two halves. The first is plain Python, testable without a browser: a reference
photo's conditions and preview, a person's landmark drawing, the layout of all boxes on the output
canvas, and generation. The second builds the Gradio page on top of it and serves it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import torch
from PIL import Image

from .boxes import SMALL_FACE, Box
from .errors import RealisIDError
from .faces import FaceConditions, detect_faces, draw_landmarks, face_conditions, load_photo, pick_face
from .faces.preview import preview
from .layout import BOX_COLORS, draw_layout
from .persons import Person, resolve_persons
from .pipeline import RealisIDPipeline
from .sampling import SamplingOptions, check_seed

MAX_PERSONS = 4
"""Person panels in the page (the first one shown, the others added on demand)."""

MAX_FILE_SIZE = "10mb"
"""Uploads above this are refused by the server, with a message in the page."""

UPLOAD_CACHE = (600, 3600)
"""Gradio's ``delete_cache``: every 10 minutes, the uploads and outputs older than an hour are deleted."""

PREVIEW_SIDE = 512
"""Long side of the layout canvas shown in the page, in pixels."""

DEFAULT_BOXES = ((0.5, 0.4, 0.3), (0.25, 0.45, 0.2), (0.75, 0.45, 0.14), (0.5, 0.75, 0.1))
"""Initial ``(cx, cy, size)`` of each panel's box, so added persons do not start on one spot."""

RANDOM_WEIGHTS_NOTICE = (
    "**Tiny stack with random weights.** Every model here is random, so images are noise shaped by the "
    "real pipeline; face conditions and layout are real. Start `realisid app --base SDXL --adapter "
    "ADAPTER` for real images."
)
TOY_WEIGHTS_NOTICE = (
    "**Toy weights.** A toy SDXL trained from scratch on rendered people, and RealisID trained on it: "
    "pick a reference from the example people (never seen in training) and place them by their box. "
    "`realisid demo` prints how much of the person, and of a driving face's pose, these small models "
    "keep at each face size (docs/toy-reproduction.md says how they were trained and measured). "
    "Start `realisid app --base SDXL --adapter ADAPTER` for real images."
)

ProgressCallback = Callable[[int, int], None]


# ----------------------------------------------------------------------------------- logic
_PAPER = SamplingOptions()
_CONTROL = {"num_inference_steps": "steps"}
"""The :class:`SamplingOptions` fields whose control has a shorter name; the others share theirs."""


@dataclass(frozen=True)
class Sampling:
    """The page's sampling controls (image, seed and the pipeline's :class:`SamplingOptions`, the
    paper's by default); the defaults are their initial values."""

    width: int = 1024
    height: int = 1024
    steps: int = _PAPER.num_inference_steps
    text_scale: float = _PAPER.text_scale
    id_scale: float = _PAPER.id_scale
    id_start: float = _PAPER.id_start
    local_scale: float = _PAPER.local_scale
    global_scale: float = _PAPER.global_scale
    id_stop: float = _PAPER.id_stop
    seed: int = 0
    num_images: int = 1
    negative_prompt: str = ""

    @classmethod
    def from_options(cls, options: SamplingOptions, **page: Any) -> Sampling:
        """The controls showing ``options``, with the ``page``'s other controls (width, seed, ...)."""
        shown = {_CONTROL.get(name, name): getattr(options, name) for name in SamplingOptions.names()}
        return cls(**shown, **page)

    def options(self) -> SamplingOptions:
        """The pipeline's options these controls ask for (a :class:`RealisIDError` for a bad value)."""
        names = SamplingOptions.names()
        return SamplingOptions(**{name: getattr(self, _CONTROL.get(name, name)) for name in names})

    @classmethod
    def from_controls(cls, **values: Any) -> Sampling:
        """From the page's control values: sliders give floats, an emptied number box gives ``None``; a
        count that is no whole number (NaN, from a raw API request) is a :class:`RealisIDError`."""
        defaults, chosen = cls(), {}
        for name, value in values.items():
            default = getattr(defaults, name)
            if value is None:
                chosen[name] = default
            elif isinstance(default, int):
                chosen[name] = whole_number(name, value)
            else:
                chosen[name] = type(default)(value)
        return cls(**chosen)


def whole_number(name: str, value: Any) -> int:
    """A control's ``value`` as an ``int``; a one-line error for anything but a whole number."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value % 1:
        raise RealisIDError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def reference_preview(
    photo: Image.Image | np.ndarray | str | Path, face: int = 0
) -> tuple[FaceConditions, Image.Image, str]:
    """Face ``face`` of ``photo`` (0 = the largest, in order of size): its conditions, a picture of every
    face's numbered box with the chosen one's crop and ``c_p&e``, and a one-line summary. Raises
    :class:`~realisid.faces.NoFaceError` or :class:`~realisid.faces.FaceIndexError`."""
    image = load_photo(photo)
    faces = detect_faces(image)
    chosen = pick_face(faces, face, image.size)
    conditions = face_conditions(image, chosen)
    which = "the largest" if face == 0 else f"face {face}"
    summary = f"{len(faces)} face(s) found; using {which} ({chosen.relative_size:.2f} of the long edge)"
    if len(faces) > 1:
        summary += "; set Face to another box's number to use it"
    return conditions, preview(image, faces, [conditions], height=256), summary


def person_landmarks(person: Person) -> np.ndarray:
    """The landmarks ``(N, 3)`` the pipeline draws for ``person`` (reference, pose photo, yaw/pitch/roll);
    empty while it has no reference. They are normalised to the box, so any box gives the same."""
    if person.reference is None:
        return np.zeros((0, 3), np.float32)
    return resolve_persons([replace(person, box=(0.5, 0.5, 1.0))], 1, 1)[0].landmarks


def landmark_preview(person: Person, size: int = 256) -> Image.Image | None:
    """``person``'s pose-expression drawing ``c_p&e``, or ``None`` without a reference."""
    if person.reference is None:
        return None
    return draw_landmarks(person_landmarks(person), size)


def layout_preview(
    persons: list[Person], width: int, height: int, max_side: int = PREVIEW_SIDE
) -> tuple[Image.Image, list[str]]:
    """Every person's box and landmarks on the ``width×height`` canvas, drawn with its long side at
    ``max_side``, and one message per box that cannot place a face (not drawn). Boxes are relative
    ``(cx, cy, size)``."""
    scale = max_side / max(width, height)
    entries, problems = [], []
    for index, person in enumerate(persons):
        box = Box.from_relative(*person.box, width, height)
        try:
            box.validate(width, height)
        except RealisIDError as error:
            problems.append(f"person {index}: {error}")
            continue
        entries.append((box.scaled(scale), person_landmarks(person)))
    return draw_layout(round(width * scale), round(height * scale), entries), problems


def box_legend(persons: list[Person], width: int, height: int) -> str:
    """One line naming each person's face size in pixels and relative to the long edge."""
    parts = []
    for index, person in enumerate(persons):
        relative = person.box[2]
        small = " (small face)" if relative <= SMALL_FACE else ""
        parts.append(f"person {index}: {relative * max(width, height):.0f} px, {relative:.2f}{small}")
    return f"{width}×{height} px output · " + " · ".join(parts)


def generate(
    pipe: RealisIDPipeline,
    prompt: str,
    persons: list[Person],
    sampling: Sampling,
    on_step: ProgressCallback | None = None,
) -> list[tuple[Image.Image, str]]:
    """Generates ``sampling.num_images`` images; returns gallery items, each image followed by the layout.

    ``on_step(done, total)`` is called after every denoising step. Raises :class:`RealisIDError` for
    bad input (a person without a reference, a box outside the image, a bad size).
    """

    def step_end(_pipe: RealisIDPipeline, step: int, _timestep: Any, _tensors: dict) -> dict:
        on_step(step + 1, sampling.steps)
        return {}

    if not isinstance(prompt, str) or not prompt.strip():
        raise RealisIDError("no prompt: write what the image should show")

    output = pipe(
        prompt,
        persons,
        negative_prompt=sampling.negative_prompt or None,
        height=sampling.height,
        width=sampling.width,
        sampling=sampling.options(),
        num_images_per_prompt=sampling.num_images,
        generator=torch.Generator().manual_seed(check_seed(sampling.seed)),
        return_layout=True,
        callback_on_step_end=step_end if on_step else None,
    )
    items = []
    for index, image in enumerate(output.images):
        items += [(image, f"image {index} · seed {sampling.seed}"), (output.layout, "layout")]
    return items


# -------------------------------------------------------------------------------------- UI
@contextmanager
def page_errors() -> Iterator[None]:
    """Bad input inside, raised as ``gr.Error``: a message in the page, no traceback on the server."""
    try:
        yield
    except RealisIDError as error:
        raise gr.Error(str(error), print_exception=False) from None


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
        return picture, "\n\n".join(_message(p, error=True) for p in problems) or box_legend(
            persons, width, height
        )


CSS = """
.person-title { font-weight: 600; font-size: 1.05em; display: flex; align-items: center; gap: .5em; }
.swatch { width: .9em; height: .9em; border-radius: 2px; display: inline-block; }
.status-error { color: var(--error-text-color); }
#canvas img, #gallery img { background: #18181c; }
"""


def _message(text: str, error: bool = False) -> str:
    return f'<span class="status-error">⚠ {text}</span>' if error else text


def upload_face(
    photo: Image.Image | str | None, face: float | None = 0
) -> tuple[FaceConditions | None, Image.Image | None, str]:
    """Upload handler: conditions, preview and status of face ``face`` (0 = the largest) of a reference or
    pose photo."""
    if photo is None:
        return None, None, ""
    try:
        return reference_preview(photo, whole_number("Face", 0 if face is None else face))
    except RealisIDError as error:
        gr.Warning(str(error))
        return None, None, _message(str(error), error=True)


def upload_more(paths: list[str] | None) -> tuple[list[FaceConditions], list[tuple[Image.Image, str]], str]:
    """Upload handler for further photos of a person: the conditions of each one's largest face, its
    masked crop captioned with the file name, and one status line per photo (a photo without a face is
    named and left out)."""
    found, crops, lines = [], [], []
    for path in paths or ():
        name = Path(path).name
        conditions, _, status = upload_face(path)
        if conditions is not None:
            found.append(conditions)
            crops.append((conditions.masked_crop, name))
        lines.append(f"{name}: {status}")
    return found, crops, "\n\n".join(lines)


def uploaded_file(payload: dict | None) -> str | None:
    """The cached file of an upload event's raw payload. Upload events skip Gradio's decoding, which
    fails on an unreadable file with a blank message; :func:`load_photo` names the problem instead."""
    return None if payload is None else payload["path"]


def upload_pose(photo: Image.Image | str | None) -> tuple[FaceConditions | None, str]:
    """Upload handler: conditions and status of a driving photo."""
    conditions, _, status = upload_face(photo)
    return conditions, status


def generate_in_page(
    pipe: RealisIDPipeline,
    prompt: str,
    persons: list[Person],
    sampling: Sampling,
    on_step: ProgressCallback | None = None,
) -> list[tuple[Image.Image, str]]:
    """Generate handler: :func:`generate`, with bad input raised as ``gr.Error`` (a message in the page,
    no traceback) and the pipeline's warnings (e.g. a prompt too long for CLIP) shown as ``gr.Warning``."""
    with page_errors(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        items = generate(pipe, prompt, persons, sampling, on_step)
    for warning in caught:
        gr.Warning(str(warning.message))
    return items


def _photo_upload(label: str, height: int, elem_id: str) -> gr.Image:
    """A photo upload as given: ``load_photo`` composites transparency onto white, as on the command line."""
    return gr.Image(
        label=label, type="pil", image_mode=None, sources=["upload", "clipboard"], height=height, elem_id=elem_id
    )


def _person_panel(index: int, visible: bool, examples: Sequence[str | Path]) -> PersonPanel:
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
    sampling: Sampling = Sampling(),
    notice: str | None = None,
    examples: Sequence[str | Path] = (),
    prompt: str = "a photo of a person in a sunny park",
) -> gr.Blocks:
    """The page, serving ``pipe``. ``notice`` (Markdown) says what the weights are, e.g.
    :data:`RANDOM_WEIGHTS_NOTICE`; ``examples`` are reference photos offered in every person panel;
    ``prompt`` is the initial prompt."""
    with gr.Blocks(title="RealisID", analytics_enabled=False, delete_cache=UPLOAD_CACHE) as demo:
        _title(notice)
        page = _page(sampling, examples, prompt)
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
            panels = [_person_panel(index, index == 0, examples) for index in range(MAX_PERSONS)]
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


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, block: bool = True) -> str:
    """Queues ``demo`` (one generation at a time) and serves it on ``host:port``; returns its address.

    Uploads are capped at :data:`MAX_FILE_SIZE`; no server folder is exposed beyond Gradio's own cache.
    """
    demo.queue(default_concurrency_limit=4, max_size=32)
    theme = gr.themes.Default(  # local fonts only: the page loads nothing from other hosts
        primary_hue="amber",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        max_file_size=MAX_FILE_SIZE,
        prevent_thread_lock=not block,
        theme=theme,
        css=CSS,
        footer_links=[],
        quiet=not block,
    )
    return url
