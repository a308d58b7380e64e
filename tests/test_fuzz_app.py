"""Fuzzing the web UI through Gradio's API, as a raw client sends it: unreadable uploads and values no
control can show are one-line messages (never a server traceback), and uploads are cleared from the cache."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from realisid.app import Sampling, build_demo, page, serve
from realisid.faces.samples import astronaut
from realisid.pipeline import tiny_pipeline

from ._fuzz_support import broken_photos
from .test_app_browser import free_port

NAN = float("nan")


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Page:
    demo = build_demo(tiny_pipeline(0), Sampling(width=64, height=64, steps=2))
    url = serve(demo, "127.0.0.1", free_port(), block=False)
    folder = tmp_path_factory.mktemp("uploads")
    photos = broken_photos(folder)
    astronaut().resize((256, 256)).save(folder / "portrait.png")
    yield Page(demo, url, {**photos, "portrait": folder / "portrait.png"})
    demo.close()


@dataclass
class Page:
    """A served page, its photos to upload, and raw API calls in one session (as the browser makes them,
    but with any JSON value, NaN included)."""

    demo: gr.Blocks
    url: str
    photos: dict[str, Path]
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    def upload(self, name: str) -> dict:
        """Uploads photo ``name``; returns the value an image input then sends."""
        with self.photos[name].open("rb") as file:
            (path,) = httpx.post(
                f"{self.url}gradio_api/upload", files={"files": (f"{name}.png", file)}
            ).json()
        return {"path": path, "orig_name": f"{name}.png", "meta": {"_type": "gradio.FileData"}}

    def call(self, name: str, first_input: str | None = None, **values) -> dict:
        """Calls the handler ``name`` (taking ``first_input`` first) with each input at its initial value
        but ``values`` (by label, first match); returns Gradio's ``process_completed`` message."""
        index = next(
            index
            for index, fn in self.demo.fns.items()
            if fn.name == name and (first_input is None or fn.inputs[0].elem_id == first_input)
        )
        inputs = self.demo.fns[index].inputs
        data = [None if isinstance(c, gr.State) else c.value for c in inputs]
        for label, value in values.items():
            data[next(i for i, c in enumerate(inputs) if getattr(c, "label", None) == label)] = value
        body = {
            "data": data,
            "fn_index": index,
            "session_hash": self.session,
            "event_data": None,
            "trigger_id": None,
        }
        headers = {"content-type": "application/json"}
        httpx.post(
            f"{self.url}gradio_api/queue/join", content=json.dumps(body), headers=headers
        ).raise_for_status()
        query = {"session_hash": self.session}
        with httpx.stream("GET", f"{self.url}gradio_api/queue/data", params=query, timeout=60) as events:
            for line in events.iter_lines():
                message = json.loads(line.removeprefix("data:")) if line.startswith("data:") else {}
                if message.get("msg") == "process_completed":
                    return message
        raise AssertionError("the event stream ended without a result")

    def give_person_0_a_reference(self) -> None:
        """Uploads a portrait as person 0's reference: then only a bad value can fail a call."""
        message = self.call("<lambda>", "p0-photo", **{"Reference photo": self.upload("portrait")})
        assert message["output"]["data"][1] is not None

    def error(self, name: str, **values) -> str:
        """The page's message for a call that must fail."""
        message = self.call(name, **values)
        assert not message["success"]
        return message["output"]["error"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("one_pixel", "no face found in the 1x1 photo"),
        ("empty", "not an image file"),
        ("truncated", "image file is truncated"),
        ("bomb", "could be decompression bomb"),
    ],
)
def test_unreadable_uploads_are_named(name, words, served, capfd):
    message = served.call("<lambda>", "p0-photo", **{"Reference photo": served.upload(name)})
    _, face, status = message["output"]["data"]
    assert message["success"] and face is None and words in status and "\n" not in status
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"Prompt": ""}, "no prompt: write what the image should show"),
        ({"Prompt": "   "}, "no prompt: write what the image should show"),
        ({"λ_t · text": NAN}, "text_scale must be a finite number, got nan"),
        ({"local branch": NAN}, "local_scale must be a finite number, got nan"),
        ({"Steps": NAN}, "steps must be a whole number, got nan"),
        ({"Width": NAN}, "width must be a whole number, got nan"),
        ({"Images": 2.5}, "num_images must be a whole number, got 2.5"),
        ({"Seed": NAN}, "seed must be a whole number, got nan"),
        ({"Seed": 2**70}, "seed must be a whole number from 0 to 18446744073709551615, got 1180591620717411303424"),
        ({"Centre x": NAN}, "person 0: box values must be finite numbers"),
        ({"Yaw °": NAN}, "person 0: yaw must be a finite number of degrees, got nan"),
    ],
    ids=[
        "empty-prompt",
        "blank-prompt",
        "text-scale-nan",
        "local-scale-nan",
        "steps-nan",
        "width-nan",
        "half-an-image",
        "seed-nan",
        "seed-2**70",
        "box-nan",
        "yaw-nan",
    ],
)
def test_raw_requests_with_bad_values_are_page_errors(values, words, served, capfd):
    served.give_person_0_a_reference()
    error = served.error("on_generate", **{"Prompt": "a portrait", **values})
    assert words in error and "\n" not in error
    assert "Traceback" not in capfd.readouterr().err


def test_layout_events_refuse_bad_values(served, capfd):
    served.give_person_0_a_reference()
    assert "height must be a whole number, got nan" in served.error("show_layout", Height=NAN)
    assert "pitch must be a finite number of degrees, got nan" in served.error(
        "drawing_of", **{"Pitch °": NAN}
    )
    assert "Traceback" not in capfd.readouterr().err


def test_uploads_are_cleared_from_the_cache(monkeypatch, served):
    monkeypatch.setattr(page, "UPLOAD_CACHE", (1, 1))
    demo = build_demo(tiny_pipeline(0), Sampling(width=64, height=64, steps=2))
    url = serve(demo, "127.0.0.1", free_port(), block=False)
    try:
        photo = served.photos["one_pixel"]
        with photo.open("rb") as file:
            (uploaded,) = httpx.post(f"{url}gradio_api/upload", files={"files": (photo.name, file)}).json()
        assert Path(uploaded).is_file()
        deadline = time.monotonic() + 20
        while Path(uploaded).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not Path(uploaded).exists()
    finally:
        demo.close()
