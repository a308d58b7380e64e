"""Shared helpers for the evaluation tests: real face photos from PyPI, a tiny CLIP, a stand-in generator."""

from __future__ import annotations

import os
import string
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest
import torch
from PIL import Image
from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

from realisid.boxes import Box
from realisid.evaluation import ClipEmbedder, GenerationRequest, load_backend
from realisid.evaluation.images import crop_box
from realisid.faces.photo import load_photo

SDIST = "face_recognition==1.3.0"
CACHE = Path(os.environ.get("REALISID_TEST_CACHE", Path(tempfile.gettempdir()) / "realisid-test-cache"))


def face_recognition_images() -> Path:
    """``tests/test_images`` of the face_recognition 1.3.0 sdist (downloaded from PyPI once, cached).

    Three different photos of Obama (obama, obama2, obama3) and one of Biden; never committed.
    """
    target = CACHE / "face_recognition_test_images"
    if (target / "biden.jpg").is_file():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-binary",
                ":all:",
                "--no-deps",
                SDIST,
                "-d",
                tmp,
            ],
            check=True,
        )
        (sdist,) = Path(tmp).glob("face_recognition-*.tar.gz")
        extracted = Path(tmp) / "images"
        extracted.mkdir()
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                if "/tests/test_images/" in member.name and member.isfile():
                    member.name = Path(member.name).name
                    tar.extract(member, extracted, filter="data")
        try:
            extracted.rename(target)
        except OSError:  # another process finished first
            pass
    return target


def tiny_clip(seed: int = 0) -> ClipEmbedder:
    """A random CLIP (width 32, projection 16, 32 px images) with a character-level tokenizer."""
    chars = list(string.ascii_lowercase)
    vocab = {token: i for i, token in enumerate(chars + [c + "</w>" for c in chars])}
    bos, eos = len(vocab), len(vocab) + 1
    vocab.update({"<|startoftext|>": bos, "<|endoftext|>": eos})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    layers = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config=dict(
            vocab_size=len(vocab),
            max_position_embeddings=77,
            bos_token_id=bos,
            eos_token_id=eos,
            pad_token_id=eos,
            **layers,
        ),
        vision_config=dict(image_size=32, patch_size=8, **layers),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    return ClipEmbedder(
        CLIPModel(config), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)
    )


def make_paste_generator(options: dict):
    """Stand-in generator: the reference face (widened 2×) pasted at the requested box on a plain
    background. ``options["log"]``: a file that gets one line per generated image;
    ``options["fail_after"]``: raise after that many images (simulates an interruption)."""
    backend = load_backend("dlib")
    faces: dict[Path, Box] = {}
    calls = 0

    def generate(request: GenerationRequest) -> Image.Image:
        nonlocal calls
        if calls == options.get("fail_after", -1):
            raise KeyboardInterrupt("simulated interruption")
        calls += 1
        reference = load_photo(request.reference)
        if request.reference not in faces:
            faces[request.reference] = backend.find_face(reference).box
        target = Box.from_relative(*request.box, request.width, request.height).expanded(2.0)
        size = round(target.size)
        face = crop_box(reference, faces[request.reference].expanded(2.0)).resize((size, size), Image.BICUBIC)
        shade = 96 + request.seed % 96
        image = Image.new("RGB", (request.width, request.height), (shade, shade, 160))
        image.paste(face, (round(target.x0), round(target.y0)))
        if "log" in options:
            with open(options["log"], "a") as log:
                log.write(f"{request.method} {request.reference.name} {request.seed}\n")
        return image

    return generate


def make_blank_generator(options: dict):
    """A generator that never draws a face: every image is a miss."""
    return lambda request: Image.new("RGB", (request.width, request.height), (40, 90, 40))


@pytest.fixture(scope="module", autouse=True)
def single_torch_thread():
    """Tiny models run ~100× faster on one thread than on two busy shared cores (no OpenMP sync)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
