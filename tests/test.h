/* Minimal test harness shared by every test program (will live at tests/test.h).
   Each test binary prints one line per failed check and ends with "N passed, M failed";
   exit status is non-zero when M > 0. The Makefile sums all binaries. */
#ifndef FACTEDIT_TEST_H
#define FACTEDIT_TEST_H
#include <stdio.h>
#include <math.h>
static int t_passed, t_failed;
static const char *t_current = "";
#define TEST(name) for (t_current = (name); t_current; t_current = NULL)
#define CHECK(cond) do { if (cond) t_passed++; else { t_failed++; \
    printf("FAIL %s: %s (%s:%d)\n", t_current, #cond, __FILE__, __LINE__); } } while (0)
#define CHECKF(cond, ...) do { if (cond) t_passed++; else { t_failed++; \
    printf("FAIL %s: ", t_current); printf(__VA_ARGS__); printf(" (%s:%d)\n", __FILE__, __LINE__); } } while (0)
#define CHECK_CODE(expr, code) do { int t_rc_ = (int)(expr); CHECKF(t_rc_ == (int)(code), "%s returned %d, want %d", #expr, t_rc_, (int)(code)); } while (0)
static int t_summary(void) { printf("%d passed, %d failed\n", t_passed, t_failed); return t_failed ? 1 : 0; }
#endif
