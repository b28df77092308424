/* test_util.c - SHA-256 against FIPS 180-4 vectors, UTF-8 validation, byte-count parsing,
 * and files.c: regular files only, identity by inode, replacing by rename. */
#include "files.h"
#include "tf_check.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void sha_hex(const void *data, size_t n, char hex[65])
{
    struct tf_sha256 c;
    tf_sha256_init(&c);
    tf_sha256_update(&c, data, n);
    tf_sha256_hex(&c, hex);
}

START_TEST(sha256_vectors)
{
    char hex[65];
    sha_hex("", 0, hex);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_hex(two, strlen(two), hex);
    ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(sha256_incremental_million_a)
{
    struct tf_sha256 c;
    char hex[65], chunk[2000];
    memset(chunk, 'a', sizeof chunk);
    tf_sha256_init(&c);
    /* odd piece sizes exercise the partial-block path */
    size_t done = 0, step = 7;
    while (done < 1000000) {
        size_t n = 1000000 - done < step ? 1000000 - done : step;
        tf_sha256_update(&c, chunk, n);
        done += n;
        step = step % 997 + 13;
    }
    tf_sha256_hex(&c, hex);
    ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

START_TEST(utf8_validation)
{
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"a", 1), 1);
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xc3\xa9", 2), 2);
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4);
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xc3", 1), 0);     /* cut */
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xc0\xaf", 2), 0); /* overlong */
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xe0\x80\xaf", 3), 0);
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0); /* surrogate */
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0);
    ck_assert_uint_eq(tf_utf8_seq_len((const unsigned char *)"\xff", 1), 0);
}
END_TEST

START_TEST(utf8_sanitize_replaces_bad_bytes_and_nul)
{
    size_t len;
    bool changed;
    char *s = tf_utf8_sanitize("a\xff"
                               "b\0c\xc3\xa9",
                               7, &len, &changed);
    ck_assert(changed);
    ck_assert_str_eq(s, "a\xef\xbf\xbd"
                        "b\xef\xbf\xbd"
                        "c\xc3\xa9");
    ck_assert_uint_eq(len, strlen(s));
    free(s);
    s = tf_utf8_sanitize("plain", 5, &len, &changed);
    ck_assert(!changed);
    ck_assert_str_eq(s, "plain");
    free(s);
}
END_TEST

START_TEST(parse_bytes)
{
    uint64_t v;
    ck_assert(tf_parse_bytes("0", &v) && v == 0);
    ck_assert(tf_parse_bytes("4096", &v) && v == 4096);
    ck_assert(tf_parse_bytes("64K", &v) && v == 65536);
    ck_assert(tf_parse_bytes("1M", &v) && v == 1048576);
    ck_assert(tf_parse_bytes("2MiB", &v) && v == 2097152);
    ck_assert(tf_parse_bytes("1g", &v) && v == 1073741824);
    ck_assert(!tf_parse_bytes("", &v));
    ck_assert(!tf_parse_bytes("-1", &v));
    ck_assert(!tf_parse_bytes("12x", &v));
    ck_assert(!tf_parse_bytes("1.5M", &v));
    ck_assert(!tf_parse_bytes("99999999999999999999", &v));
    ck_assert(!tf_parse_bytes("17179869184G", &v));
}
END_TEST

START_TEST(parse_seconds)
{
    static const struct {
        const char *s;
        double v;
    } good[] = {{"90", 90},       {"2.5", 2.5},       {"30s", 30},           {"10m", 600},
                {"2h", 7200},     {"1d", 86400},      {"05:30", 330},        {"01:00:00", 3600},
                {"2-00", 172800}, {"1-02:03", 93780}, {"1-02:03:04", 93784}, {"0", 0}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = -1;
        ck_assert_msg(tf_parse_seconds(good[i].s, &v), "%s refused", good[i].s);
        ck_assert_msg(v == good[i].v, "%s -> %g, want %g", good[i].s, v, good[i].v);
    }
    static const char *const bad[] = {"", "x", "-5", "5x", "1:x", "nan", "inf", "3mm", ":5", "1-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v;
        ck_assert_msg(!tf_parse_seconds(bad[i], &v), "%s accepted", bad[i]);
    }
}
END_TEST

START_TEST(open_regular_refuses_fifo_without_blocking)
{
    char dir[] = "/tmp/tf_files_XXXXXX", fifo[64], reg[64], link[64], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(fifo, sizeof fifo, "%s/q", dir);
    snprintf(reg, sizeof reg, "%s/r", dir);
    snprintf(link, sizeof link, "%s/l", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    FILE *f = fopen(reg, "w");
    fputs("x\n", f);
    fclose(f);
    ck_assert_int_eq(symlink(reg, link), 0);
    ck_assert_int_eq(tf_open_regular(fifo, err, sizeof err),
                     -1); /* would block without O_NONBLOCK */
    ck_assert_msg(strstr(err, "not a regular file (a FIFO)") != NULL, "%s", err);
    ck_assert(!tf_check_regular(dir, err, sizeof err));
    ck_assert(strstr(err, "a directory") != NULL);
    ck_assert(!tf_check_regular("/dev/null", err, sizeof err));
    ck_assert(!tf_check_regular("/nonexistent/x", err, sizeof err));
    int fd = tf_open_regular(reg, err, sizeof err);
    ck_assert_int_ge(fd, 0);
    ck_assert(!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    char c;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    close(fd);
    ck_assert(tf_same_file(reg, link));
    ck_assert(!tf_same_file(reg, fifo));
    ck_assert(!tf_same_file(reg, "/nonexistent/x"));
    struct tf_file_id a, b;
    ck_assert(tf_file_id_of_path(reg, &a));
    char *tmp = tf_temp_name_for(reg);
    ck_assert(strncmp(tmp, dir, strlen(dir)) == 0 && strstr(tmp, "/.r.tmp.") != NULL);
    f = fopen(tmp, "w");
    fputs("longer\n", f);
    fclose(f);
    ck_assert_int_eq(tf_rename_into_place(tmp, reg), 0);
    ck_assert(tf_file_id_of_path(reg, &b));
    ck_assert(!tf_file_id_same_content(&a, &b));
    ck_assert_int_eq(access(tmp, F_OK), -1);
    free(tmp);
    unlink(fifo);
    unlink(link);
    unlink(reg);
    rmdir(dir);
}
END_TEST

static Suite *util_suite(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sha256_vectors);
    tcase_add_test(tc, sha256_incremental_million_a);
    tcase_add_test(tc, utf8_validation);
    tcase_add_test(tc, utf8_sanitize_replaces_bad_bytes_and_nul);
    tcase_add_test(tc, parse_bytes);
    tcase_add_test(tc, parse_seconds);
    tcase_add_test(tc, open_regular_refuses_fifo_without_blocking);
    suite_add_tcase(s, tc);
    return s;
}

TF_CHECK_MAIN(util_suite)
