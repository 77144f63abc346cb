"""bgcut for Blender: Remove Background in the compositor and the Image Editor.

Only Blender glue lives here; cutting, uploads, errors and the key belong to the bgcut
core, shipped inside the extension as the `bgcut` subpackage. When this Blender's Python
is not one the bundled wheels cover, `compat` takes the operators' place and says so.
"""

from types import ModuleType

from . import compat, preferences

_modules: list[ModuleType] = []


def register() -> None:
    if compat.missing_packages():
        _modules[:] = [preferences, compat]
    else:
        from . import operators, ui

        _modules[:] = [preferences, operators, ui]
    for module in _modules:
        module.register()


def unregister() -> None:
    for module in reversed(_modules):
        module.unregister()
    _modules.clear()
