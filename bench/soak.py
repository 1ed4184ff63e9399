"""``python -m bench.soak``: resident memory across many consecutive requests.

Runs ``Engine.process`` + ``Result.save`` on the same photo ``--requests`` times (the
model from the environment's settings, or the test fixture model with ``--fixture``) and
prints the RSS after every ``--every`` requests and the growth from the first report
to the last: a leak shows as steady growth, allocator noise as a plateau.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from pathlib import Path

from bench.memory import rss_mib
from bench.photos import make_photos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument("--fixture", action="store_true", help="use the test fixture model")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rmbg-soak-") as folder:
        work = Path(folder)
        from bench.run import build_settings

        settings = build_settings(
            argparse.Namespace(smoke=args.fixture, model=None, device="cpu", trust_remote_code=None), work
        )
        settings.export_hf_environment()
        from rmbg_app.engine import Engine

        engine = Engine.load(settings)
        photo = make_photos(work, [args.megapixels])[0]
        samples = []
        for index in range(1, args.requests + 1):
            with tempfile.TemporaryDirectory(dir=work) as out:
                engine.process(photo.path).save(Path(out))
            if index % args.every == 0:
                gc.collect()
                samples.append({"requests": index, "rss_mib": rss_mib()})
                print(f"{index:5d} requests: RSS {samples[-1]['rss_mib']:.0f} MiB", flush=True)
    growth = samples[-1]["rss_mib"] - samples[0]["rss_mib"]
    print(f"growth from request {samples[0]['requests']} to {samples[-1]['requests']}: {growth:+.1f} MiB")
    if args.json:
        args.json.write_text(json.dumps({"photo": photo.label, "samples": samples, "growth_mib": growth}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
