/* test_ledger.c - the master's ledger (ledger.h): which results and releases are accepted,
 * what a lost worker held, loss counters, many workers, a randomized comparison with a
 * plain array model, and the cost per task (it must stay well under a microsecond).
 */
#include <time.h>

#include "ledger.h"
#include "tf_check.h"

/* In loops: ck_assert costs a write to a pipe each time (Check's mark point), this only on
 * failure. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond);                                  \
    } while (0)

/* A task sent to w, with where it is in the file and its runs made up from its id. */
static void assign(struct tf_ledger *l, int w, uint64_t id)
{
    struct tf_ledger_task t = {.id = id,
                               .line = id + 1,
                               .offset = 100 * id,
                               .attempts = (int32_t)(id % 3),
                               .started = true};
    tf_ledger_assigned(l, w, &t);
}

static void check_payload(const struct tf_ledger_task *t)
{
    CHECK(t->line == t->id + 1 && t->offset == 100 * t->id && t->attempts == (int32_t)(t->id % 3));
}

START_TEST(result_accepted_once_from_its_holder)
{
    struct tf_ledger *l = tf_ledger_new(3);
    assign(l, 0, 7);
    assign(l, 1, 8);
    ck_assert_int_eq(tf_ledger_holder(l, 7), 0);
    ck_assert(!tf_ledger_result(l, 1, 7)); /* the wrong worker */
    ck_assert(!tf_ledger_result(l, 2, 9)); /* never assigned */
    ck_assert(tf_ledger_result(l, 0, 7));
    ck_assert(!tf_ledger_result(l, 0, 7)); /* a duplicate */
    ck_assert_int_eq(tf_ledger_holder(l, 7), -1);
    ck_assert_uint_eq(tf_ledger_outstanding(l, 0), 0);
    ck_assert_uint_eq(tf_ledger_outstanding(l, 1), 1);
    ck_assert_uint_eq(tf_ledger_total(l), 1);
    ck_assert(!tf_ledger_result(l, -1, 8) && !tf_ledger_result(l, 3, 8)); /* no such worker */
    assign(l, 5, 8); /* ignored: no such worker */
    ck_assert_int_eq(tf_ledger_holder(l, 8), 1);
    tf_ledger_free(l);
    tf_ledger_free(NULL);
}
END_TEST

START_TEST(release_then_reassign)
{
    struct tf_ledger *l = tf_ledger_new(2);
    assign(l, 0, 1);
    ck_assert(tf_ledger_released(l, 0, 1)); /* stolen from 0 */
    ck_assert(!tf_ledger_released(l, 0, 1));
    assign(l, 1, 1); /* ... handed to 1 */
    ck_assert(!tf_ledger_result(l, 0, 1));
    ck_assert(tf_ledger_result(l, 1, 1));
    /* assigned again while still held elsewhere: the newest holder wins */
    assign(l, 0, 2);
    tf_ledger_assigned(l, 1, &(struct tf_ledger_task){.id = 2, .line = 9, .attempts = 4});
    ck_assert_uint_eq(tf_ledger_outstanding(l, 0), 0);
    ck_assert(!tf_ledger_result(l, 0, 2));
    struct tf_ledger_task *ids;
    ck_assert_uint_eq(tf_ledger_take_lost(l, 1, &ids), 1);
    ck_assert_uint_eq(ids[0].line, 9); /* the newest assignment's */
    ck_assert_int_eq(ids[0].attempts, 4);
    free(ids);
    tf_ledger_free(l);
}
END_TEST

START_TEST(late_result_after_loss_is_refused)
{
    struct tf_ledger *l = tf_ledger_new(2);
    for (uint64_t id = 10; id > 0; id--) /* out of order: take_lost sorts */
        assign(l, id % 2, id);
    ck_assert(tf_ledger_result(l, 0, 4));
    struct tf_ledger_task *ids;
    size_t n = tf_ledger_take_lost(l, 0, &ids);
    ck_assert_uint_eq(n, 4);
    const uint64_t want[4] = {2, 6, 8, 10};
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(ids[i].id, want[i]);
        check_payload(&ids[i]);
        ck_assert(!ids[i].started); /* assigned's `started` is not taken */
    }
    free(ids);
    ck_assert_uint_eq(tf_ledger_outstanding(l, 0), 0);
    ck_assert_uint_eq(tf_ledger_outstanding(l, 1), 5);
    ck_assert(!tf_ledger_result(l, 0, 6));   /* the dead worker's late result */
    ck_assert(!tf_ledger_released(l, 0, 8)); /* ... or release */
    assign(l, 1, 6);                         /* reassigned */
    ck_assert(!tf_ledger_result(l, 0, 6));
    ck_assert(tf_ledger_result(l, 1, 6));
    ck_assert_uint_eq(tf_ledger_losses(l, 6), 1);
    ck_assert_uint_eq(tf_ledger_losses(l, 4), 0); /* its result arrived before */
    ck_assert_uint_eq(tf_ledger_losses(l, 5), 0);
    /* nothing held: nothing taken, no allocation */
    n = tf_ledger_take_lost(l, 0, &ids);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(ids);
    /* the worker came back: it holds only what it is sent from now on */
    assign(l, 0, 11);
    ck_assert(tf_ledger_result(l, 0, 11));
    tf_ledger_free(l);
}
END_TEST

