//! Report types and their arguments as the upstream schema defines them: one table drives
//! both the validation of a run request and its OpenAPI schema.
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReportType {
    Accounts,
    IdentitiesDetails,
    Identities,
    IdentityProfileIdentityError,
    OrphanIdentities,
    SearchExport,
    UncorrelatedAccounts,
}

impl ReportType {
    pub const ALL: [ReportType; 7] = [
        Self::Accounts,
        Self::IdentitiesDetails,
        Self::Identities,
        Self::IdentityProfileIdentityError,
        Self::OrphanIdentities,
        Self::SearchExport,
        Self::UncorrelatedAccounts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accounts => "ACCOUNTS",
            Self::IdentitiesDetails => "IDENTITIES_DETAILS",
            Self::Identities => "IDENTITIES",
            Self::IdentityProfileIdentityError => "IDENTITY_PROFILE_IDENTITY_ERROR",
            Self::OrphanIdentities => "ORPHAN_IDENTITIES",
            Self::SearchExport => "SEARCH_EXPORT",
            Self::UncorrelatedAccounts => "UNCORRELATED_ACCOUNTS",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// The task definition name upstream reports use for each type.
    pub fn task_def_name(self) -> &'static str {
        match self {
            Self::Accounts => "Account Export",
            Self::IdentitiesDetails => "Identities Details Report",
            Self::Identities => "Identities Report",
            Self::IdentityProfileIdentityError => "Identity Profile Identity Error Report",
            Self::OrphanIdentities => "Orphan Identities Report",
            Self::SearchExport => "Search Export",
            Self::UncorrelatedAccounts => "Uncorrelated Accounts Report",
        }
    }
}

impl fmt::Display for ReportType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is wrong with a report request, naming the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Formats,
    Indices,
    StringArray,
}

struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn f(name: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        name,
        kind,
        required,
    }
}

const ACCOUNTS: &[Field] = &[
    f("application", Kind::Str, true),
    f("sourceName", Kind::Str, true),
];
const IDENTITIES_DETAILS: &[Field] = &[f("correlatedOnly", Kind::Bool, true)];
const IDENTITIES: &[Field] = &[f("correlatedOnly", Kind::Bool, false)];
const PROFILE_ERROR: &[Field] = &[f("authoritativeSource", Kind::Str, true)];
const FORMATS_ONLY: &[Field] = &[f("selectedFormats", Kind::Formats, false)];
const SEARCH_EXPORT: &[Field] = &[
    f("indices", Kind::Indices, false),
    f("query", Kind::Str, true),
    f("columns", Kind::Str, false),
    f("sort", Kind::StringArray, false),
];

/// The argument schemas of SPEC-V3 `schemas/reports/arguments/*.yaml`.
fn schema(t: ReportType) -> &'static [Field] {
    match t {
        ReportType::Accounts => ACCOUNTS,
        ReportType::IdentitiesDetails => IDENTITIES_DETAILS,
        ReportType::Identities => IDENTITIES,
        ReportType::IdentityProfileIdentityError => PROFILE_ERROR,
        ReportType::OrphanIdentities | ReportType::UncorrelatedAccounts => FORMATS_ONLY,
        ReportType::SearchExport => SEARCH_EXPORT,
    }
}

/// The indices the upstream enum lists today. Upstream says "additional values may be added
/// in the future without notice" (SDK 2.1.72 already sends `workflowsummaries`), so any
/// index-shaped name is accepted; this list only documents the known ones.
const INDICES: [&str; 7] = [
    "accessprofiles",
    "accountactivities",
    "entitlements",
    "events",
    "identities",
    "roles",
    "*",
];

