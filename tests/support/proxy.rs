//! An HTTP/1.1 proxy between the client and a registry that logs every request and,
//! on command, injects faults: an error status (with `Retry-After`), a connection
//! dropped in the middle of a request or response body, or a stall. One request per
//! connection (it answers `Connection: close`), which is all the tests need.
//!
//! [`RandomFaults`] makes it a flaky registry: a share of all requests meets a fault
//! drawn from a seeded generator, per request kind and occurrence, so a run is
//! reproducible however concurrent requests interleave. A TLS handshake reaching the
//! proxy is logged (method `TLS`) and hung up on: it listens in plain HTTP only.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use super::wire::{Head, read_head};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status with a distribution error body; `Retry-After` if given.
    Status { code: u16, retry_after: Option<u64> },
    /// Read half of the request body, then drop the connection.
    DropRequestBody,
    /// Forward, then pass on only half of the response body and drop the connection.
    DropResponseBody,
    /// Say nothing for this long, then drop the connection.
    Stall(Duration),
    /// Forward, adding this header to the registry's answer.
    AddHeader(&'static str, &'static str),
    /// Answer with this status, content type and body instead of the registry.
    Respond {
        code: u16,
        content_type: &'static str,
        body: Vec<u8>,
    },
}

/// Applies `fault` to requests with `method` whose path contains `path_contains`,
/// after letting `skip` of them through, `times` times.
#[derive(Debug, Clone)]
pub struct Rule {
    pub method: &'static str,
    pub path_contains: &'static str,
    pub skip: usize,
    pub times: usize,
    pub fault: Fault,
}

impl Rule {
    pub fn new(method: &'static str, path_contains: &'static str, fault: Fault) -> Self {
        Self {
            method,
            path_contains,
            skip: 0,
            times: 1,
            fault,
        }
    }

    pub fn skip(mut self, skip: usize) -> Self {
        self.skip = skip;
        self
    }

    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }
}

/// Faults on a share of every request, drawn from `seed`.
#[derive(Debug, Clone)]
pub struct RandomFaults {
    pub seed: u64,
    /// Share of requests that meet a fault, 0.0 to 1.0.
    pub rate: f64,
    /// At most this many faults in a row for one kind of request (see
    /// `request_kind`), so that a client retrying more often than this gets through.
    pub max_streak: u32,
    /// How long a stall lasts before the connection is dropped.
    pub stall: Duration,
    /// `Retry-After` seconds sent with injected 429s.
    pub retry_after: u64,
}

#[derive(Debug, Default)]
struct RandomState {
    /// Per request kind: requests seen and faults in a row.
    seen: std::collections::HashMap<String, (u64, u32)>,
}

/// The kind of a request: method and path, an upload session id replaced by the
/// blob digest the request closes the upload with, if any (so each blob's uploads
/// are one kind whatever order parallel uploads come in).
fn request_kind(method: &str, target: &str) -> String {
    let path = target.split('?').next().unwrap_or(target);
    match path.split_once("/blobs/uploads/") {
        Some((repository, _)) => {
            let digest = super::wire::query_values(target, "digest").join(",");
            format!("{method} {repository}/blobs/uploads/{digest}")
        }
        None => format!("{method} {path}"),
    }
}

/// FNV-1a: a hash that stays the same across Rust releases.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl RandomFaults {
    fn draw(&self, state: &mut RandomState, head: &Head) -> Option<Fault> {
        let kind = request_kind(&head.method, &head.target);
        let (seen, streak) = state.seen.entry(kind.clone()).or_default();
        let mut rng = fastrand::Rng::with_seed(
            self.seed ^ fnv1a(&kind) ^ seen.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        *seen += 1;
        if *streak >= self.max_streak || rng.f64() >= self.rate {
            *streak = 0;
            return None;
        }
        *streak += 1;
        let mut choices = vec![
            Fault::DropRequestBody,
            Fault::Status {
                code: 500,
                retry_after: None,
            },
            Fault::Status {
                code: 429,
                retry_after: Some(self.retry_after),
            },
            Fault::Stall(self.stall),
        ];
        if head.method == "GET" {
            choices.push(Fault::DropResponseBody);
        }
        Some(choices[rng.usize(..choices.len())].clone())
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub target: String,
    pub range: Option<String>,
    pub content_range: Option<String>,
    /// The status sent back; `None` when a fault cut the exchange.
    pub status: Option<u16>,
    pub faulted: bool,
}

impl Logged {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or(&self.target)
    }

    /// A request that sends blob bytes or opens or closes an upload.
    pub fn is_upload(&self) -> bool {
        self.path().contains("/blobs/uploads/")
    }
}

pub struct Proxy {
    pub port: u16,
    log: Arc<Mutex<Vec<Logged>>>,
    faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

/// How the proxy picks faults: its rules, then random faults when set.
struct Faults {
    rules: Mutex<Vec<Rule>>,
    random: Option<(RandomFaults, Mutex<RandomState>)>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    pub async fn start(upstream: u16) -> Self {
        Self::start_with(upstream, None).await
    }

    /// A proxy that also injects `random` faults on requests no rule matches.
    pub async fn start_flaky(upstream: u16, random: RandomFaults) -> Self {
        Self::start_with(upstream, Some(random)).await
    }

