"""bgcut for Blender: Remove Background in the compositor and the Image Editor.

Only Blender glue lives here; cutting, uploads, errors and the key belong to the bgcut
core, shipped inside the extension as the `bgcut` subpackage.
"""

from . import operators, preferences, ui

_modules = (preferences, operators, ui)


def register() -> None:
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