/// An index name as upstream spells them: `*` or 1 to 64 lower-case letters and digits.
fn index_shaped(s: &str) -> bool {
    s == "*"
        || (!s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn check_kind(name: &str, kind: Kind, v: &Value) -> Result<(), ValidationError> {
    let path = format!("arguments.{name}");
    let string_items = |allowed: Option<&[&str]>| -> Result<(), ValidationError> {
        let items = v
            .as_array()
            .ok_or_else(|| invalid(&path, "must be an array"))?;
        for (i, item) in items.iter().enumerate() {
            let s = item
                .as_str()
                .ok_or_else(|| invalid(format!("{path}[{i}]"), "must be a string"))?;
            if let Some(allowed) = allowed {
                if !allowed.contains(&s) {
                    return Err(invalid(
                        format!("{path}[{i}]"),
                        format!("must be one of {}", allowed.join(", ")),
                    ));
                }
            }
        }
        Ok(())
    };
    match kind {
        Kind::Str => match v.as_str() {
            Some(s) if !s.trim().is_empty() => Ok(()),
            Some(_) => Err(invalid(path, "must not be empty")),
            None => Err(invalid(path, "must be a string")),
        },
        Kind::Bool => v
            .is_boolean()
            .then_some(())
            .ok_or_else(|| invalid(path, "must be a boolean")),
        Kind::Formats => string_items(Some(&["CSV", "PDF"])),
        Kind::Indices => {
            string_items(None)?;
            let items = v.as_array().expect("checked by string_items");
            match items
                .iter()
                .position(|i| !index_shaped(i.as_str().unwrap_or("")))
            {
                Some(i) => Err(invalid(
                    format!("{path}[{i}]"),
                    format!(
                        "must be an index name: lower-case letters and digits, or * (known: {})",
                        INDICES.join(", ")
                    ),
                )),
                None => Ok(()),
            }
        }
        Kind::StringArray => string_items(None),
    }
}

/// Validates a report request as the upstream schema requires.
///
/// `strict` also rejects argument fields the schema does not know, which catches typos
/// such as `sourcename` before they turn into a silently wrong export. The simulator is
/// lenient, as the upstream schema does not forbid additional properties.
pub fn validate_report(
    report_type: Option<&Value>,
    arguments: Option<&Value>,
    strict: bool,
) -> Result<ReportType, ValidationError> {
    let raw = match report_type {
        None | Some(Value::Null) => return Err(invalid("type", "is required")),
        Some(Value::String(s)) => s,
        Some(_) => return Err(invalid("type", "must be a string")),
    };
    let t = ReportType::parse(raw).ok_or_else(|| {
        let names: Vec<_> = ReportType::ALL.iter().map(|t| t.as_str()).collect();
        invalid("type", format!("must be one of {}", names.join(", ")))
    })?;
    let empty = Map::new();
    let args = match arguments {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid("arguments", "must be an object")),
    };
    let fields = schema(t);
    for field in fields {
        match args.get(field.name) {
            None | Some(Value::Null) if field.required => {
                return Err(invalid(
                    format!("arguments.{}", field.name),
                    format!("is required for {t}"),
                ))
            }
            None | Some(Value::Null) => {}
            Some(v) => check_kind(field.name, field.kind, v)?,
        }
    }
    if strict {
        if let Some(unknown) = args.keys().find(|k| fields.iter().all(|f| f.name != *k)) {
            let known: Vec<_> = fields.iter().map(|f| f.name).collect();
            return Err(invalid(
                format!("arguments.{unknown}"),
                format!("is not an argument of {t} (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(t)
}

/// The JSON Schema of a `/v1` run request, generated from the same table the validator
/// uses (one `oneOf` branch per type), so the OpenAPI document is exactly as strict as the API.
pub fn run_request_schema() -> Value {
    let kind_schema = |k: Kind| match k {
        Kind::Str => serde_json::json!({"type": "string", "pattern": "\\S"}),
        Kind::Bool => serde_json::json!({"type": "boolean"}),
        Kind::Formats => {
            serde_json::json!({"type": "array", "items": {"type": "string", "enum": ["CSV", "PDF"]}})
        }
        Kind::Indices => serde_json::json!({"type": "array", "items": {
            "type": "string", "pattern": "^([a-z0-9]{1,64}|\\*)$", "examples": INDICES,
            "description": "An index; upstream may add new ones without notice, so any index name is accepted.",
        }}),
        Kind::StringArray => serde_json::json!({"type": "array", "items": {"type": "string"}}),
    };
    let branches: Vec<Value> = ReportType::ALL
        .iter()
        .map(|t| {
            let fields = schema(*t);
            let props: Map<String, Value> = fields
                .iter()
                .map(|f| {
                    let mut schema = kind_schema(f.kind);
                    // Optional arguments may also be null, which the validator reads as absent.
                    if !f.required {
                        let t = schema["type"].clone();
                        schema["type"] = serde_json::json!([t, "null"]);
                    }
                    (f.name.to_owned(), schema)
                })
                .collect();
            let required: Vec<&str> = fields
                .iter()
                .filter(|f| f.required)
                .map(|f| f.name)
                .collect();
            let mut arguments = serde_json::json!({
                "type": "object", "additionalProperties": false, "properties": props,
            });
            let mut top_required = vec!["type"];
            if required.is_empty() {
                arguments["type"] = serde_json::json!(["object", "null"]);
            } else {
                arguments["required"] = serde_json::json!(required);
                top_required.push("arguments");
            }
            serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "required": top_required,
                "properties": {
                    "type": {"type": "string", "enum": [t.as_str()]},
                    "arguments": arguments,
                    "callback": run_option_callback(),
                    "maxAge": run_option_max_age(),
                },
            })
        })
        .collect();
    serde_json::json!({"oneOf": branches, "description": "A report type and its arguments, as the upstream schema defines them. \
        Unlike upstream, /v1 refuses argument names the type does not define (`additionalProperties: false`): \
        a typo such as `sourcename` would otherwise export the wrong thing. The SDK-compatible paths \
        (/v3, /v2024, /v2025, /v2026, /reports/v1) accept and forward unknown arguments as upstream does."})
}

/// `callback` of a `/v1` run (checked against the team's webhook policy when accepted).
fn run_option_callback() -> Value {
    serde_json::json!({
        "type": "object", "required": ["url"], "additionalProperties": false,
        "properties": {"url": {"type": "string", "format": "uri"}},
        "description": "POST the report resource to this URL when the report ends (Standard Webhooks \
            signature with the team's secret; the URL must be under the team's webhook.allowed_urls).",
    })
}

/// The grammar of `maxAge` (the gateway's parser reads exactly this).
pub const MAX_AGE_PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

/// `maxAge` of a `/v1` run.
fn run_option_max_age() -> Value {
    serde_json::json!({
        "type": "string", "pattern": MAX_AGE_PATTERN, "examples": ["15m", "90s", "1h30m"],
        "description": "Reuse instead of running: an identical report (same type and arguments in \
            canonical form) that finished with SUCCESS within this age is answered with 200, and a \
            running one is joined (202), both with `reused: true`; no upstream run happens. Only the \
            caller's own reports, and other owners' when policy allows (reuse_others, and for another \
            team its share_exports). An age past cache.reuse_max_age (24h) is read as that bound. \
            Absent: always a fresh run.",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(t: &str, args: Value) -> Result<ReportType, ValidationError> {
        validate_report(Some(&json!(t)), Some(&args), true)
    }

    #[test]
    fn every_type_accepts_its_documented_arguments() {
        let ok = [
            (
                "ACCOUNTS",
                json!({"application": "2c9180", "sourceName": "Active Directory"}),
            ),
            ("IDENTITIES_DETAILS", json!({"correlatedOnly": true})),
            ("IDENTITIES", json!({})),
            (
                "IDENTITY_PROFILE_IDENTITY_ERROR",
                json!({"authoritativeSource": "1234"}),
            ),
            ("ORPHAN_IDENTITIES", json!({"selectedFormats": ["CSV"]})),
            ("UNCORRELATED_ACCOUNTS", json!({})),
            (
                "SEARCH_EXPORT",
                json!({"query": "name:a*", "indices": ["identities"], "sort": ["-name"]}),
            ),
            (
                "SEARCH_EXPORT",
                json!({"query": "*", "indices": ["workflowsummaries", "*"]}),
            ),
        ];
        for (t, args) in ok {
            assert!(check(t, args).is_ok(), "{t}");
        }
    }

    #[test]
    fn errors_name_the_offending_field() {
        let cases = [
            (
                "ACCOUNTS",
                json!({"application": "x"}),
                "arguments.sourceName",
            ),
            ("IDENTITIES_DETAILS", json!({}), "arguments.correlatedOnly"),
            (
                "IDENTITIES",
                json!({"correlatedOnly": "yes"}),
                "arguments.correlatedOnly",
            ),
            (
                "ORPHAN_IDENTITIES",
                json!({"selectedFormats": ["XLS"]}),
                "arguments.selectedFormats[0]",
            ),
            (
                "SEARCH_EXPORT",
                json!({"query": "a", "indices": ["Users; x"]}),
                "arguments.indices[0]",
            ),
            (
                "SEARCH_EXPORT",
                json!({"query": "a", "filters": "x"}),
                "arguments.filters",
            ),
            ("NOPE", json!({}), "type"),
        ];
        for (t, args, field) in cases {
            assert_eq!(check(t, args).unwrap_err().field, field);
        }
    }
}
