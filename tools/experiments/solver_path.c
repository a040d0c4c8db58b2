/* solver_path: ROME's v* solver, case by case, with the path it took (README, "Why the clamp binds").
   usage: solver_path MODEL VOCAB_DIR COUNTERFACT.json STATS LAYER FIRST END [CLAMP_FACTOR [-v]]
   One line per case of [FIRST, END): case_id, final NLL, |delta|, clamp radius, the first solver
   iteration whose NLL is < 0.5 (-1: none), |delta| and NLL there, iterations, ES PS NS after the
   edit, and the solver's status. CLAMP_FACTOR (default 4, ROME's) <= 0 turns the clamp off.
   -v: before each case's line, one line per solver iteration (loss and its parts, |delta|). */
#define FACTEDIT_IMPLEMENTATION
#include "factedit.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct first_below { int iter, verbose; double norm, nll; } first_below;

static void on_iter(void *user, int iter, int evals, const fe_vparts *p, double delta_norm) {
    first_below *f = (first_below *)user;
    if (f->verbose)
        printf("  iter %d evals %d loss %.4f nll %.4f kl %.4f wd %.4f |delta| %.1f\n", iter, evals, p->loss, p->nll,
               p->kl, p->wd, delta_norm);
    if (f->iter < 0 && p->nll < 0.5) { f->iter = iter; f->norm = delta_norm; f->nll = p->nll; }
}

int main(int argc, char **argv) {
    fe_model *m = NULL; fe_vocab *v = NULL; fe_cf_set *set = NULL; fe_cov *cov = NULL; fe_templates *tpl = NULL;
    fe_stats_info info; fe_rng rng; fe_error e;
    int layer, first, end, i, rc = 1, verbose = argc == 10;
    float clamp_factor;
    if (argc < 8 || argc > 10 || (verbose && strcmp(argv[9], "-v") != 0)) {
        fprintf(stderr, "usage: solver_path MODEL VOCAB_DIR COUNTERFACT.json STATS LAYER FIRST END [CLAMP_FACTOR [-v]]\n");
        return 2;
    }
    layer = atoi(argv[5]); first = atoi(argv[6]); end = atoi(argv[7]);
    clamp_factor = argc > 8 ? (float)atof(argv[8]) : 4.0f;
    if (fe_model_load_file(&m, argv[1], NULL, &e) != fe_ok || fe_vocab_load_dir(&v, argv[2], NULL, &e) != fe_ok ||
        fe_cf_load_file(&set, argv[3], NULL, &e) != fe_ok || fe_stats_load_file(&cov, &info, argv[4], m, NULL, &e) != fe_ok) {
        fprintf(stderr, "solver_path: %s\n", e.msg); goto done;
    }
    if (fe_cov_factor(cov, 0, &e) != fe_ok) fprintf(stderr, "solver_path: note: %s\n", e.msg);
    fe_rng_seed(&rng, 0);   /* the context templates of 'factedit eval' (seed 0) */
    if (fe_templates_rome(&tpl, m, v, &rng, &e) != fe_ok) { fprintf(stderr, "solver_path: %s\n", e.msg); goto done; }
    for (i = first; i < end && (size_t)i < fe_cf_count(set); i++) {
        fe_rome_hparams hp;
        fe_cf_result r;
        first_below f = {-1, 0, 0, 0};
        f.verbose = verbose;
        fe_rome_hparams_default(&hp, m);
        hp.layer = layer;
        hp.clamp_norm_factor = clamp_factor;
        hp.progress = on_iter;
        hp.progress_user = &f;
        if (fe_cf_eval_case(m, v, fe_cf_at(set, (size_t)i), tpl, &hp, cov, &r, &e) != fe_ok) {
            fprintf(stderr, "solver_path: case %d: %s\n", i, e.msg); goto done;
        }
        printf("%d %.4f %.1f %.1f %d %.1f %.4f %d %.3f %.3f %.3f %d\n", r.case_id, r.report.last.nll, r.report.delta_norm,
               r.report.clamp, f.iter, f.norm, f.nll, r.report.iters, r.post.es, r.post.ps, r.post.ns, r.report.status);
        fflush(stdout);
    }
    rc = 0;
done:
    fe_templates_free(tpl); fe_cov_free(cov); fe_cf_free(set); fe_vocab_free(v); fe_model_free(m);
    return rc;
}
