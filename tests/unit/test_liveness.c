/* test_liveness.c - the watch on peers (liveness.h): silence past the timeout declares a peer
 * once, messages and ignored peers keep it from that, and time the watcher itself was away
 * is forgiven; the heartbeat's due time.
 */
#include "liveness.h"
#include "tf_check.h"

/* Look every `step` seconds from t0 to t1, as a master's loop does; the first peer declared
 * and when (t < 0: none). */
static int watch(struct tf_liveness *l, double t0, double t1, double step, double *t)
{
    for (double now = t0; now <= t1 + 1e-9; now += step) {
        int p = tf_liveness_check(l, now);
        if (p >= 0) {
            *t = now;
            return p;
        }
    }
    *t = -1;
    return -1;
}

START_TEST(silent_peer_is_declared_once_after_the_timeout)
{
    struct tf_liveness *l = tf_liveness_new(3, 5.0, 100.0);
    double t;
    for (double now = 100.0; now <= 110.0; now += 0.2) { /* peers 0 and 2 talk */
        tf_liveness_heard(l, 0, now);
        tf_liveness_heard(l, 2, now);
        int p = tf_liveness_check(l, now);
        if (p >= 0) {
            ck_assert_int_eq(p, 1);
            ck_assert(now > 105.0 && now < 105.5);
            t = now;
        }
    }
    ck_assert_int_eq(watch(l, 110.2, 130, 0.2, &t), 0); /* then 0 and 2 fall silent */
    ck_assert(t > 115.0 && t < 115.5);
    ck_assert_int_eq(tf_liveness_check(l, t), 2);
    ck_assert_int_eq(watch(l, t, 200, 0.2, &t), -1); /* nobody twice */
    tf_liveness_free(l);
}
END_TEST

START_TEST(heard_and_ignored_peers_are_not_declared)
{
    struct tf_liveness *l = tf_liveness_new(2, 2.0, 0.0);
    tf_liveness_ignore(l, 0);
    double t;
    for (double now = 0; now < 60; now += 0.1) {
        tf_liveness_heard(l, 1, now);
        tf_liveness_heard(l, 0, now); /* ignored stays ignored */
        ck_assert_int_eq(tf_liveness_check(l, now), -1);
    }
    ck_assert_double_eq(tf_liveness_silence(l, 0, 60), 0);
    ck_assert_int_eq(watch(l, 60, 70, 0.1, &t), 1);
    ck_assert(t > 61.9 && t < 62.2);
    tf_liveness_free(l);
}
END_TEST

/* A master stuck for 30 s (a slow flush, SIGSTOP) does not declare anyone at once; a peer that
 * stays silent after it is declared a timeout later. */
START_TEST(the_watchers_own_absence_is_forgiven)
{
    struct tf_liveness *l = tf_liveness_new(1, 4.0, 0.0);
    double t;
    ck_assert_int_eq(watch(l, 0, 1, 0.1, &t), -1);
    ck_assert_int_eq(tf_liveness_check(l, 31.0), -1);  /* away from 1 to 31 */
    ck_assert(tf_liveness_silence(l, 0, 31.0) < 2.01); /* its 1 s before, and a quarter */
    ck_assert_int_eq(watch(l, 31.0, 60, 0.1, &t), 0);
    ck_assert(t > 33.0 && t < 35.2);
    tf_liveness_free(l);
}
END_TEST

START_TEST(no_timeout_watches_nobody)
{
    struct tf_liveness *l = tf_liveness_new(4, 0, 0.0);
    double t;
    ck_assert_int_eq(watch(l, 0, 1000, 1, &t), -1);
    ck_assert_double_eq(tf_liveness_deadline(l), 0);
    tf_liveness_free(l);
    ck_assert_int_eq(tf_liveness_check(NULL, 5), -1);
}
END_TEST

START_TEST(the_check_deadline_is_within_the_forgiven_quarter)
{
    struct tf_liveness *l = tf_liveness_new(1, 8.0, 10.0);
    ck_assert_int_eq(tf_liveness_check(l, 11.0), -1);
    double d = tf_liveness_deadline(l);
    ck_assert(d > 11.0 && d <= 13.0);
    tf_liveness_free(l);
}
END_TEST

START_TEST(heartbeat_is_due_after_a_quiet_period)
{
    struct tf_heartbeat h = {.period = 1.25, .last_sent = 3.0};
    ck_assert(!tf_heartbeat_due(&h, 4.0));
    ck_assert(tf_heartbeat_due(&h, 4.25));
    ck_assert_double_eq(tf_heartbeat_deadline(&h), 4.25);
    struct tf_heartbeat never = {0};
    ck_assert(!tf_heartbeat_due(&never, 1e9));
    ck_assert_double_eq(tf_heartbeat_deadline(&never), 0);
}
END_TEST

START_TEST(a_worker_leaves_a_master_silent_for_four_timeouts_or_a_minute)
{
    ck_assert_double_eq(tf_liveness_master_timeout(5), 60);
    ck_assert_double_eq(tf_liveness_master_timeout(30), 120);
    char why[128] = "";
    ck_assert(!tf_liveness_master_gone(100, 160, 60, why, sizeof why));
    ck_assert_str_eq(why, "");
    ck_assert(tf_liveness_master_gone(100, 161, 60, why, sizeof why));
    ck_assert_str_eq(why, "no word from the master (rank 0) for 61 s");
}
END_TEST

static Suite *liveness_suite(void)
{
    Suite *s = suite_create("liveness");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, silent_peer_is_declared_once_after_the_timeout);
    tcase_add_test(tc, heard_and_ignored_peers_are_not_declared);
    tcase_add_test(tc, the_watchers_own_absence_is_forgiven);
    tcase_add_test(tc, no_timeout_watches_nobody);
    tcase_add_test(tc, the_check_deadline_is_within_the_forgiven_quarter);
    tcase_add_test(tc, heartbeat_is_due_after_a_quiet_period);
    tcase_add_test(tc, a_worker_leaves_a_master_silent_for_four_timeouts_or_a_minute);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(liveness_suite)
