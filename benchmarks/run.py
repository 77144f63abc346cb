"""Run every benchmark: `.venv/bin/python benchmarks/run.py` (after `bash .ci/run` set up
the hosts). Each prints its table and writes benchmarks/results/<name>.json."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = (
    "whole_job.py",
    "encoders.py",
    "answer_decode.py",
    "upload_choice.py",
    "client_overhead.py",
    "batch_throughput.py",
    "host_glue.py",
    "local_quality.py",
    "local_vs_rembg.py",
    "edge_colour.py",
)


def main() -> int:
    failed = []
    for script in BENCHMARKS:
        print(f"\n== {script} ==", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
