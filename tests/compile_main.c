/* Built by tests/compile_check.sh in many configurations (C99/C++, gcc/clang, FACTEDIT_STATIC,
   custom allocator, FACTEDIT_NO_SIMD, FACTEDIT_NO_STDIO) together with compile_other.c, a second
   translation unit that includes the header without the implementation. */
#ifdef TEST_CUSTOM_ALLOC
#include <stdlib.h>
typedef struct counter { long live, calls; } counter;
static void *my_malloc(size_t n, void *u) { counter *c = (counter *)u; if (c) { c->live++; c->calls++; } return malloc(n); }
static void *my_realloc(void *p, size_t n, void *u) { counter *c = (counter *)u; if (c && !p) { c->live++; c->calls++; } return realloc(p, n); }
static void my_free(void *p, void *u) { counter *c = (counter *)u; if (c && p) c->live--; free(p); }
#define FACTEDIT_MALLOC(sz, u) my_malloc((sz), (u))
#define FACTEDIT_REALLOC(p, sz, u) my_realloc((p), (sz), (u))
#define FACTEDIT_FREE(p, u) my_free((p), (u))
#endif
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include <stdio.h>

#ifdef TEST_SINGLE_TU
static int other_unit(void) { return 0; }
#else
int other_unit(void);
#endif

int main(void) {
    fe_config c = {16, 50, 128, 2, 2, 8};
    fe_model *m;
    fe_state *s;
    fe_error e;
    fe_load_opts o;
    int toks[3] = {1, 2, 3}, out[4];
#ifdef TEST_CUSTOM_ALLOC
    counter cnt = {0, 0};
#endif
    memset(&o, 0, sizeof o);
#ifdef TEST_CUSTOM_ALLOC
    o.alloc_user = &cnt;
#endif
    if (fe_model_new(&m, &c, &o, &e) != fe_ok) { printf("model: %s\n", e.msg); return 1; }
    fe_model_randomize(m, 7);
    if (fe_state_new(&s, m, 1, 8, 0, &e) != fe_ok) { printf("state: %s\n", e.msg); return 1; }
    if (fe_forward(m, s, toks, 3, NULL, &e) != fe_ok) { printf("forward: %s\n", e.msg); return 1; }
    if (fe_generate(m, toks, 3, 4, NULL, NULL, out, &e) != fe_ok) { printf("generate: %s\n", e.msg); return 1; }
    fe_state_free(s);
#ifdef TEST_CUSTOM_ALLOC
    if (cnt.calls < 2) { printf("custom allocator not used\n"); return 1; }
#endif
    fe_model_free(m);
#ifdef TEST_CUSTOM_ALLOC
    if (cnt.live != 0) { printf("custom allocator: %ld blocks leaked\n", cnt.live); return 1; }
#endif
    if (other_unit() != 0) return 1;
    printf("ok %s\n", fe_simd_name());
    return 0;
}
