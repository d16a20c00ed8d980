//! Whether traces are exported, and where, from the standard `OTEL_*` variables.
//!
//! Export is off unless an OTLP endpoint is named (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`): a gateway started without them sends nothing anywhere,
//! where the OpenTelemetry default would be to try `localhost:4318`. The rules read the
//! environment through a lookup function, so each is tested without touching the
//! process's own.

/// The variables read here (the exporter and the SDK read the rest themselves: headers,
/// timeout, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`, `OTEL_RESOURCE_ATTRIBUTES`).
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// What `OTEL_EXPORTER_OTLP_ENDPOINT` gets for traces, per the OTLP exporter specification.
const TRACES_PATH: &str = "/v1/traces";

/// What the environment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// No endpoint is named: nothing is exported, and nothing is said.
    Off,
    /// Turned off on purpose (`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
    Disabled,
    /// Asked for what this build cannot do; said once, and nothing is exported.
    Unsupported(Unsupported),
    Export(ExportSettings),
}

/// How spans are exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExportSettings {
    /// The traces endpoint, for messages: scheme, host, port and path only, since a URL's
    /// user info or query may hold a credential.
    pub shown_endpoint: String,
    /// Whether to name the service `codemode`: only when neither `OTEL_SERVICE_NAME` nor
    /// `OTEL_RESOURCE_ATTRIBUTES` names it.
    pub default_service_name: bool,
    /// Said once at start when the protocol asked for is not the one used.
    pub protocol_note: Option<String>,
}

/// A setting this build does not support; traces are off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unsupported {
    #[error("{TRACES_EXPORTER}={0:?} is not supported (codemode exports traces over OTLP only)")]
    Exporter(String),
    #[error("{var}={value:?} is not supported (codemode exports OTLP over HTTP, http/protobuf)")]
    Protocol { var: &'static str, value: String },
    #[error("{var} is not an http:// or https:// URL: {reason}")]
    Endpoint { var: &'static str, reason: String },
}

impl Choice {
    /// Reads the choice through `var` (`std::env::var` in the gateway); empty values count as
    /// unset, as the OpenTelemetry specification says.
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<String>) -> Choice {
        let var = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if var(SDK_DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Choice::Disabled;
        }
        let (endpoint_var, endpoint) = match (var(TRACES_ENDPOINT), var(ENDPOINT)) {
            (Some(traces), _) => (TRACES_ENDPOINT, traces),
            (None, Some(base)) => (
                ENDPOINT,
                format!("{}{TRACES_PATH}", base.trim_end_matches('/')),
            ),
            (None, None) => return Choice::Off,
        };
        if let Some(exporters) = var(TRACES_EXPORTER) {
            let names: Vec<String> = exporters
                .split(',')
                .map(|name| name.trim().to_ascii_lowercase())
                .collect();
            if names.iter().any(|name| name == "none") {
                return Choice::Disabled;
            }
            if !names.iter().any(|name| name == "otlp") {
                return Choice::Unsupported(Unsupported::Exporter(exporters));
            }
        }
        let protocol = var(TRACES_PROTOCOL)
            .map(|value| (TRACES_PROTOCOL, value))
            .or_else(|| var(PROTOCOL).map(|value| (PROTOCOL, value)));
        let protocol_note = match protocol {
            None => None,
            Some((_, value)) if value == "http/protobuf" => None,
            // Every OTLP/HTTP receiver takes protobuf bodies at the same path.
            Some((var, value)) if value == "http/json" => Some(format!(
                "{var}=http/json: traces are sent as http/protobuf, which OTLP/HTTP receivers \
                 also accept"
            )),
            Some((var, value)) => {
                return Choice::Unsupported(Unsupported::Protocol { var, value });
            }
        };
        let shown_endpoint = match shown(&endpoint) {
            Ok(shown) => shown,
            Err(reason) => {
                return Choice::Unsupported(Unsupported::Endpoint {
                    var: endpoint_var,
                    reason,
                })
            }
        };
        let named = var(SERVICE_NAME).is_some()
            || var(RESOURCE_ATTRIBUTES).is_some_and(|attributes| {
                attributes
                    .split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .any(|(key, _)| key.trim() == "service.name")
            });
        Choice::Export(ExportSettings {
            shown_endpoint,
            default_service_name: !named,
            protocol_note,
        })
    }
}

