use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use policy::Purpose;
use serde_json::{Value, json};

use super::*;
use crate::identity::FieldName;

fn token() -> PatientToken {
    PatientToken::from_random(*b"foobarfoobarfoob")
}

fn service() -> Credential {
    Credential::Service {
        domain: "clinic-app".parse().unwrap(),
        secret: "s3cr3t.with.dots".into(),
    }
}

fn client(base: &str) -> VaultClient {
    VaultClient::new(base, service()).unwrap()
}

fn body_json(r: &reqwest::Request) -> Value {
    serde_json::from_slice(r.body().unwrap().as_bytes().unwrap()).unwrap()
}

#[test]
fn service_credential_is_sent_as_bearer_svc_domain_secret() {
    let c = client("http://vault.internal:8200");
    let r = c.request(Method::GET, &["v1", "x"], None::<&()>).unwrap();
    let auth = r.headers().get(AUTHORIZATION).unwrap();
    assert_eq!(
        auth.to_str().unwrap(),
        "Bearer svc.clinic-app.s3cr3t.with.dots"
    );
    assert!(auth.is_sensitive());
    assert_eq!(r.headers().get(ACCEPT).unwrap(), "application/json");
    assert!(r.body().is_none() && r.headers().get(CONTENT_TYPE).is_none());

    let staff = VaultClient::new("http://v", Credential::Session("sess-abc".into())).unwrap();
    let r = staff.request(Method::GET, &["v1"], None::<&()>).unwrap();
    assert_eq!(r.headers()[AUTHORIZATION], "Bearer sess-abc");
}

#[test]
fn bad_configuration_is_refused_up_front() {
    for base in ["", "vault:8200", "ftp://vault", "mailto:a@b.ru"] {
        let err = VaultClient::new(base, service()).unwrap_err();
        assert!(matches!(err, ClientError::Config(_)), "{base}: {err}");
    }
    for cred in [
        Credential::Session(String::new()),
        Credential::Session("two words".into()),
        Credential::Session("сессия".into()),
        Credential::Service {
            domain: "clinic-app".parse().unwrap(),
            secret: String::new(),
        },
        Credential::Service {
            domain: "clinic-app".parse().unwrap(),
            secret: "a\nb".into(),
        },
    ] {
        assert!(matches!(
            VaultClient::new("http://v", cred),
            Err(ClientError::Config(_))
        ));
    }
}

#[test]
fn credentials_and_clients_never_show_secrets_in_debug() {
    let dbg = format!("{:?}", service());
    assert!(
        dbg.contains("clinic-app") && !dbg.contains("s3cr3t"),
        "{dbg}"
    );
    assert!(!format!("{:?}", Credential::Session("sess-abc".into())).contains("sess-abc"));
    assert!(!format!("{:?}", client("http://v")).contains("s3cr3t"));
}

#[test]
fn paths_follow_the_base_url_and_encode_segments() {
    let c = client("http://vault.internal:8200/api/");
    let r = c
        .request(Method::POST, &["v1", "patients"], Some(&json!({})))
        .unwrap();
    assert_eq!(
        r.url().as_str(),
        "http://vault.internal:8200/api/v1/patients"
    );
    let c = client("http://vault.internal:8200");
    let r = c
        .request(
            Method::DELETE,
            &[
                "v1",
                "care-relationships",
                "dr.petrov@clinic",
                token().as_str(),
            ],
            None::<&()>,
        )
        .unwrap();
    assert_eq!(
        r.url().as_str(),
        "http://vault.internal:8200/v1/care-relationships/dr.petrov@clinic/pt_mzxw6ytbojtg633cmfzgm33pmi"
    );
    let r = c.request(Method::GET, &["v1", "a b"], None::<&()>).unwrap();
    assert_eq!(r.url().path(), "/v1/a%20b");
}

#[test]
fn request_bodies_are_the_json_of_the_wire_types() {
    let c = client("http://v");
    let req =
        ResolveRequest::new(vec![token()], vec![FieldName::Surname], Purpose::Reminder).unwrap();
    let r = c
        .request(Method::POST, &["v1", "resolve"], Some(&req))
        .unwrap();
    assert_eq!(r.method(), Method::POST);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(
        body_json(&r),
        json!({"tokens": [token().to_string()], "fields": ["surname"], "purpose": "reminder"})
    );

    let update = UpdatePatientRequest {
        email: Some("a@b.ru".parse().unwrap()),
        ..Default::default()
    };
    let r = c
        .request(
            Method::PATCH,
            &["v1", "patients", token().as_str()],
            Some(&update),
        )
        .unwrap();
    assert_eq!(r.url().path(), "/v1/patients/pt_mzxw6ytbojtg633cmfzgm33pmi");
    assert_eq!(body_json(&r), json!({"email": "a@b.ru"}));
}

