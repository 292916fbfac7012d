"""Optional dependencies: which extra holds what, and the one error when one is missing.

Why: a command that needs a package only some users install (the key service's web
framework, the HSM binding) must say which ``pip install`` line fixes it, not only that an
import failed (README "Install").
"""

from __future__ import annotations

import importlib
from types import ModuleType

from edbp.errors import Code, ConfigError

#: importable module -> (distribution, extra of edbp that installs it)
EXTRAS: dict[str, tuple[str, str]] = {
    "flask": ("Flask", "keyservice"),
    "pkcs11": ("python-pkcs11", "hsm"),
}


def install_hint(module: str) -> str:
    dist, extra = EXTRAS[module]
    return f"{dist} is not installed: pip install 'edbp[{extra}]'"


def require(module: str) -> ModuleType:
    """Import ``module`` or raise ``CONFORMANCE_DEPENDENCY_MISSING`` with the install line."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(Code.CONFORMANCE_DEPENDENCY_MISSING, install_hint(module)) from None


def available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
