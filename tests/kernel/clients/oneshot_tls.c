/* A sender that lives a few milliseconds: connect to 127.0.0.1:PORT, TLS with SNI NAME (no
 * certificate check: the test is about capture, not trust), send the request read from stdin in
 * ONE SSL_write, exit without waiting for the answer. Prints how long main() ran, in ms.
 * Build: cc -O2 -o oneshot_tls oneshot_tls.c -lssl -lcrypto
 * Usage: oneshot_tls NAME PORT < request */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv) {
	double start = now_ms();
	static char request[16384];
	size_t len = fread(request, 1, sizeof request, stdin);
	if (argc != 3 || len == 0) return 2;
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return 3;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	SSL_set_tlsext_host_name(ssl, argv[1]);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) return 4;
	if (SSL_write(ssl, request, (int)len) != (int)len) return 5;
	printf("%.1f\n", now_ms() - start);
	return 0;
}
