// The official MCP TypeScript SDK's client against `omifs mcp`, for
// tests/integration/test_mcp.py: connects over stdio, lists the tools,
// makes the calls MCP_CALLS (a JSON array of {tool, arguments}) asks,
// lists every resource page, reads the resource MCP_READ_URI (or the
// first), and prints all it got as one JSON object.
//
// usage: node client.mjs OMIFS [ARG...]   (runs OMIFS mcp ARG...)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [omifs, ...args] = process.argv.slice(2);
const calls = JSON.parse(process.env.MCP_CALLS || "[]");
const transport = new StdioClientTransport({
  command: omifs,
  args: ["mcp", ...args],
  env: { ...process.env },
  stderr: "inherit",
});
const client = new Client({ name: "omifs-test", version: "1.0.0" });
await client.connect(transport);

const report = {
  server: client.getServerVersion(),
  capabilities: client.getServerCapabilities(),
  tools: (await client.listTools()).tools,
  calls: [],
  resources: [],
  pages: 0,
};
for (const call of calls) {
  report.calls.push(await client.callTool({ name: call.tool, arguments: call.arguments }));
}
let cursor;
do {
  const page = await client.listResources(cursor ? { cursor } : {});
  report.resources.push(...page.resources);
  report.pages++;
  cursor = page.nextCursor;
} while (cursor && report.pages < 1000);
const uri = process.env.MCP_READ_URI || report.resources[0].uri;
report.read = await client.readResource({ uri });
try {
  await client.readResource({ uri: "omi:///no/such/file" });
  report.missing = "read";
} catch (e) {
  report.missing = { code: e.code, message: e.message };
}
await client.close();
process.stdout.write(JSON.stringify(report) + "\n");
