/*
 * log.h - structured logging for the mds daemon and its tools.
 *
 * One line per event on stderr:
 *   ts=2026-11-21T07:30:00.123Z level=info event=listen addr=127.0.0.1:7420
 * The event name is a fixed lower-case word; everything after it is
 * key=value pairs formatted by the caller (values with spaces are quoted by
 * the caller with %s inside "..."). The level is checked before anything is
 * formatted, so a disabled debug line costs one comparison. Lines are
 * written with one write(2) so threads do not interleave inside a line.
 * Never log secrets: key material, tokens and passwords are not passed here.
 */
#ifndef MDS_LOG_H
#define MDS_LOG_H

enum mds_log_level {
	MDS_LOG_DEBUG = 0,
	MDS_LOG_INFO = 1,
	MDS_LOG_WARN = 2,
	MDS_LOG_ERROR = 3,
};

/* The minimum level written; default MDS_LOG_INFO. Not thread-safe to
 * change while other threads log (set it once at start). */
extern int mds_log_min_level;

/*
 * mds_log_parse_level - "debug", "info", "warn" or "error" to a level.
 * Returns the level or -1 when @name (borrowed) is none of them.
 */
int mds_log_parse_level(const char *name);

/*
 * mds_log_write - write one event line. @event (borrowed) is the event
 * name; @fmt (may be NULL) formats the key=value pairs that follow it.
 */
void mds_log_write(int level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define mds_log(level, event, ...) \
	do { \
		if ((level) >= mds_log_min_level) \
			mds_log_write((level), (event), __VA_ARGS__); \
	} while (0)

#endif /* MDS_LOG_H */
