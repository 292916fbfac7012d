/*
 * edbp-shim-c: the normal-world shim of spec/adapter.md in C, a skeleton for vendors.
 *
 * It reads adapter frames (4-byte big-endian length + one CBOR item) on stdin, dispatches
 * each request to a function of ta_interface.h and writes the reply frame on stdout. Logs go
 * to stderr only: stdout carries frames and nothing else.
 *
 * Built with libcbor (Debian: libcbor-dev). Every map it writes has its text keys in the
 * deterministic order of RFC 8949 §4.2.1 (shorter key first, then bytewise) and every integer
 * in its shortest form, because the harness decodes frames strictly (spec/adapter.md §2).
 */
#include <cbor.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_interface.h"

#define MAX_FRAME (64u << 20)
#define PROTOCOL_VERSION 1

/* spec/errors.md, 8xx */
enum {
    ADAPTER_MALFORMED_FRAME = 800,
    ADAPTER_FRAME_TOO_LARGE = 801,
    ADAPTER_UNKNOWN_REQUEST = 802,
    ADAPTER_UNSUPPORTED_VERSION = 803,
    ADAPTER_CAPABILITY_MISSING = 806,
    ADAPTER_DEVICE_ERROR = 807,
};

/* ------------------------------------------------------------------ framing */

/* 1: read n bytes; 0: clean end of input before the first byte; -1: truncated */
static int read_exact(uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        size_t r = fread(buf + got, 1, n - got, stdin);
        if (r == 0)
            return got == 0 ? 0 : -1;
        got += r;
    }
    return 1;
}

static void send_item(cbor_item_t *item) {
    unsigned char *body = NULL;
    size_t cap = 0;
    size_t n = cbor_serialize_alloc(item, &body, &cap);
    uint8_t head[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    fwrite(head, 1, 4, stdout);
    fwrite(body, 1, n, stdout);
    fflush(stdout);
    free(body);
}

/* ------------------------------------------------------------------ CBOR helpers */

static cbor_item_t *uint_item(uint64_t v) { /* shortest form */
    if (v <= UINT8_MAX)
        return cbor_build_uint8((uint8_t)v);
    if (v <= UINT16_MAX)
        return cbor_build_uint16((uint16_t)v);
    if (v <= UINT32_MAX)
        return cbor_build_uint32((uint32_t)v);
    return cbor_build_uint64(v);
}

/* add key -> value; keys must be added in deterministic order (see the file comment) */
static void put(cbor_item_t *map, const char *key, cbor_item_t *value) {
    cbor_map_add(map, (struct cbor_pair){.key = cbor_move(cbor_build_string(key)),
                                         .value = cbor_move(value)});
}

static cbor_item_t *text_array(const char *const *items, size_t n) {
    cbor_item_t *array = cbor_new_definite_array(n);
    for (size_t i = 0; i < n; i++)
        cbor_array_push(array, cbor_move(cbor_build_string(items[i])));
    return array;
}

static bool text_is(cbor_item_t *item, const char *s) {
    size_t n = strlen(s);
    return item && cbor_isa_string(item) && cbor_string_is_definite(item) &&
           cbor_string_length(item) == n && memcmp(cbor_string_handle(item), s, n) == 0;
}

static cbor_item_t *get(cbor_item_t *map, const char *key) {
    if (!map || !cbor_isa_map(map) || !cbor_map_is_definite(map))
        return NULL;
    struct cbor_pair *pairs = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++)
        if (text_is(pairs[i].key, key))
            return pairs[i].value;
    return NULL;
}

/* ------------------------------------------------------------------ replies */

static cbor_item_t *id_or_null(cbor_item_t *id) {
    return id ? cbor_incref(id) : cbor_new_null();
}

static void reply_ok(cbor_item_t *id, cbor_item_t *result) {
    cbor_item_t *map = cbor_new_definite_map(3); /* "id" < "ok" < "result" */
    put(map, "id", id_or_null(id));
    put(map, "ok", cbor_build_bool(true));
    put(map, "result", result);
    send_item(map);
    cbor_decref(&map);
}