/// `url` without its user info and query, or why it is no endpoint.
fn shown(url: &str) -> Result<String, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| e.to_string())?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(if scheme.is_empty() {
            "no scheme".to_owned()
        } else {
            format!("scheme {scheme:?}")
        });
    }
    let Some(host) = uri.host() else {
        return Err("no host".to_owned());
    };
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    Ok(format!("{scheme}://{host}{port}{}", uri.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choice(vars: &[(&str, &str)]) -> Choice {
        Choice::from_env(|name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        })
    }

    fn export(vars: &[(&str, &str)]) -> ExportSettings {
        match choice(vars) {
            Choice::Export(settings) => settings,
            other => panic!("expected export, got {other:?}"),
        }
    }

    #[test]
    fn off_without_an_endpoint_whatever_else_is_set() {
        assert_eq!(choice(&[]), Choice::Off);
        assert_eq!(
            choice(&[(TRACES_EXPORTER, "otlp"), (SERVICE_NAME, "x")]),
            Choice::Off
        );
        assert_eq!(choice(&[(ENDPOINT, "  ")]), Choice::Off);
    }

    #[test]
    fn the_base_endpoint_gets_the_traces_path_and_the_traces_one_is_taken_as_is() {
        assert_eq!(
            export(&[(ENDPOINT, "http://127.0.0.1:4318/")]).shown_endpoint,
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(
            export(&[
                (ENDPOINT, "http://wrong:1"),
                (TRACES_ENDPOINT, "https://collector:4318/custom")
            ])
            .shown_endpoint,
            "https://collector:4318/custom"
        );
    }

    #[test]
    fn credentials_in_the_url_are_not_shown() {
        let shown =
            export(&[(TRACES_ENDPOINT, "https://user:pw@host/v1/traces?key=sk-1")]).shown_endpoint;
        assert_eq!(shown, "https://host/v1/traces");
    }

    #[test]
    fn disabled_by_the_sdk_switch_or_the_none_exporter() {
        let endpoint = (ENDPOINT, "http://127.0.0.1:4318");
        assert_eq!(
            choice(&[endpoint, (SDK_DISABLED, "TRUE")]),
            Choice::Disabled
        );
        assert_eq!(
            choice(&[endpoint, (TRACES_EXPORTER, "none")]),
            Choice::Disabled
        );
        assert!(matches!(
            choice(&[endpoint, (SDK_DISABLED, "false")]),
            Choice::Export(_)
        ));
        assert!(matches!(
            choice(&[endpoint, (TRACES_EXPORTER, "console, otlp")]),
            Choice::Export(_)
        ));
    }

    #[test]
    fn what_this_build_cannot_do_is_refused_by_name() {
        let endpoint = (ENDPOINT, "http://127.0.0.1:4318");
        assert_eq!(
            choice(&[endpoint, (TRACES_EXPORTER, "zipkin")]),
            Choice::Unsupported(Unsupported::Exporter("zipkin".into()))
        );
        assert_eq!(
            choice(&[endpoint, (PROTOCOL, "grpc")]),
            Choice::Unsupported(Unsupported::Protocol {
                var: PROTOCOL,
                value: "grpc".into()
            })
        );
        assert!(matches!(
            choice(&[(ENDPOINT, "127.0.0.1:4318")]),
            Choice::Unsupported(Unsupported::Endpoint { var: ENDPOINT, .. })
        ));
        assert!(matches!(
            choice(&[(TRACES_ENDPOINT, "not a url")]),
            Choice::Unsupported(Unsupported::Endpoint { .. })
        ));
        let json = export(&[endpoint, (TRACES_PROTOCOL, "http/json")]);
        assert!(json
            .protocol_note
            .is_some_and(|note| note.contains("http/protobuf")));
    }

    #[test]
    fn the_service_is_codemode_unless_the_environment_names_it() {
        let endpoint = (ENDPOINT, "http://127.0.0.1:4318");
        assert!(export(&[endpoint]).default_service_name);
        assert!(!export(&[endpoint, (SERVICE_NAME, "gw")]).default_service_name);
        assert!(
            !export(&[endpoint, (RESOURCE_ATTRIBUTES, "env=prod, service.name=gw")])
                .default_service_name
        );
        assert!(export(&[endpoint, (RESOURCE_ATTRIBUTES, "env=prod")]).default_service_name);
    }
}
