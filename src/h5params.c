/* h5params.c - the typed tables beside /tasks, in its row order: /params (a sweep's
 * parameters) and /results (values collected from tasks' output), so results group by
 * parameter without parsing command lines or output.
 */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>

#include "h5out.h"
#include "h5out_impl.h"
#include "util.h"

/* One typed 1-D column of n values, value(i) as text (NULL: missing, NaN or ""). */
static int write_column(hid_t group, const char *name, enum tf_param_type type, uint64_t n,
                        const char *(*value)(const void *src, uint64_t i), const void *src)
{
    hsize_t dims = n;
    hid_t space = H5Screate_simple(1, &dims, NULL);
    hid_t ftype = type == TF_PARAM_INT     ? H5Tcopy(H5T_STD_I64LE)
                  : type == TF_PARAM_FLOAT ? H5Tcopy(H5T_IEEE_F64LE)
                                           : tf_h5_str_type();
    hid_t mtype = type == TF_PARAM_INT     ? H5Tcopy(H5T_NATIVE_INT64)
                  : type == TF_PARAM_FLOAT ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                           : tf_h5_str_type();
    hid_t d = H5Dcreate2(group, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    void *buf = tf_xmalloc(n ? n * 8 : 8);
    for (uint64_t i = 0; i < n; i++) {
        const char *v = value(src, i);
        if (type == TF_PARAM_INT)
            ((int64_t *)buf)[i] = v ? strtoll(v, NULL, 10) : 0;
        else if (type == TF_PARAM_FLOAT)
            ((double *)buf)[i] = v ? strtod(v, NULL) : NAN;
        else
            ((const char **)buf)[i] = v ? v : "";
    }
    int rc =
        d < 0 || (n > 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) ? -1 : 0;
    free(buf);
    if (d >= 0)
        H5Dclose(d);
    H5Tclose(ftype);
    H5Tclose(mtype);
    H5Sclose(space);
    return rc;
}

/* A group whose members list in creation order (the table's column order). */
static hid_t ordered_group(hid_t file, const char *name)
{
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

struct param_col {
    const struct tf_params *p;
    int col;
    uint64_t first;
};

static const char *param_value(const void *src, uint64_t i)
{
    const struct param_col *pc = src;
    return tf_params_value(pc->p, pc->first + i, pc->col);
}

struct result_col {
    const struct tf_collect *c;
    int k;
};

static const char *result_value(const void *src, uint64_t i)
{
    const struct result_col *rc = src;
    return tf_collect_value(rc->c, rc->k, i);
}

enum tf_status tf_h5out_put_params(struct tf_h5out *h, const struct tf_params *p, uint64_t first,
                                   uint64_t n)
{
    hid_t file = tf_h5out_file(h);
    if (H5Lexists(file, "params", H5P_DEFAULT) > 0)
        return TF_OK; /* a resumed run: written by the first */
    hid_t g = ordered_group(file, "params");
    int rc = g < 0 ? -1 : 0;
    for (int c = 0; c < tf_params_cols(p) && rc == 0; c++) {
        struct param_col pc = {p, c, first};
        rc = write_column(g, tf_params_name(p, c), tf_params_type(p, c), n, param_value, &pc);
    }
    if (g >= 0)
        H5Gclose(g);
    return rc == 0 ? TF_OK : tf_h5_fail("writing /params to the result file", NULL, 0);
}

enum tf_status tf_h5out_put_results(struct tf_h5out *h, const struct tf_collect *c)
{
    hid_t file = tf_h5out_file(h);
    if (H5Lexists(file, "results", H5P_DEFAULT) > 0 && H5Ldelete(file, "results", H5P_DEFAULT) < 0)
        return tf_h5_fail("replacing /results in the result file", NULL, 0);
    hid_t g = ordered_group(file, "results");
    int rc = g < 0 ? -1 : 0;
    for (int k = 0; k < tf_collect_keys(c) && rc == 0; k++) {
        struct result_col col = {c, k};
        rc = write_column(g, tf_collect_key(c, k), tf_collect_type(c, k), tf_collect_rows(c),
                          result_value, &col);
    }
    if (g >= 0)
        H5Gclose(g);
    return rc == 0 ? TF_OK : tf_h5_fail("writing /results to the result file", NULL, 0);
}
