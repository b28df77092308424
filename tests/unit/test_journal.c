/* test_journal.c - the crash journal: round trip, a torn last record, damage in the middle
 * (skipped, later records kept), records that cannot be (refused), locking, safe creation. */
#include <fcntl.h>
#include <math.h>
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
    int status[64];
    char host[32];
};

static void collect(const struct tf_result *r, void *arg)
{
    struct seen *s = arg;
    ck_assert_int_lt(s->n, 64);
    s->ids[s->n] = r->id;
    s->status[s->n] = r->status;
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

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* make_journal plus a third commit (tasks 5, 6); *second: where the second record starts. */
static char *make_three(off_t *second, off_t *third)
{
    char *path = make_journal();
    char err[512];
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    *third = st.st_size;
    struct tf_journal_header h;
    struct tf_journal *j;
    ck_assert_int_eq(tf_journal_open(path, &h, NULL, NULL, &j, err, sizeof err), TF_OK);
    for (uint64_t i = 5; i < 7; i++) {
        struct tf_result r = result(i, "third");
        tf_journal_add(j, &r, "node7");
    }
    ck_assert_int_eq(tf_journal_close(j, false), TF_OK);
    /* the second record: after magic, the header record and the first record */
    size_t n;
    unsigned char *d = (unsigned char *)slurp(path, &n);
    off_t off = 8;
    for (int k = 0; k < 2; k++)
        off +=
            8 + (off_t)(d[off] | d[off + 1] << 8 | d[off + 2] << 16 | (uint32_t)d[off + 3] << 24);
    *second = off;
    free(d);
    return path;
}

static void flip(const char *path, off_t at)
{
    FILE *f = fopen(path, "r+b");
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

START_TEST(a_damaged_middle_record_is_skipped_and_later_ones_kept)
{
    off_t second, third;
    char *path = make_three(&second, &third);
    char err[512];
    flip(path, third - 3); /* inside the second record's payload */
    size_t n0, n1;
    char *before = slurp(path, &n0);
    struct tf_journal_header h;
    struct tf_journal *j;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_check(path, &h, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 5); /* 0, 1, 2 and 5, 6: the bad record alone is lost */
    ck_assert_uint_eq(s.ids[3], 5);
    ck_assert_uint_eq(s.ids[4], 6);
    ck_assert_str_eq(s.out[4], "third");
    char *after = slurp(path, &n1);
    ck_assert_uint_eq(n1, n0); /* nothing cut */
    ck_assert_int_eq(memcmp(before, after, n0), 0);
    struct tf_result r = result(9, "new");
    tf_journal_add(j, &r, "n");
    ck_assert_int_eq(tf_journal_close(j, false), TF_OK);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 6);
    ck_assert_uint_eq(s.ids[5], 9);
    (void)tf_journal_close(j, true);
    free(before);
    free(after);
    free(path);
}
END_TEST

START_TEST(a_damaged_frame_is_skipped_and_a_torn_tail_still_cut)
{
    off_t second, third;
    char *path = make_three(&second, &third);
    char err[512];
    flip(path, second + 1); /* the second record's length: its frame no longer fits */
    FILE *f = fopen(path, "ab");
    const unsigned char torn[] = {200, 0, 0, 0, 1, 2, 3, 4, 'T', 'F', 'R', 'M', 'x'};
    fwrite(torn, 1, sizeof torn, f);
    fclose(f);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    struct tf_journal_header h;
    struct tf_journal *j;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 5);
    ck_assert_uint_eq(s.ids[4], 6);
    (void)tf_journal_close(j, false);
    struct stat after;
    ck_assert_int_eq(stat(path, &after), 0);
    ck_assert_int_eq(after.st_size, st.st_size - (off_t)sizeof torn); /* only the tail */
    unlink(path);
    free(path);
}
END_TEST

