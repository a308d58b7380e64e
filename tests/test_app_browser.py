"""The web UI served on a free local port and driven in headless Chromium (Debian's, via Playwright).

The browser may reach the app only; any other request is aborted, so the page must work offline.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from realisid.app import MAX_FILE_SIZE, Sampling, build_demo, serve
from realisid.commands.app import RANDOM_WEIGHTS_NOTICE, example_people
from realisid.faces.samples import astronaut, background, pair_photo
from realisid.pipeline import tiny_pipeline

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[1] / "outputs" / "app" / "screenshot.png"
TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    examples = example_people(tmp_path_factory.mktemp("examples"), count=2)
    demo = build_demo(tiny_pipeline(0), Sampling(width=192, height=128, steps=3), RANDOM_WEIGHTS_NOTICE, examples)
    url = serve(demo, "127.0.0.1", free_port(), block=False)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = {"face": folder / "astronaut.png", "no_face": folder / "rocket.png", "pair": folder / "pair.png"}
    astronaut().save(paths["face"])
    background((320, 240)).save(paths["no_face"])
    pair_photo()[0].save(paths["pair"])
    return paths


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_url) -> Page:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith(app_url) else route.abort()
    )
    page.goto(app_url)
    expect(page.locator("#weights-notice")).to_contain_text("random weights")
    yield page
    page.close()


def set_slider(page: Page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_two_persons_placed_posed_and_generated(page, photos):
    page.locator("#add-person").click()
    for index in (0, 1):
        page.locator(f"#p{index}-photo input[type=file]").set_input_files(photos["face"])
        expect(page.locator(f"#p{index}-status")).to_contain_text("1 face(s) found")

    canvas = page.locator("#canvas img")
    before = canvas.get_attribute("src")
    set_slider(page, "p0-cx", 0.3)
    set_slider(page, "p0-size", 0.45)
    set_slider(page, "p1-cx", 0.75)
    set_slider(page, "p1-size", 0.12)
    expect(canvas).not_to_have_attribute("src", before)
    expect(page.locator("#canvas-status")).to_contain_text(
        "person 0: 86 px, 0.45 · person 1: 23 px, 0.12 (small face)"
    )

    page.locator("#p1-pose-settings").get_by_text("Pose and expression").click()
    drawing = page.locator("#p1-drawing img")
    expect(drawing).to_be_visible()
    before = drawing.get_attribute("src")
    set_slider(page, "p1-yaw", 35)
    expect(drawing).not_to_have_attribute("src", before)

    page.locator("#generate").click()
    expect(page.locator("#gallery img")).to_have_count(2, timeout=60_000)  # the image and its layout
    assert page.locator("#gallery").get_by_text("image 0 · seed 0").count() == 1

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
    print(f"screenshot: {SCREENSHOT}")


def test_face_number_and_further_photos_make_one_person(page, photos):
    page.locator("#p0-photo input[type=file]").set_input_files(photos["pair"])
    status = page.locator("#p0-status")
    expect(status).to_contain_text("2 face(s) found; using the largest")
    set_slider(page, "p0-face-index", 1)
    expect(status).to_contain_text("2 face(s) found; using face 1")

    page.locator("#p0-more-settings").get_by_text("More photos of this person").click()
    page.locator("#p0-more input[type=file]").set_input_files([photos["face"], photos["no_face"]])
    more = page.locator("#p0-more-status")
    expect(more).to_contain_text("astronaut.png: 1 face(s) found; using the largest")
    expect(more).to_contain_text("rocket.png: ⚠ no face found in the 320x240 photo")
    expect(page.locator("#p0-more-faces img")).to_have_count(1)
    page.locator("#generate").click()
    expect(page.locator("#gallery img")).to_have_count(2, timeout=60_000)


def test_example_person_loads_as_reference(page):
    page.locator("#p0-examples").get_by_role("button").first.click()
    expect(page.locator("#p0-status")).to_contain_text("1 face(s) found")


def test_photo_without_face_shows_message(page, photos):
    page.locator("#p0-photo input[type=file]").set_input_files(photos["no_face"])
    expect(page.locator("#p0-status")).to_contain_text("no face found in the 320x240 photo")


def test_generate_without_reference_shows_message(page):
    page.locator("#add-person").click()
    expect(page.locator("#p1-photo")).to_be_visible()
    page.locator("#generate").click()
    expect(page.get_by_text("person 0 has no reference photo").first).to_be_visible()


def test_oversized_upload_shows_message(page, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"0" * (10 * 1024 * 1024 + 1))
    page.locator("#p0-photo input[type=file]").set_input_files(big)
    expect(page.get_by_text('exceed the maximum allowed size of 10.0 Mb: "big.png"').first).to_be_visible()


def test_server_refuses_big_uploads_and_server_paths(app_url):
    limit = int(MAX_FILE_SIZE.removesuffix("mb")) * 1024 * 1024
    response = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("big.png", b"0" * (limit + 1))})
    assert response.status_code == 413
    assert "maximum allowed size" in response.text
    for path in ("/etc/passwd", str(Path(__file__).resolve())):
        assert httpx.get(f"{app_url}gradio_api/file={path}").status_code == 403
