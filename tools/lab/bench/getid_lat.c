/* getid-lat FILE COUNT: the trap floor of a virtio-blk device, for tools/bench (built static for
 * the lab's arm64 guest by tools/lab/build-guest-bench).
 *
 * Each pread() at offset 0 of /sys/block/vdX/serial makes Linux's virtio_blk send one GET_ID
 * request and wait for it (serial_show -> virtblk_get_id -> blk_execute_rq; seq_file restarts
 * its show() at offset 0). The device answers GET_ID from its own memory, with no disk IO, so
 * its completion latency is the notification + interrupt path alone: what every request pays
 * before any ring or IO work. Prints one JSON line with the count, mean and the p50/p99/p99.9
 * latencies in nanoseconds (nearest-rank percentiles of the sorted samples). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int by_value(const void* a, const void* b) {
    long long x = *(const long long*)a, y = *(const long long*)b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p percent of the samples at or below it. */
static long long percentile(const long long* sorted, long n, double p) {
    long rank = (long)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1];
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: getid-lat /sys/block/vdX/serial COUNT\n");
        return 2;
    }
    long n = strtol(argv[2], NULL, 10);
    if (n < 1 || n > 10000000) {
        fprintf(stderr, "getid-lat: COUNT must be 1..10000000\n");
        return 2;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "getid-lat: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    long long* lat = malloc(sizeof *lat * (size_t)n);
    if (!lat) return 1;
    char buf[64];
    long long sum = 0;
    for (long i = 0; i < n; ++i) {
        long long t0 = now_ns();
        ssize_t got = pread(fd, buf, sizeof buf, 0);
        long long t1 = now_ns();
        if (got < 0) {
            fprintf(stderr, "getid-lat: read %ld of %s: %s\n", i, argv[1], strerror(errno));
            return 1;
        }
        lat[i] = t1 - t0;
        sum += lat[i];
    }
    qsort(lat, (size_t)n, sizeof *lat, by_value);
    printf("{\"n\":%ld,\"mean_ns\":%lld,\"p50_ns\":%lld,\"p99_ns\":%lld,\"p99.9_ns\":%lld,\"min_ns\":%lld,\"max_ns\":%lld}\n",
           n, sum / n, percentile(lat, n, 50), percentile(lat, n, 99), percentile(lat, n, 99.9), lat[0], lat[n - 1]);
    return 0;
}
