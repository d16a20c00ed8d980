"""A real client for the gateway: the official Python SDK (PyPI `mcp`).

It connects (stdio or Streamable HTTP), lists the tools, calls `search` and `execute`, reads a
resource, and prints one JSON report on stdout for the Rust test to check.

Usage: python py_client.py '<spec JSON>'
  spec = {
    "server": {"command": ..., "args": [...], "env": {...}} | {"url": ..., "token": ...},
    "mode": "legacy" | "auto",     # legacy: the 2025-11-25 initialize handshake;
                                   # auto: server/discover, i.e. the 2026-07-28 stateless protocol
    "query": "search words",
    "snippet": "TypeScript for execute",
    "failingSnippet": "TypeScript that throws",  # optional
    "directCalls": [{"name": ..., "arguments": {...}}]   # optional: passed-through tools
  }
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def text_of(result) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def main(spec: dict) -> dict:
    server = spec["server"]
    if "url" in server:
        headers = {"Authorization": f"Bearer {server['token']}"} if server.get("token") else {}
        target = streamable_http_client(server["url"], http_client=httpx2.AsyncClient(headers=headers))
    else:
        target = StdioServerParameters(
            command=server["command"],
            args=server.get("args", []),
            env={**os.environ, **server.get("env", {})},
        )
    report: dict = {"client": "python-sdk"}
    async with Client(target, mode=spec.get("mode", "legacy")) as client:
        report["protocolVersion"] = client.protocol_version
        report["serverName"] = client.server_info.name if client.server_info else None

        tools = await client.list_tools()
        report["tools"] = [tool.name for tool in tools.tools]
        report["descriptionChars"] = [len(tool.description or "") for tool in tools.tools]

        search = await client.call_tool("search", {"query": spec["query"]})
        report["search"] = {"isError": bool(search.is_error), "text": text_of(search)}

        execute = await client.call_tool("execute", {"code": spec["snippet"]})
        report["execute"] = {
            "isError": bool(execute.is_error),
            "text": text_of(execute),
            "structuredContent": execute.structured_content,
        }

        if spec.get("failingSnippet"):
            failed = await client.call_tool("execute", {"code": spec["failingSnippet"]})
            report["failing"] = {
                "isError": bool(failed.is_error),
                "text": text_of(failed),
                "structuredContent": failed.structured_content,
            }

        report["direct"] = []
        for call in spec.get("directCalls", []):
            result = await client.call_tool(call["name"], call.get("arguments", {}))
            report["direct"].append(result.model_dump(mode="json", by_alias=True, exclude_none=True))

        resources = await client.list_resources()
        report["resources"] = [str(resource.uri) for resource in resources.resources]
        if len(resources.resources) > 1:
            read = await client.read_resource(str(resources.resources[1].uri))
            report["firstNamespaceTypes"] = getattr(read.contents[0], "text", None)
    return report


if __name__ == "__main__":
    result = asyncio.run(main(json.loads(sys.argv[1])))
    sys.stdout.write(json.dumps(result) + "\n")
