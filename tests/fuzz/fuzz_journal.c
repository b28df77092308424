/* fuzz_journal.c - the journal reader (journal.c) on any file: header, records, torn tails. */
#include "fuzz_common.h"
#include "journal.h"

static void on_result(const struct tf_result *r, void *arg)
{
    (void)r;
    ++*(size_t *)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "journal");
    struct tf_journal_header hdr;
    struct tf_journal *j = NULL;
    char err[1024];
    size_t n = 0;
    if (tf_journal_peek(path, &hdr, err, sizeof err) != TF_OK)
        return 0;
    if (tf_journal_open(path, &hdr, on_result, &n, &j, err, sizeof err) == TF_OK)
        (void)tf_journal_close(j, false);
    unlink(path);
    return 0;
}
