//! Checks that the deployment files in deploy/ agree with the binary. The
//! Dockerfile's command and environment start a working server, and its
//! HEALTHCHECK follows the server's state. The example settings file is
//! accepted. Every metric that the Grafana dashboard and the alerting rules
//! query is exported on /metrics.
//!
//! Each server runs on a free port of 127.0.0.1 with a temporary data
//! directory, and its upstream is never contacted.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_modvault");

/// Time a server gets to return 200 on /healthz after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a server gets to exit after SIGTERM: its default shutdown_timeout
/// (30s) plus a margin.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read_repo_file(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

// ---- Dockerfile ---------------------------------------------------------

/// Settings of the last stage of a Dockerfile, the one `docker build` tags.
#[derive(Debug, Default)]
struct FinalStage {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: Vec<(String, String)>,
    exposed_ports: Vec<String>,
    /// The exec-form command of HEALTHCHECK, without its options.
    healthcheck: Option<Vec<String>>,
}

/// Joins lines that end with a backslash and drops comments and blank lines,
/// as the Dockerfile parser does.
fn dockerfile_instructions(text: &str) -> Vec<String> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(start) => {
                current.push_str(start);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.trim().is_empty() {
        instructions.push(current);
    }
    instructions
}

/// Splits on whitespace outside double quotes and removes the quotes and
/// backslash escapes, as Docker does for the arguments of ENV.
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn parse_exec_form(instruction: &str, arguments: &str) -> Vec<String> {
    serde_json::from_str(arguments).unwrap_or_else(|e| {
        panic!(
            "{instruction} {arguments:?} is not in exec (JSON array) form, which the test and `docker stop` need: {e}"
        )
    })
}

fn parse_final_stage(text: &str) -> FinalStage {
    let mut stage = FinalStage::default();
    for instruction in dockerfile_instructions(text) {
        let (keyword, arguments) = instruction
            .split_once(char::is_whitespace)
            .unwrap_or((instruction.as_str(), ""));
        let arguments = arguments.trim();
        match keyword.to_ascii_uppercase().as_str() {
            "FROM" => stage = FinalStage::default(),
            "ENTRYPOINT" => stage.entrypoint = parse_exec_form("ENTRYPOINT", arguments),
            "CMD" => stage.cmd = parse_exec_form("CMD", arguments),
            "EXPOSE" => stage.exposed_ports.extend(
                arguments
                    .split_whitespace()
                    .map(|p| p.trim_end_matches("/tcp").to_string()),
            ),
            "ENV" => {
                let words = split_words(arguments);
                if words.first().is_some_and(|w| !w.contains('=')) {
                    // Legacy form `ENV KEY value with spaces`.
                    let (key, value) = arguments
                        .split_once(char::is_whitespace)
                        .expect("legacy ENV has a key and a value");
                    stage.env.push((key.to_string(), value.trim().to_string()));
                } else {
                    for word in words {
                        let (key, value) = word
                            .split_once('=')
                            .unwrap_or_else(|| panic!("ENV word {word:?} has no '='"));
                        stage.env.push((key.to_string(), value.to_string()));
                    }
                }
            }
            "HEALTHCHECK" => {
                if arguments.eq_ignore_ascii_case("NONE") {
                    stage.healthcheck = None;
                    continue;
                }
                let command = arguments
                    .split_once("CMD")
                    .map(|(_, command)| command.trim())
                    .unwrap_or_else(|| panic!("HEALTHCHECK {arguments:?} has no CMD"));
                stage.healthcheck = Some(parse_exec_form("HEALTHCHECK CMD", command));
            }
            _ => {}
        }
    }
    for (key, value) in &stage.env {
        assert!(
            !value.contains('$'),
            "ENV {key}={value}: variable references are not supported by this test"
        );
    }
    stage
}

fn env_value<'a>(stage: &'a FinalStage, key: &str) -> &'a str {
    stage
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("deploy/Dockerfile's final stage does not set {key}"))
}

/// Replaces the image's path of the binary with the binary under test.
fn local_command(image_command: &[String]) -> (String, Vec<String>) {
    let (program, arguments) = image_command.split_first().expect("the image command is empty");
    assert!(
        program.ends_with("/modvault"),
        "the image runs {program:?}, expected the modvault binary copied to an absolute path"
    );
    (BINARY.to_string(), arguments.to_vec())
}

// ---- Server process -------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// A running `modvault` process; killed on drop if still running.
struct Server {
    child: Child,
    address: String,
    log_path: PathBuf,
    _data_dir: tempfile::TempDir,
}

