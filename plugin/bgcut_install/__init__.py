"""The installer behind install.py: finds GIMP 3 and Blender 4.2+ and puts bgcut into them.

Standard library only, so `python install.py` works with any Python 3.9+ and no venv.
"""
