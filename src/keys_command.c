/*
 * keys_command: list, create and revoke API keys. Output is for people:
 * a table for list, the secret once (with a warning) for create.
 */
#include "keys_command.h"

#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_AUTH = 2, EXIT_FAILED = 3 };

static const char *field_text(json_object *obj, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string))
		return "-";
	return json_object_get_string(v);
}

static int report(enum api_result result, const struct api_error *err, const char *what)
{
	fprintf(stderr, "omifs keys: %s failed: %s\n", what, err->message);
	if (result == API_E_AUTH)
		fprintf(stderr, "omifs keys: the server refused the token; the backend wants the "
				"app's login token for /keys\n");
	return result == API_E_AUTH ? EXIT_AUTH : EXIT_FAILED;
}

static int list_keys(struct api_client *api)
{
	struct api_error err;
	json_object *keys = NULL;
	enum api_result result = api_get_json(api, "/keys", NULL, &keys, &err);
	size_t n;

	if (result != API_OK)
		return report(result, &err, "listing keys");
	if (!json_object_is_type(keys, json_type_array)) {
		fprintf(stderr, "omifs keys: the server's answer is not a list of keys\n");
		json_object_put(keys);
		return EXIT_FAILED;
	}
	n = json_object_array_length(keys);
	printf("%-24s %-26s %-18s %-22s %s\n", "ID", "NAME", "PREFIX", "CREATED", "LAST USED");
	for (size_t i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(keys, i);

		printf("%-24s %-26s %-18s %-22s %s\n", field_text(k, "id"), field_text(k, "name"),
		       field_text(k, "key_prefix"), field_text(k, "created_at"),
		       field_text(k, "last_used_at"));
	}
	if (n == 0)
		printf("(no keys)\n");
	json_object_put(keys);
	return EXIT_OK;
}

/* Writes the secret to a new file only its owner can read. */
static int save_secret(const char *path, const char *secret)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	size_t len = strlen(secret);
	bool ok;

	if (fd < 0) {
		fprintf(stderr, "omifs keys: cannot create %s: %s\n", path, strerror(errno));
		return -1;
	}
	ok = write(fd, secret, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
	if (close(fd) < 0)
		ok = false;
	if (!ok)
		fprintf(stderr, "omifs keys: writing %s failed\n", path);
	return ok ? 0 : -1;
}

static int create_key(struct api_client *api, const char *name, const char *save)
{
	json_object *body = json_object_new_object(), *key = NULL, *secret;
	struct api_error err;
	enum api_result result;
	int rc = EXIT_OK;

	json_object_object_add(body, "name", json_object_new_string(name));
	result = api_request(api, "POST", "/keys", NULL,
			     json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), &key, &err);
	json_object_put(body);
	if (result != API_OK)
		return report(result, &err, "creating a key");
	if (!json_object_object_get_ex(key, "key", &secret) ||
	    !json_object_is_type(secret, json_type_string)) {
		fprintf(stderr, "omifs keys: the server's answer holds no key\n");
		json_object_put(key);
		return EXIT_FAILED;
	}
	printf("created key %s (%s, id %s)\n", field_text(key, "name"), field_text(key, "key_prefix"),
	       field_text(key, "id"));
	if (save) {
		if (save_secret(save, json_object_get_string(secret)) < 0) {
			/* The secret is shown only once: do not lose it. */
			printf("%s\n", json_object_get_string(secret));
			rc = EXIT_FAILED;
		} else {
			printf("saved the secret to %s (mode 0600)\n", save);
		}
	} else {
		printf("%s\n", json_object_get_string(secret));
		fprintf(stderr, "omifs keys: this is the only time the server shows this key: "
				"store it now (or use --save PATH)\n");
	}
	json_object_put(key);
	return rc;
}

static bool confirmed(const char *id)
{
	char answer[16];

	if (!isatty(STDIN_FILENO))
		return true;
	fprintf(stderr, "Revoke key %s? It stops working at once. [y/N] ", id);
	return fgets(answer, sizeof(answer), stdin) && (answer[0] == 'y' || answer[0] == 'Y');
}

static int revoke_key(struct api_client *api, const char *id)
{
	char escaped[512], path[600];
	struct api_error err;
	json_object *out = NULL;
	enum api_result result;

	if (!confirmed(id)) {
		printf("not revoked\n");
		return EXIT_OK;
	}
	api_query_escape(id, escaped, sizeof(escaped));
	snprintf(path, sizeof(path), "/keys/%s", escaped);
	result = api_request(api, "DELETE", path, NULL, NULL, &out, &err);
	json_object_put(out);
	if (result != API_OK)
		return report(result, &err, "revoking the key");
	printf("revoked key %s\n", id);
	return EXIT_OK;
}

int keys_command(const struct omifs_config *c, char *const *words, int n_words)
{
	struct api_options opts;
	struct api_error err;
	struct api_client *api;
	int rc;

	if (n_words < 1 || (strcmp(words[0], "list") == 0 && n_words != 1) ||
	    ((strcmp(words[0], "create") == 0 || strcmp(words[0], "revoke") == 0) && n_words != 2) ||
	    (strcmp(words[0], "list") != 0 && strcmp(words[0], "create") != 0 &&
	     strcmp(words[0], "revoke") != 0)) {
		fprintf(stderr, "usage: omifs keys list | create NAME [--save PATH] | revoke ID "
				"[-o url=URL,key_file=FILE]\n");
		return EXIT_USAGE;
	}
	if (c->save_path && strcmp(words[0], "create") != 0) {
		fprintf(stderr, "omifs keys: --save goes with create\n");
		return EXIT_USAGE;
	}
	config_api_options(c, &opts);
	api = api_new(&opts, &err);
	if (!api) {
		fprintf(stderr, "omifs keys: %s\n", err.message);
		return EXIT_USAGE;
	}
	if (strcmp(words[0], "list") == 0)
		rc = list_keys(api);
	else if (strcmp(words[0], "create") == 0)
		rc = create_key(api, words[1], c->save_path);
	else
		rc = revoke_key(api, words[1]);
	api_free(api);
	return rc;
}
