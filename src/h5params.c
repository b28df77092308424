/* h5params.c - /params of a result file: one typed column per sweep parameter, beside
 * /tasks and in its row order, so results group by parameter without parsing commands.
 */
#include <hdf5.h>
#include <stdlib.h>

#include "h5out.h"
#include "h5out_impl.h"
#include "util.h"

static int write_column(hid_t group, const struct tf_params *p, int col, uint64_t first, uint64_t n)
{
    enum tf_param_type type = tf_params_type(p, col);
    hsize_t dims = n;
    hid_t space = H5Screate_simple(1, &dims, NULL);
    hid_t ftype = type == TF_PARAM_INT     ? H5Tcopy(H5T_STD_I64LE)
                  : type == TF_PARAM_FLOAT ? H5Tcopy(H5T_IEEE_F64LE)
                                           : tf_h5_str_type();
    hid_t mtype = type == TF_PARAM_INT     ? H5Tcopy(H5T_NATIVE_INT64)
                  : type == TF_PARAM_FLOAT ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                           : tf_h5_str_type();
    hid_t d = H5Dcreate2(group, tf_params_name(p, col), ftype, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    void *buf = tf_xmalloc(n ? n * 8 : 8);
    for (uint64_t i = 0; i < n; i++) {
        const char *v = tf_params_value(p, first + i, col);
        if (type == TF_PARAM_INT)
            ((int64_t *)buf)[i] = strtoll(v, NULL, 10);
        else if (type == TF_PARAM_FLOAT)
            ((double *)buf)[i] = strtod(v, NULL);
        else
            ((const char **)buf)[i] = v;
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

enum tf_status tf_h5out_put_params(struct tf_h5out *h, const struct tf_params *p, uint64_t first,
                                   uint64_t n)
{
    hid_t file = tf_h5out_file(h);
    htri_t have = H5Lexists(file, "params", H5P_DEFAULT);
    if (have > 0)
        return TF_OK;                         /* a resumed run: written by the first */
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE); /* columns listed in the table's order */
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    hid_t g = H5Gcreate2(file, "params", H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    int rc = g < 0 ? -1 : 0;
    for (int c = 0; c < tf_params_cols(p) && rc == 0; c++)
        rc = write_column(g, p, c, first, n);
    if (g >= 0)
        H5Gclose(g);
    return rc == 0 ? TF_OK : tf_h5_fail("writing /params to the result file", NULL, 0);
}
