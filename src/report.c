/* report.c - a run's timeline, duration histogram and utilisation as SVG (alone, or inside
 * a small HTML page), computed from the result file's rank, slot, start, end and status
 * columns: a lane per task slot, grouped by rank (and named by its host).
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export.h"
#include "h5out.h"
#include "task.h"
#include "util.h"

#define WIDTH               1200.0
#define LEFT                80.0 /* lane labels */
#define PLOT_W              (WIDTH - LEFT - 20.0)
#define LANE_MAX_H          18.0
#define LANES_H             420.0 /* the timeline's height at most */
#define HIST_BINS           40
#define UTIL_BINS           300
#define MARKER              "#123456" /* one per lane at its left edge: tests count lanes by it */
#define TF_REPORT_MAX_RANKS 65536
/* Lanes drawn at most: past this a lane is under half a pixel, and one lane per slot of a
 * huge layout would write gigabytes (H3). The report says when lanes were left out. */
#define TF_REPORT_MAX_LANES 1024
/* Times a task can have: seconds since the epoch, from 1970 to about the year 33000. */
#define TF_REPORT_MAX_TIME 1e12

/* By status: NOT_RUN grey, SUCCEEDED green, FAILED red, KILLED purple, TIMED_OUT orange,
 * LOST brown (none of them the histogram's blue). */
static const char *const colours[TF_TASK_STATUS_COUNT] = {"#bdbdbd", "#2e7d32", "#c62828",
                                                          "#6a1b9a", "#ef6c00", "#795548"};

struct bar {
    int32_t rank, slot;
    int8_t status;
    double start, end;
    uint64_t id;
};

/* A lane: one slot of one rank. */
struct lane {
    int32_t rank, slot;
};

struct data {
    struct bar *v;
    size_t n, cap;
    struct lane *lanes; /* sorted by rank, then slot; at most TF_REPORT_MAX_LANES */
    int nlanes;
    uint64_t all_lanes; /* lanes there were, drawn or not */
    uint64_t odd;       /* tasks with impossible times (inf, NaN, end before start): not drawn */
    char (*hosts)[64];  /* per lane: its rank's host, "" when not known (or not the first) */
    uint64_t total, counts[TF_TASK_STATUS_COUNT];
    double t0, t1;
};

static void take(const struct tf_timing *t, void *arg)
{
    struct data *d = arg;
    d->total++;
    int st = t->status >= 0 && t->status < TF_TASK_STATUS_COUNT ? t->status : 0;
    d->counts[st]++;
    if (st == TF_TASK_NOT_RUN || t->rank < 0)
        return;
    /* RATIONALE: an infinite time made the histogram index (int)NaN (C1) */
    if (!(t->start >= 0 && t->start <= TF_REPORT_MAX_TIME && t->end >= t->start &&
          t->end <= TF_REPORT_MAX_TIME)) {
        d->odd++;
        return;
    }
    if (d->n == d->cap) {
        d->cap = d->cap ? 2 * d->cap : 1024;
        d->v = tf_xrealloc(d->v, d->cap * sizeof *d->v);
    }
    d->v[d->n++] =
        (struct bar){t->rank, t->slot < 0 ? 0 : t->slot, (int8_t)st, t->start, t->end, t->id};
    d->t0 = d->n == 1 || t->start < d->t0 ? t->start : d->t0;
    d->t1 = d->n == 1 || t->end > d->t1 ? t->end : d->t1;
}

