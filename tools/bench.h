/* Parts of `factedit bench` that depend on the tracing and ROME sections. */
#ifndef FACTEDIT_BENCH_H
#define FACTEDIT_BENCH_H
#include "factedit.h"
int fe_cmd_bench(int argc, char **argv);
/* Times the full three-kind trace grid (fast and, unless quick, plain) and one ROME edit on m;
   a figure that cannot be measured is left at -1. */
void bench_trace_edit(const fe_model *m, int quick, double *trace_s, double *trace_plain_s, double *edit_s);
#endif
