"""Draw the Teams app icons: ``color.png`` (192x192) and ``outline.png`` (32x32).

Teams requires a full-colour icon and a white outline on a transparent
background. Both show a speech bubble with a medical cross. Run
``python -m ui.teams.make_icons`` to redraw them next to ``manifest.json``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).parent
ACCENT = (0x1F, 0x6F, 0x8B, 255)  # the manifest's accentColor
WHITE = (255, 255, 255, 255)
TRANSPARENT = (0, 0, 0, 0)
COLOR_SIZE = 192
OUTLINE_SIZE = 32


def _bubble_with_cross(size: int, background, ink, outline_only: bool) -> Image.Image:
    image = Image.new("RGBA", (size, size), background)
    draw = ImageDraw.Draw(image)
    unit = size / 32  # drawn on a 32-unit grid, scaled
    box = [4 * unit, 5 * unit, 28 * unit, 23 * unit]
    tail = [(9 * unit, 22 * unit), (9 * unit, 28 * unit), (15 * unit, 22 * unit)]
    width = max(1, round(2 * unit)) if outline_only else 0
    if outline_only:
        draw.rounded_rectangle(box, radius=5 * unit, outline=ink, width=width)
        draw.line([tail[0], tail[1], tail[2]], fill=ink, width=width)
    else:
        draw.rounded_rectangle(box, radius=5 * unit, fill=ink)
        draw.polygon(tail, fill=ink)
    cross_ink = ink if outline_only else background
    draw.rectangle([14 * unit, 8 * unit, 18 * unit, 20 * unit], fill=cross_ink)
    draw.rectangle([10 * unit, 12 * unit, 22 * unit, 16 * unit], fill=cross_ink)
    return image


def make_icons(folder: Path = HERE) -> tuple[Path, Path]:
    color = folder / "color.png"
    outline = folder / "outline.png"
    _bubble_with_cross(COLOR_SIZE, ACCENT, WHITE, outline_only=False).save(color)
    _bubble_with_cross(OUTLINE_SIZE, TRANSPARENT, WHITE, outline_only=True).save(outline)
    return color, outline


if __name__ == "__main__":
    for path in make_icons():
        print(path)
