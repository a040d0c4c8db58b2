/* factedit edit / eval / stats: ROME (Meng et al. 2022) from the command line.

   factedit stats --model M --text FILE --out FILE [--layer L] [--tokens N] [--lines] ...
       the uncentered covariance of the MLP keys (mlp.c_proj inputs) of one layer over a text:
       ROME's "mom2" statistics, which make an edit specific to its subject.
   factedit edit --model M --prompt "{} is located in the city of" --subject "The Space Needle"
                 --target " Paris" [--stats FILE] [--paraphrase TEXT]... [--neighbor TEXT]... ...
       computes and applies one ROME edit; prints the top-5 next tokens of the prompt, each
       paraphrase and neighbour before and after, a greedy continuation before and after, and the
       solver's trace; --out writes the edited model, --patch the edit (to apply later with --apply).
   factedit eval --model M --dataset cf.json [--stats FILE] [--limit N] [--shard i/n] ...
   factedit eval --merge REPORT.json...
       ROME's CounterFact metrics (ES, EM, PS, PM, NS, NM, Score with 95% intervals), each case
       edited on the pristine model and undone.
   The library side is the >>api-rome-glue section of factedit.h (file formats, metrics); this file only drives it. */
#if !defined(_POSIX_C_SOURCE) && (defined(__unix__) || defined(__APPLE__))
#define _POSIX_C_SOURCE 200809L
#endif
#include "factedit.h"
#include "cli.h"
#include "cmd_rome.h"
#include "buf.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ================================================================== helpers ============= */

/* Moves every "--NAME VALUE" / "--NAME=VALUE" of the repeatable options names[0..1] out of argv
   into lists (each with room for argc entries), keeping other options' values in place. */
static int take_repeated(cli_spec *s, int argc, char **argv, char **kept, int *nkept, const char *const names[2], const char **lists[2], int counts[2]) {
    int i, j, k, only_pos = 0;
    *nkept = 0;
    counts[0] = counts[1] = 0;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        int hit = -1;
        size_t ln;
        if (i == 0 || only_pos || a[0] != '-' || a[1] == 0) { kept[(*nkept)++] = argv[i]; continue; }
        if (!strcmp(a, "--")) { only_pos = 1; kept[(*nkept)++] = argv[i]; continue; }
        for (k = 0; k < 2; k++) {
            ln = strlen(names[k]);
            if (!strncmp(a, names[k], ln) && (a[ln] == 0 || a[ln] == '=')) hit = k;
        }
        if (hit >= 0) {
            ln = strlen(names[hit]);
            if (a[ln] == '=') lists[hit][counts[hit]++] = a + ln + 1;
            else if (i + 1 < argc) lists[hit][counts[hit]++] = argv[++i];
            else return cli_usage_error(s, "%s needs a value (TEXT)", names[hit]);
            continue;
        }
        kept[(*nkept)++] = argv[i];
        /* an option of the table that takes a value: its value stays with it */
        for (j = 0; j < s->nopts; j++) {
            const cli_opt *o = &s->opts[j];
            if (o->kind != ARG_FLAG && (!strcmp(a, o->name) || (o->alias && !strcmp(a, o->alias))) && i + 1 < argc) { kept[(*nkept)++] = argv[++i]; break; }
        }
    }
    return CLI_OK;
}

/* Templates from a file: one per line, each with exactly one "{}"; blank lines skipped. */
static int load_templates_file(const char *cmd, const char *path, fe_templates **out) {
    unsigned char *b = NULL;
    size_t len = 0, i, start = 0;
    const char **lines = NULL;
    int n = 0, rc = 0;
    fe_error e;
    if (fe_read_file(path, &b, &len, NULL, &e) != fe_ok) return fail(cmd, e.msg);
    lines = (const char **)malloc(sizeof(char *) * (len / 2 + 2));
    if (!lines) { free(b); return fail(cmd, "out of memory"); }
    for (i = 0; i <= len; i++) {
        if (i == len || b[i] == '\n') {
            size_t end = i;
            if (end > start && b[end - 1] == '\r') end--;
            b[end] = 0;
            if (end > start) {
                if (memchr(b + start, 0, end - start)) { fprintf(stderr, "factedit %s: %s: line %d holds a NUL byte\n", cmd, path, n + 1); rc = EXIT_FAIL; break; }
                lines[n++] = (const char *)b + start;
            }
            start = i + 1;
        }
    }
    if (!rc && n == 0) { fprintf(stderr, "factedit %s: %s: no templates (one per line, each with \"{}\")\n", cmd, path); rc = EXIT_FAIL; }
    if (!rc && fe_templates_from_list(out, lines, n, NULL, &e) != fe_ok) { fprintf(stderr, "factedit %s: %s: %s\n", cmd, path, e.msg); rc = EXIT_FAIL; }
    free(lines);
    free(b);
    return rc;
}

/* --templates FILE, else ROME's: "{}" + 20 prefixes generated from the model with the seed. */
static int make_templates(const char *cmd, const fe_model *m, const fe_vocab *v, const char *path, uint64_t seed, fe_templates **t) {
    fe_rng rng;
    fe_error e;
    if (path) return load_templates_file(cmd, path, t);
    fe_rng_seed(&rng, seed);
    if (fe_templates_rome(t, m, v, &rng, &e) != fe_ok) return fail(cmd, e.msg);
    return 0;
}

/* --stats FILE (checked against the model), and the layer it fixes. */
static int load_stats(const char *cmd, const char *path, const fe_model *m, fe_cov **cov, fe_stats_info *info, int *layer, int layer_given) {
    fe_error e;
    if (fe_stats_load_file(cov, info, path, m, NULL, &e) != fe_ok) return fail(cmd, e.msg);
    if (layer_given && *layer != info->layer) {
        fprintf(stderr, "factedit %s: --layer %d, but the statistics in %s are for layer %d (compute them for layer %d with 'factedit stats --layer %d')\n",
                cmd, *layer, path, info->layer, *layer, *layer);
        fe_cov_free(*cov); *cov = NULL;
        return EXIT_FAIL;
    }
    *layer = info->layer;
    return 0;
}

/* The covariance's Cholesky factor for this ridge, once per run: every u then takes one or two
   CG iterations. A matrix that is not positive definite keeps the Jacobi-preconditioned CG. */
static void factor_stats(const char *cmd, fe_cov *cov, double ridge, int quiet) {
    fe_error e;
    if (fe_cov_factor(cov, ridge, &e) != fe_ok && !quiet)
        fprintf(stderr, "factedit %s: note: %s; solving with Jacobi-preconditioned CG instead\n", cmd, e.msg);
}

static void no_stats_warning(const char *cmd) {
    fprintf(stderr,
            "factedit %s: WARNING: no --stats: the key covariance is taken as the identity (C = I, u = k*/|k*|).\n"
            "factedit %s: WARNING: ROME's edit needs C = E[k k^T] of the edited layer to stay specific to its subject;\n"
            "factedit %s: WARNING: without it neighbouring facts change too. Compute it once with 'factedit stats'.\n",
            cmd, cmd, cmd);
}

/* The last layer's MLP output at the subject reaches the prediction through no later attention:
   the v* objective's gradient there is zero and an edit would change nothing. */
static int last_layer_error(const char *cmd, int layer, int L) {
    if (L == 1)
        fprintf(stderr, "factedit %s: layer 0 is the model's only layer: its MLP output at the subject cannot reach the prediction "
                        "(no later layer carries it to the last token), so no layer of a 1-layer model can be edited\n", cmd);
    else
        fprintf(stderr, "factedit %s: layer %d is the model's last layer (layers 0..%d): its MLP output at the subject cannot reach the "
                        "prediction (no later layer carries it to the last token), so an edit there changes nothing; use a layer of 0..%d\n",
                cmd, layer, L - 1, L - 2);
    return EXIT_FAIL;
}

/* What edit and eval share: statistics (or the loud warning), the layer they fix or --layer,
   checked against the model, the solver (Adam with ROME's 20 steps), the ridge and the factor. */
