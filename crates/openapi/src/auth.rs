//! The configured credentials, placed where the spec's `securitySchemes` say.
//!
//! | config (`auth`)                    | spec scheme it fills                                   | sent as |
//! |------------------------------------|--------------------------------------------------------|---------|
//! | `{"bearer": T}`                    | `http` + `bearer`, `oauth2`, `openIdConnect`           | `Authorization: Bearer T` |
//! | `{"basic": {"username", "password"}}` | `http` + `basic`                                    | `Authorization: Basic base64(U:P)` |
//! | `{"apiKey": K}`                    | `apiKey` (`in`: header, query or cookie; `name`)       | that header, query parameter or cookie |
//!
//! Which scheme: the one `"scheme": NAME` names; else the first scheme of the operation's
//! requirements (the spec-wide `security` when the operation has none) that fits the kind of
//! credentials; with no requirements at all, the first declared scheme that fits. An
//! operation whose `security` is `[]` (no credentials) gets none. When nothing fits, a
//! bearer token or basic credentials still go in `Authorization` (many specs, GitHub's
//! among them, declare no schemes); an API key needs an `apiKey` scheme, and a spec
//! without one makes the entry unusable (the key would have nowhere to go: put it in
//! `headers`).
//!
//! Credentials only ever travel to the API's own server (`client.rs` drops them on a
//! redirect to another host), and their header values are marked sensitive.

use base64::Engine;
use http::{HeaderName, HeaderValue};

use crate::config::Auth;

/// Where one credential goes on a request.
#[derive(Debug, Clone)]
pub(crate) enum Placement {
    Header(HeaderName, HeaderValue),
    Query(String, String),
    Cookie(String, String),
}

/// A declared security scheme, reduced to what the configured credentials can fill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SchemeKind {
    Bearer,
    Basic,
    ApiKey {
        location: KeyLocation,
        name: String,
    },
    /// Anything else (mutual TLS, an unknown `http` scheme): nothing to fill.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyLocation {
    Header,
    Query,
    Cookie,
}

impl SchemeKind {
    pub fn of(scheme: &oas3::spec::SecurityScheme) -> SchemeKind {
        use oas3::spec::SecurityScheme as S;
        match scheme {
            S::Http { scheme, .. } if scheme.eq_ignore_ascii_case("bearer") => SchemeKind::Bearer,
            S::Http { scheme, .. } if scheme.eq_ignore_ascii_case("basic") => SchemeKind::Basic,
            S::OAuth2 { .. } | S::OpenIdConnect { .. } => SchemeKind::Bearer,
            S::ApiKey { name, location, .. } => {
                let location = match location.as_str() {
                    "query" => KeyLocation::Query,
                    "cookie" => KeyLocation::Cookie,
                    _ => KeyLocation::Header,
                };
                SchemeKind::ApiKey {
                    location,
                    name: name.clone(),
                }
            }
            _ => SchemeKind::Other,
        }
    }

    fn fits(&self, auth: &Auth) -> bool {
        matches!(
            (self, auth),
            (SchemeKind::Bearer, Auth::Bearer { .. })
                | (SchemeKind::Basic, Auth::Basic { .. })
                | (SchemeKind::ApiKey { .. }, Auth::ApiKey { .. })
        )
    }
}

/// The spec's declared schemes by name, in the spec's order.
pub(crate) type Schemes = Vec<(String, SchemeKind)>;

/// Checks, once per spec, that the configured credentials have somewhere to go.
pub(crate) fn check(auth: &Auth, schemes: &Schemes) -> Result<(), String> {
    if let Some(named) = auth.scheme() {
        let declared: Vec<&str> = schemes.iter().map(|(n, _)| n.as_str()).collect();
        let Some((_, kind)) = schemes.iter().find(|(n, _)| n == named) else {
            return Err(format!(
                "auth.scheme: the spec declares no security scheme `{named}` (it declares: {})",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            ));
        };
        if !kind.fits(auth) {
            return Err(format!(
                "auth.scheme: `{named}` is not a scheme these credentials fill"
            ));
        }
    }
    if matches!(auth, Auth::ApiKey { .. })
        && !schemes
            .iter()
            .any(|(_, k)| matches!(k, SchemeKind::ApiKey { .. }))
    {
        return Err(
            "auth.apiKey: the spec declares no apiKey security scheme, so the key has \
                    nowhere to go; send it with `headers` instead"
                .to_owned(),
        );
    }
    Ok(())
}

