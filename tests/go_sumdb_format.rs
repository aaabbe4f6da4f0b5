//! End-to-end check that the checksum database and module zip formats are
//! Go's: a loopback HTTP server serves a GOPROXY layout for one module plus a
//! `TestSumdb` under `/sumdb/<name>/`, and the real `go` command downloads the
//! module through it. It must accept the honest server, and reject a tampered
//! zip and a forked database.
//!
//! Needs `go` on PATH (1.21 or newer); without it the test prints a warning
//! and passes.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use modvault::verify::dirhash::hash_go_mod;
use modvault::verify::testing::TestSumdb;
use modvault::verify::zipbuild::{create_zip, SourceFile};
use modvault::verify::zipcheck::check_and_hash_zip;

const MODULE: &str = "example.com/hello";
const VERSION: &str = "v1.0.0";
const GO_MOD: &[u8] = b"module example.com/hello\n\ngo 1.21\n";
const DB_NAME: &str = "sum.modvault.test";
const GO_TIMEOUT: Duration = Duration::from_secs(60);

/// The content the loopback server serves.
struct Site {
    db: Mutex<TestSumdb>,
    /// A fork that, when set, serves lookups. Tiles then come from `db` when it
    /// has them and from the fork otherwise, so each client sees the history it
    /// expects.
    fork: Mutex<Option<TestSumdb>>,
    /// GOPROXY paths (`example.com/hello/@v/v1.0.0.zip`) and their bodies.
    files: Mutex<HashMap<String, Vec<u8>>>,
}

impl Site {
    fn respond(&self, path: &str) -> Option<Vec<u8>> {
        let path = path.strip_prefix('/')?;
        if let Some(rest) = path.strip_prefix(&format!("sumdb/{DB_NAME}/")) {
            if rest == "supported" {
                return Some(Vec::new());
            }
            let fork = self.fork.lock().unwrap();
            let Some(fork) = fork.as_ref() else {
                return self.db.lock().unwrap().serve(rest);
            };
            if rest.starts_with("tile/") {
                return self.db.lock().unwrap().serve(rest).or_else(|| fork.serve(rest));
            }
            return fork.serve(rest);
        }
        self.files.lock().unwrap().get(path).cloned()
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1, one thread per connection.
struct LoopbackServer {
    address: String,
    stop: Arc<AtomicBool>,
    accept_thread: Option<thread::JoinHandle<()>>,
}

impl LoopbackServer {
    fn start(site: Arc<Site>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let accept_thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_flag.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let site = site.clone();
                thread::spawn(move || serve_connection(stream, &site));
            }
        });
        Self {
            address,
            stop,
            accept_thread: Some(accept_thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it reads the flag.
        let _ = TcpStream::connect(&self.address);
        if let Some(handle) = self.accept_thread.take() {
            let _ = handle.join();
        }
    }
}

fn serve_connection(stream: TcpStream, site: &Site) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        // Skip the headers; requests from the go command have no body.
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                break;
            }
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (status, body) = match site.respond(path) {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", format!("not found: {path}\n").into_bytes()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let mut response = head.into_bytes();
        if method != "HEAD" {
            response.extend_from_slice(&body);
        }
        if writer.write_all(&response).is_err() {
            return;
        }
    }
}

fn build_zip(hello_go: &[u8]) -> Vec<u8> {
    let files = [
        SourceFile::from_bytes("go.mod", GO_MOD),
        SourceFile::from_bytes("hello.go", hello_go),
    ];
    let mut out = Cursor::new(Vec::new());
    create_zip(&mut out, MODULE, VERSION, &files).unwrap();
    out.into_inner()
}

fn zip_h1(zip: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.zip");
    std::fs::write(&path, zip).unwrap();
    check_and_hash_zip(&path, MODULE, VERSION).unwrap().h1
}

/// Adds `count` filler records so that the module's record sits past a full
/// tile and the go command needs full, partial and level-1 tiles.
fn add_fillers(db: &mut TestSumdb, prefix: &str, count: usize) {
    for i in 0..count {
        db.add(
            &format!("example.com/{prefix}{i}"),
            "v1.0.0",
            "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            "h1:G7mAYYxgmS0lVkHyy2hEOLQCFB0DlQFTMLWggykrydY=",
        );
    }
}

fn proxy_files(zip: Vec<u8>) -> HashMap<String, Vec<u8>> {
    let base = format!("{MODULE}/@v");
    HashMap::from([
        (format!("{base}/list"), format!("{VERSION}\n").into_bytes()),
        (
            format!("{base}/{VERSION}.info"),
            format!("{{\"Version\":\"{VERSION}\",\"Time\":\"2024-01-02T03:04:05Z\"}}").into_bytes(),
        ),
        (format!("{base}/{VERSION}.mod"), GO_MOD.to_vec()),
        (format!("{base}/{VERSION}.zip"), zip),
    ])
}

