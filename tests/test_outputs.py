"""Outputs as a user meets them: reruns, links at the output path, kills, full disks, two
runs racing for one file, and formats that follow the name. Real CLI, real emulator over
loopback, real files, links, processes and file systems."""

from __future__ import annotations

import os
import resource
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from bgcut import writing
from bgcut.cli import main
from bgcut.emulator import Emulator
from bgcut.errors import OutputError
from imagery import subject_photo
from PIL import Image


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run `bgcut ARGS` in this process; (exit code, what it printed on stderr)."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err


def api(emu: Emulator, key: str) -> list[str]:
    return ["--api-key", key, "--endpoint", emu.endpoint]


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgcut", *args], capture_output=True, text=True, timeout=180, **kw
    )


def popen(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bgcut", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def photo(path: Path, width: int = 120, height: int = 90, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(subject_photo(width, height, seed=seed)[0])
    img.save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))
    return path


def listing(folder: Path) -> dict[str, bytes]:
    """Every entry (hidden ones too) with its bytes; links as 'link -> target'."""
    out = {}
    for p in sorted(folder.iterdir()):
        out[p.name] = f"link -> {os.readlink(p)}".encode() if p.is_symlink() else p.read_bytes()
    return out


def decode_png16(data: bytes) -> np.ndarray:
    """An independent 16-bit RGBA PNG reader (Pillow reads only 8 bits of it): chunk CRCs,
    IHDR, zlib, filters None/Sub/Up. Returns H×W×4 uint16."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert ihdr is not None
    width, height, depth, colour = ihdr[:4]
    assert (depth, colour) == (16, 6), ihdr
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * 8)
    rows = np.zeros((height, width * 8), np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            rows[y] = line
        elif kind == 1:
            rows[y] = np.cumsum(line.reshape(width, 8), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:
            rows[y] = line + (rows[y - 1] if y else 0)
        else:
            raise AssertionError(f"filter {kind} not handled by this test reader")
    return rows.view(">u2").reshape(height, width, 4).astype(np.uint16)


# -- 6: a folder rerun is a no-op -------------------------------------------------------


def test_folder_rerun_sends_nothing_creates_nothing_and_exits_0(tmp_path, emulator, key, capsys):
    shoot = tmp_path / "shoot"
    for i in range(3):
        photo(shoot / f"p{i}.jpg", seed=60 + i)
    code, err = cli(capsys, "cut", str(shoot), *api(emulator, key))
    assert code == 0, err
    first = listing(shoot)
    assert sorted(first) == ["p0-cut.png", "p0.jpg", "p1-cut.png", "p1.jpg", "p2-cut.png", "p2.jpg"]
    sent = len(emulator.seen)

    code, err = cli(capsys, "cut", str(shoot), *api(emulator, key))
    assert code == 0, err
    assert "3 already done" in err and "--force" in err
    assert len(emulator.seen) == sent and emulator.charged(key) == 3
    assert listing(shoot) == first

    code, err = cli(capsys, "cut", str(shoot))  # no key anywhere: nothing to do needs none
    assert code == 0 and "3 already done" in err, err
    assert listing(shoot) == first


def test_renamed_outputs_are_known_by_their_marker(tmp_path, emulator, key, capsys):
    shoot = tmp_path / "shoot"
    photo(shoot / "p0.jpg", seed=70)
    photo(shoot / "p1.png", seed=71)  # a plain PNG is an input like any other
    code, err = cli(capsys, "cut", str(shoot), *api(emulator, key))
    assert code == 0, err
    assert (shoot / "p1-cut.png").is_file()
    code, err = cli(capsys, "cut", str(shoot / "p0.jpg"), "-o", str(tmp_path / "x.webp"), *api(emulator, key))
    assert code == 0, err
    (shoot / "p0-cut.png").rename(shoot / "favourite.png")
    (tmp_path / "x.webp").rename(shoot / "best.webp")
    before, sent = set(listing(shoot)), len(emulator.seen)

    code, err = cli(capsys, "cut", str(shoot), "--no-cache", *api(emulator, key))
    assert code == 0, err
    assert "1 already done" in err  # p1; p0's output was renamed, so p0 is cut again
    assert len(emulator.seen) == sent + 1
    assert set(listing(shoot)) - before == {"p0-cut.png"}  # no favourite-cut.png, best-cut.png


def test_existing_output_is_skipped_and_a_name_clash_refused_before_upload(tmp_path, emulator, key, capsys):
    shoot = tmp_path / "shoot"
    photo(shoot / "a.jpg", seed=80)
    photo(shoot / "a.png", seed=81)  # also wants a-cut.png
    photo(shoot / "b.jpg", seed=82)
    (shoot / "b-cut.png").write_bytes(b"the user's own b-cut.png")
    code, err = cli(capsys, "cut", str(shoot), "--no-cache", *api(emulator, key))
    assert code == 1
    assert f"{shoot / 'a.jpg'}, {shoot / 'a.png'} would all write" in err and "1 already done" in err
    assert emulator.seen == []  # neither clashing input is guessed at; b.jpg was skipped
    assert (shoot / "b-cut.png").read_bytes() == b"the user's own b-cut.png"
    assert not (shoot / "a-cut.png").exists()
    code, again = cli(capsys, "cut", str(shoot), "--no-cache", *api(emulator, key))
    assert code == 1 and again == err and emulator.seen == []  # the same answer, still nothing paid


def test_outputs_named_on_the_command_line_are_not_cut_again(tmp_path, emulator, key, capsys):
    """`bgcut cut shoot/*` twice: the shell names the first run's outputs as inputs."""
    shoot = tmp_path / "shoot"
    for i in range(3):
        photo(shoot / f"p{i}.jpg", seed=85 + i)
    first = sorted(str(p) for p in shoot.iterdir())
    assert cli(capsys, "cut", *first, *api(emulator, key))[0] == 0
    renamed = shoot / "p0-cut.png"
    renamed.rename(shoot / "holiday.png")  # renamed outputs carry the mark too
    code, err = cli(capsys, "cut", *sorted(str(p) for p in shoot.iterdir()), *api(emulator, key))
    assert code == 1 and "holiday.png: a bgcut output" in err and "2 already done" in err
    assert len(emulator.seen) == 3  # p0 was cut again (its output moved away) from the cache
    assert (shoot / "p0-cut.png").exists()
    assert not list(shoot.glob("*-cut-cut.png")) and not (shoot / "holiday-cut.png").exists()


