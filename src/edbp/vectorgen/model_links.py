"""Which vector flags realise each seeded flaw of the formal model (``edbp.model.flaws``).

Why: the vectors are the model's traces made concrete. Every flaw the model seeds (a property
broken on purpose) must have vectors that a device with that flaw fails; this table names them,
and ``tests/vectors`` checks that every flaw is listed, that each flag exists in the committed
vectors and that it guards the flaw's target property.
"""

from __future__ import annotations

#: model flaw name -> the vector flags whose tests a device with that flaw fails
FLAW_FLAGS: dict[str, tuple[str, ...]] = {
    "agent-uninstall-ignores-version": ("StaleUninstall",),
    "agent-ignores-agent-nonce": ("ReplayedQueryRequest",),
    "agent-nonce-constant": ("ReplayedQueryRequest",),
    "tam-trusts-evidence-key": ("WrongCnf", "EvidenceWrongSigner"),
    "cek-sent-under-class-key": ("ClassKeyRecipient",),
    "class-key-exported": ("WrongClassKey", "ClassKeyUnwrap"),
    "tam-wraps-without-fresh-evidence": ("StaleNonce",),
    "agent-ignores-recipient-binding": ("WrongRecipient",),
    "agent-skips-payload-digest": ("SwappedPayload", "TamperedPayload"),
    "agent-skips-token-check": ("StaleChallenge", "Replay"),
    "agent-reuses-report-nonce": ("Upgrade",),
    "receipt-unsigned": ("HonestDeploy",),
    "agent-skips-rollback-check": ("Rollback",),
    "agent-accepts-equal-sequence": ("EqualSequence",),
    "cek-left-in-ree": ("HonestDeploy", "PlaintextPayload"),
    "agent-decrypts-before-verify": ("TamperedPayload", "TruncatedPayload"),
    "partial-install-on-failure": ("FailedUpgradeKeepsOld", "FetchFailed"),
    "cek-not-erased-on-error": ("FetchFailed", "RetryAfterError"),
    "author-reuses-iv": ("IvWrongSize", "ValidEncrypt"),
    "shared-device-key": ("TwoDevices", "WrongRecipient"),
    "tam-ignores-revocation": ("RevokedDevice",),
    "uninstall-resets-floor": ("RollbackAfterUninstall", "Uninstall"),
    "agent-skips-ta-version-floor": ("Rollback",),
    "agent-accepts-classical-downgrade": ("ClassicalTeepSignature", "ClassicalAlgOnPqKey"),
}

#: model flaws no vector realises, and why (each still caught by exploration and z3): a vector
#: carries no clock, so the flaws of P6(a)'s time bounds are shown by a conformance case that
#: drives the device's clock through the adapter
UNREALISED: dict[str, str] = {
    "publish-wraps-under-retired-class-key": (
        "which class-key generation the KeyVault wraps under happens inside the vault and the "
        "Author's pipeline; no device sees it, so no device vector can show it"),
    "agent-exchange-never-expires": "needs time to pass in the TEE; the conformance case "
    "freshness.update-after-exchange-lifetime (fault exchange-never-expires) realises it",
    "tam-session-shorter-than-agent": "a TAM duty over time; tests/cloud/test_tam.py checks "
    "the TAM's hold L_u",
    "tam-accepts-stale-evidence": "a TAM duty over time (the challenge ages on the TAM's "
    "clock); tests/cloud checks EAT_STALE (426) on evidence for a challenge past its lifetime",
}

#: blueprint attack of the model's catalogue (``edbp.model.attacks``) -> the CPK vectors that
#: realise it on the CPM: the as-published CPM installs them (``acceptable``), the fixed one
#: refuses them. Attacks on the key service and twin sync (key release, stale desired
#: properties, revoked devices, every key to every device) have no CPM vector: they happen
#: before a package reaches the device.
ATTACK_VECTORS: dict[str, tuple[str, ...]] = {
    "unsigned_package_installed": ("attacker-built-package", "attacker-resigned"),
    "manifest_substitution": (
        "manifest-cp-id-substituted",
        "ciphertext-spliced-from-other-package",
    ),
    "rollback_to_older_package": ("manifest-version-substituted",),
}
