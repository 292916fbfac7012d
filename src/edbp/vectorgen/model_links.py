"""Which vector flags realise each seeded flaw of the formal model (``edbp.model.flaws``).

Why: the vectors are the model's traces made concrete. Every flaw the model seeds (a property
broken on purpose) must have vectors that a device with that flaw fails; this table names them,
and ``tests/vectors`` checks that every flaw is listed, that each flag exists in the committed
vectors and that it guards the flaw's target property.
"""

from __future__ import annotations

#: model flaw name -> the vector flags whose tests a device with that flaw fails
FLAW_FLAGS: dict[str, tuple[str, ...]] = {
    "tam_trusts_evidence_key": ("WrongCnf", "EvidenceWrongSigner"),
    "cek_sent_under_class_key": ("ClassKeyRecipient",),
    "class_key_exported": ("WrongClassKey", "ClassKeyUnwrap"),
    "tam_wraps_without_fresh_evidence": ("StaleNonce",),
    "agent_ignores_recipient_binding": ("WrongRecipient",),
    "agent_skips_payload_digest": ("SwappedPayload", "TamperedPayload"),
    "agent_skips_token_check": ("StaleChallenge", "Replay"),
    "agent_reuses_report_nonce": ("Upgrade",),
    "receipt_unsigned": ("HonestDeploy",),
    "agent_skips_rollback_check": ("Rollback",),
    "agent_accepts_equal_sequence": ("EqualSequence",),
    "cek_left_in_ree": ("HonestDeploy", "PlaintextPayload"),
    "agent_decrypts_before_verify": ("TamperedPayload", "TruncatedPayload"),
    "partial_install_on_failure": ("FailedUpgradeKeepsOld", "FetchFailed"),
    "cek_not_erased_on_error": ("FetchFailed", "RetryAfterError"),
    "author_reuses_iv": ("IvWrongSize", "ValidEncrypt"),
    "shared_device_key": ("TwoDevices", "WrongRecipient"),
    "tam_ignores_revocation": ("RevokedDevice",),
    "uninstall_resets_floor": ("RollbackAfterUninstall", "Uninstall"),
    "agent_accepts_classical_downgrade": ("ClassicalTeepSignature", "ClassicalAlgOnPqKey"),
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
