/* test_api.c - the public C API (taskfarm.h) as a user's program meets it: every bad argument
 * refused with a code and a message naming it, runs of zero, one and many items, items from
 * an array, a generator and a range, results to a buffer and a file, a function that fails
 * on some items, and refusing to overwrite.
 *
 * Run alone (each test in its own process, no launcher: rank 0 does all), and by ctest
 * again as `mpirun -n 4` with CK_FORK=no (every rank runs the same tests, collectively:
 * three workers, more than the items of the small maps). Counts and the results buffer are
 * rank 0's; the other ranks check the return codes. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "taskfarm.h"
#include "tf_check.h"

struct rec {
    int64_t id;
    double value;
    float ratio[2];
    char label[6];
};

static const struct taskfarm_field rec_fields[] = {
    TASKFARM_FIELD(struct rec, id, TASKFARM_INT64),
    TASKFARM_FIELD(struct rec, value, TASKFARM_DOUBLE),
    TASKFARM_FIELD(struct rec, ratio, TASKFARM_FLOAT),
    TASKFARM_FIELD(struct rec, label, TASKFARM_CHAR),
};

/* Item: an int64; result: a rec. Fails (code 3) on multiples of 10 when user says so. */
static int work(const void *item, void *result, void *user)
{
    int64_t v = *(const int64_t *)item;
    struct rec *r = result;
    if (user && v % 10 == 0)
        return 3;
    r->id = v;
    r->value = (double)v * 0.5;
    r->ratio[0] = 1.0f;
    r->ratio[1] = (float)v;
    strcpy(r->label, v % 2 ? "odd" : "even");
    return 0;
}

static int gen(uint64_t index, void *item, void *user)
{
    (void)user;
    *(int64_t *)item = (int64_t)index * 3;
    return index == 7 ? 5 : 0; /* the generator can fail too */
}

/* Rank 0 holds the counts and the results; under mpirun the others check codes only. */
#define MASTER(s) ((s).rank == 0)

static struct taskfarm_map *new_map(void)
{
    struct taskfarm_map *m = NULL;
    ck_assert_int_eq(taskfarm_map_new(&m), TASKFARM_OK);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(taskfarm_map_error(m), "");
    return m;
}

#define ASSERT_REFUSED(call, code, needle)                                                         \
    do {                                                                                           \
        ck_assert_int_eq((call), (code));                                                          \
        ck_assert_msg(strstr(taskfarm_map_error(m), (needle)) != NULL,                             \
                      "error '%s' does not name '%s'", taskfarm_map_error(m), (needle));           \
    } while (0)

START_TEST(bad_arguments)
{
    ck_assert_int_eq(taskfarm_map_new(NULL), TASKFARM_EINVAL);
    ck_assert_int_eq(taskfarm_map_set_function(NULL, work, NULL), TASKFARM_EINVAL);
    ck_assert_int_eq(taskfarm_map_run(NULL, NULL), TASKFARM_EINVAL);
    taskfarm_map_free(NULL);
    struct taskfarm_map *m = new_map();
    ASSERT_REFUSED(taskfarm_map_set_function(m, NULL, NULL), TASKFARM_EINVAL, "fn is NULL");
    ASSERT_REFUSED(taskfarm_map_items_array(m, NULL, 0, 5), TASKFARM_EINVAL, "item_size is 0");
    ASSERT_REFUSED(taskfarm_map_items_generator(m, NULL, 8, 5, NULL), TASKFARM_EINVAL,
                   "gen is NULL");
    ASSERT_REFUSED(taskfarm_map_items_hdf5(m, "", "/x"), TASKFARM_EINVAL, "path");
    ck_assert_int_eq(taskfarm_map_items_range(m, 5), TASKFARM_OK);
    ASSERT_REFUSED(taskfarm_map_items_range(m, 5), TASKFARM_EINVAL, "already set");
    /* Result types: each mistake named. */
    ASSERT_REFUSED(taskfarm_map_result(m, "a/b", sizeof(struct rec), rec_fields, 4),
                   TASKFARM_EINVAL, "name");
    ASSERT_REFUSED(taskfarm_map_result(m, "r", 0, rec_fields, 4), TASKFARM_EINVAL, "size is 0");
    ASSERT_REFUSED(taskfarm_map_result(m, "r", sizeof(struct rec), NULL, 0), TASKFARM_EINVAL,
                   "no fields");
    ASSERT_REFUSED(taskfarm_map_result(m, "r", 8, rec_fields, 4), TASKFARM_EINVAL, "does not fit");
    struct taskfarm_field dup[2] = {rec_fields[0], rec_fields[0]};
    ASSERT_REFUSED(taskfarm_map_result(m, "r", sizeof(struct rec), dup, 2), TASKFARM_EINVAL,
                   "twice");
    struct taskfarm_field unnamed[2] = {rec_fields[0], {NULL, TASKFARM_DOUBLE, 8, 1}};
    ASSERT_REFUSED(taskfarm_map_result(m, "r", sizeof(struct rec), unnamed, 2), TASKFARM_EINVAL,
                   "needs a name");
    struct taskfarm_field badtype = {"x", (enum taskfarm_type)99, 0, 1};
    ASSERT_REFUSED(taskfarm_map_result(m, "r", 8, &badtype, 1), TASKFARM_EINVAL, "unknown type");
    struct taskfarm_field scalar = TASKFARM_SCALAR(TASKFARM_DOUBLE);
    ASSERT_REFUSED(taskfarm_map_result(m, "r", 16, &scalar, 1), TASKFARM_EINVAL, "scalar");
    ASSERT_REFUSED(taskfarm_map_output(m, "x.h5", TASKFARM_OVERWRITE | TASKFARM_RESUME),
                   TASKFARM_EINVAL, "flags");
    ASSERT_REFUSED(taskfarm_map_batching(m, 0, 10), TASKFARM_EINVAL, "seconds");
    ASSERT_REFUSED(taskfarm_map_item_type(m, 8, NULL, 0), TASKFARM_EINVAL, "no fields");
    /* Runs refused before anything starts, each naming what is missing. */
    ASSERT_REFUSED(taskfarm_map_run(m, NULL), TASKFARM_EINVAL, "no function");
    ck_assert_int_eq(taskfarm_map_set_function(m, work, NULL), TASKFARM_OK);
    ASSERT_REFUSED(taskfarm_map_run(m, NULL), TASKFARM_EINVAL, "no result type");
    ck_assert_int_eq(taskfarm_map_result(m, "r", sizeof(struct rec), rec_fields, 4), TASKFARM_OK);
    ASSERT_REFUSED(taskfarm_map_run(m, NULL), TASKFARM_EINVAL, "nowhere to put results");
    ck_assert_int_eq(taskfarm_map_item_type(m, 8, rec_fields, 1), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_output(m, "unused.h5", 0), TASKFARM_OK);
    ASSERT_REFUSED(taskfarm_map_run(m, NULL), TASKFARM_EINVAL, "HDF5 items only");
    ck_assert_int_eq(access("unused.h5", F_OK), -1); /* refused: nothing written */
    taskfarm_map_free(m);
    for (int code = 0; code <= TASKFARM_EEXIST; code++)
        ck_assert_str_ne(taskfarm_strerror(code), "unknown error code");
    ck_assert_str_eq(taskfarm_strerror(42), "unknown error code");
    ck_assert_uint_eq(taskfarm_type_size(TASKFARM_INT16), 2);
    ck_assert_uint_eq(taskfarm_type_size((enum taskfarm_type)0), 0);
}
END_TEST

