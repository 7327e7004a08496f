/*
 * test_alloc.c - failure injection: make the Nth allocation fail, for every
 * N, in key generation, key files, signing and verifying, and check that
 * each failure comes back as an error (never a crash, a leak under ASan, a
 * wrong success, or a false forgery alarm), until the run that needs no
 * failing allocation succeeds.
 *
 * Allocations are counted in two places: OpenSSL's (through
 * CRYPTO_set_mem_functions, set before OpenSSL allocates anything) and
 * ours (malloc/calloc in mds/feed, redirected with the linker's --wrap).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/crypto.h>

#include "note.h"

static long n_allocs, fail_at;

static int should_fail(void)
{
	return ++n_allocs == fail_at;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);

void *__wrap_malloc(size_t n)
{
	return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return should_fail() ? NULL : __real_calloc(n, m);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return should_fail() ? NULL : __real_malloc(n);
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return should_fail() ? NULL : realloc(p, n);
}

static void ossl_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

static int is_error_code(int rc)
{
	return rc < 0;
}

/* One round of everything; returns 0 if every step succeeded. Every failed
 * step must fail cleanly with a message. */
static int scenario(const char *dir, long round)
{
	static const char text[] = "island-a.example.org/feed\n5\n"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
	struct mds_note_signer *k = NULL, *l = NULL;
	struct mds_note_verifier v;
	struct mds_checkpoint cp;
	struct mds_status st = { 0 };
	char path[256], *note = NULL;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/k%ld.pem", dir, round);
	rc = mds_note_signer_generate("island-a.example.org/feed", &k, &st);
	if (rc)
		goto out;
	mds_note_signer_verifier(k, &v);
	rc = mds_note_sign(text, sizeof(text) - 1, &k, 1, &note, &len, &st);
	if (rc)
		goto out;
	rc = mds_checkpoint_open(note, len, "island-a.example.org/feed", &v, 1,
		&cp, &st);
	if (rc) {
		/* Running out of memory is not evidence of forgery. */
		assert_int_not_equal(rc, MDS_EDENIED);
		goto out;
	}
	assert_int_equal(cp.size, 5);
	rc = mds_note_signer_save(k, path, &st);
	if (rc)
		goto out;
	rc = mds_note_signer_load(path, "island-a.example.org/feed", &l, &st);
	if (rc)
		goto out;
	{
		struct mds_note_verifier w;

		mds_note_signer_verifier(l, &w);
		assert_memory_equal(&v, &w, sizeof(v));
	}
out:
	if (rc) {
		assert_true(is_error_code(rc));
		assert_true(st.msg[0] != '\0');
	}
	unlink(path);
	free(note);
	mds_note_signer_free(k);
	mds_note_signer_free(l);
	return rc;
}

static void test_every_allocation_fails_once(void **state)
{
	/* tmpfs when there is one: each round fsyncs a key file. */
	char dir[] = "/dev/shm/feed_alloc_XXXXXX";
	long failures = 0;

	(void)state;
	if (!mkdtemp(dir)) {
		strcpy(dir, "/tmp/feed_alloc_XXXXXX");
		assert_non_null(mkdtemp(dir));
	}
	fail_at = 0;
	assert_int_equal(scenario(dir, 0), 0);  /* warm OpenSSL's caches */
	for (long k = 1; k < 100000; k++) {
		int rc;

		n_allocs = 0;
		fail_at = k;
		rc = scenario(dir, k);
		if (n_allocs < k) {
			/* No allocation failed: the run must be a success. */
			assert_int_equal(rc, 0);
			break;
		}
		failures += rc != 0;
	}
	fail_at = 0;
	rmdir(dir);
	/* The loop saw failures; otherwise the hooks are not wired. */
	assert_true(failures > 5);
	printf("allocation failures injected: %ld reported as errors\n",
		failures);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_allocation_fails_once),
	};

	if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free))
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
