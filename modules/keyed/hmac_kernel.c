/* HMAC-SHA256 of every value of an Arrow binary/string array, written as lowercase hex.
 *
 * The SHA-256 compression is OpenSSL's (passed in as a function pointer, so this file needs no OpenSSL
 * headers and uses the SHA-NI/AVX2 code OpenSSL picks for the CPU). The key's inner and outer pad blocks
 * are compressed once by the caller; each value then costs one compression per 64 bytes of message plus
 * one for the outer hash. Python releases the GIL while this runs.
 */
#include <stdint.h>
#include <string.h>

typedef void (*transform_fn)(void *ctx, const unsigned char *block);

/* OpenSSL's SHA256_CTX starts with the eight state words; the rest is unused by SHA256_Transform. */
typedef struct { uint32_t h[8]; uint32_t rest[20]; } sha_ctx;

static const char HEX[] = "0123456789abcdef";

static void finish(transform_fn f, sha_ctx *c, const unsigned char *tail, size_t tail_len, uint64_t total_len) {
    unsigned char block[128];
    memset(block, 0, sizeof block);
    memcpy(block, tail, tail_len);
    block[tail_len] = 0x80;
    size_t blocks = tail_len + 9 > 64 ? 2 : 1;
    uint64_t bits = total_len * 8;
    for (int i = 0; i < 8; i++) block[blocks * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
    f(c, block);
    if (blocks == 2) f(c, block + 64);
}

static void digest_bytes(const sha_ctx *c, unsigned char out[32]) {
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
}

/* offsets: n + 1 entries, 32-bit (wide == 0) or 64-bit (wide == 1); out: n * 64 hex characters. */
void m4d_hmac_sha256_hex(transform_fn f, const uint32_t inner[8], const uint32_t outer[8], const void *offsets,
                         int wide, const unsigned char *data, int64_t first, int64_t n, char *out) {
    sha_ctx c;
    unsigned char d[32];
    for (int64_t i = first; i < first + n; i++) {
        int64_t start = wide ? ((const int64_t *)offsets)[i] : ((const int32_t *)offsets)[i];
        int64_t end = wide ? ((const int64_t *)offsets)[i + 1] : ((const int32_t *)offsets)[i + 1];
        const unsigned char *msg = data + start;
        size_t len = (size_t)(end - start);
        memcpy(c.h, inner, 32);
        size_t full = len / 64;
        for (size_t b = 0; b < full; b++) f(&c, msg + 64 * b);
        finish(f, &c, msg + 64 * full, len - 64 * full, 64 + (uint64_t)len);
        digest_bytes(&c, d);
        memcpy(c.h, outer, 32);
        finish(f, &c, d, 32, 64 + 32);
        digest_bytes(&c, d);
        char *o = out + 64 * (i - first);
        for (int k = 0; k < 32; k++) {
            o[2 * k] = HEX[d[k] >> 4];
            o[2 * k + 1] = HEX[d[k] & 15];
        }
    }
}
