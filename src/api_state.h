/*
 * api_state: what api's own files share (api.c: requests, retries, the
 * budget; api_list.c: paging). Nothing else includes it.
 */
#ifndef OMIFS_API_STATE_H
#define OMIFS_API_STATE_H

#include "api.h"
#include "page.h"

/* One GET of a listing page into page (opened by the call; the caller
 * closes it when the result is API_OK), with api_request's retries,
 * budget and error rules; the budget's share as budget_take's. */
enum api_result api_get_page(struct api_client *c, const char *path, const char *query,
			     struct page *page, enum budget_share share, struct api_error *err);

#endif
