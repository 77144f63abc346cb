#!/usr/bin/env python3
"""Install bgcut into GIMP 3 and Blender (see issue 5: host discovery is not built yet)."""

import sys

if __name__ == "__main__":
    print("install.py: host installation is not implemented yet (tracked in issue 5).", file=sys.stderr)
    raise SystemExit(1)
