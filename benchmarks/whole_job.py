"""The whole job a user waits for: `bgcut cut photo.jpg -o out.png` as a fresh process per
photo (an empty answer cache, as a new user has), side by side with the naive peer
pipeline (benchmarks/naive_peer.py: PNG upload, POST, write the answer) as its own
process, and bgcut as committed (HEAD, exported by `git archive`) as the baseline of this
change; all against one emulator started here.

Client time = the process's wall time minus the emulator's own time for its requests
(`Seen.server_time`, also sent as X-Emulator-Time). Runs alternate (bgcut, HEAD, naive,
bgcut, ...) and medians are reported, since the machine may be busy. The bytes on the wire
per cut (upload and answer) are turned into time on a stated link, 20 Mbit/s up and
100 Mbit/s down, since for a cloud API those bytes are most of what the user waits for.
`bgcut --help` start-up is measured with `-X importtime`. Both bgcut trees are byte-compiled
first, as an installed bgcut is.
Run: .venv/bin/python benchmarks/whole_job.py [--rounds N] [MP ...]   (default 1 4 12 24)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bgcut.emulator import Emulator
from bgcut.emulator.records import Seen
from bgcut.emulator.segment import segment
from bgcut.emulator.server import _decode_image, _render, _validate
from common import ROOT, table, write_json
from PIL import Image

KEY = "whole-job-benchmark-key"
UP_MBIT, DOWN_MBIT = 20.0, 100.0
PEER = ROOT / "naive_peer.py"


def export_head(dest: Path, ref: str = "HEAD") -> Path:
    """bgcut as committed (or at another git ref), to run beside the working tree's."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT.parent), "archive", ref, "plugin/bgcut"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "plugin"


def byte_compile(*trees: Path) -> None:
    """Compile bgcut's modules as `pip install` does, so no run pays for compiling them
    (with PYTHONDONTWRITEBYTECODE set, an editable tree would be compiled on every start;
    the naive peer's requests and Pillow come compiled from their wheels)."""
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True)


def commands(who: str, photo: Path, out: Path, endpoint: str, head: Path) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    mask = who.endswith((" mask", " webp mask"))
    webp = who.endswith(" webp mask")
    if who.startswith("naive"):
        return [
            sys.executable,
            str(PEER),
            str(photo),
            str(out),
            endpoint,
            KEY,
            *(["alpha", "WEBP_100"] if webp else ["alpha"] if mask else []),
        ], env
    if who.startswith("bgcut HEAD"):
        env["PYTHONPATH"] = str(head)
    cmd = [sys.executable, "-m", "bgcut", "cut", str(photo), "-o", str(out), "--force"]
    if mask:  # a mask as the service sends it: bgcut can write the answer as received
        cmd += ["--channels", "alpha", "--return-type", "WEBP_100" if webp else "PNG"]
    return cmd + ["--api-key", KEY, "--endpoint", endpoint], env


def run_once(emu: Emulator, who: str, photo: Path, work: Path, head: Path) -> dict:
    out = work / f"out-{who.replace(' ', '-')}.{'webp' if who.endswith('webp mask') else 'png'}"
    cmd, env = commands(who, photo, out, emu.endpoint, head)
    cache = Path(tempfile.mkdtemp(dir=work))  # a new user's empty answer cache
    env |= {"BGCUT_CACHE_DIR": str(cache), "BGCUT_CONFIG_DIR": str(work / "config")}
    before = len(emu.seen)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=work)
    wall = time.perf_counter() - t0
    requests = list(emu.seen)[before:]
    server = sum(s.server_time for s in requests)
    rec = {"who": who, "wall": wall, "server": server, "client": wall - server, "code": done.returncode}
    rec["statuses"] = [s.status for s in requests]
    rec["upload_bytes"] = sum(s.body_size for s in requests)
    rec["answer_bytes"] = sum(answer_size(s) for s in requests if s.status == 200)
    if done.returncode == 0:
        with Image.open(out) as im:
            rec["output"] = [*im.size, im.mode, out.stat().st_size]
    else:
        rec["error"] = done.stderr.strip().splitlines()[-1:]
    return rec


def answer_size(seen: Seen) -> int:
    """The answer's length, rendered again from the upload (the emulator is deterministic)."""
    if seen.file_bytes is None:
        return 0
    body, _ = _render(_decode_image(seen.file_bytes), _validate(seen.fields), segment, wrong_size=False)
    return len(body)


def import_time(head: Path | None) -> float:
    """Seconds of imports for `bgcut --help` beyond Python's own start-up."""
    env = dict(os.environ) | ({"PYTHONPATH": str(head)} if head else {})
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bgcut", "--help"], env=env, capture_output=True, text=True
    ).stderr
    base = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True, text=True
    ).stderr
    startup = {line.split("|")[2].strip() for line in base.splitlines() if "|" in line}
    total = 0
    for line in err.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  ") and name.strip() not in startup:  # top level, not Python's own
            total += int(cumulative)
    return total / 1e6


def make_photo(megapixels: float, work: Path) -> Path:
    from photos import mosaic

    path = work / f"photo-{megapixels:g}mp.jpg"
    Image.fromarray(mosaic(megapixels, seed=int(megapixels))).save(path, quality=92)
    return path


def median(recs: list[dict], field: str) -> float:
    return statistics.median(r[field] for r in recs)


def link_time(up: float, down: float) -> float:
    return up * 8 / (UP_MBIT * 1e6) + down * 8 / (DOWN_MBIT * 1e6)


