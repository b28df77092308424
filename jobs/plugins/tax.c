/* tax.c - a microsimulation in the spirit of the seed: for every household of a table in an
 * HDF5 file, a tax-and-benefit schedule gives its tax, benefit and net income.
 *
 *   /usr/bin/python3 jobs/plugins/make_households.py households.h5 1000000
 *   mpirun -n 3 taskfarm run --plugin build/plugins/libtax.so:tax \
 *       --items households.h5:/households --plugin-arg 1.02 -o tax.h5
 *   /usr/bin/python3 jobs/analysis/tax_summary.py households.h5 tax.h5
 *
 * The plugin says which fields of a household it reads (by name: HDF5 converts the file's
 * records, whatever their order or other fields) and what a result is (/results/tax, one
 * compound row per household). --plugin-arg scales the thresholds (indexation, default 1).
 * A household with a negative income is invalid: the function returns 1, the item is
 * recorded as failed, and the run goes on.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "taskfarm.h"

struct household {
    int64_t id;
    double income; /* gross, per year */
    int32_t adults;
    int32_t children;
};

struct tax_out {
    int64_t id;
    double tax;
    double benefit;
    double net_income;
    float avg_rate; /* tax / income */
};

struct schedule {
    double allowance, per_child_allowance;
    double band[2]; /* upper ends of the 20% and 40% bands */
    double rate[3];
    double child_benefit, taper_from, taper_rate;
};

static struct schedule sched = {12570, 3000, {50270, 125140}, {0.20, 0.40, 0.45}, 1800,
                                80000, 0.10};

int tax(const void *item, void *result, void *user);
int tax_setup(struct taskfarm_map *map, const char *arg);

static double income_tax(const struct schedule *s, double income, int children)
{
    double taxable = income - s->allowance - s->per_child_allowance * children, tax = 0, lo = 0;
    if (taxable <= 0)
        return 0;
    for (int b = 0; b < 3; b++) {
        double hi = b < 2 ? s->band[b] : taxable;
        if (taxable > lo)
            tax += ((taxable < hi ? taxable : hi) - lo) * s->rate[b];
        lo = hi;
    }
    return tax;
}

int tax(const void *item, void *result, void *user)
{
    const struct household *h = item;
    const struct schedule *s = user ? user : &sched;
    struct tax_out *out = result;
    out->id = h->id;
    if (h->income < 0 || h->adults < 1 || h->children < 0)
        return 1; /* an invalid record: failed, recorded, skipped */
    double benefit = s->child_benefit * h->children;
    if (h->income > s->taper_from)
        benefit -= (h->income - s->taper_from) * s->taper_rate;
    out->benefit = benefit > 0 ? benefit : 0;
    out->tax = income_tax(s, h->income / h->adults, h->children) * h->adults;
    out->net_income = h->income - out->tax + out->benefit;
    out->avg_rate = h->income > 0 ? (float)(out->tax / h->income) : 0.0f;
    return 0;
}

int tax_setup(struct taskfarm_map *map, const char *arg)
{
    double scale = arg ? strtod(arg, NULL) : 1.0;
    if (scale <= 0)
        return 1;
    sched.allowance *= scale;
    sched.per_child_allowance *= scale;
    sched.band[0] *= scale;
    sched.band[1] *= scale;
    sched.taper_from *= scale;
    static const struct taskfarm_field in[] = {
        TASKFARM_FIELD(struct household, id, TASKFARM_INT64),
        TASKFARM_FIELD(struct household, income, TASKFARM_DOUBLE),
        TASKFARM_FIELD(struct household, adults, TASKFARM_INT32),
        TASKFARM_FIELD(struct household, children, TASKFARM_INT32),
    };
    static const struct taskfarm_field out[] = {
        TASKFARM_FIELD(struct tax_out, id, TASKFARM_INT64),
        TASKFARM_FIELD(struct tax_out, tax, TASKFARM_DOUBLE),
        TASKFARM_FIELD(struct tax_out, benefit, TASKFARM_DOUBLE),
        TASKFARM_FIELD(struct tax_out, net_income, TASKFARM_DOUBLE),
        TASKFARM_FIELD(struct tax_out, avg_rate, TASKFARM_FLOAT),
    };
    int rc = taskfarm_map_item_type(map, sizeof(struct household), in, 4);
    if (rc == TASKFARM_OK)
        rc = taskfarm_map_result(map, "tax", sizeof(struct tax_out), out, 5);
    /* tax() only reads the schedule, fixed before the run: any number of threads at once */
    return rc == TASKFARM_OK ? taskfarm_map_thread_safe(map) : rc;
}
