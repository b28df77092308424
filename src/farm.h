/* farm.h - one task-file run on every rank: slots, validation and agreement at start, then
 * the event loop. Returns the process exit code (status.h, enum tf_exit).
 */
#ifndef TF_FARM_H
#define TF_FARM_H

#include "config.h"

/* Collective over all ranks, after tf_comm_init. */
int tf_farm_run(const struct tf_config *cfg);

#endif
