/* Unit tests of `factedit trace`'s pieces (tools/cmd_trace.c, trace_dataset.c, svg.c, buf.c): ROME's
   token buckets, option values, the aggregate (means, spreads, 95% intervals against direct
   computations), the text buffer's escapers, the dataset id and the SVG helpers. The command itself is tested by tests/test_cli_trace.sh.
   Usage: test_cmd_trace */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include "cmd_trace.h"
#include "cli.h"
#include "svg.h"
#include "test.h"
#include <stdlib.h>
#include <string.h>

/* cli.c's built-in vocabulary and model are not needed here: empty stand-ins */
#ifdef __cplusplus
extern "C" {
#endif
extern const unsigned char fe_gpt2_vocab_bpe[], fe_demo_model[], fe_demo_encoder[], fe_demo_bpe[];
extern const size_t fe_gpt2_vocab_bpe_len, fe_demo_model_len, fe_demo_encoder_len, fe_demo_bpe_len;
const unsigned char fe_gpt2_vocab_bpe[1] = {0}, fe_demo_model[1] = {0}, fe_demo_encoder[1] = {0}, fe_demo_bpe[1] = {0};
const size_t fe_gpt2_vocab_bpe_len = 0, fe_demo_model_len = 0, fe_demo_encoder_len = 0, fe_demo_bpe_len = 0;
#ifdef __cplusplus
}
#endif

enum { B_FIRST = 1, B_MID = 2, B_LAST = 4, B_FSUB = 8, B_FURTHER = 16, B_END = 32 };

static void t_buckets(void) {
    TEST("buckets: 3-token subject in the middle") {
        /* T = 8, subject [1, 4): 0 none, 1 first, 2 middle, 3 last, 4 first subsequent, 5 6 further, 7 last token */
        static const unsigned want[8] = {0, B_FIRST, B_MID, B_LAST, B_FSUB, B_FURTHER, B_FURTHER, B_END};
        int t;
        for (t = 0; t < 8; t++) CHECKF(trace_token_buckets(8, 1, 4, t) == want[t], "t %d: mask %u, want %u", t, trace_token_buckets(8, 1, 4, t), want[t]);
    }
    TEST("buckets: one-token subject is first and last") {
        CHECK(trace_token_buckets(5, 0, 1, 0) == (B_FIRST | B_LAST));
        CHECK(trace_token_buckets(5, 0, 1, 1) == B_FSUB);
        CHECK(trace_token_buckets(5, 0, 1, 4) == B_END);
    }
    TEST("buckets: subject ending at T-2: the first subsequent token is the last token") {
        CHECK(trace_token_buckets(4, 0, 3, 3) == (B_FSUB | B_END));
        CHECK(trace_token_buckets(4, 0, 3, 1) == B_MID);
    }
    TEST("buckets: subject ending the prompt") {
        CHECK(trace_token_buckets(3, 1, 3, 2) == (B_LAST | B_END));
        CHECK(trace_token_buckets(3, 1, 3, 0) == 0);
        CHECK(trace_token_buckets(1, 0, 1, 0) == (B_FIRST | B_LAST | B_END));
    }
    TEST("buckets: out of range") {
        CHECK(trace_token_buckets(4, 1, 2, 4) == 0);
        CHECK(trace_token_buckets(4, 1, 2, -1) == 0);
        CHECK(trace_token_buckets(4, 2, 2, 2) == 0);   /* empty subject */
    }
    TEST("bucket names") {
        CHECK(!strcmp(trace_bucket_names[0], "first subject token"));
        CHECK(!strcmp(trace_bucket_names[5], "last token"));
    }
}

