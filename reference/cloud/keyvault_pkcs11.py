"""The PKCS#11 KeyVault backend (SoftHSM2 in tests; any PKCS#11 HSM in production).

Why PKCS#11 attributes carry the security argument: each class-key version is a token object
generated *inside* the token with CKA_EXTRACTABLE=false, CKA_SENSITIVE=true (so C_GetAttributeValue
of CKA_VALUE is refused and C_WrapKey of it is refused), CKA_WRAP/CKA_UNWRAP=true and
CKA_ENCRYPT/CKA_DECRYPT/CKA_SIGN/CKA_VERIFY/CKA_DERIVE=false (it wraps keys and does nothing
else), and CKA_WRAP_WITH_TRUSTED=true. No API call of this module or of the token returns it.

CEK handling (see ``keyvault`` for the whole statement):
- ``wrap_cek``: the CEK is imported as a *session* object (CKA_TOKEN=false), wrapped with
  CKM_AES_KEY_WRAP (RFC 3394, i.e. A256KW) under the class key, and the session object is
  destroyed before the call returns.
- ``rewrap``: C_UnwrapKey (CKM_AES_KEY_WRAP) makes a session object, its CKA_VALUE is read
  into a ``bytearray`` for the ECDH-ES+A128KW re-wrap in process memory (SoftHSM2 has no
  HKDF mechanism), and the session object is destroyed at once; the ``bytearray`` is wiped by
  ``KeyVault.rewrap`` when the seal returns. Whoever holds the user PIN can therefore unwrap
  CEKs (the TAM must); the class key itself stays in the token.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Any

from edbp.reference.cloud.keyvault import KeyVault, check_key_id

from edbp.errors import Code, DecryptionFailed, KeyVaultError

__all__ = ["LABEL_PREFIX", "Pkcs11KeyVault", "find_softhsm_module"]

LABEL_PREFIX = "edbp-ck:"
#: where distributions install SoftHSM2's PKCS#11 module
SOFTHSM_MODULE_PATHS = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)


def find_softhsm_module() -> str | None:
    """The SoftHSM2 PKCS#11 module on this system ($SOFTHSM2_MODULE first), or None."""
    env = os.environ.get("SOFTHSM2_MODULE")
    candidates = (env, *SOFTHSM_MODULE_PATHS) if env else SOFTHSM_MODULE_PATHS
    return next((p for p in candidates if p and os.path.exists(p)), None)


_NAMESPACE = re.compile(r"[A-Za-z0-9._-]{0,64}")


#: PKCS#11 login state belongs to the (process, token), not to a session: C_Login on a second
#: session fails with CKR_USER_ALREADY_LOGGED_IN and C_Logout on any session logs every session
#: out. Vaults on one token therefore share one logged-in session, counted, and each works in
#: its own unauthenticated session that inherits the login.
_logins: dict[tuple[str, str], list[Any]] = {}
_logins_lock = threading.Lock()


def _login(token: Any, key: tuple[str, str], user_pin: str) -> None:
    import pkcs11

    with _logins_lock:
        if key in _logins:
            _logins[key][1] += 1
            return
        try:
            session = token.open(user_pin=user_pin, rw=True)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            session = None  # logged in by someone else in this process: do not log them out
        _logins[key] = [session, 1]


def _logout(key: tuple[str, str]) -> None:
    import pkcs11

    with _logins_lock:
        entry = _logins.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _logins[key]
            if entry[0] is not None:
                try:
                    entry[0].close()
                except pkcs11.PKCS11Error:
                    pass


