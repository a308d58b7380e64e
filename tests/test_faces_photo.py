"""Photo loading and square crops: formats, EXIF orientation, errors. No face models needed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from realisid.boxes import Box
from realisid.faces import PhotoError, crop_square, load_photo
from realisid.faces.photo import downscale
from realisid.faces.samples import astronaut


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return astronaut()


def test_exif_orientation_is_applied(photo, tmp_path):
    # Orientation 6: the stored pixels must be turned 90° clockwise to be shown upright.
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.png"
    stored.save(path, exif=exif)
    assert Image.open(path).size == stored.size
    np.testing.assert_array_equal(np.asarray(load_photo(path)), np.asarray(photo))


def test_rgba_transparency_becomes_white(photo):
    rgba = photo.convert("RGBA")
    alpha = np.full(photo.size[::-1], 255, np.uint8)
    alpha[:, :100] = 0
    rgba.putalpha(Image.fromarray(alpha))
    loaded = np.asarray(load_photo(rgba))
    assert loaded.shape == (512, 512, 3)
    assert (loaded[:, :100] == 255).all()
    np.testing.assert_array_equal(loaded[:, 100:], np.asarray(photo)[:, 100:])


def test_greyscale_and_palette_become_rgb(photo):
    grey = load_photo(photo.convert("L"))
    assert grey.mode == "RGB"
    channels = np.asarray(grey)
    assert (channels[..., 0] == channels[..., 2]).all()
    palette = photo.convert("P")
    np.testing.assert_array_equal(np.asarray(load_photo(palette)), np.asarray(palette.convert("RGB")))


def test_sixteen_bit_file_is_scaled_to_eight_bits(tmp_path):
    values = (np.arange(256 * 64, dtype=np.uint32).reshape(64, 256) * 4).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    loaded = np.asarray(load_photo(path))[..., 0]
    np.testing.assert_allclose(loaded, np.rint(values / 257.0), atol=1)


def test_cmyk_jpeg_is_converted(photo, tmp_path):
    path = tmp_path / "print.jpg"
    photo.convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    loaded = load_photo(path)
    assert loaded.mode == "RGB"
    assert np.abs(np.asarray(loaded, float) - np.asarray(photo)).mean() < 8


@pytest.mark.parametrize(
    "array",
    [
        np.full((8, 6), 128, np.uint8),
        np.full((8, 6, 1), 128, np.uint8),
        np.full((8, 6, 3), 128 * 257, np.uint16),
        np.full((8, 6, 3), 128 / 255, np.float32),
        np.concatenate([np.full((8, 6, 3), 128, np.uint8), np.full((8, 6, 1), 255, np.uint8)], axis=2),
    ],
    ids=["grey", "grey1", "uint16", "float", "rgba"],
)
def test_arrays_load_as_rgb(array):
    loaded = load_photo(array)
    assert loaded.mode == "RGB" and loaded.size == (6, 8)
    assert (np.asarray(loaded) == 128).all()


@pytest.mark.parametrize(
    "source, message",
    [
        ("missing.jpg", "no such file"),
        ("not_an_image.jpg", "not an image file"),
        ("truncated.png", "not an image file"),
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((4, 4, 3), np.int64), "dtype|uint8"),
        (42, "int"),
    ],
    ids=["missing", "text", "truncated", "empty", "channels", "dtype", "type"],
)
def test_bad_photos_raise_clear_errors(source, message, photo, tmp_path):
    (tmp_path / "not_an_image.jpg").write_text("hello")
    photo.save(tmp_path / "whole.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "whole.png").read_bytes()[:5000])
    if isinstance(source, str):
        source = tmp_path / source
    with pytest.raises(PhotoError, match=message) as error:
        load_photo(source)
    assert "\n" not in str(error.value)


def test_a_decompression_bomb_is_a_clear_error(photo, tmp_path, monkeypatch):
    photo.save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", photo.width * photo.height // 4)  # Pillow refuses 2x that
    with pytest.raises(PhotoError, match="cannot read photo .*huge.png: .*decompression bomb"):
        load_photo(tmp_path / "huge.png")


def test_downscale_keeps_aspect_and_reports_factor():
    image = Image.new("RGB", (4000, 3000))
    small, factor = downscale(image, 2048)
    assert small.size == (2048, 1536) and factor == pytest.approx(2048 / 4000)
    assert downscale(small, 2048) == (small, 1.0)


def test_crop_square_pads_with_zeros_and_keeps_fractional_placement():
    ramp = np.tile(np.arange(100, dtype=np.uint8), (100, 1))
    image = Image.fromarray(np.stack([ramp] * 3, axis=-1))
    # Half the box lies left of the image: that half is black, the other half the ramp, 1:1.
    crop = np.asarray(crop_square(image, Box(-20, 10, 40), 40))[..., 0]
    assert (crop[:, :19] == 0).all()
    np.testing.assert_allclose(crop[:, 21:], np.tile(np.arange(1, 20), (40, 1)), atol=1)
    # A box shifted by half a pixel samples half-way between columns.
    shifted = np.asarray(crop_square(image, Box(30.5, 30, 20), 20), dtype=float)[..., 0]
    np.testing.assert_allclose(shifted[:, 2:-2], np.tile(np.arange(32.5, 48.5), (20, 1))[:, :], atol=0.6)
