//! Resolution agrees with apt: for real package lists, the packages `airlock lock`
//! pins for a bookworm root filesystem (`mmdebstrap --variant=minbase` with `python3`)
//! are exactly those `apt-get install -s --no-install-recommends` would install into
//! that same root (names and versions, upgrades of base packages included).
//!
//! Both sides read the root's own apt sources and keyrings (no archive address is
//! written here): apt runs on the host with a configuration that points at the
//! extracted root (its `/etc/apt`, its dpkg status) and keeps its lists in a state
//! directory of this test, updated once per run under a file lock. Both sides fetch
//! the archive within minutes of each other, and the test checks that they saw the
//! same archive state: the sha256s of the `InRelease` files the lock records must be
//! exactly those of the `InRelease` files in apt's lists. If the archive moved in
//! between (a mirror push), apt's lists are updated and the lock made again.
//!
//! The host's own apt configuration, lists and dpkg database are not read or touched:
//! `APT_CONFIG` points apt at a file of this test, read before any other.
//!
//! Skipped, with a message, only when the host has no apt sources or the archive does
//! not answer. The root filesystem, its extracted copy and the base layout are cached
//! under the target directory.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

use airlock::digest::Digest;
use airlock::lock::Lockfile;
use support::host_debian::{host_archive_uri, run, tool, unreachable};
use support::rootfs::{FileLock, debian_rootfs, layout_from_rootfs, persistent_cache};
use support::{airlock, stderr, stdout};

const SUITE: &str = "bookworm";
const INCLUDE: [&str; 1] = ["python3"];
/// The `packages.txt` of each comparison.
const LISTS: [&str; 6] = [
    "libpq5",
    "git",
    "unixodbc",
    "krb5-user",
    "openssh-client",
    "jq",
];

/// Packages to install or upgrade, as (name, version).
type Resolution = BTreeSet<(String, String)>;

#[test]
fn resolution_agrees_with_apt_get_install() {
    let started = Instant::now();
    let Some(uri) = host_archive_uri() else {
        eprintln!("SKIP: this host has no apt sources to read the archive address from");
        return;
    };
    if let Some(reason) = unreachable(&uri) {
        eprintln!("SKIP: {reason}; comparing with apt needs the archive");
        return;
    }
    for needed in ["mmdebstrap", "apt-get", "tar"] {
        assert!(
            tool(needed),
            "`{needed}` is missing: run scripts/test, which installs it"
        );
    }
    let work = persistent_cache("debian-apt");
    // One run at a time: the extracted root, apt's lists and the projects are shared.
    let _lock = FileLock::acquire(&work.join("run.lock"));
    let base = Base::prepare(&work);
    let apt = Apt::new(&base.root, &work.join("apt"));
    apt.update();
    let mut apt_state = apt.in_releases();
    let store = work.join("store");

    // The locks are separate processes: run them side by side.
    let locks: Vec<Lockfile> = std::thread::scope(|scope| {
        let threads: Vec<_> = LISTS
            .iter()
            .map(|list| scope.spawn(|| lock_list(&work, &base.layout, &store, list)))
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .expect("a lock thread failed (see its message above)")
            })
            .collect()
    });

    let mut disagreements = Vec::new();
    for (list, mut lock) in LISTS.into_iter().zip(locks) {
        if lock_state(&lock) != apt_state {
            eprintln!("the archive moved between apt and airlock; updating apt and locking again");
            apt.update();
            apt_state = apt.in_releases();
            lock = lock_list(&work, &base.layout, &store, list);
        }
        assert_eq!(
            lock_state(&lock),
            apt_state,
            "`{list}`: airlock and apt read different `InRelease` files twice in a row"
        );
        let ours: Resolution = lock
            .debs
            .iter()
            .map(|d| (d.name.clone(), d.version.clone()))
            .collect();
        let theirs = apt.simulate(list);
        assert!(!theirs.is_empty(), "`{list}`: apt would install nothing");
        if ours == theirs {
            eprintln!("{list}: agree ({} packages)", ours.len());
        } else {
            let show = |set: BTreeSet<&(String, String)>| {
                set.iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            disagreements.push(format!(
                "{list}:\n  only airlock: {}\n  only apt:     {}",
                show(ours.difference(&theirs).collect()),
                show(theirs.difference(&ours).collect()),
            ));
        }
    }
    eprintln!(
        "compared {} lists in {:.1}s",
        LISTS.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        disagreements.is_empty(),
        "airlock and apt disagree:\n{}",
        disagreements.join("\n")
    );
}

/// The minbase root filesystem twice: extracted (for apt) and as an OCI layout (for
/// airlock), both made from the same cached `mmdebstrap` output.
struct Base {
    root: PathBuf,
    layout: PathBuf,
}

impl Base {
    fn prepare(work: &Path) -> Self {
        let tar = debian_rootfs(SUITE, &INCLUDE)
            .expect("mmdebstrap could not make the root filesystem (see the message above)");
        let root = work.join("root");
        let layout = work.join("base-layout");
        let stamp_file = work.join("base.stamp");
        let stamp = stamp_of(&tar);
        let fresh = std::fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp)
            && root.join("var/lib/dpkg/status").is_file()
            && layout.join("index.json").is_file();
        if fresh {
            return Self { root, layout };
        }
        let _ = std::fs::remove_file(&stamp_file);
        for dir in [&root, &layout] {
            if dir.exists() {
                std::fs::remove_dir_all(dir)
                    .unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
            }
        }
        let partial = work.join("root.partial");
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).expect("mkdir root.partial");
        run(Command::new("tar")
            .args(["--numeric-owner", "--exclude=./dev/*", "-xf"])
            .arg(&tar)
            .arg("-C")
            .arg(&partial));
        std::fs::rename(&partial, &root).expect("rename the extracted root");
        layout_from_rootfs(
            &tar,
            &layout,
            SUITE,
            &["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "/opt/project",
        );
        std::fs::write(&stamp_file, stamp).expect("write base.stamp");
        Self { root, layout }
    }
}

