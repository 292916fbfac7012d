/*
 * The boundary between the shim (normal world) and your edbp Agent TA (secure world).
 *
 * The shim turns adapter requests (spec/adapter.md) into calls of the functions below. On a
 * board they are implemented in tee_teec.c with the GlobalPlatform TEE Client API
 * (TEEC_InvokeCommand on a session with your Agent TA); in CI they are implemented by
 * tee_standin.c, a stand-in that answers reset and state and says which requests it does not
 * support, so that the adapter framing and dispatch are tested without a TEE.
 *
 * Command-id layout a TA exposes (TA_InvokeCommandEntryPoint switches on these). Parameter
 * layout per command, as TEEC_PARAM_TYPES(p0, p1, p2, p3):
 *
 *   TA_EDBP_CMD_RESET      VALUE_INPUT(a = keep_keys)       NONE               NONE  NONE
 *   TA_EDBP_CMD_IDENTITY   MEMREF_OUTPUT(identity CBOR)     NONE               NONE  NONE
 *   TA_EDBP_CMD_PROVISION  MEMREF_INPUT(provision args CBOR) NONE              NONE  NONE
 *   TA_EDBP_CMD_DELIVER    MEMREF_INPUT(TEEP message)       MEMREF_OUTPUT(replies CBOR array)
 *                          VALUE_OUTPUT(a = edbp code or 0, b = fetch pending)  NONE
 *   TA_EDBP_CMD_PAYLOAD    MEMREF_INPUT(payload chunk)      VALUE_INPUT(a = last chunk) ...
 *   TA_EDBP_CMD_STATE      MEMREF_OUTPUT(state CBOR)        NONE               NONE  NONE
 *   TA_EDBP_CMD_POWER_CUT  VALUE_INPUT(a = N-th storage write)                 (capability)
 *   TA_EDBP_CMD_SET_CLOCK  VALUE_INPUT(a,b = seconds hi/lo)                    (capability)
 *
 * A refused TEEP message is NOT an error of these functions: the TA returns TEE_SUCCESS, its
 * signed TEEP Error in the replies and the edbp code in `code`; the shim then answers the
 * deliver with ok:true carrying both. ok:false is only for the adapter refusing a request.
 */
#ifndef EDBP_TA_INTERFACE_H
#define EDBP_TA_INTERFACE_H

#include <stddef.h>
#include <stdint.h>

enum ta_edbp_cmd {
    TA_EDBP_CMD_RESET = 0,
    TA_EDBP_CMD_IDENTITY = 1,
    TA_EDBP_CMD_PROVISION = 2,
    TA_EDBP_CMD_DELIVER = 3,
    TA_EDBP_CMD_PAYLOAD = 4,
    TA_EDBP_CMD_STATE = 5,
    TA_EDBP_CMD_POWER_CUT = 6,
    TA_EDBP_CMD_SET_CLOCK = 7,
};

/* What a TA call returns to the shim. */
enum ta_status {
    TA_OK = 0,            /* TEE_SUCCESS */
    TA_NOT_SUPPORTED = 1, /* TEE_ERROR_NOT_SUPPORTED: the shim answers 806 */
    TA_FAILED = 2,        /* any other TEE_Result: the shim answers with `code` */
};

/* A byte buffer the TA fills (CBOR the shim forwards unchanged). */
struct ta_buf {
    uint8_t *data;
    size_t len;
};

/* The shim's stand-in answers these without a TEE; on a board tee_teec.c implements them. */
const char *ta_backend_name(void);
enum ta_status ta_reset(int keep_keys, int *code);
enum ta_status ta_state(int *components, int *floors, const char **agent_state, int *code);

/* CBOR in, CBOR out: the shim passes the request's encoded args and forwards the result. */
enum ta_status ta_identity(struct ta_buf *result_cbor, int *code);
enum ta_status ta_provision(const uint8_t *args_cbor, size_t len, int *code);
enum ta_status ta_deliver(const uint8_t *message, size_t len, struct ta_buf *replies_cbor,
                          int *refusal_code, int *code);

#endif
