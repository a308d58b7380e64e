"""The web UI's Python side, without a browser: previews, layout, generation, error handling."""

from __future__ import annotations

import os
import warnings
from dataclasses import replace

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
from PIL import Image

from realisid.app import Sampling, build_demo
from realisid.app.generation import generate
from realisid.app.handlers import generate_in_page, upload_face, upload_more, upload_pose
from realisid.app.panels import person_panel
from realisid.app.previews import (
    box_legend,
    landmark_preview,
    layout_preview,
    person_landmarks,
    reference_preview,
)
from realisid.cli import build_parser
from realisid.commands.app import RANDOM_WEIGHTS_NOTICE, TOY_WEIGHTS_NOTICE, app_models, example_people
from realisid.errors import RealisIDError
from realisid.faces import FaceIndexError, NoFaceError, draw_landmarks, load_photo, rotate_landmarks
from realisid.faces.detection import overlap
from realisid.faces.samples import ASTRONAUT_FACE, astronaut, background, grace_hopper, pair_photo
from realisid.layout import BOX_COLORS
from realisid.persons import Person
from realisid.pipeline import tiny_pipeline
from realisid.presets import EFFICIENT_SAMPLING
from realisid.sampling import SamplingOptions
from realisid_toy.shipped import toy_world

from .conftest import perturb_zero_convs

FAST = Sampling(width=96, height=64, steps=3, seed=7)


@pytest.fixture(scope="module")
def astronaut_face():
    return reference_preview(astronaut())[0]


@pytest.fixture(scope="module")
def hopper_face():
    return reference_preview(grace_hopper())[0]


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline(0)


def test_reference_preview_finds_the_face(astronaut_face):
    conditions, picture, summary = reference_preview(np.asarray(astronaut()))
    assert overlap(conditions.box, ASTRONAUT_FACE) > 0.6
    assert picture.height == 256 and picture.width > 256  # the photo, then crop and drawing
    assert summary == "1 face(s) found; using the largest (0.21 of the long edge)"


def test_reference_preview_without_face():
    with pytest.raises(NoFaceError, match="no face found in the 320x240 photo"):
        reference_preview(background((320, 240)))


def test_reference_preview_numbers_the_faces_and_uses_the_chosen_one():
    photo, truths = pair_photo()
    largest, picture, summary = reference_preview(photo)
    assert overlap(largest.box, truths[0]) > 0.6 and picture.width == 410 + 128  # photo at 256 px high, one crop
    assert summary.startswith("2 face(s) found; using the largest (") and "set Face" in summary
    second, _, summary = reference_preview(photo, face=1)
    assert overlap(second.box, truths[1]) > 0.6 and summary.startswith("2 face(s) found; using face 1 (")
    with pytest.raises(FaceIndexError, match="face index 2 does not exist: 2 face"):
        reference_preview(photo, face=2)
    assert upload_face(photo, 1.0)[0].box == second.box  # the page's number box gives a float


def test_further_photos_give_faces_and_name_the_ones_left_out(tmp_path):
    paths = [tmp_path / "astronaut.png", tmp_path / "rocket.png", tmp_path / "hopper.png"]
    for path, photo in zip(paths, (astronaut(), background((320, 240)), grace_hopper())):
        photo.save(path)
    assert upload_more(None) == ([], [], "")
    with pytest.warns(UserWarning, match="no face found"):
        found, crops, status = upload_more([str(p) for p in paths])
    assert len(found) == 2 and overlap(found[0].box, ASTRONAUT_FACE) > 0.6
    assert [caption for _, caption in crops] == ["astronaut.png", "hopper.png"]
    assert crops[1][0] is found[1].masked_crop
    lines = status.split("\n\n")
    assert lines[0].startswith("astronaut.png: 1 face(s) found") and lines[2].startswith("hopper.png: 1 face(s)")
    assert lines[1].startswith("rocket.png: ") and "⚠ no face found in the 320x240 photo" in lines[1]


def test_a_panel_with_further_photos_gives_a_person_with_several_references(astronaut_face, hopper_face):
    with gr.Blocks():
        panel = person_panel(0, True, ())
    values = {panel.conditions: astronaut_face, panel.more_conditions: [hopper_face], panel.cx: 0.5, panel.cy: 0.4,
              panel.size: 0.3, panel.pose: None, panel.yaw: 0, panel.pitch: 0, panel.roll: 0}
    assert set(values) == panel.values
    assert panel.person(values).reference == [astronaut_face, hopper_face]
    assert panel.person({**values, panel.more_conditions: []}).reference == [astronaut_face]
    assert panel.person({**values, panel.conditions: None}).reference == [hopper_face]
    assert panel.person({**values, panel.conditions: None, panel.more_conditions: []}).reference is None


def test_upload_handlers_report_errors_as_messages():
    assert upload_face(None) == (None, None, "")
    with pytest.warns(UserWarning, match="no face found"):
        conditions, picture, status = upload_face(background((320, 240)))
    assert conditions is None and picture is None
    assert "⚠ no face found in the 320x240 photo" in status
    conditions, status = upload_pose(astronaut())
    assert conditions is not None and status.startswith("1 face(s) found")