START_TEST(loss_counters_persist)
{
    struct tf_ledger *l = tf_ledger_new(3);
    struct tf_ledger_task *ids;
    assign(l, 0, 42);
    assign(l, 0, 43);
    ck_assert_uint_eq(tf_ledger_take_lost(l, 0, &ids), 2);
    free(ids);
    assign(l, 1, 42);
    ck_assert_uint_eq(tf_ledger_take_lost(l, 1, &ids), 1);
    free(ids);
    ck_assert_uint_eq(tf_ledger_losses(l, 42), 2);
    ck_assert_uint_eq(tf_ledger_losses(l, 43), 1);
    assign(l, 2, 43);
    ck_assert(tf_ledger_result(l, 2, 43));
    ck_assert_uint_eq(tf_ledger_losses(l, 43), 1); /* a result does not reset it */
    ck_assert_uint_eq(tf_ledger_losses(l, 44), 0);
    tf_ledger_free(l);
}
END_TEST

START_TEST(only_started_tasks_count_when_starts_are_tracked)
{
    struct tf_ledger *l = tf_ledger_new(2);
    tf_ledger_track_starts(l);
    for (uint64_t id = 0; id < 4; id++)
        assign(l, 0, id);
    ck_assert(tf_ledger_started(l, 0, 1));
    ck_assert(!tf_ledger_started(l, 1, 2)); /* not held there */
    ck_assert(!tf_ledger_started(l, 0, 9));
    struct tf_ledger_task *ids;
    ck_assert_uint_eq(tf_ledger_take_lost(l, 0, &ids), 4); /* all go back ... */
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(ids[i].started, ids[i].id == 1);
    free(ids);
    for (uint64_t id = 0; id < 4; id++) /* ... only the running one counts as lost */
        ck_assert_uint_eq(tf_ledger_losses(l, id), id == 1);
    assign(l, 1, 1); /* a new holder starts it afresh */
    ck_assert_uint_eq(tf_ledger_take_lost(l, 1, &ids), 1);
    free(ids);
    ck_assert_uint_eq(tf_ledger_losses(l, 1), 1);
    tf_ledger_free(l);
}
END_TEST

START_TEST(ended_runs_go_back_without_blame)
{
    struct tf_ledger *l = tf_ledger_new(2);
    tf_ledger_track_starts(l);
    for (uint64_t id = 0; id < 3; id++)
        assign(l, 0, id);
    ck_assert(tf_ledger_started(l, 0, 0));
    ck_assert(tf_ledger_started(l, 0, 1));
    ck_assert(!tf_ledger_ended(l, 0, 2)); /* never started */
    ck_assert(!tf_ledger_ended(l, 1, 0)); /* not held there */
    ck_assert(tf_ledger_ended(l, 0, 0));  /* its result was on the way */
    struct tf_ledger_task *t;
    ck_assert_uint_eq(tf_ledger_take_lost(l, 0, &t), 3);
    ck_assert(t[0].started && t[0].ended); /* back, one more start, no blame */
    ck_assert(t[1].started && !t[1].ended);
    ck_assert(!t[2].started && !t[2].ended);
    free(t);
    ck_assert_uint_eq(tf_ledger_losses(l, 0), 0);
    ck_assert_uint_eq(tf_ledger_losses(l, 1), 1);
    ck_assert_uint_eq(tf_ledger_losses(l, 2), 0);
    assign(l, 1, 0); /* sent again: a new run, not ended */
    ck_assert(tf_ledger_started(l, 1, 0));
    ck_assert_uint_eq(tf_ledger_take_lost(l, 1, &t), 1);
    ck_assert(!t[0].ended);
    free(t);
    ck_assert_uint_eq(tf_ledger_losses(l, 0), 1);
    tf_ledger_free(l);
}
END_TEST

START_TEST(many_workers)
{
    const int nw = 5000;
    struct tf_ledger *l = tf_ledger_new(nw);
    for (uint64_t id = 0; id < 200000; id++)
        assign(l, (int)(id % (uint64_t)nw), id);
    ck_assert_uint_eq(tf_ledger_total(l), 200000);
    for (int w = 0; w < nw; w += 2) {
        struct tf_ledger_task *ids;
        size_t n = tf_ledger_take_lost(l, w, &ids);
        ck_assert_uint_eq(n, 40);
        for (size_t i = 0; i < n; i++)
            CHECK(ids[i].id == (uint64_t)w + i * (uint64_t)nw);
        free(ids);
    }
    ck_assert_uint_eq(tf_ledger_total(l), 100000);
    for (uint64_t id = 0; id < 200000; id++)
        CHECK(tf_ledger_result(l, (int)(id % (uint64_t)nw), id) == (id % 2 == 1));
    ck_assert_uint_eq(tf_ledger_total(l), 0);
    tf_ledger_free(l);
}
END_TEST

