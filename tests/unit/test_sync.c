/*
 * Unit tests of the locked-memory rule (sync.h): the backend's stub of a
 * memory keeps the text cached; anything else is an edit.
 */
#include "sync.h"
#include "unit.h"

#include <string.h>

static bool stub_of(const char *stub, const char *full)
{
	return sync_is_locked_stub(stub, strlen(stub), full, strlen(full));
}

static void test_the_stub_keeps_the_text(void)
{
	const char *full = "Remember that the quarterly review moved to the big room on the "
			   "third floor, and bring the slides.";
	char stub[128];

	snprintf(stub, sizeof(stub), "%.70s...", full);
	CHECK(stub_of(stub, full));
}

/* Seventy characters, not bytes: the backend cuts a Python str. */
static void test_characters_not_bytes(void)
{
	/* "ü" takes two bytes: 70 characters are 71 bytes, or 72 with the
	 * second "ü" past them. */
	const char *full = "Müller asked for paper copies of the slides, printed on both sides, "
			   "xüand more text after the seventieth character";
	char stub[160];
	size_t cut = 0, chars = 0;

	while (chars < 70) {
		for (cut++; ((unsigned char)full[cut] & 0xC0) == 0x80; cut++)
			;
		chars++;
	}
	snprintf(stub, sizeof(stub), "%.*s...", (int)cut, full);
	CHECK(stub_of(stub, full));
	/* Seventy bytes are 69 characters here: not the backend's cut. */
	snprintf(stub, sizeof(stub), "%.70s...", full);
	CHECK(!stub_of(stub, full));
}

static void test_anything_else_is_an_edit(void)
{
	const char *full = "Remember that the quarterly review moved to the big room on the "
			   "third floor, and bring the slides.";
	char stub[128];

	/* A real edit, even one ending in "...". */
	CHECK(!stub_of("Moved back downstairs...", full));
	/* A stub of other text. */
	snprintf(stub, sizeof(stub), "%.70s...", full);
	stub[3] = 'X';
	CHECK(!stub_of(stub, full));
	/* A cached text of 70 characters or fewer is whole: "..." is an edit. */
	snprintf(stub, sizeof(stub), "%.70s...", full);
	CHECK(!stub_of(stub, "short"));
	CHECK(!stub_of(stub, stub));	/* first seen locked: nothing to keep */
	/* 69 or 71 characters before the dots: not the backend's cut. */
	snprintf(stub, sizeof(stub), "%.69s...", full);
	CHECK(!stub_of(stub, full));
	snprintf(stub, sizeof(stub), "%.71s...", full);
	CHECK(!stub_of(stub, full));
}

int main(void)
{
	RUN(test_the_stub_keeps_the_text);
	RUN(test_characters_not_bytes);
	RUN(test_anything_else_is_an_edit);
	return UNIT_RESULT();
}
