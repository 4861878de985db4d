//! Bounded label values: upstream operations and outcomes, and upstream statuses folded
//! into a fixed set.

/// Upstream operations (the `operation` label).
pub const UPSTREAM_OPERATIONS: [&str; 4] = ["run", "result", "file", "cancel"];
/// Upstream outcomes the failure alert counts (the `status` label).
pub const UPSTREAM_FAILURES: [&str; 7] = [
    "500",
    "502",
    "503",
    "504",
    "other_5xx",
    "timeout",
    "unreachable",
];

/// Upstream status as a bounded label value.
pub fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        204 => "204",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if s < 400 => "other_2xx_3xx",
        s if s < 500 => "other_4xx",
        _ => "other_5xx",
    }
}