#[test]
fn answers_map_to_types_and_errors() {
    let ok: SearchPatientsResponse = decode_response(
        200,
        format!(r#"{{"tokens":["{}"],"new_field":1}}"#, token()).as_bytes(),
    )
    .unwrap();
    assert_eq!(ok.tokens, [token()]);

    let err = decode_response::<SearchPatientsResponse>(
        400,
        br#"{"code":"invalid_field","message":"invalid SNILS: the check number does not match","field":"snils"}"#,
    )
    .unwrap_err();
    let ClientError::Api { status: 400, error } = err else {
        panic!("{err}")
    };
    assert_eq!(
        (error.code.as_str(), error.field.as_deref()),
        ("invalid_field", Some("snils"))
    );

    let err = decode_response::<SearchPatientsResponse>(
        503,
        br#"{"code":"audit_unavailable","message":"try later"}"#,
    )
    .unwrap_err();
    assert!(matches!(err, ClientError::Api { status: 503, .. }), "{err}");
    for (status, body) in [
        (503, &b""[..]),
        (502, &b"<html>Bad Gateway</html>"[..]),
        (500, &b"{}"[..]),
    ] {
        let err = decode_response::<SearchPatientsResponse>(status, body).unwrap_err();
        assert!(
            matches!(err, ClientError::Unavailable(_)),
            "{status}: {err}"
        );
    }
    let err = decode_response::<SearchPatientsResponse>(404, b"Not Found").unwrap_err();
    let ClientError::Api { status: 404, error } = err else {
        panic!("{err}")
    };
    assert_eq!(error.code, "unexpected_status");

    assert!(check_status(204, b"").is_ok());
}

#[test]
fn undecodable_answers_do_not_echo_the_body() {
    let err = decode_response::<SearchPatientsResponse>(200, br#"{"tokens":["Ivanova Maria"]}"#)
        .unwrap_err();
    let ClientError::Decode(msg) = &err else {
        panic!("{err}")
    };
    assert!(!msg.contains("Ivanova"), "{msg}");
    assert!(msg.contains("line 1"), "{msg}");
}

/// Serves one connection on 127.0.0.1, answering `status` with `body` (as JSON when it is
/// non-empty), and hands back the raw request it read.
fn one_shot(status: &str, body: &str) -> (String, JoinHandle<String>) {
    let content_type = if body.is_empty() {
        ""
    } else {
        "content-type: application/json\r\n"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\n{content_type}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = conn.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len || n == 0 {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        conn.write_all(response.as_bytes()).unwrap();
        String::from_utf8(buf).unwrap()
    });
    (base, handle)
}

#[tokio::test]
async fn a_call_sends_method_path_headers_and_body_and_decodes_the_answer() {
    let (base, server) = one_shot(
        "201 Created",
        r#"{"token":"pt_mzxw6ytbojtg633cmfzgm33pmi"}"#,
    );
    let identity = serde_json::from_value(json!({
        "surname": "Иванова", "name": "Мария", "birth_date": "1984-02-29", "sex": "female"
    }))
    .unwrap();
    let resp = client(&base)
        .register_patient(&RegisterPatientRequest { identity })
        .await
        .unwrap();
    assert_eq!(resp.token, token());
    let raw = server.join().unwrap();
    assert!(raw.starts_with("POST /v1/patients HTTP/1.1\r\n"), "{raw}");
    let lower = raw.to_ascii_lowercase();
    assert!(lower.contains("authorization: bearer svc.clinic-app.s3cr3t.with.dots\r\n"));
    assert!(lower.contains("content-type: application/json\r\n"));
    let body = &raw[raw.find("\r\n\r\n").unwrap() + 4..];
    assert_eq!(
        serde_json::from_str::<Value>(body).unwrap(),
        json!({"identity": {"surname": "Иванова", "name": "Мария", "birth_date": "1984-02-29", "sex": "female", "phones": []}})
    );
}

#[tokio::test]
async fn delete_and_health_calls_accept_empty_2xx_and_health_sends_no_credential() {
    let (base, server) = one_shot("204 No Content", "");
    client(&base)
        .end_care_relationship("dr-petrov", &token())
        .await
        .unwrap();
    let raw = server.join().unwrap();
    assert!(
        raw.starts_with(
            "DELETE /v1/care-relationships/dr-petrov/pt_mzxw6ytbojtg633cmfzgm33pmi HTTP/1.1"
        ),
        "{raw}"
    );

    let (base, server) = one_shot("200 OK", "ok");
    client(&base).healthz().await.unwrap();
    let raw = server.join().unwrap();
    assert!(raw.starts_with("GET /healthz HTTP/1.1"), "{raw}");
    assert!(!raw.to_ascii_lowercase().contains("authorization"), "{raw}");

    let err = client("http://v")
        .end_care_relationship("dr/../x", &token())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Config(_)), "{err}");
}

#[tokio::test]
async fn an_api_error_body_is_returned_with_its_status() {
    let (base, server) = one_shot(
        "403 Forbidden",
        r#"{"code":"forbidden","message":"no care relationship"}"#,
    );
    let req = SearchPatientsRequest::from(crate::api::SearchCriterion::Phone(
        "+79123456789".parse().unwrap(),
    ));
    let err = client(&base).search_patients(&req).await.unwrap_err();
    server.join().unwrap();
    let ClientError::Api { status, error } = err else {
        panic!("{err}")
    };
    assert_eq!((status, error.code.as_str()), (403, "forbidden"));
}

#[tokio::test]
async fn refused_connections_and_timeouts_are_unavailable_without_the_url() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = client(&format!("http://{addr}"))
        .update_patient(&token(), &UpdatePatientRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Unavailable(_)), "{err}");
    assert!(
        !err.to_string().contains("pt_"),
        "the token is in the URL: {err}"
    );

    // Accepts, then says nothing for longer than the client waits.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let silent = std::thread::spawn(move || {
        let conn = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        drop(conn);
    });
    let c = VaultClient::with_timeout(&base, service(), Duration::from_millis(200)).unwrap();
    let started = std::time::Instant::now();
    let err = c
        .update_patient(&token(), &UpdatePatientRequest::default())
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the timeout held"
    );
    assert!(matches!(err, ClientError::Unavailable(_)), "{err}");
    assert!(!err.to_string().contains("pt_"), "{err}");
    silent.join().unwrap();
}