static void reply_error(cbor_item_t *id, int code, const char *msg) {
    cbor_item_t *map = cbor_new_definite_map(4); /* "id" < "ok" < "msg" < "code" */
    put(map, "id", id_or_null(id));
    put(map, "ok", cbor_build_bool(false));
    put(map, "msg", cbor_build_string(msg));
    put(map, "code", uint_item((uint64_t)code));
    send_item(map);
    cbor_decref(&map);
    fprintf(stderr, "edbp-shim-c: refused with %d: %s\n", code, msg);
}

static void reply_ta_status(cbor_item_t *id, const char *req, enum ta_status st, int code) {
    char msg[200];
    if (st == TA_NOT_SUPPORTED) {
        snprintf(msg, sizeof msg, "%s: not supported by %s", req, ta_backend_name());
        reply_error(id, ADAPTER_CAPABILITY_MISSING, msg);
    } else {
        snprintf(msg, sizeof msg, "%s: the TA failed", req);
        reply_error(id, code ? code : ADAPTER_DEVICE_ERROR, msg);
    }
}

/* ------------------------------------------------------------------ requests */

static void do_hello(cbor_item_t *id, cbor_item_t *args) {
    cbor_item_t *version = get(args, "version");
    if (!version || !cbor_isa_uint(version) || cbor_get_int(version) != PROTOCOL_VERSION) {
        reply_error(id, ADAPTER_UNSUPPORTED_VERSION, "this shim speaks adapter version 1");
        return;
    }
    /* the two suites every edbp device supports (spec/adapter.md, hello); add yours */
    static const char *const suites[] = {"suit-sha256-esp256-ecdh-a128gcm",
                                         "teep-sign1-esp256"};
    static const char *const profiles[] = {"edbp"};
    cbor_item_t *result = cbor_new_definite_map(5);
    put(result, "name", cbor_build_string(ta_backend_name()));
    put(result, "suites", text_array(suites, 2));
    put(result, "version", uint_item(PROTOCOL_VERSION));
    put(result, "profiles", text_array(profiles, 1));
    put(result, "capabilities", cbor_new_definite_array(0)); /* none declared */
    reply_ok(id, result);
}

static void do_reset(cbor_item_t *id, cbor_item_t *args) {
    cbor_item_t *keep = get(args, "keep_keys");
    int code = 0;
    enum ta_status st = ta_reset(keep && cbor_isa_float_ctrl(keep) && cbor_get_bool(keep), &code);
    if (st != TA_OK) {
        reply_ta_status(id, "reset", st, code);
        return;
    }
    reply_ok(id, cbor_new_definite_map(0));
}

static void do_state(cbor_item_t *id) {
    int components = 0, floors = 0, code = 0;
    const char *agent_state = "IDLE";
    enum ta_status st = ta_state(&components, &floors, &agent_state, &code);
    if (st != TA_OK) {
        reply_ta_status(id, "state", st, code);
        return;
    }
    /* TODO(vendor): fill the entries from your TA's state blob (installed-entry, floor-entry
     * of spec/adapter.cddl); the stand-in has none */
    cbor_item_t *result = cbor_new_definite_map(3); /* "floors" < "components" < "agent_state" */
    put(result, "floors", cbor_new_definite_array(0));
    put(result, "components", cbor_new_definite_array(0));
    put(result, "agent_state", cbor_build_string(agent_state));
    reply_ok(id, result);
}

static void forward_cbor(cbor_item_t *id, const char *req, struct ta_buf *buf) {
    struct cbor_load_result res;
    cbor_item_t *item = cbor_load(buf->data, buf->len, &res);
    free(buf->data);
    if (!item || res.error.code != CBOR_ERR_NONE) {
        reply_error(id, ADAPTER_DEVICE_ERROR, req);
        if (item)
            cbor_decref(&item);
        return;
    }
    reply_ok(id, item);
}

static void do_identity(cbor_item_t *id) {
    struct ta_buf out = {0};
    int code = 0;
    enum ta_status st = ta_identity(&out, &code);
    if (st != TA_OK)
        reply_ta_status(id, "identity", st, code);
    else
        forward_cbor(id, "identity", &out);
}

