"""A throw-away SoftHSM2 token in a directory of one's choosing (tests, benchmarks, the demo).

Why here and not in a test helper: the benchmark and ``edbp demo --hsm pkcs11`` need the same
set-up as the tests. SoftHSM2 reads its configuration from the file named by $SOFTHSM2_CONF;
this module writes one whose token directory is inside ``root``, sets the variable for this
process and runs ``softhsm2-util --init-token``.

SoftHSM2 reads the configuration and scans its token directory once, at C_Initialize, and
python-pkcs11 initialises a module once per process: so one process sees the tokens of one
configuration only. ``create`` therefore refuses a second configuration once a vault has been
opened (``KEYVAULT_BACKEND_UNAVAILABLE``); tests share one session-wide token and separate
their keys with ``Pkcs11KeyVault``'s ``namespace``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import attrs
from edbp.reference.cloud.keyvault_pkcs11 import Pkcs11KeyVault, find_softhsm_module

from edbp.errors import Code, KeyVaultError

__all__ = ["SoftHsmToken", "process_token", "softhsm_unavailable_reason"]

#: the configuration the PKCS#11 module of this process was initialised with, once it was
_loaded_conf: Path | None = None


def softhsm_unavailable_reason() -> str | None:
    """Why a SoftHSM2 token cannot be made here, or None when it can."""
    if shutil.which("softhsm2-util") is None:
        return "softhsm2-util not found (apt-get install softhsm2)"
    if find_softhsm_module() is None:
        return "libsofthsm2.so not found (set SOFTHSM2_MODULE)"
    from edbp.extras import available, install_hint

    if not available("pkcs11"):
        return install_hint("pkcs11")
    return None


@attrs.frozen
class SoftHsmToken:
    """An initialised SoftHSM2 token: what ``Pkcs11KeyVault`` needs to open it."""

    module: str
    label: str
    conf: Path
    user_pin: str = attrs.field(repr=False)
    so_pin: str = attrs.field(repr=False)

    @classmethod
    def create(cls, root: str | os.PathLike[str], label: str = "edbp-test") -> SoftHsmToken:
        """Make a token directory and config under ``root`` and initialise one token in it."""
        reason = softhsm_unavailable_reason()
        if reason:
            raise KeyVaultError(Code.KEYVAULT_BACKEND_UNAVAILABLE, reason)
        root = Path(root)
        tokens = root / "tokens"
        tokens.mkdir(parents=True, exist_ok=True)
        conf = root / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
            "log.level = ERROR\nslots.removable = false\n"
        )
        os.environ["SOFTHSM2_CONF"] = str(conf)
        user_pin, so_pin = os.urandom(8).hex(), os.urandom(8).hex()
        done = subprocess.run(
            [
                "softhsm2-util",
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                so_pin,
                "--pin",
                user_pin,
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
            check=False,
        )
        if done.returncode != 0:
            raise KeyVaultError(
                Code.KEYVAULT_BACKEND_UNAVAILABLE, "softhsm2-util --init-token failed"
            )
        module = find_softhsm_module()
        assert module is not None  # checked by softhsm_unavailable_reason
        return cls(module=module, label=label, conf=conf, user_pin=user_pin, so_pin=so_pin)

    def open_vault(self, namespace: str = "") -> Pkcs11KeyVault:
        """A vault on this token (``namespace`` keeps vaults sharing the token apart)."""
        global _loaded_conf
        if _loaded_conf is not None and _loaded_conf != self.conf:
            raise KeyVaultError(
                Code.KEYVAULT_BACKEND_UNAVAILABLE,
                "this process already loaded SoftHSM2 with another configuration",
            )
        os.environ["SOFTHSM2_CONF"] = str(self.conf)
        vault = Pkcs11KeyVault(self.module, self.label, self.user_pin, namespace=namespace)
        _loaded_conf = self.conf
        return vault


_process_token: SoftHsmToken | None = None


def process_token(root: str | os.PathLike[str]) -> SoftHsmToken:
    """The one token this process uses, created under ``root`` on the first call (later calls
    return it unchanged and ignore ``root``): see the module docstring for why there is one."""
    global _process_token
    if _process_token is None:
        _process_token = SoftHsmToken.create(root)
    return _process_token
