/* test_wire.c - messages survive packing, and malformed ones are refused. */
#include <math.h>

#include "tf_check.h"
#include "wire.h"

START_TEST(tasks_round_trip)
{
    struct tf_buf b = {0};
    tf_wire_begin(&b, 1);
    struct tf_task in[3] = {
        {.id = 0, .line = 3, .offset = 99, .attempts = 4, .command = "echo a", .command_len = 6},
        {.id = 1, .line = 4, .command = "", .command_len = 0},
        {.id = 77, .line = 1000, .command = "é 'x'", .command_len = 7}};
    for (int i = 0; i < 3; i++)
        tf_wire_put_task(&b, &in[i]);
    ck_assert_uint_eq(tf_wire_count(&b), 3);
    struct tf_wire_reader rd;
    ck_assert_int_eq(tf_wire_open(&rd, b.data, b.len), TF_OK);
    ck_assert_uint_eq(rd.count, 3);
    for (int i = 0; i < 3; i++) {
        struct tf_task t;
        ck_assert(tf_wire_get_task(&rd, &t));
        ck_assert_uint_eq(t.id, in[i].id);
        ck_assert_uint_eq(t.line, in[i].line);
        ck_assert_uint_eq(t.offset, in[i].offset);
        ck_assert_int_eq(t.attempts, in[i].attempts);
        ck_assert_int_eq(t.avoid_rank, -1);
        ck_assert_str_eq(t.command, in[i].command);
    }
    struct tf_task extra;
    ck_assert(!tf_wire_get_task(&rd, &extra));
    tf_buf_fini(&b);
}
END_TEST

START_TEST(results_round_trip)
{
    struct tf_buf b = {0};
    tf_wire_begin(&b, 2);
    tf_wire_put_str(&b, "node17", 6);
    struct tf_result r = {.id = 1ull << 40,
                          .status = 3,
                          .exit_code = -1,
                          .signal = 9,
                          .rank = 5,
                          .attempts = 2,
                          .line = 12,
                          .offset = 1ull << 35,
                          .max_rss = -1,
                          .cpu_user = 0.5,
                          .cpu_system = 0.25,
                          .start = 1.5,
                          .end = NAN,
                          .out = "out\n",
                          .out_len = 4,
                          .err = "",
                          .err_len = 0,
                          .out_truncated = true};
    tf_wire_put_result(&b, &r);
    struct tf_wire_reader rd;
    const char *host;
    size_t hl;
    struct tf_result g;
    ck_assert_int_eq(tf_wire_open(&rd, b.data, b.len), TF_OK);
    ck_assert(tf_wire_get_str(&rd, &host, &hl));
    ck_assert_str_eq(host, "node17");
    ck_assert(tf_wire_get_result(&rd, &g));
    ck_assert_uint_eq(g.id, r.id);
    ck_assert_int_eq(g.status, 3);
    ck_assert_int_eq(g.exit_code, -1);
    ck_assert_int_eq(g.signal, 9);
    ck_assert_int_eq(g.rank, 5);
    ck_assert_int_eq(g.attempts, 2);
    ck_assert_uint_eq(g.line, 12);
    ck_assert_uint_eq(g.offset, 1ull << 35);
    ck_assert_int_eq(g.max_rss, -1);
    ck_assert(g.cpu_user == 0.5 && g.cpu_system == 0.25);
    ck_assert(g.start == 1.5 && isnan(g.end));
    ck_assert_str_eq(g.out, "out\n");
    ck_assert(g.out_truncated && !g.err_truncated);
    tf_buf_fini(&b);
}
END_TEST

START_TEST(malformed_messages_are_refused)
{
    struct tf_buf b = {0};
    struct tf_wire_reader rd;
    tf_wire_begin(&b, 1);
    tf_wire_put_task(&b,
                     &(struct tf_task){.id = 5, .line = 6, .command = "echo", .command_len = 4});
    ck_assert_int_eq(tf_wire_open(&rd, b.data, 10), TF_EPROTO); /* short header */
    b.data[0] ^= 1;
    ck_assert_int_eq(tf_wire_open(&rd, b.data, b.len), TF_EPROTO); /* bad magic */
    b.data[0] ^= 1;
    for (size_t cut = 16; cut < b.len; cut++) { /* every truncation is caught */
        struct tf_task t;
        ck_assert_int_eq(tf_wire_open(&rd, b.data, cut), TF_OK);
        ck_assert(!tf_wire_get_task(&rd, &t));
    }
    tf_buf_fini(&b);
}
END_TEST

static Suite *wire_suite(void)
{
    Suite *s = suite_create("wire");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, tasks_round_trip);
    tcase_add_test(tc, results_round_trip);
    tcase_add_test(tc, malformed_messages_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(wire_suite)
