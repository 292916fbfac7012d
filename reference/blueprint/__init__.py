"""The `blueprint` profile: the Enclave Device Blueprint as its public code builds it.

Modules: ``frame`` (CPK header + stream table), ``manifest`` (v1 JSON), ``crypto``,
``package`` (streaming build / read / verify), ``cpm`` (the CPM TA contract, sans-I/O, in
``as-published`` and ``fixed`` behaviours), ``ta_store`` (OP-TEE secure-storage install),
``installer`` (cpk-tool's REE side), ``secret_store``, ``twins``, ``keyservice`` (sans-I/O) and
``keyservice_http`` (Flask on loopback), ``client``, ``mutations`` (catalogues for vectors).
spec/blueprint.md is the normative description.
"""
