"""The host side of docker/smoke.sh: fixture cache, HTTP probes and one API call.

Runs with the project's Python (torch, safetensors, gradio_client, pillow):
    python docker/smoke_client.py fixture HF_HOME
    python docker/smoke_client.py wait URL --expect ready|failed [--timeout S]
    python docker/smoke_client.py remove URL WORKDIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
# The fixture's matte is sigmoid(w . normalised_rgb + b): about 1 on pure red and
# about 0 on pure blue, so a half-red, half-blue picture must come back half opaque.
RED, BLUE = (255, 0, 0), (0, 0, 255)
WIDTH, HEIGHT = 640, 480


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def build_fixture(hf_home: Path) -> None:
    sys.path.insert(0, str(CHECKOUT / "tests"))
    import fixture_model

    snapshot = fixture_model.build_hf_cache(hf_home)
    print(f"fixture model: {snapshot}")


def wait(url: str, expect: str, timeout: float) -> None:
    """Wait until /health answers and /ready reports ``expect`` (ready or failed)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            health_code, health = get_json(f"{url}/health")
            ready_code, ready = get_json(f"{url}/ready")
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
            time.sleep(1)
            continue
        last = f"/health {health_code} {health}; /ready {ready_code} {ready}"
        if health_code == 200 and ready.get("status") == expect:
            if (ready_code == 200) != (expect == "ready"):
                sys.exit(f"smoke: /ready answered {ready_code} with status {expect}: {ready}")
            print(f"/health {health_code} {json.dumps(health)}")
            print(f"/ready {ready_code} {json.dumps(ready)}")
            return
        if ready.get("status") not in ("loading", expect):
            break
        time.sleep(1)
    sys.exit(f"smoke: /ready did not reach {expect!r} (waited up to {timeout:.0f} s); last: {last}")


def remove(url: str, workdir: Path) -> None:
    """Remove the background of a half-red, half-blue picture through the public API."""
    from gradio_client import Client, handle_file
    from PIL import Image

    source = workdir / "two-colours.png"
    picture = Image.new("RGB", (WIDTH, HEIGHT), BLUE)
    picture.paste(RED, (0, 0, WIDTH // 2, HEIGHT))
    picture.save(source)

    started = time.perf_counter()
    result = Path(Client(url, verbose=False).predict(handle_file(source), api_name="/remove_background"))
    seconds = time.perf_counter() - started

    with Image.open(result) as cutout:
        cutout.load()
    problems = []
    if result.name != "two-colours-nobg.png":
        problems.append(f"file name {result.name!r}, expected 'two-colours-nobg.png'")
    if cutout.format != "PNG" or cutout.mode != "RGBA":
        problems.append(f"{cutout.format} {cutout.mode}, expected PNG RGBA")
    if cutout.size != (WIDTH, HEIGHT):
        problems.append(f"size {cutout.size}, expected {(WIDTH, HEIGHT)}")
    else:
        red_alpha = cutout.getpixel((WIDTH // 4, HEIGHT // 2))[3]
        blue_alpha = cutout.getpixel((3 * WIDTH // 4, HEIGHT // 2))[3]
        if red_alpha < 250 or blue_alpha > 5:
            problems.append(f"alpha {red_alpha} on red and {blue_alpha} on blue, expected ~255 and ~0")
    if problems:
        sys.exit("smoke: bad cutout: " + "; ".join(problems))
    width, height = cutout.size
    print(f"cutout: {result.name} {cutout.format} {cutout.mode} {width}x{height} in {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("fixture").add_argument("hf_home", type=Path)
    waiter = verbs.add_parser("wait")
    waiter.add_argument("url")
    waiter.add_argument("--expect", choices=("ready", "failed"), required=True)
    waiter.add_argument("--timeout", type=float, default=300)
    remover = verbs.add_parser("remove")
    remover.add_argument("url")
    remover.add_argument("workdir", type=Path)
    args = parser.parse_args()
    if args.verb == "fixture":
        build_fixture(args.hf_home)
    elif args.verb == "wait":
        wait(args.url.rstrip("/"), args.expect, args.timeout)
    else:
        remove(args.url, args.workdir)


if __name__ == "__main__":
    main()
