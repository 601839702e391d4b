/*
 * commands.h - the subcommand table shared by the files in cli/.
 *
 * Each subcommand is `int fn(int argc, char **argv)` with argv[0] = its own
 * name; it returns the process exit status (0 ok, 1 failure, 2 usage) and
 * prints its own --help. Subcommands defined in other cli/ files are
 * declared here and added to the table through PF_EXTRA_COMMANDS.
 */
#ifndef PF_COMMANDS_H
#define PF_COMMANDS_H

#include <stdio.h>

#define PF_VERSION "0.1.0"

typedef struct pf_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} pf_command;

int pf_cmd_store(int argc, char **argv); /* cli/cmd_store.c */
int pf_cmd_train(int argc, char **argv); /* cli/cmd_train.c */

#define PF_EXTRA_COMMANDS                                                                          \
    {"store", pf_cmd_store, "read a label store: stats, one record, export"},                      \
    {"train", pf_cmd_train, "train a model offline on a labeled file (teacher, reference)"},

#endif