def test_o_onto_a_file_that_is_not_this_inputs_output_is_refused(tmp_path, emulator, key, capsys):
    src = photo(tmp_path / "p.jpg", seed=89)
    theirs = tmp_path / "notes.png"
    Image.new("RGB", (4, 4)).save(theirs)
    code, err = cli(capsys, "cut", str(src), "-o", str(theirs), *api(emulator, key))
    assert code == 1 and "exists and is not a bgcut output; use --force" in err and emulator.seen == []
    out = tmp_path / "mine.png"
    assert cli(capsys, "cut", str(src), "-o", str(out), *api(emulator, key))[0] == 0
    code, err = cli(capsys, "cut", str(src), "-o", str(out), *api(emulator, key))
    assert code == 0 and "1 already done" in err and len(emulator.seen) == 1


# -- 8: never follow a link at the output path -------------------------------------------


def test_dangling_link_at_output_is_refused_then_replaced_itself_with_force(tmp_path, emulator, key, capsys):
    src = photo(tmp_path / "in" / "p.jpg", seed=90)
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "p-cut.png").symlink_to(outside / "target.png")

    code, err = cli(capsys, "cut", str(src), "--out-dir", str(out), "--no-cache", *api(emulator, key))
    assert code == 1 and "symbolic link" in err and "--force" in err
    assert emulator.seen == []
    assert (out / "p-cut.png").is_symlink() and not (outside / "target.png").exists()

    code, err = cli(capsys, "cut", str(src), "--out-dir", str(out), "--force", *api(emulator, key))
    assert code == 0, err
    assert not (out / "p-cut.png").is_symlink() and Image.open(out / "p-cut.png").size == (120, 90)
    assert list(outside.iterdir()) == []
    assert sorted(listing(out)) == ["p-cut.png"]