static void t_options(void) {
    int rel = -1, i = -1, n = -1;
    double v = 0;
    unsigned m = 0;
    TEST("noise: multiples of sigma") {
        CHECK(trace_parse_noise("3s", &rel, &v) == 0 && rel == 1 && v == 3.0);
        CHECK(trace_parse_noise("2.5s", &rel, &v) == 0 && rel == 1 && v == 2.5);
        CHECK(trace_parse_noise("1e-1s", &rel, &v) == 0 && rel == 1 && v == 0.1);
    }
    TEST("noise: absolute") {
        CHECK(trace_parse_noise("0.1", &rel, &v) == 0 && rel == 0 && v == 0.1);
        CHECK(trace_parse_noise("7", &rel, &v) == 0 && rel == 0 && v == 7.0);
    }
    TEST("noise: rejected") {
        static const char *const bad[] = {"", "s", "0", "0s", "-1", "-3s", "abc", "3 s", " 3", "3x", "1e999", "inf", "nan", "nans", "3ss"};
        size_t k;
        for (k = 0; k < sizeof bad / sizeof bad[0]; k++) CHECKF(trace_parse_noise(bad[k], &rel, &v) != 0, "'%s' accepted", bad[k]);
    }
    TEST("shard") {
        CHECK(parse_shard("0/1", &i, &n) == 0 && i == 0 && n == 1);
        CHECK(parse_shard("3/4", &i, &n) == 0 && i == 3 && n == 4);
        CHECK(parse_shard("4/4", &i, &n) != 0);
        CHECK(parse_shard("0/0", &i, &n) != 0);
        CHECK(parse_shard("-1/2", &i, &n) != 0);
        CHECK(parse_shard("1", &i, &n) != 0);
        CHECK(parse_shard("/2", &i, &n) != 0);
        CHECK(parse_shard("1/", &i, &n) != 0);
        CHECK(parse_shard("1/2/3", &i, &n) != 0);
        CHECK(parse_shard("a/b", &i, &n) != 0);
        CHECK(parse_shard("99999999999999999999/2", &i, &n) != 0);
    }
    TEST("kinds") {
        CHECK(trace_parse_kinds("all", &m) == 0 && m == FACTEDIT_TRACE_ALL);
        CHECK(trace_parse_kinds("hidden", &m) == 0 && m == FACTEDIT_TRACE_HIDDEN);
        CHECK(trace_parse_kinds("mlp,attn", &m) == 0 && m == (FACTEDIT_TRACE_MLP | FACTEDIT_TRACE_ATTN));
        CHECK(trace_parse_kinds("attn,attn", &m) == 0 && m == FACTEDIT_TRACE_ATTN);
        CHECK(trace_parse_kinds("", &m) != 0);
        CHECK(trace_parse_kinds("mlp,", &m) != 0);
        CHECK(trace_parse_kinds("MLP", &m) != 0);
        CHECK(trace_parse_kinds("hid", &m) != 0);
        CHECK(trace_parse_kinds("mlpx", &m) != 0);
    }
}

static int near(double a, double b, double tol) { return fabs(a - b) <= tol * (1.0 + fabs(b)); }