def test_landmarks_follow_reference_pose_photo_and_angles(astronaut_face, hopper_face):
    assert person_landmarks(Person(None, box=(0.5, 0.5, 0.3))).shape == (0, 3)
    own = person_landmarks(Person(astronaut_face, box=(0.2, 0.3, 0.1)))
    np.testing.assert_array_equal(own, astronaut_face.landmarks)
    driven = person_landmarks(Person(astronaut_face, box=(0.5, 0.5, 0.3), pose=hopper_face))
    np.testing.assert_array_equal(driven, hopper_face.landmarks)
    turned = person_landmarks(Person(astronaut_face, box=(0.5, 0.5, 0.3), yaw=30, roll=-10))
    np.testing.assert_allclose(turned, rotate_landmarks(astronaut_face.landmarks, 30, 0, -10), atol=1e-6)


def test_landmark_preview_draws_the_landmarks(astronaut_face):
    assert landmark_preview(Person(None, box=(0.5, 0.5, 0.3))) is None
    person = Person(astronaut_face, box=(0.5, 0.5, 0.3), yaw=25)
    drawing = landmark_preview(person, size=128)
    assert np.array_equal(np.asarray(drawing), np.asarray(draw_landmarks(person_landmarks(person), 128)))
    assert not np.array_equal(
        np.asarray(drawing), np.asarray(landmark_preview(Person(astronaut_face, box=(0.5, 0.5, 0.3)), 128))
    )


def test_layout_preview_draws_boxes_where_asked(astronaut_face):
    persons = [Person(astronaut_face, box=(0.5, 0.5, 0.5)), Person(None, box=(0.125, 0.5, 0.125))]
    picture, problems = layout_preview(persons, 256, 128, max_side=512)
    assert picture.size == (512, 256) and problems == []
    pixels = np.asarray(picture)
    # Person 0: 128 px at (64, 0) in the output, drawn twice as large; person 1 (no photo yet): 32 px at (16, 48).
    assert tuple(pixels[128, 128]) == BOX_COLORS[0]  # left edge of box 0
    assert tuple(pixels[128, 32]) == BOX_COLORS[1]  # left edge of box 1
    background = pixels[5, 5]
    assert (
        pixels[115:156, 40:90] == background
    ).all()  # inside box 1, below its label: no photo, no landmarks
    assert (pixels[60:200, 150:360] != background).any(
        axis=-1
    ).sum() > 500  # inside box 0: the landmark drawing


def test_layout_preview_reports_boxes_outside_the_canvas(astronaut_face):
    persons = [Person(astronaut_face, box=(0.5, 0.5, 0.3)), Person(astronaut_face, box=(1.19, 0.5, 0.05))]
    picture, problems = layout_preview(persons, 256, 128)
    assert picture.size == (512, 256)
    assert problems == ["person 1: box (x0=298.2, y0=57.6, size=12.8) lies outside the 256x128 image"]


def test_box_legend_flags_small_faces():
    persons = [Person(None, box=(0.5, 0.5, 0.3)), Person(None, box=(0.5, 0.5, 0.1))]
    assert box_legend(persons, 512, 256) == (
        "512×256 px output · person 0: 154 px, 0.30 · person 1: 51 px, 0.10 (small face)"
    )


def test_sampling_from_page_controls():
    chosen = Sampling.from_controls(
        width=256.0, height=128, steps=4.0, seed=None, text_scale=5, negative_prompt="x"
    )
    assert chosen == Sampling(width=256, height=128, steps=4, seed=0, text_scale=5.0, negative_prompt="x")
    assert isinstance(chosen.width, int) and isinstance(chosen.text_scale, float)


def test_the_controls_carry_every_sampling_option_both_ways():
    options = SamplingOptions(num_inference_steps=7, text_scale=3.0, id_scale=2.0, id_start=0.1,
                              local_scale=0.5, global_scale=0.25, **EFFICIENT_SAMPLING)
    controls = Sampling.from_options(options, width=256, seed=4)
    assert (controls.steps, controls.id_stop, controls.width, controls.seed) == (7, 0.8, 256, 4)
    assert controls.options() == options


def test_generate_matches_the_pipeline_and_reports_progress(astronaut_face, hopper_face):
    import torch

    pipe = tiny_pipeline(0)
    perturb_zero_convs(pipe.adapter)  # branch weights then change the picture
    persons = [
        Person(astronaut_face, box=(0.3, 0.4, 0.3)),
        Person(hopper_face, box=(0.75, 0.5, 0.12), yaw=20),
    ]
    sampling = Sampling(
        width=96,
        height=64,
        steps=3,
        text_scale=6.0,
        id_start=0.0,
        local_scale=0.5,
        global_scale=0.0,
        seed=3,
        num_images=2,
        negative_prompt="blurry",
    )
    steps = []
    items = generate(
        pipe, "two people", persons, sampling, on_step=lambda done, total: steps.append((done, total))
    )
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert [caption for _, caption in items] == ["image 0 · seed 3", "layout", "image 1 · seed 3", "layout"]
    expected = pipe(
        "two people",
        persons,
        negative_prompt="blurry",
        height=64,
        width=96,
        num_inference_steps=3,
        text_scale=6.0,
        id_scale=5.0,
        id_start=0.0,
        local_scale=0.5,
        global_scale=0.0,
        num_images_per_prompt=2,
        generator=torch.Generator().manual_seed(3),
        return_layout=True,
    )
    for (image, _), want in zip(items[::2], expected.images):
        assert image.size == (96, 64)
        assert np.array_equal(np.asarray(image), np.asarray(want))
    both_branches = generate(pipe, "two people", persons, replace(sampling, local_scale=1.0, global_scale=1.0))
    assert not np.array_equal(np.asarray(both_branches[0][0]), np.asarray(items[0][0]))
    assert np.array_equal(np.asarray(items[1][0]), np.asarray(expected.layout))


