/* fuzz_collect.c - --collect on any output bytes (NUL included): every value kept is UTF-8
 * without NUL (what a string column stores). */
#include "collect.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tf_collect *c = tf_collect_new(2);
    (void)tf_collect_row(c, 0, (const char *)data, size);
    (void)tf_collect_row(c, 1, (const char *)data, size);
    for (int k = 0; k < tf_collect_keys(c); k++) {
        fuzz_check_utf8(tf_collect_key(c, k));
        for (uint64_t r = 0; r < 2; r++) {
            const char *v = tf_collect_value(c, k, r);
            if (v)
                fuzz_check_utf8(v);
        }
        (void)tf_collect_type(c, k);
    }
    tf_collect_free(c);
    return 0;
}