def test_force_replaces_a_link_to_a_real_file_never_its_target(tmp_path, emulator, key, capsys):
    src = photo(tmp_path / "p.jpg", seed=91)
    precious = tmp_path / "elsewhere" / "precious.png"
    photo(precious, seed=92)
    kept = precious.read_bytes()
    link = tmp_path / "p-cut.png"
    link.symlink_to(precious)
    code, err = cli(capsys, "cut", str(src), "--force", *api(emulator, key))
    assert code == 0, err
    assert precious.read_bytes() == kept
    assert not link.is_symlink() and Image.open(link).mode == "RGBA"


def test_output_folder_behind_a_broken_link_or_a_file_is_refused_before_upload(
    tmp_path, emulator, key, capsys
):
    src = photo(tmp_path / "p.jpg", seed=89)
    (tmp_path / "broken").symlink_to(tmp_path / "gone")
    (tmp_path / "notes.txt").write_text("a file")
    for where in (
        ["--out-dir", str(tmp_path / "broken" / "cut")],
        ["-o", str(tmp_path / "notes.txt" / "p.png")],
    ):
        code, err = cli(capsys, "cut", str(src), *where, "--no-cache", *api(emulator, key))
        assert code == 1 and "is not a folder" in err, err
    assert emulator.seen == [] and not (tmp_path / "gone").exists()
    assert (tmp_path / "notes.txt").read_text() == "a file"