static void do_provision(cbor_item_t *id, cbor_item_t *args) {
    unsigned char *enc = NULL;
    size_t cap = 0, n = cbor_serialize_alloc(args, &enc, &cap);
    int code = 0;
    enum ta_status st = ta_provision(enc, n, &code);
    free(enc);
    if (st != TA_OK)
        reply_ta_status(id, "provision", st, code);
    else
        reply_ok(id, cbor_new_definite_map(0));
}

static void do_deliver(cbor_item_t *id, cbor_item_t *args) {
    cbor_item_t *message = get(args, "message");
    if (!message || !cbor_isa_bytestring(message) || !cbor_bytestring_is_definite(message)) {
        reply_error(id, ADAPTER_MALFORMED_FRAME, "deliver: args.message must be bytes");
        return;
    }
    struct ta_buf replies = {0};
    int refusal = 0, code = 0;
    enum ta_status st = ta_deliver(cbor_bytestring_handle(message),
                                   cbor_bytestring_length(message), &replies, &refusal, &code);
    if (st != TA_OK) {
        reply_ta_status(id, "deliver", st, code);
        return;
    }
    /* A refused TEEP message is still an ok reply: its signed TEEP Error is in `replies`
     * and its edbp code in `code` (spec/adapter.md §3). */
    struct cbor_load_result res;
    cbor_item_t *array = cbor_load(replies.data, replies.len, &res);
    free(replies.data);
    if (!array || !cbor_isa_array(array)) {
        reply_error(id, ADAPTER_DEVICE_ERROR, "deliver: the TA's replies are not an array");
        if (array)
            cbor_decref(&array);
        return;
    }
    cbor_item_t *result = cbor_new_definite_map(refusal ? 2 : 1); /* "code" < "replies" */
    if (refusal)
        put(result, "code", uint_item((uint64_t)refusal));
    put(result, "replies", array);
    reply_ok(id, result);
}

/* ------------------------------------------------------------------ the loop */

static void dispatch(cbor_item_t *frame) {
    cbor_item_t *id = get(frame, "id");
    cbor_item_t *req = get(frame, "req");
    cbor_item_t *args = get(frame, "args");
    if (!id || !cbor_isa_uint(id) || !req || !cbor_isa_string(req) || !args ||
        !cbor_isa_map(args)) {
        reply_error(id && cbor_isa_uint(id) ? id : NULL, ADAPTER_MALFORMED_FRAME,
                    "not a request {id, req, args}");
        return;
    }
    if (text_is(req, "hello"))
        do_hello(id, args);
    else if (text_is(req, "reset"))
        do_reset(id, args);
    else if (text_is(req, "state"))
        do_state(id);
    else if (text_is(req, "identity"))
        do_identity(id);
    else if (text_is(req, "provision"))
        do_provision(id, args);
    else if (text_is(req, "deliver"))
        do_deliver(id, args);
    else if (text_is(req, "power_cut") || text_is(req, "set_clock") || text_is(req, "cpm"))
        reply_error(id, ADAPTER_CAPABILITY_MISSING, "capability not declared in hello");
    else
        reply_error(id, ADAPTER_UNKNOWN_REQUEST, "unknown request");
}

int main(void) {
    for (;;) {
        uint8_t head[4];
        int r = read_exact(head, 4);
        if (r == 0)
            return 0; /* the harness closed stdin: the session is over */
        if (r < 0)
            return 1;
        uint32_t n = (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 |
                     (uint32_t)head[2] << 8 | head[3];
        if (n > MAX_FRAME) {
            reply_error(NULL, ADAPTER_FRAME_TOO_LARGE, "frame above 64 MiB");
            return 1; /* framing is lost: close the session */
        }
        uint8_t *body = malloc(n ? n : 1);
        if (!body || read_exact(body, n) != 1) {
            free(body);
            return 1;
        }
        struct cbor_load_result res;
        cbor_item_t *frame = cbor_load(body, n, &res);
        free(body);
        if (!frame || res.error.code != CBOR_ERR_NONE || res.read != n) {
            if (frame)
                cbor_decref(&frame);
            reply_error(NULL, ADAPTER_MALFORMED_FRAME, "body is not one CBOR item");
            return 1;
        }
        dispatch(frame);
        cbor_decref(&frame);
    }
}
