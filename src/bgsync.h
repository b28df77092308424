/* bgsync.h - fdatasync in a background thread, so the master never waits for the disk while
 * workers wait for it. A request covers everything written to those files before it; a request
 * made while a sync is running is merged into the next one.
 */
#ifndef TF_BGSYNC_H
#define TF_BGSYNC_H

#include <stdbool.h>

#include "status.h"

struct tf_bgsync;

/* NULL when no thread can be started (the caller then syncs in line). */
struct tf_bgsync *tf_bgsync_start(void);
/* Sync fd_a, then fd_b (either may be -1), after this call returns. The syncer syncs
 * descriptors of its own (dup), so the caller may close the files at any time. */
void tf_bgsync_request(struct tf_bgsync *s, int fd_a, int fd_b);
/* Wait until every request made so far is done; false if any sync failed. */
bool tf_bgsync_wait(struct tf_bgsync *s);
/* Wait, stop the thread, free (NULL-safe); false if any sync failed. Without `wait`, for
 * files that no longer need to reach the disk: the sync in hand ends on its own. */
bool tf_bgsync_stop(struct tf_bgsync *s, bool wait);

#endif
