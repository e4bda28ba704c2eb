/*
 * Unit tests of hash's digest set, which a listing keeps its ids in: each
 * string is new once, through the set's growth.
 */
#include "hash.h"
#include "unit.h"

#include <stdio.h>

static void test_a_digest_set_says_new_once(void)
{
	struct digest_set *set = digest_set_new();
	char id[64];
	size_t fresh = 0, again = 0;

	for (int i = 0; i < 200000; i++) {
		snprintf(id, sizeof(id), "%08x-conversation-%d", (unsigned)i * 2654435761u, i);
		fresh += digest_set_add(set, id);
	}
	for (int i = 0; i < 200000; i += 7) {
		snprintf(id, sizeof(id), "%08x-conversation-%d", (unsigned)i * 2654435761u, i);
		again += digest_set_add(set, id);
	}
	CHECK(fresh == 200000);
	CHECK(again == 0);
	CHECK(digest_set_add(set, ""));
	CHECK(!digest_set_add(set, ""));
	digest_set_free(set);
}

int main(void)
{
	RUN(test_a_digest_set_says_new_once);
	return unit_failed_tests ? 1 : 0;
}