START_TEST(the_last_record_of_a_task_counts_once)
{
    char *path = tf_test_path("journal-dup");
    char err[512];
    struct tf_journal_header h = header();
    struct tf_journal *j;
    unlink(path);
    ck_assert_int_eq(tf_journal_create(path, false, &h, &j, err, sizeof err), TF_OK);
    char text[40][16];
    for (int i = 0; i < 40; i++) { /* ids 0..4 eight times over, in commits of 3 */
        snprintf(text[i], sizeof text[i], "run%d", i);
        struct tf_result r = result((uint64_t)(i % 5), text[i]);
        tf_journal_add(j, &r, "n");
        if (i % 3 == 2)
            ck_assert_int_eq(tf_journal_commit(j), TF_OK);
    }
    ck_assert_int_eq(tf_journal_close(j, false), TF_OK);
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 5);
    for (int k = 0; k < 5; k++) {
        char want[16];
        snprintf(want, sizeof want, "run%d", 35 + (int)s.ids[k]);
        ck_assert_str_eq(s.out[k], want);
    }
    (void)tf_journal_close(j, true);
    free(path);
}
END_TEST

/* A journal whose one result is r (with host). */
static char *journal_of(const struct tf_result *r, const char *host)
{
    char *path = tf_test_path("journal-bad");
    char err[512];
    struct tf_journal_header h = header();
    struct tf_journal *j;
    unlink(path);
    ck_assert_int_eq(tf_journal_create(path, false, &h, &j, err, sizeof err), TF_OK);
    struct tf_result ok = result(1, "fine");
    tf_journal_add(j, &ok, "n");
    ck_assert_int_eq(tf_journal_commit(j), TF_OK);
    tf_journal_add(j, r, host);
    ck_assert_int_eq(tf_journal_close(j, false), TF_OK);
    return path;
}

static void refused(const struct tf_result *r, const char *host, const char *needle)
{
    char *path = journal_of(r, host);
    char err[512];
    size_t n0, n1;
    char *before = slurp(path, &n0);
    struct tf_journal_header h;
    struct tf_journal *j = NULL;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_check(path, &h, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, needle));
    ck_assert_ptr_nonnull(strstr(err, "at offset"));
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_EINPUT);
    ck_assert_int_eq(s.n, 0); /* nothing replayed, not even the good record before it */
    char *after = slurp(path, &n1);
    ck_assert_uint_eq(n1, n0);
    ck_assert_int_eq(memcmp(before, after, n0), 0);
    unlink(path);
    free(before);
    free(after);
    free(path);
}

START_TEST(records_that_cannot_be_are_refused)
{
    struct tf_result r = result(100, "x"); /* the header says 100 tasks */
    refused(&r, "n", "task id 100, but the run has 100 tasks");
    r = result(UINT64_MAX, "x");
    refused(&r, "n", "task id 18446744073709551615");
    r = result(2, "x");
    r.status = 77;
    refused(&r, "n", "status 77");
    r = result(2, "x");
    r.status = TF_TASK_STATUS_COUNT; /* 6: one past LOST */
    refused(&r, "n", "status 6 for task 2, which is no task status");
    r = result(2, "x");
    r.status = -1;
    refused(&r, "n", "status -1");
    r = result(2, "x");
    r.attempts = -3;
    refused(&r, "n", "-3 attempts");
    r = result(2, "x");
    r.end = INFINITY;
    refused(&r, "n", "infinite");
    r = result(2, "ab\xff\xfe");
    refused(&r, "n", "stdout that is not valid UTF-8");
    r = result(2, "x");
    r.err = "\xed\xa0\x80";
    r.err_len = 3;
    refused(&r, "n", "stderr that is not valid UTF-8");
    r = result(2, "x");
    refused(&r, "no\xc3(de", "host name that is not valid UTF-8");
}
END_TEST

