/*
 * inject.h - fault injection for tests: make one node instance fail on purpose.
 *
 * The environment variable PF_FAULT holds a comma-separated list of rules
 *
 *     NAME#I:ACTION=N[:times=K]
 *
 *     ACTION  exit_after  the instance fails with exit status 1 (as a kind op
 *                         returning an error would) once N data batches have
 *                         passed through it
 *             kill_after  the instance SIGKILLs itself at that point (no
 *                         cleanup at all, like the OOM killer)
 *     times=K the rule applies to the first K incarnations of the instance
 *             (default 1: only the first one, so a restart succeeds);
 *             times=0 applies it to every incarnation (a node that keeps
 *             crashing).
 *
 * "Passed through" counts batches handed to the kind from a data input, or,
 * for a node without data inputs (a source), batches it emits. The
 * incarnation number comes from the supervisor (`pseudoflow node
 * --restarts K`, 0 for the first start), so no state is kept on disk.
 * Example: PF_FAULT="sink#0:exit_after=5,teacher#1:kill_after=20:times=0".
 *
 * Production runs never set PF_FAULT; an unset or empty variable is free.
 */
#ifndef PF_INJECT_H
#define PF_INJECT_H

#include <stdint.h>

typedef enum pf_inject_action { PF_INJECT_NONE = 0, PF_INJECT_EXIT = 1, PF_INJECT_KILL = 2 } pf_inject_action;

typedef struct pf_inject {
    pf_inject_action action;
    uint64_t after; /* data batches before the fault fires */
} pf_inject;

/* Find the rule in `spec` (PF_FAULT's value; NULL or "" = none) for the
 * instance named `name` ("sink#0") in incarnation `restarts`. Fills *out
 * (action PF_INJECT_NONE when no rule applies). Returns 0, or PF_EINVAL with
 * the offending rule in pf_error_last() when spec is malformed. */
int pf_inject_parse(const char *spec, const char *name, int restarts, pf_inject *out);

#endif