/* direct mean / sample sd / interval of n values */
static trace_stat direct(const double *x, int n) {
    trace_stat s;
    double m = 0, ss = 0;
    int i;
    for (i = 0; i < n; i++) m += x[i];
    m /= n;
    for (i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    s.n = n; s.mean = m;
    s.sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
    s.ci_lo = m - 1.96 * s.sd / sqrt((double)n);
    s.ci_hi = m + 1.96 * s.sd / sqrt((double)n);
    return s;
}

static void t_aggregate(void) {
    /* fact A: T 6, subject [1, 4) (3 tokens), L 2; fact B: T 4, subject [0, 1), L 2 */
    float a_scores[3][6 * 2], b_scores[3][4 * 2], a_sev[3][2], b_sev[3][2];
    trace_fact A, B;
    trace_agg g;
    int k, t, l;
    double alow = 0.1, blow = 0.2;
    for (k = 0; k < 3; k++) {
        for (t = 0; t < 6; t++) for (l = 0; l < 2; l++) a_scores[k][t * 2 + l] = (float)(0.1 + 0.01 * (k + 1) * (t + 1) + 0.001 * l);
        for (t = 0; t < 4; t++) for (l = 0; l < 2; l++) b_scores[k][t * 2 + l] = (float)(0.25 + 0.02 * (k + 1) * t - 0.003 * l);
        for (l = 0; l < 2; l++) { a_sev[k][l] = (float)(0.15 + 0.01 * k + 0.02 * l); b_sev[k][l] = (float)(0.3 - 0.01 * k + 0.05 * l); }
    }
    memset(&A, 0, sizeof A);
    memset(&B, 0, sizeof B);
    A.T = 6; A.L = 2; A.sb = 1; A.se = 4; A.low = alow; A.high = 0.9;
    B.T = 4; B.L = 2; B.sb = 0; B.se = 1; B.low = blow; B.high = 0.7;
    for (k = 0; k < 3; k++) { A.scores[k] = a_scores[k]; B.scores[k] = b_scores[k]; A.sever[k] = a_sev[k]; B.sever[k] = b_sev[k]; }
    B.scores[1] = NULL;   /* kind mlp not traced for B */
    TEST("aggregate: init") { CHECK(trace_agg_init(&g, 2) == 0); }
    trace_agg_add(&g, &A);
    trace_agg_add(&g, &B);
    TEST("aggregate: counts and low/high") {
        CHECK(g.kept == 2);
        CHECK(near(g.sum_low, 0.3, 1e-12) && near(g.sum_high, 1.6, 1e-12));
    }
    TEST("aggregate: buckets against direct computation") {
        for (k = 0; k < 3; k++)
            for (l = 0; l < 2; l++) {
                /* per bucket: the effects score - low that fall in it */
                double x[6][8];
                int n[6] = {0, 0, 0, 0, 0, 0}, b;
                for (t = 0; t < 6; t++) {
                    unsigned mk = trace_token_buckets(6, 1, 4, t);
                    for (b = 0; b < 6; b++) if (mk & (1u << b)) x[b][n[b]++] = (double)a_scores[k][t * 2 + l] - alow;
                }
                if (k != 1)
                    for (t = 0; t < 4; t++) {
                        unsigned mk = trace_token_buckets(4, 0, 1, t);
                        for (b = 0; b < 6; b++) if (mk & (1u << b)) x[b][n[b]++] = (double)b_scores[k][t * 2 + l] - blow;
                    }
                for (b = 0; b < 6; b++) {
                    trace_stat got = trace_agg_cell(&g, k, b, l), want;
                    if (!n[b]) { CHECKF(got.n == 0 && isnan(got.mean), "kind %d bucket %d: n %ld", k, b, got.n); continue; }
                    want = direct(x[b], n[b]);
                    CHECKF(got.n == want.n, "kind %d bucket %d layer %d: n %ld, want %ld", k, b, l, got.n, want.n);
                    CHECKF(near(got.mean, want.mean, 1e-12), "kind %d bucket %d layer %d: mean %.17g, want %.17g", k, b, l, got.mean, want.mean);
                    if (n[b] > 1) {
                        CHECKF(near(got.sd, want.sd, 1e-9), "kind %d bucket %d layer %d: sd %.17g, want %.17g", k, b, l, got.sd, want.sd);
                        CHECK(near(got.ci_lo, want.ci_lo, 1e-9) && near(got.ci_hi, want.ci_hi, 1e-9));
                    } else CHECK(isnan(got.sd) && isnan(got.ci_lo) && isnan(got.ci_hi));
                }
            }
    }
    TEST("aggregate: bucket sizes") {
        /* hidden: A (T 6, subject [1, 4)) has one token in each bucket but "further" (4 is the first
           subsequent, 5 the last); B (one-token subject at 0, T 4): first + last at 0, first subsequent 1,
           further 2, last token 3 */
        CHECK(trace_agg_cell(&g, 0, 0, 0).n == 2);
        CHECK(trace_agg_cell(&g, 0, 1, 0).n == 1);
        CHECK(trace_agg_cell(&g, 0, 2, 0).n == 2);
        CHECK(trace_agg_cell(&g, 0, 3, 0).n == 2);
        CHECK(trace_agg_cell(&g, 0, 4, 1).n == 1);
        CHECK(trace_agg_cell(&g, 0, 5, 1).n == 2);
        CHECK(trace_agg_cell(&g, 1, 5, 1).n == 1);   /* mlp: A only */
    }
    TEST("aggregate: severed traces") {
        for (k = 0; k < 3; k++)
            for (l = 0; l < 2; l++) {
                double x[2];
                trace_stat got = trace_agg_sever(&g, k, l), want;
                x[0] = (double)a_sev[k][l] - alow;
                x[1] = (double)b_sev[k][l] - blow;
                want = direct(x, 2);
                CHECK(got.n == 2 && near(got.mean, want.mean, 1e-12) && near(got.sd, want.sd, 1e-9));
            }
    }
    trace_agg_free(&g);
    TEST("aggregate: many facts, Welford = two passes") {
        enum { N = 1000 };
        static double xs[N];
        static float sc[N][1 * 3];
        float sev[3][3] = {{0}};
        trace_fact f;
        trace_stat got, want;
        int i;
        uint64_t s = 12345;
        CHECK(trace_agg_init(&g, 3) == 0);
        for (i = 0; i < N; i++) {
            memset(&f, 0, sizeof f);
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            sc[i][1] = (float)(0.5 + (double)(s >> 11) / 9007199254740992.0 * 1e-3);   /* tiny spread around a large mean */
            sc[i][0] = sc[i][2] = 0.5f;
            f.T = 1; f.L = 3; f.sb = 0; f.se = 1; f.low = 0.25;
            f.scores[0] = sc[i];
            f.sever[0] = sev[0]; f.sever[1] = sev[1]; f.sever[2] = sev[2];
            xs[i] = (double)sc[i][1] - 0.25;
            trace_agg_add(&g, &f);
        }
        got = trace_agg_cell(&g, 0, 0, 1);
        want = direct(xs, N);
        CHECKF(near(got.mean, want.mean, 1e-13) && near(got.sd, want.sd, 1e-9), "mean %.17g / %.17g, sd %.17g / %.17g", got.mean, want.mean, got.sd, want.sd);
        got = trace_agg_cell(&g, 0, 5, 0);   /* the token is also the last token */
        CHECK(got.n == N && near(got.mean, 0.25, 1e-15) && got.sd == 0);
        trace_agg_free(&g);
    }
}

static void t_text(void) {
    sbuf b;
    TEST("json strings") {
        sb_init(&b);
        sb_json_str(&b, "a\"b\\c\n\t\x01\x7f", 9, SB_FFFD_RAW);
        CHECKF(!strcmp(b.p, "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\""), "%s", b.p);
        sb_free(&b);
        sb_init(&b);
        sb_json_str(&b, "caf\xc3\xa9 \xff\xc3 \xe2\x82\xac", 12, SB_FFFD_RAW);   /* valid é, a stray byte, a cut sequence, valid € */
        CHECKF(!strcmp(b.p, "\"caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd \xe2\x82\xac\""), "%s", b.p);
        sb_free(&b);
        sb_init(&b);
        sb_json_str(&b, "a\0b", 3, SB_FFFD_RAW);
        CHECK(!strcmp(b.p, "\"a\\u0000b\""));
        sb_free(&b);
        sb_init(&b);   /* edit and eval's reports escape the replacement character */
        sb_json_str(&b, "caf\xc3\xa9 \xff", 7, SB_FFFD_ESCAPED);
        sb_puts(&b, " ");
        sb_json_cstr(&b, NULL);
        CHECKF(!strcmp(b.p, "\"caf\xc3\xa9 \\ufffd\" null"), "%s", b.p);
        sb_free(&b);
    }
    TEST("json numbers") {
        sb_init(&b);
        sb_json_num(&b, NAN, 9); sb_puts(&b, " "); sb_json_num(&b, -0.0, 9); sb_puts(&b, " "); sb_json_num(&b, 0.1f, 9); sb_puts(&b, " ");
        sb_json_num(&b, 1.0 / 3.0, 17);
        CHECKF(!strcmp(b.p, "null 0 0.100000001 0.33333333333333331"), "%s", b.p);
        CHECK((float)strtod("0.100000001", NULL) == 0.1f);   /* %.9g round-trips floats */
        sb_free(&b);
    }
    TEST("xml and csv") {
        sb_init(&b);
        sb_xml(&b, "<a & \"b\">\x02\xfe", 12);
        CHECKF(!strcmp(b.p, "&lt;a &amp; &quot;b&quot;&gt;\xef\xbf\xbd"), "%s", b.p);
        sb_free(&b);
        sb_init(&b);
        sb_csv_str(&b, " say \"hi\",", 10);
        CHECKF(!strcmp(b.p, "\" say \"\"hi\"\",\""), "%s", b.p);
        sb_free(&b);
    }
    TEST("buffer growth and printf") {
        int i;
        sb_init(&b);
        for (i = 0; i < 1000; i++) sb_printf(&b, "%04d,", i);
        sb_printf(&b, "%s", "");
        CHECK(b.len == 5000 && !b.failed && !strncmp(b.p + 4995, "0999,", 5));
        sb_free(&b);
        sb_init(&b);
        {
            char big[1000];
            memset(big, 'x', sizeof big - 1);
            big[sizeof big - 1] = 0;
            sb_printf(&b, "[%s]", big);   /* longer than the small stack buffer */
            CHECK(b.len == 1001 && b.p[0] == '[' && b.p[1000] == ']');
        }
        sb_free(&b);
    }
    TEST("utf8") {
        CHECK(utf8_seq_len((const unsigned char *)"a", 1) == 1);
        CHECK(utf8_seq_len((const unsigned char *)"\xc3\xa9", 2) == 2);
        CHECK(utf8_seq_len((const unsigned char *)"\xc3", 1) == 0);
        CHECK(utf8_seq_len((const unsigned char *)"\xc0\x80", 2) == 0);          /* overlong */
        CHECK(utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3) == 0);      /* surrogate */
        CHECK(utf8_seq_len((const unsigned char *)"\xf0\x9f\x99\x82", 4) == 4);
        CHECK(utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4) == 0);  /* > U+10FFFF */
        CHECK(utf8_chars("a\xc3\xa9\xff", 4) == 3);
    }
}

