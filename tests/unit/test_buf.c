/* Unit tests of buf's helpers for arrays. */
#include "buf.h"
#include "unit.h"

#include <stdlib.h>

static void test_xgrow_doubles_from_its_first_size_only_when_full(void)
{
	size_t cap = 0;
	int *items = NULL, *before;

	items = xgrow(items, &cap, 0, sizeof(*items), 4);
	CHECK(items && cap == 4);
	for (int i = 0; i < 4; i++)
		items[i] = i;
	before = items;
	CHECK(xgrow(items, &cap, 3, sizeof(*items), 4) == before && cap == 4);
	items = xgrow(items, &cap, 4, sizeof(*items), 4);
	CHECK(cap == 8 && items[3] == 3);
	/* A jump past twice the room grows as far as it must. */
	items = xgrow(items, &cap, 40, sizeof(*items), 4);
	CHECK(cap == 64);
	items[40] = 40;
	free(items);
}

int main(void)
{
	RUN(test_xgrow_doubles_from_its_first_size_only_when_full);
	return UNIT_RESULT();
}
