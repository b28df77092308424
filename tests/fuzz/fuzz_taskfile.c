/* fuzz_taskfile.c - the task file's scan and readers on any bytes: every task handed out is
 * one of the file's lines and can be read again at its offset. */
#include "fuzz_common.h"
#include "taskfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_file(data, size, "tasks");
    struct tf_taskfile_info info;
    char err[512];
    if (tf_taskfile_scan(path, &info, err, sizeof err) != TF_OK)
        return 0;
    struct tf_taskfile *tf, *again;
    if (tf_taskfile_open(path, &tf, err, sizeof err) != TF_OK ||
        tf_taskfile_open(path, &again, err, sizeof err) != TF_OK)
        abort();
    struct tf_task t, u;
    bool got;
    uint64_t n = 0;
    while (tf_taskfile_next(tf, &t, &got) == TF_OK && got) {
        if (t.offset + t.command_len > size || memcmp(data + t.offset, t.command, t.command_len))
            abort();
        fuzz_check_utf8(t.command);
        if (tf_taskfile_read_at(again, t.id, t.line, t.offset, &u) != TF_OK ||
            u.command_len != t.command_len || memcmp(u.command, t.command, t.command_len))
            abort();
        n++;
    }
    if (n != info.ntasks)
        abort();
    tf_taskfile_close(tf);
    tf_taskfile_close(again);
    return 0;
}
