#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L   /* fileno, isatty */
#endif
/* factedit layers: which layer should ROME edit? For each candidate layer: the key statistics
   (loaded from a cache directory, or computed over a text and cached), ROME on the first N cases
   of a CounterFact dataset (ES, PS, NS, Score), and, when a dataset trace's summary is given, the
   average indirect effect of the MLP at the last subject token (the figure ROME chose layer 17 of
   GPT-2 XL's 48 by). Prints the table and the layer it picks: the best Score (ties: the earlier
   layer), and why. */
#include "buf.h"
#include "cli.h"
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__unix__) || defined(__APPLE__)
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#endif

int fe_cmd_layers(int argc, char **argv);

typedef struct layer_row {
    int layer, have_aie, from_cache;
    double aie_mlp, aie_hidden, stats_s, eval_s;
    fe_cf_summary sum;
    int n_cases, n_clamped;   /* cases whose v* ended on the |delta| clamp */
    double mean_nll;          /* of v*'s objective at the end, over the cases */
} layer_row;

/* The MLP's and the hidden state's mean AIE at the last subject token per layer, from a
   `trace --dataset` summary.json, as fractions of its total effect. */
static int read_aie(const char *path, int L, double *mlp, double *hidden, double *te, char *why, size_t cap) {
    unsigned char *b = NULL;
    size_t len = 0, i;
    fe_json *doc = NULL;
    fe_error e;
    const fe_json_value *root, *aie, *t;
    int k, rc = 1;
    if (fe_read_file(path, &b, &len, NULL, &e) != fe_ok) { snprintf(why, cap, "%s", e.msg); return 1; }
    if (fe_json_parse(&doc, (const char *)b, len, NULL, &e) != fe_ok) { snprintf(why, cap, "%s: %s", path, e.msg); free(b); return 1; }
    root = fe_json_root(doc);
    t = fe_json_get(root, "total_effect");
    aie = fe_json_get(root, "aie");
    if (!t || t->type != fe_json_number || !aie || aie->type != fe_json_object) {
        snprintf(why, cap, "%s: not a trace summary (no total_effect / aie: see 'factedit trace --dataset')", path);
        goto done;
    }
    *te = t->number;
    for (k = 0; k < 2; k++) {
        const fe_json_value *kind = fe_json_get(aie, k ? "hidden" : "mlp"), *mean = NULL;
        double *dst = k ? hidden : mlp;
        if (!kind || kind->type != fe_json_array) { snprintf(why, cap, "%s: the trace has no '%s' kind (trace with --kind all)", path, k ? "hidden" : "mlp"); goto done; }
        for (i = 0; i < kind->count; i++) {
            const fe_json_value *bk = fe_json_at(kind, i), *name = fe_json_get(bk, "bucket");
            if (name && name->type == fe_json_string && !strcmp(name->str, "last subject token")) mean = fe_json_get(bk, "mean");
        }
        if (!mean || mean->type != fe_json_array || (int)mean->count != L) {
            snprintf(why, cap, "%s: no 'last subject token' means for %d layers (a trace of another model?)", path, L);
            goto done;
        }
        for (i = 0; i < mean->count; i++) {
            const fe_json_value *x = fe_json_at(mean, i);
            dst[i] = x && x->type == fe_json_number ? x->number : NAN;
        }
    }
    rc = 0;
done:
    fe_json_free(doc);
    free(b);
    return rc;
}

/* DIR/stats_l<L>.bin */
static int cache_path(const char *cache, int layer, char *path, size_t cap) {
    int k = snprintf(path, cap, "%s/stats_l%d.bin", cache, layer);
    if (k < 0 || (size_t)k >= cap) return fail("layers", "--cache: path too long");
    return 0;
}