impl Server {
    /// Starts `BINARY arguments` with only `env` in its environment (plus the
    /// data directory and listen address chosen here), like a container.
    fn start(arguments: &[String], env: &[(String, String)]) -> Server {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let log_path = data_dir.path().with_extension("log");
        let log = std::fs::File::create(&log_path).expect("server log file");

        let mut command = Command::new(BINARY);
        command.args(arguments).env_clear();
        for (key, value) in env {
            command.env(key, value);
        }
        command
            .env("MODVAULT_LISTEN", &address)
            .env("MODVAULT_DATA_DIR", data_dir.path().join("store"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = command.spawn().expect("modvault starts");

        let mut server = Server {
            child,
            address,
            log_path,
            _data_dir: data_dir,
        };
        server.wait_until_healthy();
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "modvault exited with {status} before answering /healthz; its log:\n{}",
                    self.log()
                );
            }
            if matches!(http_get(&self.address, "/healthz"), Ok(response) if response.status == 200) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "modvault did not answer /healthz with 200 within {STARTUP_TIMEOUT:?}; its log:\n{}",
                    self.log()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn get(&self, path: &str) -> Response {
        http_get(&self.address, path).unwrap_or_else(|e| panic!("GET {path} failed: {e}; server log:\n{}", self.log()))
    }

    /// Sends SIGTERM, as `docker stop` and the kubelet do, and waits for exit.
    fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "modvault did not exit within {STOP_TIMEOUT:?} of SIGTERM; its log:\n{}",
                    self.log()
                );
            }
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// Starts the server as deploy/Dockerfile's final stage would.
fn start_from_dockerfile() -> (Server, FinalStage) {
    let stage = parse_final_stage(&read_repo_file("deploy/Dockerfile"));
    let image_command: Vec<String> = stage.entrypoint.iter().chain(&stage.cmd).cloned().collect();
    let (_, arguments) = local_command(&image_command);
    let server = Server::start(&arguments, &stage.env);
    (server, stage)
}

// ---- HTTP client --------------------------------------------------------------

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends a minimal HTTP/1.1 GET with `Connection: close` and reads the whole
/// response, decoding a chunked body.
fn http_get(address: &str, path: &str) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: modvault-deploy-test\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;

    let invalid = |message: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or_else(|| invalid("empty response"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(&format!("invalid status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    let mut body = raw[head_end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = decode_chunked(&body).ok_or_else(|| invalid("invalid chunked body"))?;
    }
    Ok(Response { status, headers, body })
}

fn decode_chunked(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

// ---- Metric names ---------------------------------------------------------------

/// Collects the `modvault_*` metric names in `text`, with the `_bucket`,
/// `_sum` and `_count` suffixes of histogram series removed.
fn metric_names_in(text: &str) -> BTreeSet<String> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("modvault_") {
        let preceded_by_name = rest[..start].chars().next_back().is_some_and(is_name_char);
        let tail = &rest[start..];
        let end = tail.find(|c: char| !is_name_char(c)).unwrap_or(tail.len());
        if !preceded_by_name {
            let name = &tail[..end];
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            names.insert(base.to_string());
        }
        rest = &tail[end.max(1)..];
    }
    names
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Metric names in the dashboard's strings (queries, variable definitions)
/// and in the alerting rules, whose comments are left out.
fn metric_names_used_by_dashboard_and_alerts() -> BTreeSet<String> {
    let dashboard: serde_json::Value = serde_json::from_str(&read_repo_file("deploy/grafana/modvault-dashboard.json"))
        .expect("dashboard is valid JSON");
    let mut strings = Vec::new();
    collect_strings(&dashboard, &mut strings);
    let mut names: BTreeSet<String> = strings.iter().flat_map(|s| metric_names_in(s)).collect();

    let alerts = read_repo_file("deploy/prometheus/alerts.yml");
    let without_comments: String = alerts
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    names.extend(metric_names_in(&without_comments));
    names
}

/// Names of the metric families on a /metrics page in the Prometheus text
/// format, from its `# TYPE` lines and its sample lines.
fn exported_metric_names(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.split_whitespace().next() {
                names.insert(name.to_string());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            names.extend(metric_names_in(name));
        }
    }
    names
}

// ---- Tests --------------------------------------------------------------------

#[test]
fn dockerfile_parser_reads_final_stage() {
    let text = r#"
# syntax=docker/dockerfile:1
FROM rust AS build
ENV BUILD_ONLY=1
CMD ["cargo"]

FROM scratch
# A comment between instructions.
ENV A=1 \
    B="two words" \
    C=three\ words
ENV LEGACY value with spaces
EXPOSE 8080/tcp
HEALTHCHECK --interval=30s --timeout=5s \
    CMD ["/bin/app", "check"]
ENTRYPOINT ["/bin/app"]
CMD ["serve", "--flag"]
"#;
    let stage = parse_final_stage(text);

    assert_eq!(stage.entrypoint, ["/bin/app"]);
    assert_eq!(stage.cmd, ["serve", "--flag"]);
    assert_eq!(stage.exposed_ports, ["8080"]);
    assert_eq!(
        stage.healthcheck.as_deref(),
        Some(&["/bin/app".to_string(), "check".to_string()][..])
    );
    let env: Vec<(&str, &str)> = stage.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        env,
        [
            ("A", "1"),
            ("B", "two words"),
            ("C", "three words"),
            ("LEGACY", "value with spaces")
        ]
    );
}

#[test]
fn metric_name_scan_strips_histogram_suffixes() {
    let names = metric_names_in(
        r#"histogram_quantile(0.99, sum by (le) (rate(modvault_http_request_duration_seconds_bucket{job="modvault"}[5m])))
           / modvault_store_bytes + modvault_fills_in_flight_count + job:modvault_recorded + xmodvault_other"#,
    );

    let expected: BTreeSet<String> = [
        "modvault_http_request_duration_seconds",
        "modvault_store_bytes",
        "modvault_fills_in_flight",
    ]
    .map(String::from)
    .into();
    assert_eq!(names, expected);
}

#[test]
fn dockerfile_command_serves_health_and_landing_page() {
    let (mut server, stage) = start_from_dockerfile();

    let listen = env_value(&stage, "MODVAULT_LISTEN");
    let port = listen
        .strip_prefix("0.0.0.0:")
        .unwrap_or_else(|| panic!("MODVAULT_LISTEN is {listen:?}, expected 0.0.0.0:PORT"));
    assert!(
        stage.exposed_ports.iter().any(|p| p == port),
        "EXPOSE {:?} does not include port {port}",
        stage.exposed_ports
    );
    assert_eq!(env_value(&stage, "MODVAULT_DATA_DIR"), "/var/lib/modvault");

    let health = server.get("/healthz");
    assert_eq!(health.status, 200, "GET /healthz: {}", health.text());

    let landing = server.get("/");
    assert_eq!(landing.status, 200, "GET /: {}", landing.text());
    let content_type = landing.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/html"),
        "GET / content-type is {content_type:?}"
    );
    assert!(
        landing.text().to_ascii_lowercase().contains("<html"),
        "GET / body is not an HTML page:\n{}",
        landing.text()
    );

    let status = server.terminate();
    assert!(
        status.success(),
        "modvault exited with {status} after SIGTERM; its log:\n{}",
        server.log()
    );
}

