/*
 * search_index_state: what the search index's own files share
 * (search_index.c: the tables, opening and closing; search_index_write.c:
 * writing the entries; search_index_query.c: queries over them).
 * Nothing else includes it: search_index.h is the module's promise.
 */
#ifndef OMIFS_SEARCH_INDEX_STATE_H
#define OMIFS_SEARCH_INDEX_STATE_H

#include "search_index.h"

#include "buf.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

struct search_index {
	sqlite3 *db;
	fts5_tokenizer words;		/* unicode61, for search_query's has_words */
	Fts5Tokenizer *words_instance;
	bool has_first_seen;		/* the store has its first_seen table */
	sqlite3_stmt *get_listing, *get_full, *find_doc, *put_doc, *drop_doc, *add_text,
		*drop_text, *seal, *untranscribed;
	sqlite3_stmt *get_first_seen;	/* NULL without the first_seen table */
};

/* Appends "\nname\n", lowercased: how search_doc.speakers holds a name,
 * and how the speaker filter looks for one. */
void search_index_framed_name(struct buf *out, const char *name, size_t len);

/* Indexes every listed item into emptied tables. Inside a transaction
 * when the index is on disk. */
int search_index_everything(struct search_index *ix);

#endif
