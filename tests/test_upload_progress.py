"""The progress a host shows: preparing, uploading with a percentage from the bytes sent,
waiting for the service, building the layers (over real loopback HTTP to the emulator)."""

from __future__ import annotations

import bgcut
import numpy as np
from bgcut.emulator import Emulator
from imagery import subject_photo


def test_upload_percentage_comes_from_the_bytes_sent_then_waiting(key):
    img, _ = subject_photo(1600, 1200, seed=990)
    noisy = (img.astype(np.int16) + np.random.default_rng(1).integers(-40, 40, img.shape)).clip(0, 255)
    stages: list[tuple[float, str]] = []
    with Emulator({key: 5}) as emu:
        cut = bgcut.remove_background(
            noisy.astype(np.uint8),
            api_key=key,
            endpoint=emu.endpoint,
            progress=lambda f, text: stages.append((f, text)),
        )
        sent = len(emu.seen[-1].file_bytes)
    assert cut.mask.shape == (1200, 1600)
    texts = [t for _, t in stages]
    percents = [
        int(t.rsplit(": ", 1)[1].rstrip(" %")) for t in texts if t.startswith("Uploading") and "%" in t
    ]
    assert sent > 1_000_000 and len(percents) >= 5, texts
    assert percents == sorted(percents) and percents[-1] >= 90
    order = ["Preparing the upload", "Uploading", "Waiting for BackgroundCut's answer", "Building the layers"]
    firsts = [next(i for i, t in enumerate(texts) if t.startswith(s)) for s in order]
    assert firsts == sorted(firsts), texts
    fractions = [f for f, _ in stages]
    assert fractions == sorted(fractions)


def test_an_abandonable_request_still_reports_the_bytes_sent(key):
    """Blender's worker passes a Cancel, so its request runs in a thread of its own: the
    upload's bytes must reach on_sent from there too, up to the whole body."""
    from bgcut.client import BackgroundCutClient
    from bgcut.upload import prepare_upload

    img, _ = subject_photo(1600, 1200, seed=991)
    noisy = (img.astype(np.int16) + np.random.default_rng(2).integers(-40, 40, img.shape)).clip(0, 255)
    upload = prepare_upload(noisy.astype(np.uint8), bgcut.CutOptions())
    heard: list[tuple[int, int]] = []
    with Emulator({key: 5}) as emu:
        client = BackgroundCutClient(key, emu.endpoint)
        data = client.fetch_answer(
            upload, bgcut.CutOptions(), cancel=bgcut.Cancel(), on_sent=lambda d, t: heard.append((d, t))
        )
        sent = len(emu.seen[-1].file_bytes)
    assert data[:4] == b"RIFF" and sent > 1_000_000
    done = [d for d, _ in heard]
    totals = {t for _, t in heard}
    assert len(done) >= 5 and done == sorted(set(done)), done[:10]
    assert len(totals) == 1 and done[-1] == totals.pop() > sent


def test_the_percentage_moves_when_the_request_is_abandonable(key):
    img, _ = subject_photo(1600, 1200, seed=992)
    noisy = (img.astype(np.int16) + np.random.default_rng(3).integers(-40, 40, img.shape)).clip(0, 255)
    texts: list[str] = []
    with Emulator({key: 5}) as emu:
        bgcut.remove_background(
            noisy.astype(np.uint8),
            api_key=key,
            endpoint=emu.endpoint,
            cancel=bgcut.Cancel(),
            progress=lambda f, text: texts.append(text),
        )
    percents = [
        int(t.rsplit(": ", 1)[1].rstrip(" %")) for t in texts if t.startswith("Uploading") and "%" in t
    ]
    assert len(percents) >= 5 and percents == sorted(percents) and percents[-1] >= 90, texts
