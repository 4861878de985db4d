//! `reportgate sandbox`: the simulator and the gateway in one process on loopback,
//! configured for each other, with ready-to-paste curl lines.
use crate::auth::mint::mint;
use crate::auth::settings::{IssuerSettings, NamedTeamPolicy, TeamPolicy};
use crate::clock::Clock;
use crate::config::Settings;
use crate::secret::Secret;
use crate::simulator::{Simulator, SimulatorHandle};
use crate::startup::Application;
use crate::telemetry::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

pub struct Sandbox {
    pub gateway: Application,
    pub simulator: SimulatorHandle,
    pub settings: Settings,
    /// A token for the demo caller, whose team may do everything.
    pub token: String,
    /// Gateway client credentials of the demo team (for SDKs: SAIL_CLIENT_ID/SECRET).
    pub client_id: String,
    pub client_secret: String,
}

fn random_secret() -> Secret {
    Secret::new(format!(
        "{:032x}{:032x}",
        rand::random::<u128>(),
        rand::random::<u128>()
    ))
}

impl Sandbox {
    pub fn start(listen: SocketAddr, admin_listen: SocketAddr) -> anyhow::Result<Self> {
        let secret = format!("{:032x}", rand::random::<u128>());
        let simulator = Simulator::builder()
            .credentials("sandbox-client", &secret)
            .start()?;
        let mut settings = Settings::defaults();
        settings.server.listen = listen.to_string();
        settings.server.workers = 2;
        settings.tenant.base_url = simulator.base_url();
        settings.tenant.client_id = "sandbox-client".into();
        settings.tenant.client_secret = Some(Secret::new(secret));
        settings.log.format = LogFormat::Pretty;
        settings.admin.listen = Some(admin_listen.to_string());
        settings.auth.issuers = vec![IssuerSettings::hmac(
            "reportgate-sandbox",
            "reportgate",
            random_secret(),
        )];
        settings.auth.id_signing_key = Some(random_secret());
        let (client, client_secret) = crate::auth::clients::create("demo");
        settings.auth.clients = vec![client.clone()];
        settings.policy.teams = vec![NamedTeamPolicy {
            team: "demo".into(),
            policy: TeamPolicy::allow_all(),
        }];
        let token = mint(
            &settings.auth,
            "demo-user",
            Some("demo"),
            Duration::from_secs(12 * 3600),
        )
        .map_err(anyhow::Error::msg)?;
        if let Err(problems) = settings.validate() {
            anyhow::bail!("sandbox settings are invalid: {problems:?}");
        }
        let gateway = Application::build(&settings, Clock::default())?;
        Ok(Self {
            gateway,
            simulator,
            settings,
            token,
            client_id: client.id,
            client_secret,
        })
    }

    /// What a newcomer reads first.
    pub fn banner(&self) -> String {
        let host = self
            .settings
            .server
            .listen
            .parse::<SocketAddr>()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let gw = format!("http://{host}:{}", self.gateway.port());
        format!(
            r#"reportgate sandbox
  gateway            {gw}   (callers need a bearer token: the demo one below, team "demo", may do everything)
  IdentityNow sim    {sim}   (client id sandbox-client; reports finish after {secs} s)
  OpenAPI            {gw}/openapi.json
  metrics, health    http://{host}:{admin}/metrics  /healthz  /readyz

Try it (bash):
  export TOKEN={token}
  # SailPoint SDK scripts run unchanged with these (they fetch their token from the gateway)
  export SAIL_BASE_URL={gw} SAIL_CLIENT_ID={client_id} SAIL_CLIENT_SECRET={client_secret}
  # run an account export; the gateway answers 202 with the report and its id
  ID=$(curl -s -X POST {gw}/v1/reports -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d '{{"type":"ACCOUNTS","arguments":{{"application":"2c9180835d2e5168015d32f890ca1581","sourceName":"Active Directory"}}}}' \
        | sed -E 's/.*"id":"([^"]+)".*/\1/'); echo "$ID"
  # poll until status is SUCCESS
  curl -s -H "Authorization: Bearer $TOKEN" {gw}/v1/reports/$ID
  # download the CSV (saved under the name the gateway gives)
  curl -s -OJ -H "Authorization: Bearer $TOKEN" "{gw}/v1/reports/$ID/file?format=csv"
  # cancel (204; a finished report stays finished)
  curl -s -i -X POST -H "Authorization: Bearer $TOKEN" {gw}/v1/reports/$ID/cancel
"#,
            sim = self.simulator.base_url(),
            secs = self.simulator.config().report_duration.as_secs(),
            token = self.token,
            client_id = self.client_id,
            client_secret = self.client_secret,
            admin = self.gateway.admin_port().unwrap_or(0),
        )
    }
}
