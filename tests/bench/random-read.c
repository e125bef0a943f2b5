// The disk benchmark's random reader (tests/bench/image.sh), linked statically and
// appended to berth's initramfs: busybox has no random-offset reader, and a dd per read
// would time process start-up instead of the disk.
//
//   random-read DEVICE COUNT
// Reads COUNT 4 KiB blocks with O_DIRECT (no guest page cache) at pseudo-random
// 4 KiB-aligned offsets of DEVICE (a fixed sequence: every VMM reads the same blocks)
// and prints "random-read COUNT SECONDS" timed with CLOCK_MONOTONIC.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: random-read DEVICE COUNT\n");
        return 2;
    }
    const long count = atol(argv[2]);
    const int fd = open(argv[1], O_RDONLY | O_DIRECT);
    if (fd < 0 || count <= 0) {
        perror(argv[1]);
        return 2;
    }
    const off_t blocks = lseek(fd, 0, SEEK_END) / 4096;
    if (blocks <= 0) {
        fprintf(stderr, "%s: smaller than one 4 KiB block\n", argv[1]);
        return 2;
    }
    void* buffer = NULL;
    if (posix_memalign(&buffer, 4096, 4096) != 0) {
        return 1;
    }
    uint64_t state = 0x9e3779b97f4a7c15u;  // xorshift64: the same offsets on every run
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        const off_t offset = (off_t)(state % (uint64_t)blocks) * 4096;
        if (pread(fd, buffer, 4096, offset) != 4096) {
            perror("pread");
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("random-read %ld %.4f\n", count,
           (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9);
    return 0;
}
