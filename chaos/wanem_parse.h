/*
 * wanem_parse.h - parsers for the WAN emulator's option values.
 *
 * Pure functions, no I/O and no allocation, so they are unit tested on
 * their own (test_wanem_parse.c) and shared by the daemon's start-up flags,
 * its control commands and wanemctl. Every parser takes a NUL-terminated
 * string it only borrows, writes its result only on success, and on failure
 * returns -EINVAL with a one-line, lower-case message in @err (borrowed,
 * @errlen bytes, may be NULL) naming the value that did not parse.
 */
#ifndef MDS_WANEM_PARSE_H
#define MDS_WANEM_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * mds_wanem_parse_duration - "200ms", "1.5s", "50us", "2m", "0" to
 * nanoseconds in @ns. A unit is required except for "0". Negative values and
 * durations above one hour are refused.
 */
int mds_wanem_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen);

/*
 * mds_wanem_parse_rate - a bandwidth in bytes per second into @bps.
 * Units: bit, kbit, mbit, gbit (powers of 1000 bits, as tc spells them, case
 * does not matter) and B/s, kB/s, MB/s, GB/s (powers of 1000 bytes). "0",
 * "off" and "unlimited" give 0, which means no cap. Rates that round to less
 * than one byte per second are refused.
 */
int mds_wanem_parse_rate(const char *s, uint64_t *bps, char *err, size_t errlen);

/*
 * mds_wanem_parse_size - a byte count into @bytes: a plain number, or with
 * k/K/KiB (1024), m/M/MiB (1024^2), g/G/GiB (1024^3).
 */
int mds_wanem_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);

/*
 * mds_wanem_parse_prob - a probability into @p: a decimal in [0, 1] or a
 * percentage in [0%, 100%] ("0.01" and "1%" are the same).
 */
int mds_wanem_parse_prob(const char *s, double *p, char *err, size_t errlen);

/* mds_wanem_parse_bool - on/off, true/false, yes/no, 1/0 into @b (0 or 1). */
int mds_wanem_parse_bool(const char *s, int *b, char *err, size_t errlen);

/*
 * mds_wanem_parse_addr - a numeric "IPv4:PORT" or "[IPv6]:PORT" into @ss
 * (caller-allocated). Port 0 is allowed (bind to any free port). Host names
 * are refused: the emulator never resolves names.
 */
int mds_wanem_parse_addr(const char *s, struct sockaddr_storage *ss, char *err,
			 size_t errlen);

/*
 * mds_wanem_format_addr - "IP:PORT" / "[IP]:PORT" of @sa (borrowed) into
 * @out (@outlen bytes). Returns 0 or -EINVAL for an unknown family.
 */
int mds_wanem_format_addr(const struct sockaddr *sa, char *out, size_t outlen);

#endif