/* What format-1 facts files (older factedit) hold as dataset_hash: FNV-1a's loop started from
   1469598103934665603, which is not FNV's offset basis (14695981039346656037). */
static uint64_t legacy_dataset_id(const void *bytes, size_t n) {
    const unsigned char *p = (const unsigned char *)bytes;
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ull; }
    return h;
}

static void t_dataset_id(void) {
    TEST("dataset id: FNV-1a 64 (format 2), not format 1's legacy id") {
        CHECK(trace_dataset_id("", 0) == 0xcbf29ce484222325ull);   /* FNV-1a's offset basis */
        CHECK(trace_dataset_id("a", 1) == 0xaf63dc4c8601ec8cull);  /* the published FNV-1a 64 of "a" */
        CHECK(legacy_dataset_id("a", 1) == 0x44bd8ad473cd9906ull);
        CHECK(trace_dataset_id("a", 1) != legacy_dataset_id("a", 1));
        CHECK(TRACE_FORMAT == 2);
    }
}

static void t_svg(void) {
    double lo, hi, ticks[32];
    int n;
    char buf[64];
    sbuf b;
    TEST("ticks") {
        lo = 0; hi = 0.93;
        n = svg_ticks(&lo, &hi, 5, ticks, 32);
        CHECKF(n == 6 && lo == 0 && near(hi, 1.0, 1e-12) && near(ticks[1], 0.2, 1e-12), "n %d lo %g hi %g", n, lo, hi);
        lo = -0.013; hi = 0.041;
        n = svg_ticks(&lo, &hi, 5, ticks, 32);
        CHECKF(n >= 4 && lo <= -0.013 && hi >= 0.041 && near(ticks[1] - ticks[0], 0.01, 1e-9), "n %d step %g", n, ticks[1] - ticks[0]);
        lo = hi = 0.5;   /* empty range: widened */
        n = svg_ticks(&lo, &hi, 5, ticks, 32);
        CHECK(n >= 2 && lo < 0.5 && hi > 0.5);
        lo = 0; hi = 1;
        CHECK(svg_ticks(&lo, &hi, 100, ticks, 4) == 4);   /* capped */
    }
    TEST("tick labels") {
        svg_fmt_tick(buf, sizeof buf, 0.2, 0.2, 1.0); CHECKF(!strcmp(buf, "0.2"), "%s", buf);
        svg_fmt_tick(buf, sizeof buf, 0.05, 0.01, 0.05); CHECKF(!strcmp(buf, "0.05"), "%s", buf);
        svg_fmt_tick(buf, sizeof buf, 8e-4, 2e-4, 8e-4); CHECKF(!strcmp(buf, "0.0008"), "%s", buf);
        svg_fmt_tick(buf, sizeof buf, 10, 5, 40); CHECKF(!strcmp(buf, "10"), "%s", buf);
        svg_fmt_tick(buf, sizeof buf, 0, 0.2, 1); CHECKF(!strcmp(buf, "0"), "%s", buf);
        svg_fmt_tick(buf, sizeof buf, -1.5e-7, 5e-8, 1.5e-7); CHECKF(!strcmp(buf, "-1.5e-07"), "%s", buf);
        svg_fmt_tick(buf, sizeof buf, 3.1702e-5, 2e-9, 3.1710e-5); CHECKF(!strcmp(buf, "3.1702e-05"), "%s", buf);
    }
    TEST("colour maps") {
        svg_rgb c0 = svg_cmap_at(SVG_PURPLES, 0), c1 = svg_cmap_at(SVG_PURPLES, 1), g1 = svg_cmap_at(SVG_GREENS, 2), r = svg_cmap_at(SVG_REDS, NAN);
        CHECK(c0.r == 0xfc && c0.g == 0xfb && c0.b == 0xfd);
        CHECK(c1.r == 0x3f && c1.g == 0x00 && c1.b == 0x7d);
        CHECK(g1.r == 0x00 && g1.g == 0x44 && g1.b == 0x1b);   /* clamped */
        CHECK(r.r == 0xff && r.g == 0xf5 && r.b == 0xf0);      /* NaN: the low end */
    }
    TEST("a small document") {
        double xs[3] = {0, 1, 2}, ys[3] = {0, 1, 0};
        sb_init(&b);
        svg_begin(&b, 100, 50);
        svg_rect(&b, 1, 2, 3, 4, svg_hex(0x123456));
        svg_text(&b, 5, 6, 10, "end", -90, 1, "a<b", 3);
        svg_polyline(&b, xs, ys, 3, svg_hex(0xff0000), 1.5);
        svg_polygon(&b, xs, ys, 3, svg_hex(0x00ff00), 0.25);
        svg_colorbar(&b, 10, 10, 5, 30, SVG_GREENS, 0, 1, "p(x)");
        svg_end(&b);
        CHECK(!b.failed && strstr(b.p, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100\" height=\"50\"") != NULL);
        CHECK(strstr(b.p, "fill=\"#123456\"") != NULL);
        CHECK(strstr(b.p, ">a&lt;b</text>") != NULL && strstr(b.p, "rotate(-90.0 5.00 6.00)") != NULL);
        CHECK(strstr(b.p, "points=\"0.00,0.00 1.00,1.00 2.00,0.00\"") != NULL);
        CHECK(strstr(b.p, ">p(x)</text>") != NULL);
        CHECK(b.len > 7 && !strcmp(b.p + b.len - 7, "</svg>\n"));
        sb_free(&b);
    }
}

int main(void) {
    t_buckets();
    t_options();
    t_aggregate();
    t_text();
    t_dataset_id();
    t_svg();
    return t_summary();
}
