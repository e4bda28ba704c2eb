/*
 * fuzz_error_body: wire_error_message() over arbitrary HTTP error bodies.
 *
 * The body is handed over exactly as received: `len` bytes in a buffer of
 * exactly that size with no terminating NUL, so AddressSanitizer sees any
 * read past `len`. Each output size (1, 16, 512, and 400 as api.c uses)
 * gets a canary-filled buffer a little larger than `outlen`.
 *
 * Invariants: the message is NUL-terminated within outlen, nothing past
 * outlen is written, it holds no control byte (< 0x20, 0x7f: it goes to
 * logs and terminals), it is deterministic, and a shorter output is a
 * prefix of a longer one.
 */
#include "api.h"
#include "fuzz.h"

#include <stdint.h>
#include <string.h>

#define CANARY 0xA5
#define SLACK 16

static const size_t outlens[] = { 1, 16, 400, 512 };
#define N_OUTLENS (sizeof(outlens) / sizeof(outlens[0]))

static void run(const char *body, size_t len, size_t outlen, unsigned char *out)
{
	const char *nul;

	memset(out, CANARY, outlen + SLACK);
	wire_error_message(body, len, (char *)out, outlen);
	nul = memchr(out, '\0', outlen);
	FUZZ_CHECK(nul != NULL, "outlen %zu: message not NUL-terminated within outlen", outlen);
	for (size_t i = outlen; i < outlen + SLACK; i++)
		FUZZ_CHECK(out[i] == CANARY, "outlen %zu: byte %zu past outlen written", outlen, i);
	for (const unsigned char *p = out; p < (const unsigned char *)nul; p++)
		FUZZ_CHECK(*p >= 0x20 && *p != 0x7f, "outlen %zu: control byte 0x%02x at %zu", outlen,
			   *p, (size_t)(p - out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char out[N_OUTLENS][512 + SLACK], again[512 + SLACK];
	char *body = malloc(size ? size : 1);

	FUZZ_CHECK(body != NULL, "out of memory");
	if (size)
		memcpy(body, data, size);
	for (size_t i = 0; i < N_OUTLENS; i++)
		run(body, size, outlens[i], out[i]);
	/* deterministic */
	run(body, size, 512, again);
	FUZZ_CHECK(strcmp((char *)again, (char *)out[N_OUTLENS - 1]) == 0,
		   "two calls give different messages");
	/* truncation only: every shorter message is a prefix of the longest */
	for (size_t i = 0; i + 1 < N_OUTLENS; i++) {
		size_t n = strlen((char *)out[i]);

		FUZZ_CHECK(n < outlens[i], "outlen %zu: message of %zu bytes", outlens[i], n);
		FUZZ_CHECK(strncmp((char *)out[i], (char *)out[N_OUTLENS - 1], n) == 0,
			   "outlen %zu: message is not a prefix of the 512-byte one", outlens[i]);
	}
	free(body);
	return 0;
}