    async fn start_with(upstream: u16, random: Option<RandomFaults>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let faults = Arc::new(Faults {
            rules: Mutex::new(Vec::new()),
            random: random.map(|random| (random, Mutex::new(RandomState::default()))),
        });
        let (task_log, task_faults) = (Arc::clone(&log), Arc::clone(&faults));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (log, faults) = (Arc::clone(&task_log), Arc::clone(&task_faults));
                tokio::spawn(async move {
                    let _ = handle(stream, upstream, log, faults).await;
                });
            }
        });
        Self {
            port,
            log,
            faults,
            task,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn add(&self, rule: Rule) {
        self.faults.rules.lock().expect("rules").push(rule);
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().expect("log").clone()
    }

    pub fn clear(&self) {
        self.log.lock().expect("log").clear();
    }

    /// TLS handshakes that reached the proxy (it speaks plain HTTP only).
    pub fn tls_handshakes(&self) -> usize {
        self.count("TLS", "")
    }

    /// Requests matching `method` whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == method && r.path().contains(part))
            .count()
    }
}

fn take_fault(faults: &Faults, head: &Head) -> Option<Fault> {
    let mut rules = faults.rules.lock().expect("rules");
    let rule = rules.iter_mut().find(|rule| {
        rule.times > 0 && rule.method == head.method && head.path().contains(rule.path_contains)
    });
    match rule {
        Some(rule) if rule.skip > 0 => {
            rule.skip -= 1;
            None
        }
        Some(rule) => {
            rule.times -= 1;
            Some(rule.fault.clone())
        }
        None => {
            let (random, state) = faults.random.as_ref()?;
            random.draw(&mut state.lock().expect("random state"), head)
        }
    }
}

async fn handle(
    mut client: TcpStream,
    upstream: u16,
    log: Arc<Mutex<Vec<Logged>>>,
    faults: Arc<Faults>,
) -> std::io::Result<()> {
    let mut first = [0u8; 1];
    if client.peek(&mut first).await? == 1 && first[0] == 0x16 {
        // A TLS record (a ClientHello): log it and hang up.
        log.lock().expect("log").push(Logged {
            method: "TLS".to_string(),
            target: String::new(),
            range: None,
            content_range: None,
            status: None,
            faulted: false,
        });
        return Ok(());
    }
    let Some((head, mut body_start)) = read_head(&mut client).await? else {
        return Ok(());
    };
    let fault = take_fault(&faults, &head);
    let index = {
        let mut log = log.lock().expect("log");
        log.push(Logged {
            method: head.method.clone(),
            target: head.target.clone(),
            range: head.header("range").map(str::to_string),
            content_range: head.header("content-range").map(str::to_string),
            status: None,
            faulted: fault.is_some(),
        });
        log.len() - 1
    };
    let set_status = |status: u16| {
        if let Some(entry) = log.lock().expect("log").get_mut(index) {
            entry.status = Some(status);
        }
    };
    let length = head.content_length();
    match &fault {
        Some(Fault::DropRequestBody) => {
            let half = (length / 2) as usize;
            while body_start.len() < half {
                let mut chunk = vec![0u8; 65536];
                let read = client.read(&mut chunk).await?;
                if read == 0 {
                    break;
                }
                body_start.extend_from_slice(&chunk[..read]);
            }
            return Ok(());
        }
        Some(Fault::Stall(duration)) => {
            tokio::time::sleep(*duration).await;
            return Ok(());
        }
        Some(Fault::Respond {
            code,
            content_type,
            body,
        }) => {
            let remaining = length.saturating_sub(body_start.len() as u64);
            tokio::io::copy(&mut (&mut client).take(remaining), &mut tokio::io::sink()).await?;
            let head = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes()).await?;
            client.write_all(body).await?;
            set_status(*code);
            return client.shutdown().await;
        }
        Some(Fault::Status { code, retry_after }) => {
            let remaining = length.saturating_sub(body_start.len() as u64);
            tokio::io::copy(&mut (&mut client).take(remaining), &mut tokio::io::sink()).await?;
            let body = format!(
                r#"{{"errors":[{{"code":"INJECTED","message":"injected status {code}"}}]}}"#
            );
            let retry = retry_after
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let answer = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\n{retry}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(answer.as_bytes()).await?;
            set_status(*code);
            return client.shutdown().await;
        }
        _ => {}
    }
    let mut server = TcpStream::connect(("127.0.0.1", upstream)).await?;
    let mut forwarded = format!("{} {} HTTP/1.1\r\n", head.method, head.target);
    for (key, value) in &head.headers {
        if !key.eq_ignore_ascii_case("connection") && !key.eq_ignore_ascii_case("keep-alive") {
            forwarded.push_str(&format!("{key}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    server.write_all(forwarded.as_bytes()).await?;
    server.write_all(&body_start).await?;
    let remaining = length.saturating_sub(body_start.len() as u64);
    tokio::io::copy(&mut (&mut client).take(remaining), &mut server).await?;
    let Some((answer, answer_start)) = read_head(&mut server).await? else {
        return Ok(());
    };
    if let Ok(status) = answer.target.parse() {
        set_status(status);
    }
    let mut raw = answer.raw.clone();
    if let Some(Fault::AddHeader(name, value)) = &fault {
        raw.truncate(raw.len() - 2);
        raw.extend_from_slice(format!("{name}: {value}\r\n\r\n").as_bytes());
    }
    client.write_all(&raw).await?;
    if matches!(fault, Some(Fault::DropResponseBody)) {
        let half = (answer.content_length() / 2) as usize;
        let mut sent = answer_start.len().min(half);
        client.write_all(&answer_start[..sent]).await?;
        let mut chunk = vec![0u8; 65536];
        while sent < half {
            let read = server.read(&mut chunk).await?;
            if read == 0 {
                break;
            }
            let part = read.min(half - sent);
            client.write_all(&chunk[..part]).await?;
            sent += part;
        }
        client.flush().await?;
        return Ok(());
    }
    client.write_all(&answer_start).await?;
    tokio::io::copy(&mut server, &mut client).await?;
    client.shutdown().await
}
