#!/usr/bin/env python3
"""Install bgcut into GIMP 3 and Blender 4.2+: `python install.py` (see --help).

Finds the hosts' user folders (Linux native/Flatpak/Snap, Windows, macOS), copies the GIMP
plug-in with the bgcut core and the packages GIMP's Python lacks (built for the Python found
in the GIMP install itself, or for every Python GIMP 3 ships when none is found), and
installs the Blender extension. `--dev` links this checkout's code in instead of copying it.
`--build-blender OUT_DIR` builds the installable extension zip.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "plugin"))

from bgcut_install.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
