"""The core's seams hold: engines need nothing of each other, a batch takes any pacer, the
package's lazy names are the typed ones."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import threading
from pathlib import Path

import bgcut
import numpy as np
import pytest
from bgcut.batch import run_batch
from bgcut.cutout import Cutout
from bgcut.engines.cloud import BackgroundCutEngine
from bgcut.engines.protocol import Engine
from bgcut.options import CutOptions
from bgcut.pacing import Notify
from imagery import subject_photo

INIT = Path(bgcut.__file__)


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_the_local_engine_loads_without_requests():
    loaded = _modules_after("from bgcut.engines.local import LocalEngine; LocalEngine()")
    assert "bgcut.engines.local" in loaded and "numpy" in loaded
    assert not {m for m in loaded if m == "requests" or m.startswith(("requests.", "urllib3"))}
    assert "bgcut.client" not in loaded and "bgcut.engines.cloud" not in loaded


def test_the_engine_protocol_loads_without_either_engine():
    loaded = _modules_after("import bgcut.engines.protocol")
    assert "requests" not in loaded and "onnxruntime" not in loaded
    assert "bgcut.engines.cloud" not in loaded and "bgcut.engines.local" not in loaded


def _typed_names() -> dict[str, str]:
    """name → module of the imports under `if TYPE_CHECKING:` in bgcut/__init__.py."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(
        node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    names = {}
    for imp in block.body:
        assert isinstance(imp, ast.ImportFrom) and imp.level == 1, ast.unparse(imp)
        for alias in imp.names:
            assert alias.asname == alias.name, f"{alias.name} is not re-exported (`X as X`)"
            names[alias.name] = imp.module
    return names


def test_every_lazy_name_is_imported_for_type_checkers_from_the_same_module():
    assert _typed_names() == bgcut._EXPORTS
    assert sorted(bgcut.__all__) == sorted(["__version__", *bgcut._EXPORTS])


@pytest.mark.parametrize("name", sorted(bgcut._EXPORTS))
def test_every_lazy_name_is_the_object_its_module_holds(name):
    module = importlib.import_module(f"bgcut.{bgcut._EXPORTS[name]}")
    assert getattr(bgcut, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'LocalEngin'"):
        _ = bgcut.LocalEngin


class CountingPacer:
    """A pacer of the caller's own (not RatePacer): lets everything through, counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acquired = 0
        self.succeeded = 0

    def acquire(self, cancel: threading.Event | None = None, notify: Notify | None = None) -> int:
        with self.lock:
            self.acquired += 1
            return 0

    def on_rate_limited(self, retry_after: float | None, ticket: int | None = None) -> None:
        raise AssertionError("the emulator was not asked to rate-limit")

    def on_success(self, ticket: int | None = None) -> None:
        with self.lock:
            self.succeeded += 1


def test_a_batch_is_paced_by_any_pacer_and_every_cutout_names_its_engine(emulator, key):
    images = [subject_photo(96, 72, seed=s)[0] for s in range(5)]
    engine = bgcut.make_engine("backgroundcut", api_key=key, endpoint=emulator.endpoint, cache=False)
    assert isinstance(engine, BackgroundCutEngine) and isinstance(engine, Engine)
    pacer = CountingPacer()
    items = run_batch(engine, images, CutOptions(), jobs=2, pacer=pacer)
    assert all(i.ok for i in items), [i.error for i in items]
    assert pacer.acquired == 5 and pacer.succeeded == 5 and emulator.charged(key) == 5
    assert {i.cutout.engine for i in items if i.cutout is not None} == {"backgroundcut"}


def test_a_cutout_is_not_made_without_naming_its_engine():
    mask = np.zeros((2, 2), np.uint8)
    with pytest.raises(TypeError, match="engine"):
        Cutout(np.zeros((2, 2, 4), np.uint8), mask, None)


def test_a_type_checker_sees_the_public_names_real_types(tmp_path):
    """What an editor shows a user of the installed package (py.typed, TYPE_CHECKING)."""
    (tmp_path / "user.py").write_text(
        "import bgcut\n"
        "reveal_type(bgcut.remove_background)\n"
        "reveal_type(bgcut.make_engine())\n"
        "bgcut.Cutout.no_such_thing\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--cache-dir", str(tmp_path / "cache"), "user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert 'Revealed type is "def (image:' in out and "-> bgcut.cutout.Cutout" in out, out
    assert 'Revealed type is "bgcut.engines.protocol.Engine"' in out, out
    assert '"type[Cutout]" has no attribute "no_such_thing"' in out, out
    assert "import-untyped" not in out, out
