/*
 * e2e.h - what the end-to-end tests share: starting `pseudoflow run` on a
 * graph with its output in a log file, and reading a file back whole.
 * Header-only (static inline) because each test file is its own program.
 * PF_BIN is the binary under test (a compile definition of every test).
 */
#ifndef PF_TEST_E2E_H
#define PF_TEST_E2E_H

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Start `pseudoflow run GRAPH --no-progress [option]` (option may be NULL),
 * stdout and stderr appended to <dir>/run.log. Returns the supervisor's pid. */
static inline pid_t pf_e2e_start_run_with(const char *dir, const char *graph, const char *option)
{
    char log[512];
    snprintf(log, sizeof log, "%s/run.log", dir);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) dup2(fd, 2), dup2(fd, 1);
        execl(PF_BIN, PF_BIN, "run", graph, "--no-progress", option, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* pf_e2e_start_run_with without an option. */
static inline pid_t pf_e2e_start_run(const char *dir, const char *graph)
{
    return pf_e2e_start_run_with(dir, graph, NULL);
}

/* Whole file as a string ("" when missing); caller frees. */
static inline char *pf_e2e_slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

#endif
