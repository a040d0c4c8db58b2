/* key_spectrum: how many key directions of a layer are live (README, "Why, measured").
   usage: key_spectrum STATS...
   For each key-statistics file (factedit stats): the eigenvalues of C = E[k k^T] (fe_cov_moment,
   fe_eigh in double), as the smallest, median and largest, and how many lie below 1e-3, 1e-2
   and 1e-1. A direction far below the others is a key no text of the corpus produces: an edit
   keyed there is free, but no fact can be told apart from another along it. */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int a, rc = 0;
    if (argc < 2) { fprintf(stderr, "usage: key_spectrum STATS...\n"); return 2; }
    for (a = 1; a < argc && rc == 0; a++) {
        fe_cov *c = NULL; fe_stats_info info; fe_error e;
        float *M = NULL; double *A = NULL, *ev = NULL, *V = NULL;
        size_t d, i;
        int below[3] = {0, 0, 0};
        if (fe_stats_load_file(&c, &info, argv[a], NULL, NULL, &e) != fe_ok) {
            fprintf(stderr, "key_spectrum: %s\n", e.msg); return 1;
        }
        d = (size_t)info.dim;
        M = (float *)malloc(d * d * sizeof *M); A = (double *)malloc(d * d * sizeof *A);
        ev = (double *)malloc(d * sizeof *ev); V = (double *)malloc(d * d * sizeof *V);
        if (!M || !A || !ev || !V) { fprintf(stderr, "key_spectrum: out of memory\n"); rc = 1; }
        else {
            fe_cov_moment(c, M);
            for (i = 0; i < d * d; i++) A[i] = M[i];
            if (fe_eigh(A, info.dim, ev, V, NULL, &e) != fe_ok) { fprintf(stderr, "key_spectrum: %s\n", e.msg); rc = 1; }
            else {
                for (i = 0; i < d; i++) { below[0] += ev[i] < 1e-3; below[1] += ev[i] < 1e-2; below[2] += ev[i] < 1e-1; }
                printf("%s: layer %d, %d keys: eigenvalues min %.3g, median %.3g, max %.3g; below 1e-3: %d, 1e-2: %d, "
                       "1e-1: %d\n", argv[a], info.layer, info.dim, ev[0], ev[d / 2], ev[d - 1], below[0], below[1],
                       below[2]);
            }
        }
        free(M); free(A); free(ev); free(V); fe_cov_free(c);
    }
    return rc;
}