static int edit_setup(const char *cmd, const fe_model *m, const char *stats_path, int layer, int layer_given, const char *solver_s,
                      double ridge, double nll_stop, int quiet, fe_rome_hparams *hp, fe_cov **cov, fe_stats_info *info) {
    int rc;
    if (stats_path && (rc = load_stats(cmd, stats_path, m, cov, info, &layer, layer_given)) != 0) return rc;
    if (layer >= 0) hp->layer = layer;
    if (hp->layer >= m->config.num_layers) {
        fprintf(stderr, "factedit %s: --layer %d is outside the model's layers 0..%d\n", cmd, hp->layer, m->config.num_layers - 1);
        return EXIT_FAIL;
    }
    if (hp->layer == m->config.num_layers - 1) return last_layer_error(cmd, hp->layer, m->config.num_layers);
    if (!stats_path) no_stats_warning(cmd);
    hp->solver = solver_s && !strcmp(solver_s, "adam") ? fe_solver_adam : fe_solver_cg;
    if (hp->solver == fe_solver_adam) hp->max_iters = 20;
    hp->cov_ridge = ridge;
    hp->nll_stop = nll_stop;
    if (*cov) factor_stats(cmd, *cov, ridge, quiet);
    return 0;
}

/* --solver, --ridge and --nll-stop, checked before anything is loaded: 0, or the usage error's status. */
static int check_solver_ridge(const cli_spec *s, const char *solver_s, double ridge, double nll_stop) {
    if (solver_s && strcmp(solver_s, "cg") && strcmp(solver_s, "adam")) return cli_usage_error(s, "--solver: '%s' (want cg or adam)", solver_s);
    if (ridge < 0) return cli_usage_error(s, "--ridge must be >= 0");
    if (!(nll_stop >= 0)) return cli_usage_error(s, "--nll-stop must be >= 0");
    return 0;
}

static const char *solver_name(fe_solver s) { return s == fe_solver_adam ? "adam" : "cg"; }
static const char *status_text(int status) {
    return status == 0 ? "loss below the stop value" : status == 1 ? "converged" : "iteration cap reached";
}

/* ================================================================== edit ================ */

typedef struct top5 { int n, ids[5]; float p[5]; } top5;

/* The k most likely next tokens after text. */
static int next_tokens(const fe_model *m, const fe_vocab *v, const char *text, top5 *out, fe_error *e) {
    int *ids = NULL, V = m->config.vocab_size, i, k;
    size_t n = 0;
    fe_state *s = NULL;
    float *p = NULL;
    fe_forward_opts fo;
    fe_result r;
    memset(out, 0, sizeof *out);
    if ((r = fe_encode(v, text, strlen(text), &ids, &n, e)) != fe_ok) return r;
    if (n == 0) { fe_ids_free(v, ids); e->code = fe_err_arg; snprintf(e->msg, sizeof e->msg, "\"%.60s\" has no tokens", text); return fe_err_arg; }
    if (n > (size_t)m->config.max_seq_len) {
        fe_ids_free(v, ids); e->code = fe_err_arg;
        snprintf(e->msg, sizeof e->msg, "\"%.60s\" (%lu tokens) is longer than the model's context of %d", text, (unsigned long)n, m->config.max_seq_len);
        return fe_err_arg;
    }
    for (i = 0; i < (int)n; i++)
        if (ids[i] >= V) {
            fe_ids_free(v, ids); e->code = fe_err_mismatch;
            snprintf(e->msg, sizeof e->msg, "token id %d of \"%.60s\" is outside the model's vocabulary of %d (see --vocab)", ids[i], text, V);
            return fe_err_mismatch;
        }
    r = fe_state_new(&s, m, 1, (int)n, 0, e);
    memset(&fo, 0, sizeof fo);
    if (!r) r = fe_forward(m, s, ids, (int)n, &fo, e);
    if (!r && !(p = (float *)malloc(sizeof(float) * (size_t)V))) { r = fe_err_nomem; e->code = r; snprintf(e->msg, sizeof e->msg, "out of memory"); }
    if (!r) {
        fe_softmax(fe_state_logits(s, 0, -1), p, V);
        for (k = 0; k < 5 && k < V; k++) {
            int best = -1;
            for (i = 0; i < V; i++) {
                int j, taken = 0;
                for (j = 0; j < k; j++) taken |= out->ids[j] == i;
                if (!taken && (best < 0 || p[i] > p[best])) best = i;
            }
            out->ids[k] = best; out->p[k] = p[best]; out->n = k + 1;
        }
    }
    free(p);
    fe_state_free(s);
    fe_ids_free(v, ids);
    return r;
}

static void token_text(const fe_vocab *v, int id, const char **s, size_t *n) {
    *s = fe_token_bytes(v, id, n);
    if (!*s) { *s = "?"; *n = 1; }
}

/* Greedy continuation of text (up to n tokens, as the context allows); malloc'd, "" if none. */
static char *greedy(const fe_model *m, const fe_vocab *v, const char *text, int n, fe_error *e) {
    int *ids = NULL, *out = NULL, room;
    size_t np = 0;
    char *t = NULL, *res;
    size_t tl = 0;
    if (fe_encode(v, text, strlen(text), &ids, &np, e) != fe_ok) return NULL;
    room = m->config.max_seq_len - (int)np;
    if (n > room) n = room;
    if (n <= 0 || np == 0) { fe_ids_free(v, ids); res = (char *)malloc(1); if (res) res[0] = 0; return res; }
    out = (int *)malloc(sizeof(int) * (size_t)n);
    if (!out || fe_generate(m, ids, (int)np, n, NULL, NULL, out, e) != fe_ok || fe_decode(v, out, (size_t)n, &t, &tl, e) != fe_ok) {
        free(out); fe_ids_free(v, ids);
        return NULL;
    }
    res = (char *)malloc(tl + 1);
    if (res) memcpy(res, t, tl + 1);
    fe_text_free(v, t);
    free(out);
    fe_ids_free(v, ids);
    return res;
}

/* The prompts shown before and after: the request's, then paraphrases, then neighbours. */
typedef struct shown { const char *text; const char *kind; top5 before, after; } shown;

typedef struct edit_trace { sbuf *json; int text_out; int count; } edit_trace;

static void on_progress(void *user, int iter, int evals, const fe_vparts *p, double dn) {
    edit_trace *t = (edit_trace *)user;
    if (t->json) {
        sb_printf(t->json, "%s{\"iter\": %d, \"evals\": %d, \"loss\": ", t->count ? ", " : "", iter, evals);
        sb_json_num(t->json, p->loss, 17); sb_puts(t->json, ", \"nll\": "); sb_json_num(t->json, p->nll, 17);
        sb_puts(t->json, ", \"kl\": "); sb_json_num(t->json, p->kl, 17); sb_puts(t->json, ", \"wd\": "); sb_json_num(t->json, p->wd, 17);
        sb_puts(t->json, ", \"delta_norm\": "); sb_json_num(t->json, dn, 17); sb_puts(t->json, "}");
    }
    if (t->text_out) printf("  %5d %6d %10.4f %10.4f %10.4f %10.4f %10.4f\n", iter, evals, p->loss, p->nll, p->kl, p->wd, dn);
    t->count++;
}

static void print_top(const fe_vocab *v, const top5 *t) {
    int k;
    printf("      ");
    for (k = 0; k < t->n; k++) {
        const char *s;
        size_t n;
        token_text(v, t->ids[k], &s, &n);
        print_quoted(stdout, s, n);
        printf(" %.3g%s", t->p[k], k + 1 < t->n ? "  " : "\n");
    }
}

static void json_top(sbuf *b, const fe_vocab *v, const top5 *t) {
    int k;
    sb_puts(b, "[");
    for (k = 0; k < t->n; k++) {
        const char *s;
        size_t n;
        token_text(v, t->ids[k], &s, &n);
        sb_printf(b, "%s{\"id\": %d, \"token\": ", k ? ", " : "", t->ids[k]);
        sb_json_str(b, s, n, SB_FFFD_ESCAPED);
        sb_puts(b, ", \"p\": "); sb_json_num(b, t->p[k], 17); sb_puts(b, "}");
    }
    sb_puts(b, "]");
}

