/* vault: names from hostile titles, and front matter that YAML reads. */
#include "unit.h"

#include "vault.h"

#include <string.h>

static const char *clean(const char *title)
{
	static struct buf out = BUF_INIT;

	buf_reset(&out);
	vault_clean_title(title, &out);
	return out.data;
}

static void test_titles_become_safe_names(void)
{
	char long_title[400];

	CHECK_STR(clean("Mortgage call: Sam / bank"), "Mortgage call Sam bank");
	CHECK_STR(clean("two\nlines\r\there"), "two lines here");
	CHECK_STR(clean("[[link]] #tag ^block | pipe"), "link tag block pipe");
	CHECK_STR(clean("..."), "Untitled");
	CHECK_STR(clean(""), "Untitled");
	CHECK_STR(clean(NULL), "Untitled");
	CHECK_STR(clean("  spaced   out.  "), "spaced out");
	/* Emoji and right-to-left letters stay; bidi controls and broken
	 * UTF-8 go. */
	CHECK_STR(clean("\xF0\x9F\x8E\x89 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"),
		  "\xF0\x9F\x8E\x89 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D");
	CHECK_STR(clean("evil\xE2\x80\xAEtxt.exe"), "eviltxt.exe");
	CHECK_STR(clean("bad\xFF\xC0\xAF" "byte"), "badbyte");
	/* C1 controls and the line and paragraph separators are spaces. */
	CHECK_STR(clean("c1\xC2\x85next\xC2\x9B" "end"), "c1 next end");
	CHECK_STR(clean("line\xE2\x80\xA8para\xE2\x80\xA9graph"), "line para graph");
	/* Long titles are cut before VAULT_TITLE_BYTES, never inside a
	 * character. */
	for (size_t i = 0; i + 2 < sizeof(long_title); i += 2)
		memcpy(long_title + i, "\xC3\xA9", 2);
	long_title[sizeof(long_title) - 2] = '\0';
	CHECK(strlen(clean(long_title)) == VAULT_TITLE_BYTES);
	CHECK(strlen(clean(long_title + 1)) <= VAULT_TITLE_BYTES);
	CHECK(((unsigned char)clean(long_title + 1)[0] & 0xC0) != 0x80);
}

static void test_front_matter_escapes_everything(void)
{
	struct conversation c = { .id = "id\"with\\quotes", .title = "t",
				  .category = "a b\x01\xE2\x80\xA8" };
	struct buf out = BUF_INIT;

	vault_render_note(&c, false, &out);
	CHECK(strstr(out.data, "id: \"id\\\"with\\\\quotes\"\n"));
	CHECK(strstr(out.data, "category: \"a b\\x01\\u2028\"\n"));
	CHECK(strstr(out.data, "tags: [\"omi\", \"a-b----\"]\n"));
	CHECK(strstr(out.data, "> The transcript is not cached yet"));
	CHECK(!strstr(out.data, "speakers:"));
	buf_free(&out);
}

int main(void)
{
	RUN(test_titles_become_safe_names);
	RUN(test_front_matter_escapes_everything);
	return UNIT_RESULT();
}
