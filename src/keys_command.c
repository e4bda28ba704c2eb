/*
 * keys_command: list, create and revoke API keys. Output is for people
 * (an aligned table for list, the secret once, with a warning, for
 * create) or, with --json, the server's list as it came.
 */
#include "keys_command.h"

#include "api.h"
#include "buf.h"
#include "core.h"
#include "model.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_AUTH = 2, EXIT_FAILED = 3, EXIT_NO_SUCH_KEY = 4 };

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

/* A timestamp cell: the server's ISO 8601 cut to the second, in UTC,
 * so that every row has the same width whatever fraction it sent. */
static void time_cell(json_object *k, const char *name, char *out, size_t outlen)
{
	const char *text = field_text(k, name);
	struct tm tm;
	time_t when;

	if (strcmp(text, "-") != 0 && model_parse_time(text, &when) == 0 && gmtime_r(&when, &tm))
		strftime(out, outlen, "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(out, outlen, "%s", text);
}

static void print_key_table(json_object *keys)
{
	size_t n = json_object_array_length(keys), w_id = 2, w_name = 4, w_prefix = 6;
	char created[64], used[64];

	for (size_t i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(keys, i);

		w_id = w_id > strlen(field_text(k, "id")) ? w_id : strlen(field_text(k, "id"));
		w_name = w_name > strlen(field_text(k, "name")) ? w_name : strlen(field_text(k, "name"));
		w_prefix = w_prefix > strlen(field_text(k, "key_prefix")) ? w_prefix
			   : strlen(field_text(k, "key_prefix"));
	}
	printf("%-*s  %-*s  %-*s  %-19s  %s\n", (int)w_id, "ID", (int)w_name, "NAME",
	       (int)w_prefix, "PREFIX", "CREATED (UTC)", "LAST USED (UTC)");
	for (size_t i = 0; i < n; i++) {
		json_object *k = json_object_array_get_idx(keys, i);

		time_cell(k, "created_at", created, sizeof(created));
		time_cell(k, "last_used_at", used, sizeof(used));
		printf("%-*s  %-*s  %-*s  %-19s  %s\n", (int)w_id, field_text(k, "id"), (int)w_name,
		       field_text(k, "name"), (int)w_prefix, field_text(k, "key_prefix"), created, used);
	}
	if (n == 0)
		printf("(no keys)\n");
}

static int list_keys(struct api_client *api, bool json)
{
	struct api_error err;
	json_object *keys = NULL;
	enum api_result result = api_get_json(api, "/keys", NULL, &keys, &err);

	if (result != API_OK)
		return report(result, &err, "listing keys");
	if (!json_object_is_type(keys, json_type_array)) {
		fprintf(stderr, "omifs keys: the server's answer is not a list of keys\n");
		json_object_put(keys);
		return EXIT_FAILED;
	}
	if (json)
		printf("%s\n", json_object_to_json_string_ext(keys, JSON_C_TO_STRING_PLAIN |
								 JSON_C_TO_STRING_NOSLASHESCAPE));
	else
		print_key_table(keys);
	json_object_put(keys);
	return EXIT_OK;
}

/* Writes the secret to the file made for it (fd), and closes it. */
static int save_secret(int fd, const char *path, const char *secret)
{
	size_t len = strlen(secret);
	bool ok = write(fd, secret, len) == (ssize_t)len && write(fd, "\n", 1) == 1;

	if (close(fd) < 0)
		ok = false;
	if (!ok)
		fprintf(stderr, "omifs keys: writing %s failed: %s\n", path, strerror(errno));
	return ok ? 0 : -1;
}

/* Creates the key on the server; *key gets the answer, secret included. */
static int post_key(struct api_client *api, const char *name, json_object **key)
{
	json_object *body = json_object_new_object(), *secret;
	struct api_error err;
	enum api_result result;

	json_object_object_add(body, "name", json_object_new_string(name));
	result = api_request(api, "POST", "/keys", NULL,
			     json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), key, &err);
	json_object_put(body);
	if (result != API_OK)
		return report(result, &err, "creating a key");
	if (!json_object_object_get_ex(*key, "key", &secret) ||
	    !json_object_is_type(secret, json_type_string)) {
		fprintf(stderr, "omifs keys: the server's answer holds no key\n");
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static bool confirmed(const char *id)
{
	char answer[16];

	if (!isatty(STDIN_FILENO))
		return true;
	fprintf(stderr, "Revoke key %s? It stops working at once. [y/N] ", id);
	return fgets(answer, sizeof(answer), stdin) && (answer[0] == 'y' || answer[0] == 'Y');
}

/* DELETE /keys/ID. Returns 0 or an exit code, said why. */
static int revoke_quietly(struct api_client *api, const char *id)
{
	char escaped[512], path[600];
	struct api_error err;
	json_object *out = NULL;
	enum api_result result;

	wire_query_escape(id, escaped, sizeof(escaped));
	snprintf(path, sizeof(path), "/keys/%s", escaped);
	result = api_request(api, "DELETE", path, NULL, NULL, &out, &err);
	json_object_put(out);
	if (result == API_E_NOT_FOUND) {
		fprintf(stderr, "omifs keys: no key has the id %s (omifs keys list shows them)\n",
			id);
		return EXIT_NO_SUCH_KEY;
	}
	return result == API_OK ? EXIT_OK : report(result, &err, "revoking the key");
}

/*
 * With --save, the file is made (O_EXCL, 0600) before the key: a path that
 * exists or cannot be written then costs nothing on the server, and a
 * retry leaves no orphan key behind. The secret is never printed when a
 * save was asked for; if writing fails after all, the new key is revoked.
 */
static int create_key(struct api_client *api, const char *name, const char *save)
{
	json_object *key = NULL, *secret;
	int fd = -1, rc;

	if (save) {
		fd = open(save, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			fprintf(stderr, "omifs keys: cannot create %s: %s (no key was created)\n",
				save, strerror(errno));
			return EXIT_USAGE;
		}
	}
	rc = post_key(api, name, &key);
	if (rc != EXIT_OK) {
		if (save) {
			close(fd);
			unlink(save);
		}
		json_object_put(key);
		return rc;
	}
	json_object_object_get_ex(key, "key", &secret);
	printf("created key %s (%s, id %s)\n", field_text(key, "name"),
	       field_text(key, "key_prefix"), field_text(key, "id"));
	if (!save) {
		printf("%s\n", json_object_get_string(secret));
		fprintf(stderr, "omifs keys: this is the only time the server shows this key: "
				"store it now (or use --save PATH)\n");
	} else if (save_secret(fd, save, json_object_get_string(secret)) == 0) {
		printf("saved the secret to %s (mode 0600)\n", save);
	} else {
		unlink(save);
		rc = EXIT_FAILED;
		if (revoke_quietly(api, field_text(key, "id")) == 0)
			fprintf(stderr, "omifs keys: the new key was revoked again\n");
	}
	json_object_put(key);
	return rc;
}

static int revoke_key(struct api_client *api, const char *id)
{
	int rc;

	if (!confirmed(id)) {
		printf("not revoked\n");
		return EXIT_OK;
	}
	rc = revoke_quietly(api, id);
	if (rc == EXIT_OK)
		printf("revoked key %s\n", id);
	return rc;
}

bool keys_command_valid(char *const *words, int n_words)
{
	if (n_words < 1)
		return false;
	if (strcmp(words[0], "list") == 0)
		return n_words == 1;
	if (strcmp(words[0], "create") == 0 || strcmp(words[0], "revoke") == 0)
		return n_words == 2;
	return false;
}

int keys_command(const struct omifs_config *c, char *const *words, int n_words)
{
	struct api_options opts;
	struct api_error err;
	struct api_client *api;
	int rc;

	if (!keys_command_valid(words, n_words)) {
		fprintf(stderr, "usage: omifs keys list | create NAME [--save PATH] | revoke ID "
				"[-o url=URL,key_file=FILE]\n");
		return EXIT_USAGE;
	}
	core_api_options(c, &opts);
	api = api_new(&opts, &err);
	if (!api) {
		fprintf(stderr, "omifs keys: %s\n", err.message);
		return EXIT_USAGE;
	}
	if (strcmp(words[0], "list") == 0)
		rc = list_keys(api, c->json);
	else if (strcmp(words[0], "create") == 0)
		rc = create_key(api, words[1], c->save_path);
	else
		rc = revoke_key(api, words[1]);
	api_free(api);
	return rc;
}
