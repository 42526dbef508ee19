"""The cpu backend's threads: one pool per process, in C, that every kernel module's
launchers hand their grids to (cc.py builds it and gives each module its ``hal_parallel``).

A launch splits its grid into parts that its threads take in turn (the caller too), so a
thread that shares its core with another process does fewer. Between launches the
workers spin for SPIN_US (HAL_SPIN_US), then sleep until the next: a model's forward
pass launches a kernel every few microseconds from Python, and threads that slept
between them (OpenMP's, spinning a fixed ~1000 rounds first) made 64-token prefills on
2 cores 1.2-1.5x slower. One launch at a time: a thread that launches meanwhile runs its
grid alone.
"""
from __future__ import annotations

import os

SOURCE = r"""
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#define RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define RELAX() __asm__ __volatile__("yield")
#else
#define RELAX() ((void)0)
#endif
#define PARTS_PER_THREAD 8
/* A spinning worker that sees a launch this late was off its core: another process
   wants it. Then it sleeps between launches for SHARED_NS, as the scheduler favours a
   thread that wakes from sleep over one that spins (a spinning pool beside two busy
   processes: prefill 0.7x a sleeping one's). */
#define LATE_NS 100000
#define SHARED_NS 50000000
typedef void (*range_fn)(const void *args, int64_t begin, int64_t end);
static pthread_mutex_t busy = PTHREAD_MUTEX_INITIALIZER, sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static _Atomic uint64_t job;  /* bumped for each launch the workers share */
static _Atomic int pending, sleepers, caller_sleeps;
static _Atomic int64_t next_part;
static range_fn job_fn;
static const void *job_args;
static int64_t job_total, job_parts, spin_ns;
static _Atomic int64_t job_published;  /* now_ns() of the launch */
static int threads = 1, wanted = 1;
static uint64_t started_at;  /* job when the workers were made */
static int started;  /* 0 in a fork's child too: its parent's workers are not there */

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Take the launch's next part until none is left: a thread that shares its core with
   another process does fewer (halves, one a thread, took 2-3x longer beside one busy process). */
static void run_parts(void) {
    for (int64_t part; (part = atomic_fetch_add_explicit(&next_part, 1, memory_order_relaxed)) < job_parts;)
        job_fn(job_args, job_total * part / job_parts, job_total * (part + 1) / job_parts);
}

static void *worker(void *arg) {
    (void)arg;
    uint64_t seen = started_at;  /* (not job: the first launch may have bumped it already) */
    int64_t sleep_until = 0;  /* sleep at once until then: the core is shared (see LATE_NS) */
    for (;;) {
        int64_t since = now_ns(), spin = since < sleep_until ? 0 : spin_ns;
        int spinning = 1;
        for (unsigned spins = 1; atomic_load_explicit(&job, memory_order_acquire) == seen; spins++) {
            RELAX();
            if (spins % 256 == 0 && now_ns() - since > spin) {
                pthread_mutex_lock(&sleep_lock);
                atomic_fetch_add(&sleepers, 1);  /* (seq_cst, as the launch's bump of job) */
                while (atomic_load(&job) == seen) pthread_cond_wait(&wake, &sleep_lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&sleep_lock);
                spinning = 0;
                break;
            }
        }
        seen = atomic_load(&job);
        if (spinning && now_ns() - job_published > LATE_NS) sleep_until = now_ns() + SHARED_NS;
        run_parts();
        if (atomic_fetch_sub(&pending, 1) == 1 && atomic_load(&caller_sleeps)) {
            pthread_mutex_lock(&sleep_lock);
            pthread_cond_signal(&done);
            pthread_mutex_unlock(&sleep_lock);
        }
    }
    return NULL;
}

static void forked(void) { started = 0; }

static void start(void) {
    started = 1;
    threads = 1;
    started_at = atomic_load(&job);
    /* a fork's child: its parent's workers (which may have held the lock) are not here */
    pthread_mutex_init(&sleep_lock, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    atomic_store(&sleepers, 0);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 1; i < wanted; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker, NULL) != 0) break;
        threads++;
    }
    pthread_attr_destroy(&attr);
}

void hal_pool_configure(int count, int64_t spin) {  /* once, as the module loads */
    wanted = count > 0 ? count : 1;
    spin_ns = spin;
    pthread_atfork(NULL, NULL, forked);
}

void hal_parallel(range_fn fn, const void *args, int64_t total) {
    if (wanted <= 1 || pthread_mutex_trylock(&busy) != 0) {
        fn(args, 0, total);
        return;
    }
    if (!started) start();
    job_fn = fn, job_args = args, job_total = total;
    job_parts = total < PARTS_PER_THREAD * threads ? total : PARTS_PER_THREAD * threads;
    atomic_store(&next_part, 0);
    atomic_store(&pending, threads - 1);
    atomic_store_explicit(&job_published, now_ns(), memory_order_relaxed);
    atomic_fetch_add(&job, 1);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&sleep_lock);
    }
    run_parts();
    /* the workers' parts: spin as they do, then sleep (a worker may need this core) */
    int64_t since = now_ns();
    for (unsigned spins = 1; atomic_load_explicit(&pending, memory_order_acquire) > 0; spins++) {
        RELAX();
        if (spins % 256 == 0 && now_ns() - since > spin_ns) {
            pthread_mutex_lock(&sleep_lock);
            atomic_store(&caller_sleeps, 1);
            while (atomic_load(&pending) > 0) pthread_cond_wait(&done, &sleep_lock);
            atomic_store(&caller_sleeps, 0);
            pthread_mutex_unlock(&sleep_lock);
        }
    }
    pthread_mutex_unlock(&busy);
}
"""
DECLS = "void hal_pool_configure(int count, int64_t spin);\nvoid hal_parallel(void *fn, const void *args, int64_t total);"
SPIN_US = 200  # how long idle workers spin before they sleep, unless HAL_SPIN_US says


def configure(lib) -> None:
    """Give the loaded pool its thread count and spin."""
    lib.hal_pool_configure(thread_count(), int(float(os.environ.get("HAL_SPIN_US", SPIN_US)) * 1000))


def thread_count() -> int:
    """OMP_NUM_THREADS if set (the variable users know for this), else one per core this
    process may run on."""
    given = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
