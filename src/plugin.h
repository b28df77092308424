/* plugin.h - `taskfarm run --plugin LIB.so:FN --items ...`: an in-process map of a function
 * loaded from a shared library, run through the public API (taskfarm.h).
 */
#ifndef TF_PLUGIN_H
#define TF_PLUGIN_H

#include "config.h"

/* Collective over all ranks, after MPI is started. Returns the exit code (enum tf_exit). */
int tf_plugin_run(const struct tf_config *cfg);

#endif
