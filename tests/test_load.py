"""Load and soak, short: the scripts of load/ run against the real servers of the suite.
The full runs are one command each (docs/hardening.md has their figures):
``python load/concurrency.py`` (16 users x 5 photos) and ``python load/soak.py``
(500 requests)."""

from __future__ import annotations

import os
import time

import concurrency
import harness
import soak
from rmbg_app.frontends.ui import sweep_empty_result_dirs


def test_concurrent_users_get_every_result_complete_and_correct(server, tmp_path):
    figures = concurrency.run(harness.Server(server.url), users=4, images=3, folder=tmp_path)
    assert figures["failed"] == 0, figures["failures"]
    assert figures["ok"] == 12
    assert figures["latency_s"]["p50"] > 0 and figures["throughput_per_s"] > 0


def test_soak_leaves_nothing_behind_and_memory_stays_flat(limited, tmp_path):
    target = harness.Server(limited.url, limited.running.process.pid, folder=limited.folder)
    figures = soak.run(target, requests=100, warmup=30, folder=tmp_path)
    assert soak.verdict(figures, max_growth=0.05) == [], figures
    assert figures["result_folders"] == figures["results_expected"] == 96


def test_empty_result_folders_are_swept(tmp_path):
    """Gradio's cache sweep deletes result files but not their folders."""
    old = time.time() - 3 * 3600
    for name in ("rmbg-" + "a" * 32, "rmbg-" + "b" * 32, "rmbg-" + "c" * 32, "0" * 64):
        (tmp_path / name).mkdir()
    (tmp_path / ("rmbg-" + "b" * 32) / "photo-nobg.png").write_bytes(b"still downloadable")
    for folder in tmp_path.iterdir():
        os.utime(folder, (old, old))
    (tmp_path / ("rmbg-" + "d" * 32)).mkdir()  # just made, its result not written yet
    assert sweep_empty_result_dirs(tmp_path, older_than=2 * 3600) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0" * 64, "rmbg-" + "b" * 32, "rmbg-" + "d" * 32]
