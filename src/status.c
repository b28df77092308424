/* status.c - names of tf_status values. */
#include "status.h"

const char *tf_status_str(enum tf_status st)
{
    static const char *const text[] = {
#define TF_AS_TEXT(name, str) str,
        TF_STATUS_LIST(TF_AS_TEXT)
#undef TF_AS_TEXT
    };
    if ((unsigned)st >= TF_STATUS_COUNT)
        return "unknown status";
    return text[st];
}
