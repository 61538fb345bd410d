/*
 * fuzz.h - what the fuzz harnesses share.
 *
 * Each harness defines LLVMFuzzerTestOneInput().  Built with clang
 * -fsanitize=fuzzer and -DVELLUM_LIBFUZZER it is a libFuzzer target;
 * built normally it is linked with driver.c, whose main() replays every
 * file named on the command line or found under a named directory.
 */
#ifndef VELLUM_FUZZ_H
#define VELLUM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken property: say what was seen, then abort (a fuzzer "crash"). */
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,	\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

#endif
