/*
 * config: the one configuration struct, filled by main from the command
 * line and the environment, read by everyone else.
 */
#ifndef OMIFS_CONFIG_H
#define OMIFS_CONFIG_H

#include "api.h"
#include "sync.h"

#include <stdbool.h>

struct omifs_config {
	char *url;		/* API base URL */
	char *key_file;		/* where the key came from, if not OMI_API_KEY */
	char *key;		/* the secret itself; never printed */
	char *cafile;
	char *mountpoint;
	char *source;		/* mount(8)'s first argument, for fsname */
	int listing_ttl;	/* seconds */
	int connect_timeout;
	int request_timeout;
	int retries;
	char *api_profile;	/* "documented" or "backend": default budget */
	int per_minute;		/* -1: the profile's default */
	int per_day;
	int transcripts_per_hour;
	double rate_window_scale;
	int budget_wait;	/* seconds a read may wait for the budget */
	int page_size;
	int transcript_batch;
	int log_level;		/* enum log_level */
	bool offline;
	bool foreground;
	bool debug;
};

/* The options of the api and sync layers that the configuration implies
 * (strings borrowed from c). */
void config_api_options(const struct omifs_config *c, struct api_options *out);
void config_sync_options(const struct omifs_config *c, struct sync_options *out);

#endif
