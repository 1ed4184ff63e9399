#!/usr/bin/env python3
"""Concurrent users: each sends its photos one after another through gradio_client; every
result is checked (RGBA PNG, the photo's size and colours). Prints latency percentiles
and throughput; exit status 1 if any request failed or any result was wrong.

    python load/concurrency.py                      # 16 users x 5 photos on the fixture model
    python load/concurrency.py --users 4 --images 3 --json out.json
    python load/concurrency.py --url http://127.0.0.1:7860 --users 8   # a running server
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

from gradio_client import Client, handle_file

from harness import Server, check_cutout, make_photos, percentile, start_fixture_server


def run(server: Server, users: int, images: int, folder: Path) -> dict:
    """Every user in its own thread with its own client; returns the figures."""
    photos = make_photos(folder / "photos", users * images)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(users)

    def user(index: int) -> None:
        mine = photos[index * images : (index + 1) * images]
        client = Client(server.url, verbose=False, download_files=str(folder / f"user{index}"))
        barrier.wait()  # everyone starts together
        for photo in mine:
            started = time.perf_counter()
            try:
                result = Path(client.predict(handle_file(str(photo)), api_name="/remove_background"))
                elapsed = time.perf_counter() - started
                check_cutout(photo, result)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(f"user {index} {photo.name}: {type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "users": users,
        "images_per_user": images,
        "requests": users * images,
        "ok": len(latencies),
        "failed": len(failures),
        "failures": failures[:20],
        "wall_s": round(wall, 2),
        "throughput_per_s": round(len(latencies) / wall, 3),
        "latency_s": {
            "p50": round(percentile(latencies, 50), 3),
            "p95": round(percentile(latencies, 95), 3),
            "max": round(max(latencies, default=float("nan")), 3),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--images", type=int, default=5, help="photos per user")
    parser.add_argument("--url", help="a running server (default: start one on the fixture model)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    # Every user's request may wait in the queue at once: make room for all of them.
    server = Server(args.url) if args.url else start_fixture_server({"RMBG_QUEUE_SIZE": str(args.users + 1)})
    try:
        with tempfile.TemporaryDirectory(prefix="rmbg-load-client-") as folder:
            figures = run(server, args.users, args.images, Path(folder))
    finally:
        server.stop()
    latency = figures["latency_s"]
    print(
        f"{figures['ok']}/{figures['requests']} ok ({args.users} users x {args.images} photos) in "
        f"{figures['wall_s']} s: {figures['throughput_per_s']} images/s, latency p50 {latency['p50']} s, "
        f"p95 {latency['p95']} s, max {latency['max']} s"
    )
    for failure in figures["failures"]:
        print("FAILED", failure, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
