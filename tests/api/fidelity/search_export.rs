//! Item 3: a SEARCH_EXPORT file is a zip of CSV files upstream. The simulator serves a real
//! one (read back by Python's `zipfile`, an independent reader); the gateway passes it on
//! under upstream's type and `.zip` name, from its cache or streamed.
use crate::helpers::{sim_token_response, spawn_with};
use reportgate::simulator::Simulator;
use std::time::Duration;

const SEARCH: &str =
    r#"{"type":"SEARCH_EXPORT","arguments":{"query":"name:a*","indices":["roles","identities"]}}"#;

/// Python's `zipfile` verdict on an archive: each entry's `name size`, after checking every
/// CRC (`testzip`) and that each CSV starts with its header.
fn python_lists(zip: &[u8]) -> Vec<String> {
    let path = std::env::temp_dir().join(format!("rg-zip-{}.zip", crate::helpers::unknown_id()));
    std::fs::write(&path, zip).unwrap();
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sys, zipfile\n\
             z = zipfile.ZipFile(sys.argv[1])\n\
             assert z.testzip() is None, 'bad CRC'\n\
             for i in z.infolist():\n\
             \x20   assert z.read(i).startswith(b'id,displayName'), i.filename\n\
             \x20   print(i.filename, i.file_size)\n",
        )
        .arg(&path)
        .output()
        .expect("python3 runs");
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[actix_rt::test]
async fn the_simulator_serves_a_search_export_as_a_zip_of_one_csv_per_index() {
    let sim = Simulator::builder()
        .report_duration(Duration::ZERO)
        .start()
        .unwrap();
    let token = sim_token_response(&sim).await;
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    let http = awc::Client::default();
    let mut run = http
        .post(format!("{}/v3/reports/run", sim.base_url()))
        .insert_header(("authorization", bearer.as_str()))
        .send_body(SEARCH.replace("\"type\"", "\"reportType\""))
        .await
        .unwrap();
    let task: serde_json::Value = run.json().await.unwrap();
    let id = task["id"].as_str().unwrap();
    let mut result = http
        .get(format!("{}/v3/reports/{id}/result", sim.base_url()))
        .insert_header(("authorization", bearer.as_str()))
        .send()
        .await
        .unwrap();
    let result: serde_json::Value = result.json().await.unwrap();
    assert_eq!(result["availableFormats"], serde_json::json!(["CSV"]));
    // The SDKs ask with fileFormat=csv and Accept: application/csv.
    let mut file = http
        .get(format!("{}/v3/reports/{id}?fileFormat=csv", sim.base_url()))
        .insert_header(("authorization", bearer.as_str()))
        .insert_header(("accept", "application/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    let headers = file.headers().clone();
    let header = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(header("content-type"), "application/zip");
    assert_eq!(
        header("content-disposition"),
        "attachment;filename=\"Search Export.zip\""
    );
    let body = file.body().await.unwrap();
    assert_eq!(header("content-length"), body.len().to_string());
    let csv = 34 + 193 * 128;
    assert_eq!(
        python_lists(&body),
        [format!("identities.csv {csv}"), format!("roles.csv {csv}")]
    );
}

#[actix_rt::test]
async fn the_gateway_passes_a_search_export_on_as_a_zip_named_by_upstream_cached_or_streamed() {
    // 193 rows: a small file, served from the gateway's file cache. 40,000 rows per CSV
    // (about 5 MB each, 30 MB for the six indices a "*" query searches) is over
    // file_max_bytes: streamed.
    for (rows, indices, entries) in [
        (193u64, r#"["roles","identities"]"#, 2usize),
        (40_000, r#"["*"]"#, 6),
    ] {
        let app = spawn_with(
            Simulator::builder()
                .report_duration(Duration::ZERO)
                .csv_rows(rows),
            |_| {},
        )
        .await;
        let body = format!(
            r#"{{"type":"SEARCH_EXPORT","arguments":{{"query":"*","indices":{indices}}}}}"#
        );
        let r = app.run(&body).await;
        assert_eq!(r.status, 202, "{}", r.text());
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let status = app.status(&id).await.json();
        assert_eq!(status["availableFormats"], serde_json::json!(["csv"]));
        for path in [
            format!("/v1/reports/{id}/file"),
            format!("/v3/reports/{id}?fileFormat=csv"),
            format!("/reports/v1/{id}?fileFormat=csv"),
        ] {
            let r = app.request("GET", &path, None).await;
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            assert_eq!(
                r.header("content-type").unwrap(),
                "application/zip",
                "{path}"
            );
            assert_eq!(
                r.header("content-disposition").unwrap(),
                "attachment; filename=\"Search Export.zip\"",
                "{path}"
            );
            assert_eq!(python_lists(&r.body).len(), entries, "{path}");
        }
        // A name the caller picks keeps upstream's extension.
        let r = app
            .request(
                "GET",
                &format!("/v1/reports/{id}/file?name=quarterly"),
                None,
            )
            .await;
        assert_eq!(
            r.header("content-disposition").unwrap(),
            "attachment; filename=\"quarterly.zip\""
        );
    }
}