int fe_cmd_layers(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *dataset = NULL, *text_path = NULL, *cache = NULL, *aie_path = NULL, *range = NULL;
    int tty = 0, limit = 40, json = 0, quiet = 0, lines = 0, rc = 0, lo, hi, l, i, best = -1, L, *tok = NULL, first, last;
    uint64_t seed = 0, max_tokens = 0, cs;
    size_t ntok = 0;
    double ridge = 0.0, nll_stop = 0.0, te = NAN, *aie_mlp = NULL, *aie_hidden = NULL;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_cf_set *set = NULL;
    fe_templates *tpl = NULL;
    layer_row *rows = NULL;
    fe_cov **covs = NULL;
    char path[4200];
    fe_cf_result *res = NULL;
    fe_error e;
    fe_rng rng;
    char msg[512];
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (default: the model's own)", 0},
        {"--dataset", NULL, ARG_STR, &dataset, 0, 0, "FILE", "CounterFact cases to edit at each layer (required)", 0},
        {"--limit", NULL, ARG_INT, &limit, 1, INT_MAX, "N", "the first N cases (default 40)", 0},
        {"--text", NULL, ARG_STR, &text_path, 0, 0, "FILE", "text for the key statistics of layers not in --cache", 0},
        {"--lines", NULL, ARG_FLAG, &lines, 0, 0, "", "--text is one document per line (as 'factedit stats --lines')", 0},
        {"--tokens", NULL, ARG_U64, &max_tokens, 0, 0, "N", "the first N tokens of --text only", 0},
        {"--cache", NULL, ARG_STR, &cache, 0, 0, "DIR", "statistics cache: DIR/stats_l<L>.bin is loaded if it belongs to the model, else computed and written", 0},
        {"--layers", NULL, ARG_STR, &range, 0, 0, "A-B", "candidate layers (default 0 to L-2: the last layer's MLP output cannot reach the next token through a later layer)", 0},
        {"--aie", NULL, ARG_STR, &aie_path, 0, 0, "FILE", "summary.json of 'factedit trace --dataset': adds the MLP's and hidden state's AIE at the last subject token", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of ROME's generated context templates (default 0, as eval)", 0},
        {"--ridge", NULL, ARG_FLOAT, &ridge, 0, 0, "X", "added to the covariance's diagonal (default 0)", 0},
        {"--nll-stop", NULL, ARG_FLOAT, &nll_stop, 0, 0, "X", "also stop v*'s solve once its NLL alone is below X (default 0: off)", 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0, "", "print the table as JSON", 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0, "", "no progress on stderr", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "layers", "--dataset FILE (--text FILE | --cache DIR) [options]",
                  "Chooses ROME's edit layer by experiment: for each candidate layer, the key statistics (from\n"
                  "--cache or computed over --text), then ROME on the first --limit cases of a CounterFact\n"
                  "dataset (ES, PS, NS, Score as 'factedit eval'), and with --aie the causal trace's MLP effect\n"
                  "at the last subject token. Picks the layer with the best Score (ties: the earlier layer).");
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    rc = 0;
    if (!dataset) return cli_usage_error(&s, "no --dataset given");
    if (!text_path && !cache) return cli_usage_error(&s, "the statistics need --text FILE (and/or --cache DIR holding them)");
    if (ridge < 0) return cli_usage_error(&s, "--ridge must be >= 0");
    if (!(nll_stop >= 0)) return cli_usage_error(&s, "--nll-stop must be >= 0");
    {   /* every input checked before any work (cli_paths_check: regular files, no FIFO hangs) */
        cli_paths ps;
        cli_paths_init(&ps, "layers");
        cli_in(&ps, "--model", model_path);
        cli_in_vocab(&ps, vocab_dir, model_path);
        cli_in(&ps, "--dataset", dataset);
        cli_in(&ps, "--text", text_path);
        cli_in(&ps, "--aie", aie_path);
        if ((rc = cli_paths_check(&ps)) != 0) return rc;
    }
#if defined(__unix__) || defined(__APPLE__)
    tty = isatty(fileno(stderr));
    if (cache) {   /* made (or refused) before any work */
        struct stat st;
        if (mkdir(cache, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "factedit layers: cannot create the cache directory '%s': %s\n", cache, strerror(errno));
            return EXIT_USAGE;
        }
        if (stat(cache, &st) != 0 || !S_ISDIR(st.st_mode)) { fprintf(stderr, "factedit layers: --cache '%s' is not a directory\n", cache); return EXIT_USAGE; }
    }
#endif
    if ((rc = load_model("layers", model_path, 0, &m)) != 0) return rc;
    L = m->config.num_layers;
    if (L < 2) { fprintf(stderr, "factedit layers: the model has %d layer; ROME needs a layer after the edited one\n", L); rc = EXIT_FAIL; goto done; }
    lo = 0; hi = L - 2;
    if (range) {
        long a, b;
        const char *dash = strchr(range, '-');
        char first[32];
        if (!dash || (size_t)(dash - range) >= sizeof first) { rc = cli_usage_error(&s, "--layers: '%s' is not A-B", range); goto done; }
        memcpy(first, range, (size_t)(dash - range));
        first[dash - range] = 0;
        if (parse_long(first, 0, INT_MAX, &a) || parse_long(dash + 1, 0, INT_MAX, &b) || a > b) {
            rc = cli_usage_error(&s, "--layers: '%s' is not A-B with 0 <= A <= B", range); goto done;
        }
        if (b > L - 2) {
            fprintf(stderr, "factedit layers: --layers %s: this model's candidate layers are 0..%d (layer %d is the last: its MLP output cannot reach the prediction through a later layer)\n",
                    range, L - 2, L - 1);
            rc = EXIT_USAGE; goto done;
        }
        lo = (int)a; hi = (int)b;
    }
    if ((rc = load_vocab("layers", vocab_dir, model_path, &v)) != 0) goto done;
    if (fe_cf_load_file(&set, dataset, NULL, &e) != fe_ok) { rc = fail("layers", e.msg); goto done; }
    if (fe_cf_count(set) == 0) { fprintf(stderr, "factedit layers: %s holds no cases\n", dataset); rc = EXIT_FAIL; goto done; }
    if ((size_t)limit > fe_cf_count(set)) limit = (int)fe_cf_count(set);
    if (aie_path) {
        aie_mlp = (double *)malloc(sizeof(double) * 2 * (size_t)L);
        if (!aie_mlp) { rc = fail("layers", "out of memory"); goto done; }
        aie_hidden = aie_mlp + L;
        if (read_aie(aie_path, L, aie_mlp, aie_hidden, &te, msg, sizeof msg)) { rc = fail("layers", msg); goto done; }
    }
    rows = (layer_row *)calloc((size_t)(hi - lo + 1), sizeof *rows);
    res = (fe_cf_result *)calloc((size_t)limit, sizeof *res);
    if (!rows || !res) { rc = fail("layers", "out of memory"); goto done; }
    cs = fe_model_checksum(m);
    fe_rng_seed(&rng, seed);
    if (!quiet) fprintf(stderr, "factedit layers: generating ROME's context templates (seed %llu)...\n", (unsigned long long)seed);
    if (fe_templates_rome(&tpl, m, v, &rng, &e) != fe_ok) { rc = fail("layers", e.msg); goto done; }
    covs = (fe_cov **)calloc((size_t)(hi - lo + 1), sizeof *covs);
    if (!covs) { rc = fail("layers", "out of memory"); goto done; }
    /* the statistics: each layer's from the cache when it is there; the missing ones computed
       together, from one forward pass over the text (a layer's keys do not depend on later layers,
       so each is bit-identical to 'factedit stats' of that layer), then cached */
    for (l = lo; l <= hi; l++) {
        layer_row *r = &rows[l - lo];
        r->layer = l;
        if (aie_path) { r->have_aie = 1; r->aie_mlp = aie_mlp[l]; r->aie_hidden = aie_hidden[l]; }
        if (!cache) continue;
        if ((rc = cache_path(cache, l, path, sizeof path)) != 0) goto done;
        if (file_exists(path)) {
            fe_stats_info info;
            if (fe_stats_load_file(&covs[l - lo], &info, path, m, NULL, &e) != fe_ok) {
                fprintf(stderr, "factedit layers: %s: %s\n", path, e.msg);
                rc = EXIT_FAIL; goto done;
            }
            if (info.layer != l) { fprintf(stderr, "factedit layers: %s holds layer %d, not %d\n", path, info.layer, l); rc = EXIT_FAIL; goto done; }
            r->from_cache = 1;
        }
    }
    for (first = lo; first <= hi && covs[first - lo]; first++) {}
    for (last = hi; last >= first && covs[last - lo]; last--) {}
    if (first <= last) {   /* layers first..last hold every missing one */
        fe_cov **fresh;
        double t0 = cli_wall(), per;
        int missing = 0;
        if (!text_path) { fprintf(stderr, "factedit layers: no statistics for layer %d in %s and no --text to compute them\n", first, cache); rc = EXIT_FAIL; goto done; }
        if ((rc = read_text_tokens("layers", m, v, text_path, lines, max_tokens, &tok, &ntok)) != 0) goto done;
        if (!quiet) fprintf(stderr, "factedit layers: key statistics of layers %d..%d over %zu tokens...\n", first, last, ntok);
        fresh = (fe_cov **)calloc((size_t)(last - first + 1), sizeof *fresh);
        if (!fresh) { rc = fail("layers", "out of memory"); goto done; }
        if (fe_stats_compute_layers(fresh, m, first, last - first + 1, tok, ntok, 0, NULL, NULL, &e) != fe_ok) {
            free(fresh); rc = fail("layers", e.msg); goto done;
        }
        for (l = first; l <= last; l++) {
            if (covs[l - lo]) { fe_cov_free(fresh[l - first]); continue; }   /* cached */
            covs[l - lo] = fresh[l - first];
            missing++;
        }
        free(fresh);
        per = (cli_wall() - t0) / missing;   /* the shared pass, shared out */
        for (l = first; l <= last; l++) {
            if (rows[l - lo].from_cache) continue;
            rows[l - lo].stats_s = per;
            if (!cache) continue;
            if ((rc = cache_path(cache, l, path, sizeof path)) != 0) goto done;
            if (fe_stats_save_file(path, covs[l - lo], l, m, cs, &e) != fe_ok) { rc = fail("layers", e.msg); goto done; }
        }
    }
    for (l = lo; l <= hi; l++) {
        layer_row *r = &rows[l - lo];
        fe_cov *cov = covs[l - lo];
        fe_rome_hparams hp;
        fe_cf_scores *post;
        double t0;
        if (fe_cov_factor(cov, ridge, &e) != fe_ok && !quiet) fprintf(stderr, "factedit layers: note: layer %d: %s; solving with CG\n", l, e.msg);
        fe_rome_hparams_for(&hp, m);
        hp.layer = l;
        hp.cov_ridge = ridge;
        hp.nll_stop = nll_stop;
        t0 = cli_wall();
        post = (fe_cf_scores *)calloc((size_t)limit, sizeof *post);
        if (!post) { rc = fail("layers", "out of memory"); goto done; }
        for (i = 0; i < limit; i++) {
            const fe_cf_case *c = fe_cf_at(set, (size_t)i);
            if (!quiet && tty) fprintf(stderr, "\rfactedit layers: layer %d: case %d/%d ", l, i + 1, limit);
            if (fe_cf_eval_case(m, v, c, tpl, &hp, cov, &res[i], &e) != fe_ok) {
                if (!quiet && tty) fputc('\n', stderr);
                fprintf(stderr, "factedit layers: layer %d, case %d (case_id %d): %s\n", l, i, c->case_id, e.msg);
                free(post); rc = EXIT_FAIL; goto done;
            }
            post[i] = res[i].post;
            r->mean_nll += res[i].report.last.nll / limit;
            r->n_clamped += res[i].report.clamp > 0 && res[i].report.delta_norm >= 0.999 * res[i].report.clamp;
        }
        if (!quiet && tty) fputc('\n', stderr);
        fe_cf_summarize(post, (size_t)limit, &r->sum);
        r->n_cases = limit;
        r->eval_s = cli_wall() - t0;
        free(post);
        if (best < 0 || r->sum.mean[fe_cf_metric_score] > rows[best].sum.mean[fe_cf_metric_score] + 1e-12) best = l - lo;
    }
    if (json) {
        sbuf jb;
        sb_init(&jb);
        sb_printf(&jb, "{\"model_checksum\": \"%016llx\", \"dataset\": ", (unsigned long long)cs);
        sb_json_cstr(&jb, dataset);
        sb_printf(&jb, ", \"cases\": %d, \"total_effect\": ", limit);
        sb_json_num(&jb, te, 17);
        sb_printf(&jb, ", \"picked\": %d, \"layers\": [", rows[best].layer);
        for (l = 0; l <= hi - lo; l++) {
            const layer_row *r = &rows[l];
            int k;
            sb_printf(&jb, "%s\n  {\"layer\": %d, \"stats_cached\": %s", l ? "," : "", r->layer, r->from_cache ? "true" : "false");
            for (k = 0; k < fe_cf_metric_count; k++) {
                sb_printf(&jb, ", \"%s\": ", fe_cf_metric_name(k));
                sb_json_num(&jb, r->sum.mean[k], 17);
            }
            sb_puts(&jb, ", \"v_nll\": "); sb_json_num(&jb, r->mean_nll, 17);
            sb_printf(&jb, ", \"clamped\": %d, \"aie_mlp\": ", r->n_clamped);
            sb_json_num(&jb, r->have_aie ? r->aie_mlp : NAN, 17);
            sb_puts(&jb, ", \"aie_hidden\": ");
            sb_json_num(&jb, r->have_aie ? r->aie_hidden : NAN, 17);
            sb_printf(&jb, ", \"seconds\": %.3f}", r->stats_s + r->eval_s);
        }
        sb_puts(&jb, "\n]}\n");
        if (jb.failed) { sb_free(&jb); rc = fail("layers", "out of memory"); goto done; }
        fwrite(jb.p, 1, jb.len, stdout);
        sb_free(&jb);
    } else {
        printf("ROME at each layer, first %d cases of %s (covariance %s):\n\n", limit, dataset, cache ? cache : "computed over --text");
        printf("layer |   ES    PS    NS  Score | v* NLL  on clamp |%s time\n", aie_path ? " AIE mlp  AIE hidden (last subject token, / TE) |" : "");
        for (l = 0; l <= hi - lo; l++) {
            const layer_row *r = &rows[l];
            printf("%5d | %5.1f %5.1f %5.1f %5.1f | %6.3f  %3d/%-3d |", r->layer, 100 * r->sum.mean[fe_cf_metric_es], 100 * r->sum.mean[fe_cf_metric_ps],
                   100 * r->sum.mean[fe_cf_metric_ns], 100 * r->sum.mean[fe_cf_metric_score], r->mean_nll, r->n_clamped, r->n_cases);
            if (aie_path) printf("  %7.3f   %9.3f  (%4.2f, %4.2f)             |", r->aie_mlp, r->aie_hidden, r->aie_mlp / te, r->aie_hidden / te);
            printf(" %5.1f s%s\n", r->stats_s + r->eval_s, l == best ? "   <- picked" : "");
        }
        printf("\npicked layer %d: the best Score (%.1f = harmonic mean of ES %.1f, PS %.1f, NS %.1f)", rows[best].layer,
               100 * rows[best].sum.mean[fe_cf_metric_score], 100 * rows[best].sum.mean[fe_cf_metric_es], 100 * rows[best].sum.mean[fe_cf_metric_ps],
               100 * rows[best].sum.mean[fe_cf_metric_ns]);
        if (hi > lo) {
            int second = -1;
            for (l = 0; l <= hi - lo; l++)
                if (l != best && (second < 0 || rows[l].sum.mean[fe_cf_metric_score] > rows[second].sum.mean[fe_cf_metric_score])) second = l;
            printf("; next best layer %d (%.1f)", rows[second].layer, 100 * rows[second].sum.mean[fe_cf_metric_score]);
        }
        printf(".\n");
        if (aie_path) {
            int peak = lo;
            for (l = lo; l <= hi; l++) if (aie_mlp[l] > aie_mlp[peak]) peak = l;
            printf("The MLP's indirect effect at the last subject token peaks at layer %d (%.3f = %.2f of the total effect %.3f)%s.\n", peak,
                   aie_mlp[peak], aie_mlp[peak] / te, te, peak == rows[best].layer ? ", the same layer" : "");
        }
    }
    rc = finish_stdout("layers");
done:
    if (covs)
        for (l = lo; l <= hi; l++) fe_cov_free(covs[l - lo]);
    free(covs);
    free(tok);
    free(rows);
    free(res);
    free(aie_mlp);
    fe_templates_free(tpl);
    fe_cf_free(set);
    fe_vocab_free(v);
    fe_model_free(m);
    return rc;
}
