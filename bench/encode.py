"""``python -m bench.encode``: PNG writers and zlib levels on a large cutout, time vs size.

Builds a cutout like the app's (a photo from ``bench.photos`` with a disc-shaped alpha)
and encodes it with Pillow at several ``compress_level`` values and with
``rmbg_app.pipeline.png.write_png`` at several levels, in rounds (one of each per
round, so that other load slows all alike). Prints the fastest time and the size.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench.photos import make_photos
from rmbg_app.pipeline.png import write_png


def cutout(megapixels: float, folder: Path) -> Image.Image:
    """RGBA: the benchmark photo with an opaque disc on a transparent background."""
    photo = make_photos(folder, [megapixels])[0]
    image = Image.open(photo.path).convert("RGB")
    height, width = image.height, image.width
    yy, xx = np.ogrid[:height, :width]
    inside = (xx - width / 2) ** 2 + (yy - height / 2) ** 2 < (min(width, height) / 2.5) ** 2
    image.putalpha(Image.fromarray(inside.astype(np.uint8) * 255, "L"))
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.encode", description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=float, default=24.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pillow-levels", default="1,3,6")
    parser.add_argument("--levels", default="1,2,3")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        image = cutout(args.megapixels, Path(folder))
    pixels = np.asarray(image)

    def pillow(level: int) -> Callable[[], int]:
        def run() -> int:
            buffer = io.BytesIO()
            image.save(buffer, "PNG", compress_level=level)
            return buffer.tell()

        return run

    def ours(level: int) -> Callable[[], int]:
        def run() -> int:
            buffer = io.BytesIO()
            write_png(buffer, np.asarray(image), level=level)
            return buffer.tell()

        return run

    writers = {f"pillow level {level}": pillow(int(level)) for level in args.pillow_levels.split(",")}
    writers |= {f"write_png level {level}": ours(int(level)) for level in args.levels.split(",")}
    times: dict[str, list[float]] = {name: [] for name in writers}
    sizes: dict[str, int] = {}
    for _ in range(args.rounds):
        for name, run in writers.items():
            started = time.perf_counter()
            sizes[name] = run()
            times[name].append(time.perf_counter() - started)
    print(f"{pixels.shape[1]}x{pixels.shape[0]} RGBA cutout, fastest of {args.rounds}")
    print(f"{'writer':24} {'ms':>7} {'MB':>7}")
    for name in writers:
        print(f"{name:24} {min(times[name]) * 1e3:7.0f} {sizes[name] / 1e6:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
