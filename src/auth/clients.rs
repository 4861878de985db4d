//! Gateway client credentials: a client id and secret per team, exchanged at `POST
//! /oauth/token` for a short-lived caller token, so SDK code configured the usual way
//! (`SAIL_CLIENT_ID`, `SAIL_CLIENT_SECRET`) works through the gateway.
//!
//! Only a SHA-256 of each secret is kept. Secrets are 256 random bits made by
//! `reportgate client create`, so a fast hash is enough: a slow KDF protects guessable
//! passwords, and nothing can guess 2^256. Comparison is constant-time, and an unknown id
//! costs the same work as a known one.
use crate::problem::{problem, Problem};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use subtle::ConstantTimeEq;

/// One client: `{id, team, secret_sha256}`, in `auth.clients` or `auth.clients_file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSettings {
    pub id: String,
    pub team: String,
    /// Lowercase hex SHA-256 of the secret.
    pub secret_sha256: String,
}

/// Id and secret prefixes: they tell a reader (and secret scanners) what a string is.
const ID_PREFIX: &str = "rgc_";
const SECRET_PREFIX: &str = "rgs_";

pub fn sha256_hex(secret: &str) -> String {
    crate::hex::encode(ring::digest::digest(&ring::digest::SHA256, secret.as_bytes()).as_ref())
}

/// A new client for `team`: its settings and the secret, which exists nowhere else.
pub fn create(team: &str) -> (ClientSettings, String) {
    let id = format!("{ID_PREFIX}{:024x}", rand::random::<u128>() >> 32);
    let secret = format!(
        "{SECRET_PREFIX}{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    );
    let client = ClientSettings {
        id,
        team: team.to_owned(),
        secret_sha256: sha256_hex(&secret),
    };
    (client, secret)
}

/// The entry for `auth.clients` or a clients file: one YAML line, values quoted.
pub fn entry(c: &ClientSettings) -> String {
    format!(
        "- {{id: \"{}\", team: \"{}\", secret_sha256: \"{}\"}}",
        c.id, c.team, c.secret_sha256
    )
}

/// What `reportgate client create` prints: the secret once, and where the entry goes.
pub fn instructions(c: &ClientSettings, secret: &str) -> String {
    let entry = entry(c);
    format!(
        r#"Gateway client for team "{team}". The secret is shown only now: give it to the
team (the SDKs read SAIL_BASE_URL, SAIL_CLIENT_ID and SAIL_CLIENT_SECRET).

  SAIL_CLIENT_ID={id}
  SAIL_CLIENT_SECRET={secret}

Add this entry to auth.clients in the gateway's configuration:

  auth:
    clients:
      {entry}

or, with the Helm chart, to the clients.yaml key of the Secret named by auth.clientsSecret
(one entry per line, the file is the list):

  echo '{entry}' >> clients.yaml
  kubectl create secret generic reportgate-clients --from-file=clients.yaml     --dry-run=client -o yaml | kubectl apply -f -"#,
        team = c.team,
        id = c.id,
    )
}

/// Reads `auth.clients_file`: the same list as `auth.clients`, in YAML.
pub fn read_file(key: &str, path: &Path) -> Result<Vec<ClientSettings>, Problem> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| problem(key, format!("cannot read {}: {e}", path.display())))?;
    if text.trim().is_empty() {
        return Ok(vec![]);
    }
    parse_list(&text).map_err(|e| {
        problem(
            key,
            format!("{} is not a list of clients: {e}", path.display()),
        )
    })
}

/// The YAML list, through the `config` crate already used for settings (no second YAML parser).
fn parse_list(text: &str) -> Result<Vec<ClientSettings>, String> {
    #[derive(Deserialize)]
    struct Wrapper {
        clients: Vec<ClientSettings>,
    }
    let wrapped = format!("clients:\n{}", indent(text));
    let raw = config::Config::builder()
        .add_source(config::File::from_str(&wrapped, config::FileFormat::Yaml))
        .build()
        .map_err(|e| e.to_string())?;
    raw.try_deserialize::<Wrapper>()
        .map(|w| w.clients)
        .map_err(|e| e.to_string())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

pub fn validate(clients: &[ClientSettings], problems: &mut Vec<Problem>) {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in clients.iter().enumerate() {
        let key = |k: &str| format!("auth.clients[{i}].{k}");
        if c.id.trim().is_empty()
            || c.id.len() > 128
            || c.id.chars().any(|ch| ch.is_control() || ch.is_whitespace())
        {
            problems.push(problem(key("id"), "must be 1-128 printable characters"));
        }
        if !seen.insert(c.id.as_str()) {
            problems.push(problem(key("id"), format!("{} appears twice", c.id)));
        }
        if c.team.trim().is_empty() {
            problems.push(problem(key("team"), "is required"));
        }
        if c.secret_sha256.len() != 64 || !c.secret_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            problems.push(problem(
                key("secret_sha256"),
                "must be 64 hex digits (reportgate client create prints it)",
            ));
        }
    }
}

/// The clients, by id.
pub struct Clients {
    by_id: HashMap<String, ClientSettings>,
}

/// A hash no secret has (an unknown id is compared against it, for equal timing).
const NO_CLIENT: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl Clients {
    pub fn new(clients: &[ClientSettings]) -> Self {
        let by_id = clients
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c.secret_sha256.make_ascii_lowercase();
                (c.id.clone(), c)
            })
            .collect();
        Self { by_id }
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The client's team when `secret` is its secret.
    pub fn verify(&self, id: &str, secret: &str) -> Option<&str> {
        let client = self.by_id.get(id);
        let expected = client.map_or(NO_CLIENT, |c| c.secret_sha256.as_str());
        let matches: bool = sha256_hex(secret)
            .as_bytes()
            .ct_eq(expected.as_bytes())
            .into();
        client.filter(|_| matches).map(|c| c.team.as_str())
    }

    /// The team of a known client id (for audit records of failed attempts).
    pub fn team_of(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|c| c.team.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_client_verifies_with_its_secret_only() {
        let (c, secret) = create("team-a");
        assert!(c.id.starts_with("rgc_") && secret.starts_with("rgs_"));
        assert_eq!(secret.len(), 4 + 64);
        let clients = Clients::new(std::slice::from_ref(&c));
        assert_eq!(clients.verify(&c.id, &secret), Some("team-a"));
        assert_eq!(clients.verify(&c.id, "rgs_wrong"), None);
        assert_eq!(clients.verify("rgc_unknown", &secret), None);
        let mut problems = vec![];
        validate(&[c], &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_clients_file_is_the_same_yaml_list() {
        let path = std::env::temp_dir().join(format!("rg-clients-{}.yaml", std::process::id()));
        let (c, _) = create("team-b");
        // What `reportgate client create` tells operators to append.
        std::fs::write(&path, entry(&c) + "\n").unwrap();
        assert_eq!(read_file("k", &path).unwrap(), vec![c]);
        std::fs::remove_file(path).ok();
    }
}
