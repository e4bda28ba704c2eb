/*
 * curl_lib: libcurl, loaded by the first caller that needs it.
 *
 * omifs does not link libcurl: loading and relocating it and what it
 * links (two TLS libraries, Kerberos, LDAP, SSH, ...) costs about 8 ms at
 * every start, several times what `omifs search` needs to answer from the
 * cache. The commands that talk to the server load it here with dlopen;
 * the others never do. The header is curl's own, so the types, options
 * and constants are checked as usual; only the calls go through this
 * table.
 */
#ifndef OMIFS_CURL_LIB_H
#define OMIFS_CURL_LIB_H

#include <curl/curl.h>
#include <stddef.h>

/* The functions of libcurl that omifs calls, named as in curl.h without
 * the "curl_" prefix, and typed by curl.h's own declarations. */
struct curl_lib {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_reset) *easy_reset;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_url) *url;
	__typeof__(curl_url_set) *url_set;
	__typeof__(curl_url_get) *url_get;
	__typeof__(curl_url_cleanup) *url_cleanup;
	__typeof__(curl_free) *free;
	__typeof__(curl_version) *version;
};

/* libcurl's functions, loaded on the first call (thread-safe) and kept
 * for the life of the process. NULL, with the loader's message in err,
 * when libcurl cannot be loaded or lacks one of them. */
const struct curl_lib *curl_lib_get(char *err, size_t errlen);

#endif
