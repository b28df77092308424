/* fuzz_durations.c - the --durations-from table: commands (input lines) with durations taken
 * from their bytes, looked up again, and a plan of them ordered. */
#include "durations.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tf_durations *d = tf_durations_new();
    char *text = tf_xstrndup((const char *)data, size);
    struct tf_planned plan[64];
    size_t n = 0;
    for (char *s = text, *nl; s; s = nl) {
        nl = strchr(s, '\n');
        if (nl)
            *nl++ = '\0';
        double sec = (double)(unsigned char)s[0] * 0.5;
        tf_durations_put(d, s, sec);
        if (n < 64)
            plan[n] = (struct tf_planned){n, n + 1, 0, tf_durations_get(d, s)}, n++;
    }
    tf_durations_order(plan, n);
    for (size_t i = 1; i < n; i++)
        if (plan[i - 1].expected >= 0 && plan[i].expected > plan[i - 1].expected)
            abort();
    (void)tf_durations_count(d);
    tf_durations_free(d);
    free(text);
    return 0;
}
