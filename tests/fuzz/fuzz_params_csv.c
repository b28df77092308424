/* fuzz_params_csv.c - --params CSV files: any bytes are a table or one refusal line; a
 * template over the first column expands every row to one line. */
#include "fuzz_common.h"
#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "csv");
    struct tf_params *p;
    char err[1024];
    if (tf_params_read_csv(path, &p, err, sizeof err) != TF_OK) {
        if (strchr(err, '\n'))
            abort(); /* a refusal is one line */
        return 0;
    }
    char tmpl[128];
    snprintf(tmpl, sizeof tmpl, "run {%.60s} {#}", tf_params_name(p, 0));
    if (tf_params_check(p, tmpl, err, sizeof err) == TF_OK)
        for (uint64_t r = 0; r < tf_params_rows(p) && r < 64; r++) {
            char *cmd = tf_params_expand(p, tmpl, r);
            if (strchr(cmd, '\n'))
                abort();
            free(cmd);
        }
    for (int c = 0; c < tf_params_cols(p); c++)
        (void)tf_params_type(p, c);
    tf_params_free(p);
    return 0;
}
