//! The fixture upstream: serves files from memory under their proxy paths,
//! counts requests per path, and injects faults on demand.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use modvault::module::encode_element;
use tokio::sync::oneshot;

use super::modules::Module;
use modvault::verify::testing::TestSumdb;

/// A fault to apply to one path.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Respond with this status and a short body.
    Status(u16),
    /// Send the headers and the first part of the body, then nothing.
    Stall,
    /// Send part of the body, then close the connection.
    Truncate,
    /// Wait this long, then respond normally.
    Delay(Duration),
    /// Send the body gzip-compressed with `Content-Encoding: gzip`.
    Gzip,
    /// Redirect (302) to another path on this fixture.
    Redirect(String),
}

#[derive(Default)]
struct State {
    sumdb: Mutex<Option<Arc<Mutex<TestSumdb>>>>,
    files: Mutex<HashMap<String, Bytes>>,
    faults: Mutex<HashMap<String, Fault>>,
    counts: Mutex<HashMap<String, usize>>,
    authorization: Mutex<Vec<String>>,
}

pub struct Fixture {
    pub addr: SocketAddr,
    pub base: String,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
}

impl Fixture {
    pub async fn start() -> Fixture {
        let state = Arc::new(State::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(serve).with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Fixture {
            addr,
            base: format!("http://{addr}"),
            state,
            stop: Some(stop),
        }
    }

    /// Stops accepting connections; later requests to it fail to connect.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub fn put(&self, path: &str, body: impl Into<Bytes>) {
        self.state
            .files
            .lock()
            .unwrap()
            .insert(path.trim_start_matches('/').to_string(), body.into());
    }

    pub fn remove(&self, path: &str) {
        self.state.files.lock().unwrap().remove(path.trim_start_matches('/'));
    }

    /// Serves the module's .info, .mod and .zip and adds it to the list.
    pub fn add(&self, module: &Module) {
        let base = format!(
            "{}/@v/{}",
            encode_element(&module.path),
            encode_element(&module.version)
        );
        self.put(&format!("{base}.info"), module.info());
        self.put(&format!("{base}.mod"), module.mod_file());
        self.put(&format!("{base}.zip"), module.zip());

        let list_path = format!("{}/@v/list", encode_element(&module.path));
        let mut files = self.state.files.lock().unwrap();
        let mut list = files
            .get(&list_path)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        list.push_str(&module.version);
        list.push('\n');
        files.insert(list_path, Bytes::from(list));
    }

    /// Serves `db` under `/sumdb/<name>/`, as a proxy that supports it.
    pub fn serve_sumdb(&self, db: Arc<Mutex<TestSumdb>>) {
        *self.state.sumdb.lock().unwrap() = Some(db);
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.state
            .faults
            .lock()
            .unwrap()
            .insert(path.trim_start_matches('/').to_string(), fault);
    }

    pub fn clear_fault(&self, path: &str) {
        self.state.faults.lock().unwrap().remove(path.trim_start_matches('/'));
    }

    /// Requests received for `path` so far.
    pub fn count(&self, path: &str) -> usize {
        self.state
            .counts
            .lock()
            .unwrap()
            .get(path.trim_start_matches('/'))
            .copied()
            .unwrap_or(0)
    }

    pub fn total_count(&self) -> usize {
        self.state.counts.lock().unwrap().values().sum()
    }

    /// Authorization headers received, in order.
    pub fn authorization_seen(&self) -> Vec<String> {
        self.state.authorization.lock().unwrap().clone()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().trim_start_matches('/').to_string();
    *state.counts.lock().unwrap().entry(path.clone()).or_default() += 1;
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        state.authorization.lock().unwrap().push(auth.to_string());
    }

    let sumdb = state.sumdb.lock().unwrap().clone();
    if let (Some(db), Some(rest)) = (sumdb, path.strip_prefix("sumdb/")) {
        let db = db.lock().unwrap();
        let answer = rest
            .strip_prefix(db.name())
            .and_then(|r| r.strip_prefix('/'))
            .and_then(|r| {
                if r == "supported" {
                    Some(Vec::new())
                } else {
                    db.serve(r)
                }
            });
        return match answer {
            Some(body) => (StatusCode::OK, body).into_response(),
            None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        };
    }
    let fault = state.faults.lock().unwrap().get(&path).cloned();
    let body = state.files.lock().unwrap().get(&path).cloned();
    if let Some(Fault::Delay(pause)) = fault {
        tokio::time::sleep(pause).await;
    }
    if let Some(Fault::Redirect(to)) = &fault {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, format!("/{}", to.trim_start_matches('/')))],
        )
            .into_response();
    }
    let Some(body) = body else {
        return (StatusCode::NOT_FOUND, "not found: no such fixture file\n").into_response();
    };

    match fault {
        Some(Fault::Status(code)) => (StatusCode::from_u16(code).unwrap(), "fixture fault\n").into_response(),
        Some(Fault::Stall) => partial_body(body, false),
        Some(Fault::Truncate) => partial_body(body, true),
        Some(Fault::Gzip) => {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut encoder, &body).unwrap();
            let compressed = encoder.finish().unwrap();
            (StatusCode::OK, [(header::CONTENT_ENCODING, "gzip")], compressed).into_response()
        }
        _ => (StatusCode::OK, body).into_response(),
    }
}

/// Declares the full length, sends half, then stalls or breaks off.
fn partial_body(body: Bytes, break_off: bool) -> Response {
    let half = body.slice(..body.len() / 2);
    let first = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(half) });
    let rest: futures::stream::BoxStream<'static, Result<Bytes, std::io::Error>> = if break_off {
        Box::pin(futures::stream::once(async {
            Err(std::io::Error::other("fixture breaks off the body"))
        }))
    } else {
        Box::pin(futures::stream::pending())
    };
    let stream = futures::StreamExt::chain(first, rest);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from_stream(stream))
        .unwrap()
}
