//! Python fixtures made in code: tiny wheels (pure or "platform", with entry points,
//! `.data` directories, or deliberately broken) and a simple-API index served on
//! 127.0.0.1 in the JSON (PEP 691) or HTML (PEP 503) form, optionally behind basic
//! auth, with a log of the requests it answered.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// What a test wheel holds.
#[derive(Debug, Clone)]
pub struct WheelSpec {
    pub name: String,
    pub version: String,
    /// The wheel's tag, e.g. `py3-none-any` or `cp312-cp312-manylinux_2_17_x86_64`.
    pub tag: String,
    pub requires: Vec<String>,
    pub requires_python: Option<String>,
    /// Extra files: (path in the archive, contents, executable).
    pub files: Vec<(String, Vec<u8>, bool)>,
    /// `entry_points.txt` text.
    pub entry_points: Option<String>,
    /// Write a wrong hash for this archive path into RECORD.
    pub bad_record_for: Option<String>,
    /// Symbolic link entries (path in the archive, target), which wheels may not have.
    pub symlinks: Vec<(String, String)>,
    /// Extra `METADATA` header lines (`License-Expression: MIT`).
    pub metadata: Vec<String>,
}

impl WheelSpec {
    pub fn pure(name: &str, version: &str) -> Self {
        let module = name.replace('-', "_");
        Self {
            name: name.to_string(),
            version: version.to_string(),
            tag: "py3-none-any".to_string(),
            requires: Vec::new(),
            requires_python: None,
            files: vec![(
                format!("{module}/__init__.py"),
                format!("VERSION = \"{version}\"\n").into_bytes(),
                false,
            )],
            entry_points: None,
            bad_record_for: None,
            symlinks: Vec::new(),
            metadata: Vec::new(),
        }
    }

    pub fn metadata_line(mut self, line: &str) -> Self {
        self.metadata.push(line.to_string());
        self
    }

    pub fn requires(mut self, requirement: &str) -> Self {
        self.requires.push(requirement.to_string());
        self
    }

    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = tag.to_string();
        self
    }

    pub fn file(mut self, path: &str, contents: &[u8], executable: bool) -> Self {
        self.files
            .push((path.to_string(), contents.to_vec(), executable));
        self
    }

    pub fn entry_points(mut self, text: &str) -> Self {
        self.entry_points = Some(text.to_string());
        self
    }

    pub fn dist_name(&self) -> String {
        self.name.replace('-', "_")
    }

    pub fn filename(&self) -> String {
        format!("{}-{}-{}.whl", self.dist_name(), self.version, self.tag)
    }

    /// The wheel's bytes, with a RECORD that matches (unless told otherwise).
    pub fn build(&self) -> Vec<u8> {
        let dist_info = format!("{}-{}.dist-info", self.dist_name(), self.version);
        let mut metadata = format!(
            "Metadata-Version: 2.1\nName: {}\nVersion: {}\n",
            self.name, self.version
        );
        if let Some(rp) = &self.requires_python {
            metadata.push_str(&format!("Requires-Python: {rp}\n"));
        }
        for r in &self.requires {
            metadata.push_str(&format!("Requires-Dist: {r}\n"));
        }
        for line in &self.metadata {
            metadata.push_str(&format!("{line}\n"));
        }
        let purelib = self.tag.ends_with("-any");
        let wheel = format!(
            "Wheel-Version: 1.0\nGenerator: airlock-tests\nRoot-Is-Purelib: {purelib}\nTag: {}\n",
            self.tag
        );
        let mut entries: Vec<(String, Vec<u8>, bool)> = self.files.clone();
        entries.push((
            format!("{dist_info}/METADATA"),
            metadata.into_bytes(),
            false,
        ));
        entries.push((format!("{dist_info}/WHEEL"), wheel.into_bytes(), false));
        if let Some(ep) = &self.entry_points {
            entries.push((
                format!("{dist_info}/entry_points.txt"),
                ep.clone().into_bytes(),
                false,
            ));
        }
        let mut record = String::new();
        for (path, contents, _) in &entries {
            let mut digest = Sha256::digest(contents).to_vec();
            if self.bad_record_for.as_deref() == Some(path.as_str()) {
                digest[0] ^= 0xff;
            }
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
            record.push_str(&format!("{path},sha256={b64},{}\n", contents.len()));
        }
        record.push_str(&format!("{dist_info}/RECORD,,\n"));
        entries.push((format!("{dist_info}/RECORD"), record.into_bytes(), false));

        let mut zip = ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (path, contents, executable) in entries {
            let options = SimpleFileOptions::default()
                .compression_method(CompressionMethod::Deflated)
                .unix_permissions(if executable { 0o755 } else { 0o644 });
            zip.start_file(path, options).expect("zip entry");
            zip.write_all(&contents).expect("zip write");
        }
        for (path, target) in &self.symlinks {
            zip.add_symlink(path.as_str(), target.as_str(), SimpleFileOptions::default())
                .expect("zip symlink");
        }
        zip.finish().expect("zip finish").into_inner()
    }
}

/// A file the index serves.
#[derive(Debug, Clone)]
pub struct Served {
    pub project: String,
    pub filename: String,
    pub body: Vec<u8>,
    /// The sha256 the page reports (normally the body's).
    pub sha256: String,
    pub upload_time: Option<String>,
    pub yanked: bool,
}

impl Served {
    pub fn wheel(spec: &WheelSpec) -> Self {
        let body = spec.build();
        Self {
            project: normalize(&spec.name),
            filename: spec.filename(),
            sha256: hex(&Sha256::digest(&body)),
            body,
            upload_time: Some("2024-01-01T00:00:00Z".to_string()),
            yanked: false,
        }
    }

