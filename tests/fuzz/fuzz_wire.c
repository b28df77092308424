/* fuzz_wire.c - the decoder of messages between ranks (wire.c) on any bytes. */
#include "fuzz_common.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tf_wire_reader rd;
    if (tf_wire_open(&rd, data, size) != TF_OK)
        return 0;
    struct tf_report rep;
    if (!tf_wire_get_report(&rd, &rep))
        return 0;
    struct tf_wire_reader again = rd;
    for (uint32_t i = 0; i < rd.count; i++) {
        struct tf_task t;
        if (!tf_wire_get_task(&rd, &t))
            break;
    }
    for (uint32_t i = 0; i < again.count; i++) {
        struct tf_result r;
        if (!tf_wire_get_result(&again, &r))
            break;
    }
    uint64_t v;
    (void)tf_wire_get_u64(&rd, &v);
    return 0;
}
