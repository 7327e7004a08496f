/*
 * log.c - one structured line per event (see log.h).
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int mds_log_min_level = MDS_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int mds_log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void mds_log_write(int level, const char *event, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	int k;

	if (level < MDS_LOG_DEBUG || level > MDS_LOG_ERROR)
		level = MDS_LOG_ERROR;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line + n, sizeof(line) - n, ".%03ldZ level=%s event=%s",
		     ts.tv_nsec / 1000000, level_names[level], event);
	if (k > 0)
		n += (size_t)k;
	if (fmt && n < sizeof(line) - 2) {
		va_list ap;

		line[n++] = ' ';
		va_start(ap, fmt);
		k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (k > 0)
			n += (size_t)k;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line; a short write to stderr is not worth a retry. */
	ssize_t w = write(STDERR_FILENO, line, n);
	(void)w;
}
