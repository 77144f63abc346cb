"""Drive real GIMP 3 from pytest: build/reuse the root, install the plug-in, run a job."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HOSTS = Path(__file__).resolve().parent
REPO = HOSTS.parent.parent


# the GIMP lines CI runs: Debian trixie's GIMP 3.0.x (Python 3.13) and forky's 3.2.x (Python 3.14)
SUITES = {"3.0": "trixie", "3.2": "forky"}


def gimp_root(flavour: str = "full", version: str = "3.0") -> Path:
    out = subprocess.run(
        ["bash", str(HOSTS / "gimp_root.sh"), flavour, SUITES[version]],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if out.returncode != 0:
        raise RuntimeError(f"building the GIMP root failed:\n{out.stderr[-3000:]}")
    return Path(out.stdout.strip().splitlines()[-1])


def install_plugin(plugins_dir: Path, *extra: str) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "install.py"), "--gimp", "--gimp-dir", str(plugins_dir), *extra],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )


@dataclass
class GimpRun:
    io: Path
    report: dict
    stdout: str

    def layers(self, when: str = "after") -> list[dict]:
        return self.report[when]

    def pixels(self, layer: dict, dtype=np.uint8) -> np.ndarray:
        raw = np.fromfile(self.io / layer["pixels"], dtype=dtype)
        return raw.reshape(layer["h"], layer["w"], 4)

    def selection(self, when: str = "after") -> np.ndarray | None:
        """The image's selection (H×W, 255 = selected), None when nothing was selected."""
        name = self.report[f"selection_{when}"]
        if name is None:
            return None
        w, h = self.report["size"]
        return np.fromfile(self.io / name, dtype=np.uint8).reshape(h, w)

    def mask(self, layer: dict) -> np.ndarray:
        return np.fromfile(self.io / layer["mask"], dtype=np.uint8).reshape(layer["h"], layer["w"])

    def assert_names_the_fix(self, python: str) -> None:
        """The plug-in, registered without its packages, said in one sentence which
        install.py command fixes it for the Python it runs, and changed nothing."""
        assert self.report["found"], self.stdout
        assert self.report["status"] == "execution-error", self.report
        assert self.report["message"] == (
            f"bgcut cannot import numpy in GIMP's Python {python}: run "
            f"`python3 install.py --gimp --gimp-python {python}` in the bgcut folder, then restart GIMP."
        )
        [before], [after] = self.layers("before"), self.layers("after")
        assert after["mask"] is None and np.array_equal(self.pixels(after), self.pixels(before))


class Gimp:
    def __init__(self, root: Path, plugins: Path, profile: Path, work: Path) -> None:
        self.root, self.plugins, self.profile, self.work = root, plugins, profile, work
        self.count = 0

    def run(
        self, job: dict, files: dict[str, bytes], env: dict[str, str], timeout: float = 300, prepare=None
    ) -> GimpRun:
        self.count += 1
        io = self.work / f"run{self.count}"
        io.mkdir(parents=True)
        if prepare is not None:
            prepare(io)
        for name, data in files.items():
            (io / name).write_bytes(data)
        (io / "job.json").write_text(json.dumps(job))
        shutil.copy(HOSTS / "gimp_batch.py", io / "batch.py")
        env = {"BGCUT_CONFIG_DIR": "/x/io/config", "BGCUT_CACHE_DIR": "/x/io/cache", **env}
        cmd = [
            "bash",
            str(HOSTS / "gimp_run.sh"),
            str(self.root),
            str(self.plugins),
            str(io),
            str(self.profile),
            "batch.py",
            *[f"{k}={v}" for k, v in env.items()],
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        report_file = io / "report.json"
        if not report_file.exists():
            raise AssertionError(
                f"GIMP produced no report (exit {out.returncode}):\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
            )
        return GimpRun(io, json.loads(report_file.read_text()), out.stdout + out.stderr)
