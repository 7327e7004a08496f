/*
 * rpc_pacer.c - refusal pacing (see rpc_pacer.h): a bounded min-heap of
 * (release time, item) and one thread that releases items when due.
 *
 * The thread sleeps on a condition variable (CLOCK_MONOTONIC) until the
 * earliest release time or a new earlier item; it pops every due item
 * under the lock and calls release() for them after dropping it, so a
 * release that starts a gRPC batch never runs under the pacer's lock.
 */
#include "rpc_pacer.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct held {
	uint64_t at;
	uint64_t seq;      /* FIFO among equal times */
	void *item;
};

struct mds_pacer {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct held *heap;
	size_t n, cap;
	uint64_t seq;
	int flushing;      /* release all now, accept no more */
	int stop;
	pthread_t th;
	mds_pacer_release_fn release;
	void *arg;
};

uint64_t mds_pacer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int before(const struct held *a, const struct held *b)
{
	return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void sift_up(struct held *h, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		struct held t;

		if (!before(&h[i], &h[parent]))
			break;
		t = h[i];
		h[i] = h[parent];
		h[parent] = t;
		i = parent;
	}
}

static void sift_down(struct held *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct held t;

		if (l < n && before(&h[l], &h[m]))
			m = l;
		if (r < n && before(&h[r], &h[m]))
			m = r;
		if (m == i)
			break;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void *pacer_main(void *arg)
{
	struct mds_pacer *p = arg;
	void **due = malloc(p->cap * sizeof(*due));

	pthread_setname_np(pthread_self(), "mds-pacer");
	pthread_mutex_lock(&p->mu);
	for (;;) {
		uint64_t now = mds_pacer_now_ns();
		size_t k = 0;

		while (p->n > 0 && (p->flushing || p->heap[0].at <= now)) {
			void *item = p->heap[0].item;

			p->heap[0] = p->heap[--p->n];
			sift_down(p->heap, p->n, 0);
			if (due) {
				due[k++] = item;
			} else {   /* no batch buffer: release one at a time */
				pthread_mutex_unlock(&p->mu);
				p->release(item, p->arg);
				pthread_mutex_lock(&p->mu);
			}
		}
		if (k > 0) {
			pthread_mutex_unlock(&p->mu);
			for (size_t i = 0; i < k; i++)
				p->release(due[i], p->arg);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (p->stop && p->n == 0)
			break;
		if (p->n == 0) {
			pthread_cond_wait(&p->cv, &p->mu);
		} else {
			struct timespec ts = {
				.tv_sec = (time_t)(p->heap[0].at / 1000000000u),
				.tv_nsec = (long)(p->heap[0].at % 1000000000u),
			};

			pthread_cond_timedwait(&p->cv, &p->mu, &ts);
		}
	}
	pthread_mutex_unlock(&p->mu);
	free(due);
	return NULL;
}

int mds_pacer_start(struct mds_pacer **out, size_t max_held, mds_pacer_release_fn release,
		    void *arg)
{
	struct mds_pacer *p;
	pthread_condattr_t ca;

	*out = NULL;
	if (max_held == 0 || release == NULL)
		return MDS_EINVAL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return MDS_ENOMEM;
	p->heap = calloc(max_held, sizeof(*p->heap));
	if (p->heap == NULL) {
		free(p);
		return MDS_ENOMEM;
	}
	p->cap = max_held;
	p->release = release;
	p->arg = arg;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&p->th, NULL, pacer_main, p) != 0) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p->heap);
		free(p);
		return MDS_ENOMEM;
	}
	*out = p;
	return 0;
}

int mds_pacer_hold(struct mds_pacer *p, void *item, uint64_t release_at_ns)
{
	int wake;

	if (p == NULL)
		return MDS_EBUSY;
	pthread_mutex_lock(&p->mu);
	if (p->flushing || p->n == p->cap) {
		pthread_mutex_unlock(&p->mu);
		return MDS_EBUSY;
	}
	p->heap[p->n] = (struct held){ release_at_ns, p->seq++, item };
	sift_up(p->heap, p->n);
	p->n++;
	wake = p->heap[0].item == item;   /* a new earliest time */
	if (wake)
		pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

void mds_pacer_flush(struct mds_pacer *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->flushing = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

size_t mds_pacer_held(struct mds_pacer *p)
{
	size_t n;

	if (p == NULL)
		return 0;
	pthread_mutex_lock(&p->mu);
	n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void mds_pacer_stop(struct mds_pacer *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->flushing = 1;
	p->stop = 1;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->th, NULL);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p->heap);
	free(p);
}