def test_generate_seed_decides_the_image(pipe, astronaut_face):
    persons = [Person(astronaut_face, box=(0.5, 0.5, 0.4))]
    first, again, other = (
        np.asarray(generate(pipe, "a person", persons, Sampling(width=64, height=64, steps=2, seed=s))[0][0])
        for s in (1, 1, 2)
    )
    assert np.array_equal(first, again) and not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("persons", "message"),
    [
        ([], "at least one person is needed"),
        ([Person(None, box=(0.5, 0.5, 0.3))], "person 0 has no reference photo"),
        ([Person(astronaut(), box=(1.3, 0.5, 0.1))], "person 0: box .* lies outside the 96x64 image"),
    ],
)
def test_generate_in_page_raises_bad_input_as_page_errors(pipe, persons, message):
    with pytest.raises(RealisIDError, match=message):
        generate(pipe, "a person", persons, FAST)
    with pytest.raises(gr.Error, match=message):
        generate_in_page(pipe, "a person", persons, FAST)


def test_generate_in_page_shows_pipeline_warnings(pipe, astronaut_face):
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        items = generate_in_page(pipe, "a person " * 60, [Person(astronaut_face, box=(0.5, 0.5, 0.4))], FAST)
    assert len(items) == 2
    assert any("CLIP reads 77" in str(w.message) for w in shown)


def test_build_demo_shows_its_notice_and_example_people(pipe, tmp_path):
    def elem_ids(demo: gr.Blocks) -> set[str]:
        return {block.elem_id for block in demo.blocks.values() if block.elem_id}

    examples = example_people(tmp_path, count=2)
    assert [Image.open(path).size for path in examples] == [(256, 256)] * 2
    page = elem_ids(build_demo(pipe, FAST, RANDOM_WEIGHTS_NOTICE, examples))
    assert {"weights-notice", "canvas", "gallery", "generate", "p0-photo", "p3-size", "p0-examples", "p0-face-index",
            "p0-more", "p3-more-faces"} <= page
    bare = elem_ids(build_demo(pipe, FAST))
    assert "weights-notice" not in bare and "p0-examples" not in bare


def test_uploaded_photos_keep_their_transparency_for_load_photo(pipe, tmp_path):
    """A cut-out portrait's transparent pixels become white, as on the command line (not Gradio's black)."""
    cut_out = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    cut_out.paste((200, 50, 50, 255), (8, 8, 24, 24))
    cut_out.save(tmp_path / "cut_out.png")
    demo = build_demo(pipe, FAST)
    for elem_id in ("p0-photo", "p0-pose"):
        component = next(block for block in demo.blocks.values() if block.elem_id == elem_id)
        uploaded = component.preprocess(component.data_model(path=str(tmp_path / "cut_out.png")))
        pixels = np.asarray(load_photo(uploaded))
        assert tuple(pixels[0, 0]) == (255, 255, 255) and tuple(pixels[16, 16]) == (200, 50, 50)


def test_app_serves_the_toy_weights_unless_a_model_is_named():
    pipe, sampling, notice, page = app_models(build_parser().parse_args(["app"]))
    side = toy_world().size
    assert notice == TOY_WEIGHTS_NOTICE and (sampling.width, sampling.height) == (side, side)
    assert pipe.unet.config.in_channels == 16 and pipe.adapter is not None
    assert len(page["examples"]) == 6 and "sweater" in page["prompt"]
    pipe, sampling, notice, page = app_models(
        build_parser().parse_args(
            ["app", "--tiny", "--steps", "3", "--local-scale", "0", "--global-scale", "0.5", "--id-stop", "0.8"]
        )
    )
    assert notice == RANDOM_WEIGHTS_NOTICE and (sampling.width, sampling.steps) == (256, 3) and page == {}
    assert (sampling.local_scale, sampling.global_scale, sampling.id_stop) == (0.0, 0.5, 0.8)
    assert pipe.unet.config.in_channels == 4


def test_app_command_defaults_to_local_host():
    args = build_parser().parse_args(["app"])
    assert (args.host, args.port, args.base) == ("127.0.0.1", 7860, None)
    args = build_parser().parse_args(["app", "--host", "0.0.0.0", "--port", "9000", "--steps", "4"])
    assert (args.host, args.port, args.steps) == ("0.0.0.0", 9000, 4)
