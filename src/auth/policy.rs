//! What each team may do. Decisions name what is not allowed; they never call upstream.
use super::settings::{Ownership, PolicySettings, TeamPolicy};
use super::Caller;
use crate::domain::ReportType;
use serde_json::Value;
use std::collections::HashMap;

pub struct Policy {
    pub ownership: Ownership,
    default: TeamPolicy,
    teams: HashMap<String, TeamPolicy>,
}

impl Policy {
    pub fn new(s: &PolicySettings) -> Self {
        Self {
            ownership: s.ownership,
            default: s.default.clone(),
            teams: s
                .teams
                .iter()
                .map(|t| (t.team.clone(), t.policy.clone()))
                .collect(),
        }
    }

    pub fn for_team(&self, team: &str) -> &TeamPolicy {
        self.teams.get(team).unwrap_or(&self.default)
    }

    /// Whether `maxAge` may hand `reader` a report that `owner` (of `team`) ran. The reader's
    /// own `run`/`sources` check has already passed for these very arguments, so the reader
    /// could have run the export itself; what is guarded here is another team's activity.
    /// Its own reports: always. Another owner of its team (`ownership: caller`): when the
    /// team's `reuse_others` allows. Another team's: only when both the reader's
    /// `reuse_others` and the producing team's `share_exports` allow.
    pub fn may_reuse(&self, reader: &Caller, owner: &str, team: &str) -> bool {
        if self.owner(reader) == owner {
            return true;
        }
        let mine = self.for_team(&reader.team);
        if !mine.reuse_others {
            return false;
        }
        reader.team == team || self.for_team(team).share_exports
    }

    /// Who owns the reports this caller starts: its team, or itself (issuer and id, so
    /// that two issuers never share an owner); a caller without a team claim is its own
    /// team.
    pub fn owner<'a>(&self, caller: &'a Caller) -> &'a str {
        match self.ownership {
            Ownership::Team if caller.team_claimed => &caller.team,
            Ownership::Team | Ownership::Caller => &caller.identity,
        }
    }
}

fn listed(list: &[String], item: &str) -> bool {
    list.iter().any(|x| x == "*" || x == item)
}

impl TeamPolicy {
    pub fn check_run(&self, t: ReportType, arguments: Option<&Value>) -> Result<(), String> {
        if !listed(&self.run, t.as_str()) {
            return Err(format!("your team may not run {t} reports"));
        }
        if t == ReportType::Accounts {
            let source = arguments
                .and_then(|a| a["application"].as_str())
                .unwrap_or("");
            if !listed(&self.sources, source) {
                return Err(format!(
                    "your team may not export accounts of source {source}"
                ));
            }
        }
        Ok(())
    }

    /// Reading a report by its raw upstream id: its type must be one the team may run; an
    /// ACCOUNTS report needs every source (the upstream result does not say which).
    pub fn check_read(&self, report_type: Option<&str>) -> Result<(), String> {
        let t = report_type.unwrap_or("");
        if !listed(&self.run, t) {
            return Err(format!("your team may not read {t:?} reports"));
        }
        if t == ReportType::Accounts.as_str() && !listed(&self.sources, "") {
            return Err("your team may not read accounts of every source".into());
        }
        Ok(())
    }

    /// Whether [`Self::check_read`] allows every report.
    pub fn reads_everything(&self) -> bool {
        let all = |list: &[String]| list.iter().any(|x| x == "*");
        all(&self.run) && all(&self.sources)
    }

    pub fn check_cancel(&self) -> Result<(), String> {
        self.cancel
            .then_some(())
            .ok_or_else(|| "your team may not cancel reports".into())
    }

    pub fn check_sdk_paths(&self) -> Result<(), String> {
        self.sdk_paths
            .then_some(())
            .ok_or_else(|| "your team may not use the SDK-compatible paths".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn team(run: &[&str], sources: &[&str]) -> TeamPolicy {
        TeamPolicy {
            run: run.iter().map(|s| s.to_string()).collect(),
            sources: sources.iter().map(|s| s.to_string()).collect(),
            cancel: false,
            sdk_paths: false,
            raw_ids: false,
            ..TeamPolicy::allow_all()
        }
    }

    fn caller(id: &str, team: &str) -> Caller {
        Caller::new("https://idp.test", id.into(), Some(team.into()))
    }

    fn policy(ownership: Ownership, teams: &[(&str, bool, bool)]) -> Policy {
        Policy::new(&PolicySettings {
            ownership,
            default: TeamPolicy::allow_all(),
            teams: teams
                .iter()
                .map(|(name, reuse_others, share_exports)| {
                    super::super::settings::NamedTeamPolicy {
                        team: (*name).into(),
                        policy: TeamPolicy {
                            reuse_others: *reuse_others,
                            share_exports: *share_exports,
                            ..TeamPolicy::allow_all()
                        },
                    }
                })
                .collect(),
        })
    }

    #[test]
    fn another_teams_report_is_reused_only_when_it_shares_and_the_reader_accepts() {
        let p = policy(
            Ownership::Team,
            &[("a", true, false), ("b", true, true), ("c", false, true)],
        );
        let (a, b, c) = (caller("x", "a"), caller("y", "b"), caller("z", "c"));
        assert!(p.may_reuse(&a, "a", "a"), "its own");
        assert!(!p.may_reuse(&b, "a", "a"), "a does not share");
        assert!(p.may_reuse(&a, "b", "b"), "b shares, a accepts");
        assert!(!p.may_reuse(&c, "b", "b"), "c refuses others' exports");
        assert!(p.may_reuse(&c, "c", "c"), "c's own are always reusable");
    }

    #[test]
    fn with_caller_ownership_a_teammates_report_follows_reuse_others() {
        let p = policy(Ownership::Caller, &[("a", true, false), ("c", false, true)]);
        assert!(p.may_reuse(&caller("x", "a"), "y", "a"));
        assert!(!p.may_reuse(&caller("x", "c"), "y", "c"));
        let x = caller("x", "c");
        assert!(
            p.may_reuse(&x, &x.identity, "c"),
            "its own (the owner is iss and id)"
        );
    }

    #[test]
    fn run_is_allowed_per_type_and_accounts_per_source() {
        let p = team(&["ACCOUNTS", "IDENTITIES"], &["src-1"]);
        assert!(p.check_run(ReportType::Identities, None).is_ok());
        assert!(p
            .check_run(ReportType::SearchExport, None)
            .unwrap_err()
            .contains("SEARCH_EXPORT"));
        assert!(p
            .check_run(ReportType::Accounts, Some(&json!({"application": "src-1"})))
            .is_ok());
        assert!(p
            .check_run(ReportType::Accounts, Some(&json!({"application": "src-2"})))
            .unwrap_err()
            .contains("src-2"));
        assert!(p.check_cancel().is_err());
    }
}
