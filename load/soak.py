#!/usr/bin/env python3
"""Soak: many requests of every kind in a row, while the server's memory is watched and
its temp folders are checked. Exit status 1 if a request went wrong, resident memory
grew more than --max-growth after the warm-up, or a file was left behind.

The mix, repeated: cutouts of a dozen photos, every 10th a matte, every 20th a damaged
file (must be refused), every 25th a batch ZIP of three photos (unpacked in a temp
folder). Memory is VmRSS from /proc/<pid>/status: after the warm-up requests, then at
every 10 % of the run; growth is (last - after warm-up) / after warm-up.

    python load/soak.py                       # 500 requests on the fixture model
    python load/soak.py --requests 100 --warmup 30 --json out.json
    python load/soak.py --url http://127.0.0.1:7860 --pid 1234   # a running server
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from harness import (
    RESULT_ENTRY,
    UPLOAD_ENTRY,
    Server,
    check_cutout,
    make_photos,
    percentile,
    start_fixture_server,
    tree,
    zip_of,
)


def kind_of(index: int) -> str:
    if index % 25 == 24:
        return "batch"
    if index % 20 == 19:
        return "damaged"
    if index % 10 == 9:
        return "matte"
    return "cutout"


def request(client: Client, kind: str, photos: list[Path], folder: Path) -> None:
    """One request of ``kind`` about ``photos[0]`` (a batch takes the first three);
    raises AssertionError (or the client's error) if the server's answer is wrong."""
    photo = photos[0]
    if kind == "cutout":
        check_cutout(photo, Path(client.predict(handle_file(str(photo)), api_name="/remove_background")))
    elif kind == "matte":
        result = Path(client.predict(handle_file(str(photo)), api_name="/matte"))
        assert result.name == photo.stem + "-matte.png", result.name
    elif kind == "damaged":
        damaged = folder / "damaged.jpg"
        damaged.write_bytes(photo.read_bytes()[:200])
        try:
            client.predict(handle_file(str(damaged)), api_name="/remove_background")
        except AppError as exc:
            assert "damaged or truncated" in str(exc) or "looks like" in str(exc), str(exc)
        else:
            raise AssertionError("a damaged file was accepted")
    else:
        archive = folder / "set.zip"
        archive.write_bytes(zip_of(photos[:3]))
        result = Path(client.predict([handle_file(str(archive))], api_name="/remove_background_batch"))
        with zipfile.ZipFile(result) as zf:
            assert json.loads(zf.read("report.json"))["succeeded"] == 3


def run(server: Server, requests: int, warmup: int, folder: Path) -> dict:
    """Send ``requests`` requests one after another; returns the figures."""
    photos = make_photos(folder / "photos", 12)
    client = Client(server.url, verbose=False, download_files=str(folder / "downloads"))
    watch_files = server.cache is not None
    before = (tree(server.cache), tree(server.tmp)) if watch_files else None
    rss_mb: list[tuple[int, float]] = []
    latencies: list[float] = []
    failures: list[str] = []
    results_expected = 0
    started = time.perf_counter()
    for index in range(requests):
        kind = kind_of(index)
        mine = [photos[(index + k) % len(photos)] for k in range(3)]
        began = time.perf_counter()
        try:
            request(client, kind, mine, folder)
            results_expected += kind != "damaged"
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            failures.append(f"#{index} {kind} {mine[0].name}: {type(exc).__name__}: {exc}")
        latencies.append(time.perf_counter() - began)
        done = index + 1
        if server.pid and (done == warmup or (done > warmup and done % max(1, requests // 10) == 0)):
            rss_mb.append((done, server.status_kb("VmRSS") / 1024))
    wall = time.perf_counter() - started
    figures: dict = {
        "requests": requests,
        "warmup": warmup,
        "failed": len(failures),
        "failures": failures[:20],
        "wall_s": round(wall, 1),
        "throughput_per_s": round(requests / wall, 3),
        "latency_s": {"p50": round(percentile(latencies, 50), 3), "p95": round(percentile(latencies, 95), 3)},
    }
    if rss_mb:
        first, last = rss_mb[0][1], rss_mb[-1][1]
        figures["rss_mb"] = [[n, round(mb, 1)] for n, mb in rss_mb]
        figures["rss_growth_after_warmup"] = round((last - first) / first, 4)
        figures["peak_rss_mb"] = round(server.status_kb("VmHWM") / 1024, 1)
    if watch_files:
        cache_new = tree(server.cache) - before[0]
        figures["result_folders"] = len([e for e in cache_new if RESULT_ENTRY.match(e) and "/" not in e])
        figures["results_expected"] = results_expected
        figures["unexpected_files"] = sorted(
            [f"cache/{e}" for e in cache_new if not (UPLOAD_ENTRY.match(e) or RESULT_ENTRY.match(e))]
            + [f"tmp/{e}" for e in tree(server.tmp) - before[1]]
        )[:20]
    return figures


def verdict(figures: dict, max_growth: float) -> list[str]:
    """What is wrong with a run, in words (empty when all is well)."""
    problems = [f"{figures['failed']} requests failed"] if figures["failed"] else []
    if figures.get("rss_growth_after_warmup", 0.0) > max_growth:
        problems.append(f"memory grew {figures['rss_growth_after_warmup']:.1%} after the warm-up")
    if figures.get("unexpected_files"):
        problems.append(f"files left behind: {figures['unexpected_files']}")
    if figures.get("result_folders", 0) != figures.get("results_expected", 0):
        problems.append(
            f"{figures['result_folders']} result folders for {figures['results_expected']} results"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50, help="requests before the memory baseline")
    parser.add_argument("--max-growth", type=float, default=0.05, help="allowed RSS growth (0.05 = 5 %%)")
    parser.add_argument("--url", help="a running server (default: start one on the fixture model)")
    parser.add_argument("--pid", type=int, help="with --url: the server's process id, to read its memory")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    server = Server(args.url, args.pid) if args.url else start_fixture_server()
    try:
        with tempfile.TemporaryDirectory(prefix="rmbg-soak-client-") as folder:
            figures = run(server, args.requests, args.warmup, Path(folder))
    finally:
        server.stop()
    print(json.dumps({k: v for k, v in figures.items() if k != "failures"}, indent=2))
    for failure in figures["failures"]:
        print("FAILED", failure, file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    problems = verdict(figures, args.max_growth)
    for problem in problems:
        print("PROBLEM", problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