struct GoRun {
    success: bool,
    stdout: String,
    stderr: String,
}

impl GoRun {
    /// Both streams: with -json, go reports download errors in stdout.
    fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `go mod download -json MODULE@VERSION` against `proxy_url`. GOPATH
/// (where go stores the trusted tree) and GOMODCACHE are set by the caller.
fn go_mod_download(proxy_url: &str, verifier_key: &str, gopath: &Path, modcache: &Path, work: &Path) -> GoRun {
    let mut child = Command::new("go")
        .args(["mod", "download", "-json", &format!("{MODULE}@{VERSION}")])
        .current_dir(work)
        .env("GOPROXY", proxy_url)
        .env("GOSUMDB", verifier_key)
        .env("GOFLAGS", "-mod=mod -modcacherw")
        .env("GOPATH", gopath)
        .env("GOMODCACHE", modcache)
        .env("GOCACHE", work.join("gocache"))
        .env("GONOSUMDB", "")
        .env("GONOPROXY", "")
        .env("GOPRIVATE", "")
        .env("GOINSECURE", "")
        .env("GOTOOLCHAIN", "local")
        .env("GO111MODULE", "on")
        .env("GOENV", "off")
        .env("GOWORK", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("go starts");
    let deadline = Instant::now() + GO_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("go mod download did not finish within {GO_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    GoRun {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn go_available() -> bool {
    let found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        eprintln!("!!! `go` is not on PATH: the end-to-end checksum database format test did NOT run.");
    }
    found
}

#[test]
fn go_command_accepts_test_sumdb_and_rejects_tampering() {
    if !go_available() {
        return;
    }
    let zip = build_zip(b"package hello\n");
    let zip_hash = zip_h1(&zip);
    let mod_hash = hash_go_mod(GO_MOD);

    let mut db = TestSumdb::new(DB_NAME);
    add_fillers(&mut db, "filler", 300);
    db.add(MODULE, VERSION, &zip_hash, &mod_hash);
    add_fillers(&mut db, "later", 5);
    let verifier_key = db.verifier_key();
    let site = Arc::new(Site {
        db: Mutex::new(db),
        fork: Mutex::new(None),
        files: Mutex::new(proxy_files(zip)),
    });
    let server = LoopbackServer::start(site.clone());
    let work = tempfile::tempdir().unwrap();
    let gopath = work.path().join("gopath");

    // 1. The honest server: go verifies both hashes through the database.
    let run = go_mod_download(
        &server.url(),
        &verifier_key,
        &gopath,
        &work.path().join("modcache1"),
        work.path(),
    );
    assert!(run.success, "go mod download failed:\n{}", run.output());
    assert!(
        run.stdout.contains(&format!("\"Sum\": \"{zip_hash}\"")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("\"GoModSum\": \"{mod_hash}\"")),
        "{}",
        run.stdout
    );
    let trusted = std::fs::read(gopath.join(format!("pkg/sumdb/{DB_NAME}/latest"))).unwrap();
    assert_eq!(
        trusted,
        site.db.lock().unwrap().signed_tree(),
        "go stored our signed tree"
    );

    // 2. A tampered zip: its hash differs from the database record.
    let tampered = build_zip(b"package hello // changed\n");
    site.files
        .lock()
        .unwrap()
        .insert(format!("{MODULE}/@v/{VERSION}.zip"), tampered);
    let fresh_gopath = work.path().join("gopath2");
    let run = go_mod_download(
        &server.url(),
        &verifier_key,
        &fresh_gopath,
        &work.path().join("modcache2"),
        work.path(),
    );
    assert!(!run.success, "go accepted a tampered zip:\n{}", run.stdout);
    assert!(run.output().contains("checksum mismatch"), "{}", run.output());

    // 3. A forked database after go trusted the first: same key, the same
    //    first 256 records (so the first full tile is shared), then another
    //    history. Go must report a security error.
    let original_zip = build_zip(b"package hello\n");
    site.files
        .lock()
        .unwrap()
        .insert(format!("{MODULE}/@v/{VERSION}.zip"), original_zip);
    let mut fork = site.db.lock().unwrap().fork();
    add_fillers(&mut fork, "filler", 256);
    add_fillers(&mut fork, "forked", 54);
    fork.add(MODULE, VERSION, &zip_hash, &mod_hash);
    *site.fork.lock().unwrap() = Some(fork);
    let run = go_mod_download(
        &server.url(),
        &verifier_key,
        &gopath,
        &work.path().join("modcache3"),
        work.path(),
    );
    assert!(!run.success, "go accepted a forked database:\n{}", run.stdout);
    assert!(run.output().contains("SECURITY ERROR"), "{}", run.output());
}
