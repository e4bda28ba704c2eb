/*
 * mcp_command: `omifs mcp`, a Model Context Protocol server over stdio
 * (mcp.h) that answers from the disk cache, offline: tools to search,
 * read and list the account, and its files as omi:/// resources. It
 * sends no request to the API.
 */
#ifndef OMIFS_MCP_COMMAND_H
#define OMIFS_MCP_COMMAND_H

#include "config.h"

enum { MCP_OK = 0, MCP_TROUBLE = 1 };

/* Serves MCP on stdin and stdout from the cache at c->cache_path
 * (read-only) until stdin ends. Logs go to stderr. Returns MCP_OK, or
 * MCP_TROUBLE with a message on stderr (no cache, stdout unwritable). */
int mcp_command(const struct omifs_config *c);

#endif
