/* `factedit edit`, `factedit eval` and `factedit stats` (tools/cmd_rome.c): ROME edits from the
   command line, ROME's CounterFact metrics (with shards and their merge), and key statistics. */
#ifndef FACTEDIT_CMD_ROME_H
#define FACTEDIT_CMD_ROME_H

#ifdef __cplusplus
extern "C" {
#endif

int fe_cmd_edit(int argc, char **argv);
int fe_cmd_eval(int argc, char **argv);
int fe_cmd_stats(int argc, char **argv);
/* tools/cmd_many.c: edit / eval with --requests, --method or --sequential (many edits) */
int fe_many_wanted(int argc, char **argv);
int fe_cmd_many_edit(int argc, char **argv);
int fe_cmd_many_eval(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
