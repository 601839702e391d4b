/*
 * inject.c - parsing PF_FAULT rules (see inject.h).
 *
 * Pure string handling: the node loop counts batches and acts; this file
 * only decides which rule, if any, applies to one incarnation of one
 * instance. A malformed rule is an error rather than ignored, so a test
 * that mistypes its fault does not silently pass without one.
 */
#include "runtime/inject.h"
#include "runtime/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parse one rule "NAME#I:ACTION=N[:times=K]" (len bytes at r). */
static int parse_rule(const char *r, size_t len, char *name, size_t name_len, pf_inject *f, long *times)
{
    char buf[256];
    if (len >= sizeof buf) return pf_errorf(PF_EINVAL, "PF_FAULT rule too long: '%.*s'", (int)len, r);
    memcpy(buf, r, len);
    buf[len] = '\0';
    char *colon = strchr(buf, ':');
    if (!colon || colon == buf || (size_t)(colon - buf) >= name_len) goto bad;
    memcpy(name, buf, (size_t)(colon - buf));
    name[colon - buf] = '\0';
    *times = 1;
    f->action = PF_INJECT_NONE;
    for (char *kv = colon + 1; kv && *kv;) {
        char *next = strchr(kv, ':');
        if (next) *next++ = '\0';
        char *eq = strchr(kv, '=');
        if (!eq) goto bad;
        *eq = '\0';
        char *end;
        long long v = strtoll(eq + 1, &end, 10);
        if (end == eq + 1 || *end || v < 0) goto bad;
        if (strcmp(kv, "exit_after") == 0) f->action = PF_INJECT_EXIT, f->after = (uint64_t)v;
        else if (strcmp(kv, "kill_after") == 0) f->action = PF_INJECT_KILL, f->after = (uint64_t)v;
        else if (strcmp(kv, "times") == 0) *times = (long)v;
        else goto bad;
        kv = next;
    }
    if (f->action == PF_INJECT_NONE) goto bad;
    return 0;
bad:
    return pf_errorf(PF_EINVAL,
                     "PF_FAULT: cannot parse rule '%.*s'; expected NAME#I:exit_after=N[:times=K] or "
                     "NAME#I:kill_after=N[:times=K]",
                     (int)len, r);
}

int pf_inject_parse(const char *spec, const char *name, int restarts, pf_inject *out)
{
    *out = (pf_inject){PF_INJECT_NONE, 0};
    if (!spec) return 0;
    for (const char *r = spec; *r;) {
        size_t len = strcspn(r, ",");
        if (len) {
            char who[160];
            pf_inject f;
            long times = 1;
            int rc = parse_rule(r, len, who, sizeof who, &f, &times);
            if (rc < 0) return rc;
            if (strcmp(who, name) == 0 && (times == 0 || restarts < times)) *out = f;
        }
        r += len;
        if (*r == ',') r++;
    }
    return 0;
}