/// What identifies one `mmdebstrap` output: its path, size and modification time.
fn stamp_of(path: &Path) -> String {
    let meta =
        std::fs::metadata(path).unwrap_or_else(|e| panic!("metadata of {}: {e}", path.display()));
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    format!("{} {} {modified}", path.display(), meta.len())
}

/// The host's apt, configured to act on the extracted root: its apt configuration,
/// sources and keyrings, its dpkg status, amd64 only; lists and caches in `state`.
struct Apt {
    config: PathBuf,
    state: PathBuf,
}

impl Apt {
    fn new(root: &Path, state: &Path) -> Self {
        for dir in ["lists/partial", "cache/archives/partial", "log"] {
            std::fs::create_dir_all(state.join(dir)).expect("mkdir apt state");
        }
        let config = state.join("apt.conf");
        let root = root.display();
        let state_dir = state.display();
        std::fs::write(
            &config,
            format!(
                "Dir::Etc \"{root}/etc/apt/\";\n\
                 Dir::State \"{state_dir}/\";\n\
                 Dir::State::status \"{root}/var/lib/dpkg/status\";\n\
                 Dir::Cache \"{state_dir}/cache/\";\n\
                 Dir::Log \"{state_dir}/log/\";\n\
                 APT::Architecture \"amd64\";\n\
                 APT::Architectures {{ \"amd64\"; }};\n\
                 APT::Sandbox::User \"root\";\n\
                 Acquire::Languages \"none\";\n"
            ),
        )
        .expect("write apt.conf");
        Self {
            config,
            state: state.to_path_buf(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new("apt-get");
        command
            .env("APT_CONFIG", &self.config)
            .env("LC_ALL", "C")
            .env("DEBIAN_FRONTEND", "noninteractive");
        command
    }

    /// `apt-get update`, failing on any repository that could not be read.
    fn update(&self) {
        run(self.command().args(["update", "-q", "--error-on=any"]));
    }

    /// The sha256 of every `InRelease` in apt's lists.
    fn in_releases(&self) -> BTreeSet<Digest> {
        let lists = self.state.join("lists");
        std::fs::read_dir(&lists)
            .unwrap_or_else(|e| panic!("read {}: {e}", lists.display()))
            .map(|entry| entry.expect("list entry").path())
            .filter(|path| path.to_string_lossy().ends_with("_InRelease"))
            .map(|path| {
                Digest::of(
                    &std::fs::read(&path)
                        .unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
                )
            })
            .collect()
    }

    /// What `apt-get install -s --no-install-recommends LIST` would install or upgrade.
    fn simulate(&self, list: &str) -> Resolution {
        let out = run(self
            .command()
            .args(["install", "-s", "--no-install-recommends", "-q"])
            .args(list.split_whitespace()));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(parse_inst)
            .collect()
    }
}

/// `Inst NAME [OLD] (VERSION ARCHIVES [ARCH])` → (NAME, VERSION).
fn parse_inst(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("Inst ")?;
    let (name, rest) = rest.split_once(' ')?;
    let rest = match rest.strip_prefix('[') {
        Some(upgrade) => upgrade.split_once("] ")?.1,
        None => rest,
    };
    let version = rest.strip_prefix('(')?.split_whitespace().next()?;
    let name = name.strip_suffix(":amd64").unwrap_or(name);
    Some((name.to_string(), version.to_string()))
}

/// `airlock lock` of a project on the base whose `packages.txt` is `list`.
fn lock_list(work: &Path, layout: &Path, store: &Path, list: &str) -> Lockfile {
    let project = work.join("projects").join(list.replace(' ', "+"));
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("dags")).expect("mkdir project");
    std::fs::write(
        project.join("Dockerfile"),
        format!("FROM debian-python:{SUITE}\n"),
    )
    .expect("write Dockerfile");
    std::fs::write(project.join("packages.txt"), format!("{list}\n")).expect("write packages.txt");
    let dir = project.to_string_lossy().into_owned();
    let cache = store.to_string_lossy().into_owned();
    let base = layout.to_string_lossy().into_owned();
    let out = airlock(
        &["lock", &dir, "--cache-dir", &cache, "--base-layout", &base],
        work,
        &[],
    );
    assert!(
        out.status.success(),
        "airlock lock `{list}` failed:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    Lockfile::read(&project.join("airlock.lock"))
        .expect("read airlock.lock")
        .expect("airlock lock wrote no airlock.lock")
}

/// The `InRelease` digests a lock was resolved against.
fn lock_state(lock: &Lockfile) -> BTreeSet<Digest> {
    lock.debian
        .as_ref()
        .map(|d| d.sources.iter().map(|s| s.in_release.clone()).collect())
        .unwrap_or_default()
}

#[test]
fn inst_lines_are_parsed() {
    assert_eq!(
        parse_inst("Inst jq (1.6-2.1 Debian:12.12/stable [amd64])"),
        Some(("jq".into(), "1.6-2.1".into()))
    );
    assert_eq!(
        parse_inst("Inst libc6 [2.36-9+deb12u9] (2.36-9+deb12u13 Debian:12.12/stable [amd64]) []"),
        Some(("libc6".into(), "2.36-9+deb12u13".into()))
    );
    assert_eq!(
        parse_inst("Conf jq (1.6-2.1 Debian:12.12/stable [amd64])"),
        None
    );
}
