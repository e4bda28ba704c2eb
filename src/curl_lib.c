/*
 * curl_lib: the table of curl_lib.h, filled by dlopen on first use.
 */
#include "curl_lib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

/* libcurl's ABI has kept this soname since 7.16 (2006); it is the name
 * the linker would have recorded. */
#define CURL_SONAME "libcurl.so.4"

static struct curl_lib lib;
static const struct curl_lib *loaded;
static char load_error[256];
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

/* Points *slot at symbol name of handle; false when it is missing. */
static bool find(void *handle, const char *name, void *slot)
{
	void *symbol = dlsym(handle, name);

	if (!symbol) {
		snprintf(load_error, sizeof(load_error), "%s has no %s", CURL_SONAME, name);
		return false;
	}
	/* POSIX's way to turn dlsym's answer into a function pointer. */
	*(void **)slot = symbol;
	return true;
}

static void load(void)
{
	/* Once loaded, never closed: the process uses it until it exits. */
	void *handle = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);

	if (!handle) {
		snprintf(load_error, sizeof(load_error), "cannot load libcurl: %s", dlerror());
		return;
	}
	if (find(handle, "curl_global_init", &lib.global_init) &&
	    find(handle, "curl_global_cleanup", &lib.global_cleanup) &&
	    find(handle, "curl_easy_init", &lib.easy_init) &&
	    find(handle, "curl_easy_setopt", &lib.easy_setopt) &&
	    find(handle, "curl_easy_perform", &lib.easy_perform) &&
	    find(handle, "curl_easy_getinfo", &lib.easy_getinfo) &&
	    find(handle, "curl_easy_reset", &lib.easy_reset) &&
	    find(handle, "curl_easy_cleanup", &lib.easy_cleanup) &&
	    find(handle, "curl_easy_strerror", &lib.easy_strerror) &&
	    find(handle, "curl_slist_append", &lib.slist_append) &&
	    find(handle, "curl_slist_free_all", &lib.slist_free_all) &&
	    find(handle, "curl_url", &lib.url) &&
	    find(handle, "curl_url_set", &lib.url_set) &&
	    find(handle, "curl_url_get", &lib.url_get) &&
	    find(handle, "curl_url_cleanup", &lib.url_cleanup) &&
	    find(handle, "curl_free", &lib.free) &&
	    find(handle, "curl_version", &lib.version))
		loaded = &lib;
	else
		dlclose(handle);
}

const struct curl_lib *curl_lib_get(char *err, size_t errlen)
{
	pthread_once(&load_once, load);
	if (!loaded)
		snprintf(err, errlen, "%s", load_error);
	return loaded;
}
