/* csub: the bench's compiled subscriber (the ``sub`` role of bench/loadgen.py, in C).
 *
 * Built at run time by bench/csub.py (gcc -O2) into the bench's output directory; never
 * committed as a binary. One process, one thread, epoll (level-triggered) over every
 * connection. Everything that needs Python (JWT signing, the opening-handshake key and its
 * expected accept value, the subscribe frames) is prepared by the driver and handed over in
 * a plan file, so this program only moves bytes and counts:
 *
 *   csub PLAN
 *
 * PLAN (written by bench/csub.py:write_plan):
 *   line 1: "CSUB1 host port n deadline_s drain_s connect_timeout_s concurrency per_conn_s"
 *   then per connection a header line
 *     "expected sampled nacks reqlen acceptlen setuplen"
 *   followed by reqlen bytes of HTTP upgrade request, acceptlen bytes of the expected
 *   Sec-WebSocket-Accept value and setuplen bytes of client frames (the subscribes) to
 *   send after the server's hello. The plan holds bearer tokens: csub deletes it once read.
 *
 * Control, as for the Python generator: commands on stdin ("go", "pubdone", "stop"), JSON
 * lines on stdout ("ready", then "result"). Per frame on the hot path: the header, an
 * opcode check and a memmem for "type":"event". Sampled connections also parse the
 * publisher's stamp ("data":{"t":NS,"seq":N) and record now - t in microseconds, with now
 * read from CLOCK_MONOTONIC (time.monotonic_ns() in the publisher) right after each read.
 * Latencies go out as a sparse [[us, count], ...] list that the driver turns into an
 * HdrHistogram.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CONNECTING, HANDSHAKE, SETUP, COUNTING, CLOSED };

typedef struct {
    int fd;
    int state;
    int sampled;
    int nacks;       /* replies still awaited in SETUP */
    long expected;
    long received;
    long last_seq;
    char *req, *accept, *setup;
    size_t reqlen, acceptlen, setuplen;
    unsigned char *buf;
    size_t len, cap;
    int counted_done;
    int hello;
    int ready;
    double t_start;
} Conn;

static Conn *conns;
static long n_conns;
static long total, conns_done, non_events, out_of_order, n_counting, n_failed;
static int64_t first_ns, last_ns;
static char *errors[20];
static int n_errors;
struct closed_kv { char key[48]; long n; };
static struct closed_kv closed_kv[16];
static int n_closed_kv;
static uint32_t *samples;
static size_t n_samples, cap_samples;
static int ep;
static int cmd_go, cmd_pubdone, cmd_stop, stdin_eof;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double now_s(void) { return now_ns() / 1e9; }

static void error_msg(const char *fmt, ...) {
    if (n_errors >= 20) return;
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    errors[n_errors++] = strdup(tmp);
}

static void count_closed(const char *key) {
    for (int i = 0; i < n_closed_kv; i++)
        if (!strcmp(closed_kv[i].key, key)) { closed_kv[i].n++; return; }
    if (n_closed_kv < 16) {
        snprintf(closed_kv[n_closed_kv].key, sizeof closed_kv[0].key, "%s", key);
        closed_kv[n_closed_kv++].n = 1;
    }
}

static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_errors(FILE *f, int limit) {
    fputc('[', f);
    for (int i = 0; i < n_errors && i < limit; i++) {
        if (i) fputc(',', f);
        json_str(f, errors[i], strlen(errors[i]));
    }
    fputc(']', f);
}