/* A map over n int64 items from an array, results into a buffer (and a file if out). */
static int run_array(uint64_t n, void *user, const char *out, unsigned flags, struct rec *res,
                     struct taskfarm_summary *s, struct taskfarm_map **keep)
{
    int64_t *items = malloc((n ? n : 1) * sizeof *items);
    for (uint64_t i = 0; i < n; i++)
        items[i] = (int64_t)i + 100;
    struct taskfarm_map *m = new_map();
    ck_assert_int_eq(taskfarm_map_set_function(m, work, user), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_items_array(m, items, sizeof *items, n), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_result(m, "rec", sizeof(struct rec), rec_fields, 4), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_results_buffer(m, res), TASKFARM_OK);
    if (out)
        ck_assert_int_eq(taskfarm_map_output(m, out, flags), TASKFARM_OK);
    int rc = taskfarm_map_run(m, s);
    free(items);
    if (keep)
        *keep = m;
    else
        taskfarm_map_free(m);
    return rc;
}

START_TEST(zero_and_one_item)
{
    struct taskfarm_summary s;
    struct rec r[1];
    ck_assert_int_eq(run_array(0, NULL, NULL, 0, r, &s, NULL), TASKFARM_OK);
    ck_assert_uint_eq(s.items, 0);
    ck_assert_uint_eq(s.done, 0);
    memset(r, 0, sizeof r);
    ck_assert_int_eq(run_array(1, NULL, NULL, 0, r, &s, NULL), TASKFARM_OK);
    if (MASTER(s)) {
        ck_assert_uint_eq(s.done, 1);
        ck_assert_int_eq(r[0].id, 100);
        ck_assert_str_eq(r[0].label, "even");
    }
}
END_TEST

