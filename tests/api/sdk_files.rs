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
