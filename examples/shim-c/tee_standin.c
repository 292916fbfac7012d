/*
 * A stand-in for the TEE side, for CI: no TEE, no TA. It answers `reset` and `state` as a
 * factory-fresh device would and refuses every other TA call as not supported, which the
 * shim reports as ADAPTER_CAPABILITY_MISSING (806) naming the request. Replace this file by
 * tee_teec.c (TEEC calls to your Agent TA) on a board.
 */
#include "ta_interface.h"

const char *ta_backend_name(void) { return "edbp-shim-c (TEE stand-in: reset, state only)"; }

enum ta_status ta_reset(int keep_keys, int *code) {
    (void)keep_keys;
    *code = 0;
    return TA_OK; /* nothing is stored, so factory state is the only state */
}

enum ta_status ta_state(int *components, int *floors, const char **agent_state, int *code) {
    *components = 0;
    *floors = 0;
    *agent_state = "IDLE";
    *code = 0;
    return TA_OK;
}

enum ta_status ta_identity(struct ta_buf *result_cbor, int *code) {
    (void)result_cbor;
    *code = 0;
    return TA_NOT_SUPPORTED;
}

enum ta_status ta_provision(const uint8_t *args_cbor, size_t len, int *code) {
    (void)args_cbor;
    (void)len;
    *code = 0;
    return TA_NOT_SUPPORTED;
}

enum ta_status ta_deliver(const uint8_t *message, size_t len, struct ta_buf *replies_cbor,
                          int *refusal_code, int *code) {
    (void)message;
    (void)len;
    (void)replies_cbor;
    (void)refusal_code;
    *code = 0;
    return TA_NOT_SUPPORTED;
}
