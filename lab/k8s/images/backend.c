/*
 * backend.c - the lab cluster's backend pod: a tiny static HTTP server that answers every
 * request with the pod's name and address, so a client can tell which pod served it.
 *
 *   backend [PORT]        (default 8080; POD_NAME and POD_IP from the environment,
 *                          else the host name)
 *
 * One connection at a time, HTTP/1.0 semantics (the answer closes the connection); built
 * with `gcc -static` into an image FROM scratch by lab/k8s/images.sh.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 8080;
    char name[256] = "";
    const char *env = getenv("POD_NAME");
    if (env && *env)
        snprintf(name, sizeof name, "%s", env);
    else if (gethostname(name, sizeof name - 1) != 0)
        snprintf(name, sizeof name, "unknown");
    const char *ip = getenv("POD_IP");

    signal(SIGPIPE, SIG_IGN);
    /* Dual-stack listener: IPv4 clients arrive as v4-mapped addresses. */
    int s = socket(AF_INET6, SOCK_STREAM, 0);
    if (s < 0) { perror("socket"); return 1; }
    int one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = in6addr_any };
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
    if (listen(s, 64) < 0) { perror("listen"); return 1; }
    fprintf(stderr, "backend %s listening on port %d\n", name, port);

    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        /* Read the request head (up to the blank line, a bounded wait). */
        struct timeval tv = { .tv_sec = 5 };
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char req[4096];
        size_t got = 0;
        while (got < sizeof req - 1) {
            ssize_t n = read(c, req + got, sizeof req - 1 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = 0;
            if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
                break;
        }
        char body[512], resp[1024];
        int blen = snprintf(body, sizeof body, "%s%s%s\n", name, ip ? " " : "", ip ? ip : "");
        int rlen = snprintf(resp, sizeof resp,
                            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                            "Connection: close\r\n\r\n%s", blen, body);
        if (write(c, resp, (size_t)rlen) < 0) { /* the client went away */ }
        close(c);
    }
}