#[test]
fn dockerfile_healthcheck_follows_server_state() {
    let (mut server, stage) = start_from_dockerfile();
    let healthcheck = stage
        .healthcheck
        .clone()
        .expect("deploy/Dockerfile's final stage has a HEALTHCHECK");
    let (program, arguments) = local_command(&healthcheck);
    // The probe runs inside the container, so it gets the same environment
    // as the server, including the MODVAULT_LISTEN that points at it.
    let address = server.address.clone();
    let run_probe = || {
        let mut command = Command::new(&program);
        command.args(&arguments).env_clear();
        for (key, value) in &stage.env {
            command.env(key, value);
        }
        command
            .env("MODVAULT_LISTEN", &address)
            .output()
            .expect("healthcheck command runs")
    };

    let healthy = run_probe();
    assert!(
        healthy.status.success(),
        "HEALTHCHECK {healthcheck:?} failed against a running server: {}{}",
        String::from_utf8_lossy(&healthy.stdout),
        String::from_utf8_lossy(&healthy.stderr)
    );

    server.terminate();
    let stopped = run_probe();
    assert!(
        !stopped.status.success(),
        "HEALTHCHECK {healthcheck:?} passed after the server stopped"
    );
}

#[test]
fn example_config_file_is_accepted() {
    let config = repo_path("deploy/modvault.toml");
    // Environment variables override the file's listen and data_dir.
    let arguments = [
        "serve".to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    let mut server = Server::start(&arguments, &[]);

    let ready = server.get("/readyz");
    assert_eq!(ready.status, 200, "GET /readyz: {}", ready.text());

    let status = server.terminate();
    assert!(
        status.success(),
        "modvault exited with {status} after SIGTERM; its log:\n{}",
        server.log()
    );
}

#[test]
fn dashboard_and_alert_metrics_are_exported() {
    let used = metric_names_used_by_dashboard_and_alerts();
    assert!(
        used.contains("modvault_http_requests_total"),
        "metric name scan found too little: {used:?}"
    );

    // An upstream on a closed loopback port: nothing here contacts it.
    let upstream = format!("http://127.0.0.1:{}", free_port());
    let env = [("MODVAULT_UPSTREAM".to_string(), upstream)];
    let server = Server::start(&["serve".to_string()], &env);
    let page = server.get("/metrics");
    assert_eq!(page.status, 200, "GET /metrics: {}", page.text());
    let exported = exported_metric_names(&page.text());

    let missing: Vec<&String> = used.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "deploy/grafana/modvault-dashboard.json or deploy/prometheus/alerts.yml query metrics that a new server does not export: {missing:?}\nexported: {exported:?}"
    );
}