/* The reference: for each id, who holds it (-1 none) and its losses, in plain arrays. */
#define MODEL_IDS 3000
#define MODEL_W   7

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

static void model_take_lost(struct tf_ledger *l, int holder[], uint32_t losses[], int w)
{
    struct tf_ledger_task *ids;
    size_t n = tf_ledger_take_lost(l, w, &ids), k = 0;
    for (uint64_t id = 0; id < MODEL_IDS; id++) {
        if (holder[id] != w)
            continue;
        CHECK(k < n);
        check_payload(&ids[k]);
        CHECK(ids[k++].id == id); /* sorted, exactly the held set */
        holder[id] = -1;
        losses[id]++;
    }
    ck_assert_uint_eq(k, n);
    free(ids);
}

START_TEST(randomized_against_a_model)
{
    static int holder[MODEL_IDS];
    static uint32_t losses[MODEL_IDS];
    for (uint64_t seed = 1; seed <= 5; seed++) {
        struct tf_ledger *l = tf_ledger_new(MODEL_W);
        uint64_t x = seed * 0x9E3779B97F4A7C15u, ops = 0;
        for (int i = 0; i < MODEL_IDS; i++)
            holder[i] = -1, losses[i] = 0;
        for (int step = 0; step < 400000; step++) {
            uint64_t r = rnd(&x), id = r % MODEL_IDS;
            int w = (int)((r >> 20) % MODEL_W);
            unsigned op = (unsigned)((r >> 40) % 100);
            if (op < 45) {
                assign(l, w, id);
                holder[id] = w;
            } else if (op < 90) { /* a result or a release, from the holder or anyone */
                int from = (r >> 50) % 2 && holder[id] >= 0 ? holder[id] : w;
                bool want = holder[id] == from;
                bool got =
                    op < 70 ? tf_ledger_result(l, from, id) : tf_ledger_released(l, from, id);
                CHECK(got == want);
                if (want)
                    holder[id] = -1;
            } else if (op == 90) {
                model_take_lost(l, holder, losses, w);
            } else {
                CHECK(tf_ledger_holder(l, id) == holder[id]);
                CHECK(tf_ledger_losses(l, id) == losses[id]);
            }
            ops++;
        }
        size_t total = 0;
        for (int w = 0; w < MODEL_W; w++) {
            size_t n = 0;
            for (int id = 0; id < MODEL_IDS; id++)
                n += holder[id] == w;
            ck_assert_uint_eq(tf_ledger_outstanding(l, w), n);
            total += n;
        }
        ck_assert_uint_eq(tf_ledger_total(l), total);
        for (uint64_t id = 0; id < MODEL_IDS; id++)
            CHECK(tf_ledger_losses(l, id) == losses[id]);
        for (int w = 0; w < MODEL_W; w++)
            model_take_lost(l, holder, losses, w);
        ck_assert_uint_eq(tf_ledger_total(l), 0);
        ck_assert_uint_gt(ops, 0);
        tf_ledger_free(l);
    }
}
END_TEST

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 10^6 tasks through 64 workers with 4096 in flight, in the master's order: assigned in
 * batches, results back in another order. The master spends about 4 us per task today. */
START_TEST(cost_per_task)
{
    const uint64_t n = 1000000, window = 4096;
    const int nw = 64;
    struct tf_ledger *l = tf_ledger_new(nw);
    uint64_t accepted = 0; /* no ck_assert in the loop: each one costs a write to a pipe */
    double t0 = seconds();
    for (uint64_t id = 0; id < n + window; id++) {
        if (id < n)
            assign(l, (int)((id / 16) % (uint64_t)nw), id);
        if (id >= window) {
            uint64_t back = id - window; /* results of a batch come back in reverse */
            back = (back & ~UINT64_C(15)) | (15 - (back & 15));
            accepted += tf_ledger_result(l, (int)((back / 16) % (uint64_t)nw), back);
        }
    }
    double per = (seconds() - t0) / (double)n;
    printf("ledger: %.0f ns per task (assigned + result), %d workers, %llu in flight\n", per * 1e9,
           nw, (unsigned long long)window);
    ck_assert_uint_eq(accepted, n);
    ck_assert_uint_eq(tf_ledger_total(l), 0);
    ck_assert_double_lt(per, 1e-6);
    tf_ledger_free(l);
}
END_TEST

static Suite *ledger_suite(void)
{
    Suite *s = suite_create("ledger");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, result_accepted_once_from_its_holder);
    tcase_add_test(tc, release_then_reassign);
    tcase_add_test(tc, late_result_after_loss_is_refused);
    tcase_add_test(tc, loss_counters_persist);
    tcase_add_test(tc, only_started_tasks_count_when_starts_are_tracked);
    tcase_add_test(tc, ended_runs_go_back_without_blame);
    tcase_add_test(tc, many_workers);
    tcase_add_test(tc, randomized_against_a_model);
    tcase_add_test(tc, cost_per_task);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(ledger_suite)
