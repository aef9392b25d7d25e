/* HMAC-SHA256 of every value of an Arrow binary/string array, written as lowercase hex.
 *
 * The key's inner and outer pad blocks are compressed once by the caller; each value then costs one
 * compression per 64 bytes of message plus one for the outer hash. On CPUs with the SHA extensions the
 * compressions run here with SHA-NI, two values at a time (the instructions' latency, not their
 * throughput, bounds one stream, so two independent streams nearly double the rate); elsewhere they
 * run through OpenSSL's block function, passed in as a pointer (so no OpenSSL headers are needed).
 * Python releases the GIL while this runs.
 */
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define M4D_X86 1
#endif

typedef void (*transform_fn)(void *ctx, const unsigned char *block);

/* OpenSSL's SHA256_CTX starts with the eight state words; the rest is unused by SHA256_Transform. */
typedef struct { uint32_t h[8]; uint32_t rest[20]; } sha_ctx;

static const char HEX[] = "0123456789abcdef";

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* The final block(s) of a message: tail, 0x80, zeros, the bit length; returns how many (1 or 2). */
static int pad(unsigned char block[128], const unsigned char *tail, size_t tail_len, uint64_t total_len) {
    memset(block, 0, 128);
    memcpy(block, tail, tail_len);
    block[tail_len] = 0x80;
    int blocks = tail_len + 9 > 64 ? 2 : 1;
    uint64_t bits = total_len * 8;
    for (int i = 0; i < 8; i++) block[blocks * 64 - 1 - i] = (unsigned char)(bits >> (8 * i));
    return blocks;
}

static void digest_bytes(const uint32_t h[8], unsigned char out[32]) {
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

static void hex(const unsigned char d[32], char *o) {
    for (int k = 0; k < 32; k++) {
        o[2 * k] = HEX[d[k] >> 4];
        o[2 * k + 1] = HEX[d[k] & 15];
    }
}

/* Two hex characters per byte value, for writing a state's digest straight from its words. */
static uint16_t HEX2[256];

__attribute__((constructor)) static void init_hex2(void) {
    for (int v = 0; v < 256; v++) {
        unsigned char pair[2] = {(unsigned char)HEX[v >> 4], (unsigned char)HEX[v & 15]};
        memcpy(&HEX2[v], pair, 2);
    }
}

static inline void hex_words(const uint32_t h[8], char *o) {
    for (int i = 0; i < 8; i++) {
        uint32_t w = h[i];
        uint16_t q[4] = {HEX2[w >> 24], HEX2[(w >> 16) & 255], HEX2[(w >> 8) & 255], HEX2[w & 255]};
        memcpy(o + 8 * i, q, 8);
    }
}

/* A message of at most 55 bytes as its single padded block. */
static inline void pad_short(unsigned char block[64], const unsigned char *msg, size_t len) {
    memset(block, 0, 64);
    memcpy(block, msg, len);
    block[len] = 0x80;
    uint64_t bits = (64 + (uint64_t)len) * 8;
    for (int i = 0; i < 8; i++) block[63 - i] = (unsigned char)(bits >> (8 * i));
}

/* The outer block: the inner digest (big-endian), 0x80, zeros, the bit length of 64 + 32 bytes. */
static inline void outer_block(unsigned char block[64], const uint32_t h[8]) {
    for (int i = 0; i < 8; i++) {
        uint32_t be = __builtin_bswap32(h[i]);
        memcpy(block + 4 * i, &be, 4);
    }
    memset(block + 32, 0, 32);
    block[32] = 0x80;
    block[62] = 0x03; /* 768 bits = 0x0300 */
}

#ifdef M4D_X86
#define NI __attribute__((target("sha,sse4.1,ssse3")))

/* Standard state order <-> the (ABEF, CDGH) lane order the SHA instructions use. */
NI static inline void ni_load(const uint32_t h[8], __m128i *s0, __m128i *s1) {
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i u = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* EFGH */
    *s0 = _mm_alignr_epi8(t, u, 8);                                                 /* ABEF */
    *s1 = _mm_blend_epi16(u, t, 0xF0);                                              /* CDGH */
}

NI static inline void ni_store(__m128i s0, __m128i s1, uint32_t h[8]) {
    __m128i t = _mm_shuffle_epi32(s0, 0x1B); /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);        /* DCHG */
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, s1, 0xF0)); /* DCBA */
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(s1, t, 8));    /* HGFE */
}

