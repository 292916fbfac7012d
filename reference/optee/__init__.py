"""OP-TEE trusted application images: sign, encrypt and verify them as OP-TEE does.

The confidential package's payload is an OP-TEE TA, loaded on the device by OP-TEE's own
loader, so what edbp writes must be byte-compatible with ``scripts/sign_encrypt.py`` and what
it accepts must be what ``core/kernel/ree_fs_ta.c`` accepts (or stricter, and then said so).
spec/ta-image.md is the normative description.

Modules: ``constants`` (the numbers), ``layout`` (header values and encodings), ``rsa_sig``
(RSA over the prehashed digest), ``huk`` (``huk_subkey_derive`` and the TA encryption key),
``subkey`` (subkey parsing, namespace UUIDs), ``sign`` (build images and subkeys), ``verify``
(the loader), ``floors`` (version floors), ``mutations`` (the named negative cases). The
device Agent runs the same ``verify_ta`` on the TA it installs (``edbp.reference.device.ta_check``).
"""

from edbp.reference.optee.constants import EncKeyType, ImgType, SigAlgo
from edbp.reference.optee.floors import VersionFloors
from edbp.reference.optee.huk import HukUsage, huk_subkey_derive, ta_enc_key
from edbp.reference.optee.layout import BootstrapHeader, EncryptedHeader, Shdr, SubkeyHeader
from edbp.reference.optee.sign import Encryption, SubkeyChain, sign_subkey, sign_ta
from edbp.reference.optee.subkey import next_uuid
from edbp.reference.optee.verify import DecryptionKeys, LoaderPolicy, VerifiedTA, verify_ta

__all__ = [
    "BootstrapHeader",
    "DecryptionKeys",
    "EncKeyType",
    "EncryptedHeader",
    "Encryption",
    "HukUsage",
    "ImgType",
    "LoaderPolicy",
    "Shdr",
    "SigAlgo",
    "SubkeyChain",
    "SubkeyHeader",
    "VerifiedTA",
    "VersionFloors",
    "huk_subkey_derive",
    "next_uuid",
    "sign_subkey",
    "sign_ta",
    "ta_enc_key",
    "verify_ta",
]
