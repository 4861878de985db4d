//! What a request is, decided once by the outermost middleware (into the request's context,
//! `http::context`) before any other middleware looks at it: the route pattern the router
//! will match (a bounded metric label), the API family and the audit action.
//!
//! The decision is made on the raw path, and actix routes on the percent-decoded one; the two
//! would disagree on `/v1/report%73`. No route needs an escape (ids are hex or UUIDs), so a
//! path holding `%` is refused with 400 here, and the raw and decoded paths are then the same
//! string. A unit test checks the decision against actix's own pattern matching.
use super::context::RequestContext;
use crate::error::GatewayError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use std::rc::Rc;

/// The API family a path belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// The gateway's simplified API, `/v1/reports`.
    V1,
    /// The upstream's `/v3/reports` paths (SDK 1.x, Go v2, TypeScript).
    V3,
    /// The upstream's `/reports/v1` paths (SDK 2.x, Go v3).
    ReportsV1,
    /// The upstream's annual versions, `/v2024/reports` … (SDK 1.x's `v2024`/`v2025`,
    /// PowerShell).
    V2024,
    V2025,
    V2026,
    /// `POST /oauth/token`: gateway client credentials in, a caller token out.
    OAuth,
    /// Health, readiness, the OpenAPI document, and paths no route serves.
    Other,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::V1 => "v1",
            Api::V3 => "v3",
            Api::ReportsV1 => "reports-v1",
            Api::V2024 => "v2024",
            Api::V2025 => "v2025",
            Api::V2026 => "v2026",
            Api::OAuth => "oauth",
            Api::Other => "other",
        }
    }

    /// The upstream's own paths: errors there take the upstream's shapes.
    pub fn is_sdk(self) -> bool {
        self.sdk_patterns().is_some()
    }

    /// The SDK routes' patterns: run, file (`{id}`), result and cancel.
    fn sdk_patterns(self) -> Option<[&'static str; 4]> {
        Some(match self {
            Api::V3 => [
                "/v3/reports/run",
                "/v3/reports/{id}",
                "/v3/reports/{id}/result",
                "/v3/reports/{id}/cancel",
            ],
            Api::ReportsV1 => [
                "/reports/v1/run",
                "/reports/v1/{id}",
                "/reports/v1/{id}/result",
                "/reports/v1/{id}/cancel",
            ],
            Api::V2024 => [
                "/v2024/reports/run",
                "/v2024/reports/{id}",
                "/v2024/reports/{id}/result",
                "/v2024/reports/{id}/cancel",
            ],
            Api::V2025 => [
                "/v2025/reports/run",
                "/v2025/reports/{id}",
                "/v2025/reports/{id}/result",
                "/v2025/reports/{id}/cancel",
            ],
            Api::V2026 => [
                "/v2026/reports/run",
                "/v2026/reports/{id}",
                "/v2026/reports/{id}/result",
                "/v2026/reports/{id}/cancel",
            ],
            Api::V1 | Api::OAuth | Api::Other => return None,
        })
    }
}

/// The decision about one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The router's pattern for the path, or `unmatched`.
    pub pattern: &'static str,
    pub api: Api,
    /// The audit action: `run`, `status`, `download`, `cancel`, their `sdk_` forms, or `other`.
    pub action: &'static str,
}

impl Route {
    pub const UNMATCHED: Route = Route {
        pattern: "unmatched",
        api: Api::Other,
        action: "other",
    };

    /// Health, readiness and the OpenAPI document: anyone may call them.
    pub fn is_open(&self) -> bool {
        matches!(self.pattern, "/healthz" | "/readyz" | "/openapi.json")
    }

    /// The decision the outermost middleware stored in this request's context.
    pub fn of(req: &impl HttpMessage) -> Route {
        req.extensions()
            .get::<Rc<RequestContext>>()
            .map_or(Route::UNMATCHED, |c| c.route)
    }

    /// Decides what a request is from its method and (escape-free) path, exactly as the
    /// router will: `{id}` is one non-empty segment, and no trailing slash is forgiven.
    /// String work only, no regex: it runs on every request.
    pub fn decide(method: &Method, path: &str) -> Route {
        let (api, rest) = match family(path) {
            Some(found) => found,
            None => {
                if path == "/oauth/token" {
                    return Route {
                        pattern: "/oauth/token",
                        api: Api::OAuth,
                        action: if method == Method::POST {
                            "token"
                        } else {
                            "other"
                        },
                    };
                }
                let pattern = match path {
                    "/healthz" => "/healthz",
                    "/readyz" => "/readyz",
                    "/openapi.json" => "/openapi.json",
                    _ => return Route::UNMATCHED,
                };
                return Route {
                    pattern,
                    api: Api::Other,
                    action: "other",
                };
            }
        };
        let segments = match rest {
            "" => Segments::Root,
            _ => match rest[1..].split_once('/') {
                None if !rest[1..].is_empty() => Segments::One(&rest[1..]),
                Some((id, tail)) if !id.is_empty() && !tail.contains('/') => Segments::Two(tail),
                _ => Segments::Other,
            },
        };
        let post = method == Method::POST;
        let get = method == Method::GET;
        let (pattern, action) = match (api, segments) {
            (Api::V1, Segments::Root) => ("/v1/reports", if post { "run" } else { "other" }),
            (Api::V1, Segments::One(_)) => {
                ("/v1/reports/{id}", if get { "status" } else { "other" })
            }
            (Api::V1, Segments::Two("file")) => (
                "/v1/reports/{id}/file",
                if get { "download" } else { "other" },
            ),
            (Api::V1, Segments::Two("cancel")) => (
                "/v1/reports/{id}/cancel",
                if post { "cancel" } else { "other" },
            ),
            (_, segments) => match (api.sdk_patterns(), segments) {
                (Some([run, ..]), Segments::One("run")) => (run, sdk(post, "sdk_run")),
                (Some([_, file, ..]), Segments::One(_)) => (file, sdk(get, "sdk_download")),
                (Some([_, _, result, _]), Segments::Two("result")) => {
                    (result, sdk(get, "sdk_status"))
                }
                (Some([.., cancel]), Segments::Two("cancel")) => (cancel, sdk(post, "sdk_cancel")),
                _ => ("unmatched", "other"),
            },
        };
        Route {
            pattern,
            api,
            action,
        }
    }
}

