//! OpenAPI specs as a tool source: each configured spec (the config's `openapi` object, beside
//! `mcpServers`) is one namespace, each of its operations one tool, and every call is an HTTP
//! request the gateway makes on the snippet's behalf.
//!
//! - [`config`]: the `openapi` section ([`OpenApiConfig`], [`parse_openapi_configs`]), with
//!   `${VAR}` secrets filled by the same rule as `mcpServers` and one bad entry costing only
//!   itself.
//! - `load`: reads a spec (file or https URL; JSON or YAML; Swagger 2.0, OpenAPI 3.0 or
//!   3.1), bundles the files its `$ref`s name, and parses it with the `oas3` model (Swagger
//!   2.0 goes through `roas`' 2.0 → 3.0 conversion first). A spec that does not fit says
//!   which file and which JSON pointer.
//! - `schema`: the spec's schemas as plain JSON Schema for the catalogue, components as
//!   `$defs` (so recursion stays a reference), bounded in depth and bytes.
//! - `operations`: operations → [`codemode_catalog::ToolSpec`]s plus the plan to call each
//!   (method, path template, parameters, body), and the `$request` escape hatch.
//! - `request`, `auth`, `client`: serialising arguments as the spec says (style, explode,
//!   bodies), adding the configured credentials where the spec's `securitySchemes` put them,
//!   and the HTTP call (timeout, size cap, redirect rule) with its answer as JSON.
//! - [`OpenApiSource`]: all of it as one catalogue [`codemode_catalog::ToolSource`].
//!
//! The argument layout of a tool and the shape of its answer are described on
//! [`OpenApiSource`].
//!
//! This crate must never: let the sandbox make HTTP requests (the snippet only ever hands
//! arguments to [`codemode_catalog::ToolSource::call`]), send a credential to a host other
//! than the spec's server, or put a credential in an error message or a tool's description.
//! Of the catalogue it knows only the source-side contract (`ToolSource`, `ToolSpec`,
//! `ToolError`), and nothing of TypeScript.

pub mod config;

mod auth;
mod client;
mod external;
mod load;
mod operations;
mod request;
mod schema;
mod source;
mod stored;
mod text;

pub use config::{
    parse_openapi_configs, Auth, OpenApiConfig, OpenApiConfigs, OperationFilter, SpecLocation,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_TIMEOUT,
};
pub use load::LoadError;
pub use source::{OpenApiSource, REQUEST_TOOL};
