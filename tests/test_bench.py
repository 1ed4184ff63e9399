"""The benchmark's smoke mode: every figure is there and both paths agree on the matte."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("decode", "preprocess", "forward", "matte_resize", "compose", "encode")


def test_smoke_benchmark_reports_every_stage_and_the_reference(tmp_path):
    out = tmp_path / "bench.json"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("RMBG_", "HF_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "card/ours" in done.stdout
    report = json.loads(out.read_text())

    assert report["load"]["ours"]["seconds"] > 0
    assert report["load"]["reference"]["seconds"] > 0
    assert report["load"]["ours"]["build_s"] > 0 and report["load"]["build_speedup"] > 0
    assert report["flops_per_image"] > 0
    assert len(report["sizes"]) == 2
    for entry in report["sizes"]:
        for path in ("ours", "reference"):
            assert set(entry[path]["ms"]) == set(STAGES)
            assert all(value > 0 for value in entry[path]["ms"].values()), entry[path]["ms"]
            assert entry[path]["e2e_ms"] >= entry[path]["ms"]["forward"]
            assert entry[path]["peak_rss_mib"] > 0
        assert set(entry["speedup"]) == {*STAGES, "e2e"}
        # The card truncates its 8-bit matte before resizing; we round once at the end.
        assert entry["matte_diff"]["max"] <= 2
        assert entry["matte_diff"]["mean"] < 1.0
