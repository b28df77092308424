/* tf_check.h - shared helpers for the Check unit tests: a main per suite and temp files. */
#ifndef TF_CHECK_H
#define TF_CHECK_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A fresh path under the test's temporary directory; caller frees. */
static inline char *tf_test_path(const char *name)
{
    const char *dir = getenv("TF_TEST_TMP");
    char *p = malloc(4096);
    snprintf(p, 4096, "%s/%s.%d", dir ? dir : "/tmp", name, (int)getpid());
    return p;
}

/* Write bytes to a new file at path. */
static inline void tf_test_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

#define TF_CHECK_MAIN(suite_fn)                                                                    \
    int main(void)                                                                                 \
    {                                                                                              \
        SRunner *sr = srunner_create(suite_fn());                                                  \
        srunner_run_all(sr, CK_NORMAL);                                                            \
        int failed = srunner_ntests_failed(sr);                                                    \
        srunner_free(sr);                                                                          \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                          \
    }

#endif
