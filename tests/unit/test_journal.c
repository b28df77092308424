/* test_journal.c - the crash journal: round trip, a torn last record, damage, locking. */
#include <sys/stat.h>

#include "journal.h"
#include "tf_check.h"
#include "util.h"

static struct tf_journal_header header(void)
{
    struct tf_journal_header h = {.ntasks = 100, .start_time = 1234.5};
    strcpy(h.run_id, "0123456789abcdef");
    strcpy(h.taskfile_sha256, "feedbeef");
    return h;
}

static struct tf_result result(uint64_t id, const char *out)
{
    return (struct tf_result){.id = id,
                              .line = id + 1,
                              .offset = id * 10,
                              .status = TF_TASK_SUCCEEDED,
                              .exit_code = 0,
                              .rank = 3,
                              .attempts = 2,
                              .start = 10.0 + (double)id,
                              .end = 11.0 + (double)id,
                              .max_rss = 4096,
                              .cpu_user = 0.25,
                              .out = (char *)out,
                              .out_len = strlen(out),
                              .err = "",
                              .err_len = 0};
}

struct seen {
    int n;
    uint64_t ids[64];
    char out[64][32];
    char host[32];
};

static void collect(const struct tf_result *r, void *arg)
{
    struct seen *s = arg;
    ck_assert_int_lt(s->n, 64);
    s->ids[s->n] = r->id;
    snprintf(s->out[s->n], sizeof s->out[0], "%s", r->out);
    snprintf(s->host, sizeof s->host, "%s", r->host);
    ck_assert_uint_eq(r->line, r->id + 1);
    ck_assert_uint_eq(r->offset, r->id * 10);
    ck_assert_int_eq(r->attempts, 2);
    ck_assert_int_eq(r->max_rss, 4096);
    ck_assert_double_eq(r->cpu_user, 0.25);
    s->n++;
}

/* A journal holding tasks 0..4 in two commits. */
static char *make_journal(void)
{
    char *path = tf_test_path("journal");
    char err[512];
    struct tf_journal_header h = header();
    struct tf_journal *j;
    unlink(path);
    ck_assert_int_eq(tf_journal_create(path, false, &h, &j, err, sizeof err), TF_OK);
    for (uint64_t i = 0; i < 3; i++) {
        struct tf_result r = result(i, "out");
        tf_journal_add(j, &r, "node7");
    }
    ck_assert_int_eq(tf_journal_commit(j), TF_OK);
    for (uint64_t i = 3; i < 5; i++) {
        struct tf_result r = result(i, "later");
        tf_journal_add(j, &r, "node7");
    }
    ck_assert_int_eq(tf_journal_close(j, false), TF_OK); /* close commits */
    return path;
}

START_TEST(round_trip)
{
    char *path = make_journal();
    char err[512];
    struct tf_journal_header h;
    struct tf_journal *j;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_peek(path, &h, err, sizeof err), TF_OK);
    ck_assert_str_eq(h.run_id, "0123456789abcdef");
    ck_assert_str_eq(h.taskfile_sha256, "feedbeef");
    ck_assert_uint_eq(h.ntasks, 100);
    ck_assert_double_eq(h.start_time, 1234.5);
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_uint_eq(s.ids[i], (uint64_t)i);
    ck_assert_str_eq(s.out[4], "later");
    ck_assert_str_eq(s.host, "node7");
    ck_assert_int_eq(tf_journal_close(j, true), TF_OK);
    struct stat st;
    ck_assert_int_ne(stat(path, &st), 0); /* removed */
    free(path);
}
END_TEST

START_TEST(torn_tail_is_cut_and_appending_goes_on)
{
    char *path = make_journal();
    char err[512];
    struct stat before, after;
    ck_assert_int_eq(stat(path, &before), 0);
    /* what a kill in the middle of a write leaves: a frame that promises more than follows */
    FILE *f = fopen(path, "ab");
    const unsigned char torn[] = {200, 0, 0, 0, 1, 2, 3, 4, 'x', 'y'};
    fwrite(torn, 1, sizeof torn, f);
    fclose(f);
    struct tf_journal_header h;
    struct tf_journal *j;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 5);
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, before.st_size);
    struct tf_result r = result(9, "new");
    tf_journal_add(j, &r, "n");
    ck_assert_int_eq(tf_journal_close(j, false), TF_OK);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 6);
    ck_assert_uint_eq(s.ids[5], 9);
    (void)tf_journal_close(j, true);
    free(path);
}
END_TEST

START_TEST(a_flipped_byte_is_caught_by_the_crc)
{
    char *path = make_journal();
    char err[512];
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    FILE *f = fopen(path, "r+b");
    fseek(f, st.st_size - 3, SEEK_SET); /* inside the last record */
    fputc('Z', f);
    fclose(f);
    struct tf_journal_header h;
    struct tf_journal *j;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 3); /* the second commit is gone, the first is intact */
    (void)tf_journal_close(j, true);
    free(path);
}
END_TEST

START_TEST(damage_and_misuse_are_refused)
{
    char *path = make_journal();
    char err[512];
    struct tf_journal_header h = header(), got;
    struct tf_journal *j, *j2;
    /* exists: not overwritten without asking */
    ck_assert_int_ne(tf_journal_create(path, false, &h, &j, err, sizeof err), TF_OK);
    ck_assert_ptr_nonnull(strstr(err, "cannot create journal"));
    /* one writer at a time */
    ck_assert_int_eq(tf_journal_open(path, &got, NULL, NULL, &j, err, sizeof err), TF_OK);
    ck_assert_int_ne(tf_journal_open(path, &got, NULL, NULL, &j2, err, sizeof err), TF_OK);
    ck_assert_ptr_nonnull(strstr(err, "another taskfarm run"));
    (void)tf_journal_close(j, false);
    /* not a journal */
    tf_test_write(path, "HDF5 or something else entirely", 31);
    ck_assert_int_eq(tf_journal_peek(path, &got, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "not a taskfarm journal"));
    ck_assert_int_eq(tf_journal_open(path, &got, NULL, NULL, &j, err, sizeof err), TF_EINPUT);
    unlink(path);
    free(path);
}
END_TEST

static Suite *journal_suite(void)
{
    Suite *s = suite_create("journal");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, torn_tail_is_cut_and_appending_goes_on);
    tcase_add_test(tc, a_flipped_byte_is_caught_by_the_crc);
    tcase_add_test(tc, damage_and_misuse_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(journal_suite)