/* One block into each of two independent states (a == b is not allowed). */
NI static void ni_compress2(uint32_t ha[8], const unsigned char *ba, uint32_t hb[8], const unsigned char *bb) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i a0, a1, b0, b1, wa[4], wb[4];
    ni_load(ha, &a0, &a1);
    ni_load(hb, &b0, &b1);
    const __m128i sa0 = a0, sa1 = a1, sb0 = b0, sb1 = b1;
    for (int i = 0; i < 16; i++) {
        __m128i xa, xb;
        if (i < 4) {
            xa = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(ba + 16 * i)), mask);
            xb = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(bb + 16 * i)), mask);
        } else {
            xa = _mm_sha256msg1_epu32(wa[(i - 4) & 3], wa[(i - 3) & 3]);
            xb = _mm_sha256msg1_epu32(wb[(i - 4) & 3], wb[(i - 3) & 3]);
            xa = _mm_add_epi32(xa, _mm_alignr_epi8(wa[(i - 1) & 3], wa[(i - 2) & 3], 4));
            xb = _mm_add_epi32(xb, _mm_alignr_epi8(wb[(i - 1) & 3], wb[(i - 2) & 3], 4));
            xa = _mm_sha256msg2_epu32(xa, wa[(i - 1) & 3]);
            xb = _mm_sha256msg2_epu32(xb, wb[(i - 1) & 3]);
        }
        wa[i & 3] = xa;
        wb[i & 3] = xb;
        const __m128i k = _mm_loadu_si128((const __m128i *)&K[4 * i]);
        __m128i ma = _mm_add_epi32(xa, k), mb = _mm_add_epi32(xb, k);
        a1 = _mm_sha256rnds2_epu32(a1, a0, ma);
        b1 = _mm_sha256rnds2_epu32(b1, b0, mb);
        a0 = _mm_sha256rnds2_epu32(a0, a1, _mm_shuffle_epi32(ma, 0x0E));
        b0 = _mm_sha256rnds2_epu32(b0, b1, _mm_shuffle_epi32(mb, 0x0E));
    }
    ni_store(_mm_add_epi32(a0, sa0), _mm_add_epi32(a1, sa1), ha);
    ni_store(_mm_add_epi32(b0, sb0), _mm_add_epi32(b1, sb1), hb);
}

static int has_sha_ni(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9))) return 0; /* SSE4.1, SSSE3 */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1; /* SHA */
}
#endif

static int sha_ni_allowed = 1;

/* Tests and the M4D_HMAC_SHA_NI=off switch use this to run the OpenSSL path on a CPU with SHA-NI. */
void m4d_hmac_allow_sha_ni(int allowed) { sha_ni_allowed = allowed; }

int m4d_hmac_uses_sha_ni(void) {
#ifdef M4D_X86
    static int cached = -1;
    if (cached < 0) cached = has_sha_ni();
    return cached && sha_ni_allowed;
#else
    return 0;
#endif
}

static inline int64_t offset_at(const void *offsets, int wide, int64_t i) {
    return wide ? ((const int64_t *)offsets)[i] : ((const int32_t *)offsets)[i];
}

/* One value through OpenSSL's block function (any length). */
static void hmac_one(transform_fn f, const uint32_t inner[8], const uint32_t outer[8], const unsigned char *msg,
                     size_t len, char *out) {
    sha_ctx c;
    unsigned char block[128], d[32];
    memcpy(c.h, inner, 32);
    size_t full = len / 64;
    for (size_t b = 0; b < full; b++) f(&c, msg + 64 * b);
    int n = pad(block, msg + 64 * full, len - 64 * full, 64 + (uint64_t)len);
    for (int b = 0; b < n; b++) f(&c, block + 64 * b);
    digest_bytes(c.h, d);
    memcpy(c.h, outer, 32);
    pad(block, d, 32, 64 + 32);
    f(&c, block);
    digest_bytes(c.h, d);
    hex(d, out);
}

/* offsets: 32-bit (wide == 0) or 64-bit (wide == 1); rows [first, first + n); out: n * 64 hex characters. */
void m4d_hmac_sha256_hex(transform_fn f, const uint32_t inner[8], const uint32_t outer[8], const void *offsets,
                         int wide, const unsigned char *data, int64_t first, int64_t n, char *out) {
    int64_t i = first, end = first + n;
#ifdef M4D_X86
    if (m4d_hmac_uses_sha_ni()) {
        /* Pairs of values that fit one block (<= 55 bytes): both hashes advance together. */
        while (i + 1 < end) {
            int64_t s0 = offset_at(offsets, wide, i), e0 = offset_at(offsets, wide, i + 1);
            int64_t e1 = offset_at(offsets, wide, i + 2);
            size_t l0 = (size_t)(e0 - s0), l1 = (size_t)(e1 - e0);
            if (l0 > 55 || l1 > 55) {
                hmac_one(f, inner, outer, data + s0, l0, out + 64 * (i - first));
                i += 1;
                continue;
            }
            unsigned char ba[64], bb[64];
            uint32_t ha[8], hb[8];
            pad_short(ba, data + s0, l0);
            pad_short(bb, data + e0, l1);
            memcpy(ha, inner, 32);
            memcpy(hb, inner, 32);
            ni_compress2(ha, ba, hb, bb);
            outer_block(ba, ha);
            outer_block(bb, hb);
            memcpy(ha, outer, 32);
            memcpy(hb, outer, 32);
            ni_compress2(ha, ba, hb, bb);
            hex_words(ha, out + 64 * (i - first));
            hex_words(hb, out + 64 * (i + 1 - first));
            i += 2;
        }
    }
#endif
    for (; i < end; i++) {
        int64_t s = offset_at(offsets, wide, i), e = offset_at(offsets, wide, i + 1);
        hmac_one(f, inner, outer, data + s, (size_t)(e - s), out + 64 * (i - first));
    }
}
