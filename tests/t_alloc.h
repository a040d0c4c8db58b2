/* Counting allocator with failure injection for the part tests: define before common.h.
   user == NULL behaves like plain malloc; otherwise allocations are counted and the
   fail_after-th allocation (0-based) fails. Checks that every nomem path cleans up. */
#ifndef T_ALLOC_H
#define T_ALLOC_H
#include <stdlib.h>
typedef struct t_alloc { long live, calls, fail_after; } t_alloc;   /* fail_after < 0: never fail */
static void *t_malloc(size_t n, void *u) {
    t_alloc *a = (t_alloc *)u;
    if (a) { if (a->fail_after >= 0 && a->calls >= a->fail_after) return NULL; a->calls++; a->live++; }
    return malloc(n);
}
static void *t_realloc(void *p, size_t n, void *u) {
    t_alloc *a = (t_alloc *)u;
    if (a) { if (a->fail_after >= 0 && a->calls >= a->fail_after) return NULL; a->calls++; if (!p) a->live++; }
    return realloc(p, n);
}
static void t_free(void *p, void *u) { t_alloc *a = (t_alloc *)u; if (a && p) a->live--; free(p); }
#define FACTEDIT_MALLOC(sz, user) t_malloc((sz), (user))
#define FACTEDIT_REALLOC(p, sz, user) t_realloc((p), (sz), (user))
#define FACTEDIT_FREE(p, user) t_free((p), (user))
#endif