class Pkcs11KeyVault(KeyVault):
    """Class keys as non-extractable AES-256 token objects of one PKCS#11 token."""

    backend = "pkcs11"

    def __init__(self, module: str, token_label: str, user_pin: str, namespace: str = "") -> None:
        """Open a R/W user session on the token labelled ``token_label``.

        ``namespace`` separates vaults sharing one token (tenants, or tests): object labels
        are ``edbp-ck:<namespace>:<key_id>#v<version>`` and a vault sees only its own.
        """
        if not _NAMESPACE.fullmatch(namespace):
            raise KeyVaultError(Code.KEYVAULT_BAD_KEY_ID, "namespace: up to 64 of [A-Za-z0-9._-]")
        self._prefix = f"{LABEL_PREFIX}{namespace}:"
        from edbp.extras import require

        pkcs11 = require("pkcs11")  # the `hsm` extra; missing: one line with the pip command
        self._p11 = pkcs11
        self._lock = threading.Lock()
        self._login_key = (module, token_label)
        try:
            lib = pkcs11.lib(module)
            token = lib.get_token(token_label=token_label)
            _login(token, self._login_key, user_pin)
        except (pkcs11.PKCS11Error, RuntimeError, OSError, AttributeError) as e:
            raise KeyVaultError(
                Code.KEYVAULT_BACKEND_UNAVAILABLE,
                f"cannot open token {token_label!r}: {type(e).__name__}",
            ) from None
        try:
            # the login is per token and process (PKCS#11); this session inherits it
            self._session = token.open(rw=True)
        except pkcs11.PKCS11Error as e:
            _logout(self._login_key)
            raise KeyVaultError(
                Code.KEYVAULT_BACKEND_UNAVAILABLE, f"cannot open session: {type(e).__name__}"
            ) from None
        self._token_label = token_label
        self._closed = False

    def __repr__(self) -> str:
        return f"Pkcs11KeyVault(token={self._token_label!r})"

    def _label(self, key_id: str, version: int) -> str:
        return f"{self._prefix}{key_id}#v{version}"

    def _parse_label(self, label: str) -> tuple[str, int] | None:
        if not label.startswith(self._prefix) or "#v" not in label:
            return None
        key_id, _, version = label[len(self._prefix) :].rpartition("#v")
        return (key_id, int(version)) if version.isdigit() else None

    def _fail(self, what: str, e: Exception) -> KeyVaultError:
        return KeyVaultError(Code.KEYVAULT_OPERATION_FAILED, f"{what}: {type(e).__name__}")

    def _objects(self) -> dict[tuple[str, int], Any]:
        p = self._p11
        out = {}
        for obj in self._session.get_objects(
            {p.Attribute.CLASS: p.ObjectClass.SECRET_KEY, p.Attribute.TOKEN: True}
        ):
            parsed = self._parse_label(str(obj[p.Attribute.LABEL] or ""))
            if parsed:
                out[parsed] = obj
        return out

    def _object(self, key_id: str, version: int) -> Any:
        p = self._p11
        found = list(
            self._session.get_objects(
                {
                    p.Attribute.CLASS: p.ObjectClass.SECRET_KEY,
                    p.Attribute.LABEL: self._label(key_id, version),
                }
            )
        )
        if len(found) != 1:
            raise KeyVaultError(Code.KEYVAULT_NO_SUCH_KEY, f"no class key {key_id!r} v{version}")
        return found[0]

    # ------------------------------------------------------------------ primitives

    def versions(self, key_id: str) -> tuple[int, ...]:
        check_key_id(key_id)
        with self._lock:
            try:
                return tuple(sorted(v for k, v in self._objects() if k == key_id))
            except self._p11.PKCS11Error as e:
                raise self._fail("list keys", e) from None

    def _generate(self, key_id: str, version: int) -> None:
        p = self._p11
        a = p.Attribute
        with self._lock:
            try:
                self._session.generate_key(
                    p.KeyType.AES,
                    256,
                    label=self._label(key_id, version),
                    id=hashlib.sha256(self._label(key_id, version).encode()).digest()[:16],
                    store=True,
                    template={
                        a.TOKEN: True,
                        a.PRIVATE: True,
                        a.SENSITIVE: True,
                        a.EXTRACTABLE: False,
                        a.WRAP_WITH_TRUSTED: True,
                        a.WRAP: True,
                        a.UNWRAP: True,
                        a.ENCRYPT: False,
                        a.DECRYPT: False,
                        a.SIGN: False,
                        a.VERIFY: False,
                        a.DERIVE: False,
                        a.MODIFIABLE: False,
                    },
                )
            except p.PKCS11Error as e:
                raise self._fail("generate class key", e) from None

    def _wrap(self, key_id: str, version: int, cek: bytes | bytearray) -> bytes:
        p = self._p11
        a = p.Attribute
        with self._lock:
            ck = self._object(key_id, version)
            transient = None
            try:
                transient = self._session.create_object(
                    {
                        a.CLASS: p.ObjectClass.SECRET_KEY,
                        a.KEY_TYPE: p.KeyType.AES,
                        a.VALUE: bytes(cek),
                        a.TOKEN: False,
                        a.EXTRACTABLE: True,
                        a.SENSITIVE: False,
                    }
                )
                return bytes(ck.wrap_key(transient, mechanism=p.Mechanism.AES_KEY_WRAP))
            except p.PKCS11Error as e:
                raise self._fail("wrap CEK", e) from None
            finally:
                if transient is not None:
                    transient.destroy()

    def _unwrap_into(self, key_id: str, version: int, wrapped: bytes) -> bytearray:
        p = self._p11
        a = p.Attribute
        with self._lock:
            ck = self._object(key_id, version)
            try:
                transient = ck.unwrap_key(
                    p.ObjectClass.SECRET_KEY,
                    p.KeyType.AES,
                    wrapped,
                    mechanism=p.Mechanism.AES_KEY_WRAP,
                    store=False,
                    template={a.TOKEN: False, a.EXTRACTABLE: True, a.SENSITIVE: False},
                )
            except p.PKCS11Error:
                raise DecryptionFailed(Code.KEYVAULT_UNWRAP_FAILED) from None
            try:
                return bytearray(transient[a.VALUE])
            except p.PKCS11Error as e:
                raise self._fail("read unwrapped CEK", e) from None
            finally:
                transient.destroy()

    def _destroy(self, key_id: str, versions: tuple[int, ...]) -> None:
        with self._lock:
            try:
                for version in versions:
                    self._object(key_id, version).destroy()
            except self._p11.PKCS11Error as e:
                raise self._fail("destroy class key", e) from None

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._session.close()
            except self._p11.PKCS11Error:
                pass
            _logout(self._login_key)
