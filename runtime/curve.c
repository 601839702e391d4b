/*
 * curve.c - CURVE keys and the ZAP authentication handler (see curve.h).
 *
 * libzmq does the cryptography; what it leaves to the application is which
 * client keys to accept. It asks over an inproc REP socket at
 * "inproc://zeromq.zap.01" in the same context; the handler thread here
 * answers 200 for keys in authorized_keys and 400 for anything else
 * (including a mechanism other than CURVE, which a server socket set up
 * here never offers). The thread ends when the context terminates (recv
 * fails with ETERM) and is joined by pf_curve_close.
 */
#include "runtime/curve.h"
#include "runtime/endpoint.h"
#include "runtime/error.h"
#include "runtime/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define Z85_KEY_LEN 40 /* a 32-byte key in Z85 */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "pseudoflow"

struct pf_curve {
    char server_public[Z85_KEY_LEN + 1], server_secret[Z85_KEY_LEN + 1];
    char client_public[Z85_KEY_LEN + 1], client_secret[Z85_KEY_LEN + 1];
    uint8_t (*authorized)[32]; /* binary client public keys */
    size_t nauthorized;
    void *zap;
    pthread_t thread;
    int running;
};

static int valid_z85(const char *k)
{
    uint8_t bin[32];
    return strlen(k) == Z85_KEY_LEN && zmq_z85_decode(bin, k) != NULL;
}

/* Read up to `want` Z85 keys, one per line, skipping blanks and '#' comments. */
static int read_keys(const char *dir, const char *name, char keys[][Z85_KEY_LEN + 1], size_t want, size_t *got)
{
    char path[4200], line[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return pf_errorf(PF_EIO, "curve: cannot read '%s': %s (create keys with `pseudoflow keygen %s`)", path,
                         strerror(errno), dir);
    size_t n = 0;
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f) && n < want) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        p[strcspn(p, "\r\n")] = '\0';
        if (!*p || *p == '#') continue;
        if (!valid_z85(p)) {
            rc = pf_errorf(PF_EPARSE, "curve: %s:%d: expected a 40-character Z85 key", path, lineno);
            break;
        }
        memcpy(keys[n++], p, Z85_KEY_LEN + 1);
    }
    fclose(f);
    *got = n;
    return rc;
}

static int load_pair(const char *dir, const char *name, char *pub, char *sec)
{
    char keys[2][Z85_KEY_LEN + 1];
    size_t n;
    int rc = read_keys(dir, name, keys, 2, &n);
    if (rc < 0) return rc;
    if (n != 2) return pf_errorf(PF_EPARSE, "curve: %s/%s: expected a public and a secret key line", dir, name);
    memcpy(pub, keys[0], Z85_KEY_LEN + 1);
    memcpy(sec, keys[1], Z85_KEY_LEN + 1);
    return 0;
}

static int authorized(const pf_curve *c, const uint8_t *key, size_t len)
{
    if (len != 32) return 0;
    for (size_t i = 0; i < c->nauthorized; i++)
        if (memcmp(c->authorized[i], key, 32) == 0) return 1;
    return 0;
}

