//! The upstream's path families: the same report operations under several prefixes.

/// Which of the upstream's path families to call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathFamily {
    /// `/v3/reports/...`
    V3,
    /// `/reports/v1/...`
    V1,
    /// `/v2024/reports/...`, `/v2025/...`, `/v2026/...`: the annual versions, same operations.
    V2024,
    V2025,
    V2026,
}

impl PathFamily {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::V3 => "/v3/reports",
            Self::V1 => "/reports/v1",
            Self::V2024 => "/v2024/reports",
            Self::V2025 => "/v2025/reports",
            Self::V2026 => "/v2026/reports",
        }
    }
}
