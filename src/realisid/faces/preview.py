"""A picture for people to check extracted conditions: the photo with every face's box and
landmarks, and beside it each face's masked crop over its ``c_p&e`` drawing."""

from __future__ import annotations

from PIL import Image, ImageDraw

from .conditions import FaceConditions
from .face import Face

BOX_COLORS = ((0, 255, 0), (255, 64, 64), (64, 160, 255), (255, 200, 0), (255, 0, 255), (0, 255, 255))
"""Face or person ``i``'s colour, the same in photo previews, layouts and the web UI."""


def preview(
    photo: Image.Image, faces: list[Face], conditions: list[FaceConditions], height: int = 512
) -> Image.Image:
    """The photo scaled to ``height`` with numbered boxes and landmark dots, then one column per face:
    masked crop on top, ``c_p&e`` below, each ``height / 2`` square, framed in the face's box colour."""
    scale = height / photo.height
    shown = photo.resize((max(1, round(photo.width * scale)), height), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(shown)
    for index, face in enumerate(faces):
        color = BOX_COLORS[index % len(BOX_COLORS)]
        box = face.box.scaled(scale)
        draw.rectangle((box.x0, box.y0, box.x0 + box.size, box.y0 + box.size), outline=color, width=2)
        draw.text((box.x0 + 3, box.y0 + 2), str(index), fill=color)
        radius = max(0.5, box.size / 250)
        for x, y in face.landmarks[:, :2] * scale:
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
    tile = height // 2
    picture = Image.new("RGB", (shown.width + tile * len(conditions), height), 0)
    picture.paste(shown, (0, 0))
    for index, face in enumerate(conditions):
        left = shown.width + index * tile
        picture.paste(face.masked_crop.resize((tile, tile), Image.Resampling.LANCZOS), (left, 0))
        picture.paste(face.landmark_image(tile), (left, tile))
        color = BOX_COLORS[index % len(BOX_COLORS)]
        ImageDraw.Draw(picture).rectangle((left, 0, left + tile - 1, height - 1), outline=color, width=2)
    return picture