#[derive(Clone, Copy)]
enum Segments<'a> {
    Root,
    One(&'a str),
    /// `{id}/<tail>`: the tail.
    Two(&'a str),
    Other,
}

fn sdk(method_fits: bool, action: &'static str) -> &'static str {
    if method_fits {
        action
    } else {
        "other"
    }
}

/// The family whose prefix the path starts with (on a segment boundary), and the rest.
fn family(path: &str) -> Option<(Api, &str)> {
    [
        ("/v1/reports", Api::V1),
        ("/v3/reports", Api::V3),
        ("/reports/v1", Api::ReportsV1),
        ("/v2024/reports", Api::V2024),
        ("/v2025/reports", Api::V2025),
        ("/v2026/reports", Api::V2026),
    ]
    .into_iter()
    .find_map(|(prefix, api)| {
        let rest = path.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with('/')).then_some((api, rest))
    })
}

/// Refuses escaped paths (their route is `unmatched`), and names the root span after the
/// route the outermost middleware decided (`http::context`).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.path().contains('%') {
        let err = GatewayError::bad_request(
            "invalid_path",
            "percent-escapes are not accepted in paths (no route needs one)",
        );
        return Ok(req.into_response(err.error_response()));
    }
    let route = Route::of(&req);
    let span = tracing::Span::current();
    span.record("http.route", route.pattern);
    span.record(
        "otel.name",
        tracing::field::display(format_args!("{} {}", req.method(), route.pattern)),
    );
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::dev::ResourceDef;

    /// Every pattern the API listener registers, in the router's order.
    const PATTERNS: [&str; 28] = [
        "/oauth/token",
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/v1/reports",
        "/v1/reports/{id}",
        "/v1/reports/{id}/file",
        "/v1/reports/{id}/cancel",
        "/v3/reports/run",
        "/v3/reports/{id}/result",
        "/v3/reports/{id}/cancel",
        "/v3/reports/{id}",
        "/reports/v1/run",
        "/reports/v1/{id}/result",
        "/reports/v1/{id}/cancel",
        "/reports/v1/{id}",
        "/v2024/reports/run",
        "/v2024/reports/{id}/result",
        "/v2024/reports/{id}/cancel",
        "/v2024/reports/{id}",
        "/v2025/reports/run",
        "/v2025/reports/{id}/result",
        "/v2025/reports/{id}/cancel",
        "/v2025/reports/{id}",
        "/v2026/reports/run",
        "/v2026/reports/{id}/result",
        "/v2026/reports/{id}/cancel",
        "/v2026/reports/{id}",
    ];

    fn router_says(defs: &[(&'static str, ResourceDef)], path: &str) -> &'static str {
        defs.iter()
            .find(|(_, def)| def.is_match(path))
            .map_or("unmatched", |(p, _)| *p)
    }

    #[test]
    fn the_decision_names_the_pattern_the_router_matches_for_hostile_paths() {
        let pieces = [
            "",
            "/",
            "//",
            "v1",
            "v3",
            "reports",
            "run",
            "file",
            "cancel",
            "result",
            "abc",
            "x/y",
            "reportsx",
            "healthz",
            "..",
            ".",
            "openapi.json",
            "Reports",
            "RUN",
        ];
        let defs: Vec<_> = PATTERNS
            .iter()
            .map(|p| (*p, ResourceDef::new(*p)))
            .collect();
        let mut checked = 0;
        for a in [
            "/v1/reports",
            "/v3/reports",
            "/reports/v1",
            "/",
            "/v1",
            "/reports",
        ] {
            for b in pieces {
                for c in pieces {
                    for sep in ["/", ""] {
                        let path = format!("{a}{sep}{b}/{c}");
                        let short = format!("{a}{sep}{b}");
                        for p in [path, short] {
                            for m in [Method::GET, Method::POST] {
                                assert_eq!(
                                    Route::decide(&m, &p).pattern,
                                    router_says(&defs, &p),
                                    "{m} {p}"
                                );
                                checked += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn each_route_has_its_action_only_with_its_method() {
        let cases = [
            ("POST", "/v1/reports", "run"),
            ("GET", "/v1/reports", "other"),
            ("GET", "/v1/reports/a1", "status"),
            ("GET", "/v1/reports/a1/file", "download"),
            ("POST", "/v1/reports/a1/file", "other"),
            ("POST", "/v1/reports/a1/cancel", "cancel"),
            ("POST", "/v3/reports/run", "sdk_run"),
            ("GET", "/v3/reports/run", "other"),
            ("GET", "/reports/v1/a1/result", "sdk_status"),
            ("GET", "/reports/v1/a1", "sdk_download"),
            ("POST", "/reports/v1/a1/cancel", "sdk_cancel"),
            ("GET", "/v1/reportsx", "other"),
        ];
        for (m, path, action) in cases {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(Route::decide(&m, path).action, action, "{m} {path}");
        }
        assert_eq!(Route::decide(&Method::GET, "/v1/reportsx").api, Api::Other);
        assert!(Route::decide(&Method::GET, "/v3/reports/run").api.is_sdk());
    }
}
