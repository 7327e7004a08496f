/*
 * wanemctl.c - command-line client for the WAN emulator's control socket.
 *
 *   wanemctl [-s SOCKET] [--pretty] COMMAND WORDS...
 *   wanemctl [-s SOCKET] [--pretty] -        (commands from stdin, one per line)
 *
 * The socket defaults to $WANEM_CONTROL, else ./wanem.sock. Each answer is
 * printed on stdout as the daemon sent it (one JSON line) or indented with
 * --pretty. Exit status: 0 when every command succeeded, 1 when the daemon
 * refused one (its error is also printed on stderr), 2 for usage errors or
 * when the daemon cannot be reached.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "wanemctl: socket path '%s' is too long\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		fprintf(stderr, "wanemctl: cannot connect to '%s': %s (is wanem running?)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends @cmd (borrowed) and prints the answer. 0 ok, 1 refused, 2 broken. */
static int roundtrip(FILE *io, const char *cmd, int pretty)
{
	char *line = NULL;
	size_t cap = 0;
	json_t *ans, *ok;
	json_error_t jerr;
	int rc = 2;

	if (fprintf(io, "%s\n", cmd) < 0 || fflush(io) != 0) {
		fprintf(stderr, "wanemctl: cannot send command: %s\n", strerror(errno));
		return 2;
	}
	if (getline(&line, &cap, io) < 0) {
		fprintf(stderr, "wanemctl: no answer from wanem\n");
		goto out_free;
	}
	ans = json_loads(line, 0, &jerr);
	if (!ans) {
		fprintf(stderr, "wanemctl: cannot parse answer: %s\n", jerr.text);
		goto out_free;
	}
	ok = json_object_get(ans, "ok");
	rc = json_is_true(ok) ? 0 : 1;
	if (pretty) {
		json_dumpf(ans, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		fputs(line, stdout);
	}
	if (rc)
		fprintf(stderr, "wanemctl: %s\n", json_string_value(json_object_get(ans, "error")));
	json_decref(ans);
out_free:
	free(line);
	return rc;
}

int main(int argc, char **argv)
{
	const char *path = getenv("WANEM_CONTROL");
	char cmd[LINE_MAX_BYTES];
	size_t len = 0;
	int pretty = 0, i, fd, rc = 0;
	FILE *io;

	if (!path || !*path)
		path = "wanem.sock";
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--pretty") == 0)
			pretty = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			puts("usage: wanemctl [-s SOCKET] [--pretty] COMMAND WORDS... | -\n"
			     "commands: ping | link add NAME LISTEN UPSTREAM [k=v...] | link set NAME k=v... |\n"
			     "          link show [NAME] | link del NAME | stats [NAME]");
			return 0;
		} else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "wanemctl: no command given (try --help)\n");
		return 2;
	}
	fd = connect_to(path);
	if (fd < 0)
		return 2;
	io = fdopen(fd, "r+");
	if (!io) {
		close(fd);
		return 2;
	}
	if (strcmp(argv[i], "-") == 0 && i + 1 == argc) {
		while (fgets(cmd, sizeof(cmd), stdin)) {
			int r;
			cmd[strcspn(cmd, "\n")] = '\0';
			if (!cmd[0] || cmd[0] == '#')
				continue;
			r = roundtrip(io, cmd, pretty);
			if (r > rc)
				rc = r;
			if (r == 2)
				break;
		}
	} else {
		for (; i < argc; i++) {
			int n = snprintf(cmd + len, sizeof(cmd) - len, "%s%s", len ? " " : "", argv[i]);
			if (n < 0 || (size_t)n >= sizeof(cmd) - len) {
				fprintf(stderr, "wanemctl: command longer than %d bytes\n", LINE_MAX_BYTES - 1);
				fclose(io);
				return 2;
			}
			len += (size_t)n;
		}
		rc = roundtrip(io, cmd, pretty);
	}
	fclose(io);
	return rc;
}