/// The credentials for one operation. `requirements` are its security alternatives (each a
/// list of scheme names): `None` when neither the operation nor the spec states any,
/// `Some([])` for an operation that takes none.
pub(crate) fn placements(
    auth: Option<&Auth>,
    requirements: Option<&[Vec<String>]>,
    schemes: &Schemes,
) -> Vec<Placement> {
    let Some(auth) = auth else {
        return Vec::new();
    };
    if requirements.is_some_and(|alternatives| alternatives.is_empty()) {
        return Vec::new();
    }
    let kind_of = |name: &str| schemes.iter().find(|(n, _)| n == name).map(|(_, k)| k);
    let chosen = if let Some(named) = auth.scheme() {
        kind_of(named)
    } else {
        match requirements {
            Some(alternatives) => alternatives
                .iter()
                .flatten()
                .filter_map(|name| kind_of(name))
                .find(|kind| kind.fits(auth)),
            None => schemes.iter().map(|(_, k)| k).find(|kind| kind.fits(auth)),
        }
    };
    let authorization = |value: String| {
        sensitive(&value)
            .map(|v| Placement::Header(http::header::AUTHORIZATION, v))
            .into_iter()
            .collect::<Vec<_>>()
    };
    match (auth, chosen) {
        (Auth::Bearer { token, .. }, _) => authorization(format!("Bearer {token}")),
        (
            Auth::Basic {
                username, password, ..
            },
            _,
        ) => {
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            authorization(format!("Basic {pair}"))
        }
        (Auth::ApiKey { key, .. }, Some(SchemeKind::ApiKey { location, name })) => match location {
            KeyLocation::Header => HeaderName::from_bytes(name.as_bytes())
                .ok()
                .zip(sensitive(key))
                .map(|(n, v)| Placement::Header(n, v))
                .into_iter()
                .collect(),
            KeyLocation::Query => vec![Placement::Query(name.clone(), key.clone())],
            KeyLocation::Cookie => vec![Placement::Cookie(name.clone(), key.clone())],
        },
        // The operation asks for other schemes only: the key stays home.
        (Auth::ApiKey { .. }, _) => Vec::new(),
    }
}

fn sensitive(value: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(value).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schemes() -> Schemes {
        vec![
            ("basicAuth".into(), SchemeKind::Basic),
            ("bearerAuth".into(), SchemeKind::Bearer),
            (
                "queryKey".into(),
                SchemeKind::ApiKey {
                    location: KeyLocation::Query,
                    name: "api_key".into(),
                },
            ),
            (
                "cookieKey".into(),
                SchemeKind::ApiKey {
                    location: KeyLocation::Cookie,
                    name: "session".into(),
                },
            ),
        ]
    }

    #[test]
    fn an_api_key_goes_where_the_operation_asks() {
        let auth = Auth::ApiKey {
            key: "k".into(),
            scheme: None,
        };
        let cookie = [vec!["cookieKey".to_owned()]];
        let placed = placements(Some(&auth), Some(&cookie), &schemes());
        assert!(matches!(&placed[..], [Placement::Cookie(n, v)] if n == "session" && v == "k"));
        let placed = placements(Some(&auth), None, &schemes());
        assert!(matches!(&placed[..], [Placement::Query(n, _)] if n == "api_key"));
        assert!(placements(Some(&auth), Some(&[]), &schemes()).is_empty());
        let basic_only = [vec!["basicAuth".to_owned()]];
        assert!(placements(Some(&auth), Some(&basic_only), &schemes()).is_empty());
    }

    #[test]
    fn bearer_and_basic_go_in_authorization_even_without_schemes() {
        let bearer = Auth::Bearer {
            token: "t".into(),
            scheme: None,
        };
        let placed = placements(Some(&bearer), None, &Vec::new());
        assert!(
            matches!(&placed[..], [Placement::Header(n, v)] if n == "authorization" && v == "Bearer t" && v.is_sensitive())
        );
        let basic = Auth::Basic {
            username: "u".into(),
            password: "p".into(),
            scheme: None,
        };
        let placed = placements(Some(&basic), None, &Vec::new());
        assert!(matches!(&placed[..], [Placement::Header(_, v)] if v == "Basic dTpw"));
    }

    #[test]
    fn misfits_are_config_errors() {
        let key = Auth::ApiKey {
            key: "k".into(),
            scheme: None,
        };
        assert!(check(&key, &Vec::new()).unwrap_err().contains("headers"));
        let named = Auth::Bearer {
            token: "t".into(),
            scheme: Some("nope".into()),
        };
        assert!(check(&named, &schemes()).unwrap_err().contains("basicAuth"));
        let wrong = Auth::Bearer {
            token: "t".into(),
            scheme: Some("queryKey".into()),
        };
        assert!(check(&wrong, &schemes()).is_err());
        assert!(check(&key, &schemes()).is_ok());
    }
}
