/* fuzz_common.h - what the libFuzzer harnesses share: the input as a temporary file (for the
 * parsers that read files) and a check that a string is UTF-8 without NUL.
 */
#ifndef TF_FUZZ_COMMON_H
#define TF_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* data written to a file of this process's own (rewritten for every input). */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    static char path[128];
    snprintf(path, sizeof path, "/tmp/tf-fuzz-%ld.%s", (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return path;
}

/* A string every reader promises: valid UTF-8, no NUL before its end. */
static inline void fuzz_check_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = tf_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (k == 0)
            abort();
        i += k;
    }
}

#endif