/* LOST (5) is an outcome a journal records and replays like any other. */
START_TEST(a_lost_task_is_replayed)
{
    struct tf_result r = result(2, "x");
    r.status = TF_TASK_LOST;
    char *path = journal_of(&r, "n");
    char err[512];
    struct tf_journal_header h;
    struct tf_journal *j = NULL;
    struct seen s = {0};
    ck_assert_int_eq(tf_journal_check(path, &h, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_journal_open(path, &h, collect, &s, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(s.n, 2);
    ck_assert_uint_eq(s.ids[1], 2);
    ck_assert_int_eq(s.status[1], TF_TASK_LOST);
    ck_assert_int_eq(tf_journal_close(j, true), TF_OK);
    free(path);
}
END_TEST

START_TEST(no_journal_through_a_symlink_or_a_special_file)
{
    char *path = tf_test_path("journal-link"), *target = tf_test_path("journal-target");
    char err[512];
    struct tf_journal_header h = header();
    struct tf_journal *j;
    unlink(path);
    tf_test_write(target, "precious", 8);
    ck_assert_int_eq(symlink(target, path), 0);
    ck_assert_int_ne(tf_journal_create(path, true, &h, &j, err, sizeof err), TF_OK);
    ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
    size_t n;
    char *d = slurp(target, &n);
    ck_assert_uint_eq(n, 8);
    ck_assert_int_eq(memcmp(d, "precious", 8), 0);
    free(d);
    unlink(path);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    ck_assert_int_ne(tf_journal_create(path, true, &h, &j, err, sizeof err), TF_OK);
    ck_assert_ptr_nonnull(strstr(err, "a directory"));
    ck_assert_int_eq(tf_journal_peek(path, &h, err, sizeof err), TF_EINPUT);
    rmdir(path);
    ck_assert_int_eq(mkfifo(path, 0644), 0);
    ck_assert_int_ne(tf_journal_create(path, true, &h, &j, err, sizeof err), TF_OK);
    ck_assert_ptr_nonnull(strstr(err, "a FIFO"));
    /* read: refused at once, never waited on for a writer */
    ck_assert_int_eq(tf_journal_peek(path, &h, err, sizeof err), TF_EINPUT);
    ck_assert_ptr_nonnull(strstr(err, "FIFO"));
    ck_assert_int_eq(tf_journal_check(path, &h, err, sizeof err), TF_EINPUT);
    ck_assert_int_ne(tf_journal_open(path, &h, NULL, NULL, &j, err, sizeof err), TF_OK);
    unlink(path);
    unlink(target);
    free(path);
    free(target);
}
END_TEST

START_TEST(a_journal_published_under_its_name)
{
    char *path = tf_test_path("journal-pub"), *tmp = tf_test_path("journal-pub-tmp");
    char err[512];
    struct tf_journal_header h = header();
    struct tf_journal *j;
    unlink(path);
    unlink(tmp);
    ck_assert_int_eq(tf_journal_create(tmp, false, &h, &j, err, sizeof err), TF_OK);
    ck_assert_int_eq(tf_journal_publish(j, path, err, sizeof err), TF_OK);
    struct stat st;
    ck_assert_int_ne(stat(tmp, &st), 0);
    ck_assert_int_eq(tf_journal_close(j, true), TF_OK);
    ck_assert_int_ne(stat(path, &st), 0); /* removed under its new name */
    /* an existing journal is never replaced */
    tf_test_write(path, "other", 5);
    ck_assert_int_eq(tf_journal_create(tmp, false, &h, &j, err, sizeof err), TF_OK);
    ck_assert_int_ne(tf_journal_publish(j, path, err, sizeof err), TF_OK);
    (void)tf_journal_close(j, true);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 5);
    unlink(path);
    free(path);
    free(tmp);
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
    tcase_add_test(tc, a_damaged_middle_record_is_skipped_and_later_ones_kept);
    tcase_add_test(tc, a_damaged_frame_is_skipped_and_a_torn_tail_still_cut);
    tcase_add_test(tc, the_last_record_of_a_task_counts_once);
    tcase_add_test(tc, records_that_cannot_be_are_refused);
    tcase_add_test(tc, a_lost_task_is_replayed);
    tcase_add_test(tc, no_journal_through_a_symlink_or_a_special_file);
    tcase_add_test(tc, a_journal_published_under_its_name);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(journal_suite)