static int by_lane(const void *a, const void *b)
{
    const struct bar *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int lane_cmp(const struct lane *x, const struct lane *y)
{
    return x->rank != y->rank ? (x->rank < y->rank ? -1 : 1)
                              : (x->slot != y->slot ? (x->slot < y->slot ? -1 : 1) : 0);
}

static void add_lane(struct data *d, int32_t rank, int32_t slot, int *cap)
{
    if (d->nlanes > 0 && d->lanes[d->nlanes - 1].rank == rank &&
        d->lanes[d->nlanes - 1].slot == slot)
        return;
    d->all_lanes++;
    if (d->nlanes == TF_REPORT_MAX_LANES)
        return; /* counted, not drawn */
    if (d->nlanes == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        d->lanes = tf_xrealloc(d->lanes, (size_t)*cap * sizeof *d->lanes);
    }
    d->lanes[d->nlanes++] = (struct lane){rank, slot};
}

/* The lanes: every slot some task ran in, and every slot of the last run's layout
 * (slots_per_rank), so an idle slot shows as an empty lane. Bars sorted by lane. */
static void make_lanes(struct data *d, const int32_t *slots_per_rank, int nranks)
{
    if (d->n > 0) /* qsort(NULL, 0) is undefined (C11) */
        qsort(d->v, d->n, sizeof *d->v, by_lane);
    int cap = 0;
    struct lane *layout = tf_xmalloc(TF_REPORT_MAX_LANES * sizeof *layout);
    size_t nl = 0;
    uint64_t layout_lanes = 0;
    for (int r = 0; r < nranks; r++) {
        layout_lanes += (uint64_t)(slots_per_rank[r] > 0 ? slots_per_rank[r] : 0);
        for (int k = 0; k < slots_per_rank[r] && nl < TF_REPORT_MAX_LANES; k++)
            layout[nl++] = (struct lane){r, k};
    }
    size_t i = 0, j = 0; /* merge two sorted lists */
    while (i < d->n || j < nl) {
        struct lane bar = i < d->n ? (struct lane){d->v[i].rank, d->v[i].slot} : (struct lane){0};
        if (j >= nl || (i < d->n && lane_cmp(&bar, &layout[j]) <= 0)) {
            add_lane(d, bar.rank, bar.slot, &cap);
            i++;
        } else {
            add_lane(d, layout[j].rank, layout[j].slot, &cap);
            j++;
        }
    }
    free(layout);
    if (d->nlanes == 0)
        add_lane(d, 0, 0, &cap);
    if (layout_lanes > d->all_lanes) /* the layout's lanes past those listed */
        d->all_lanes = layout_lanes;
}

/* The host of each rank's first lane: from the first task that rank ran. */
static void name_hosts(struct data *d, const char *path)
{
    d->hosts = tf_xcalloc((size_t)d->nlanes, sizeof *d->hosts);
    size_t at = 0;
    for (int l = 0; l < d->nlanes; l++) {
        if (l > 0 && d->lanes[l - 1].rank == d->lanes[l].rank)
            continue;
        while (at < d->n && d->v[at].rank < d->lanes[l].rank)
            at++;
        struct tf_result r;
        if (at < d->n && d->v[at].rank == d->lanes[l].rank &&
            tf_h5out_read_rows(path, d->v[at].id, 1, &r, NULL) == TF_OK) {
            snprintf(d->hosts[l], sizeof d->hosts[l], "%s", r.host ? r.host : "");
            tf_result_fini(&r);
        }
    }
}

static void xml_text(FILE *f, const char *p)
{
    for (; *p; p++)
        fputs(*p == '<' ? "&lt;" : *p == '&' ? "&amp;" : *p == '>' ? "&gt;" : (char[2]){*p, 0}, f);
}

/* Bars of one lane, neighbours of one colour closer than half a pixel drawn as one: a
 * million tasks make at most a few thousand rectangles per lane. */
static void draw_lane(FILE *f, const struct bar *b, size_t n, double y, double h, double t0,
                      double scale)
{
    size_t i = 0;
    while (i < n) {
        double x0 = (b[i].start - t0) * scale, x1 = (b[i].end - t0) * scale;
        size_t j = i + 1;
        while (j < n && b[j].status == b[i].status && (b[j].start - t0) * scale - x1 < 0.5) {
            double e = (b[j].end - t0) * scale;
            x1 = e > x1 ? e : x1;
            j++;
        }
        fprintf(f, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"/>\n",
                LEFT + x0, y, x1 - x0 < 0.5 ? 0.5 : x1 - x0, h, colours[b[i].status]);
        i = j;
    }
}

/* A lane's label: "rank R host" on the first slot of a rank, "slot S" on the others. */
static void lane_label(FILE *f, const struct data *d, int lane, double y)
{
    const struct lane *l = &d->lanes[lane];
    fprintf(f, "<text x=\"14\" y=\"%.2f\" class=\"s\">", y);
    if (lane == 0 || d->lanes[lane - 1].rank != l->rank) {
        fprintf(f, "rank %d", (int)l->rank);
        if (d->hosts && d->hosts[lane][0]) {
            fputs(" ", f);
            xml_text(f, d->hosts[lane]);
        }
    } else {
        fprintf(f, "slot %d", (int)l->slot);
    }
    fputs("</text>\n", f);
}

static double timeline(FILE *f, struct data *d, double top)
{
    int lanes = d->nlanes;
    double h = LANES_H / lanes < LANE_MAX_H ? LANES_H / lanes : LANE_MAX_H;
    double span = d->t1 > d->t0 ? d->t1 - d->t0 : 1, scale = PLOT_W / span;
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" class=\"h\">Timeline: one lane per task slot, grouped "
            "by rank; one bar per task (%.1f s)</text>\n",
            LEFT, top + 14, span);
    top += 24;
    size_t at = 0;
    for (int lane = 0; lane < lanes; lane++) {
        const struct lane *l = &d->lanes[lane];
        double y = top + lane * h;
        fprintf(f, "<rect x=\"%.0f\" y=\"%.2f\" width=\"%.0f\" height=\"%.2f\" fill=\"%s\"/>\n",
                LEFT, y, PLOT_W, h, l->rank % 2 ? "#ffffff" : "#f3f3f3");
        fprintf(f, "<rect x=\"2\" y=\"%.2f\" width=\"8\" height=\"%.2f\" fill=\"" MARKER "\"/>\n",
                y + h * 0.2, h * 0.6 < 1 ? 1 : h * 0.6);
        if (h >= 9)
            lane_label(f, d, lane, y + h * 0.75);
        size_t from = at;
        while (at < d->n && d->v[at].rank == l->rank && d->v[at].slot == l->slot)
            at++;
        draw_lane(f, d->v + from, at - from, y + 1, h - 2 > 1 ? h - 2 : 1, d->t0, scale);
    }
    return top + lanes * h + 16;
}