static void conn_close(Conn *c) {
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* A connection that fails before it counts: out of the in-flight set, never ready. */
static void conn_fail(Conn *c, const char *why) {
    error_msg("conn %ld: %s", (long)(c - conns), why);
    if (c->state != COUNTING && c->state != CLOSED) n_failed++;
    c->state = CLOSED;
    conn_close(c);
}

static int send_all(Conn *c, const void *p, size_t n) {
    const char *q = p;
    while (n) {
        ssize_t w = send(c->fd, q, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1; /* small setup writes on loopback: a full buffer is a failure */
        }
        q += w;
        n -= (size_t)w;
    }
    return 0;
}

static void send_frame(Conn *c, int op, const unsigned char *payload, size_t n) {
    unsigned char hdr[6 + 125];
    if (n > 125) n = 125; /* control frames only */
    hdr[0] = (unsigned char)(0x80 | op);
    hdr[1] = (unsigned char)(0x80 | n);
    memset(hdr + 2, 0, 4); /* the all-zero masking key: masking is the identity */
    memcpy(hdr + 6, payload, n);
    if (c->fd >= 0) send_all(c, hdr, 6 + n);
}

static void became_counting(Conn *c) {
    c->state = COUNTING;
    c->ready = 1;
    n_counting++;
    if (c->expected <= c->received && !c->counted_done) {
        c->counted_done = 1;
        conns_done++;
    }
}

static long parse_long(const unsigned char *p, const unsigned char *end, int *ok) {
    long v = 0;
    int any = 0, neg = 0;
    if (p < end && *p == '-') { neg = 1; p++; }
    while (p < end && *p >= '0' && *p <= '9') { v = v * 10 + (*p - '0'); p++; any = 1; }
    *ok = any;
    return neg ? -v : v;
}

static void record_sample(uint32_t us) {
    if (n_samples == cap_samples) {
        cap_samples = cap_samples ? cap_samples * 2 : 65536;
        samples = realloc(samples, cap_samples * sizeof *samples);
    }
    samples[n_samples++] = us;
}

static void sample(Conn *c, const unsigned char *p, size_t n, int64_t now) {
    static const char mark[] = "\"data\":{\"t\":";
    const unsigned char *end = p + n;
    const unsigned char *q = memmem(p, n, mark, sizeof mark - 1);
    int ok1 = 0, ok2 = 0;
    long t = 0, seq = 0;
    if (q) {
        q += sizeof mark - 1;
        t = parse_long(q, end, &ok1);
        const unsigned char *s = memmem(q, (size_t)(end - q), "\"seq\":", 6);
        if (s) seq = parse_long(s + 6, end, &ok2);
    }
    if (!ok1 || !ok2) {
        char tmp[128];
        size_t k = n < 100 ? n : 100;
        memcpy(tmp, p, k);
        tmp[k] = 0;
        error_msg("unparsable event: %s", tmp);
        return;
    }
    int64_t d = (now - (int64_t)t) / 1000;
    record_sample(d < 1 ? 1 : (uint32_t)(d > 4000000000LL ? 4000000000LL : d));
    if (seq <= c->last_seq) out_of_order++;
    c->last_seq = seq;
}

static void text_in_setup(Conn *c, const unsigned char *p, size_t n) {
    if (!c->hello) {
        if (memmem(p, n, "\"hello\"", 7)) {
            c->hello = 1;
            if (c->nacks == 0) { became_counting(c); return; }
            if (send_all(c, c->setup, c->setuplen) < 0) conn_fail(c, "subscribe write failed");
            return;
        }
        non_events++;
        return;
    }
    if (memmem(p, n, "\"ok\":true", 9)) {
        if (--c->nacks == 0) became_counting(c);
        return;
    }
    if (memmem(p, n, "\"ok\":false", 10)) {
        char tmp[220];
        size_t k = n < 200 ? n : 200;
        memcpy(tmp, p, k);
        tmp[k] = 0;
        char why[260];
        snprintf(why, sizeof why, "refused: %s", tmp);
        conn_fail(c, why);
        return;
    }
    non_events++;
}

/* Split and handle every complete frame in c->buf; keep the partial tail. */
static void frames(Conn *c, int64_t now) {
    unsigned char *b = c->buf;
    size_t n = c->len, i = 0;
    long events = 0;
    while (n - i >= 2 && c->state != CLOSED) {
        unsigned b0 = b[i];
        uint64_t ln = b[i + 1] & 0x7F;
        size_t h = i + 2;
        if (ln == 126) {
            if (n - i < 4) break;
            ln = ((uint64_t)b[i + 2] << 8) | b[i + 3];
            h = i + 4;
        } else if (ln == 127) {
            if (n - i < 10) break;
            ln = 0;
            for (int k = 0; k < 8; k++) ln = (ln << 8) | b[i + 2 + k];
            h = i + 10;
        }
        if (ln > n - h) break;
        const unsigned char *pl = b + h;
        size_t end = h + (size_t)ln;
        int op = b0 & 0x0F;
        if (b0 == 0x81 && c->state == COUNTING) {
            if (memmem(pl, (size_t)ln, "\"type\":\"event\"", 14)) {
                events++;
                if (c->sampled) sample(c, pl, (size_t)ln, now);
            } else {
                non_events++;
            }
        } else if (op == 0x9) {
            send_frame(c, 0xA, pl, (size_t)ln);
        } else if (op == 0xA) {
            /* pong: nothing */
        } else if (op == 0x8) {
            int code = ln >= 2 ? (pl[0] << 8) | pl[1] : 1005;
            char key[32];
            snprintf(key, sizeof key, "close:%d", code);
            count_closed(key);
            char reason[130];
            size_t k = ln > 2 ? (size_t)ln - 2 : 0;
            if (k > 120) k = 120;
            memcpy(reason, pl + 2, k);
            reason[k] = 0;
            error_msg("server closed %d %s", code, reason);
            send_frame(c, 0x8, pl, ln >= 2 ? 2 : 0);
            if (c->state != COUNTING) n_failed++;
            c->state = CLOSED;
            conn_close(c);
        } else if (b0 == 0x81) {
            text_in_setup(c, pl, (size_t)ln);
        } else {
            error_msg("unexpected frame opcode %d fin %d", op, (b0 & 0x80) != 0);
        }
        i = end;
    }
    if (i) {
        memmove(b, b + i, n - i);
        c->len = n - i;
    }
    if (events) {
        if (!first_ns) first_ns = now;
        last_ns = now;
        total += events;
        long before = c->received;
        c->received = before + events;
        if (before < c->expected && c->expected <= c->received && !c->counted_done) {
            c->counted_done = 1;
            conns_done++;
        }
    }
}

static void on_handshake(Conn *c) {
    unsigned char *e = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!e) return;
    size_t head = (size_t)(e - c->buf);
    if (c->len < 12 || memcmp(c->buf + 9, "101", 3) != 0) {
        char tmp[100];
        size_t k = head < 80 ? head : 80;
        memcpy(tmp, c->buf, k);
        tmp[k] = 0;
        char why[140];
        snprintf(why, sizeof why, "handshake: %s", tmp);
        conn_fail(c, why);
        return;
    }
    if (!memmem(c->buf, head, c->accept, c->acceptlen)) {
        conn_fail(c, "handshake: bad Sec-WebSocket-Accept");
        return;
    }
    c->state = SETUP;
    memmove(c->buf, c->buf + head + 4, c->len - head - 4);
    c->len -= head + 4;
}

