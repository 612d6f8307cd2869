# SPDX-License-Identifier: MIT
# libsodium's SipHash-2-4, the hash of RFC 9018's interoperable DNS server cookies: a plain
# function over a caller's buffer (no context to allocate, unlike OpenSSL 3's EVP_MAC).

cdef extern from "<sodium.h>" nogil:
    enum:
        crypto_shorthash_siphash24_BYTES        # 8
        crypto_shorthash_siphash24_KEYBYTES     # 16
    int crypto_shorthash_siphash24(unsigned char* out, const unsigned char* data,
                                   unsigned long long length, const unsigned char* key)
    int sodium_init()
