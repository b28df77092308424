/* h5out_impl.h - PRIVATE to the result-file module (h5out.c, h5map.c, h5check.c, ...): the
 * HDF5 helpers they share. Other modules include h5out.h or h5map.h only.
 */
#ifndef TF_H5OUT_IMPL_H
#define TF_H5OUT_IMPL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "h5check.h"
#include "status.h"

/* Log or store (errmsg != NULL) "what: innermost HDF5 cause"; clears the stack. */
enum tf_status tf_h5_fail(const char *what, char *errmsg, size_t errlen);
struct tf_h5out;
hid_t tf_h5out_file(const struct tf_h5out *h); /* the open result file */
const char *tf_h5out_task_column(int i);       /* /tasks' columns in order; NULL past the end */
/* The type of /tasks' column i, as taskfarm writes it. */
enum tf_h5_kind { TF_H5_STR, TF_H5_I64, TF_H5_I32, TF_H5_I8, TF_H5_F64, TF_H5_STATUS };
enum tf_h5_kind tf_h5out_task_column_kind(int i);
hid_t tf_h5_str_type(void); /* variable-length UTF-8; caller closes */
/* Create or replace a scalar attribute. -1 on failure. */
int tf_h5_write_attr(hid_t loc, const char *name, hid_t type, const void *value);
/* A 1-D attribute of n values, replacing one of that name (-1: failed). */
int tf_h5_write_attr_array(hid_t loc, const char *name, hid_t type, const void *values, int n);
/* Read a one-value attribute (scalar or one element) of the right class (h5check.c); -1 when
 * absent or of another shape or class, and nothing is written to *v then. */
int tf_h5_read_attr_str(hid_t loc, const char *name, char *out, size_t outlen);
int tf_h5_read_attr_i64(hid_t loc, const char *name, int64_t *v);
int tf_h5_read_attr_f64(hid_t loc, const char *name, double *v);
/* The Slurm job this run is part of, as root attributes slurm_* (see slurmenv.h), and its id
 * appended to slurm_job_ids; nothing outside Slurm. -1 on failure. */
int tf_h5_note_slurm(hid_t file);

#endif