def mask_jobs(emu: Emulator, mp: float, rounds: int, work: Path, head: Path, suffix: str) -> dict:
    """The mask only (`--channels alpha`; " mask": a PNG answer to .png, " webp mask": a
    lossless WebP answer to .webp) at one size, same alternation."""
    photo = make_photo(mp, work)
    runs = []
    for _ in range(rounds):
        for who in ("bgcut", "bgcut HEAD", "naive"):
            runs.append(run_once(emu, f"{who}{suffix}", photo, work, head))
    return summarise(mp, runs, suffix=suffix)


def summarise(mp: float, runs: list[dict], suffix: str = "") -> dict:
    by = {who: [r for r in runs if r["who"] == who + suffix] for who in ("bgcut", "bgcut HEAD", "naive")}
    out: dict = {"mp": mp}
    for who, recs in by.items():
        ok = [r for r in recs if r["code"] == 0]
        out[who] = {
            "ok": len(ok) == len(recs),
            "client": median(ok, "client") if ok else None,
            "server": median(recs, "server"),
            "upload_bytes": recs[0]["upload_bytes"],
            "answer_bytes": recs[0]["answer_bytes"],
            "statuses": recs[0]["statuses"],
            "runs": recs,
        }
        out[who]["link"] = link_time(out[who]["upload_bytes"], out[who]["answer_bytes"])
    return out


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def secs(value: float | None, entry: dict) -> str:
    return f"{value:.2f}" if value is not None else f"fails ({'/'.join(map(str, entry['statuses']))})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mask-mp", type=float, default=12, help="size of the mask-only job")
    ap.add_argument("--baseline", default="HEAD", help='git ref run as "bgcut HEAD" (default HEAD)')
    ap.add_argument("sizes", nargs="*", type=float, default=[1, 4, 12, 24])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bgcut-whole-job-"))
    head = export_head(work, args.baseline)
    print(f'"bgcut HEAD" is git {args.baseline}', flush=True)
    byte_compile(ROOT.parent / "plugin" / "bgcut", head / "bgcut")
    results = []
    with Emulator({KEY: 1_000_000}, base_limit=500, timeout=120) as emu:
        for mp in args.sizes:
            photo = make_photo(mp, work)
            runs = []
            for _ in range(args.rounds):
                for who in ("bgcut", "bgcut HEAD", "naive"):
                    runs.append(run_once(emu, who, photo, work, head))
            results.append(summarise(mp, runs))
            print(f"  {mp:g} MP done", flush=True)
        masks = mask_jobs(emu, args.mask_mp, args.rounds, work, head, " mask")
        webp_masks = mask_jobs(emu, args.mask_mp, args.rounds, work, head, " webp mask")
    rows, wire = [], []
    for r in results:
        b, h, n = r["bgcut"], r["bgcut HEAD"], r["naive"]
        rows.append(
            [
                f"{r['mp']:g}",
                secs(b["client"], b),
                secs(h["client"], h),
                secs(n["client"], n),
                ratio(n["client"], b["client"]),
                ratio(h["client"], b["client"]),
                f"{b['server']:.2f}/{n['server']:.2f}",
            ]
        )
        for who, e in (("bgcut", b), ("bgcut HEAD", h), ("naive", n)):
            total = e["client"] + e["link"] if e["client"] is not None else None
            e["client_plus_link"] = total
            wire.append(
                [
                    f"{r['mp']:g}",
                    who,
                    f"{e['upload_bytes'] / 1e6:.2f}",
                    f"{e['answer_bytes'] / 1e6:.2f}",
                    f"{e['link']:.2f}",
                    secs(total, e),
                    ratio(total, b["client"] + b["link"]) if total is not None else "n/a",
                ]
            )
    print(
        table(
            f"Whole job, fresh process per photo, client time in s (median of {args.rounds}, "
            "emulator time subtracted)",
            ["MP", "bgcut", "bgcut HEAD", "naive peer", "naive/bgcut", "HEAD/bgcut", "server s bgcut/naive"],
            rows,
        )
    )
    print()
    print(
        table(
            f"Bytes on the wire per cut, and their time on a {UP_MBIT:g} Mbit/s up, {DOWN_MBIT:g} Mbit/s down link",
            ["MP", "who", "upload MB", "answer MB", "link s", "client+link s", "vs bgcut"],
            wire,
        )
    )
    for job, what in (
        (masks, "--return-type PNG, to .png"),
        (webp_masks, "--return-type WEBP_100, to .webp"),
    ):
        b, h, n = job["bgcut"], job["bgcut HEAD"], job["naive"]
        print()
        print(
            table(
                f"Mask only (--channels alpha {what}) at {job['mp']:g} MP, client s (median of {args.rounds})",
                ["bgcut", "bgcut HEAD", "naive peer", "naive/bgcut", "HEAD/bgcut"],
                [
                    [secs(b["client"], b), secs(h["client"], h), secs(n["client"], n)]
                    + [ratio(n["client"], b["client"]), ratio(h["client"], b["client"])]
                ],
            )
        )
    imports: dict[str, list[float]] = {"bgcut": [], "bgcut HEAD": []}
    for _ in range(7):
        imports["bgcut"].append(import_time(None))
        imports["bgcut HEAD"].append(import_time(head))
    med = {k: statistics.median(v) for k, v in imports.items()}
    print()
    print(
        table(
            "`bgcut --help`: imports beyond Python's start-up, s (median of 7, alternated)",
            ["bgcut", "bgcut HEAD", "HEAD/bgcut"],
            [[med["bgcut"], med["bgcut HEAD"], ratio(med["bgcut HEAD"], med["bgcut"])]],
        )
    )
    path = write_json(
        "whole_job",
        {
            "link_mbit": [UP_MBIT, DOWN_MBIT],
            "sizes": results,
            "mask": masks,
            "webp_mask": webp_masks,
            "baseline": args.baseline,
            "help_imports": imports,
        },
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