START_TEST(many_items_to_buffer_and_file)
{
    uint64_t n = 100000;
    struct rec *r = calloc(n, sizeof *r);
    struct taskfarm_summary s;
    char *out = tf_test_path("api.h5");
    struct taskfarm_map *m;
    ck_assert_int_eq(run_array(n, NULL, out, 0, r, &s, &m), TASKFARM_OK);
    if (MASTER(s)) {
        ck_assert_str_eq(s.output, out); /* owned by the handle */
        ck_assert_uint_eq(s.items, n);
        ck_assert_uint_eq(s.done, n);
        ck_assert_uint_eq(s.failed, 0);
        ck_assert_uint_eq(s.not_run, 0);
        for (uint64_t i = 0; i < n; i++) {
            ck_assert_int_eq(r[i].id, (int64_t)i + 100);
            ck_assert_double_eq(r[i].value, ((double)i + 100) * 0.5);
            ck_assert_float_eq(r[i].ratio[1], (float)(i + 100));
        }
        ck_assert_int_eq(access(out, F_OK), 0);
        char journal[4200];
        snprintf(journal, sizeof journal, "%s.journal", out);
        ck_assert_int_eq(access(journal, F_OK), -1); /* complete: the journal is gone */
    }
    taskfarm_map_free(m);
    /* The file exists now: a second run without a flag must not touch it. */
    ck_assert_int_eq(run_array(n, NULL, out, 0, r, &s, &m), TASKFARM_EEXIST);
    if (MASTER(s))
        ck_assert_ptr_nonnull(strstr(taskfarm_map_error(m), out));
    taskfarm_map_free(m);
    /* Resuming a complete file: nothing runs, everything counted. */
    memset(r, 0, n * sizeof *r);
    ck_assert_int_eq(run_array(n, NULL, out, TASKFARM_RESUME, r, &s, NULL), TASKFARM_OK);
    if (MASTER(s)) {
        ck_assert_uint_eq(s.done, n);
        ck_assert_int_eq(r[0].id, 0); /* nothing was computed again */
    }
    /* Overwrite: a new run. */
    ck_assert_int_eq(run_array(n, NULL, out, TASKFARM_OVERWRITE, r, &s, NULL), TASKFARM_OK);
    if (MASTER(s)) {
        ck_assert_int_eq(r[n - 1].id, (int64_t)n + 99);
        unlink(out);
    }
    free(out);
    free(r);
}
END_TEST

START_TEST(failing_items)
{
    uint64_t n = 1000;
    struct rec *r = calloc(n, sizeof *r);
    struct taskfarm_summary s;
    struct taskfarm_map *m;
    ck_assert_int_eq(run_array(n, (void *)1, NULL, 0, r, &s, &m), TASKFARM_EFAILED);
    if (MASTER(s)) {
        ck_assert_uint_eq(s.failed, 100); /* 100, 110, ..., 1090 */
        ck_assert_uint_eq(s.done, n);
        ck_assert_ptr_nonnull(strstr(taskfarm_map_error(m), "failed on 100 of 1000"));
        for (uint64_t i = 0; i < n; i++)
            ck_assert_int_eq(r[i].id, (i + 100) % 10 == 0 ? 0 : (int64_t)i + 100);
    }
    taskfarm_map_free(m);
    free(r);
}
END_TEST

START_TEST(generator_and_range)
{
    uint64_t n = 5000;
    struct rec *r = calloc(n, sizeof *r);
    struct taskfarm_summary s;
    struct taskfarm_map *m = new_map();
    ck_assert_int_eq(taskfarm_map_set_function(m, work, NULL), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_items_generator(m, gen, sizeof(int64_t), n, NULL), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_result(m, "rec", sizeof(struct rec), rec_fields, 4), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_results_buffer(m, r), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_batching(m, 0.001, 64), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_run(m, &s), TASKFARM_EFAILED); /* item 7's generator */
    if (MASTER(s)) {
        ck_assert_uint_eq(s.failed, 1);
        ck_assert_int_eq(r[7].id, 0);
        ck_assert_int_eq(r[4999].id, 4999 * 3);
    }
    taskfarm_map_free(m);
    /* A range: item i is the uint64 i (read here as int64, the same bytes). */
    m = new_map();
    ck_assert_int_eq(taskfarm_map_set_function(m, work, NULL), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_items_range(m, n), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_result(m, "rec", sizeof(struct rec), rec_fields, 4), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_results_buffer(m, r), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_run(m, &s), TASKFARM_OK);
    for (uint64_t i = 0; i < n && MASTER(s); i++)
        ck_assert_int_eq(r[i].id, (int64_t)i);
    /* The same handle runs again. */
    ck_assert_int_eq(taskfarm_map_run(m, &s), TASKFARM_OK);
    taskfarm_map_free(m);
    free(r);
}
END_TEST

START_TEST(missing_items_file)
{
    struct taskfarm_map *m = new_map();
    struct rec r;
    ck_assert_int_eq(taskfarm_map_set_function(m, work, NULL), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_items_hdf5(m, "/nonexistent/items.h5", "/t"), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_result(m, "rec", sizeof r, rec_fields, 4), TASKFARM_OK);
    ck_assert_int_eq(taskfarm_map_results_buffer(m, &r), TASKFARM_OK);
    struct taskfarm_summary s;
    ck_assert_int_eq(taskfarm_map_run(m, &s), TASKFARM_EINVAL);
    if (MASTER(s))
        ck_assert_ptr_nonnull(strstr(taskfarm_map_error(m), "/nonexistent/items.h5"));
    taskfarm_map_free(m);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, zero_and_one_item);
    tcase_add_test(tc, many_items_to_buffer_and_file);
    tcase_add_test(tc, failing_items);
    tcase_add_test(tc, generator_and_range);
    tcase_add_test(tc, missing_items_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(api_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    taskfarm_finalize(); /* under mpirun (CK_FORK=no): MPI ends once, after every test */
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