# -- 9: atomic writes --------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="watches /proc to catch the write")
def test_sigkill_during_the_write_keeps_the_previous_output_and_no_temp_file(tmp_path, emulator, key):
    img = subject_photo(3000, 2400, seed=1)[0]
    noise = np.random.default_rng(0).integers(0, 256, img.shape[:2], dtype=np.uint16)
    Image.fromarray((img[..., 0].astype(np.uint16) << 8) | noise).save(tmp_path / "p.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "p-cut.png").write_bytes(b"previous good output")
    proc = popen(["cut", str(tmp_path / "p.png"), "--out-dir", str(out), "--force", *api(emulator, key)])
    caught = False
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if _writing_into(proc.pid, out):
            proc.send_signal(signal.SIGKILL)
            caught = True
            break
        time.sleep(0.001)
    proc.wait(timeout=30)
    proc.communicate()
    assert caught, "the process ended before its write could be caught"
    assert listing(out) == {"p-cut.png": b"previous good output"}


def _writing_into(pid: int, folder: Path) -> bool:
    """True while the process holds a file open in `folder` (the output being written)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{folder}/"):
            return True
    return False


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A real 64 KiB file system (tmpfs; needs root on Linux)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.parametrize("previous", [b"previous good output", None])
def test_full_disk_keeps_the_previous_output_and_leaves_nothing(
    tiny_disk, tmp_path, emulator, key, capsys, previous
):
    src = photo(tmp_path / "p.png", 400, 300, seed=93)  # its cut-out PNG is far over 64 KiB
    if previous is not None:
        (tiny_disk / "p-cut.png").write_bytes(previous)
    code, err = cli(capsys, "cut", str(src), "--out-dir", str(tiny_disk), "--force", *api(emulator, key))
    assert code == 1 and "No space left" in err and "Free some space" in err, err
    assert listing(tiny_disk) == ({"p-cut.png": previous} if previous else {})


@pytest.mark.skipif(not hasattr(resource, "RLIMIT_FSIZE"), reason="POSIX file size limit")
def test_file_size_limit_mid_write_keeps_the_previous_output(tmp_path, emulator, key):
    src = photo(tmp_path / "p.png", 400, 300, seed=94)
    (tmp_path / "p-cut.png").write_bytes(b"previous good output")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    res = run(["cut", str(src), "--force", "--no-cache", *api(emulator, key)], preexec_fn=limit)
    assert res.returncode == 1 and "File too large" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert (tmp_path / "p-cut.png").read_bytes() == b"previous good output"
    assert {p.name for p in tmp_path.iterdir() if not p.is_dir()} == {"p.png", "p-cut.png"}


@pytest.mark.parametrize("route", ["write_atomic", "named temporary file"])
@pytest.mark.parametrize("replace", [True, False])
def test_interrupted_write_removes_its_temporary_file(tmp_path, route, replace):
    """Ctrl+C in the middle of encoding; the named route is the one macOS/Windows take."""
    target = tmp_path / "p-cut.png"
    if replace:
        target.write_bytes(b"previous good output")

    def interrupted(fh) -> None:  # type: ignore[no-untyped-def]
        fh.write(b"\x89PNG half a file" * 10_000)
        raise KeyboardInterrupt

    write = writing.write_atomic if route == "write_atomic" else writing._write_named
    with pytest.raises(KeyboardInterrupt):
        write(target, interrupted, replace=replace)
    assert listing(tmp_path) == ({"p-cut.png": b"previous good output"} if replace else {})


@pytest.mark.parametrize("route", ["write_atomic", "named temporary file"])
def test_writer_never_writes_through_a_link_nor_over_a_file(tmp_path, route):
    write = writing.write_atomic if route == "write_atomic" else writing._write_named
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere" / "target.png")
    (tmp_path / "taken.png").write_bytes(b"first")
    for name in ("dangling.png", "taken.png"):
        with pytest.raises((OutputError, FileExistsError)):
            write(tmp_path / name, b"second", replace=False)
    assert not (tmp_path / "nowhere").exists() and (tmp_path / "taken.png").read_bytes() == b"first"
    write(tmp_path / "dangling.png", b"second", replace=True)
    assert not (tmp_path / "dangling.png").is_symlink()
    assert (tmp_path / "dangling.png").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.png", "taken.png"]


# -- 10: existence is decided at write time ----------------------------------------------


def test_two_concurrent_runs_for_one_output_exactly_one_wins(tmp_path, key):
    src = photo(tmp_path / "p.jpg", seed=95)
    # each answer takes 3 s, so both runs have planned (no output yet) before either writes
    with Emulator({key: 10}, service_time=3.0) as emu:
        procs = [popen(["cut", str(src), "--no-cache", *api(emu, key)]) for _ in range(2)]
        errs = [p.communicate(timeout=120)[1] for p in procs]
        assert emu.charged(key) == 2
    codes = [p.returncode for p in procs]
    assert sorted(codes) == [0, 1], errs
    loser = errs[codes.index(1)]
    assert "p-cut.png exists" in loser and "--force" in loser
    assert sorted(p.name for p in tmp_path.iterdir() if not p.is_dir()) == ["p-cut.png", "p.jpg"]
    with Image.open(tmp_path / "p-cut.png") as im:
        assert im.size == (120, 90) and im.info.get("bgcut") == "cut-out"
        im.load()


# -- 11: the output format follows the name ----------------------------------------------


def test_webp_name_writes_lossless_webp_and_png_name_png(tmp_path, emulator, key, capsys):
    src = photo(tmp_path / "p.png", seed=96)
    code, err = cli(capsys, "cut", str(src), "-o", str(tmp_path / "x.webp"), *api(emulator, key))
    assert code == 0, err
    code, err = cli(capsys, "cut", str(src), "-o", str(tmp_path / "y.png"), *api(emulator, key))
    assert code == 0, err
    webp, png = (tmp_path / "x.webp").read_bytes(), (tmp_path / "y.png").read_bytes()
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP" and b'bgcut:output="cut-out"' in webp
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"tEXtbgcut\0cut-out" in png
    a, b = Image.open(tmp_path / "x.webp"), Image.open(tmp_path / "y.png")
    assert (a.format, b.format) == ("WEBP", "PNG")
    assert np.array_equal(np.asarray(a.convert("RGBA")), np.asarray(b))  # lossless, exact


@pytest.mark.parametrize("name", ["x.jpg", "x.gif", "x.tiff"])
def test_names_without_alpha_are_refused_before_upload(tmp_path, emulator, key, capsys, name):
    src = photo(tmp_path / "p.png", seed=97)
    code, err = cli(capsys, "cut", str(src), "-o", str(tmp_path / name), "--no-cache", *api(emulator, key))
    assert code == 1 and "name the output .png or .webp" in err, err
    assert emulator.seen == [] and not (tmp_path / name).exists()


def test_o_naming_an_existing_folder_is_refused_before_upload(tmp_path, emulator, key, capsys):
    src = photo(tmp_path / "p.png", seed=98)
    (tmp_path / "results").mkdir()
    code, err = cli(
        capsys, "cut", str(src), "-o", str(tmp_path / "results"), "--no-cache", *api(emulator, key)
    )
    assert code == 1 and "existing folder" in err and "--out-dir" in err, err
    assert emulator.seen == [] and list((tmp_path / "results").iterdir()) == []


def test_webp_wider_than_16383_is_refused_before_paying(tmp_path, emulator, key, capsys):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.tile(subject_photo(64, 8, seed=99)[0], (1, 257, 1))).save(wide)  # 16448×8
    code, err = cli(
        capsys, "cut", str(wide), "-o", str(tmp_path / "w.webp"), "--no-cache", *api(emulator, key)
    )
    assert code == 1 and "16383" in err and ".png instead" in err, err
    assert emulator.seen == [] and emulator.charged(key) == 0
    assert not (tmp_path / "w.webp").exists()


def test_sixteen_bit_source_gives_a_sixteen_bit_png(tmp_path, emulator, key, capsys):
    width, height = 1980, 120
    grey = subject_photo(width, height, seed=100)[0][..., 0].astype(np.uint16)
    px = (grey << 8) | (np.arange(width, dtype=np.uint16) % 256)  # thousands of levels
    src = tmp_path / "deep.png"
    Image.fromarray(px).save(src)
    assert src.read_bytes()[24] == 16  # the source really is a 16-bit PNG
    # the source's own edge colours, so every pixel can be compared
    code, err = cli(capsys, "cut", str(src), "--no-decontaminate", *api(emulator, key))
    assert code == 0, err
    code, err = cli(capsys, "cut", str(src), "--channels", "alpha", *api(emulator, key))
    assert code == 0, err

    data = (tmp_path / "deep-cut.png").read_bytes()
    out = decode_png16(data)
    assert out.shape == (height, width, 4)
    assert np.array_equal(out[..., 0], px) and np.array_equal(out[..., 2], px)
    assert len(np.unique(out[..., 0])) > 256
    mask = Image.open(tmp_path / "deep-mask.png")
    assert mask.mode == "L"  # masks stay 8-bit
    alpha = out[..., 3]
    assert alpha.min() == 0 and alpha.max() == 65535 and not (alpha % 257).any()  # the mask, exactly
    with Image.open(tmp_path / "deep-cut.png") as im:  # other readers agree on the top 8 bits
        assert im.info.get("bgcut") == "cut-out"
        assert np.array_equal(np.asarray(im), (out >> 8).astype(np.uint8))


def test_library_save_refuses_an_existing_file_and_odd_names(tmp_path, emulator, key):
    import bgcut

    cut = bgcut.remove_background(
        photo(tmp_path / "p.png", seed=101), engine="backgroundcut", api_key=key, endpoint=emulator.endpoint
    )
    cut.save(tmp_path / "a.png")
    kept = (tmp_path / "a.png").read_bytes()
    with pytest.raises(OutputError, match="exists"):
        cut.save(tmp_path / "a.png", "alpha")
    assert (tmp_path / "a.png").read_bytes() == kept
    with pytest.raises(OutputError, match=r"\.png or \.webp"):
        cut.save(tmp_path / "a.jpg")
    cut.save(tmp_path / "a.png", "alpha", force=True)
    assert Image.open(tmp_path / "a.png").mode == "L"


def test_writers_creating_the_output_folder_at_once_all_succeed(tmp_path):
    """Two answers landing together both create --out-dir: neither may lose its output."""
    import threading

    from bgcut.writing import ensure_folder

    lost = []
    for trial in range(100):
        folder = tmp_path / f"t{trial}" / "out"

        def create(target=folder):
            try:
                ensure_folder(target)
            except Exception as exc:  # noqa: BLE001 - any failure is the bug
                lost.append(exc)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert folder.is_dir()
    assert lost == []