/* One ZAP request: version, request id, domain, address, identity, mechanism, credentials. */
static void *zap_main(void *arg)
{
    pf_curve *c = arg;
    for (;;) {
        zmq_msg_t f[8];
        int n = 0, more = 1;
        while (more && n < 8) {
            zmq_msg_init(&f[n]);
            if (zmq_msg_recv(&f[n], c->zap, 0) < 0) {
                zmq_msg_close(&f[n]);
                for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
                if (errno == EINTR) goto next;
                zmq_close(c->zap); /* ETERM: the context is ending */
                return NULL;
            }
            more = zmq_msg_more(&f[n]);
            n++;
        }
        {
            int ok = n >= 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                     authorized(c, zmq_msg_data(&f[6]), zmq_msg_size(&f[6]));
            if (!ok) PF_WARN("refused a connection: its CURVE client key is not in authorized_keys");
            const char *status = ok ? "200" : "400", *text = ok ? "OK" : "client key not authorized";
            zmq_send(c->zap, "1.0", 3, ZMQ_SNDMORE);
            zmq_send(c->zap, n > 1 ? zmq_msg_data(&f[1]) : "", n > 1 ? zmq_msg_size(&f[1]) : 0, ZMQ_SNDMORE);
            zmq_send(c->zap, status, 3, ZMQ_SNDMORE);
            zmq_send(c->zap, text, strlen(text), ZMQ_SNDMORE);
            zmq_send(c->zap, "", 0, ZMQ_SNDMORE);
            zmq_send(c->zap, "", 0, 0);
        }
        for (int i = 0; i < n; i++) zmq_msg_close(&f[i]);
    next:;
    }
}

int pf_curve_open(void *zctx, const char *dir, pf_curve **out)
{
    *out = NULL;
    pf_curve *c = calloc(1, sizeof *c);
    if (!c) return pf_errorf(PF_ENOMEM, "out of memory");
    int rc;
    if ((rc = load_pair(dir, "server.key", c->server_public, c->server_secret)) < 0 ||
        (rc = load_pair(dir, "client.key", c->client_public, c->client_secret)) < 0)
        goto fail;
    enum { MAX_AUTHORIZED = 4096 };
    char (*keys)[Z85_KEY_LEN + 1] = calloc(MAX_AUTHORIZED, sizeof *keys);
    c->authorized = calloc(MAX_AUTHORIZED, sizeof *c->authorized);
    if (!keys || !c->authorized) {
        free(keys);
        rc = pf_errorf(PF_ENOMEM, "out of memory");
        goto fail;
    }
    rc = read_keys(dir, "authorized_keys", keys, MAX_AUTHORIZED, &c->nauthorized);
    for (size_t i = 0; rc == 0 && i < c->nauthorized; i++) zmq_z85_decode(c->authorized[i], keys[i]);
    free(keys);
    if (rc < 0) goto fail;
    c->zap = zmq_socket(zctx, ZMQ_REP);
    if (!c->zap || zmq_bind(c->zap, ZAP_ENDPOINT) != 0) {
        rc = pf_errorf(PF_EZMQ, "curve: ZAP handler at %s: %s", ZAP_ENDPOINT, zmq_strerror(errno));
        goto fail;
    }
    /* Signals stay with the node's own thread: block them all in the handler. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&c->thread, NULL, zap_main, c);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        rc = pf_errorf(PF_ENOMEM, "curve: cannot start the ZAP thread");
        goto fail;
    }
    c->running = 1;
    *out = c;
    return 0;
fail:
    if (c->zap) zmq_close(c->zap);
    free(c->authorized);
    free(c);
    return rc;
}

int pf_curve_server(const pf_curve *c, void *sock)
{
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->server_secret, Z85_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN)) != 0)
        return pf_errorf(PF_EZMQ, "curve: server socket options: %s", zmq_strerror(errno));
    return 0;
}

int pf_curve_client(const pf_curve *c, void *sock)
{
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, c->server_public, Z85_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, c->client_public, Z85_KEY_LEN) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, c->client_secret, Z85_KEY_LEN) != 0)
        return pf_errorf(PF_EZMQ, "curve: client socket options: %s", zmq_strerror(errno));
    return 0;
}

void pf_curve_close(pf_curve **cp)
{
    pf_curve *c = *cp;
    if (!c) return;
    if (c->running) pthread_join(c->thread, NULL);
    free(c->authorized);
    free(c);
    *cp = NULL;
}

/* The files keygen writes, in order; all or none of them are left behind. */
static const char *const keygen_files[] = {"server.key", "client.key", "authorized_keys"};
#define KEYGEN_NFILES (sizeof keygen_files / sizeof *keygen_files)

static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    /* O_EXCL: never overwrite keys (even one that appeared after
     * keygen_check_absent looked); the mode is set at creation, never wider. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return pf_errorf(PF_EIO, "keygen: cannot create '%s': %s%s", path, strerror(errno),
                         errno == EEXIST ? " (not overwriting existing keys)" : "");
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int e = errno;
        close(fd), unlink(path);
        return pf_errorf(PF_EIO, "keygen: cannot write '%s': %s", path, strerror(e));
    }
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok) {
        unlink(path);
        return pf_errorf(PF_EIO, "keygen: write '%s' failed", path);
    }
    return 0;
}

/* Refuse, naming every key file already in dir, before anything is written:
 * a half-replaced set (a new server.key beside an old client.key) would be
 * worse than no keys. */
static int keygen_check_absent(const char *dir)
{
    char path[4200], found[3 * 4300] = "";
    size_t nfound = 0;
    for (size_t i = 0; i < KEYGEN_NFILES; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, keygen_files[i]);
        struct stat st;
        if (lstat(path, &st) == 0) {
            size_t len = strlen(found);
            snprintf(found + len, sizeof found - len, "%s'%s'", nfound++ ? ", " : "", path);
        } else if (errno != ENOENT) {
            return pf_errorf(PF_EIO, "keygen: cannot check '%s': %s", path, strerror(errno));
        }
    }
    if (nfound)
        return pf_errorf(PF_EIO, "keygen: %s already exist%s (not overwriting existing keys; nothing written)", found,
                         nfound == 1 ? "s" : "");
    return 0;
}