static int cmd_edit_one(int argc, char **argv);
/* many edits (--requests, --method, --sequential): tools/cmd_many.c */
int fe_cmd_edit(int argc, char **argv) { return fe_many_wanted(argc, argv) ? fe_cmd_many_edit(argc, argv) : cmd_edit_one(argc, argv); }
static int cmd_edit_one(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *prompt = NULL, *subject = NULL, *target = NULL, *stats_path = NULL;
    const char *out_path = NULL, *patch_path = NULL, *apply_path = NULL, *solver_s = NULL, *templates_path = NULL, *dummy = NULL;
    int layer = -1, json = 0, n_gen = 20, quiet = 0, rc, i, nkept = 0, counts[2] = {0, 0}, nshown = 0, layer_given;
    uint64_t seed = 0, cs0;
    double ridge = 0.0, nll_stop = 0.0, p_before = NAN, p_after = NAN, t0;
    const char **lists[2] = {NULL, NULL};
    char **kept = NULL, *gen_before = NULL, *gen_after = NULL;
    static const char *const repeated[2] = {"--paraphrase", "--neighbor"};
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_cov *cov = NULL;
    fe_stats_info info;
    fe_templates *tpl = NULL;
    fe_rome_rows *rows = NULL;
    fe_rome_hparams hp;
    fe_edit *ed = NULL;
    fe_patch *patch = NULL;
    fe_text_request q;
    shown *sh = NULL;
    sbuf jb, tracebuf;
    edit_trace tr;
    fe_error e;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (default: the model's directory if it has one, else GPT-2's, built in)", 0},
        {"--prompt", NULL, ARG_STR, &prompt, 0, 0, "TEXT", "the prompt, with \"{}\" for the subject (or a text containing the subject)", 0},
        {"--subject", NULL, ARG_STR, &subject, 0, 0, "TEXT", "the subject: \"The Space Needle\"", 0},
        {"--target", NULL, ARG_STR, &target, 0, 0, "TEXT", "the new object: \" Paris\" (a leading space is added when missing)", 0},
        {"--layer", NULL, ARG_INT, &layer, 0, INT_MAX, "L", "the edited layer (default: the statistics' layer, else ROME's for the shape)", 0},
        {"--stats", NULL, ARG_STR, &stats_path, 0, 0, "FILE", "key statistics from 'factedit stats' (without: C = I, with a warning)", 0},
        {"--paraphrase", NULL, ARG_STR, &dummy, 0, 0, "TEXT", "a paraphrase of the prompt to show before/after (repeatable)", 0},
        {"--neighbor", NULL, ARG_STR, &dummy, 0, 0, "TEXT", "a prompt about another subject to show before/after (repeatable)", 0},
        {"--out", NULL, ARG_STR, &out_path, 0, 0, "FILE", "write the edited model (llm.c checkpoint, atomically)", 0},
        {"--patch", NULL, ARG_STR, &patch_path, 0, 0, "FILE", "write the edit as a patch file (atomically)", 0},
        {"--apply", NULL, ARG_STR, &apply_path, 0, 0, "FILE", "apply a saved patch instead of computing an edit", 0},
        {"--solver", NULL, ARG_STR, &solver_s, 0, 0, "cg|adam", "v* solver: nonlinear CG (default) or ROME's Adam (20 steps)", 0},
        {"--templates", NULL, ARG_STR, &templates_path, 0, 0, "FILE", "context templates, one per line with \"{}\" (default: ROME's, generated)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of the generated context templates (default 0)", 0},
        {"--ridge", NULL, ARG_FLOAT, &ridge, 0, 0, "X", "added to the covariance's diagonal (default 0)", 0},
        {"--nll-stop", NULL, ARG_FLOAT, &nll_stop, 0, 0, "X", "also stop v*'s solve once its NLL alone is below X (default 0: off, ROME's rule: loss < 5e-2)", 0},
        {"-n", NULL, ARG_INT, &n_gen, 0, 1000, "N", "tokens of the greedy continuation before/after (default 20)", 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0, "", "print everything as one JSON object", 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0, "", "no notes on stderr (the no-statistics warning stays)", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "edit", "[--model FILE] --prompt TEXT --subject TEXT --target TEXT [options]",
                  "Computes one ROME edit (Meng et al. 2022) and applies it: the prompt (\"{}\" = the subject) shall be\n"
                  "followed by the target. Prints the top-5 next tokens of the prompt, of each --paraphrase and\n"
                  "--neighbor, and a greedy continuation, before and after the edit, and the v* solver's trace.\n"
                  "--out writes the edited model; --patch writes the edit, which --apply applies later to the\n"
                  "same model (refused for any other).");
    memset(&jb, 0, sizeof jb); memset(&tracebuf, 0, sizeof tracebuf);
    kept = (char **)malloc(sizeof(char *) * (size_t)(argc + 1));
    lists[0] = (const char **)malloc(sizeof(char *) * (size_t)(argc + 1));
    lists[1] = (const char **)malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!kept || !lists[0] || !lists[1]) { rc = fail("edit", "out of memory"); goto done; }
    if ((rc = take_repeated(&s, argc, argv, kept, &nkept, repeated, lists, counts)) != CLI_OK) { rc = EXIT_USAGE; goto done; }
    if ((rc = cli_exit(cli_parse(&s, nkept, kept))) >= 0) goto done;
    rc = 0;
    layer_given = cli_seen(&s, "--layer");
    if ((rc = check_solver_ridge(&s, solver_s, ridge, nll_stop)) != 0) goto done;
    if (apply_path) {
        if (prompt || subject || target || stats_path || layer_given || solver_s || templates_path || cli_seen(&s, "--seed") || cli_seen(&s, "--ridge") || cli_seen(&s, "--nll-stop")) {
            rc = cli_usage_error(&s, "--apply takes the edit from the patch: --prompt, --subject, --target, --layer, --stats, --solver, --templates, --seed, --ridge and --nll-stop do not go with it");
            goto done;
        }
    } else {
        if (!prompt) { rc = cli_usage_error(&s, "no --prompt given"); goto done; }
        if (!subject) { rc = cli_usage_error(&s, "no --subject given"); goto done; }
        if (!target) { rc = cli_usage_error(&s, "no --target given"); goto done; }
    }
    cli_paths_init(&ps, "edit");
    cli_in(&ps, "--model", model_path);
    cli_in_vocab(&ps, vocab_dir, model_path);
    cli_in(&ps, "--stats", stats_path);
    cli_in(&ps, "--templates", templates_path);
    cli_in(&ps, "--apply", apply_path);
    cli_out(&ps, "--out", out_path);
    cli_out(&ps, "--patch", patch_path);
    if ((rc = cli_paths_check(&ps)) != 0) goto done;
    if ((rc = load_model("edit", model_path, 0, &m)) != 0) goto done;
    if ((rc = load_vocab("edit", vocab_dir, model_path, &v)) != 0) goto done;
    cs0 = fe_model_checksum(m);
    fe_rome_hparams_for(&hp, m);
    if (apply_path) {
        if (fe_patch_load_file(&patch, apply_path, m, NULL, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
        prompt = patch->prompt; subject = patch->subject; target = patch->target;
        hp.layer = patch->edit->layer;
    } else {
        if ((rc = edit_setup("edit", m, stats_path, layer, layer_given, solver_s, ridge, nll_stop, quiet, &hp, &cov, &info)) != 0) goto done;
    }
    /* the request (for a patch: as far as it was recorded) */
    q.prompt = prompt; q.subject = subject; q.target = target;
    if (!apply_path || (prompt[0] && subject[0] && target[0])) {   /* a patch may have no recorded request */
        if (!apply_path) {
            if (!quiet && !templates_path) fprintf(stderr, "factedit edit: generating ROME's context templates (seed %llu)...\n", (unsigned long long)seed);
            if ((rc = make_templates("edit", m, v, templates_path, seed, &tpl)) != 0) goto done;
        }
        if (fe_rome_rows_new(&rows, m, v, &q, tpl, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
        if (rows->n_dropped && !quiet)
            fprintf(stderr, "factedit edit: note: %d of %d context templates do not fit the model's context of %d tokens with this prompt; left out\n",
                    rows->n_dropped, tpl ? tpl->n : 1, m->config.max_seq_len);
    }
    /* the prompts to show */
    sh = (shown *)calloc((size_t)(1 + counts[0] + counts[1]), sizeof *sh);
    if (!sh) { rc = fail("edit", "out of memory"); goto done; }
    if (rows) { sh[nshown].text = rows->text; sh[nshown++].kind = "prompt"; }
    for (i = 0; i < counts[0]; i++) { sh[nshown].text = lists[0][i]; sh[nshown++].kind = "paraphrase"; }
    for (i = 0; i < counts[1]; i++) { sh[nshown].text = lists[1][i]; sh[nshown++].kind = "neighbor"; }
    for (i = 0; i < nshown; i++)
        if (next_tokens(m, v, sh[i].text, &sh[i].before, &e) != fe_ok) { fprintf(stderr, "factedit edit: %s \"%s\": %s\n", sh[i].kind, sh[i].text, e.msg); rc = EXIT_FAIL; goto done; }
    if (rows) {
        double nll;
        const char *pp = rows->text, *tt = rows->target_text;
        if (fe_target_nll(m, v, &pp, &tt, 1, &nll, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
        p_before = exp(-nll);
        if (!(gen_before = greedy(m, v, rows->text, n_gen, &e))) { rc = fail("edit", e.msg); goto done; }
    }
    /* header and "before" */
    if (!json) {
        printf("model:    %s (checksum %016llx, %d layers)\n", model_path ? model_path : "the built-in demo model", (unsigned long long)cs0, m->config.num_layers);
        if (rows) {
            const char *ls;
            size_t ln;
            token_text(v, rows->bare.ids[rows->bare.lookup], &ls, &ln);
            printf("request:  ");
            print_quoted(stdout, rows->text, strlen(rows->text));
            printf(" -> ");
            print_quoted(stdout, rows->target_text, strlen(rows->target_text));
            printf("\n          subject ");
            print_quoted(stdout, subject, strlen(subject));
            printf(", its last token ");
            print_quoted(stdout, ls, ln);
            printf(" (position %d)\n", rows->bare.lookup);
        }
        if (apply_path) printf("edit:     patch %s (layer %d)\n", apply_path, hp.layer);
        else {
            printf("edit:     layer %d, solver %s, covariance ", hp.layer, solver_name(hp.solver));
            if (cov) printf("%s (%llu tokens)%s", stats_path, (unsigned long long)info.count, ridge > 0 ? "" : "\n");
            else printf("NONE (C = I: see the warning)%s", ridge > 0 ? "" : "\n");
            if (ridge > 0) printf(", ridge %g\n", ridge);
            printf("contexts: %d templates (%s)\n", rows ? rows->n_ctx : 0, templates_path ? templates_path : "ROME's, generated");
        }
        printf("\nbefore the edit:\n");
        for (i = 0; i < nshown; i++) { printf("  %-10s ", sh[i].kind); print_quoted(stdout, sh[i].text, strlen(sh[i].text)); printf("\n"); print_top(v, &sh[i].before); }
        if (rows) {
            printf("  p(target) %.6g\n  greedy:    ", p_before);
            print_quoted(stdout, rows->text, strlen(rows->text)); printf(" + "); print_quoted(stdout, gen_before, strlen(gen_before)); printf("\n");
        }
    }
    /* the edit */
    memset(&tr, 0, sizeof tr);
    tr.text_out = !json; tr.json = json ? &tracebuf : NULL;
    t0 = cli_wall();
    if (!apply_path) {
        if (!json) printf("\nsolving for v* (%s; loss = nll + %g kl + weight decay):\n  %5s %6s %10s %10s %10s %10s %10s\n", solver_name(hp.solver), hp.kl_factor,
                          "iter", "evals", "loss", "nll", "kl", "wd", "|delta|");
        hp.progress = on_progress; hp.progress_user = &tr;
        if (fe_rome_compute_rows(m, rows, &hp, cov, &ed, &e) != fe_ok) {
            if (!json) fflush(stdout);
            rc = fail("edit", e.msg);
            /* fe_err_numeric with statistics: mostly C not positive definite (statistics from few tokens) */
            if (cov && e.code == fe_err_numeric) fprintf(stderr, "factedit edit: (statistics from few tokens can be singular: try --ridge 1e-3)\n");
            goto done;
        }
        if (ed->report.delta_norm == 0) {
            if (!json) fflush(stdout);
            fprintf(stderr, "factedit edit: the edit changes nothing: the v* solver ended at |delta| = 0 after %d evaluations (loss %.4g): "
                            "no change of layer %d's MLP output at the subject lowers the loss (its gradient there is zero or too small "
                            "to matter), so the model would stay as it is; nothing written (try an earlier --layer)\n",
                    ed->report.evals, ed->report.last.loss, hp.layer);
            rc = EXIT_FAIL;
            goto done;
        }
        if (fe_edit_apply(m, ed, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
        if (fe_model_checksum(m) == cs0) {
            if (!json) fflush(stdout);
            fprintf(stderr, "factedit edit: the edit changes nothing: the rank-one update of layer %d is zero (v* equals the layer's "
                            "current output at the subject, |delta| = %.4g); nothing written\n", hp.layer, ed->report.delta_norm);
            rc = EXIT_FAIL;
            goto done;
        }
    } else {
        if (fe_patch_apply(m, patch, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
        ed = patch->edit;
    }
    t0 = cli_wall() - t0;
    for (i = 0; i < nshown; i++)
        if (next_tokens(m, v, sh[i].text, &sh[i].after, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
    if (rows) {
        double nll;
        const char *pp = rows->text, *tt = rows->target_text;
        if (fe_target_nll(m, v, &pp, &tt, 1, &nll, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
        p_after = exp(-nll);
        if (!(gen_after = greedy(m, v, rows->text, n_gen, &e))) { rc = fail("edit", e.msg); goto done; }
    }
    /* outputs */
    if (patch_path) {
        fe_patch pw;
        memset(&pw, 0, sizeof pw);
        pw.edit = ed; pw.model_checksum = cs0; pw.num_layers = m->config.num_layers;
        pw.prompt = (char *)(rows ? rows->template_text : prompt); pw.subject = (char *)subject; pw.target = (char *)(rows ? rows->target_text : target);
        if (fe_patch_save_file(patch_path, &pw, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
    }
    if (out_path && fe_model_save_file(m, out_path, m->file_version == 5 ? 5 : 3, &e) != fe_ok) { rc = fail("edit", e.msg); goto done; }
    if (!json) {
        const fe_rome_report *rp = &ed->report;
        if (!apply_path)
            printf("  %s after %d iterations, %d evaluations and %d gradients in %.2f s: loss %.4f -> %.4f, |delta| %.4g (clamp %.4g), u: %s\n",
                   status_text(rp->status), rp->iters, rp->evals, rp->grads, t0, rp->first.loss, rp->last.loss, rp->delta_norm, rp->clamp,
                   cov ? "C^-1 k* by PCG" : "k*/|k*| (no covariance)");
        printf("\nafter the edit:\n");
        for (i = 0; i < nshown; i++) { printf("  %-10s ", sh[i].kind); print_quoted(stdout, sh[i].text, strlen(sh[i].text)); printf("\n"); print_top(v, &sh[i].after); }
        if (rows) {
            printf("  p(target) %.6g (before %.6g)\n  greedy:    ", p_after, p_before);
            print_quoted(stdout, rows->text, strlen(rows->text)); printf(" + "); print_quoted(stdout, gen_after, strlen(gen_after)); printf("\n");
        }
        if (patch_path) printf("\nwrote patch %s\n", patch_path);
        if (out_path) printf("%swrote edited model %s (checksum %016llx)\n", patch_path ? "" : "\n", out_path, (unsigned long long)fe_model_checksum(m));
    } else {
        const fe_rome_report *rp = &ed->report;
        sb_puts(&jb, "{\"model\": "); sb_json_cstr(&jb, model_path);
        sb_printf(&jb, ", \"model_checksum\": \"%016llx\", \"layer\": %d", (unsigned long long)cs0, hp.layer);
        if (apply_path) { sb_puts(&jb, ", \"patch_applied\": "); sb_json_cstr(&jb, apply_path); }
        else {
            sb_printf(&jb, ", \"solver\": \"%s\", \"stats\": ", solver_name(hp.solver));
            if (cov) { sb_puts(&jb, "{\"file\": "); sb_json_cstr(&jb, stats_path); sb_printf(&jb, ", \"tokens\": %llu}", (unsigned long long)info.count); }
            else sb_puts(&jb, "null");
            sb_puts(&jb, ", \"ridge\": "); sb_json_num(&jb, ridge, 17);
            sb_printf(&jb, ", \"contexts\": %d, \"contexts_dropped\": %d", rows ? rows->n_ctx : 0, rows ? rows->n_dropped : 0);
        }
        sb_puts(&jb, ", \"request\": ");
        if (rows) {
            sb_puts(&jb, "{\"prompt\": "); sb_json_cstr(&jb, rows->template_text);
            sb_puts(&jb, ", \"subject\": "); sb_json_cstr(&jb, subject);
            sb_puts(&jb, ", \"target\": "); sb_json_cstr(&jb, rows->target_text);
            sb_puts(&jb, ", \"text\": "); sb_json_cstr(&jb, rows->text);
            sb_printf(&jb, ", \"lookup\": %d}", rows->bare.lookup);
        } else sb_puts(&jb, "null");
        sb_puts(&jb, ", \"prompts\": [");
        for (i = 0; i < nshown; i++) {
            sb_printf(&jb, "%s{\"kind\": \"%s\", \"text\": ", i ? ", " : "", sh[i].kind);
            sb_json_cstr(&jb, sh[i].text);
            sb_puts(&jb, ", \"before\": "); json_top(&jb, v, &sh[i].before);
            sb_puts(&jb, ", \"after\": "); json_top(&jb, v, &sh[i].after);
            sb_puts(&jb, "}");
        }
        sb_puts(&jb, "], \"p_target_before\": "); sb_json_num(&jb, p_before, 17);
        sb_puts(&jb, ", \"p_target_after\": "); sb_json_num(&jb, p_after, 17);
        sb_puts(&jb, ", \"greedy_before\": "); sb_json_cstr(&jb, gen_before);
        sb_puts(&jb, ", \"greedy_after\": "); sb_json_cstr(&jb, gen_after);
        sb_puts(&jb, ", \"trace\": ["); if (tracebuf.p) sb_puts(&jb, tracebuf.p); sb_puts(&jb, "]");
        sb_printf(&jb, ", \"report\": {\"status\": \"%s\", \"iters\": %d, \"evals\": %d, \"grads\": %d, \"cg_iters\": %d, \"first\": {\"loss\": ",
                  status_text(rp->status), rp->iters, rp->evals, rp->grads, rp->cg_iters);
        sb_json_num(&jb, rp->first.loss, 17); sb_puts(&jb, ", \"nll\": "); sb_json_num(&jb, rp->first.nll, 17); sb_puts(&jb, ", \"kl\": "); sb_json_num(&jb, rp->first.kl, 17);
        sb_puts(&jb, ", \"wd\": "); sb_json_num(&jb, rp->first.wd, 17); sb_puts(&jb, "}, \"last\": {\"loss\": ");
        sb_json_num(&jb, rp->last.loss, 17); sb_puts(&jb, ", \"nll\": "); sb_json_num(&jb, rp->last.nll, 17); sb_puts(&jb, ", \"kl\": "); sb_json_num(&jb, rp->last.kl, 17);
        sb_puts(&jb, ", \"wd\": "); sb_json_num(&jb, rp->last.wd, 17); sb_puts(&jb, "}, \"delta_norm\": "); sb_json_num(&jb, rp->delta_norm, 17);
        sb_puts(&jb, ", \"clamp\": "); sb_json_num(&jb, rp->clamp, 17); sb_puts(&jb, ", \"seconds\": "); sb_json_num(&jb, t0, 17);
        sb_puts(&jb, "}, \"wrote_model\": "); sb_json_cstr(&jb, out_path);
        sb_puts(&jb, ", \"wrote_patch\": "); sb_json_cstr(&jb, patch_path);
        sb_puts(&jb, "}\n");
        if (jb.failed || tracebuf.failed) { rc = fail("edit", "out of memory"); goto done; }
        fwrite(jb.p, 1, jb.len, stdout);
    }
    rc = finish_stdout("edit");
done:
    if (patch) { if (ed == patch->edit) ed = NULL; fe_patch_free(patch); }
    fe_edit_free(ed);
    free(gen_before); free(gen_after);
    free(sh);
    fe_rome_rows_free(rows);
    fe_templates_free(tpl);
    fe_cov_free(cov);
    fe_vocab_free(v);
    fe_model_free(m);
    free(jb.p); free(tracebuf.p);
    free(kept); free((void *)lists[0]); free((void *)lists[1]);
    return rc;
}

/* ================================================================== stats =============== */

static void stats_progress(void *user, size_t done, size_t total) { cli_progress_show((cli_progress *)user, (double)done, (double)total, NULL, done >= total); }

int fe_cmd_stats(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *text_path = NULL, *out_path = NULL;
    int layer = -1, seq_len = 0, lines = 0, quiet = 0, rc, *tok = NULL;
    uint64_t max_tokens = 0;
    size_t n = 0;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_cov *cov = NULL;
    fe_error e;
    cli_progress pg;
    uint64_t cs;
    double t0;
    cli_paths ps;
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (default: the model's directory if it has one, else GPT-2's, built in)", 0},
        {"--layer", NULL, ARG_INT, &layer, 0, INT_MAX, "L", "the layer whose MLP keys are collected (default: ROME's layer for the shape)", 0},
        {"--text", NULL, ARG_STR, &text_path, 0, 0, "FILE", "the text (required): ROME uses Wikipedia", 0},
        {"--lines", NULL, ARG_FLAG, &lines, 0, 0, "", "one document per line: each encoded alone, <|endoftext|> before each", 0},
        {"--tokens", NULL, ARG_U64, &max_tokens, 0, 0, "N", "use the first N tokens only (default: all; ROME uses 100,000 samples)", 0},
        {"--seq-len", NULL, ARG_INT, &seq_len, 1, INT_MAX, "T", "tokens per sequence (default: the context, at most 256)", 0},
        {"--out", NULL, ARG_STR, &out_path, 0, 0, "FILE", "the statistics file to write (required; atomically)", 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0, "", "no progress on stderr", 0},
    };
    cli_spec s;
    cli_spec_init(&s, CLI_OPTS(opts), "stats", "[--model FILE] --text FILE --out FILE [--layer L] [options]",
                  "Collects ROME's key statistics: C = E[k k^T] of the MLP keys (inputs of mlp.c_proj) of one layer\n"
                  "over every position of a text cut into sequences, accumulated in double precision. 'factedit\n"
                  "edit --stats' and 'factedit eval --stats' need them to make an edit specific to its subject. The\n"
                  "file records the model's checksum: it is refused for any other model.");
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) return rc;
    rc = 0;
    if (!text_path) return cli_usage_error(&s, "no --text given");
    if (!out_path) return cli_usage_error(&s, "no --out given");
    if (cli_seen(&s, "--tokens") && max_tokens == 0) return cli_usage_error(&s, "--tokens must be >= 1");
    cli_paths_init(&ps, "stats");
    cli_in(&ps, "--model", model_path);
    cli_in_vocab(&ps, vocab_dir, model_path);
    cli_in(&ps, "--text", text_path);
    cli_out(&ps, "--out", out_path);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    if ((rc = load_model("stats", model_path, 0, &m)) != 0) return rc;
    if (layer < 0) layer = fe_rome_default_layer(&m->config);
    if (layer >= m->config.num_layers) {
        fprintf(stderr, "factedit stats: --layer %d is outside the model's layers 0..%d\n", layer, m->config.num_layers - 1);
        rc = EXIT_FAIL; goto done;
    }
    if (layer == m->config.num_layers - 1) { rc = last_layer_error("stats", layer, m->config.num_layers); goto done; }
    if (seq_len > m->config.max_seq_len) {
        fprintf(stderr, "factedit stats: --seq-len %d exceeds the model's context of %d\n", seq_len, m->config.max_seq_len);
        rc = EXIT_FAIL; goto done;
    }
    if ((rc = load_vocab("stats", vocab_dir, model_path, &v)) != 0) goto done;
    /* tokens: the whole text, or line by line with <|endoftext|> before each line */
    if ((rc = read_text_tokens("stats", m, v, text_path, lines, max_tokens, &tok, &n)) != 0) goto done;
    cs = fe_model_checksum(m);
    cli_progress_init(&pg, "stats", "tokens", quiet);
    t0 = cli_wall();
    if (fe_stats_compute(&cov, m, layer, tok, n, seq_len, stats_progress, &pg, &e) != fe_ok) { rc = fail("stats", e.msg); goto done; }
    if (fe_stats_save_file(out_path, cov, layer, m, cs, &e) != fe_ok) { rc = fail("stats", e.msg); goto done; }
    printf("wrote %s: layer %d, %lu tokens, %d x %d key covariance, model checksum %016llx (%.1f s)\n", out_path, layer, (unsigned long)n,
           cov->dim, cov->dim, (unsigned long long)cs, cli_wall() - t0);
    if ((double)n < cov->dim)
        fprintf(stderr, "factedit stats: note: %lu tokens for %d dimensions: the covariance is singular; edits will need --ridge (or use more text)\n", (unsigned long)n, cov->dim);
    rc = finish_stdout("stats");
done:
    free(tok);
    fe_cov_free(cov);
    fe_vocab_free(v);
    fe_model_free(m);
    return rc;
}

/* ================================================================== eval ================ */

typedef struct eval_row { int index; fe_cf_result r; } eval_row;

static void json_scores(sbuf *b, const fe_cf_scores *s) {
    sb_puts(b, "{\"es\": "); sb_json_num(b, s->es, 17); sb_puts(b, ", \"em\": "); sb_json_num(b, s->em, 17);
    sb_puts(b, ", \"ps\": "); sb_json_num(b, s->ps, 17); sb_puts(b, ", \"pm\": "); sb_json_num(b, s->pm, 17);
    sb_puts(b, ", \"ns\": "); sb_json_num(b, s->ns, 17); sb_puts(b, ", \"nm\": "); sb_json_num(b, s->nm, 17); sb_puts(b, "}");
}

static void json_summary(sbuf *b, const fe_cf_summary *sm) {
    int k;
    sb_puts(b, "{");
    for (k = 0; k < fe_cf_metric_count; k++) {
        sb_printf(b, "%s\"%s\": {\"mean\": ", k ? ", " : "", fe_cf_metric_name(k));
        sb_json_num(b, sm->mean[k], 17); sb_puts(b, ", \"ci95\": "); sb_json_num(b, sm->ci95[k], 17);
        sb_printf(b, ", \"n\": %d}", sm->n[k]);
    }
    sb_puts(b, "}");
}

/* The report: {"format": "factedit-eval", "version": 1, "config": {...}, "shard": [i, n],
   "cases": [...], "summary": {"pre": ..., "post": ...}}. config_json is the "config" object. */
static void eval_report(sbuf *b, const char *config_json, int si, int sn, const eval_row *rows, int n) {
    fe_cf_scores *pre = (fe_cf_scores *)calloc((size_t)n + 1, sizeof(fe_cf_scores)), *post = (fe_cf_scores *)calloc((size_t)n + 1, sizeof(fe_cf_scores));
    fe_cf_summary a, c;
    int i;
    if (!pre || !post) { b->failed = 1; free(pre); free(post); return; }
    for (i = 0; i < n; i++) { pre[i] = rows[i].r.pre; post[i] = rows[i].r.post; }
    fe_cf_summarize(pre, (size_t)n, &a);
    fe_cf_summarize(post, (size_t)n, &c);
    sb_printf(b, "{\"format\": \"factedit-eval\", \"version\": 1, \"config\": %s, \"shard\": [%d, %d], \"summary\": {\"pre\": ", config_json, si, sn);
    json_summary(b, &a);
    sb_puts(b, ", \"post\": ");
    json_summary(b, &c);
    sb_puts(b, "},\n\"cases\": [");
    for (i = 0; i < n; i++) {
        const fe_cf_result *r = &rows[i].r;
        sb_printf(b, "%s\n{\"index\": %d, \"case_id\": %d, \"pre\": ", i ? "," : "", rows[i].index, r->case_id);
        json_scores(b, &r->pre);
        sb_puts(b, ", \"post\": "); json_scores(b, &r->post);
        sb_printf(b, ", \"contexts\": %d, \"iters\": %d, \"evals\": %d, \"grads\": %d, \"loss_first\": ", r->n_ctx, r->report.iters, r->report.evals, r->report.grads);
        sb_json_num(b, r->report.first.loss, 17); sb_puts(b, ", \"loss_last\": "); sb_json_num(b, r->report.last.loss, 17);
        sb_puts(b, ", \"nll_last\": "); sb_json_num(b, r->report.last.nll, 17);
        sb_puts(b, ", \"delta_norm\": "); sb_json_num(b, r->report.delta_norm, 17);
        sb_puts(b, ", \"clamp\": "); sb_json_num(b, r->report.clamp, 17); sb_puts(b, "}");
    }
    sb_puts(b, "\n]}\n");
    free(pre); free(post);
}

static void print_summary_table(const eval_row *rows, int n) {
    fe_cf_scores *pre = (fe_cf_scores *)calloc((size_t)n + 1, sizeof(fe_cf_scores)), *post = (fe_cf_scores *)calloc((size_t)n + 1, sizeof(fe_cf_scores));
    fe_cf_summary a, c;
    int i, k;
    if (!pre || !post) { free(pre); free(post); return; }
    for (i = 0; i < n; i++) { pre[i] = rows[i].r.pre; post[i] = rows[i].r.post; }
    fe_cf_summarize(pre, (size_t)n, &a);
    fe_cf_summarize(post, (size_t)n, &c);
    printf("%-6s %-24s %-24s\n", "metric", "before the edit", "after the edit");
    for (k = 0; k < fe_cf_metric_count; k++) {
        char x[2][64];
        const fe_cf_summary *sm[2];
        int j;
        sm[0] = &a; sm[1] = &c;
        for (j = 0; j < 2; j++) {
            if (isnan(sm[j]->mean[k])) snprintf(x[j], sizeof x[j], "n/a");
            else if (isnan(sm[j]->ci95[k])) snprintf(x[j], sizeof x[j], "%6.1f (n=%d)", 100 * sm[j]->mean[k], sm[j]->n[k]);
            else snprintf(x[j], sizeof x[j], "%6.1f +- %4.1f (n=%d)", 100 * sm[j]->mean[k], 100 * sm[j]->ci95[k], sm[j]->n[k]);
        }
        printf("%-6s %-24s %-24s\n", fe_cf_metric_name(k), x[0], x[1]);
    }
    printf("(percent; +- is the 95%% interval over cases; ES/PS/NS: fraction of prompts where the right object is more likely;\n"
           " EM/PM/NM: mean probability difference; Score: harmonic mean of ES, PS, NS)\n");
    free(pre); free(post);
}

static int cmp_row(const void *a, const void *b) { const eval_row *x = (const eval_row *)a, *y = (const eval_row *)b; return x->index < y->index ? -1 : x->index > y->index; }

static int eval_merge(const char *const *files, int nf, int json, const char *out_path) {
    fe_json **docs;
    unsigned char **bufs;
    int i, rc = 0, nrows = 0, cap = 0;
    eval_row *rows = NULL;
    const fe_json_value *config0 = NULL;
    sbuf cfg, b;
    cli_paths ps;
    cli_shards shards;
    cli_shards_init(&shards, "eval");
    cli_paths_init(&ps, "eval");
    for (i = 0; i < nf; i++) cli_in(&ps, "--merge", files[i]);
    cli_out(&ps, "--out", out_path);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    docs = (fe_json **)calloc((size_t)nf, sizeof *docs);
    bufs = (unsigned char **)calloc((size_t)nf, sizeof *bufs);
    fe_error e;
    memset(&cfg, 0, sizeof cfg); memset(&b, 0, sizeof b);
    if (!docs || !bufs) { rc = fail("eval", "out of memory"); goto done; }
    for (i = 0; i < nf && !rc; i++) {
        size_t len = 0, k;
        const fe_json_value *root, *fmt, *ver, *config, *shard, *cases;
        int si, n_i;
        if (fe_read_file(files[i], &bufs[i], &len, NULL, &e) != fe_ok) { rc = fail("eval", e.msg); break; }
        if (fe_json_parse(&docs[i], (const char *)bufs[i], len, NULL, &e) != fe_ok) { fprintf(stderr, "factedit eval: %s: %s\n", files[i], e.msg); rc = EXIT_FAIL; break; }
        root = fe_json_root(docs[i]);
        fmt = fe_json_get(root, "format"); ver = fe_json_get(root, "version"); config = fe_json_get(root, "config");
        shard = fe_json_get(root, "shard"); cases = fe_json_get(root, "cases");
        if (!fmt || fmt->type != fe_json_string || strcmp(fmt->str, "factedit-eval")) { fprintf(stderr, "factedit eval: %s is not a 'factedit eval' report\n", files[i]); rc = EXIT_FAIL; break; }
        if (!cli_json_int(ver, &si) || si != 1) { fprintf(stderr, "factedit eval: %s: report version is not 1\n", files[i]); rc = EXIT_FAIL; break; }
        if (!config || config->type != fe_json_object || !shard || shard->type != fe_json_array || shard->count != 2 ||
            !cli_json_int(fe_json_at(shard, 0), &si) || !cli_json_int(fe_json_at(shard, 1), &n_i) || n_i < 1 || si < 0 || si >= n_i || !cases || cases->type != fe_json_array) {
            fprintf(stderr, "factedit eval: %s: malformed report (config, shard [i, n] or cases)\n", files[i]); rc = EXIT_FAIL; break;
        }
        if (!config0) config0 = config;
        else if (!cli_json_same(config0, config)) {
            fprintf(stderr, "factedit eval: %s was made with another configuration than %s (model, layer, dataset, solver, statistics, templates or limit differ)\n", files[i], files[0]);
            rc = EXIT_FAIL;
            break;
        }
        if ((rc = cli_shards_add(&shards, files[i], si, n_i)) != 0) break;
        for (k = 0; k < cases->count; k++) {
            const fe_json_value *c = fe_json_at(cases, k), *pre = fe_json_get(c, "pre"), *post = fe_json_get(c, "post");
            eval_row r;
            int ok;
            memset(&r, 0, sizeof r);
            ok = cli_json_int(fe_json_get(c, "index"), &r.index) && cli_json_int(fe_json_get(c, "case_id"), &r.r.case_id) && pre && post &&
                 cli_json_num_or_null(fe_json_get(pre, "es"), &r.r.pre.es) && cli_json_num_or_null(fe_json_get(pre, "em"), &r.r.pre.em) &&
                 cli_json_num_or_null(fe_json_get(pre, "ps"), &r.r.pre.ps) && cli_json_num_or_null(fe_json_get(pre, "pm"), &r.r.pre.pm) &&
                 cli_json_num_or_null(fe_json_get(pre, "ns"), &r.r.pre.ns) && cli_json_num_or_null(fe_json_get(pre, "nm"), &r.r.pre.nm) &&
                 cli_json_num_or_null(fe_json_get(post, "es"), &r.r.post.es) && cli_json_num_or_null(fe_json_get(post, "em"), &r.r.post.em) &&
                 cli_json_num_or_null(fe_json_get(post, "ps"), &r.r.post.ps) && cli_json_num_or_null(fe_json_get(post, "pm"), &r.r.post.pm) &&
                 cli_json_num_or_null(fe_json_get(post, "ns"), &r.r.post.ns) && cli_json_num_or_null(fe_json_get(post, "nm"), &r.r.post.nm) &&
                 cli_json_int(fe_json_get(c, "contexts"), &r.r.n_ctx) && cli_json_int(fe_json_get(c, "iters"), &r.r.report.iters) &&
                 cli_json_int(fe_json_get(c, "evals"), &r.r.report.evals) && cli_json_int(fe_json_get(c, "grads"), &r.r.report.grads) && cli_json_num_or_null(fe_json_get(c, "loss_first"), &r.r.report.first.loss) &&
                 cli_json_num_or_null(fe_json_get(c, "loss_last"), &r.r.report.last.loss) && cli_json_num_or_null(fe_json_get(c, "delta_norm"), &r.r.report.delta_norm) &&
                 cli_json_num_or_null(fe_json_get(c, "nll_last"), &r.r.report.last.nll) && cli_json_num_or_null(fe_json_get(c, "clamp"), &r.r.report.clamp);
            if (!ok || !cli_shard_owns(r.index, si, n_i)) {
                fprintf(stderr, "factedit eval: %s: case %lu is malformed or not of shard %d/%d\n", files[i], (unsigned long)k, si, n_i);
                rc = EXIT_FAIL;
                break;
            }
            if (nrows == cap) {
                eval_row *nr;
                cap = cap ? 2 * cap : 256;
                if (!(nr = (eval_row *)realloc(rows, sizeof *rows * (size_t)cap))) { rc = fail("eval", "out of memory"); break; }
                rows = nr;
            }
            rows[nrows++] = r;
        }
    }
    if (!rc && config0) rc = cli_shards_complete(&shards);
    if (!rc && nrows == 0) { fprintf(stderr, "factedit eval: the %d reports hold no case: nothing was evaluated\n", nf); rc = EXIT_FAIL; }
    if (!rc) {
        qsort(rows, (size_t)nrows, sizeof *rows, cmp_row);
        for (i = 1; i < nrows; i++) if (rows[i].index == rows[i - 1].index) { fprintf(stderr, "factedit eval: dataset case %d appears twice\n", rows[i].index); rc = EXIT_FAIL; break; }
    }
    if (!rc) {
        /* the config object as it was (re-serialized member by member) */
        size_t k;
        sb_puts(&cfg, "{");
        for (k = 0; k < config0->count; k++) {
            const fe_json_value *x = fe_json_at(config0, k);
            sb_printf(&cfg, "%s", k ? ", " : "");
            sb_json_str(&cfg, x->key, x->key_len, SB_FFFD_ESCAPED);
            sb_puts(&cfg, ": ");
            if (x->type == fe_json_string) sb_json_str(&cfg, x->str, x->len, SB_FFFD_ESCAPED);
            else if (x->type == fe_json_number) sb_json_num(&cfg, x->number, 17);
            else if (x->type == fe_json_null) sb_puts(&cfg, "null");
            else if (x->type == fe_json_bool) sb_puts(&cfg, x->boolean ? "true" : "false");
            else { rc = fail("eval", "merge: nested values in the report's config are not supported"); break; }
        }
        sb_puts(&cfg, "}");
    }
    if (!rc) {
        eval_report(&b, cfg.p, 0, 1, rows, nrows);
        if (b.failed || cfg.failed) { rc = fail("eval", "out of memory"); goto done; }
        if (out_path && fe_write_file_atomic(out_path, b.p, b.len, &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
        if (json) fwrite(b.p, 1, b.len, stdout);
        else {
            printf("merged %d reports: %d cases\n", nf, nrows);
            print_summary_table(rows, nrows);
            if (out_path) printf("wrote %s\n", out_path);
        }
        rc = finish_stdout("eval");
    }
done:
    for (i = 0; docs && i < nf; i++) fe_json_free(docs[i]);
    for (i = 0; bufs && i < nf; i++) free(bufs[i]);
    free(docs); free(bufs); free(rows);
    cli_shards_free(&shards);
    free(cfg.p); free(b.p);
    return rc;
}

static int cmd_eval_rome(int argc, char **argv);
int fe_cmd_eval(int argc, char **argv) { return fe_many_wanted(argc, argv) ? fe_cmd_many_eval(argc, argv) : cmd_eval_rome(argc, argv); }
static int cmd_eval_rome(int argc, char **argv) {
    const char *model_path = NULL, *vocab_dir = NULL, *dataset = NULL, *stats_path = NULL, *shard = NULL, *out_path = NULL;
    const char *templates_path = NULL, *solver_s = NULL, **pos = NULL;
    int layer = -1, limit = 0, json = 0, quiet = 0, merge = 0, rc, si = 0, sn = 1, i, n_sel = 0, total, layer_given;
    uint64_t seed = 0, cs0;
    double ridge = 0.0, nll_stop = 0.0;
    fe_model *m = NULL;
    fe_vocab *v = NULL;
    fe_cov *cov = NULL;
    fe_stats_info info;
    fe_templates *tpl = NULL;
    fe_cf_set *set = NULL;
    fe_rome_hparams hp;
    eval_row *rows = NULL;
    cli_progress pg;
    sbuf cfg, b;
    fe_error e;
    cli_paths ps;
    static const char *const pos_names[] = {"FILE"};
    cli_opt opts[] = {
        {"--model", NULL, ARG_STR, &model_path, 0, 0, "FILE", "llm.c checkpoint (default: the built-in demo model)", 0},
        {"--vocab", NULL, ARG_STR, &vocab_dir, 0, 0, "DIR", "vocabulary (default: the model's directory if it has one, else GPT-2's, built in)", 0},
        {"--dataset", NULL, ARG_STR, &dataset, 0, 0, "FILE", "CounterFact cases (ROME's counterfact.json format; required)", 0},
        {"--stats", NULL, ARG_STR, &stats_path, 0, 0, "FILE", "key statistics from 'factedit stats' (without: C = I, with a warning)", 0},
        {"--layer", NULL, ARG_INT, &layer, 0, INT_MAX, "L", "the edited layer (default: the statistics' layer, else ROME's for the shape)", 0},
        {"--limit", NULL, ARG_INT, &limit, 1, INT_MAX, "N", "the first N cases only", 0},
        {"--shard", NULL, ARG_STR, &shard, 0, 0, "i/n", "cases i, i+n, i+2n, ... (of the first --limit); merge the reports with --merge", 0},
        {"--solver", NULL, ARG_STR, &solver_s, 0, 0, "cg|adam", "v* solver (default cg)", 0},
        {"--templates", NULL, ARG_STR, &templates_path, 0, 0, "FILE", "context templates, one per line with \"{}\" (default: ROME's, generated once)", 0},
        {"--seed", NULL, ARG_U64, &seed, 0, 0, "S", "seed of the generated context templates (default 0)", 0},
        {"--ridge", NULL, ARG_FLOAT, &ridge, 0, 0, "X", "added to the covariance's diagonal (default 0)", 0},
        {"--nll-stop", NULL, ARG_FLOAT, &nll_stop, 0, 0, "X", "also stop v*'s solve once its NLL alone is below X (default 0: off, ROME's rule: loss < 5e-2)", 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0, "", "print the report (every case and the summary) as JSON", 0},
        {"--out", NULL, ARG_STR, &out_path, 0, 0, "FILE", "write the JSON report to FILE (atomically)", 0},
        {"--merge", NULL, ARG_FLAG, &merge, 0, 0, "", "combine the JSON reports of shards (given as arguments)", 0},
        {"--quiet", "-q", ARG_FLAG, &quiet, 0, 0, "", "no progress on stderr", 0},
    };
    cli_spec s;
    memset(&cfg, 0, sizeof cfg); memset(&b, 0, sizeof b);
    cli_spec_init(&s, CLI_OPTS(opts), "eval", "[--model FILE] --dataset FILE [options]   |   eval --merge REPORT.json...",
                  "ROME's CounterFact evaluation: for each case, the metrics before the edit, one ROME edit of\n"
                  "(prompt, subject, target_new) on the pristine model, the metrics after it, and undo. ES/PS/NS:\n"
                  "the fraction of rewrite / paraphrase / neighbourhood prompts where the right object (new, new,\n"
                  "true) has the lower mean token NLL; EM/PM/NM: the mean probability difference; Score: harmonic\n"
                  "mean of ES, PS, NS. Means over cases with 95% intervals (normal approximation).");
    pos = (const char **)malloc(sizeof(char *) * (size_t)(argc + 1));
    if (!pos) return fail("eval", "out of memory");
    s.pos_names = pos_names; s.npos_min = 0; s.npos_max = argc; s.pos = pos;
    if ((rc = cli_exit(cli_parse(&s, argc, argv))) >= 0) { free((void *)pos); return rc; }
    rc = 0;
    layer_given = cli_seen(&s, "--layer");
    if (merge) {
        static const char *const merge_ok[] = {"--json", "--out", "--merge", NULL};
        const char *other = cli_seen_outside(&s, merge_ok);
        if (other) { rc = cli_usage_error(&s, "--merge combines reports: %s does not go with it", other); free((void *)pos); return rc; }
        if (s.npos == 0) { free((void *)pos); return cli_usage_error(&s, "--merge needs the shards' JSON reports as arguments"); }
        rc = eval_merge(s.pos, s.npos, json, out_path);
        free((void *)pos);
        return rc;
    }
    if (s.npos) { rc = cli_usage_error(&s, "unexpected argument '%s' (report files go with --merge)", s.pos[0]); free((void *)pos); return rc; }
    free((void *)pos);
    if (!dataset) return cli_usage_error(&s, "no --dataset given");
    if (shard && parse_shard(shard, &si, &sn)) return cli_usage_error(&s, "--shard: '%s' is not i/n with 0 <= i < n", shard);
    if ((rc = check_solver_ridge(&s, solver_s, ridge, nll_stop)) != 0) return rc;
    cli_paths_init(&ps, "eval");
    cli_in(&ps, "--model", model_path);
    cli_in_vocab(&ps, vocab_dir, model_path);
    cli_in(&ps, "--dataset", dataset);
    cli_in(&ps, "--stats", stats_path);
    cli_in(&ps, "--templates", templates_path);
    cli_out(&ps, "--out", out_path);
    if ((rc = cli_paths_check(&ps)) != 0) return rc;
    if ((rc = load_model("eval", model_path, 0, &m)) != 0) return rc;
    if ((rc = load_vocab("eval", vocab_dir, model_path, &v)) != 0) goto done;
    if (fe_cf_load_file(&set, dataset, NULL, &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
    cs0 = fe_model_checksum(m);
    fe_rome_hparams_for(&hp, m);
    if ((rc = edit_setup("eval", m, stats_path, layer, layer_given, solver_s, ridge, nll_stop, quiet, &hp, &cov, &info)) != 0) goto done;
    if (!quiet && !templates_path) fprintf(stderr, "factedit eval: generating ROME's context templates (seed %llu)...\n", (unsigned long long)seed);
    if ((rc = make_templates("eval", m, v, templates_path, seed, &tpl)) != 0) goto done;
    total = (int)fe_cf_count(set);
    if (limit && limit < total) total = limit;
    rows = (eval_row *)calloc((size_t)total / (size_t)sn + 2, sizeof *rows);
    if (!rows) { rc = fail("eval", "out of memory"); goto done; }
    /* the configuration: shards merge only with identical ones */
    sb_puts(&cfg, "{\"model_checksum\": ");
    sb_printf(&cfg, "\"%016llx\", \"layer\": %d, \"solver\": \"%s\", \"dataset\": ", (unsigned long long)cs0, hp.layer, solver_name(hp.solver));
    sb_json_cstr(&cfg, dataset);
    sb_printf(&cfg, ", \"dataset_cases\": %d, \"limit\": ", (int)fe_cf_count(set));
    if (limit) sb_printf(&cfg, "%d", limit); else sb_puts(&cfg, "null");
    sb_puts(&cfg, ", \"stats_tokens\": ");
    if (cov) sb_printf(&cfg, "%llu", (unsigned long long)info.count); else sb_puts(&cfg, "null");
    sb_puts(&cfg, ", \"ridge\": "); sb_json_num(&cfg, ridge, 17);
    if (nll_stop > 0) { sb_puts(&cfg, ", \"nll_stop\": "); sb_json_num(&cfg, nll_stop, 17); }
    sb_puts(&cfg, ", \"templates\": "); sb_json_cstr(&cfg, templates_path);
    sb_printf(&cfg, ", \"seed\": %llu}", (unsigned long long)seed);
    n_sel = 0;
    for (i = si; i < total; i += sn) n_sel++;
    if (n_sel == 0 && !quiet) fprintf(stderr, "factedit eval: note: shard %d/%d of %d cases is empty\n", si, sn, total);
    cli_progress_init(&pg, "eval", "cases", quiet);
    {
        int k = 0;
        for (i = si; i < total; i += sn, k++) {
            const fe_cf_case *c = fe_cf_at(set, (size_t)i);
            cli_progress_show(&pg, k, n_sel, NULL, 0);
            rows[k].index = i;
            if (fe_cf_eval_case(m, v, c, tpl, &hp, cov, &rows[k].r, &e) != fe_ok) {
                if (pg.tty && pg.on) fputc('\n', stderr);
                fprintf(stderr, "factedit eval: case %d (case_id %d): %s\n", i, c->case_id, e.msg);
                rc = EXIT_FAIL; goto done;
            }
        }
        cli_progress_show(&pg, n_sel, n_sel, NULL, 1);
        for (i = 0, k = 0; i < n_sel; i++) k += rows[i].r.report.delta_norm == 0;
        if (k) fprintf(stderr, "factedit eval: note: %d of %d edits changed nothing (|delta| = 0: no change of layer %d's MLP output at the subject lowered the loss); their metrics after equal those before\n",
                       k, n_sel, hp.layer);
    }
    eval_report(&b, cfg.p ? cfg.p : "{}", si, sn, rows, n_sel);
    if (b.failed || cfg.failed) { rc = fail("eval", "out of memory"); goto done; }
    if (out_path && fe_write_file_atomic(out_path, b.p, b.len, &e) != fe_ok) { rc = fail("eval", e.msg); goto done; }
    if (json) fwrite(b.p, 1, b.len, stdout);
    else {
        printf("%d cases of %s", n_sel, dataset);
        if (sn > 1) printf(" (shard %d/%d)", si, sn);
        printf(", layer %d, solver %s, covariance %s\n", hp.layer, solver_name(hp.solver), cov ? stats_path : "NONE (C = I)");
        print_summary_table(rows, n_sel);
        if (out_path) printf("wrote %s\n", out_path);
    }
    rc = finish_stdout("eval");
done:
    free(rows);
    free(cfg.p); free(b.p);
    fe_templates_free(tpl);
    fe_cf_free(set);
    fe_cov_free(cov);
    fe_vocab_free(v);
    fe_model_free(m);
    return rc;
}