    pub fn uploaded(mut self, time: &str) -> Self {
        self.upload_time = Some(time.to_string());
        self
    }

    pub fn sdist(project: &str, version: &str) -> Self {
        let body = b"not really an sdist".to_vec();
        Self {
            project: normalize(project),
            filename: format!("{}-{version}.tar.gz", project.replace('-', "_")),
            sha256: hex(&Sha256::digest(&body)),
            body,
            upload_time: Some("2024-01-01T00:00:00Z".to_string()),
            yanked: false,
        }
    }

    /// A file of `project` named `filename` with the bytes `body`.
    pub fn with_body(project: &str, filename: &str, body: Vec<u8>) -> Self {
        Self {
            project: project.to_string(),
            filename: filename.to_string(),
            sha256: hex(&Sha256::digest(&body)),
            body,
            upload_time: Some("2024-01-01T00:00:00Z".to_string()),
            yanked: false,
        }
    }
}

/// A `.tar.gz` sdist of `files` under `top/`, fixed times and modes.
pub fn sdist_archive(top: &str, files: &[(&str, &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, format!("{top}/{path}"), text.as_bytes())
            .expect("append");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn normalize(name: &str) -> String {
    name.to_ascii_lowercase().replace(['_', '.'], "-")
}

/// Which form of the simple API the index speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Json,
    Html,
}

/// A simple-API index on 127.0.0.1, stopped on drop.
pub struct PyIndex {
    pub port: u16,
    files: Arc<Mutex<Vec<Served>>>,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl PyIndex {
    pub fn start(files: Vec<Served>, form: Form, auth: Option<(&str, &str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let files = Arc::new(Mutex::new(files));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let expected_auth = auth.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        {
            let files = files.clone();
            let log = log.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let files = files.clone();
                    let log = log.clone();
                    let expected_auth = expected_auth.clone();
                    std::thread::spawn(move || {
                        let _ = handle(stream, &files, &log, form, expected_auth.as_deref());
                    });
                }
            });
        }
        Self {
            port,
            files,
            log,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple/", self.port)
    }

    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@127.0.0.1:{}/simple/", self.port)
    }

    /// Request lines answered so far (`GET /path`).
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    pub fn set_files(&self, files: Vec<Served>) {
        *self.files.lock().expect("files") = files;
    }
}

impl Drop for PyIndex {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(
    mut stream: TcpStream,
    files: &Mutex<Vec<Served>>,
    log: &Mutex<Vec<String>>,
    form: Form,
    auth: Option<&str>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" => authorization = Some(v.trim().to_string()),
                "range" => range = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    log.lock().expect("log").push(format!("{method} {path}"));
    if auth.is_some() && authorization.as_deref() != auth {
        return respond(
            &mut stream,
            401,
            "text/plain",
            b"unauthorized",
            &[("WWW-Authenticate", "Basic realm=\"test\"")],
        );
    }
    let files = files.lock().expect("files").clone();
    if let Some(project) = path
        .strip_prefix("/simple/")
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
    {
        let listed: Vec<&Served> = files.iter().filter(|f| f.project == project).collect();
        if listed.is_empty() {
            return respond(&mut stream, 404, "text/plain", b"not found", &[]);
        }
        return match form {
            Form::Json => {
                let body = serde_json::json!({
                    "meta": {"api-version": "1.1"},
                    "name": project,
                    "files": listed.iter().map(|f| {
                        let mut file = serde_json::json!({
                            "filename": f.filename,
                            "url": format!("../../files/{}", f.filename),
                            "hashes": {"sha256": f.sha256},
                            "size": f.body.len(),
                            "yanked": f.yanked,
                        });
                        if let Some(t) = &f.upload_time {
                            file["upload-time"] = serde_json::json!(t);
                        }
                        file
                    }).collect::<Vec<_>>(),
                });
                respond(
                    &mut stream,
                    200,
                    "application/vnd.pypi.simple.v1+json",
                    body.to_string().as_bytes(),
                    &[],
                )
            }
            Form::Html => {
                let mut body = String::from("<!DOCTYPE html><html><body>\n");
                for f in listed {
                    body.push_str(&format!(
                        "<a href=\"/files/{0}#sha256={1}\">{0}</a><br/>\n",
                        f.filename, f.sha256
                    ));
                }
                body.push_str("</body></html>\n");
                respond(&mut stream, 200, "text/html", body.as_bytes(), &[])
            }
        };
    }
    if let Some(name) = path.strip_prefix("/files/")
        && let Some(file) = files.iter().find(|f| f.filename == name)
    {
        if let Some(range) = range.as_deref().and_then(|r| r.strip_prefix("bytes=")) {
            let len = file.body.len();
            let (start, end) = match range.split_once('-') {
                Some(("", n)) => (len.saturating_sub(n.parse().unwrap_or(len)), len - 1),
                Some((a, "")) => (a.parse().unwrap_or(0), len - 1),
                Some((a, b)) => (
                    a.parse().unwrap_or(0),
                    b.parse::<usize>().unwrap_or(len - 1).min(len - 1),
                ),
                None => (0, len - 1),
            };
            let content_range = format!("bytes {start}-{end}/{len}");
            return respond(
                &mut stream,
                206,
                "application/octet-stream",
                &file.body[start..=end],
                &[("Content-Range", content_range.as_str())],
            );
        }
        return respond(
            &mut stream,
            200,
            "application/octet-stream",
            &file.body,
            &[],
        );
    }
    respond(&mut stream, 404, "text/plain", b"not found", &[])
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