static void on_readable(Conn *c) {
    if (c->cap - c->len < 16384) {
        c->cap = c->cap ? c->cap * 2 : 65536;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        char key[48];
        snprintf(key, sizeof key, "lost:%s", strerror(errno));
        count_closed(key);
        if (c->state != COUNTING) n_failed++;
        c->state = CLOSED;
        conn_close(c);
        return;
    }
    if (r == 0) {
        count_closed("lost");
        if (c->state != COUNTING) { n_failed++; error_msg("conn %ld: eof in setup", (long)(c - conns)); }
        c->state = CLOSED;
        conn_close(c);
        return;
    }
    int64_t now = now_ns();
    c->len += (size_t)r;
    if (c->state == HANDSHAKE) {
        on_handshake(c);
        if (c->state != SETUP) return;
    }
    frames(c, now);
}

static void on_writable(Conn *c) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        char why[100];
        snprintf(why, sizeof why, "connect: %s", strerror(err));
        conn_fail(c, why);
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->state = HANDSHAKE;
    if (send_all(c, c->req, c->reqlen) < 0) conn_fail(c, "request write failed");
}

static struct sockaddr_in addr;

static void start_conn(Conn *c) {
    c->t_start = now_s();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { conn_fail(c, "socket failed"); return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->state = CONNECTING;
    int r = connect(c->fd, (struct sockaddr *)&addr, sizeof addr);
    if (r < 0 && errno != EINPROGRESS) {
        char why[100];
        snprintf(why, sizeof why, "connect: %s", strerror(errno));
        conn_fail(c, why);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static char stdin_buf[4096];
static size_t stdin_len;

static void on_stdin(void) {
    ssize_t r = read(0, stdin_buf + stdin_len, sizeof stdin_buf - stdin_len - 1);
    if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        stdin_eof = 1;
        cmd_stop = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
        return;
    }
    stdin_len += (size_t)r;
    char *nl;
    while ((nl = memchr(stdin_buf, '\n', stdin_len))) {
        *nl = 0;
        char *line = stdin_buf;
        while (*line == ' ' || *line == '\r') line++;
        size_t ll = strlen(line);
        while (ll && (line[ll - 1] == '\r' || line[ll - 1] == ' ')) line[--ll] = 0;
        if (!strcmp(line, "go")) cmd_go = 1;
        else if (!strcmp(line, "pubdone")) cmd_pubdone = 1;
        else if (!strcmp(line, "stop")) cmd_stop = 1;
        size_t used = (size_t)(nl - stdin_buf) + 1;
        memmove(stdin_buf, stdin_buf + used, stdin_len - used);
        stdin_len -= used;
    }
    if (stdin_len >= sizeof stdin_buf - 1) stdin_len = 0;
}

static int poll_once(int timeout_ms) {
    struct epoll_event evs[512];
    int k = epoll_wait(ep, evs, 512, timeout_ms);
    for (int j = 0; j < k; j++) {
        if (evs[j].data.ptr == NULL) { on_stdin(); continue; }
        Conn *c = evs[j].data.ptr;
        if (c->fd < 0) continue;
        if (c->state == CONNECTING) {
            if (evs[j].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_writable(c);
            continue;
        }
        if (evs[j].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) on_readable(c);
    }
    return k;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static char *read_exact(FILE *f, size_t n) {
    char *p = malloc(n + 1);
    if (!p || fread(p, 1, n, f) != n) { fprintf(stderr, "csub: short plan\n"); exit(2); }
    p[n] = 0;
    return p;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: csub PLAN\n"); return 2; }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) { perror("csub: plan"); return 2; }
    char host[64];
    int port, concurrency;
    double deadline_s, drain_s, connect_timeout_s, per_conn_s;
    if (fscanf(f, "CSUB1 %63s %d %ld %lf %lf %lf %d %lf", host, &port, &n_conns, &deadline_s,
               &drain_s, &connect_timeout_s, &concurrency, &per_conn_s) != 8 ||
        fgetc(f) != '\n') {
        fprintf(stderr, "csub: bad plan header\n");
        return 2;
    }
    conns = calloc((size_t)(n_conns ? n_conns : 1), sizeof *conns);
    for (long i = 0; i < n_conns; i++) {
        Conn *c = &conns[i];
        int sampled, nacks;
        if (fscanf(f, "%ld %d %d %zu %zu %zu", &c->expected, &sampled, &nacks, &c->reqlen,
                   &c->acceptlen, &c->setuplen) != 6 ||
            fgetc(f) != '\n') {
            fprintf(stderr, "csub: bad plan line %ld\n", i);
            return 2;
        }
        c->sampled = sampled;
        c->nacks = nacks;
        c->req = read_exact(f, c->reqlen);
        c->accept = read_exact(f, c->acceptlen);
        c->setup = read_exact(f, c->setuplen);
        c->fd = -1;
        c->last_seq = -1;
    }
    fclose(f);
    unlink(argv[1]); /* it holds bearer tokens: gone once read */
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "csub: host must be an IPv4 address: %s\n", host);
        return 2;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, 0, &sev);

    double t0 = now_s();
    double deadline = t0 + deadline_s;
    int64_t t_ready0 = now_ns();
    long next = 0;
    /* Connect phase: at most `concurrency` connections between connect() and COUNTING. */
    while (now_s() < t0 + connect_timeout_s && now_s() < deadline && !cmd_stop) {
        while (next < n_conns && next - n_counting - n_failed < concurrency) start_conn(&conns[next++]);
        if (next >= n_conns && n_counting + n_failed >= n_conns) break;
        poll_once(20);
        double t = now_s();
        for (long i = 0; i < next; i++) {
            Conn *c = &conns[i];
            if (c->state != COUNTING && c->state != CLOSED && t - c->t_start > per_conn_s)
                conn_fail(c, "TimeoutError: not ready within per_conn_timeout");
        }
    }
    long pending = 0;
    for (long i = 0; i < n_conns; i++)
        if (conns[i].state != COUNTING && conns[i].state != CLOSED) {
            pending++;
            conn_fail(&conns[i], "not ready before connect_timeout");
        }
    if (pending) error_msg("%ld connections not ready before connect_timeout", pending);
    long connected = 0;
    for (long i = 0; i < n_conns; i++) connected += conns[i].state == COUNTING;
    printf("{\"event\":\"ready\",\"connected\":%ld,\"wanted\":%ld,\"connect_s\":%.6f,\"errors\":",
           connected, n_conns, now_s() - t0);
    json_errors(stdout, 5);
    printf("}\n");
    fflush(stdout);

    /* Wait for go (events that arrive before it are counted all the same). */
    while (!cmd_go && !cmd_stop && now_s() < deadline) poll_once(50);
    if (!cmd_go || connected < n_conns) error_msg("not started");
    long live = connected;
    if (conns_done >= live) goto finished;
    long before = total;
    double quiet_since = now_s();
    while (now_s() < deadline && !cmd_stop) {
        poll_once(20);
        if (conns_done >= live) break;
        double t = now_s();
        if (total != before) {
            before = total;
            quiet_since = t;
        } else if (cmd_pubdone && t - quiet_since >= drain_s) {
            break;
        }
    }
finished:;
    long expected_total = 0, short_ = 0, extra = 0;
    for (long i = 0; i < n_conns; i++) {
        Conn *c = &conns[i];
        if (!c->ready) continue;
        expected_total += c->expected;
        short_ += c->received < c->expected;
        extra += c->received > c->expected;
    }
    for (long i = 0; i < n_conns; i++) {
        Conn *c = &conns[i];
        if (c->fd >= 0) {
            unsigned char code[2] = {0x03, 0xE8};
            send_frame(c, 0x8, code, 2);
            conn_close(c);
        }
    }
    qsort(samples, n_samples, sizeof *samples, cmp_u32);
    printf("{\"event\":\"result\",\"connected\":%ld,\"wanted\":%ld,\"received\":%ld,"
           "\"expected\":%ld,\"conns_short\":%ld,\"conns_extra\":%ld,\"first_ns\":%lld,"
           "\"last_ns\":%lld,\"t_ready0_ns\":%lld,\"non_events\":%ld,\"other_types\":{},"
           "\"out_of_order\":%ld,\"cpu_s\":%.4f,\"replies\":[],\"recover_s\":null,\"closed\":{",
           connected, n_conns, total, expected_total, short_, extra, (long long)first_ns,
           (long long)last_ns, (long long)t_ready0, non_events, out_of_order, cpu_seconds());
    for (int i = 0; i < n_closed_kv; i++)
        printf("%s\"%s\":%ld", i ? "," : "", closed_kv[i].key, closed_kv[i].n);
    printf("},\"errors\":");
    json_errors(stdout, 20);
    printf(",\"samples\":[");
    for (size_t i = 0; i < n_samples;) {
        size_t j = i;
        while (j < n_samples && samples[j] == samples[i]) j++;
        printf("%s[%u,%zu]", i ? "," : "", samples[i], j - i);
        i = j;
    }
    printf("]}\n");
    fflush(stdout);
    return 0;
}
