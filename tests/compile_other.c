/* Second translation unit: declarations only. Linking it with compile_main.c proves the header
   can be included in several files with the implementation in exactly one. */
#include "factedit.h"
#include <string.h>
int other_unit(void) {
    fe_rng r;
    fe_rng_seed(&r, 1);
    return strcmp(fe_result_string(fe_ok), "ok") != 0 || fe_rng_uniform(&r) >= 1.0;
}
