"""The official Python SDK (PyPI `mcp`) as a client that can be asked: it declares
elicitation, answers each approval the gateway asks for from a script, and prints one JSON
report (what it was shown, the execute result) for the Rust test to check.

Usage: python py_approver.py '<spec JSON>'
  spec = {
    "server": {"command": ..., "args": [...]} | {"url": ...},
    "mode": "legacy" | "auto",   # 2025-11-25 (elicitation/create mid-call) or
                                 # 2026-07-28 (input_required, driven by the SDK)
    "snippet": "TypeScript for execute",
    "answers": ["allow_once" | "allow_session" | "deny" | "decline" | "cancel", ...]
  }
"""

import asyncio
import json
import os
import sys

from mcp import Client, types
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


async def main(spec: dict) -> dict:
    server = spec["server"]
    if "url" in server:
        target = streamable_http_client(server["url"])
    else:
        target = StdioServerParameters(
            command=server["command"],
            args=server.get("args", []),
            env={**os.environ, **server.get("env", {})},
        )
    answers = list(spec.get("answers", []))
    shown: list[str] = []

    async def approve(context, params):
        shown.append(getattr(params, "message", ""))
        answer = answers.pop(0) if answers else "cancel"
        if answer in ("decline", "cancel"):
            return types.ElicitResult(action=answer)
        return types.ElicitResult(action="accept", content={"decision": answer})

    report: dict = {"client": "python-sdk"}
    async with Client(target, mode=spec.get("mode", "legacy"), elicitation_callback=approve) as client:
        report["protocolVersion"] = client.protocol_version
        for i, snippet in enumerate(spec.get("snippets", [spec.get("snippet")])):
            result = await client.call_tool("execute", {"code": snippet})
            report.setdefault("results", []).append(
                {"isError": bool(result.is_error), "structuredContent": result.structured_content}
            )
    report["shown"] = shown
    return report


if __name__ == "__main__":
    result = asyncio.run(main(json.loads(sys.argv[1])))
    sys.stdout.write(json.dumps(result) + "\n")