static double histogram(FILE *f, const struct data *d, double top)
{
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < d->n; i++) {
        double s = d->v[i].end - d->v[i].start;
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    uint64_t bins[HIST_BINS] = {0}, most = 1;
    double width = hi > lo ? (hi - lo) / HIST_BINS : 1;
    for (size_t i = 0; i < d->n; i++) {
        double x = (d->v[i].end - d->v[i].start - lo) / width; /* clamped before the cast */
        int b = x >= HIST_BINS - 1 ? HIST_BINS - 1 : x > 0 ? (int)x : 0;
        bins[b]++;
    }
    for (int b = 0; b < HIST_BINS; b++)
        most = bins[b] > most ? bins[b] : most;
    fprintf(f,
            "<text x=\"%.0f\" y=\"%.0f\" class=\"h\">Task durations: %.3g s to %.3g s, %d "
            "bins</text>\n",
            LEFT, top + 14, d->n ? lo : 0, hi, HIST_BINS);
    top += 24;
    double bw = PLOT_W / HIST_BINS, hh = 120;
    for (int b = 0; b < HIST_BINS; b++) {
        double h = hh * (double)bins[b] / (double)most;
        fprintf(f,
                "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#1565c0\">"
                "<title>%.3g-%.3g s: %llu tasks</title></rect>\n",
                LEFT + b * bw + 1, top + hh - h, bw - 2, h, lo + b * width, lo + (b + 1) * width,
                (unsigned long long)bins[b]);
    }
    return top + hh + 24;
}

