/* fuzz_grid.c - --grid specs, one per input line (up to 8): a table or one refusal line,
 * never more than the documented 10^8 rows, and rows read from both ends. */
#include "fuzz_common.h"
#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tf_xstrndup((const char *)data, size);
    const char *specs[8];
    int n = 0;
    for (char *s = text, *nl; n < 8 && s; s = nl) {
        nl = strchr(s, '\n');
        if (nl)
            *nl++ = '\0';
        specs[n++] = s;
    }
    struct tf_params *p;
    char err[1024];
    if (tf_params_grid(specs, n, &p, err, sizeof err) == TF_OK) {
        uint64_t rows = tf_params_rows(p);
        if (rows > 100000000ull)
            abort();
        for (int c = 0; c < tf_params_cols(p) && rows > 0; c++) {
            (void)tf_params_value(p, 0, c);
            (void)tf_params_value(p, rows - 1, c);
            (void)tf_params_type(p, c);
        }
        if (tf_params_check(p, "x {#}", err, sizeof err) == TF_OK && rows > 0)
            free(tf_params_expand(p, "x {#}", rows - 1));
        tf_params_free(p);
    }
    free(text);
    return 0;
}
