//! Download names: upstream's extension kept, non-ASCII names in RFC 6266 form with an
//! ASCII fallback the SDKs can read.
use crate::helpers::spawn_app;

#[actix_rt::test]
async fn a_non_ascii_file_name_arrives_in_rfc_6266_form_with_a_quoted_ascii_fallback() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    let expected =
        "attachment; filename=\"Identit_ten.csv\"; filename*=UTF-8''Identit%C3%A4ten.csv";
    for path in [
        format!("/v1/reports/{id}/file?format=csv&name=Identit%C3%A4ten"),
        format!("/v3/reports/{id}?fileFormat=csv&name=Identit%C3%A4ten"),
    ] {
        let r = app.request("GET", &path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(r.header("content-disposition").unwrap(), expected, "{path}");
    }
}

#[actix_rt::test]
async fn a_chosen_name_with_its_own_extension_keeps_it() {
    let app = spawn_app().await;
    let id = app.run_accounts().await;
    let r = app
        .request(
            "GET",
            &format!("/reports/v1/{id}?fileFormat=csv&name=Export.zip"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-disposition").unwrap(),
        "attachment; filename=\"Export.zip\""
    );
}

#[actix_rt::test]
async fn sdk_path_downloads_ask_upstream_to_audit_them_whenever_upstream_auditable_is_on() {
    // Arrange: audit.upstream_auditable is on by default; distinct reports, so no download
    // is served from the cache.
    let app = spawn_app().await;
    assert!(app.settings.audit.upstream_auditable);

    // Act: SDK downloads that do not ask, and one that asks not to be audited.
    for (prefix, query) in [
        ("/v3/reports", "fileFormat=csv"),
        ("/reports/v1", "fileFormat=csv"),
        ("/v3/reports", "fileFormat=csv&auditable=false"),
    ] {
        let id = app.run_accounts().await;
        let r = app
            .request("GET", &format!("{prefix}/{id}?{query}"), None)
            .await;
        assert_eq!(r.status, 200, "{prefix}?{query}: {}", r.text());
    }

    // Assert: IdentityNow was asked to audit every one of them.
    let c = app.sim.counters();
    assert_eq!((c.file, c.auditable_files), (3, 3));
}