static double utilisation(FILE *f, const struct data *d, double top, int workers)
{
    double busy[UTIL_BINS] = {0}, span = d->t1 > d->t0 ? d->t1 - d->t0 : 1;
    double bin = span / UTIL_BINS;
    for (size_t i = 0; i < d->n; i++) /* each task's seconds spread over the bins it covers */
        for (int b = (int)fmin((d->v[i].start - d->t0) / bin, UTIL_BINS); b < UTIL_BINS; b++) {
            double b0 = d->t0 + b * bin, b1 = b0 + bin;
            double s = d->v[i].start > b0 ? d->v[i].start : b0,
                   e = d->v[i].end < b1 ? d->v[i].end : b1;
            if (e <= b0 && b0 > d->v[i].end)
                break;
            busy[b] += e > s ? e - s : 0;
        }
    double hh = 100;
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"h\">Slots busy over time (of %d)</text>\n",
            LEFT, top + 14, workers);
    top += 24;
    fprintf(f, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#f3f3f3\"/>\n",
            LEFT, top, PLOT_W, hh);
    fprintf(f, "<polyline fill=\"none\" stroke=\"#2e7d32\" stroke-width=\"1.5\" points=\"");
    for (int b = 0; b < UTIL_BINS; b++) {
        double share = busy[b] / (bin * (workers > 0 ? workers : 1));
        fprintf(f, "%.1f,%.1f ", LEFT + (b + 0.5) * PLOT_W / UTIL_BINS,
                top + hh - hh * (share > 1 ? 1 : share));
    }
    fprintf(f, "\"/>\n");
    return top + hh + 20;
}

static void legend(FILE *f, const struct data *d, const char *path, double y)
{
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" class=\"t\">", LEFT, y);
    xml_text(f, path);
    fprintf(f, ": %llu tasks", (unsigned long long)d->total);
    if (d->all_lanes > (uint64_t)d->nlanes)
        fprintf(f, "; the first %d of %llu slots drawn", d->nlanes,
                (unsigned long long)d->all_lanes);
    if (d->odd > 0)
        fprintf(f, "; %llu with impossible start or end times not drawn",
                (unsigned long long)d->odd);
    fputs("</text>\n", f);
    double x = LEFT; /* 6 entries of 180 px fit the 1200 px width */
    for (int s = 1; s < TF_TASK_STATUS_COUNT + 1; s++) {
        int st = s % TF_TASK_STATUS_COUNT;
        fprintf(f,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                "<text x=\"%.0f\" y=\"%.0f\" class=\"s\">%s %llu</text>\n",
                x, y + 10, colours[st], x + 16, y + 21, tf_task_status_name(st),
                (unsigned long long)d->counts[st]);
        x += 180;
    }
}

static void write_svg(FILE *f, struct data *d, const char *path, int workers)
{
    double lane_h = LANES_H / d->nlanes < LANE_MAX_H ? LANES_H / d->nlanes : LANE_MAX_H;
    double height = 50 + 24 + d->nlanes * lane_h + 16 + 168 + 144 + 10;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
            "<style>.t{font-size:16px;font-weight:bold}.h{font-size:13px}.s{font-size:11px}"
            "</style>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
            WIDTH, height, WIDTH, height);
    legend(f, d, path, 20);
    double y = timeline(f, d, 50);
    y = histogram(f, d, y);
    utilisation(f, d, y, workers);
    fprintf(f, "</svg>\n");
}

int tf_report_run(const char *path, const char *output)
{
    char err[1200];
    struct data d = {0};
    if (tf_h5out_each_timing(path, take, &d, err, sizeof err) != TF_OK) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        free(d.v);
        return TF_EXIT_USAGE;
    }
    size_t len = strlen(output);
    bool svg = len > 4 && strcmp(output + len - 4, ".svg") == 0;
    char *tmp; /* a killed report leaves no partial file (H3) */
    FILE *f = tf_output_begin(output, &tmp, err, sizeof err);
    if (f == NULL) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        free(d.v);
        return TF_EXIT_USAGE;
    }
    int32_t layout[TF_REPORT_MAX_RANKS];
    int nranks = tf_h5out_read_slots(path, layout, TF_REPORT_MAX_RANKS);
    make_lanes(&d, layout, nranks);
    name_hosts(&d, path);
    if (!svg)
        fprintf(
            f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>taskfarm report</title>"
               "</head>\n<body style=\"margin:0;background:#fff\">\n");
    write_svg(f, &d, path, d.all_lanes > INT32_MAX ? INT32_MAX : (int)d.all_lanes);
    if (!svg)
        fprintf(f, "</body></html>\n");
    free(d.v);
    free(d.lanes);
    free(d.hosts);
    if (tf_output_finish(f, tmp, output, true, err, sizeof err) != 0) {
        fprintf(stderr, "taskfarm: error: %s\n", err);
        return TF_EXIT_INTERNAL;
    }
    return TF_EXIT_OK;
}
