/* export.c - `taskfarm export`: a result file as CSV, TSV or JSON lines, one row per task
 * (its id, the /tasks columns, then /params and /results), for tools that read no HDF5.
 */
#include "export.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "h5out.h"
#include "util.h"
#include "writes.h"

#define BLOCK 4096

static void put_csv(FILE *f, const char *v)
{
    if (v == NULL)
        return;
    size_t n = strlen(v);
    if (strpbrk(v, ",\"\r\n") == NULL && !(n > 0 && (v[0] == ' ' || v[n - 1] == ' '))) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', f);
        fputc(*v, f);
    }
    fputc('"', f);
}

static void put_tsv(FILE *f, const char *v)
{
    for (; v && *v; v++)
        if (*v == '\t')
            fputs("\\t", f);
        else if (*v == '\n')
            fputs("\\n", f);
        else if (*v == '\r')
            fputs("\\r", f);
        else if (*v == '\\')
            fputs("\\\\", f);
        else
            fputc(*v, f);
}

static void put_json_string(FILE *f, const char *v)
{
    fputc('"', f);
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void put_row(FILE *f, enum tf_export_format fmt, const struct tf_h5table *t, uint64_t id,
                    char **cells)
{
    int n = tf_h5table_cols(t);
    if (fmt == TF_EXPORT_JSON_LINES) {
        fprintf(f, "{\"id\": %llu", (unsigned long long)id);
        for (int c = 0; c < n; c++) {
            fputs(", ", f);
            put_json_string(f, tf_h5table_name(t, c));
            fputs(": ", f);
            if (cells[c] == NULL)
                fputs("null", f);
            else if (tf_h5table_numeric(t, c))
                fputs(cells[c], f);
            else
                put_json_string(f, cells[c]);
        }
        fputs("}\n", f);
        return;
    }
    char sep = fmt == TF_EXPORT_CSV ? ',' : '\t';
    fprintf(f, "%llu", (unsigned long long)id);
    for (int c = 0; c < n; c++) {
        fputc(sep, f);
        (fmt == TF_EXPORT_CSV ? put_csv : put_tsv)(f, cells[c]);
    }
    fputc('\n', f);
}

static void put_header(FILE *f, enum tf_export_format fmt, const struct tf_h5table *t)
{
    if (fmt == TF_EXPORT_JSON_LINES)
        return;
    fputs("id", f);
    for (int c = 0; c < tf_h5table_cols(t); c++) {
        fputc(fmt == TF_EXPORT_CSV ? ',' : '\t', f);
        (fmt == TF_EXPORT_CSV ? put_csv : put_tsv)(f, tf_h5table_name(t, c));
    }
    fputc('\n', f);
}

FILE *tf_output_begin(const char *path, char **tmp, char *err, size_t errlen)
{
    struct stat st;
    *tmp = NULL;
    if (lstat(path, &st) == 0) {
        snprintf(err, errlen, "cannot create '%s': it exists (choose another name, or remove it)",
                 path);
        return NULL;
    }
    *tmp = tf_temp_name_for(path);
    FILE *f = fopen(*tmp, "wx");
    if (f == NULL) {
        snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
        free(*tmp);
        *tmp = NULL;
        return NULL;
    }
    tf_writes_remove_on_signal(*tmp); /* a Ctrl-C leaves nothing behind either */
    return f;
}

int tf_output_finish(FILE *f, char *tmp, const char *path, bool ok, char *err, size_t errlen)
{
    bool bad = ferror(f) != 0;
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    int rc = 0;
    if (!ok || bad) {
        snprintf(err, errlen, "writing '%s' failed; nothing was left behind", path);
        rc = -1;
    } else if (link(tmp, path) != 0) { /* link, not rename: never replaces a file */
        snprintf(err, errlen, "cannot create '%s': %s", path,
                 errno == EEXIST ? "it appeared meanwhile" : strerror(errno));
        rc = -1;
    }
    unlink(tmp);
    tf_writes_forget();
    free(tmp);
    return rc;
}

int tf_export_run(const char *path, enum tf_export_format fmt, const char *output)
{
    char err[1200];
    struct tf_h5table *t;
    if (tf_h5table_open(path, &t, err, sizeof err) != TF_OK) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        return TF_EXIT_USAGE;
    }
    char *tmp = NULL;
    FILE *f = output ? tf_output_begin(output, &tmp, err, sizeof err) : stdout;
    if (f == NULL) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        tf_h5table_close(t);
        return TF_EXIT_USAGE;
    }
    int ncols = tf_h5table_cols(t);
    char **cells = tf_xcalloc((size_t)BLOCK * (size_t)(ncols ? ncols : 1), sizeof *cells);
    enum tf_status st = TF_OK;
    put_header(f, fmt, t);
    for (uint64_t at = 0; at < tf_h5table_rows(t) && st == TF_OK; at += BLOCK) {
        size_t n = tf_h5table_rows(t) - at < BLOCK ? (size_t)(tf_h5table_rows(t) - at) : BLOCK;
        st = tf_h5table_read(t, at, n, cells, err, sizeof err);
        for (size_t r = 0; r < n; r++) {
            if (st == TF_OK)
                put_row(f, fmt, t, at + r, cells + r * (size_t)ncols);
            for (int c = 0; c < ncols; c++) {
                free(cells[r * (size_t)ncols + (size_t)c]);
                cells[r * (size_t)ncols + (size_t)c] = NULL;
            }
        }
    }
    free(cells);
    tf_h5table_close(t);
    char werr[1200] = "writing the output failed";
    bool bad = output ? tf_output_finish(f, tmp, output, st == TF_OK, werr, sizeof werr) != 0
                      : (ferror(f) != 0 || fflush(f) != 0);
    if (st != TF_OK || bad) {
        fprintf(stderr, "taskfarm: error: exporting %s failed (%s)%s\n", path,
                st != TF_OK ? err : werr, output ? "; no output file was left" : "");
        return TF_EXIT_INTERNAL;
    }
    return TF_EXIT_OK;
}
