/*
 * The TEE side on a board: ta_interface.h over the GlobalPlatform TEE Client API (OP-TEE's
 * libteec, optee_client). Build with `make TEE=teec`. This file is a skeleton: the session
 * handling is complete; each VENDOR: marker is where your Agent TA's command (the layout in
 * ta_interface.h) is invoked. CI builds the shim with tee_standin.c instead.
 */
#include <stdlib.h>
#include <string.h>
#include <tee_client_api.h>

#include "ta_interface.h"

/* VENDOR: your Agent TA's UUID */
static const TEEC_UUID agent_ta_uuid = {
    0x00000000, 0x0000, 0x0000, {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}};

static TEEC_Context ctx;
static TEEC_Session sess;
static int opened;

static enum ta_status open_session(int *code) {
    uint32_t origin = 0;
    if (opened)
        return TA_OK;
    if (TEEC_InitializeContext(NULL, &ctx) != TEEC_SUCCESS) {
        *code = 807;
        return TA_FAILED;
    }
    if (TEEC_OpenSession(&ctx, &sess, &agent_ta_uuid, TEEC_LOGIN_PUBLIC, NULL, NULL, &origin) !=
        TEEC_SUCCESS) {
        TEEC_FinalizeContext(&ctx);
        *code = 807;
        return TA_FAILED;
    }
    opened = 1;
    return TA_OK;
}

static enum ta_status status_of(TEEC_Result res, int *code) {
    if (res == TEEC_SUCCESS)
        return TA_OK;
    if (res == TEEC_ERROR_NOT_SUPPORTED)
        return TA_NOT_SUPPORTED;
    *code = 807; /* VENDOR: map your TA's TEE_Result to a spec/errors.md code */
    return TA_FAILED;
}

/* one MEMREF_OUTPUT call: the TA writes CBOR into a buffer the shim then forwards */
static enum ta_status call_out(uint32_t cmd, struct ta_buf *out, int *code) {
    enum ta_status st = open_session(code);
    if (st != TA_OK)
        return st;
    TEEC_Operation op;
    uint32_t origin = 0;
    memset(&op, 0, sizeof op);
    out->len = 64 * 1024;
    out->data = malloc(out->len);
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    op.params[0].tmpref.buffer = out->data;
    op.params[0].tmpref.size = out->len;
    st = status_of(TEEC_InvokeCommand(&sess, cmd, &op, &origin), code);
    out->len = op.params[0].tmpref.size;
    return st;
}

const char *ta_backend_name(void) { return "edbp-shim-c (OP-TEE libteec)"; }

enum ta_status ta_reset(int keep_keys, int *code) {
    enum ta_status st = open_session(code);
    if (st != TA_OK)
        return st;
    TEEC_Operation op;
    uint32_t origin = 0;
    memset(&op, 0, sizeof op);
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    op.params[0].value.a = (uint32_t)keep_keys;
    return status_of(TEEC_InvokeCommand(&sess, TA_EDBP_CMD_RESET, &op, &origin), code);
}

enum ta_status ta_state(int *components, int *floors, const char **agent_state, int *code) {
    /* VENDOR: TA_EDBP_CMD_STATE returns the state CBOR; parse it (or forward it, as
     * ta_identity does) instead of these counts */
    (void)components;
    (void)floors;
    (void)agent_state;
    *code = 0;
    return TA_NOT_SUPPORTED;
}

enum ta_status ta_identity(struct ta_buf *result_cbor, int *code) {
    return call_out(TA_EDBP_CMD_IDENTITY, result_cbor, code);
}

enum ta_status ta_provision(const uint8_t *args_cbor, size_t len, int *code) {
    enum ta_status st = open_session(code);
    if (st != TA_OK)
        return st;
    TEEC_Operation op;
    uint32_t origin = 0;
    memset(&op, 0, sizeof op);
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    op.params[0].tmpref.buffer = (void *)args_cbor;
    op.params[0].tmpref.size = len;
    return status_of(TEEC_InvokeCommand(&sess, TA_EDBP_CMD_PROVISION, &op, &origin), code);
}

enum ta_status ta_deliver(const uint8_t *message, size_t len, struct ta_buf *replies_cbor,
                          int *refusal_code, int *code) {
    /* VENDOR: TA_EDBP_CMD_DELIVER with the message in params[0], replies out in params[1],
     * (edbp code, fetch pending) in params[2]; while a fetch is pending, ask the harness for
     * the payload (an adapter `ask` frame) and feed it with TA_EDBP_CMD_PAYLOAD in chunks */
    (void)message;
    (void)len;
    (void)replies_cbor;
    (void)refusal_code;
    *code = 0;
    return TA_NOT_SUPPORTED;
}