int pf_curve_keygen(const char *dir)
{
    char sp[Z85_KEY_LEN + 1], ss[Z85_KEY_LEN + 1], cp[Z85_KEY_LEN + 1], cs[Z85_KEY_LEN + 1];
    if (zmq_curve_keypair(sp, ss) != 0 || zmq_curve_keypair(cp, cs) != 0)
        return pf_errorf(PF_EZMQ, "keygen: %s", zmq_strerror(errno));
    int rc = 0, created = 0;
    size_t written = 0;
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return pf_errorf(PF_EIO, "keygen: '%s' exists and is not a directory", dir);
        /* An existing directory keeps its mode: it may be shared, and keygen
         * did not make it. The secret key files are 0600 on their own. */
        if ((rc = keygen_check_absent(dir)) < 0) return rc;
    } else if (errno == ENOENT) {
        if ((rc = pf_mkdirs(dir)) < 0) return pf_error_wrap(rc, "keygen: ");
        created = 1;
        if (chmod(dir, 0700) != 0) {
            rc = pf_errorf(PF_EIO, "keygen: chmod 0700 '%s': %s", dir, strerror(errno));
            goto fail;
        }
    } else {
        return pf_errorf(PF_EIO, "keygen: cannot use '%s': %s", dir, strerror(errno));
    }
    char text[KEYGEN_NFILES][512];
    snprintf(text[0], sizeof text[0],
             "# pseudoflow CURVE server key pair: public, then secret. Keep secret.\n%s\n%s\n", sp, ss);
    snprintf(text[1], sizeof text[1],
             "# pseudoflow CURVE client key pair: public, then secret. Keep secret.\n%s\n%s\n", cp, cs);
    snprintf(text[2], sizeof text[2], "# client public keys the servers accept, one per line\n%s\n", cp);
    static const mode_t modes[KEYGEN_NFILES] = {0600, 0600, 0644}; /* secrets private; public keys readable */
    for (; written < KEYGEN_NFILES; written++)
        if ((rc = write_file(dir, keygen_files[written], text[written], modes[written])) < 0) goto fail;
    return 0;
fail:
    /* All or nothing: remove what this call wrote, and the directory if it made it. */
    for (size_t i = 0; i < written; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", dir, keygen_files[i]);
        unlink(path);
    }
    if (created) rmdir(dir);
    return rc;
}
