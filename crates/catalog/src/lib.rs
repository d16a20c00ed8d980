//! The catalogue: where tools come from (upstream MCP servers, the built-in demo, later
//! OpenAPI specs), how they are named in TypeScript, and the declarations the agent reads.
//!
//! It must never run agent code (that is `codemode-sandbox`'s job) and must never assume
//! every tool comes from MCP: a tool is a name, a description and JSON Schemas.

pub mod config;
pub mod naming;
pub mod typescript;
pub mod upstream;
